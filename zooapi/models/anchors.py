"""Anchor boxes of a single-stage detector and the NumPy box arithmetic
around them: IoU, anchor matching, box encoding as deltas and back, and
greedy non-maximum suppression.

Boxes are `(xmin, ymin, xmax, ymax)` in relative coordinates (0 to 1 of the
image's width and height; Keras' "rel_xyxy"). The deltas are Keras'
`center_xywh` encoding with variances (0.1, 0.1, 0.2, 0.2), as
`keras.utils.bounding_boxes.encode_box_to_deltas` computes them; written in
NumPy because the encoding runs in Spark tasks that do not load TensorFlow.

Example:
    >>> a = anchor_boxes(64, (8,), (16,), (1.0,), (1.0,))
    >>> a.shape
    (64, 4)
    >>> bool(np.allclose(decode(a, encode(a, a)), a))
    True
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["VARIANCE", "anchor_boxes", "decode", "encode", "iou", "match", "non_max_suppression"]

VARIANCE = np.array([0.1, 0.1, 0.2, 0.2], np.float32)
# RetinaNet matches at 0.5 / 0.4; at 0.4 / 0.3 a generated box has ~3x the positive anchors (median 13, not
# 4, with `detector_anchors(128)`), which a short training on CPUs learns from faster.
POSITIVE_IOU, NEGATIVE_IOU = 0.4, 0.3
IGNORE, BACKGROUND = -1.0, 0.0


def anchor_boxes(image_size: int, strides: Sequence[int], sizes: Sequence[float],
                 scales: Sequence[float] = (1.0, 1.26), ratios: Sequence[float] = (0.5, 1.0, 2.0)) -> np.ndarray:
    """The anchors of a square `image_size` input, `(n, 4)` relative xyxy:
    for each feature level (its `stride` and base `size` in pixels), for
    each cell in row-major order, `len(scales) * len(ratios)` boxes centred
    on the cell (width/height = ratio)."""
    out = []
    for stride, size in zip(strides, sizes):
        cells = int(np.ceil(image_size / stride))
        centre = (np.arange(cells) + 0.5) * stride
        cy, cx = np.meshgrid(centre, centre, indexing="ij")
        shapes = [(size * s * np.sqrt(r), size * s / np.sqrt(r)) for s in scales for r in ratios]
        for_level = [np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1) for w, h in shapes]
        out.append(np.stack(for_level, axis=2).reshape(-1, 4))
    return (np.concatenate(out) / image_size).astype(np.float32)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The `(len(a), len(b))` intersection over union of two sets of xyxy boxes."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=-1)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0, None), axis=-1)
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-12)


def encode(anchors: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """`boxes` (one per anchor) as deltas from `anchors` (center_xywh / variance)."""
    aw, ah = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    bw, bh = np.maximum(boxes[:, 2] - boxes[:, 0], 1e-6), np.maximum(boxes[:, 3] - boxes[:, 1], 1e-6)
    deltas = np.stack([((boxes[:, 0] + boxes[:, 2]) - (anchors[:, 0] + anchors[:, 2])) / 2 / aw,
                       ((boxes[:, 1] + boxes[:, 3]) - (anchors[:, 1] + anchors[:, 3])) / 2 / ah,
                       np.log(bw / aw), np.log(bh / ah)], -1)
    return (deltas / VARIANCE).astype(np.float32)


def decode(anchors: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """The boxes that `deltas` (as `encode` makes them) describe, xyxy."""
    d = deltas * VARIANCE
    aw, ah = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    cx = (anchors[:, 0] + anchors[:, 2]) / 2 + d[:, 0] * aw
    cy = (anchors[:, 1] + anchors[:, 3]) / 2 + d[:, 1] * ah
    w, h = aw * np.exp(np.minimum(d[:, 2], 8.0)), ah * np.exp(np.minimum(d[:, 3], 8.0))
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)


def match(anchors: np.ndarray, boxes: np.ndarray, classes: np.ndarray, positive_iou: float = POSITIVE_IOU,
          negative_iou: float = NEGATIVE_IOU) -> np.ndarray:
    """The training target of every anchor, `(n, 5)`: the deltas to its
    matched box, then its class: the box's class + 1 where IoU >=
    `positive_iou` (and for each box its best anchor), 0 (background) under
    `negative_iou`, -1 (ignored) between."""
    target = np.zeros((len(anchors), 5), np.float32)
    if len(boxes) == 0:
        return target
    overlap = iou(anchors, boxes)
    best = overlap.argmax(1)
    best_iou = overlap[np.arange(len(anchors)), best]
    label = np.where(best_iou >= positive_iou, classes[best] + 1.0,
                     np.where(best_iou < negative_iou, BACKGROUND, IGNORE))
    forced = overlap.argmax(0)  # every box gets at least its best anchor
    best[forced] = np.arange(len(boxes))
    label[forced] = classes + 1.0
    target[:, :4] = encode(anchors, boxes[best])
    target[:, 4] = label
    return target


def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.5,
                        max_output: int = 100) -> np.ndarray:
    """The indices of the boxes greedy NMS keeps, best score first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size and len(keep) < max_output:
        i = order[0]
        keep.append(int(i))
        order = order[1:][iou(boxes[i:i + 1], boxes[order[1:]])[0] <= iou_threshold]
    return np.array(keep, np.int64)
