"""Training control for `zooapi.keras` models: TensorBoard summaries,
checkpoints and gradient clipping, applied by `fit` on a DataFrame.

Example:
    >>> model.set_tensorboard("/tmp/logs", "digits")  # doctest: +SKIP
    >>> model.set_checkpoint("/tmp/ckpt", EveryEpoch())  # doctest: +SKIP
    >>> model.fit(df, feature_cols="x", label_cols="y", epochs=10)  # doctest: +SKIP
    >>> model.get_train_summary("Loss")[:3]  # (step, value, wall_time) rows  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zooapi.checks import check_compiled


@dataclass
class TrainingControl:
    train_summary: Any = None
    validation_summary: Any = None
    checkpoint_path: str | None = None
    checkpoint_trigger: Any = None
    checkpoint_overwrite: bool = True

    def engine_options(self) -> dict[str, Any]:
        return {
            "train_summary": self.train_summary,
            "validation_summary": self.validation_summary,
            "checkpoint_path": self.checkpoint_path,
            "checkpoint_trigger": self.checkpoint_trigger,
            "checkpoint_overwrite": self.checkpoint_overwrite,
        }


def control_of(model) -> TrainingControl:
    """The model's settings (kept out of Keras' attribute tracking)."""
    return model.__dict__.setdefault("_zooapi_control", TrainingControl())


def _optimizer(model):
    check_compiled(model)
    return model.optimizer


class TrainingControlMethods:
    """The training-control methods of `zooapi.keras.Model` (a mixin)."""

    def set_tensorboard(self, log_dir: str, app_name: str) -> None:
        """Records training (Loss, LearningRate, Throughput per iteration) and
        validation summaries of DataFrame fits under `log_dir/app_name`."""
        from zooapi.optim import TrainSummary, ValidationSummary

        control = control_of(self)
        control.train_summary = TrainSummary(log_dir, app_name)
        control.validation_summary = ValidationSummary(log_dir, app_name)

    def get_train_summary(self, tag: str):
        """`(step, value, wall_time)` rows of a training scalar: "Loss",
        "LearningRate" or "Throughput"."""
        return self._read_summary("train", tag)

    def get_validation_summary(self, tag: str):
        """`(step, value, wall_time)` rows of a validation scalar ("Loss", or a metric's name)."""
        return self._read_summary("validation", tag)

    def _read_summary(self, kind: str, tag: str):
        summary = getattr(control_of(self), f"{kind}_summary")
        if summary is None:
            raise ValueError(f"No {kind} summary: call `model.set_tensorboard(log_dir, app_name)` before `fit`.")
        return summary.read_scalar(tag)

    def set_checkpoint(self, path: str, trigger=None, over_write: bool = True) -> None:
        """DataFrame fits write checkpoints (weights, optimizer state, position)
        to `path` when `trigger` fires (default every epoch); `fit(...,
        resume=True)` continues from the newest, as do retries after a worker
        failure. `over_write` keeps only the newest."""
        from zooapi.optim.triggers import EveryEpoch, check_trigger

        if not path:
            raise ValueError(f"Received an invalid value for `path`, expected a folder. Received: path={path!r}")
        control = control_of(self)
        control.checkpoint_path = str(path)
        control.checkpoint_trigger = check_trigger("trigger", trigger or EveryEpoch())
        control.checkpoint_overwrite = bool(over_write)

    def set_gradient_clipping_by_l2_norm(self, max_norm: float) -> None:
        """Clips each gradient to an L2 norm of `max_norm` (the optimizer's `clipnorm`)."""
        if max_norm <= 0:
            raise ValueError(f"Received an invalid value for `max_norm`, expected a positive number. "
                             f"Received: max_norm={max_norm}")
        optimizer = _optimizer(self)
        optimizer.clipvalue, optimizer.global_clipnorm, optimizer.clipnorm = None, None, float(max_norm)

    def set_constant_gradient_clipping(self, min_value: float, max_value: float) -> None:
        """Clips gradient values to [min_value, max_value] (the optimizer's
        `clipvalue`, so the range must be symmetric)."""
        if max_value <= 0 or min_value != -max_value:
            raise ValueError(
                "Keras clips gradient values to a symmetric range [-v, v] (the optimizer's `clipvalue`); "
                f"expected min_value == -max_value > 0. Received: min_value={min_value}, max_value={max_value}")
        optimizer = _optimizer(self)
        optimizer.clipnorm, optimizer.global_clipnorm, optimizer.clipvalue = None, None, float(max_value)

    def clear_gradient_clipping(self) -> None:
        """Turns gradient clipping off."""
        optimizer = _optimizer(self)
        optimizer.clipnorm = optimizer.global_clipnorm = optimizer.clipvalue = None
