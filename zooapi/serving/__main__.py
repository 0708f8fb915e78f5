"""`python -m zooapi.serving serve MODEL_PATH ...`, the same as the `zooapi` command."""

from zooapi.serving.cli import main

if __name__ == "__main__":
    main()
