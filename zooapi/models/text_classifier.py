"""`TextClassifier`: raw text in, class probabilities out (Analytics
Zoo's model of the same name).

The model's input is a string (`keras.Input((1,), dtype="string")`), so
a DataFrame's string column feeds it as it is, no tokenizer runs outside the
model, and the saved `.keras` file predicts on raw strings anywhere. Its
`TextVectorization` gets a vocabulary counted on the cluster by
`zooapi.feature.text.text_vocabulary`, and its `Embedding` optionally
starts from GloVe vectors (`zooapi.feature.text.glove_embeddings`).

Example:
    >>> from zooapi.models import TextClassifier
    >>> model = TextClassifier(2, sequence_length=20, vocabulary=["good", "bad"], embedding_dim=8,
    ...                        encoder_output_dim=16)
    >>> model.input_shape, model.output_shape
    ((None, 1), (None, 2))
"""

from __future__ import annotations

import numbers
from typing import Any, Sequence

__all__ = ["TextClassifier"]

ENCODERS = ("cnn", "lstm", "gru")
DEFAULT_EMBEDDING_DIM = 200  # Analytics Zoo's default token_length


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"Received an invalid value for `{name}`, expected an integer >= {minimum}. "
                         f"Received: {name}={value!r}")
    return int(value)


def _encoder(kind: str, units: int):
    from zooapi.keras import Sequential, layers

    if kind == "cnn":
        return Sequential([layers.Conv1D(units, 5, padding="same", activation="relu"),
                           layers.GlobalMaxPooling1D()], name="encoder")
    recurrent = layers.LSTM if kind == "lstm" else layers.GRU
    return Sequential([recurrent(units)], name="encoder")


def TextClassifier(class_num: int, sequence_length: int = 500, encoder: str = "cnn", encoder_output_dim: int = 256,
                   vocabulary: Sequence[str] | None = None, max_tokens: int = 20000,
                   embedding_file: str | None = None, embedding_dim: int | None = None,
                   train_embedding: bool = True,
                   standardize: str | None = "lower_and_strip_punctuation", name: str = "text_classifier") -> Any:
    """A text classifier on a string input: `TextVectorization` (token
    indices, padded or cut to `sequence_length`), `Embedding`, an encoder
    (a `Conv1D` of `encoder_output_dim` filters of width 5 with global max
    pooling, or an `LSTM` or `GRU` of that many units), `Dense(128)` with
    ReLU and dropout 0.2, and a softmax over `class_num` classes.

    A function that builds a `zooapi.keras.Model`, as `keras.applications`
    builds theirs: compile it and train it on a DataFrame's string column
    (`model.fit(df, feature_cols="text", label_cols="label")`).

    Args:
        class_num: classes (>= 2); labels are class indices 0..class_num-1.
        sequence_length: tokens per text (longer texts are cut, shorter padded).
        encoder: "cnn", "lstm" or "gru".
        encoder_output_dim: the encoder's filters or units.
        vocabulary: the tokens, most frequent first, from
            `zooapi.feature.text.text_vocabulary(df, text_col, max_tokens)`
            (counted on the cluster). None leaves the vectorizer empty: set
            it later with `model.get_layer("vectorize").set_vocabulary(...)`
            (the embedding then has `max_tokens` rows).
        max_tokens: the vocabulary's size limit, with the padding and
            out-of-vocabulary tokens.
        embedding_file: a GloVe-format file (local, or a `pyarrow.fs` /
            `fsspec` URL) whose vectors start the embedding (tokens it lacks
            start at zero); needs `vocabulary`.
        embedding_dim: the embedding's size; default the file's vector
            length, else 200.
        train_embedding: False freezes the embedding (with a file: the
            GloVe vectors stay as they are).
        standardize: `TextVectorization`'s standardisation; give
            `text_vocabulary` the same.
        name: the model's name.

    Returns:
        An uncompiled `zooapi.keras.Model`: input `text` (strings, shape
        `(None, 1)`), output class probabilities `(None, class_num)`.

    Raises:
        ValueError: a bad size or encoder, an `embedding_file` without a
            vocabulary, an `embedding_dim` that differs from the file's, or
            a malformed file (naming its line).
        TypeError: `vocabulary` is not a list of strings.

    Example:
        >>> from zooapi.feature.text import text_vocabulary  # doctest: +SKIP
        >>> vocabulary = text_vocabulary(train, "text", max_tokens=20000)  # doctest: +SKIP
        >>> model = TextClassifier(2, sequence_length=100, vocabulary=vocabulary,
        ...                        embedding_file="glove.6B.100d.txt", train_embedding=False)  # doctest: +SKIP
        >>> model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])  # doctest: +SKIP
        >>> model.fit(train, feature_cols="text", label_cols="label", epochs=5)  # doctest: +SKIP
    """
    from zooapi.feature.text import STANDARDIZE, glove_embeddings
    from zooapi.keras import Input, Model, layers

    classes = _check_int("class_num", class_num, 2)
    length = _check_int("sequence_length", sequence_length, 1)
    units = _check_int("encoder_output_dim", encoder_output_dim, 1)
    tokens_limit = _check_int("max_tokens", max_tokens, 3)
    if encoder not in ENCODERS:
        raise ValueError(f"Received an invalid value for `encoder`, expected one of {', '.join(ENCODERS)}. "
                         f"Received: encoder={encoder!r}")
    if standardize not in STANDARDIZE:
        raise ValueError(f"Received an invalid value for `standardize`, expected one of {STANDARDIZE}. "
                         f"Received: standardize={standardize!r}")
    if vocabulary is not None:
        if isinstance(vocabulary, str) or not all(isinstance(t, str) for t in vocabulary):
            raise TypeError("Received an invalid value for `vocabulary`, expected a list of token strings "
                            f"(from zooapi.feature.text.text_vocabulary). Received: {type(vocabulary).__name__}")
        vocabulary = list(vocabulary)[:tokens_limit - 2]
    matrix = None
    if embedding_file is not None:
        if vocabulary is None:
            raise ValueError("`embedding_file` needs the `vocabulary` (from zooapi.feature.text.text_vocabulary) "
                             "to pick its vectors.")
        matrix = glove_embeddings(embedding_file, vocabulary)
        if embedding_dim is not None and embedding_dim != matrix.shape[1]:
            raise ValueError(f"Received embedding_dim={embedding_dim!r}, but the vectors in {embedding_file!r} "
                             f"have {matrix.shape[1]} values.")
    dim = matrix.shape[1] if matrix is not None else _check_int(
        "embedding_dim", DEFAULT_EMBEDDING_DIM if embedding_dim is None else embedding_dim, 1)

    inputs = Input((1,), dtype="string", name="text")
    vectorize = layers.TextVectorization(max_tokens=tokens_limit, standardize=standardize,
                                         output_sequence_length=length, vocabulary=vocabulary, name="vectorize")
    rows = tokens_limit if vocabulary is None else len(vocabulary) + 2
    embed = layers.Embedding(rows, dim, trainable=bool(train_embedding), name="embedding")
    x = _encoder(encoder, units)(embed(vectorize(inputs)))
    x = layers.Dropout(0.2)(layers.Dense(128, activation="relu")(x))
    model = Model(inputs, layers.Dense(classes, activation="softmax", name="probabilities")(x), name=name)
    if matrix is not None:
        embed.set_weights([matrix])
    return model
