"""The `zooapi` command: `zooapi serve MODEL_PATH --port 8500 --name NAME`."""

from __future__ import annotations

import argparse
import logging
from typing import Sequence


def parser() -> argparse.ArgumentParser:
    """The command line's argument parser."""
    from zooapi.serving.server import DEFAULT_MAX_BODY_BYTES

    top = argparse.ArgumentParser(prog="zooapi", description="zooapi command line.")
    commands = top.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="Serve a saved model over HTTP (TensorFlow Serving's REST API).")
    serve.add_argument("model_path", help="a .keras, .h5 or SavedModel, local or a URL")
    serve.add_argument("--port", type=int, default=8500)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0: every interface)")
    serve.add_argument("--name", default="model", help="the model's name in /v1/models/NAME")
    serve.add_argument("--max-batch-size", type=int, default=64, help="most rows merged into one model call")
    serve.add_argument("--batch-timeout-ms", type=float, default=0.0,
                       help="how long a request waits for others to fill its batch (default 0: requests that "
                            "arrive while the model is busy share its next call, none waits)")
    serve.add_argument("--max-queue", type=int, default=1024, help="most waiting requests; beyond, 503")
    serve.add_argument("--concurrent-num", type=int, default=1, help="model calls that may run at once")
    serve.add_argument("--quantize", choices=["int8"], default=None)
    serve.add_argument("--runtime", choices=["tensorflow", "litert"], default="tensorflow",
                       help="litert: run the model exported to LiteRT (one input and one output)")
    serve.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES)
    serve.add_argument("--unsafe", action="store_true", help="load code stored in the file (Keras safe_mode=False)")
    serve.add_argument("--log-level", default="info")
    return top


def main(argv: Sequence[str] | None = None) -> None:
    """Runs the command line (the `zooapi` console script).

    Args:
        argv: the arguments; None: `sys.argv[1:]`.

    Example:
        >>> main(["serve", "digits.keras", "--port", "8500", "--name", "digits"])  # doctest: +SKIP
    """
    args = parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from zooapi.serving.server import serve

    serve(args.model_path, port=args.port, host=args.host, name=args.name, max_batch_size=args.max_batch_size,
          batch_timeout_ms=args.batch_timeout_ms, max_queue=args.max_queue, concurrent_num=args.concurrent_num,
          quantize=args.quantize, max_body_bytes=args.max_body_bytes, safe_mode=not args.unsafe,
          runtime=args.runtime, log_level=args.log_level)
