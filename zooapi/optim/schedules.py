"""Learning-rate schedules with Analytics Zoo's names, as Keras schedules.

Each stage computes the rate `iteration` steps after it started from a rate
`start`. A stage given `initial_learning_rate=` is a Keras
`LearningRateSchedule` by itself; `SequentialSchedule` chains stages, each
starting from the rate at which the previous one ended. Pass either as an
optimizer's `learning_rate`; they serialize with the model.

| stage                                    | rate after `i` steps from `start`          |
| ---------------------------------------- | ------------------------------------------ |
| `Warmup(delta)`                          | `start + delta * i`                        |
| `Poly(power, max_iteration)`             | `start * (1 - min(i, max) / max) ** power` |
| `Step(step_size, gamma)`                 | `start * gamma ** floor(i / step_size)`    |
| `MultiStep(step_sizes, gamma)`           | `start * gamma ** (steps passed in step_sizes)` |
| `Exponential(decay_step, decay_rate)`    | `start * decay_rate ** (i / decay_step)`   |
| `Plateau(monitor, factor, patience, ...)`| `start * factor ** (plateaus so far)`      |

`Plateau` reacts to validation results as Keras' `ReduceLROnPlateau` does;
under distributed training every worker sees the same (all-reduced)
validation results and so applies the same rate at the same step.

Example:
    >>> schedule = SequentialSchedule(100, initial_learning_rate=0.0).add(Warmup(0.001), 100).add(Poly(0.5, 900), 900)
    >>> optimizer = keras.optimizers.SGD(learning_rate=schedule)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import keras
from keras import ops

from zooapi.checks import check_int


def _num(x) -> float:
    return float(ops.convert_to_numpy(x))


class Stage(keras.optimizers.schedules.LearningRateSchedule):
    """A schedule stage; a full Keras schedule when `initial_learning_rate` is given."""

    def __init__(self, initial_learning_rate: float | None = None):
        self.initial_learning_rate = None if initial_learning_rate is None else float(initial_learning_rate)

    def rate(self, start, iteration):
        raise NotImplementedError

    def __call__(self, step):
        if self.initial_learning_rate is None:
            raise ValueError(f"{type(self).__name__} has no `initial_learning_rate`; give one, or add it "
                             "to a SequentialSchedule.")
        return self.rate(ops.convert_to_tensor(self.initial_learning_rate, "float32"), ops.cast(step, "float32"))

    def _args(self) -> dict[str, Any]:
        return {}

    def get_config(self) -> dict[str, Any]:
        return {**self._args(), "initial_learning_rate": self.initial_learning_rate}


@keras.saving.register_keras_serializable(package="zooapi")
class Warmup(Stage):
    """Raises the rate linearly: `start + delta * i` after `i` steps.

    Args:
        delta: the change of the rate per iteration.
        initial_learning_rate: the start rate when used alone (in a
            `SequentialSchedule`, the rate the stage before ended at).

    Example:
        >>> schedule = Warmup(0.001, initial_learning_rate=0.0)
        >>> round(float(schedule(10)), 4)
        0.01
    """

    def __init__(self, delta: float, initial_learning_rate: float | None = None):
        super().__init__(initial_learning_rate)
        self.delta = float(delta)

    def rate(self, start, iteration):
        return start + self.delta * iteration

    def _args(self):
        return {"delta": self.delta}


@keras.saving.register_keras_serializable(package="zooapi")
class Poly(Stage):
    """Polynomial decay: `start * (1 - min(i, max_iteration) / max_iteration) ** power`.

    Args:
        power: the polynomial's power.
        max_iteration: the iterations after which the rate is 0.
        initial_learning_rate: the start rate when used alone.

    Example:
        >>> round(float(Poly(1.0, 100, initial_learning_rate=0.1)(50)), 4)
        0.05
    """

    def __init__(self, power: float, max_iteration: int, initial_learning_rate: float | None = None):
        super().__init__(initial_learning_rate)
        self.power, self.max_iteration = float(power), check_int("max_iteration", max_iteration)

    def rate(self, start, iteration):
        done = ops.minimum(iteration, float(self.max_iteration)) / float(self.max_iteration)
        return start * ops.power(1.0 - done, self.power)

    def _args(self):
        return {"power": self.power, "max_iteration": self.max_iteration}


@keras.saving.register_keras_serializable(package="zooapi")
class Step(Stage):
    """Step decay: `start * gamma ** floor(i / step_size)`.

    Args:
        step_size: iterations between two decays.
        gamma: the factor applied at each decay.
        initial_learning_rate: the start rate when used alone.

    Example:
        >>> round(float(Step(10, 0.5, initial_learning_rate=0.1)(25)), 4)
        0.025
    """

    def __init__(self, step_size: int, gamma: float, initial_learning_rate: float | None = None):
        super().__init__(initial_learning_rate)
        self.step_size, self.gamma = int(step_size), float(gamma)

    def rate(self, start, iteration):
        return start * ops.power(self.gamma, ops.floor(iteration / float(self.step_size)))

    def _args(self):
        return {"step_size": self.step_size, "gamma": self.gamma}


@keras.saving.register_keras_serializable(package="zooapi")
class MultiStep(Stage):
    """Multiplies the rate by `gamma` at each of the iterations in `step_sizes`.

    Args:
        step_sizes: the iterations at which the rate decays, increasing.
        gamma: the factor applied at each of them.
        initial_learning_rate: the start rate when used alone.

    Example:
        >>> round(float(MultiStep([10, 20], 0.1, initial_learning_rate=1.0)(15)), 4)
        0.1
    """

    def __init__(self, step_sizes: Sequence[int], gamma: float, initial_learning_rate: float | None = None):
        super().__init__(initial_learning_rate)
        self.step_sizes, self.gamma = [int(s) for s in step_sizes], float(gamma)
        if self.step_sizes != sorted(self.step_sizes):
            raise ValueError(f"Received an invalid value for `step_sizes`, expected increasing iterations. "
                             f"Received: step_sizes={list(step_sizes)}")

    def rate(self, start, iteration):
        passed = sum(ops.cast(iteration >= float(s), "float32") for s in self.step_sizes) if self.step_sizes else 0.0
        return start * ops.power(self.gamma, passed)

    def _args(self):
        return {"step_sizes": self.step_sizes, "gamma": self.gamma}


@keras.saving.register_keras_serializable(package="zooapi")
class Exponential(Stage):
    """Exponential decay: `start * decay_rate ** (i / decay_step)`.

    Args:
        decay_step: iterations over which the rate is multiplied by `decay_rate`.
        decay_rate: the decay factor.
        stair_case: when True, the exponent is rounded down (a step decay).
        initial_learning_rate: the start rate when used alone.

    Example:
        >>> round(float(Exponential(10, 0.5, initial_learning_rate=1.0)(20)), 4)
        0.25
    """

    def __init__(self, decay_step: int, decay_rate: float, stair_case: bool = False,
                 initial_learning_rate: float | None = None):
        super().__init__(initial_learning_rate)
        self.decay_step, self.decay_rate, self.stair_case = int(decay_step), float(decay_rate), bool(stair_case)

    def rate(self, start, iteration):
        exponent = iteration / float(self.decay_step)
        if self.stair_case:
            exponent = ops.floor(exponent)
        return start * ops.power(self.decay_rate, exponent)

    def _args(self):
        return {"decay_step": self.decay_step, "decay_rate": self.decay_rate, "stair_case": self.stair_case}


@keras.saving.register_keras_serializable(package="zooapi")
class Plateau(Stage):
    """Multiplies the rate by `factor` when `monitor` stops improving for
    `patience` validations, as Keras' `ReduceLROnPlateau` does, on the
    validation results all-reduced over the workers.

    Args:
        monitor: a validation log name such as `"val_loss"` or
            `"val_accuracy"` (Analytics Zoo's `"Loss"` and `"score"` mean the
            validation loss and the first validation metric).
        factor: the factor applied at each plateau, in (0, 1).
        patience: validations without improvement before the rate drops.
        mode: `"min"` (lower is better) or `"max"`.
        epsilon: the smallest change that counts as an improvement.
        cooldown: validations to wait after a drop before counting again.
        min_lr: the lowest rate.
        initial_learning_rate: the start rate when used alone.
        state: the plateau state, as saved (for deserialization).

    Example:
        >>> schedule = Plateau("val_loss", factor=0.5, patience=2, initial_learning_rate=0.01)
        >>> optimizer = keras.optimizers.SGD(learning_rate=schedule)  # doctest: +SKIP
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, mode: str = "min",
                 epsilon: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0,
                 initial_learning_rate: float | None = None, state: dict | None = None):
        super().__init__(initial_learning_rate)
        if not 0.0 < factor < 1.0:
            raise ValueError(f"Received an invalid value for `factor`, expected a number in (0, 1). Received: factor={factor}")
        if mode not in ("min", "max"):
            raise ValueError(f"Received an invalid value for `mode`, expected 'min' or 'max'. Received: mode={mode!r}")
        self.monitor, self.factor, self.patience, self.mode = monitor, float(factor), int(patience), mode
        self.epsilon, self.cooldown, self.min_lr = float(epsilon), int(cooldown), float(min_lr)
        self.state = dict(state or {"best": None, "wait": 0, "cooldown_counter": 0, "reductions": 0})
        # The multiplier the optimizer reads every step; made here, eagerly, so
        # that under a distribution strategy it is made in the strategy's scope.
        self._scale = keras.Variable(self.factor ** self.state["reductions"], dtype="float32",
                                     trainable=False, name="plateau_scale")

    def rate(self, start, iteration):
        return ops.maximum(start * self._scale, self.min_lr)

    def value_of(self, logs: dict[str, float]) -> float | None:
        names = {"Loss": "val_loss", "loss": "val_loss"}
        key = names.get(self.monitor, self.monitor)
        if key == "score":
            key = next((k for k in logs if k.startswith("val_") and k != "val_loss"), "val_loss")
        return logs.get(key, logs.get(f"val_{key}"))

    def on_validation(self, logs: dict[str, float]) -> bool:
        """Updates the plateau state from validation logs; True when the rate dropped."""
        current = self.value_of(logs)
        if current is None or math.isnan(current):
            return False
        s = self.state
        if s["cooldown_counter"] > 0:
            s["cooldown_counter"] -= 1
            s["wait"] = 0
        better = s["best"] is None or (current < s["best"] - self.epsilon if self.mode == "min"
                                       else current > s["best"] + self.epsilon)
        if better:
            s["best"], s["wait"] = current, 0
            return False
        if s["cooldown_counter"] > 0:
            return False
        s["wait"] += 1
        if s["wait"] < self.patience:
            return False
        s["reductions"] += 1
        s["wait"], s["cooldown_counter"] = 0, self.cooldown
        self._scale.assign(self.factor ** s["reductions"])
        return True

    def _args(self):
        return {"monitor": self.monitor, "factor": self.factor, "patience": self.patience, "mode": self.mode,
                "epsilon": self.epsilon, "cooldown": self.cooldown, "min_lr": self.min_lr, "state": self.state}


@keras.saving.register_keras_serializable(package="zooapi")
class SequentialSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Stages run one after the other, each for its `max_iteration` steps;
    each starts from the rate at which the one before ended. After the last
    stage's steps, the last stage goes on.

    Args:
        iterations_per_epoch: iterations in one epoch (for converting epochs
            into `max_iteration`: `n * iterations_per_epoch`).
        initial_learning_rate: the rate the first stage starts from.
        stages: the stages, as saved (for deserialization; use `add`).

    Example:
        >>> schedule = SequentialSchedule(100, initial_learning_rate=0.0).add(
        ...     Warmup(0.001), 100).add(Poly(0.5, 900), 900)
        >>> round(float(schedule(100)), 4)
        0.1
    """

    def __init__(self, iterations_per_epoch: int, initial_learning_rate: float = 0.01,
                 stages: list[dict] | None = None):
        self.iterations_per_epoch = int(iterations_per_epoch)
        self.initial_learning_rate = float(initial_learning_rate)
        self.stages: list[tuple[Stage, int]] = []
        self._start_rates: list[float] = []
        for spec in stages or []:
            self.add(keras.saving.deserialize_keras_object(spec["schedule"]), spec["max_iteration"])

    def add(self, schedule: Stage, max_iteration: int) -> "SequentialSchedule":
        """Appends a stage lasting `max_iteration` iterations; returns self."""
        if not isinstance(schedule, Stage):
            raise TypeError(f"Expected a zooapi.optim schedule stage (Warmup, Poly, ...). Received: {schedule!r}")
        max_iteration = check_int("max_iteration", max_iteration)
        # Where each stage starts, computed once, eagerly (a stage after a
        # Plateau starts from the Plateau's own starting rate).
        start = self._start_rates[-1] if self.stages else self.initial_learning_rate
        if self.stages and not isinstance(self.stages[-1][0], Plateau):
            last, length = self.stages[-1]
            start = _num(last.rate(ops.convert_to_tensor(start, "float32"), ops.convert_to_tensor(float(length))))
        self.stages.append((schedule, int(max_iteration)))
        self._start_rates.append(start)
        return self

    def plateaus(self) -> list[Plateau]:
        return [s for s, _ in self.stages if isinstance(s, Plateau)]

    def __call__(self, step):
        if not self.stages:
            return ops.convert_to_tensor(self.initial_learning_rate, "float32")
        step = ops.cast(step, "float32")
        offset, bounds = 0, []
        for (stage, length), start in zip(self.stages, self._start_rates):
            value = stage.rate(ops.convert_to_tensor(start, "float32"), ops.maximum(step - float(offset), 0.0))
            bounds.append((offset, value))
            offset += length
        result = bounds[-1][1]
        for (begin_next, _), (_, value) in zip(reversed(bounds[1:]), reversed(bounds[:-1])):
            result = ops.where(step >= float(begin_next), result, value)
        return result

    def get_config(self) -> dict[str, Any]:
        return {"iterations_per_epoch": self.iterations_per_epoch, "initial_learning_rate": self.initial_learning_rate,
                "stages": [{"schedule": keras.saving.serialize_keras_object(s), "max_iteration": n}
                           for s, n in self.stages]}


def plateaus_of(schedule) -> list[Plateau]:
    """The Plateau stages of an optimizer's learning rate (none for a number)."""
    if isinstance(schedule, Plateau):
        return [schedule]
    if isinstance(schedule, SequentialSchedule):
        return schedule.plateaus()
    return []
