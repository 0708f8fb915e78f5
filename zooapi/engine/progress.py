"""What the driver does with the workers' reports while a fit runs: Keras
callbacks and progress bar, TensorBoard summaries, and log lines in the form
BigDL users know:

    [Epoch 2 1472/1472][Iteration 46][Wall Clock 3.1s] Trained 1472 records in 0.12 seconds. Throughput is 12266 records/second. Loss is 0.2043.
    [Epoch 2][Iteration 46] Validation: accuracy is 0.9562, loss is 0.1420.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from zooapi.engine.server import Event
from zooapi.worker.serialization import load_model_state

logger = logging.getLogger("zooapi.engine.training")
_LOG_EVERY = 10.0  # seconds between mid-epoch progress lines


def build_metrics(model, spec: dict) -> None:
    """Builds the compiled metrics of the driver's model with one zero row of
    the shapes and dtypes the workers feed (`spec`: {"x": [[shape, dtype],
    ...], "y": [...]}), then zeroes them. Keras resolves "accuracy" and
    builds its metric objects on first use; callbacks such as `EarlyStopping`
    look those objects up on the driver's model to know whether a metric
    should go up or down, and training happens elsewhere."""
    from zooapi.worker.metrics import as_structure

    if any(np.dtype(dtype).kind not in "biuf" for part in spec.values() for _, dtype in part):
        return  # strings or files: no zero row to make up
    x, y = ([np.zeros((1, *shape), dtype) for shape, dtype in spec[part]] for part in ("x", "y"))
    x, y = as_structure(x), as_structure(y)
    try:
        model.compute_metrics(x, y, model(x, training=False), sample_weight=None)
    except Exception:  # a model that refuses a zero row: callbacks then see what Keras gives them
        logger.debug("Could not build the driver model's metrics from %s", spec, exc_info=True)
    for metric in model.metrics:
        metric.reset_state()


class Progress:
    """Turns worker events into Keras callback calls, summaries and logs."""

    def __init__(self, model, callbacks, verbose: int, epochs: int, initial_epoch: int,
                 train_summary=None, validation_summary=None):
        import keras

        self.model, self.epochs = model, epochs
        self.callbacks = keras.callbacks.CallbackList(
            callbacks, add_history=True, add_progbar=verbose != 0, model=model,
            verbose=verbose, epochs=epochs, steps=None)
        self.train_summary, self.validation_summary = train_summary, validation_summary
        self.epoch = initial_epoch - 1
        self.digests: dict[int, str] = {}
        self.started = time.perf_counter()
        self.last_line = 0.0
        self.steps = 0
        self.began = False
        self.diverged: dict | None = None

    def __call__(self, event: Event) -> None:
        msg = event.message
        handler = getattr(self, f"_on_{msg['type']}", None)
        if handler is not None:
            handler(msg, event)

    def _on_train_begin(self, msg, event) -> None:
        self.steps = msg["steps"]
        self.callbacks.set_params({"verbose": self.callbacks.params.get("verbose", 1),
                                   "epochs": self.epochs, "steps": msg["steps"]})
        logger.info("Training on %d worker(s): %d rows, %d steps per epoch, from iteration %d",
                    msg["workers"], msg["rows"], msg["steps"], msg.get("iteration", 0))
        logger.debug("Trainer start-up (seconds per phase): %s", msg.get("startup_seconds"))
        if not self.began:  # a retry continues the same training
            if msg.get("batch_spec"):
                build_metrics(self.model, msg["batch_spec"])
            self.callbacks.on_train_begin()
            self.began = True

    def _on_step(self, msg, event) -> None:
        self._begin_epoch(msg["epoch"])
        self.callbacks.on_train_batch_end(msg["step"], msg["logs"])
        records = msg.get("iterations") or []
        if self.train_summary is not None:
            for iteration, loss, rate, speed in records:
                self.train_summary.add_scalars({"Loss": loss, "LearningRate": rate, "Throughput": speed}, iteration)
        now = time.perf_counter()
        if records and now - self.last_line >= _LOG_EVERY:
            self.last_line = now
            speed = float(np.mean([r[3] for r in records]))
            logger.info("[Epoch %d %d/%d][Iteration %d][Wall Clock %.1fs] Throughput is %.0f records/second. "
                        "Loss is %.4f.", msg["epoch"] + 1, msg["step"] + 1, self.steps, msg["iteration"],
                        now - self.started, speed, msg["logs"]["loss"])

    def _on_validation(self, msg, event) -> None:
        logs = msg["logs"]
        if self.validation_summary is not None:
            self.validation_summary.add_scalars({("Loss" if k == "loss" else k): v for k, v in logs.items()},
                                                msg["iteration"])
            self.validation_summary.flush()
        logger.info("[Epoch %d][Iteration %d] Validation: %s.", msg["epoch"] + 1, msg["iteration"],
                    ", ".join(f"{k} is {v:.4f}" for k, v in logs.items()))

    def _on_epoch_end(self, msg, event) -> None:
        self._begin_epoch(msg["epoch"])
        if event.payload is not None:
            load_model_state(self.model, event.payload)
        logs = msg["logs"]
        self.callbacks.on_epoch_end(msg["epoch"], logs)
        if self.train_summary is not None:
            self.train_summary.flush()
        seconds = max(msg["seconds"], 1e-9)
        logger.info("[Epoch %d %d/%d][Iteration %d][Wall Clock %.1fs] Trained %d records in %.2f seconds. "
                    "Throughput is %.0f records/second. %s", msg["epoch"] + 1, self.steps, self.steps,
                    msg["iteration"], time.perf_counter() - self.started, msg["samples"], seconds,
                    msg["samples"] / seconds, " ".join(f"{k}={v:.4f}" for k, v in logs.items()))
        event.reply({"stop": bool(self.model.stop_training)})

    def _on_checkpoint(self, msg, event) -> None:
        logger.info("Checkpoint %s written (epoch %d, iteration %d)", msg["name"], msg["epoch"], msg["iteration"])

    def _on_diverged(self, msg, event) -> None:
        self.diverged = msg

    def _on_train_end(self, msg, event) -> None:
        self.digests[msg["worker"]] = msg["weights_sha256"]
        event.reply({})

    def restart_at(self, epoch: int) -> None:
        """Forgets what a failed attempt recorded from `epoch` on."""
        history = self.history
        keep = [i for i, e in enumerate(history.epoch) if e < epoch]
        history.epoch = [history.epoch[i] for i in keep]
        history.history = {k: [v[i] for i in keep] for k, v in history.history.items()}
        self.epoch = epoch - 1
        self.digests.clear()
        self.diverged = None

    def divergence_error(self) -> RuntimeError | None:
        """The error to raise when the workers reported different weights at
        an epoch end (the chief's result then holds the weights of the last
        epoch end where they agreed); None when they never did."""
        if self.diverged is None:
            return None
        names = self.diverged["variables"]
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        return RuntimeError(
            f"The workers ended epoch {self.diverged['epoch'] + 1} with different values of {len(names)} "
            f"weight(s): {shown}. Training stopped; the model holds the weights of the last epoch end "
            f"where every worker agreed. A layer that updates its own state while training, other than "
            f"through the optimizer or the averaged non-trainable weights, can cause this; train with "
            f"num_workers=1 or report it.")

    def check_in_sync(self, num_workers: int) -> None:
        """Every worker must end with the same weights; say so, or fail."""
        if self.diverged is not None:
            return  # found at an epoch end; raised after the consistent weights are applied
        if len(set(self.digests.values())) > 1:
            raise RuntimeError(f"The workers ended with different weights: {self.digests}")
        if len(self.digests) == num_workers:
            logger.info("All %d worker(s) ended with identical weights (sha256 %s)",
                        num_workers, next(iter(self.digests.values()))[:16])

    def _begin_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch = epoch
            self.callbacks.on_epoch_begin(epoch)

    @property
    def history(self):
        import keras

        return next(c for c in self.callbacks.callbacks if isinstance(c, keras.callbacks.History))
