"""`ObjectDetector`: a single-stage detector (RetinaNet-style: backbone,
feature pyramid, anchors, focal loss) that trains on a DataFrame of images
and boxes through zooapi's engine and detects objects in DataFrames
(Analytics Zoo's `ObjectDetector`).

Images are Spark's image schema (any size: resized on the workers to the
model's square input; boxes, as fractions of the image, are unchanged by
that). Training targets are matched to the anchors in Spark tasks
(`zooapi.models.anchors`); predictions are decoded (per-class non-maximum
suppression) in Spark tasks and given back in the original image's pixels.
What those tasks run is in `zooapi.models.detector_tasks`; the Keras model
and its loss in `zooapi.models.detector_model`. The boxes column is
described in `zooapi.models.boxes`.

Example:
    >>> from zooapi.models import ObjectDetector, shapes_frame  # doctest: +SKIP
    >>> detector = ObjectDetector(["circle", "rectangle", "triangle"]).fit(shapes_frame(spark, 3000), epochs=4)  # doctest: +SKIP
    >>> detector.detect(images).select("origin", "detections").show(3)  # doctest: +SKIP
    >>> detector.evaluate(shapes_frame(spark, 500, seed=1))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Sequence

import numpy as np

from zooapi.checks import check_fraction, check_int, check_number
from zooapi.models.boxes import check_boxes_column
from zooapi.models.detector_tasks import IMAGES_COL, RAW_COL, TARGETS_COL, anchor_targets, detections, matches

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["ObjectDetector"]

logger = logging.getLogger(__name__)



class ObjectDetector:
    """A single-stage object detector on Spark DataFrames.

    RetinaNet's design at CPU size: a backbone, a feature pyramid at strides
    8, 16 and 32 whose stride 8 and 16 levels carry 6 anchors per cell
    (sizes 1/8 and 1/4 of the input, scales 1 and 1.41, aspect ratios 1/2,
    1 and 2; matched at IoU 0.4 / 0.3), shared classification and box
    heads, focal loss, Adam with a cosine decay. `fit` trains it on a
    DataFrame of images and boxes through `zooapi.engine.fit` (Spark barrier
    tasks); `detect` adds each image's detections; `evaluate` gives COCO's
    mAP; `draw` gives images with their detections drawn.

    Args:
        class_names: the object classes' names, as the boxes' `label`s
            (e.g. `list(read_pascal_label_map().values())[1:]`).
        backbone: "small" (a 5-stage CNN trained from scratch; fast on
            CPUs) or "MobileNetV2" (keras.applications, with `weights`).
        input_size: the model's square input side in pixels (a multiple of
            32); images of any size are resized to it on the workers.
        weights: for MobileNetV2: "imagenet" (Keras' cache or a download)
            or None.
        learning_rate: Adam's learning rate at the start of each `fit`.
        cosine_decay: each `fit` lowers the learning rate to 0 along a
            cosine over its steps (`keras.optimizers.schedules.CosineDecay`;
            it counts `df`'s rows for that); False keeps it constant.

    Attributes:
        model: the Keras model (`zooapi.models.detector_model`).
        anchors: its anchors, `(n, 4)` relative xyxy.

    Raises:
        ValueError: empty or repeated `class_names`, an unknown backbone, a
            bad `input_size` or `learning_rate`.

    Example:
        >>> detector = ObjectDetector(["circle", "rectangle", "triangle"], input_size=128)  # doctest: +SKIP
        >>> detector.fit(train, epochs=10).evaluate(test)["mAP@0.5"]  # doctest: +SKIP
    """

    def __init__(self, class_names: Sequence[str], backbone: str = "small", input_size: int = 128,
                 weights: str | None = None, learning_rate: float = 2e-3, cosine_decay: bool = True):
        import keras

        from zooapi.models.detector_model import BACKBONE_NAMES, DetectionLoss, build_detector, detector_anchors

        names = list(class_names) if isinstance(class_names, (list, tuple)) else None
        if not names or len(set(names)) != len(names) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"Received an invalid value for `class_names`, expected a non-empty list of distinct "
                             f"strings. Received: class_names={class_names!r}")
        if backbone not in BACKBONE_NAMES:
            raise ValueError(f"Received an invalid value for `backbone`, expected one of {', '.join(BACKBONE_NAMES)}. "
                             f"Received: backbone={backbone!r}")
        size = check_int("input_size", input_size)
        if size % 32:
            raise ValueError(f"Received an invalid value for `input_size`, expected a multiple of 32. "
                             f"Received: input_size={input_size!r}")
        self.class_names, self.backbone, self.input_size = names, backbone, size
        self.anchors = detector_anchors(size)
        self.model = build_detector(len(names), size, backbone, weights)
        self.learning_rate, self.cosine_decay = check_number("learning_rate", learning_rate), bool(cosine_decay)
        self.model.compile(keras.optimizers.Adam(self.learning_rate), DetectionLoss(len(names)))
        self.history = None

    @property
    def _classes(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.class_names)}

    def _check(self, df: "DataFrame", image_col: str, boxes_col: str | None = None) -> None:
        from zooapi.models.images import check_image_column

        check_image_column(df, image_col, "image_col")
        if boxes_col is not None:
            check_boxes_column(df, boxes_col)

    def _resized(self, df: "DataFrame", image_col: str) -> "DataFrame":
        from zooapi.models.images import resize_images

        return resize_images(df, image_col, self.input_size, self.input_size, 3, output_col=IMAGES_COL)

    # -- training ----------------------------------------------------------

    def training_frame(self, df: "DataFrame", image_col: str = "image", boxes_col: str = "boxes",
                       relative: bool = False) -> "DataFrame":
        """`(image_col, targets)`: the images and their anchor targets
        (`classes + 4` floats per anchor, the model's output size: the box
        deltas, the class, zeros), matched on the workers; what `fit` trains on.

        Args:
            df: images and boxes.
            image_col: the image column (Spark's image schema).
            boxes_col: the boxes column (`zooapi.models.boxes`).
            relative: the boxes are fractions of the image, not pixels.

        Returns:
            A DataFrame (lazy).

        Example:
            >>> detector.training_frame(train).cache()  # doctest: +SKIP
        """
        from pyspark.sql import types as T

        self._check(df, image_col, boxes_col)
        schema = T.StructType([df.schema[image_col], T.StructField(TARGETS_COL, T.ArrayType(T.FloatType()))])
        anchors, classes, rel = self.anchors, self._classes, bool(relative)
        return df.select(image_col, boxes_col).mapInArrow(
            lambda batches: anchor_targets(batches, image_col, boxes_col, anchors, classes, rel), schema)

    def fit(self, df: "DataFrame", image_col: str = "image", boxes_col: str = "boxes", relative: bool = False,
            epochs: int = 10, batch_size: int = 32, num_workers: int | None = None, validation_df=None,
            seed: int | None = 42, verbose: int = 0) -> "ObjectDetector":
        """Train on `df` through `zooapi.engine.fit` (barrier tasks).

        Args:
            df: images with their boxes. An image with an empty boxes array
                is a negative example (every anchor background).
            image_col: the image column (Spark's image schema, any size).
            boxes_col: the boxes column.
            relative: the boxes are fractions of the image, not pixels.
            epochs: passes over `df`.
            batch_size: the global batch size.
            num_workers: barrier tasks (default the default parallelism).
            validation_df: images and boxes whose loss is logged each epoch.
            seed: shuffling and initialisation.
            verbose: Keras' verbosity.

        Returns:
            This detector, trained (`history` holds Keras' History). With
            `cosine_decay` (the default), `df`'s rows are counted first to
            know the steps: cache `df` to avoid computing it twice.

        Raises:
            ValueError: a bad box (inverted, outside its image, an unknown
                label), naming the column, the image and the box.
            TypeError: columns of the wrong type.

        Example:
            >>> detector.fit(shapes_frame(spark, 2000), epochs=10)  # doctest: +SKIP
        """
        from zooapi import engine

        if self.cosine_decay:
            self._compile_cosine(df.count(), check_int("epochs", epochs), check_int("batch_size", batch_size))
        train = self._resized(self.training_frame(df, image_col, boxes_col, relative), image_col)
        val = None
        if validation_df is not None:
            val = self._resized(self.training_frame(validation_df, image_col, boxes_col, relative), image_col)
        self.history = engine.fit(self.model, train, IMAGES_COL, TARGETS_COL, batch_size=batch_size, epochs=epochs,
                                  num_workers=num_workers, validation_df=val, seed=seed, verbose=verbose)
        return self

    def _compile_cosine(self, rows: int, epochs: int, batch_size: int) -> None:
        # A constant rate leaves the last epochs of a short CPU training bouncing around the optimum;
        # decaying to 0 over this fit's steps settles it (mAP@0.5 on the shapes: see the README).
        import keras

        from zooapi.models.detector_model import DetectionLoss

        steps = max(1, epochs * -(-rows // batch_size))
        schedule = keras.optimizers.schedules.CosineDecay(self.learning_rate, steps)
        self.model.compile(keras.optimizers.Adam(schedule), DetectionLoss(len(self.class_names)))

    # -- inference ---------------------------------------------------------

    def detect(self, df: "DataFrame", image_col: str = "image", score_threshold: float = 0.3,
               max_detections: int = 100, output_col: str = "detections", batch_size: int = 32) -> "DataFrame":
        """`df` with each image's detections, computed on the executors.

        Args:
            df: images (Spark's image schema, any size); other columns kept.
            image_col: the image column.
            score_threshold: the lowest class probability kept.
            max_detections: the most detections per image (best first).
            output_col: the column to add: `array<struct<label, score, xmin,
                ymin, xmax, ymax>>` in the original image's pixels, best
                score first (after per-class non-maximum suppression at
                IoU 0.5).
            batch_size: images per forward pass.

        Returns:
            The DataFrame (lazy).

        Example:
            >>> detector.detect(images, score_threshold=0.5).select("origin", "detections").show()  # doctest: +SKIP
        """
        from pyspark.sql import types as T

        from zooapi import engine
        from zooapi.models.boxes import detection_type

        self._check(df, image_col)
        threshold = check_fraction("score_threshold", score_threshold)
        most = check_int("max_detections", max_detections)
        if output_col in df.columns:
            raise ValueError(f"Column '{output_col}' already exists in the DataFrame; choose another `output_col`.")
        raw = engine.predict(self.model, self._resized(df, image_col), IMAGES_COL, prediction_col=RAW_COL,
                             batch_size=check_int("batch_size", batch_size))
        out_type = detection_type()
        schema = T.StructType(list(df.schema.fields) + [T.StructField(output_col, out_type)])
        from pyspark.sql.pandas.types import to_arrow_type

        arrow_type = to_arrow_type(out_type)
        anchors, names = self.anchors, self.class_names
        return raw.mapInArrow(lambda batches: detections(batches, image_col, output_col, anchors, names, threshold,
                                                         most, arrow_type), schema)

    def evaluate(self, df: "DataFrame", image_col: str = "image", boxes_col: str = "boxes", relative: bool = False,
                 score_threshold: float = 0.05, max_detections: int = 100) -> dict:
        """COCO's mAP of the detections of `df`'s images against its boxes
        (`zooapi.models.detection_metrics`): detections are matched per image
        on the executors; only the matches reach the driver.

        Args:
            df: images with their boxes.
            image_col: the image column.
            boxes_col: the boxes column.
            relative: the boxes are fractions of the image, not pixels.
            score_threshold: the lowest score kept (COCO evaluates all:
                keep it low).
            max_detections: per image and class (COCO's `maxDets`).

        Returns:
            `{"mAP@0.5": ..., "mAP@[0.5:0.95]": ..., "AP@0.5": {class: AP}}`.

        Example:
            >>> detector.evaluate(test)["mAP@[0.5:0.95]"]  # doctest: +SKIP
        """
        from pyspark.sql import types as T

        from zooapi.engine.jobs import worker_errors
        from zooapi.models.detection_metrics import summarize

        self._check(df, image_col, boxes_col)
        found = self.detect(df.select(image_col, boxes_col), image_col, score_threshold, max_detections)
        schema = T.StructType([T.StructField("label", T.IntegerType()), T.StructField("score", T.DoubleType()),
                               T.StructField("matched", T.ArrayType(T.BooleanType())),
                               T.StructField("positives", T.LongType())])
        classes, rel = self._classes, bool(relative)
        with worker_errors():
            rows = found.mapInArrow(lambda b: matches(b, boxes_col, image_col, classes, rel, max_detections),
                                    schema).collect()
        counts: dict[int, int] = {}
        matched = []
        for r in rows:
            if r.score is None:
                counts[r.label] = counts.get(r.label, 0) + r.positives
            else:
                matched.append((r.label, r.score, np.array(r.matched, bool)))
        result = summarize(matched, counts)
        result["AP@0.5"] = {self.class_names[k]: v for k, v in result["AP@0.5"].items()}
        return result

    def draw(self, df: "DataFrame", n: int = 4, image_col: str = "image", score_threshold: float = 0.3) -> np.ndarray:
        """The first `n` images of `df` at the model's input size with their
        detections drawn (boxes and "label score"), for a notebook; the `n`
        images are brought to the driver. Drawn with Pillow:
        `keras.visualization.draw_bounding_boxes` needs OpenCV, which zooapi
        does not install.

        Args:
            df: images.
            n: how many.
            image_col: the image column.
            score_threshold: the lowest score drawn.

        Returns:
            `(n, input_size, input_size, 3)` uint8 RGB images.

        Example:
            >>> import matplotlib.pyplot as plt  # doctest: +SKIP
            >>> plt.imshow(np.concatenate(detector.draw(test, 4), axis=1))  # doctest: +SKIP
        """
        from PIL import Image, ImageDraw

        from zooapi.feed.spark_image import swap_red_blue
        from zooapi.models.images import conform_pixels

        n = check_int("n", n)
        rows = self.detect(df.select(image_col).limit(n), image_col, score_threshold).collect()
        size = self.input_size
        drawn = []
        for row in rows:
            img = row[image_col]
            pixels = np.frombuffer(img.data, np.uint8).reshape(img.height, img.width, img.nChannels)
            canvas = Image.fromarray(swap_red_blue(conform_pixels(pixels, size, size, 3)))
            pen = ImageDraw.Draw(canvas)
            sx, sy = size / img.width, size / img.height
            for d in row.detections:
                box = [d.xmin * sx, d.ymin * sy, max(d.xmax * sx - 1, d.xmin * sx), max(d.ymax * sy - 1, d.ymin * sy)]
                pen.rectangle(box, outline=(255, 255, 0))
                pen.text((box[0] + 1, box[1] + 1), f"{d.label} {d.score:.2f}", fill=(255, 255, 0))
            drawn.append(np.asarray(canvas))
        return np.stack(drawn) if drawn else np.zeros((0, size, size, 3), np.uint8)
