"""LivePlot records the epochs' logs of a DataFrame fit and draws them; in a
Jupyter kernel it shows one figure and updates it in place (the tutorials'
kernel runs check that part: zooapi_tests/test_tutorials.py)."""

from __future__ import annotations

import numpy as np
import pytest

from zooapi.keras.callbacks import LivePlot
from zooapi_tests.conftest import digits_frame

pytestmark = pytest.mark.both_sessions


@pytest.mark.slow
def test_liveplot_draws_the_history_of_a_dataframe_fit(spark, digits, tmp_path):
    import keras

    from zooapi.keras import Input, Sequential, layers

    x, y = digits
    train, test = digits_frame(spark, x[:1400], y[:1400]), digits_frame(spark, x[1400:], y[1400:])
    keras.utils.set_random_seed(0)
    model = Sequential([Input((64,)), layers.Dense(32, activation="relu"), layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    plot = LivePlot(path=str(tmp_path / "curves.png"))
    history = model.fit(train, feature_cols="features", label_cols="label", batch_size=64, epochs=2,
                        validation_data=test, num_workers=1, seed=1, verbose=0, callbacks=[plot])

    assert plot.epochs == [1, 2]
    assert plot.panels() == ["loss", "accuracy"]
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(plot.history[name], history.history[name], rtol=1e-6)
    # One panel per metric; in each, the training and the validation curve over epochs 1..2.
    assert [axes.get_title() for axes in plot.figure.axes] == ["loss", "accuracy"]
    for axes, name in zip(plot.figure.axes, ("loss", "accuracy")):
        train_line, validation_line = axes.lines
        assert list(train_line.get_xdata()) == [1, 2]
        np.testing.assert_allclose(train_line.get_ydata(), history.history[name], rtol=1e-6)
        np.testing.assert_allclose(validation_line.get_ydata(), history.history[f"val_{name}"], rtol=1e-6)
    assert history.history["val_accuracy"][-1] > 0.8  # it plotted a fit that learned
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_liveplot_keeps_metrics_that_come_late_or_stop_aligned_with_the_epochs():
    plot = LivePlot()
    plot.on_train_begin()
    plot.on_epoch_end(0, {"accuracy": 0.5, "loss": 1.0})
    plot.on_epoch_end(1, {"loss": 0.5, "val_loss": 0.7, "learning_rate": 0.01})
    assert plot.panels() == ["loss", "accuracy"]  # the loss first; no panel for the learning rate
    assert plot.history["loss"] == [1.0, 0.5]
    assert np.isnan(plot.history["val_loss"][0]) and plot.history["val_loss"][1] == 0.7
    assert plot.history["accuracy"][0] == 0.5 and np.isnan(plot.history["accuracy"][1])
    loss_axes = plot.figure.axes[0]
    assert [list(line.get_xdata()) for line in loss_axes.lines] == [[1, 2], [1, 2]]


def test_liveplot_refuses_bad_arguments():
    with pytest.raises(ValueError, match=r"`metrics`, expected a non-empty list of metric names or None\. "
                                         r"Received: metrics='loss'"):
        LivePlot(metrics="loss")
    with pytest.raises(ValueError, match=r"expected positive numbers of inches\. Received: width=0, height=3\.0"):
        LivePlot(width=0)
