"""Training control: triggers, learning-rate schedules, metrics, summaries.

Example:
    >>> from zooapi.optim import SequentialSchedule, Warmup, Plateau, EveryEpoch  # doctest: +SKIP
"""

from zooapi.optim.metrics import AUC, MAE, Loss, Top1Accuracy, Top5Accuracy, resolve_metrics
from zooapi.optim.schedules import (
    Exponential, MultiStep, Plateau, Poly, SequentialSchedule, Stage, Step, Warmup, plateaus_of,
)
from zooapi.optim.summary import Summary, TrainSummary, ValidationSummary
from zooapi.optim.triggers import (
    EveryEpoch, MaxEpoch, MaxIteration, MaxScore, MinLoss, SeveralIteration, TrainingState, Trigger, TriggerAnd,
    TriggerOr, check_trigger,
)

__all__ = [
    "AUC", "EveryEpoch", "Exponential", "Loss", "MAE", "MaxEpoch", "MaxIteration", "MaxScore", "MinLoss",
    "MultiStep", "Plateau", "Poly", "SequentialSchedule", "SeveralIteration", "Stage", "Step", "Summary",
    "Top1Accuracy", "Top5Accuracy", "TrainSummary", "TrainingState", "Trigger", "TriggerAnd", "TriggerOr",
    "ValidationSummary", "Warmup", "check_trigger", "plateaus_of", "resolve_metrics",
]
