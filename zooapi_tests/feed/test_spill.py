import numpy as np
import pytest

from zooapi.feed import SpillReader, SpillWriter


def test_spilled_batches_read_back_memory_mapped(tmp_path):
    w = SpillWriter(tmp_path, ["x", "y", "s"])
    w.append([np.arange(6, dtype=np.float32).reshape(3, 2), np.array([0, 1, 2]), np.array(["a", "b", "c"], object)])
    w.append([np.arange(6, 10, dtype=np.float32).reshape(2, 2), np.array([3, 4]), np.array(["d", "e"], object)])
    meta = w.close()
    assert meta["rows"] == 5
    r = SpillReader(tmp_path)
    assert isinstance(r.tensors[0], np.memmap)
    x, y, s = r.take(np.array([1, 4]))
    np.testing.assert_array_equal(x, [[2, 3], [8, 9]])
    np.testing.assert_array_equal(y, [1, 4])
    assert list(s) == ["b", "e"]
    assert [len(t) for t in r.slice(3, 99)] == [2, 2, 2]
    x, y, s = r.take(np.array([4, 0, 2, 0]))  # any order, repeats allowed
    np.testing.assert_array_equal(y, [4, 0, 2, 0])
    np.testing.assert_array_equal(x, [[8, 9], [0, 1], [4, 5], [0, 1]])
    assert list(s) == ["e", "a", "c", "a"]


def test_rows_of_another_shape_in_a_later_batch_are_refused(tmp_path):
    w = SpillWriter(tmp_path, ["column 'x'"])
    w.append([np.zeros((3, 2))])
    with pytest.raises(ValueError, match=r"column 'x' has rows of shape \(3,\) from row 3 of its partition on"):
        w.append([np.zeros((1, 3))])

