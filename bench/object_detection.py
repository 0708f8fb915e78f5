"""Object detection on generated shapes: train, then mAP on held-out images.

Generates `--train` (default 3,000) images of 128x128 with 1 to 4 shapes
(circles, rectangles, triangles of random colour, size and position on
cluttered, noisy backgrounds; `zooapi.models.shapes`) on the executors,
trains `ObjectDetector(["circle", "rectangle", "triangle"])` (the small
CPU backbone) through the engine on `--workers` barrier tasks of Spark
`local[N]` (`--cores`, default 2), and evaluates COCO's mAP@0.5 and
mAP@[0.5:0.95] on `--test` (default 1,000) other generated images (another
seed). Prints the training time, the per-epoch loss, the per-class AP@0.5,
then the target line: mAP@0.5 >= 0.8.

Run: `python bench/object_detection.py` (`--epochs 4`, `--batch-size 32`,
`--quick` for a smoke run of 300 / 100 images and 2 epochs).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.train, args.test, args.epochs = 300, 100, 2
    logging.basicConfig(level=logging.WARNING)

    import zooapi
    from zooapi.models import ObjectDetector, shapes_frame
    from zooapi.models.shapes import SHAPE_LABELS

    spark = zooapi.init_nncontext("bench-object-detection", master=f"local[{args.cores}]")
    train = shapes_frame(spark, args.train, size=args.size, seed=1, partitions=args.workers).cache()
    test = shapes_frame(spark, args.test, size=args.size, seed=2, partitions=args.workers)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    train.count()
    generated = time.perf_counter() - start
    detector = ObjectDetector(SHAPE_LABELS, input_size=args.size, learning_rate=args.learning_rate)
    start = time.perf_counter()
    detector.fit(train, epochs=args.epochs, batch_size=args.batch_size, num_workers=args.workers, seed=0)
    trained = time.perf_counter() - start
    start = time.perf_counter()
    scores = detector.evaluate(test)
    evaluated = time.perf_counter() - start
    spark.stop()
    losses = ", ".join(f"{v:.3f}" for v in detector.history.history["loss"])
    print(f"generated {args.train} training images in {generated:.1f} s")
    print(f"trained {args.epochs} epochs on {args.workers} workers in {trained:.1f} s "
          f"({args.train * args.epochs / trained:.1f} images/s); loss per epoch: {losses}")
    print(f"load average (1 min) {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    print(f"evaluated {args.test} held-out images in {evaluated:.1f} s")
    print("AP@0.5 per class: " + ", ".join(f"{k} {v:.3f}" for k, v in scores["AP@0.5"].items()))
    print(f"mAP@[0.5:0.95] = {scores['mAP@[0.5:0.95]']:.3f}")
    print(f"mAP@0.5 = {scores['mAP@0.5']:.3f} (target >= 0.8)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
