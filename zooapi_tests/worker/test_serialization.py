import numpy as np

from zooapi.worker.serialization import arrays_from_bytes, arrays_to_bytes


def test_arrays_round_trip_in_order_with_their_dtypes_and_shapes():
    # 12 arrays: more than 10, so an order taken from sorted key names ("10" < "2") would show.
    arrays = [np.full((i % 3 + 1, 2), i, dtype=np.float32 if i % 2 else np.int64) for i in range(12)]
    back = arrays_from_bytes(arrays_to_bytes(arrays))
    assert len(back) == 12
    for a, b in zip(arrays, back):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    assert arrays_from_bytes(arrays_to_bytes([])) == []
