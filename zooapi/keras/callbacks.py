"""Keras callbacks for notebooks: a live plot of the training curves.

`LivePlot` is a plain `keras.callbacks.Callback`: pass it to `fit` on a
DataFrame (the driver runs callbacks at each epoch's end, with the logs the
workers all-reduced) or to Keras' own `fit`.

Example:
    >>> from zooapi.keras.callbacks import LivePlot
    >>> model.fit(df, feature_cols="x", label_cols="y", epochs=10, callbacks=[LivePlot()])  # doctest: +SKIP
"""

from __future__ import annotations

import io
import sys
from typing import Any, Sequence

import keras

__all__ = ["LivePlot"]



def _in_notebook() -> bool:
    """True in a Jupyter kernel (an IPython shell that has a kernel), where
    `display` reaches a front end; False in a terminal, a script or IPython
    in a terminal."""
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class LivePlot(keras.callbacks.Callback):
    """Redraws a matplotlib figure of the training curves in place at every
    epoch's end: one panel per metric, training and validation (`val_...`)
    values together, over epochs.

    In a Jupyter notebook the figure takes one place in the cell's output,
    above the progress bar, and is redrawn there (as a PNG, through
    IPython's `display(..., display_id=True)`); elsewhere it is only drawn
    (and written to `path` when given), so a script or a test can keep the
    callback. The figure is a `matplotlib.figure.Figure` that
    pyplot does not track: it does not appear a second time at the end of the
    cell, and it needs no display.

    Args:
        metrics: the metric names to plot (without `val_`), in panel order;
            None plots the loss, then every other metric the logs hold.
        path: an image file (e.g. `"curves.png"`) rewritten at every epoch's
            end; None writes none.
        width: the figure's width in inches per panel.
        height: the figure's height in inches.

    Attributes:
        figure: the `matplotlib.figure.Figure`, None before the first epoch ends.
        history: `{name: [value per epoch]}` as plotted.

    Example:
        >>> plot = LivePlot(metrics=["loss", "accuracy"])
        >>> model.fit(df, feature_cols="image", label_cols="label", epochs=10,
        ...           validation_data=test, callbacks=[plot])  # doctest: +SKIP
        >>> plot.history["val_accuracy"][-1]  # doctest: +SKIP
        0.97
    """

    def __init__(self, metrics: Sequence[str] | None = None, path: str | None = None, width: float = 4.0,
                 height: float = 3.0):
        super().__init__()
        if metrics is not None and (isinstance(metrics, str) or not all(isinstance(m, str) and m for m in metrics)
                                    or not metrics):
            raise ValueError("Received an invalid value for `metrics`, expected a non-empty list of metric names "
                             f"or None. Received: metrics={metrics!r}")
        if not (isinstance(width, (int, float)) and width > 0 and isinstance(height, (int, float)) and height > 0):
            raise ValueError("Received an invalid value for `width` or `height`, expected positive numbers of "
                             f"inches. Received: width={width!r}, height={height!r}")
        self.metrics = None if metrics is None else list(metrics)
        self.path, self.width, self.height = path, float(width), float(height)
        self.figure = None
        self.history: dict[str, list[float]] = {}
        self.epochs: list[int] = []
        self._handle = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.history, self.epochs, self.figure, self._handle = {}, [], None, None
        if _in_notebook():
            from IPython.display import display

            # The figure's place, above the progress bar: drawn into at each
            # epoch's end, so the bar's lines stay together below it.
            self._handle = display({"text/plain": "LivePlot: the curves appear at the end of the first epoch."},
                                   raw=True, display_id=True)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epochs.append(int(epoch) + 1)
        for name, value in (logs or {}).items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue  # not a scalar (e.g. a learning-rate schedule's object)
            series = self.history.setdefault(name, [])
            # A metric that appears late (validation every few epochs) gets NaN before.
            series.extend([float("nan")] * (len(self.epochs) - 1 - len(series)))
            series.append(number)
        for series in self.history.values():
            series.extend([float("nan")] * (len(self.epochs) - len(series)))
        self._draw()

    def panels(self) -> list[str]:
        """The metric names with a panel, in order."""
        if self.metrics is not None:
            return list(self.metrics)
        names = dict.fromkeys(n[4:] if n.startswith("val_") else n for n in self.history)
        return sorted((n for n in names if n != "learning_rate"), key=lambda n: n != "loss")  # loss first

    def _draw(self) -> None:
        from matplotlib.figure import Figure

        names = self.panels()
        if self.figure is None or len(self.figure.axes) != len(names):
            self.figure = Figure(figsize=(self.width * max(len(names), 1), self.height), layout="constrained")
            self.figure.subplots(1, max(len(names), 1), squeeze=False)
        for axes, name in zip(self.figure.axes, names):
            axes.clear()
            for key, label in ((name, "train"), (f"val_{name}", "validation")):
                if key in self.history:
                    axes.plot(self.epochs, self.history[key], marker="o", markersize=3, label=label)
            axes.set_title(name)
            axes.set_xlabel("epoch")
            axes.grid(alpha=0.3)
            if axes.lines:
                axes.legend()
        if self.path:
            self.figure.savefig(self.path)
        self._show()

    def _show(self) -> None:
        if not _in_notebook():
            return
        from IPython.display import Image, display

        png = io.BytesIO()
        self.figure.savefig(png, format="png")
        image = Image(data=png.getvalue(), format="png")
        if self._handle is None:  # on_train_begin was not called (a callback used on its own)
            self._handle = display(image, display_id=True)
        else:
            self._handle.update(image)
