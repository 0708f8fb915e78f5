"""zooapi.feature.image: deterministic transforms against NumPy / Keras
references, seeded augmentation, chaining and JSON persistence."""

from __future__ import annotations

import numpy as np
import pytest

from zooapi.feature import (
    ImageBrightness,
    ImageCenterCrop,
    ImageChannelNormalize,
    ImageChannelOrder,
    ImageContrast,
    ImageExpand,
    ImageHFlip,
    ImageHue,
    ImageMatToTensor,
    ImageRandomCrop,
    ImageRandomRotation,
    ImageRandomTranslation,
    ImageRandomZoom,
    ImageResize,
    ImageSaturation,
)
from zooapi.feature.preprocessing import preprocessing_from_json, preprocessing_to_json
from zooapi.feature.preprocessing import ChainedPreprocessing

MEAN, STD = (123.0, 117.0, 104.0), (58.4, 57.1, 57.4)


@pytest.fixture(scope="module")
def images():
    """8 digits as 32x32 RGB images in [0, 255] (a different tint per channel)."""
    from sklearn.datasets import load_digits

    digits = load_digits().images[:8] / 16.0 * 255.0
    big = np.repeat(np.repeat(digits, 4, axis=1), 4, axis=2)
    return np.stack([big, big * 0.5 + 60, 255 - big], axis=-1).astype(np.float32)


def augmentations():
    return [ImageRandomCrop(24, 24, seed=1), ImageHFlip(seed=1), ImageRandomRotation(0.1, seed=1),
            ImageBrightness(-32, 32, seed=1), ImageContrast(0.5, seed=1), ImageHue(0.2, seed=1),
            ImageSaturation((0.2, 0.8), seed=1), ImageRandomZoom(0.3, seed=1),
            ImageRandomTranslation(0.2, 0.2, seed=1), ImageExpand(seed=1)]


def test_deterministic_chain_matches_numpy_reference(images):
    chain = (ImageResize(16, 16, interpolation="nearest") * ImageCenterCrop(12, 12)
             * ImageChannelNormalize(*MEAN, *STD) * ImageMatToTensor("NCHW"))
    out = chain(images)
    # An integer downscale by 2 with "nearest" takes one pixel of every 2x2
    # block; the 4x nearest upscale made each 4x4 block constant, so any pick
    # within the block gives the same value.
    reference = images[:, ::2, ::2, :][:, 2:14, 2:14, :]
    reference = ((reference - np.float32(MEAN)) / np.float32(STD)).transpose(0, 3, 1, 2)
    assert out.shape == (8, 3, 12, 12) and out.dtype == np.float32
    np.testing.assert_allclose(out, reference, atol=1e-5)


def test_bilinear_resize_is_keras_resizing(images):
    import keras

    out = ImageResize(20, 24)(images)
    expected = keras.ops.convert_to_numpy(keras.layers.Resizing(20, 24)(images))
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_channel_order_swaps_bgr_and_rgb(images):
    swapped = ImageChannelOrder()(images)
    np.testing.assert_array_equal(swapped[..., 0], images[..., 2])
    np.testing.assert_array_equal(ImageChannelOrder()(swapped), images)


def test_mat_to_tensor_nhwc_keeps_the_batch(images):
    np.testing.assert_array_equal(ImageMatToTensor()(images), images)


def test_each_augmentation_differs_between_epochs_and_replays_from_a_fresh_object(images):
    for first, fresh in zip(augmentations(), augmentations()):
        name = type(first).__name__
        run = [first(images) for _ in range(3)]
        replay = [fresh(images) for _ in range(3)]
        assert run[0].dtype == np.float32, name
        assert not np.allclose(run[0], run[1]), f"{name}: two calls gave the same images"
        for a, b in zip(run, replay):
            np.testing.assert_allclose(a, b, atol=1e-5, err_msg=f"{name}: not reproducible from its seed")


def test_augmented_pixels_stay_in_range(images):
    for step in augmentations():
        out = step(images)
        assert out.min() >= -1e-3 and out.max() <= 255 + 1e-3, type(step).__name__


def test_hflip_flips_some_images_and_keeps_the_others(images):
    out = ImageHFlip(seed=3)(images)
    flipped = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, images)]
    kept = [np.array_equal(o, i) for o, i in zip(out, images)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)


def test_expand_with_ratio_one_is_identity_and_fills_with_the_means(images):
    np.testing.assert_allclose(ImageExpand(min_expand_ratio=1, max_expand_ratio=1)(images), images, atol=1e-3)
    out = ImageExpand(10, 20, 30, min_expand_ratio=4, max_expand_ratio=4, seed=0)(np.zeros((4, 32, 32, 3)))
    corners = out[:, [0, 0, -1, -1], [0, -1, 0, -1]]
    # A 4x canvas: at least three of the four corners lie outside the image.
    assert (np.isclose(corners, [10, 20, 30]).all(-1).sum(1) >= 3).all()


def test_augmentation_survives_pickling_and_restarts_from_its_seed(images):
    from pyspark import cloudpickle

    rotation = ImageRandomRotation(0.2, seed=5)
    first = rotation(images)
    shipped = cloudpickle.loads(cloudpickle.dumps(rotation))
    np.testing.assert_allclose(shipped(images), first, atol=1e-5)


def test_image_chain_round_trips_through_json(images):
    import json

    chain = ChainedPreprocessing([ImageResize(16, 16), ImageHFlip(seed=2), ImageBrightness(-8, 8, seed=4),
                                  ImageSaturation([0.3, 0.7], seed=6), ImageExpand(seed=7)]) \
        * ImageChannelNormalize(*MEAN, *STD) * ImageMatToTensor("NCHW")
    spec = json.loads(json.dumps(preprocessing_to_json(chain)))
    loaded = preprocessing_from_json(spec)
    assert repr(loaded) == repr(chain)
    fresh = preprocessing_from_json(spec)
    np.testing.assert_allclose(loaded(images), fresh(images), atol=1e-5)
    assert loaded(images).shape == (8, 3, 16, 16)


def test_spec_without_module_still_finds_image_classes():
    spec = {"kind": "zooapi", "class": "ImageCenterCrop", "config": {"height": 2, "width": 3}}
    assert isinstance(preprocessing_from_json(spec), ImageCenterCrop)
    with pytest.raises(ValueError, match="Unknown zooapi preprocessing class 'NoSuchImage'"):
        preprocessing_from_json({"kind": "zooapi", "class": "NoSuchImage", "config": {}})


def test_bad_arguments_and_batches_are_refused():
    with pytest.raises(ValueError, match=r"expected a positive integer. Received: height=0"):
        ImageResize(0, 4)
    with pytest.raises(ValueError, match="std_g"):
        ImageChannelNormalize(0, 0, 0, 1, 0, 1)
    with pytest.raises(ValueError, match="expected 'NHWC' or 'NCHW'. Received: format='CHW'"):
        ImageMatToTensor("CHW")
    with pytest.raises(ValueError, match=r"ImageCenterCrop expects a batch of images of shape \(n, height, width, "
                                         r"channels\). Received: an array of shape \(4, 4\)"):
        ImageCenterCrop(2, 2)(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="3 \\(RGB\\) or 4 \\(RGBA\\) channels"):
        ImageChannelNormalize(0, 0, 0)(np.zeros((1, 2, 2, 1)))
    with pytest.raises(ValueError, match="at least 3 channels"):
        ImageChannelOrder()(np.zeros((1, 2, 2, 1)))
    with pytest.raises(ValueError, match="3 \\(RGB\\) or 4 \\(RGBA\\) channels"):
        ImageExpand()(np.zeros((1, 2, 2, 1)))
    with pytest.raises(ValueError, match="delta_low <= delta_high"):
        ImageBrightness(10, -10)
    with pytest.raises(ValueError, match="value_range"):
        ImageContrast(0.5, value_range=(255, 0))
    with pytest.raises(ValueError, match="min_expand_ratio"):
        ImageExpand(min_expand_ratio=0.5)
    with pytest.raises(ValueError, match="seed"):
        ImageHFlip(seed=-1)
