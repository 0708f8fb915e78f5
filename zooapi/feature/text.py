"""Text on Spark DataFrames: a vocabulary counted on the cluster with
exactly the standardisation and split of Keras' `TextVectorization`
(`text_vocabulary`), and GloVe-format word vectors for that vocabulary
(`glove_embeddings`).

Keras learns a `TextVectorization` vocabulary with `adapt`, which reads
every string in the driver's Python. `text_vocabulary` counts tokens with
Spark instead and returns what `adapt` would have learned from the same
strings, ready for `TextVectorization.set_vocabulary`; only the vocabulary
reaches the driver.

Example:
    >>> from zooapi.feature.text import text_vocabulary  # doctest: +SKIP
    >>> vocabulary = text_vocabulary(reviews, "text", max_tokens=20000)  # doctest: +SKIP
    >>> vectorize = keras.layers.TextVectorization(max_tokens=20000)  # doctest: +SKIP
    >>> vectorize.set_vocabulary(vocabulary)  # doctest: +SKIP
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from zooapi.feature.dataframe_checks import check_positive_int, check_string_column

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["glove_embeddings", "text_vocabulary"]

logger = logging.getLogger(__name__)

# keras.layers.TextVectorization's punctuation (keras/src/layers/preprocessing/text_vectorization.py);
# the same pattern means the same in RE2 (TensorFlow) and java.util.regex (Spark).
PUNCTUATION = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'
STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation", None)
# tf.strings.lower lowers ASCII letters only (it leaves "É" as it is); Spark's lower() would not.
_UPPER, _LOWER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"


def check_text_column(df: "DataFrame", column: Any, argument: str = "text_col") -> str:
    """`column` when it is a string column of `df`; else a TypeError/ValueError naming it."""
    return check_string_column(df, column, argument, "a string column of text")


def text_vocabulary(df: "DataFrame", text_col: str, max_tokens: int | None = 20000,
                    standardize: str | None = "lower_and_strip_punctuation") -> list[str]:
    """The vocabulary that `keras.layers.TextVectorization(max_tokens,
    standardize).adapt` would learn from `text_col`, counted by Spark.

    Tokens are standardised as `TextVectorization` does (ASCII letters
    lowered, its punctuation removed), split on whitespace, counted on the
    cluster, and sorted as Keras sorts them: most frequent first, ties in
    reverse byte order of the tokens. Null rows are skipped.

    Args:
        df: the texts.
        text_col: a string column.
        max_tokens: the vocabulary size as `TextVectorization` counts it,
            including its padding and out-of-vocabulary tokens: at most
            `max_tokens - 2` tokens are returned. None for all.
        standardize: as `TextVectorization`'s: `"lower_and_strip_punctuation"`,
            `"lower"`, `"strip_punctuation"` or None.

    Returns:
        The tokens, most frequent first, without the padding ("") and
        out-of-vocabulary ("[UNK]") tokens: what `set_vocabulary` takes.

    Raises:
        TypeError: `text_col` is not a string column.
        ValueError: the column has no token at all (every row null, empty
            or punctuation), a bad `max_tokens` or `standardize`.

    Example:
        >>> vocabulary = text_vocabulary(df, "text", max_tokens=1000)  # doctest: +SKIP
        >>> vocabulary[:5]  # doctest: +SKIP
        ['the', 'a', 'and', 'of', 'to']
    """
    from pyspark.sql import functions as F

    check_text_column(df, text_col)
    if max_tokens is not None:
        check_positive_int("max_tokens", max_tokens, minimum=3)
    if standardize not in STANDARDIZE:
        raise ValueError(f"Received an invalid value for `standardize`, expected one of {STANDARDIZE}. "
                         f"Received: standardize={standardize!r}")
    text = F.col(text_col)
    if standardize in ("lower", "lower_and_strip_punctuation"):
        text = F.translate(text, _UPPER, _LOWER)
    if standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
        text = F.regexp_replace(text, PUNCTUATION, "")
    tokens = (df.select(F.explode(F.split(text, r"\s+")).alias("token"))
              .where((F.col("token") != "") & (F.col("token") != "[UNK]"))
              .groupBy("token").count()
              .orderBy(F.col("count").desc(), F.col("token").desc()))
    if max_tokens is not None:
        tokens = tokens.limit(max_tokens - 2)
    vocabulary = [row.token for row in tokens.collect()]
    if not vocabulary:
        raise ValueError(f"Column '{text_col}' (`text_col`) has no tokens: every row is null, empty or only "
                         "punctuation. Expected text.")
    logger.info("text_vocabulary: %d tokens from column '%s'", len(vocabulary), text_col)
    return vocabulary


def _open_text(path: str) -> Iterator[str]:
    """The lines of a local file or a `pyarrow.fs` / `fsspec` URL (`.gz`,
    `.bz2` and other compressions fsspec knows are read through)."""
    import os

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"Received an invalid value for `path`, expected a file path or URL. Received: {path!r}")
    path = os.fspath(path)
    try:
        from pyarrow import fs as pafs

        filesystem, inner = pafs.FileSystem.from_uri(path)
    except Exception:  # a relative path, or a scheme that only fsspec knows
        import fsspec

        with fsspec.open(path, "rt", encoding="utf-8", compression="infer") as lines:
            yield from lines
        return
    with filesystem.open_input_stream(inner, compression="detect") as raw:
        yield from io.TextIOWrapper(raw, encoding="utf-8")


def glove_embeddings(path: str, vocabulary: Sequence[str]) -> np.ndarray:
    """The rows of a GloVe-format file (`word v1 v2 ...` per line) for
    `TextVectorization`'s token indices, ready for an `Embedding` layer.

    Row 0 is the padding token and row 1 the out-of-vocabulary token (both
    zeros), then one row per token of `vocabulary`, in order; tokens the
    file lacks get zeros. The file is streamed once and only the
    vocabulary's vectors are kept.

    Args:
        path: a local file or a URL that `pyarrow.fs` (`hdfs://`, `s3://`,
            `gs://`...) or `fsspec` can open; `.gz` and `.bz2` files are
            decompressed.
        vocabulary: the tokens, as `text_vocabulary` returns them (or
            `TextVectorization.get_vocabulary()[2:]`).

    Returns:
        A float32 array of shape `(len(vocabulary) + 2, dim)`.

    Raises:
        ValueError: a line whose vector length differs from the first
            line's, or a value that is not a number (naming the file and the
            line number), or a file with no vectors.

    Example:
        >>> matrix = glove_embeddings("glove.6B.100d.txt", vocabulary)  # doctest: +SKIP
        >>> matrix.shape  # doctest: +SKIP
        (20000, 100)
    """
    index = {token: i + 2 for i, token in enumerate(vocabulary)}
    matrix, dim, found = None, None, 0
    for number, line in enumerate(_open_text(path), start=1):
        parts = line.rstrip("\n").rstrip(" ").split(" ")
        if len(parts) < 2:
            if line.strip():
                raise ValueError(f"Line {number} of the embedding file {path!r} has no vector; expected "
                                 "'word v1 v2 ...'.")
            continue
        if dim is None:
            dim = len(parts) - 1
            matrix = np.zeros((len(vocabulary) + 2, dim), np.float32)
        elif len(parts) - 1 != dim:
            raise ValueError(f"Line {number} of the embedding file {path!r} (word {parts[0]!r}) has a vector of "
                             f"{len(parts) - 1} values; expected {dim}, the length of the first line's vector.")
        row = index.get(parts[0])
        if row is not None:
            try:
                matrix[row] = np.asarray(parts[1:], dtype=np.float32)
            except ValueError:
                raise ValueError(f"Line {number} of the embedding file {path!r} (word {parts[0]!r}) has a value "
                                 "that is not a number.") from None
            found += 1
    if matrix is None:
        raise ValueError(f"The embedding file {path!r} has no vectors; expected lines of 'word v1 v2 ...'.")
    logger.info("glove_embeddings: %d of %d tokens found in %s (dim %d)", found, len(vocabulary), path, dim)
    return matrix
