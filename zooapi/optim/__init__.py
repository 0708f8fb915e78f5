"""Training control: triggers, learning-rate schedules, metrics, summaries.

Triggers decide when to validate, checkpoint and stop; schedules are Keras
`LearningRateSchedule`s with Analytics Zoo's names; the metrics are Keras
metrics by Analytics Zoo's names; summaries write and read TensorBoard event
files. Base classes and helpers (`Trigger`, `TrainingState`, `Stage`,
`Summary`, ...) stay importable from `zooapi.optim.triggers`,
`zooapi.optim.schedules`, `zooapi.optim.metrics` and `zooapi.optim.summary`.

Example:
    >>> from zooapi.optim import EveryEpoch, MaxIteration, Plateau, SequentialSchedule, Warmup
    >>> schedule = SequentialSchedule(23, initial_learning_rate=0.0).add(Warmup(0.0005), 115).add(
    ...     Plateau("val_loss", factor=0.5, patience=2), 10**6)
    >>> model.fit(df, feature_cols="x", label_cols="y", end_trigger=MaxIteration(600))  # doctest: +SKIP
"""

from zooapi.optim.metrics import AUC, MAE, Loss, Top1Accuracy, Top5Accuracy
from zooapi.optim.schedules import Exponential, MultiStep, Plateau, Poly, SequentialSchedule, Step, Warmup
from zooapi.optim.summary import TrainSummary, ValidationSummary
from zooapi.optim.triggers import (
    EveryEpoch, MaxEpoch, MaxIteration, MaxScore, MinLoss, SeveralIteration, TriggerAnd, TriggerOr,
)

__all__ = [
    "AUC", "EveryEpoch", "Exponential", "Loss", "MAE", "MaxEpoch", "MaxIteration", "MaxScore", "MinLoss",
    "MultiStep", "Plateau", "Poly", "SequentialSchedule", "SeveralIteration", "Step", "Top1Accuracy",
    "Top5Accuracy", "TrainSummary", "TriggerAnd", "TriggerOr", "ValidationSummary", "Warmup",
]
