"""Training and validation summaries: TensorBoard event files, read back.

`TrainSummary(log_dir, app_name)` records `Loss`, `LearningRate` and
`Throughput` per iteration under `log_dir/app_name/train`;
`ValidationSummary` records every validation metric per validation under
`log_dir/app_name/validation`. Both are written on the driver with
TensorFlow's summary writer (TensorBoard's event format: point TensorBoard
at `log_dir`), and `read_scalar(tag)` reads a tag back for a notebook.

Example:
    >>> summary = TrainSummary("/tmp/logs", "digits")  # doctest: +SKIP
    >>> engine.fit(model, df, "x", "y", train_summary=summary)  # doctest: +SKIP
    >>> summary.read_scalar("Loss")[:3]  # rows of (step, value, wall_time)  # doctest: +SKIP
"""

from __future__ import annotations

import os

import numpy as np


class Summary:
    """Scalars of one kind ("train" or "validation") of one application."""

    kind = ""

    def __init__(self, log_dir: str, app_name: str):
        if not log_dir or not app_name:
            raise ValueError(f"Received an invalid value for `log_dir` or `app_name`, expected non-empty strings. "
                             f"Received: log_dir={log_dir!r}, app_name={app_name!r}")
        self.log_dir, self.app_name = str(log_dir), str(app_name)
        self.folder = os.path.join(self.log_dir, self.app_name, self.kind)
        self._writer = None

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.folder)
        with self._writer.as_default():
            tf.summary.scalar(tag, float(value), step=int(step))

    def add_scalars(self, values: dict[str, float], step: int) -> None:
        for tag, value in values.items():
            self.add_scalar(tag, value, step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def read_scalar(self, tag: str) -> np.ndarray:
        """`(step, value, wall_time)` rows for `tag`, in step order.

        Raises:
            ValueError: no such tag was recorded; the message lists the tags.
        """
        import tensorflow as tf
        from tensorboard.compat.proto.event_pb2 import Event

        self.flush()
        rows, tags = [], set()
        if os.path.isdir(self.folder):
            for name in sorted(os.listdir(self.folder)):
                if "tfevents" not in name:
                    continue
                for record in tf.data.TFRecordDataset(os.path.join(self.folder, name)):
                    event = Event.FromString(record.numpy())
                    for value in event.summary.value:
                        tags.add(value.tag)
                        if value.tag == tag:
                            number = float(tf.make_ndarray(value.tensor)) if value.HasField("tensor") else value.simple_value
                            rows.append((event.step, number, event.wall_time))
        if not rows:
            raise ValueError(f"No scalar '{tag}' in {self.folder}. Recorded tags: {', '.join(sorted(tags)) or 'none'}.")
        return np.array(sorted(rows, key=lambda r: (r[0], r[2])), dtype=np.float64)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.log_dir!r}, {self.app_name!r})"


class TrainSummary(Summary):
    """Loss, LearningRate and Throughput (records/s) per iteration, as
    TensorBoard event files under `log_dir/app_name/train`.

    Args:
        log_dir: the TensorBoard log folder.
        app_name: the application's name, a subfolder of `log_dir`.

    Example:
        >>> summary = TrainSummary("/tmp/logs", "digits")
        >>> summary.folder
        '/tmp/logs/digits/train'
    """

    kind = "train"


class ValidationSummary(Summary):
    """Every validation metric (Loss and the compiled ones) per
    validation, as TensorBoard event files under `log_dir/app_name/validation`.

    Args:
        log_dir: the TensorBoard log folder.
        app_name: the application's name, a subfolder of `log_dir`.

    Example:
        >>> summary = ValidationSummary("/tmp/logs", "digits")
        >>> summary.read_scalar("Loss")  # rows of (step, value, wall_time)  # doctest: +SKIP
    """

    kind = "validation"
