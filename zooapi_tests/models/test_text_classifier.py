"""TextClassifier trained through zooapi on generated text with a known
label rule (`local[2]`); its saved model predicts raw strings."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from zooapi.feature.text import text_vocabulary
from zooapi.models import TextClassifier

pytestmark = pytest.mark.both_sessions

KEYWORDS = [["apple", "pear", "plum"], ["car", "bus", "train"], ["red", "blue", "green"]]


def labelled_texts(rows: int, seed: int = 0) -> list[tuple[int, str, int]]:
    """Sentences of 6-12 filler words with one keyword: its group is the label.
    Keywords come in random case with punctuation, which the model's
    standardisation removes."""
    rng = np.random.default_rng(seed)
    filler = [f"w{i}" for i in range(60)]
    out = []
    for i in range(rows):
        label = int(rng.integers(3))
        words = list(rng.choice(filler, rng.integers(6, 13)))
        keyword = str(rng.choice(KEYWORDS[label]))
        keyword = (keyword.upper() if rng.random() < 0.3 else keyword) + ("," if rng.random() < 0.3 else "")
        words.insert(int(rng.integers(len(words) + 1)), keyword)
        out.append((i, " ".join(words), label))
    return out


def test_constructor_builds_each_encoder_and_checks_its_arguments(tmp_path):
    for encoder, layer in (("cnn", "Conv1D"), ("lstm", "LSTM"), ("gru", "GRU")):
        model = TextClassifier(4, sequence_length=10, encoder=encoder, encoder_output_dim=8, vocabulary=["a", "b"],
                               embedding_dim=4)
        assert type(model.get_layer("encoder").layers[0]).__name__ == layer
        assert model.output_shape == (None, 4)
    glove = tmp_path / "glove.txt"
    glove.write_text("b 1 2\nzz 3 4\na 5 6\n")
    frozen = TextClassifier(2, sequence_length=5, vocabulary=["a", "b", "c"], embedding_file=str(glove),
                            train_embedding=False, encoder_output_dim=4)
    embedding = frozen.get_layer("embedding")
    assert not embedding.trainable
    np.testing.assert_array_equal(embedding.get_weights()[0], [[0, 0], [0, 0], [5, 6], [1, 2], [0, 0]])
    with pytest.raises(ValueError, match=r"^`embedding_file` needs the `vocabulary`"):
        TextClassifier(2, embedding_file=str(glove))
    with pytest.raises(ValueError, match=r"^Received embedding_dim=3, but the vectors in .* have 2 values"):
        TextClassifier(2, vocabulary=["a"], embedding_file=str(glove), embedding_dim=3)
    with pytest.raises(ValueError, match=r"expected one of cnn, lstm, gru. Received: encoder='rnn'"):
        TextClassifier(2, encoder="rnn")
    with pytest.raises(ValueError, match=r"expected an integer >= 2. Received: class_num=1"):
        TextClassifier(1)


@pytest.mark.slow
def test_text_classifier_learns_the_keyword_rule_and_its_saved_model_predicts_raw_strings(spark, tmp_path):
    df = spark.createDataFrame(labelled_texts(400), "id long, text string, label long").repartition(2)
    train, test = df.where("id < 320"), df.where("id >= 320")
    vocabulary = text_vocabulary(train, "text", max_tokens=500)
    assert {"apple", "car", "red"} <= set(vocabulary) and "Apple" not in vocabulary
    keras.utils.set_random_seed(0)
    model = TextClassifier(3, sequence_length=16, encoder_output_dim=16, vocabulary=vocabulary, embedding_dim=8)
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(train, feature_cols="text", label_cols="label", batch_size=32, epochs=6, num_workers=1, verbose=0)
    # The rule is exact and every keyword occurs in training: chance is 1/3.
    accuracy = model.evaluate(test, feature_cols="text", label_cols="label", return_dict=True)["accuracy"]
    assert accuracy >= 0.95, accuracy

    path = str(tmp_path / "text.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    raw = tf.constant([["w1 w2 PLUM, w3"], ["w4 bus w5"], ["green w9"]])
    assert np.asarray(loaded(raw)).argmax(1).tolist() == [0, 1, 2]
    scored = loaded.predict(test, feature_cols="text").toPandas()
    assert np.mean(np.stack(scored.prediction).argmax(1) == scored.label) >= 0.95
