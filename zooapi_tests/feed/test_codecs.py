import numpy as np
import pyarrow as pa
import pytest

from zooapi.feed.codecs import decode_feed, decode_group, encode_output, fit_label
from zooapi.feed.columns import ColumnGroup, TensorFeed


def group(*cols_kinds):
    return ColumnGroup(tuple(c for c, _ in cols_kinds), tuple(k for _, k in cols_kinds))


def vector_array(rows):
    """Arrow layout of Spark ML vectors: (type, size, indices, values)."""
    t = pa.struct([("type", pa.int8()), ("size", pa.int32()), ("indices", pa.list_(pa.int32())),
                   ("values", pa.list_(pa.float64()))])
    return pa.array(rows, type=t)


def image_array(images, mode=16):
    rows = [{"origin": f"img{i}", "height": im.shape[0], "width": im.shape[1], "nChannels": im.shape[2],
             "mode": mode, "data": im.tobytes()} for i, im in enumerate(images)]
    t = pa.struct([("origin", pa.string()), ("height", pa.int32()), ("width", pa.int32()),
                   ("nChannels", pa.int32()), ("mode", pa.int32()), ("data", pa.binary())])
    return pa.array(rows, type=t)


def test_several_scalar_columns_are_stacked_in_order():
    batch = pa.record_batch({"a": [1, 2], "b": [3.5, 4.5], "c": [True, False]})
    out = decode_group(batch, group(("a", "scalar"), ("b", "scalar"), ("c", "scalar")))
    np.testing.assert_array_equal(out, [[1, 3.5, 1], [2, 4.5, 0]])
    assert out.dtype == np.float32


def test_fixed_length_arrays_are_reshaped_to_the_input_shape():
    batch = pa.record_batch({"x": pa.array([list(range(4)), list(range(4, 8))], pa.list_(pa.float32()))})
    out = decode_group(batch, group(("x", "array")), shape=(2, 2))
    assert out.shape == (2, 2, 2)
    np.testing.assert_array_equal(out[1], [[4, 5], [6, 7]])


def test_a_sliced_batch_decodes_only_its_rows():
    arr = pa.array([[0, 0], [1, 1], [2, 2]], pa.list_(pa.float64()))
    batch = pa.record_batch({"x": arr}).slice(1, 2)
    np.testing.assert_array_equal(decode_group(batch, group(("x", "array"))), [[1, 1], [2, 2]])


def test_nested_fixed_length_arrays_keep_their_shape_and_a_sliced_batch_its_rows():
    windows = np.arange(4 * 3 * 2, dtype=np.float32).reshape(4, 3, 2)  # 4 rows of 3 steps x 2 features
    arr = pa.array(windows.tolist(), pa.list_(pa.list_(pa.float32())))
    out = decode_group(pa.record_batch({"x": arr}).slice(1, 2), group(("x", "array")))
    assert out.shape == (2, 3, 2) and out.dtype == np.float32
    np.testing.assert_array_equal(out, windows[1:3])
    # Also into an input of another shape with the same number of values, and beside a scalar.
    np.testing.assert_array_equal(decode_group(pa.record_batch({"x": arr}), group(("x", "array")), shape=(6,)),
                                  windows.reshape(4, 6))
    both = decode_group(pa.record_batch({"x": arr, "s": [1.0, 2.0, 3.0, 4.0]}), group(("x", "array"), ("s", "scalar")))
    np.testing.assert_array_equal(both[:, -1], [1, 2, 3, 4])
    three = pa.array([[[[1, 2]], [[3, 4]]]], pa.list_(pa.list_(pa.list_(pa.int64()))))
    assert decode_group(pa.record_batch({"x": three}), group(("x", "array"))).shape == (1, 2, 1, 2)


def test_nested_arrays_that_are_ragged_or_hold_nulls_name_the_column_and_row():
    def decode(rows):
        batch = pa.record_batch({"w": pa.array(rows, pa.list_(pa.list_(pa.float64())))})
        return decode_group(batch, group(("w", "array")), offset=50)

    with pytest.raises(ValueError, match=r"Column 'w' is ragged: row 51 of its partition holds an inner array of 3 "
                                         r"value\(s\) at nesting level 1, where row 50's first inner array has 2"):
        decode([[[1, 2], [3, 4]], [[1, 2], [3, 4, 5]]])
    with pytest.raises(ValueError, match=r"Column 'w' is ragged: row 51 of its partition has 1 values, row 50 has 2"):
        decode([[[1, 2], [3, 4]], [[1, 2]]])
    with pytest.raises(ValueError, match=r"Column 'w' has a null inner array at row 51 of its partition"):
        decode([[[1, 2], [3, 4]], [[1, 2], None]])
    with pytest.raises(ValueError, match=r"Column 'w' has a null element at row 51 of its partition"):
        decode([[[1, 2], [3, 4]], [[1, 2], [3, None]]])


def test_dense_and_sparse_vectors_decode_to_the_same_dense_rows():
    arr = vector_array([
        {"type": 1, "size": None, "indices": None, "values": [1.0, 0.0, 3.0]},
        {"type": 0, "size": 3, "indices": [0, 2], "values": [5.0, 6.0]},
        {"type": 0, "size": 3, "indices": [], "values": []},
    ])
    out = decode_group(pa.record_batch({"v": arr}), group(("v", "vector")))
    np.testing.assert_array_equal(out, [[1, 0, 3], [5, 0, 6], [0, 0, 0]])


def test_vectors_of_another_size_name_the_column_and_row():
    arr = vector_array([
        {"type": 0, "size": 3, "indices": [0], "values": [1.0]},
        {"type": 0, "size": 4, "indices": [0], "values": [1.0]},
    ])
    with pytest.raises(ValueError, match=r"Column 'v' holds vectors of different sizes: row 11 .* size 4"):
        decode_group(pa.record_batch({"v": arr}), group(("v", "vector")), offset=10)


def test_images_decode_to_rgb_floats():
    bgr = np.zeros((2, 3, 3), np.uint8)
    bgr[..., 0] = 10  # blue
    bgr[..., 2] = 200  # red
    out = decode_group(pa.record_batch({"img": image_array([bgr, bgr])}), group(("img", "image")))
    assert out.shape == (2, 2, 3, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0, 0, 0], [200, 0, 10])


def test_images_of_different_sizes_are_refused():
    imgs = [np.zeros((2, 2, 3), np.uint8), np.zeros((3, 2, 3), np.uint8)]
    with pytest.raises(ValueError, match="Column 'img' holds images of different sizes: row 1"):
        decode_group(pa.record_batch({"img": image_array(imgs)}), group(("img", "image")))


def test_strings_stay_objects():
    out = decode_group(pa.record_batch({"s": ["a b", "c"]}), group(("s", "string")))
    assert out.dtype == object and list(out) == ["a b", "c"]


def test_scalar_columns_of_every_kind_take_the_rank_of_the_model_input():
    batch = pa.record_batch({"s": ["red", "blue"], "b": pa.array([b"\x00", b"\x01"]), "x": [1.5, 2.5]})
    words = decode_group(batch, group(("s", "string")), shape=(1,), dtype="object")
    assert words.shape == (2, 1) and words.tolist() == [["red"], ["blue"]]
    assert decode_group(batch, group(("s", "string")), shape=(), dtype="object").tolist() == ["red", "blue"]
    assert decode_group(batch, group(("b", "binary")), shape=(None,), dtype="object").tolist() == [[b"\x00"], [b"\x01"]]
    np.testing.assert_array_equal(decode_group(batch, group(("x", "scalar")), shape=(1,)), [[1.5], [2.5]])
    with pytest.raises(ValueError, match=r"Column 's' gives 1 value\(s\) per row .* expects shape \(3,\)"):
        decode_group(batch, group(("s", "string")), shape=(3,), dtype="object")


def test_null_is_refused_with_column_and_row_in_partition():
    batch = pa.record_batch({"x": pa.array([1.0, None, 3.0])})
    with pytest.raises(ValueError, match=r"Column 'x' has a null at row 101 of its partition"):
        decode_group(batch, group(("x", "scalar")), offset=100)


def test_null_inside_an_array_is_refused():
    batch = pa.record_batch({"x": pa.array([[1.0, 2.0], [3.0, None]])})
    with pytest.raises(ValueError, match=r"Column 'x' has a null element at row 1"):
        decode_group(batch, group(("x", "array")))


def test_ragged_arrays_are_refused_with_both_lengths():
    batch = pa.record_batch({"x": pa.array([[1.0, 2.0], [1.0, 2.0], [3.0]])})
    with pytest.raises(ValueError, match=r"Column 'x' is ragged: row 2 of its partition has 1 values, row 0 has 2"):
        decode_group(batch, group(("x", "array")))


def test_wrong_row_size_for_the_model_input_is_refused():
    batch = pa.record_batch({"x": pa.array([[1.0, 2.0, 3.0]])})
    with pytest.raises(ValueError, match=r"Column 'x' gives 3 value\(s\) per row .* expects shape \(2, 2\)"):
        decode_group(batch, group(("x", "array")), shape=(2, 2))


def test_labels_fit_the_output_or_are_class_indices():
    g = group(("y", "scalar"))
    assert fit_label(np.arange(4.0), (10,), g).shape == (4,)
    assert fit_label(np.arange(4.0), (1,), g).shape == (4, 1)
    assert fit_label(np.zeros((4, 3)), (3,), g).shape == (4, 3)
    with pytest.raises(ValueError, match=r"Label column 'y' gives 3 value\(s\) per row .* expected 10 value"):
        fit_label(np.zeros((4, 3)), (10,), g)


def test_label_feed_decodes_and_checks():
    batch = pa.record_batch({"y": pa.array([[0.0, 1.0], [1.0, 0.0]])})
    feed = TensorFeed(group(("y", "array")), (2,), "float32", is_label=True)
    assert decode_feed(batch, feed).shape == (2, 2)


def test_outputs_encode_as_double_or_float_arrays():
    single = encode_output(np.array([[0.5], [1.5]], np.float32))
    assert single.type == pa.float64() and single.to_pylist() == [0.5, 1.5]
    multi = encode_output(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert multi.type == pa.list_(pa.float32())
    assert multi.to_pylist() == [[0, 1, 2], [3, 4, 5]]


def test_zero_rows_encode_with_the_same_types():
    assert encode_output(np.zeros((0, 3), np.float32)).type == pa.list_(pa.float32())
    assert encode_output(np.zeros((0, 1), np.float32)).type == pa.float64()
