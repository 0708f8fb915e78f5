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

from zooapi.checks import check_int


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


class EveryEpoch(Trigger):
    """Fires at the end of every epoch.

    Example:
        >>> EveryEpoch()(TrainingState(epoch=1, iteration=100, epoch_end=True))
        True
    """

    def __call__(self, state: TrainingState) -> bool:
        return state.epoch_end


class SeveralIteration(Trigger):
    """Fires after every `interval` iterations (optimizer steps).

    Args:
        interval: iterations between two firings, a positive integer.

    Example:
        >>> SeveralIteration(50)(TrainingState(iteration=100))
        True
    """

    def __init__(self, interval: int):
        self.interval = check_int("interval", interval)
        self.period = self.interval

    def __call__(self, state: TrainingState) -> bool:
        return state.iteration > 0 and state.iteration % self.interval == 0


class MaxEpoch(Trigger):
    """Fires once `max_epoch` epochs are done (at an epoch end).

    Args:
        max_epoch: the number of epochs, a positive integer.

    Example:
        >>> MaxEpoch(2)(TrainingState(epoch=2, epoch_end=True))
        True
    """

    def __init__(self, max_epoch: int):
        self.max_epoch = check_int("max_epoch", max_epoch)

    def __call__(self, state: TrainingState) -> bool:
        return state.epoch_end and state.epoch >= self.max_epoch


class MaxIteration(Trigger):
    """Fires once `max_iteration` iterations (optimizer steps) are done.

    Args:
        max_iteration: the number of iterations, a positive integer.

    Example:
        >>> MaxIteration(600)(TrainingState(iteration=599))
        False
    """

    def __init__(self, max_iteration: int):
        self.max_iteration = check_int("max_iteration", max_iteration)
        self.period = self.max_iteration

    def __call__(self, state: TrainingState) -> bool:
        return state.iteration >= self.max_iteration


class MinLoss(Trigger):
    """Fires once the epoch's training loss (all-reduced over the workers)
    is below `min_loss`.

    Args:
        min_loss: the loss to get below.

    Example:
        >>> MinLoss(0.1)(TrainingState(epoch=3, epoch_end=True, loss=0.05))
        True
    """

    def __init__(self, min_loss: float):
        self.min_loss = float(min_loss)

    def __call__(self, state: TrainingState) -> bool:
        return state.loss is not None and state.loss < self.min_loss


class MaxScore(Trigger):
    """Fires once the validation score (the first validation metric) is
    above `max_score`.

    Args:
        max_score: the score to get above.

    Example:
        >>> MaxScore(0.9)(TrainingState(epoch=3, epoch_end=True, score=0.95))
        True
    """

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
    """Fires when all of its triggers fire.

    Args:
        first: a trigger.
        *others: more triggers.

    Example:
        >>> both = TriggerAnd(EveryEpoch(), MinLoss(0.1))
        >>> both(TrainingState(epoch=1, epoch_end=True, loss=0.2))
        False
    """

    def __call__(self, state: TrainingState) -> bool:
        return all(t(state) for t in self.triggers)


class TriggerOr(_Combined):
    """Fires when any of its triggers fires.

    Args:
        first: a trigger.
        *others: more triggers.

    Example:
        >>> stop = TriggerOr(MaxEpoch(20), MinLoss(0.05))
        >>> stop(TrainingState(epoch=3, epoch_end=True, loss=0.04))
        True
    """

    def __call__(self, state: TrainingState) -> bool:
        return any(t(state) for t in self.triggers)


def check_trigger(name: str, value) -> Trigger:
    if not isinstance(value, Trigger):
        raise TypeError(f"Received an invalid value for `{name}`, expected a zooapi.optim trigger "
                        f"(EveryEpoch(), SeveralIteration(n), ...). Received: {name}={value!r}")
    return value
