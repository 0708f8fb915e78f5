import numpy as np
import pytest

from zooapi.feed.spill import SpillReader, SpillWriter


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



def test_strings_shaped_to_the_model_input_read_back_with_their_row_shape(tmp_path):
    w = SpillWriter(tmp_path, ["text", "pair"])
    words = np.array([["a"], ["b"], ["c"]], object)
    pairs = np.array([[b"a0", b"a1"], [b"b0", b"b1"], [b"c0", b"c1"]], object)
    w.append([words[:2], pairs[:2]])
    w.append([words[2:], pairs[2:]])
    w.close()
    text, pair = SpillReader(tmp_path).take(np.array([2, 0, 2]))
    assert text.shape == (3, 1) and text.tolist() == [["c"], ["a"], ["c"]]
    assert pair.shape == (3, 2) and pair.tolist() == [[b"c0", b"c1"], [b"a0", b"a1"], [b"c0", b"c1"]]
    with pytest.raises(ValueError, match=r"text has rows of shape \(\) from row 3 of its partition on; "
                                         r"earlier rows had shape \(1,\)"):
        w = SpillWriter(tmp_path / "again", ["text", "pair"])
        w.append([words, pairs])
        w.append([np.array(["d"], object), pairs[:1]])
