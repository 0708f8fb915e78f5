import pytest
from pyspark.ml.linalg import VectorUDT
from pyspark.sql import types as T

from zooapi.feed.columns import normalize_spec, plan_groups
from zooapi.feed.columns import IMAGE_FIELDS, check_binding

SCHEMA = T.StructType([
    T.StructField("a", T.DoubleType()), T.StructField("b", T.IntegerType()),
    T.StructField("arr", T.ArrayType(T.FloatType())), T.StructField("vec", VectorUDT()),
    T.StructField("text", T.StringType()), T.StructField("when", T.TimestampType()),
    T.StructField("m", T.MapType(T.StringType(), T.DoubleType())), T.StructField("raw", T.BinaryType()),
    T.StructField("image", T.StructType([
        T.StructField(name, T.StringType() if name == "origin" else T.BinaryType() if name == "data" else T.IntegerType())
        for name in IMAGE_FIELDS])),
])


def test_kinds_are_read_off_spark_types():
    groups = plan_groups(SCHEMA, [["a", "b", "arr"], "vec", "text"], 3, "feature")
    assert [g.kinds for g in groups] == [("scalar", "scalar", "array"), ("vector",), ("string",)]


def test_nested_numeric_arrays_are_arrays_and_nested_strings_are_refused():
    schema = T.StructType([T.StructField("w", T.ArrayType(T.ArrayType(T.DoubleType()))),
                           T.StructField("t", T.ArrayType(T.ArrayType(T.StringType())))])
    assert plan_groups(schema, "w", 1, "feature")[0].kinds == ("array",)
    with pytest.raises(TypeError, match=r"Column 't' has type array<array<string>>, which cannot feed a tensor"):
        plan_groups(schema, "t", 1, "feature")


def test_a_flat_list_feeds_one_input_and_one_entry_per_input_otherwise():
    assert normalize_spec(["a", "b"], 1, "feature") == [["a", "b"]]
    assert normalize_spec(["a", "b"], 2, "feature") == [["a"], ["b"]]


def test_missing_column_lists_the_columns():
    with pytest.raises(ValueError, match=r"Column 'nope' \(in `feature_cols`\) is not in the DataFrame. Its columns are: a, b, arr"):
        plan_groups(SCHEMA, "nope", 1, "feature")


def test_unsupported_type_names_column_and_type():
    with pytest.raises(TypeError, match=r"Column 'when' has type timestamp"):
        plan_groups(SCHEMA, "when", 1, "feature")
    with pytest.raises(TypeError, match=r"Column 'm' has type map<string,double>"):
        plan_groups(SCHEMA, "m", 1, "feature")


def test_strings_cannot_be_concatenated_with_numbers():
    with pytest.raises(TypeError, match="Column 'text' .* cannot be concatenated"):
        plan_groups(SCHEMA, ["a", "text"], 1, "feature")


def test_group_count_must_match_the_model():
    with pytest.raises(ValueError, match=r"The model has 2 label\(s\) but `label_cols` names 3"):
        plan_groups(SCHEMA, ["a", "b", "arr"], 2, "label")


def bind(column, tensor, dtype, shape):
    check_binding(plan_groups(SCHEMA, column, 1, "feature")[0], tensor, dtype, shape)


def test_each_kind_of_column_binds_to_inputs_that_it_can_feed():
    bind("text", "words", "string", (1,))
    bind("text", "words", "string", ())
    bind("raw", "bytes", "string", (None,))
    bind(["a", "b", "arr"], "x", "float32", (5,))
    bind("vec", "x", "int64", (3,))
    bind("image", "pixels", "float32", (8, 8, 3))


def test_a_string_column_for_a_float_input_names_column_type_input_dtype_and_shape():
    with pytest.raises(TypeError, match=r"^Column 'text' of Spark type string cannot feed model input 'amount' "
                                        r"\(dtype=float32, shape=\(None, 1\)\); expected a numeric column .*"
                                        r"StringIndexer.*keras.Input\(shape=\(1,\), dtype=\"string\"\).*"
                                        r"Received: column 'text' of type string\.$"):
        bind("text", "amount", "float32", (1,))
    with pytest.raises(TypeError, match=r"Column 'raw' of Spark type binary cannot feed model input 'x' "
                                        r"\(dtype=int32, shape=\(None, 4\)\).*`feature_preprocessing`"):
        bind("raw", "x", "int32", (4,))


def test_a_numeric_column_for_a_string_input_is_refused():
    with pytest.raises(TypeError, match=r"Column 'a' of Spark type double cannot feed model input 'words' "
                                        r"\(dtype=string, shape=\(None, 1\)\); expected a string or binary column"):
        bind("a", "words", "string", (1,))
    with pytest.raises(TypeError, match=r"Column 'vec' of Spark type vector cannot feed model input 'words'"):
        bind("vec", "words", "string", ())


def test_an_image_for_a_flat_input_is_refused():
    with pytest.raises(TypeError, match=r"Column 'image' of Spark type struct<origin:string,height:int,.*> cannot "
                                        r"feed model input 'features' \(dtype=float32, shape=\(None, 64\)\); "
                                        r"expected an input of shape \(None, height, width, channels\)"):
        bind("image", "features", "float32", (64,))


def test_a_string_column_cannot_fill_an_input_of_several_values_per_row():
    with pytest.raises(ValueError, match=r"Column 'text' of Spark type string holds one value per row and cannot "
                                         r"fill model input 'pair' \(dtype=string, shape=\(None, 2\)\)"):
        bind("text", "pair", "string", (2,))
