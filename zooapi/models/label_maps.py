"""The Pascal VOC and COCO label maps, as Analytics Zoo's
`LabelReader.readPascalLabelMap` / `readCocoLabelMap` gave them: class
index to name, 0 being the background.

Example:
    >>> read_pascal_label_map()[15]
    'person'
    >>> read_coco_label_map()[1], len(read_coco_label_map())
    ('person', 81)
"""

from __future__ import annotations

__all__ = ["read_coco_label_map", "read_pascal_label_map"]

BACKGROUND = "__background__"

PASCAL_VOC = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable", "dog",
    "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)

COCO = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)


def read_pascal_label_map() -> dict[int, str]:
    """Pascal VOC's 20 classes: `{0: "__background__", 1: "aeroplane", ...,
    20: "tvmonitor"}`.

    Returns:
        A new dict of index to name.

    Example:
        >>> read_pascal_label_map()[1]
        'aeroplane'
    """
    return {i: name for i, name in enumerate((BACKGROUND,) + PASCAL_VOC)}


def read_coco_label_map() -> dict[int, str]:
    """COCO's 80 detection classes, numbered 1 to 80 in COCO's category
    order (COCO's own `category_id`s skip numbers; these do not), 0 the
    background: `{0: "__background__", 1: "person", ..., 80: "toothbrush"}`.

    Returns:
        A new dict of index to name.

    Example:
        >>> read_coco_label_map()[80]
        'toothbrush'
    """
    return {i: name for i, name in enumerate((BACKGROUND,) + COCO)}
