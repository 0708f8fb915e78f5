"""zooapi.feature.text on `local[2]`: the vocabulary Spark counts is the one
`TextVectorization.adapt` learns; GloVe files load for a vocabulary."""

from __future__ import annotations

import bz2

import keras
import numpy as np
import pytest

from zooapi.feature.text import glove_embeddings, text_vocabulary

# Upper case (ASCII and not), Keras' punctuation, tabs and newlines, repeated
# spaces, ties in the counts, and the tokens "[UNK]" and "" that Keras drops.
TEXTS = [
    "The cat sat.  The CAT sat!", "a dog\tand\na Dog; [UNK] (x) x", "Élan élan ÉLAN -- naïve, café?",
    "b_c b-c 'quoted' \"double\" 100% #tag @user", "   ", None, "zeta alpha beta gamma delta", "alpha, beta",
]


@pytest.mark.parametrize("standardize", ["lower_and_strip_punctuation", "lower", None])
def test_spark_vocabulary_equals_text_vectorization_adapt(spark, standardize):
    df = spark.createDataFrame([(t,) for t in TEXTS], "text string").repartition(3)
    texts = [t for t in TEXTS if t is not None]
    for max_tokens in (None, 12):
        adapted = keras.layers.TextVectorization(max_tokens=max_tokens, standardize=standardize)
        adapted.adapt(texts)
        vocabulary = text_vocabulary(df, "text", max_tokens=max_tokens, standardize=standardize)
        assert vocabulary == adapted.get_vocabulary()[2:]
        layer = keras.layers.TextVectorization(max_tokens=max_tokens, standardize=standardize)
        layer.set_vocabulary(vocabulary)
        assert layer.get_vocabulary() == adapted.get_vocabulary()


def test_text_vocabulary_refuses_empty_and_non_string_columns(spark):
    df = spark.createDataFrame([(None, 1), ("", 2), (" ,. ", 3)], "text string, n long")
    with pytest.raises(ValueError, match=r"^Column 'text' \(`text_col`\) has no tokens: every row is null, empty"):
        text_vocabulary(df, "text")
    with pytest.raises(TypeError, match=r"^Column 'n' \(`text_col`\) has Spark type bigint; expected a string "
                                        r"column of text"):
        text_vocabulary(df, "n")


def test_glove_file_rows_follow_the_vectorizer_indices(tmp_path):
    path = tmp_path / "vectors.txt.bz2"
    path.write_bytes(bz2.compress(b"the 0.1 0.2 0.3\nzebra 1 2 3\ncat -1 -2 -3.5\n"))
    matrix = glove_embeddings(str(path), ["cat", "dog", "the"])
    np.testing.assert_array_equal(matrix, np.array(
        [[0, 0, 0], [0, 0, 0], [-1, -2, -3.5], [0, 0, 0], [0.1, 0.2, 0.3]], np.float32))
    bad = tmp_path / "mixed.txt"
    bad.write_text("the 0.1 0.2 0.3\ncat 1 2\n")
    with pytest.raises(ValueError, match=r"^Line 2 of the embedding file '.*mixed.txt' \(word 'cat'\) has a "
                                         r"vector of 2 values; expected 3"):
        glove_embeddings(str(bad), ["cat"])
    bad.write_text("the 0.1 x 0.3\n")
    with pytest.raises(ValueError, match=r"^Line 1 of the embedding file .* \(word 'the'\) has a value that is "
                                         r"not a number"):
        glove_embeddings(str(bad), ["the"])
