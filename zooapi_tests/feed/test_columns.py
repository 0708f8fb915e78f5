import pytest
from pyspark.ml.linalg import VectorUDT
from pyspark.sql import types as T

from zooapi.feed import normalize_spec, plan_groups

SCHEMA = T.StructType([
    T.StructField("a", T.DoubleType()), T.StructField("b", T.IntegerType()),
    T.StructField("arr", T.ArrayType(T.FloatType())), T.StructField("vec", VectorUDT()),
    T.StructField("text", T.StringType()), T.StructField("when", T.TimestampType()),
    T.StructField("m", T.MapType(T.StringType(), T.DoubleType())),
])


def test_kinds_are_read_off_spark_types():
    groups = plan_groups(SCHEMA, [["a", "b", "arr"], "vec", "text"], 3, "feature")
    assert [g.kinds for g in groups] == [("scalar", "scalar", "array"), ("vector",), ("string",)]


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
