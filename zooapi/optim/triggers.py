"""Triggers: when to validate, when to checkpoint, when to stop.

A trigger is a function of the training state, evaluated by every worker on
the same numbers (the epoch, the iteration, and the loss and validation
score as summed over all workers), so all workers take the same decision.

| trigger               | fires                                             |
| --------------------- | ------------------------------------------------- |
| `EveryEpoch()`        | at the end of every epoch                         |
| `SeveralIteration(n)` | after every `n` iterations                        |
| `MaxEpoch(n)`         | once `n` epochs are done                          |
| `MaxIteration(n)`     | once `n` iterations are done                      |
| `MinLoss(x)`          | once the (epoch) training loss is below `x`       |
| `MaxScore(x)`         | once the validation score is above `x`            |

Combine them with `TriggerAnd(a, b, ...)` and `TriggerOr(a, b, ...)`.

Example:
    >>> stop = TriggerOr(MaxEpoch(20), MinLoss(0.05))
    >>> stop(TrainingState(epoch=3, iteration=300, epoch_end=True, loss=0.04))
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class TrainingState:
    """What triggers look at. `epoch` counts finished epochs at an epoch end,
    `iteration` counts finished iterations (optimizer steps)."""

    epoch: int = 0
    iteration: int = 0
    epoch_end: bool = False
    loss: Optional[float] = None
    score: Optional[float] = None


class Trigger:
    """Base class: `trigger(state) -> bool`."""

    #: iterations between the points where the trigger can fire mid-epoch
    #: (training runs several steps per call and stops at these points)
    period: Optional[int] = None

    def __call__(self, state: TrainingState) -> bool:
        raise NotImplementedError

    def periods(self) -> list[int]:
        return [self.period] if self.period else []

    def __repr__(self) -> str:
        args = ", ".join(f"{v!r}" for v in vars(self).values())
        return f"{type(self).__name__}({args})"


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Received an invalid value for `{name}`, expected a positive integer. Received: {name}={value!r}")
    return value


class EveryEpoch(Trigger):
    def __call__(self, state: TrainingState) -> bool:
        return state.epoch_end


class SeveralIteration(Trigger):
    def __init__(self, interval: int):
        self.interval = _positive("interval", interval)
        self.period = self.interval

    def __call__(self, state: TrainingState) -> bool:
        return state.iteration > 0 and state.iteration % self.interval == 0


class MaxEpoch(Trigger):
    def __init__(self, max_epoch: int):
        self.max_epoch = _positive("max_epoch", max_epoch)

    def __call__(self, state: TrainingState) -> bool:
        return state.epoch_end and state.epoch >= self.max_epoch


class MaxIteration(Trigger):
    def __init__(self, max_iteration: int):
        self.max_iteration = _positive("max_iteration", max_iteration)
        self.period = self.max_iteration

    def __call__(self, state: TrainingState) -> bool:
        return state.iteration >= self.max_iteration


class MinLoss(Trigger):
    def __init__(self, min_loss: float):
        self.min_loss = float(min_loss)

    def __call__(self, state: TrainingState) -> bool:
        return state.loss is not None and state.loss < self.min_loss


class MaxScore(Trigger):
    def __init__(self, max_score: float):
        self.max_score = float(max_score)

    def __call__(self, state: TrainingState) -> bool:
        return state.score is not None and state.score > self.max_score


class _Combined(Trigger):
    def __init__(self, first: Trigger, *others: Trigger):
        self.triggers = [first, *others]
        for t in self.triggers:
            if not isinstance(t, Trigger):
                raise TypeError(f"Expected triggers. Received: {t!r}")

    def periods(self) -> list[int]:
        return [p for t in self.triggers for p in t.periods()]


class TriggerAnd(_Combined):
    def __call__(self, state: TrainingState) -> bool:
        return all(t(state) for t in self.triggers)


class TriggerOr(_Combined):
    def __call__(self, state: TrainingState) -> bool:
        return any(t(state) for t in self.triggers)


def check_trigger(name: str, value) -> Trigger:
    if not isinstance(value, Trigger):
        raise TypeError(f"Received an invalid value for `{name}`, expected a zooapi.optim trigger "
                        f"(EveryEpoch(), SeveralIteration(n), ...). Received: {name}={value!r}")
    return value
