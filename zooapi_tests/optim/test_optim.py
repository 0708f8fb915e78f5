import keras
import numpy as np
import pytest

from zooapi.optim import (
    EveryEpoch, Exponential, MaxEpoch, MaxIteration, MaxScore, MinLoss, MultiStep, Plateau, Poly,
    SequentialSchedule, SeveralIteration, Step, TrainSummary, TriggerAnd, TriggerOr, Warmup,
)
from zooapi.optim.metrics import resolve_metrics
from zooapi.optim.triggers import TrainingState


def test_triggers_fire_on_their_conditions():
    mid = TrainingState(epoch=1, iteration=30)
    end = TrainingState(epoch=2, iteration=40, epoch_end=True, loss=0.2, score=0.9)
    assert EveryEpoch()(end) and not EveryEpoch()(mid)
    assert SeveralIteration(10)(mid) and not SeveralIteration(7)(mid)
    assert MaxEpoch(2)(end) and not MaxEpoch(3)(end)
    assert MaxIteration(30)(mid) and not MaxIteration(31)(mid)
    assert MinLoss(0.3)(end) and not MinLoss(0.1)(end) and not MinLoss(1.0)(mid)
    assert MaxScore(0.8)(end) and not MaxScore(0.95)(end)
    assert TriggerOr(MaxEpoch(5), MinLoss(0.3))(end) and not TriggerAnd(MaxEpoch(5), MinLoss(0.3))(end)
    assert sorted(TriggerOr(SeveralIteration(10), MaxIteration(25)).periods()) == [10, 25]
    with pytest.raises(ValueError, match="Received an invalid value for `interval`"):
        SeveralIteration(0)


def test_each_stage_follows_its_formula():
    cases = [
        (Warmup(0.1, initial_learning_rate=1.0), 3, 1.3),
        (Poly(2.0, 10, initial_learning_rate=1.0), 5, 0.25),
        (Poly(2.0, 10, initial_learning_rate=1.0), 50, 0.0),
        (Step(4, 0.5, initial_learning_rate=1.0), 9, 0.25),
        (MultiStep([2, 5], 0.1, initial_learning_rate=1.0), 5, 0.01),
        (Exponential(10, 0.5, initial_learning_rate=1.0), 20, 0.25),
    ]
    for schedule, step, expected in cases:
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-5), schedule


def test_sequential_schedule_starts_each_stage_where_the_last_ended():
    s = SequentialSchedule(10, initial_learning_rate=0.0).add(Warmup(0.01), 10).add(Poly(1.0, 20), 20)
    assert [round(float(s(i)), 5) for i in (0, 5, 10, 20, 30, 40)] == [0.0, 0.05, 0.1, 0.05, 0.0, 0.0]
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(keras.optimizers.SGD(learning_rate=s)))
    assert float(restored._learning_rate(15)) == pytest.approx(0.075)
    with pytest.raises(TypeError, match="Expected a zooapi.optim schedule stage"):
        s.add(0.1, 10)


def test_plateau_reduces_after_patience_and_keeps_its_state_through_save():
    p = Plateau("val_loss", factor=0.5, patience=2, initial_learning_rate=0.1)
    dropped = [p.on_validation({"val_loss": v}) for v in (1.0, 0.9, 0.95, 0.96, 0.97)]
    assert dropped == [False, False, False, True, False]
    assert float(p(0)) == pytest.approx(0.05)
    restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(p))
    assert float(restored(0)) == pytest.approx(0.05) and restored.state["best"] == 0.9


def test_metric_names_resolve_to_keras_metrics():
    metrics = resolve_metrics(["Top1Accuracy", "Top5Accuracy", "MAE", "AUC", "Loss", "accuracy"])
    assert [getattr(m, "name", m) for m in metrics] == ["Top1Accuracy", "Top5Accuracy", "MAE", "AUC", "accuracy"]
    top1 = metrics[0]
    top1.update_state(np.array([1, 0]), np.array([[0.2, 0.8], [0.3, 0.7]], np.float32))
    assert float(top1.result()) == 0.5


def test_summary_reads_back_what_it_wrote(tmp_path):
    summary = TrainSummary(str(tmp_path), "app")
    for i in range(4):
        summary.add_scalar("Loss", 1.0 / (i + 1), i + 1)
    rows = summary.read_scalar("Loss")
    assert rows.shape == (4, 3)
    np.testing.assert_allclose(rows[:, 0], [1, 2, 3, 4])
    np.testing.assert_allclose(rows[:, 1], [1, 0.5, 1 / 3, 0.25], rtol=1e-6)
    assert (tmp_path / "app" / "train").is_dir()
    with pytest.raises(ValueError, match="No scalar 'Accuracy' .* Recorded tags: Loss"):
        summary.read_scalar("Accuracy")
