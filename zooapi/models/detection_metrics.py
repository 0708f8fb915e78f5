"""Mean average precision of detections, COCO's definition, in NumPy.

Per image and class, detections (best score first, at most `max_detections`)
are matched greedily to the not yet matched ground-truth box of the highest
IoU at or above the threshold (`match_image`). Per class, over all images,
precision is made non-increasing and read at the 101 recall points 0, 0.01,
..., 1 (0 past the highest recall reached); AP is their mean
(`average_precision`). mAP averages AP over the classes that have ground
truth, at IoU 0.5 (`mAP@0.5`, Pascal VOC's threshold with COCO's
interpolation) and over IoU 0.5, 0.55, ..., 0.95 (`mAP@[0.5:0.95]`, COCO's
primary metric). This is what `pycocotools.cocoeval.COCOeval` computes for
area "all" and `maxDets` 100 without crowd boxes.

Example:
    >>> gt = [(np.array([[0, 0, 10, 10]]), np.array([0]))]
    >>> dt = [(np.array([[0, 0, 10, 10]]), np.array([0.9]), np.array([0]))]
    >>> mean_average_precision(gt, dt)["mAP@0.5"]
    1.0
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

from zooapi.models.anchors import iou

__all__ = ["IOU_THRESHOLDS", "average_precision", "match_image", "mean_average_precision"]

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
_RECALLS = np.linspace(0.0, 1.0, 101)


def match_image(gt_boxes: np.ndarray, gt_labels: np.ndarray, boxes: np.ndarray, scores: np.ndarray,
                labels: np.ndarray, max_detections: int = 100) -> tuple[list, dict[int, int]]:
    """One image's detections matched to its ground truth at every IoU
    threshold: `([(label, score, matched bool[10]), ...], {label: ground-truth
    count})`."""
    rows, counts = [], defaultdict(int)
    for label in np.unique(np.concatenate([np.asarray(gt_labels), np.asarray(labels)]).astype(np.int64)):
        gt = np.asarray(gt_boxes, np.float64).reshape(-1, 4)[np.asarray(gt_labels) == label]
        counts[int(label)] += len(gt)
        mine = np.flatnonzero(np.asarray(labels) == label)
        mine = mine[np.argsort(-np.asarray(scores)[mine], kind="stable")][:max_detections]
        dt = np.asarray(boxes, np.float64).reshape(-1, 4)[mine]
        overlap = iou(dt, gt) if len(gt) and len(dt) else np.zeros((len(dt), len(gt)))
        matched = np.zeros((len(dt), len(IOU_THRESHOLDS)), bool)
        for t, threshold in enumerate(IOU_THRESHOLDS):
            free = np.ones(len(gt), bool)
            for d in range(len(dt)):
                candidates = np.where(free & (overlap[d] >= threshold), overlap[d], -1.0)
                if len(gt) and candidates.max() >= 0:
                    g = int(candidates.argmax())
                    free[g], matched[d, t] = False, True
        rows += [(int(label), float(np.asarray(scores)[i]), matched[j]) for j, i in enumerate(mine)]
    return rows, dict(counts)


def average_precision(scores: np.ndarray, matched: np.ndarray, positives: int) -> np.ndarray:
    """One class's AP at each IoU threshold: `scores` (n,) and `matched` (n,
    thresholds) of all its detections, `positives` its ground-truth boxes."""
    out = np.zeros(len(IOU_THRESHOLDS))
    if len(scores) == 0:
        return out
    order = np.argsort(-np.asarray(scores), kind="mergesort")
    matched = np.asarray(matched, bool).reshape(len(order), len(IOU_THRESHOLDS))[order]
    for t in range(len(out)):
        tp, fp = np.cumsum(matched[:, t]), np.cumsum(~matched[:, t])
        recall = tp / positives
        precision = np.maximum.accumulate((tp / np.maximum(tp + fp, np.finfo(float).eps))[::-1])[::-1]
        at = np.searchsorted(recall, _RECALLS, side="left")
        out[t] = np.where(at < len(precision), precision[np.minimum(at, len(precision) - 1)], 0.0).mean()
    return out


def mean_average_precision(ground_truth: Sequence, detections: Sequence, max_detections: int = 100) -> dict:
    """mAP@0.5 and mAP@[0.5:0.95] over images.

    Args:
        ground_truth: per image `(boxes (m, 4) xyxy, labels (m,))`.
        detections: per image `(boxes (n, 4), scores (n,), labels (n,))`.
        max_detections: the best detections per image and class kept.

    Returns:
        `{"mAP@0.5": ..., "mAP@[0.5:0.95]": ..., "AP@0.5": {label: AP}}`;
        classes without ground truth are left out (NaN mAP when none has).

    Example:
        >>> mean_average_precision([(gt_boxes, gt_labels)], [(boxes, scores, labels)])  # doctest: +SKIP
    """
    rows, counts = [], defaultdict(int)
    for (gt_boxes, gt_labels), (boxes, scores, labels) in zip(ground_truth, detections):
        image_rows, image_counts = match_image(gt_boxes, gt_labels, boxes, scores, labels, max_detections)
        rows += image_rows
        for label, n in image_counts.items():
            counts[label] += n
    return summarize(rows, counts)


def summarize(rows: list, counts: dict[int, int]) -> dict:
    """The metrics of matched detections (`match_image`'s rows of all images,
    and the summed ground-truth counts)."""
    per_class = {}
    for label, positives in sorted(counts.items()):
        if positives == 0:
            continue
        mine = [(s, m) for lab, s, m in rows if lab == label]
        scores = np.array([s for s, _ in mine], np.float64)
        matched = np.array([m for _, m in mine], bool).reshape(len(mine), len(IOU_THRESHOLDS))
        per_class[label] = average_precision(scores, matched, positives)
    if not per_class:
        return {"mAP@0.5": float("nan"), "mAP@[0.5:0.95]": float("nan"), "AP@0.5": {}}
    ap = np.stack(list(per_class.values()))
    return {"mAP@0.5": float(ap[:, 0].mean()), "mAP@[0.5:0.95]": float(ap.mean()),
            "AP@0.5": {label: float(v[0]) for label, v in per_class.items()}}
