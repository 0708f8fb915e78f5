"""Validation triggers, schedules, summaries, checkpoints, resume and recovery."""

import logging
import os

import keras
import numpy as np
import pytest

from zooapi import engine
from zooapi.optim import (
    MaxEpoch, MaxIteration, Plateau, SequentialSchedule, SeveralIteration, TrainSummary, ValidationSummary, Warmup,
)
from zooapi_tests.conftest import busy_trainers, digits_frame, mlp

pytestmark = [pytest.mark.slow, pytest.mark.both_sessions]


@pytest.fixture
def digits_split(spark, digits):
    x, y = digits
    return digits_frame(spark, x, y).randomSplit([0.8, 0.2], seed=7)


def test_warmup_then_plateau_rate_read_back_follows_the_schedule(digits_split, tmp_path):
    train, test = digits_split
    steps = int(np.ceil(train.count() / 64))
    warmup = steps + 5  # ends mid-epoch 2
    schedule = SequentialSchedule(steps, initial_learning_rate=0.0).add(Warmup(0.0005), warmup).add(
        Plateau("val_loss", factor=0.5, patience=1, epsilon=0.02), 10**6)
    model = mlp()
    model.compile(keras.optimizers.SGD(learning_rate=schedule, momentum=0.9), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    train_summary = TrainSummary(str(tmp_path), "warmup")
    val_summary = ValidationSummary(str(tmp_path), "warmup")
    engine.fit(model, train, "features", "label", batch_size=64, epochs=6, num_workers=2, validation_df=test,
               verbose=0, seed=3, train_summary=train_summary, validation_summary=val_summary)
    rates = train_summary.read_scalar("LearningRate")
    assert len(rates) == 6 * steps
    assert list(rates[:, 0]) == list(range(1, 6 * steps + 1))
    # Replay the schedule: warm-up is linear; then Plateau halves the rate when the
    # validation loss (read back from the validation summary) fails to improve.
    val_loss = val_summary.read_scalar("Loss")
    assert list(val_loss[:, 0]) == [steps * e for e in range(1, 7)]
    expected, reductions, best, wait = [], 0, None, 0
    for iteration in range(1, 6 * steps + 1):
        done = iteration - 1  # the rate used by step `iteration` is read before it runs
        base = 0.0005 * min(done, warmup)
        expected.append(base * 0.5 ** reductions)
        if iteration % steps == 0:  # a validation at every epoch end
            value = val_loss[iteration // steps - 1, 1]
            if best is None or value < best - 0.02:
                best, wait = value, 0
            else:
                wait += 1
                if wait >= 1:
                    reductions, wait = reductions + 1, 0
    np.testing.assert_allclose(rates[:, 1], expected, rtol=1e-5, atol=1e-9)
    assert train_summary.read_scalar("Loss").shape == (6 * steps, 3)
    assert (train_summary.read_scalar("Throughput")[:, 1] > 0).all()


def test_validation_every_n_iterations_gives_exact_points(digits_split, tmp_path):
    train, test = digits_split
    summary = ValidationSummary(str(tmp_path), "every5")
    model = mlp()
    history = engine.fit(model, train, "features", "label", batch_size=128, epochs=4, num_workers=2,
                         validation_df=test, validation_trigger=SeveralIteration(5), end_trigger=MaxIteration(35),
                         verbose=0, seed=4, validation_summary=summary)
    accuracy = summary.read_scalar("accuracy")
    assert list(accuracy[:, 0]) == [5, 10, 15, 20, 25, 30, 35]
    assert int(model.optimizer.iterations.numpy()) == 35
    assert len(history.history["loss"]) == 2  # 12 steps per epoch: two full epochs before iteration 35
    assert accuracy[-1, 1] == pytest.approx(engine.evaluate(model, test, "features", "label")["accuracy"], abs=1e-6)


def test_resume_from_checkpoint_matches_an_uninterrupted_run(digits_split, tmp_path):
    train, _ = digits_split
    whole = mlp(seed=5)
    full = engine.fit(whole, train, "features", "label", batch_size=64, epochs=4, num_workers=2, verbose=0, seed=8)
    first = mlp(seed=5)
    path = str(tmp_path / "ckpt")
    engine.fit(first, train, "features", "label", batch_size=64, epochs=2, num_workers=2, verbose=0, seed=8,
               checkpoint_path=path)
    assert sorted(os.listdir(path)) == ["ckpt-000000000046.json", "ckpt-000000000046.keras"]
    second = mlp(seed=99)  # different initial weights: everything must come from the checkpoint
    resumed = engine.fit(second, train, "features", "label", batch_size=64, epochs=4, num_workers=2, verbose=0,
                         seed=8, checkpoint_path=path, resume=True)
    assert resumed.epoch == [2, 3]
    assert int(second.optimizer.iterations.numpy()) == 4 * 23
    # Same rows, same order, same optimizer moments: only float summation order may differ.
    np.testing.assert_allclose(resumed.history["loss"], full.history["loss"][2:], rtol=1e-4)
    for a, b in zip(whole.get_weights(), second.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-4)


def _kill_a_trainer(rank: int) -> bool:
    for pid in busy_trainers(rank):
        os.kill(pid, 9)
        return True
    return False


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_a_killed_worker_is_recovered_from_the_last_checkpoint(spark_cluster, digits, tmp_path):
    x, y = digits
    train = digits_frame(spark_cluster, x, y)
    reference = mlp(seed=6)
    engine.fit(reference, train, "features", "label", batch_size=64, epochs=3, num_workers=2, verbose=0, seed=2)

    killed = []

    def kill_during_epoch_2(epoch, logs):
        # Runs on the driver while the workers wait to start epoch 2; the
        # chief has already written the epoch-1 checkpoint.
        if epoch == 0 and not killed:
            killed.append(_kill_a_trainer(rank=1))

    model = mlp(seed=6)
    lines = _Lines()
    training_log = logging.getLogger("zooapi.engine.training")
    training_log.addHandler(lines)
    try:
        history = engine.fit(model, train, "features", "label", batch_size=64, epochs=3, num_workers=2, verbose=0,
                             seed=2, checkpoint_path=str(tmp_path / "ckpt"),
                             callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=kill_during_epoch_2)])
    finally:
        training_log.removeHandler(lines)
    assert killed == [True]
    retries = [line for line in lines.lines if "retrying from" in line]
    assert len(retries) == 1 and "retrying from the checkpoint at epoch 1, iteration 29" in retries[0]
    assert history.epoch == [0, 1, 2]
    assert int(model.optimizer.iterations.numpy()) == 3 * int(np.ceil(len(y) / 64))
    for a, b in zip(reference.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-4)
