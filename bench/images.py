"""Image pipeline throughput: files -> decode -> resize -> normalize -> model, zooapi against Pillow in one process.

Writes a folder of JPEG files (default 5000, 256x256 RGB: scikit-learn's
8x8 digits scaled up with bicubic interpolation, in a random color, over a
random two-color gradient, with mild noise, quality 90, about 15 kB each)
to a temporary directory, then measures images/s of the same pipeline, in
the same run:

- zooapi: `NNImageReader.readImages(folder, spark, resize_height=224,
  resize_width=224, image_codec=1)` (Pillow decode and bilinear resize on
  the workers) fed to `engine.predict` with `feature_preprocessing=
  ImageChannelNormalize(ImageNet mean, std) * ImageMatToTensor()` and a
  small Keras model (GlobalAveragePooling2D + Dense(10, softmax)), forced
  with the `noop` sink, on Spark `local[N]` (`--cores`, default 2). Timed
  from building the DataFrame (file listing included) to the end of the
  write; the session's start is not. One untimed pass first (Python workers
  started, model loaded in each), then the best of 3.
- pillow: one Python process pinned to one core (TensorFlow limited to one
  thread) doing the same on the same files: `Image.open`, `load`, the same
  `resize`, `convert("RGB")`, NumPy stacking into batches of 64, the same
  normalization, the same model as a compiled `tf.function`. This is the
  baseline of the target.
- pillow decode+resize: that process's decode and resize alone, the cost
  no image pipeline avoids; informational.
- zooapi readImages alone: `readImages` with the same resize forced with
  the `noop` sink, no model; informational, it splits zooapi's time between
  reading and predicting (best of 3, no warm-up of its own: it runs after
  the zooapi runs).

Each line also gives the CPU time per image of the fastest run: for the
Spark runs, user + system time of the JVM and of its Python workers (from
/proc, the driver excluded), for the baseline that of its process. On a
shared machine CPU per image moves less than wall time.

The folder is large enough that a Spark job's fixed cost (planning, file
listing, code generation, task start: ~0.5-1 s of JVM CPU here) is a small
part of the time, as it is for a real image folder: with 2,000 files the
job lasts ~2.5 s and that fixed cost alone is ~0.3-0.5 ms per image.

The target is per core: (zooapi images/s / cores) / (pillow images/s) >= 0.8,
where cores is the Spark job's task slots (`local[N]`, at most the cores this
process may use).

Run: `python bench/images.py` (or `--quick` for a smoke run, `--images N`,
`--size S` for the files' side, `--resize R` for the model's input side,
`--cores N`).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import N_CLASSES, SEED, best_run, descendant_cpu, spark_session  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BATCH = 64  # images per forward pass in the one-process baseline
MEAN = (123.675, 116.28, 103.53)  # ImageNet, RGB, pixel units
STD = (58.395, 57.12, 57.375)


def make_images(folder: str, count: int, size: int) -> int:
    """Writes `count` JPEG files of `size` x `size` RGB into `folder`; returns their total bytes.

    Each is a digit (scikit-learn's 8x8 images, scaled up) in a random color
    over a random linear gradient between two random colors, plus Gaussian
    noise, so that files are photo-like in size rather than flat colors.
    """
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(SEED)
    grid = np.stack(np.mgrid[0:size, 0:size], -1).astype(np.float32) / max(size - 1, 1)
    # A few noise fields, shifted per image: cheaper than a fresh draw for each.
    noise = rng.normal(0, 6, (4, size, size, 3)).astype(np.float32)
    total = 0
    for i in range(count):
        k = i % len(digits.images)
        glyph = Image.fromarray((digits.images[k] * (255 / 16)).astype(np.uint8))
        glyph = np.asarray(glyph.resize((size, size), Image.Resampling.BICUBIC), np.float32)[..., None] / 255
        start, end, ink = rng.uniform(0, 255, (3, 3)).astype(np.float32)
        angle = rng.uniform(0, 2 * np.pi)
        ramp = grid @ np.array([np.sin(angle), np.cos(angle)], np.float32)
        ramp = ((ramp - ramp.min()) / (np.ptp(ramp) + 1e-6))[..., None]
        pixels = (start * (1 - ramp) + end * ramp) * (1 - glyph) + ink * glyph
        pixels += np.roll(noise[i % len(noise)], rng.integers(size), axis=int(rng.integers(2)))
        path = os.path.join(folder, f"digit-{digits.target[k]}-{i:06d}.jpg")
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=90)
        total += os.path.getsize(path)
    return total


def small_model(side: int):
    """GlobalAveragePooling2D + Dense(10, softmax) on `side` x `side` RGB: cheap,
    so that the pipeline, not the model, is measured."""
    import keras

    keras.utils.set_random_seed(SEED)
    return keras.Sequential([
        keras.Input((side, side, 3)),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(N_CLASSES, activation="softmax"),
    ])


def run_noop_sink(df) -> None:
    df.write.format("noop").mode("overwrite").save()


def read_images(spark, folder: str, side: int, partitions: int):
    from zooapi.nnframes import NNImageReader

    return NNImageReader.readImages(folder, spark, min_partitions=partitions, resize_height=side,
                                    resize_width=side, image_codec=1)


def zooapi_predict(spark, folder: str, model, side: int, partitions: int) -> None:
    from zooapi import engine
    from zooapi.feature.image import ImageChannelNormalize, ImageMatToTensor

    prep = ImageChannelNormalize(*MEAN, *STD) * ImageMatToTensor()
    df = read_images(spark, folder, side, partitions)
    run_noop_sink(engine.predict(model, df, "image", batch_size=BATCH, feature_preprocessing=prep))


def zooapi_predict_encoded(spark, folder: str, model, side: int, partitions: int) -> None:
    from zooapi import engine
    from zooapi.feature.image import ImageChannelNormalize, ImageMatToTensor
    from zooapi.feature.image_files import ImageBytesToMat
    from zooapi.nnframes import NNImageReader

    prep = ImageBytesToMat(side, side) * ImageChannelNormalize(*MEAN, *STD) * ImageMatToTensor()
    df = NNImageReader.readImages(folder, spark, min_partitions=partitions, decode=False)
    run_noop_sink(engine.predict(model, df, "image", batch_size=BATCH, feature_preprocessing=prep))


def pillow_baseline(paths: list[str], model_path: str, side: int) -> dict[str, tuple[float, dict[str, float]]]:
    """Best-of-3 seconds (and CPU seconds) of the one-process pipelines; runs in
    a child process pinned to one core, with TensorFlow on one thread."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    from PIL import Image

    model = keras.models.load_model(model_path)
    forward = tf.function(lambda t: model(t, training=False),
                          input_signature=[tf.TensorSpec((None, side, side, 3), tf.float32)])
    mean, std = np.float32(MEAN), np.float32(STD)

    def decode(path: str) -> np.ndarray:
        # The calls NNImageReader makes for image_codec=1.
        with Image.open(path) as image:
            image.load()
            if image.size != (side, side):
                image = image.resize((side, side), Image.Resampling.BILINEAR)
            return np.asarray(image.convert("RGB"), dtype=np.uint8)

    def decode_only():
        for path in paths:
            decode(path)

    def pipeline():
        for start in range(0, len(paths), BATCH):
            batch = np.stack([decode(p) for p in paths[start:start + BATCH]]).astype(np.float32)
            forward((batch - mean) / std).numpy()

    def cpu():
        return {"process": time.process_time()}

    return {"pillow": best_run(pipeline, cpu), "pillow_decode": best_run(decode_only, cpu)}


def cpu_text(cpu: dict[str, float] | None, count: int) -> str:
    if cpu is None:
        return ""
    parts = f" ({', '.join(f'{k} {v / count * 1e3:.2f}' for k, v in cpu.items())})" if len(cpu) > 1 else ""
    return f", CPU {sum(cpu.values()) / count * 1e3:.2f} ms/image{parts}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=None, help="number of files; default 5000 (300 with --quick)")
    parser.add_argument("--size", type=int, default=256, help="side of the JPEG files, pixels (default 256)")
    parser.add_argument("--resize", type=int, default=224, help="side the images are resized to (default 224)")
    parser.add_argument("--cores", type=int, default=2, help="Spark local[N] (default 2)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args(argv)
    count = args.images or (300 if args.quick else 5000)
    side, cores = args.resize, args.cores

    with tempfile.TemporaryDirectory(prefix="bench-images-") as tmp:
        folder = os.path.join(tmp, "images")
        os.makedirs(folder)
        start = time.perf_counter()
        total = make_images(folder, count, args.size)
        written = time.perf_counter() - start
        paths = sorted(os.path.join(folder, name) for name in os.listdir(folder))
        model = small_model(side)
        model_path = os.path.join(tmp, "model.keras")
        model.save(model_path)

        spark = spark_session("bench-images", cores=cores)
        used = min(spark.sparkContext.defaultParallelism, len(os.sched_getaffinity(0))
                   if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
        partitions = read_images(spark, folder, side, cores).rdd.getNumPartitions()
        print(f"images: {count} JPEG files {args.size}x{args.size} RGB ({total / count / 1024:.1f} kB each, "
              f"written in {written:.1f} s) -> resize {side}x{side} -> normalize -> GAP+Dense({N_CLASSES}); "
              f"Spark {spark.sparkContext.master}, readImages gives {partitions} partitions; "
              "best of 3 after 1 warm-up")
        runs = {
            # Built inside each run: listing the files and planning are part of the pipeline.
            "zooapi_encoded": best_run(lambda: zooapi_predict_encoded(spark, folder, model, side, cores),
                                       descendant_cpu),
            "zooapi": best_run(lambda: zooapi_predict(spark, folder, model, side, cores), descendant_cpu),
            "zooapi_read": best_run(lambda: run_noop_sink(read_images(spark, folder, side, cores)), descendant_cpu,
                                    warmup=0),
        }
        spark.stop()
        # A fresh interpreter: TensorFlow's thread pools are fixed at its first use in a process.
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            runs.update(pool.apply(pillow_baseline, (paths, model_path, side)))

    rate = {name: count / seconds for name, (seconds, _) in runs.items()}
    labels = {"zooapi_encoded": f"zooapi readImages(decode=False) + predict ({cores} cores)",
              "zooapi": f"zooapi readImages + predict ({cores} cores)",
              "pillow": "Pillow + NumPy + model, 1 process, 1 core",
              "pillow_decode": "Pillow decode + resize, 1 process, 1 core",
              "zooapi_read": f"zooapi readImages alone ({cores} cores)"}
    for name, label in labels.items():
        seconds, cpu = runs[name]
        print(f"{label:>58}: {rate[name]:>7,.0f} images/s ({seconds:.2f} s){cpu_text(cpu, count)}")
    print(f"cores used by the Spark job: {used}")
    print(f"ratio decoded-struct route per core / pillow = {rate['zooapi'] / used / rate['pillow']:.2f}")
    print(f"ratio zooapi / pillow = {rate['zooapi_encoded'] / rate['pillow']:.2f} (raw: {used} cores against 1)")
    print(f"ratio zooapi per core / pillow = {rate['zooapi_encoded'] / used / rate['pillow']:.2f} (target >= 0.8)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
