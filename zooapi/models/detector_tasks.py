"""What `ObjectDetector` runs in Spark tasks, on Arrow batches: the anchor
targets of training images (`anchor_targets`), the decoding of the model's
raw outputs into detections in the original image's pixels (`decode_one`,
`detections`), and the per-image matches of detections against ground truth
that `ObjectDetector.evaluate` summarises (`matches`).

Each function is NumPy and PyArrow only, so the tasks load no TensorFlow;
anchors and box arithmetic come from `zooapi.models.anchors`, box checks from
`zooapi.models.boxes`.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pyarrow as pa

from zooapi.models import anchors as A
from zooapi.models.boxes import check_boxes

__all__ = ["IMAGES_COL", "RAW_COL", "TARGETS_COL", "anchor_targets", "decode_one", "detections", "matches"]

# The columns the detector adds on its way: resized images, anchor targets, raw model outputs.
IMAGES_COL, TARGETS_COL, RAW_COL = "__zooapi_detector_images", "__zooapi_detector_targets", "__zooapi_detector_raw"


def _image_sizes(images: pa.StructArray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    return (images.field("width").to_numpy(zero_copy_only=False), images.field("height").to_numpy(zero_copy_only=False),
            images.field("origin").to_pylist())


def anchor_targets(batches: Iterator[pa.RecordBatch], image_col: str, boxes_col: str, anchors: np.ndarray,
                   classes: dict[str, int], relative: bool) -> Iterator[pa.RecordBatch]:
    """Each image with its anchor targets (`TARGETS_COL`): `A.match`'s 5 values per anchor, padded
    with zeros to the model's `classes + 4`."""
    width = len(classes) + 4
    for batch in batches:
        widths, heights, origins = _image_sizes(batch.column(image_col))
        rows = []
        for boxes, w, h, origin in zip(batch.column(boxes_col).to_pylist(), widths, heights, origins):
            xyxy, labels = check_boxes(boxes or [], int(w), int(h), relative, classes, boxes_col, origin)
            # As many values per anchor as the model outputs (classes + 4): the engine feeds a label of the
            # output's size; the loss reads the 5 that `match` gives and ignores the zeros after them.
            rows.append(np.pad(A.match(anchors, xyxy, labels), ((0, 0), (0, width - 5))).ravel())
        flat = np.concatenate(rows) if rows else np.zeros(0, np.float32)
        targets = pa.ListArray.from_arrays(pa.array(np.arange(len(rows) + 1) * anchors.shape[0] * width, pa.int32()),
                                           pa.array(flat, pa.float32()))
        yield pa.RecordBatch.from_arrays([batch.column(image_col), targets], [image_col, TARGETS_COL])


def decode_one(raw: np.ndarray, anchors: np.ndarray, num_classes: int, score_threshold: float,
               max_detections: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's `(boxes relative xyxy, scores, class indices)`, best first."""
    per_anchor = raw.reshape(len(anchors), num_classes + 4)
    scores = 1 / (1 + np.exp(-per_anchor[:, :num_classes]))
    boxes = np.clip(A.decode(anchors, per_anchor[:, num_classes:]), 0, 1)
    found_boxes, found_scores, found_labels = [], [], []
    for c in range(num_classes):
        mine = np.flatnonzero(scores[:, c] >= score_threshold)
        if mine.size > 1000:  # the best 1000 per class go to NMS, as RetinaNet does
            mine = mine[np.argsort(-scores[mine, c])[:1000]]
        keep = mine[A.non_max_suppression(boxes[mine], scores[mine, c], 0.5, max_detections)]
        found_boxes.append(boxes[keep])
        found_scores.append(scores[keep, c])
        found_labels.append(np.full(len(keep), c))
    s = np.concatenate(found_scores)
    order = np.argsort(-s, kind="stable")[:max_detections]
    return np.concatenate(found_boxes)[order], s[order], np.concatenate(found_labels)[order]


def detections(batches: Iterator[pa.RecordBatch], image_col: str, output_col: str, anchors: np.ndarray,
               class_names: list[str], score_threshold: float, max_detections: int,
               out_type: pa.DataType) -> Iterator[pa.RecordBatch]:
    """Each row with `output_col`, its image's detections in pixels, in place of the raw output and
    the resized image."""
    for batch in batches:
        widths, heights, _ = _image_sizes(batch.column(image_col))
        raw = batch.column(RAW_COL)
        found = []
        for i in range(batch.num_rows):
            values = raw[i].values.to_numpy(zero_copy_only=False)
            boxes, scores, labels = decode_one(values, anchors, len(class_names), score_threshold, max_detections)
            scale = np.array([widths[i], heights[i], widths[i], heights[i]], np.float64)
            found.append([{"label": class_names[int(c)], "score": float(s),
                           **dict(zip(("xmin", "ymin", "xmax", "ymax"), (b * scale).tolist()))}
                          for b, s, c in zip(boxes, scores, labels)])
        keep = [n for n in batch.schema.names if n not in (RAW_COL, IMAGES_COL)]
        yield pa.RecordBatch.from_arrays([batch.column(n) for n in keep] + [pa.array(found, out_type)],
                                         keep + [output_col])


def matches(batches: Iterator[pa.RecordBatch], boxes_col: str, image_col: str, classes: dict[str, int],
            relative: bool, max_detections: int) -> Iterator[pa.RecordBatch]:
    """Per batch, `detection_metrics.match_image`'s rows (`label, score, matched`, `positives` 0) and
    its ground-truth counts per class (`score` and `matched` null, `positives` the count)."""
    from zooapi.models.detection_metrics import match_image

    for batch in batches:
        widths, heights, origins = _image_sizes(batch.column(image_col))
        labels, scores, matched, positives = [], [], [], []
        for i, (truth, found) in enumerate(zip(batch.column(boxes_col).to_pylist(),
                                               batch.column("detections").to_pylist())):
            w, h = int(widths[i]), int(heights[i])
            gt, gt_labels = check_boxes(truth or [], w, h, relative, classes, boxes_col, origins[i])
            scale = np.array([w, h, w, h])
            boxes = np.array([[d[c] for c in ("xmin", "ymin", "xmax", "ymax")] for d in found]).reshape(-1, 4) / scale
            rows, counts = match_image(gt, gt_labels, boxes, np.array([d["score"] for d in found]),
                                       np.array([classes[d["label"]] for d in found], np.int64), max_detections)
            for label, score, m in rows:
                labels.append(label), scores.append(score), matched.append(m.tolist()), positives.append(0)
            for label, n in counts.items():
                labels.append(label), scores.append(None), matched.append(None), positives.append(n)
        yield pa.RecordBatch.from_arrays(
            [pa.array(labels, pa.int32()), pa.array(scores, pa.float64()), pa.array(matched, pa.list_(pa.bool_())),
             pa.array(positives, pa.int64())], ["label", "score", "matched", "positives"])
