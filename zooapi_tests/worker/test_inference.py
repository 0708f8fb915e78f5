"""Prediction-side decoding inside a task (`zooapi.worker.inference`)."""

import numpy as np
import pyarrow as pa

from zooapi.feed.codecs import decode_column
from zooapi.worker.inference import bounded_slices


def test_large_record_batches_decode_in_bounded_slices_with_the_same_pixels():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (10, 4, 4, 3), dtype=np.uint8)
    image = pa.StructArray.from_arrays(
        [pa.array([f"i{i}" for i in range(10)]), pa.array([4] * 10, pa.int32()), pa.array([4] * 10, pa.int32()),
         pa.array([3] * 10, pa.int32()), pa.array([16] * 10, pa.int32()), pa.array([p.tobytes() for p in pixels])],
        names=["origin", "height", "width", "nChannels", "mode", "data"])
    batch = pa.RecordBatch.from_arrays([image], ["image"])
    slices = list(bounded_slices(batch, batch_size=3, budget=1))  # the budget allows 1 row; batch_size wins
    assert [s.num_rows for s in slices] == [3, 3, 3, 1]
    assert len(list(bounded_slices(batch, batch_size=3))) == 1  # a batch within the budget stays whole
    whole = decode_column("image", "image", batch.column(0))
    parts = np.concatenate([decode_column("image", "image", s.column(0)) for s in slices])
    np.testing.assert_array_equal(parts, whole)
    np.testing.assert_array_equal(whole[7], pixels[7][..., ::-1])  # BGR bytes become RGB


def test_max_rows_caps_the_slices_of_a_batch_within_the_budget():
    batch = pa.RecordBatch.from_arrays([pa.array([b"x" * 10] * 10, pa.binary())], ["image"])
    assert [s.num_rows for s in bounded_slices(batch, batch_size=4, max_rows=4)] == [4, 4, 2]
    assert [s.num_rows for s in bounded_slices(batch, batch_size=4)] == [10]
