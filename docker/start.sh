#!/bin/sh
# The workshop container's entry point: TensorBoard on 6006 (logs under
# ~/logs) in the background, JupyterLab on 8888 in the foreground. The
# token comes from JUPYTER_TOKEN (Jupyter's own variable); without it,
# Jupyter makes one up and prints the URL with it.
set -e
tensorboard --logdir "$HOME/logs" --host 0.0.0.0 --port 6006 >"$HOME/logs/tensorboard.log" 2>&1 &
exec jupyter lab --ip=0.0.0.0 --port=8888 --no-browser --ServerApp.root_dir="$HOME/tutorials" \
  --MultiKernelManager.default_kernel_name=zooapi "$@"
