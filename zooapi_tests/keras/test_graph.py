"""freeze / unfreeze / freeze_up_to / flattened_layers / new_graph on
branching, nested, Sequential and keras.applications models (no Spark)."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pytest

from zooapi.keras import Input, Model, Net, Sequential, layers


def branching() -> Model:
    """inp -> stem -> left ------------> merge -> head
                   -> right_1 -> right_2 ->"""
    keras.utils.set_random_seed(0)
    inp = Input((8,), name="inp")
    stem = layers.Dense(8, name="stem")(inp)
    left = layers.Dense(4, name="left")(stem)
    right = layers.Dense(4, name="right_2")(layers.Dense(4, name="right_1")(stem))
    merged = layers.Concatenate(name="merge")([left, right])
    return Model(inp, layers.Dense(2, name="head")(merged), name="branching")


def nested() -> Model:
    """x -> pre -> backbone(inner_a -> inner_b -> inner_c) -> head, the
    backbone a plain Keras functional model used as a layer."""
    keras.utils.set_random_seed(0)
    inner_in = Input((8,))
    h = layers.Dense(8, name="inner_a")(inner_in)
    h = layers.Dense(8, name="inner_b")(h)
    backbone = keras.Model(inner_in, layers.Dense(8, name="inner_c")(h), name="backbone")
    inp = Input((8,), name="x")
    out = layers.Dense(3, name="head")(backbone(layers.Dense(8, name="pre")(inp)))
    return Model(inp, out, name="outer")


def flags(model) -> dict[str, bool]:
    return {layer.name: layer.trainable for layer in model.flattened_layers(include_container=True)}


def x8(rows: int = 5) -> np.ndarray:
    return np.random.default_rng(0).random((rows, 8), dtype=np.float32)


# ---- flattened_layers ---------------------------------------------------------------------------

def test_flattened_layers_are_topological_and_expand_nested_models():
    model = nested()
    assert [layer.name for layer in model.flattened_layers()] == ["pre", "inner_a", "inner_b", "inner_c", "head"]
    assert [layer.name for layer in model.flattened_layers(include_container=True)] == [
        "pre", "backbone", "inner_a", "inner_b", "inner_c", "head"]
    names = [layer.name for layer in branching().flattened_layers()]
    assert set(names) == {"stem", "left", "right_1", "right_2", "merge", "head"}
    assert names.index("stem") < min(names.index("left"), names.index("right_1"))
    assert names.index("right_1") < names.index("right_2") < names.index("merge") < names.index("head")


def test_a_shared_layer_is_listed_once():
    shared = layers.Dense(4, name="shared")
    inp = Input((4,))
    model = Model(inp, shared(shared(inp)))
    assert [layer.name for layer in model.flattened_layers()] == ["shared"]


# ---- freeze / unfreeze --------------------------------------------------------------------------

def test_freeze_and_unfreeze_named_layers_and_everything():
    model = branching()
    model.freeze(["stem", "left"])
    assert flags(model) == {"stem": False, "left": False, "right_1": True, "right_2": True,
                            "merge": True, "head": True}
    assert len(model.trainable_weights) == 2 * 3  # kernel and bias of right_1, right_2, head
    model.unfreeze("left")
    assert flags(model)["left"] and not flags(model)["stem"]
    model.freeze()
    assert model.trainable_weights == [] and model.trainable
    model.unfreeze()
    assert all(flags(model).values())
    assert len(model.trainable_weights) == len(model.weights)


def test_unfreezing_a_layer_inside_a_frozen_nested_model_leaves_its_siblings_frozen():
    model = nested()
    model.freeze("backbone")
    assert flags(model) == {"pre": True, "backbone": False, "inner_a": False, "inner_b": False,
                            "inner_c": False, "head": True}
    model.unfreeze("inner_c")
    assert flags(model) == {"pre": True, "backbone": True, "inner_a": False, "inner_b": False,
                            "inner_c": True, "head": True}
    inner_c = model.get_layer("backbone").get_layer("inner_c")
    assert {id(w) for w in model.trainable_weights} >= {id(w) for w in inner_c.weights}
    assert len(model.trainable_weights) == 6  # pre, inner_c and head


def test_unfreeze_works_when_the_whole_model_was_made_untrainable_the_keras_way():
    model = nested()
    model.trainable = False
    model.unfreeze("head")
    assert model.trainable and [w.path for w in model.trainable_weights] == ["head/kernel", "head/bias"]


def test_unfreeze_all_reaches_layers_frozen_one_by_one():
    # Keras' TF tracking skips `model.trainable = True` when the model's own
    # flag is already True, so sublayers would stay frozen without care.
    model = nested()
    model.get_layer("backbone").get_layer("inner_a").trainable = False
    model.unfreeze()
    assert all(flags(model).values())


# ---- freeze_up_to -------------------------------------------------------------------------------

@pytest.mark.parametrize("names, frozen", [
    ("right_2", {"stem", "right_1", "right_2"}),
    ("left", {"stem", "left"}),
    (["left", "right_1"], {"stem", "left", "right_1"}),
    ("merge", {"stem", "left", "right_1", "right_2", "merge"}),
])
def test_freeze_up_to_freezes_every_path_from_the_inputs_and_nothing_after(names, frozen):
    model = branching()
    model.freeze_up_to(names)
    assert {name for name, trainable in flags(model).items() if not trainable} == frozen


def test_freeze_up_to_a_layer_inside_a_nested_model():
    model = nested()
    model.freeze_up_to("inner_b")
    assert flags(model) == {"pre": False, "backbone": True, "inner_a": False, "inner_b": False,
                            "inner_c": True, "head": True}
    model.unfreeze()
    model.freeze_up_to("backbone")
    assert {name for name, t in flags(model).items() if not t} == {"pre", "backbone", "inner_a", "inner_b", "inner_c"}


def test_freeze_up_to_on_a_sequential_model_built_or_not():
    for model in (Sequential([layers.Dense(3, name="a"), layers.Dense(3, name="b"), layers.Dense(2, name="c")]),
                  Sequential([Input((4,)), layers.Dense(3, name="a"), layers.Dense(3, name="b"),
                              layers.Dense(2, name="c")])):
        model.freeze_up_to("b")
        assert [layer.trainable for layer in model.layers] == [False, False, True]


def test_frozen_flags_survive_save_and_load(tmp_path):
    model = nested()
    model.freeze_up_to("inner_b")
    model.save(tmp_path / "m.keras")
    for loaded in (keras.models.load_model(tmp_path / "m.keras"), Net.load(str(tmp_path / "m.keras"))):
        assert isinstance(loaded, Model)
        assert flags(loaded) == flags(model)


def test_freeze_after_training_warns_that_keras_needs_a_recompile(caplog):
    model = branching()
    model.compile("adam", "mse")
    model.fit(x8(16), np.zeros((16, 2), np.float32), verbose=0)
    with caplog.at_level(logging.WARNING, logger="zooapi.keras.graph"):
        model.freeze("stem")
    assert "call `model.compile(...)` again" in caplog.text


def test_keras_fit_ignores_trainable_changes_until_recompiled():
    # What the docs tell users, measured on Keras 3.15: a model that already
    # ran `fit` keeps training a layer frozen afterwards, until `compile`.
    x, y = x8(64), np.ones((64, 2), np.float32)
    model = branching()
    model.compile("adam", "mse")
    model.fit(x, y, verbose=0)
    model.freeze("stem")
    stem = model.get_layer("stem")
    before = stem.get_weights()[0].copy()
    model.fit(x, y, verbose=0)
    assert not np.array_equal(before, stem.get_weights()[0])  # still trained
    model.compile("adam", "mse")
    before = stem.get_weights()[0].copy()
    model.fit(x, y, verbose=0)
    assert np.array_equal(before, stem.get_weights()[0])


# ---- new_graph ----------------------------------------------------------------------------------

def test_new_graph_shares_layers_and_leaves_the_original_unchanged():
    model = branching()
    x = x8()
    expected = model.predict(x, verbose=0)
    cut = model.new_graph("merge", name="features")
    assert isinstance(cut, Model) and cut.name == "features"
    assert cut.output_shape == (None, 8)
    assert cut.get_layer("stem") is model.get_layer("stem")
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)
    stem = model.get_layer("stem")
    stem.set_weights([w + 1.0 for w in stem.get_weights()])  # shared, not copied
    left = model.get_layer("left")
    np.testing.assert_allclose(cut.predict(x, verbose=0)[:, :4], left(stem(x)), rtol=1e-6)


def test_new_graph_with_several_outputs():
    model = branching()
    cut = model.new_graph(["left", "right_2"])
    assert [tuple(t.shape) for t in cut.outputs] == [(None, 4), (None, 4)]


def test_new_graph_of_a_list_with_one_name_has_a_single_output_for_the_workshop_transfer_code(digits):
    # The workshop's transfer-learning code, unchanged: cut at ["pool5"], call the
    # cut model on a new input and feed the result straight into Keras layers.
    x, _ = digits
    images = x[:20].reshape(-1, 8, 8, 1)
    keras.utils.set_random_seed(0)
    inp = Input((8, 8, 1))
    h = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inp)
    h = layers.MaxPooling2D(2, name="pool5")(h)
    full_model = Model(inp, layers.Dense(10, activation="softmax", name="fc")(layers.Flatten()(h)))

    model = full_model.new_graph(["pool5"])
    assert len(model.outputs) == 1 and model.output_shape == (None, 4, 4, 16)
    expected = full_model.get_layer("pool5")(full_model.get_layer("conv1")(images))
    np.testing.assert_allclose(model.predict(images, verbose=0), expected, rtol=1e-6)

    input_node = Input((8, 8, 1))
    features = model(input_node)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    transfer = Model(input_node, keras.layers.Dense(2, activation="softmax")(pooled))
    assert transfer.predict(images, verbose=0).shape == (20, 2)
    np.testing.assert_allclose(keras.Model(input_node, pooled).predict(images, verbose=0),
                               np.mean(expected, axis=(1, 2)), rtol=1e-5)

    several = full_model.new_graph(["conv1", "pool5"])
    assert [tuple(t.shape) for t in several.outputs] == [(None, 8, 8, 16), (None, 4, 4, 16)]


def test_new_graph_at_a_layer_inside_a_nested_model():
    model = nested()
    x = x8()
    cut = model.new_graph("inner_b")
    backbone = model.get_layer("backbone")
    expected = backbone.get_layer("inner_b")(backbone.get_layer("inner_a")(model.get_layer("pre")(x)))
    np.testing.assert_allclose(cut.predict(x, verbose=0), expected, rtol=1e-6)
    assert model.predict(x, verbose=0).shape == (5, 3)


def test_new_graph_of_a_sequential_model_is_itself_a_layer():
    keras.utils.set_random_seed(0)
    seq = Sequential([Input((8,)), layers.Dense(6, name="a"), layers.Dense(4, name="b"), layers.Dense(2, name="c")])
    base = seq.new_graph("b")
    inp = Input((8,))
    model = Model(inp, layers.Dense(1, activation="sigmoid", name="new_head")(base(inp)))
    x = x8()
    assert model.predict(x, verbose=0).shape == (5, 1)
    np.testing.assert_allclose(base.predict(x, verbose=0), seq.get_layer("b")(seq.get_layer("a")(x)), rtol=1e-6)


def test_keras_applications_backbone_with_new_graph_and_freezing(tmp_path):
    keras.utils.set_random_seed(0)
    backbone = keras.applications.MobileNetV2(input_shape=(32, 32, 3), weights=None, alpha=0.35,
                                              include_top=False)
    inp = Input((32, 32, 3))
    model = Model(inp, layers.Dense(14, activation="sigmoid", name="labels")(
        layers.GlobalAveragePooling2D()(backbone(inp))))
    names = [layer.name for layer in model.flattened_layers()]
    assert names[0] == "Conv1" and names[-1] == "labels" and "block_13_expand_relu" in names

    model.freeze_up_to("block_13_expand_relu")
    frozen = {layer.name for layer in model.flattened_layers() if not layer.trainable}
    assert "block_12_add" in frozen and "block_13_expand_relu" in frozen
    assert "block_13_depthwise" not in frozen and "labels" not in frozen

    base = model.new_graph("block_13_expand_relu")
    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    features = base.predict(x, verbose=0)
    assert features.shape[0] == 2 and features.shape[-1] == backbone.get_layer("block_13_expand_relu").output.shape[-1]
    inp2 = Input((32, 32, 3))
    transfer = Model(inp2, layers.Dense(14, activation="sigmoid")(layers.GlobalAveragePooling2D()(base(inp2))))
    assert transfer.predict(x, verbose=0).shape == (2, 14)

    model.save(tmp_path / "mobilenet.keras")
    loaded = Net.load(str(tmp_path / "mobilenet.keras"))
    assert flags(loaded) == flags(model)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


# ---- errors -------------------------------------------------------------------------------------

def test_an_unknown_layer_name_lists_close_matches():
    model = nested()
    for call in (model.freeze, model.unfreeze, model.freeze_up_to, model.new_graph):
        with pytest.raises(ValueError, match=r"No layer named 'inner_d' in model 'outer'\. Close matches: inner_"):
            call("inner_d")
    with pytest.raises(ValueError, match=r"No layer named 'zzz' in model 'outer'\. Close matches: none\."):
        model.freeze(["head", "zzz"])
    assert flags(model)["head"]  # nothing changed before the error


def test_names_of_the_wrong_type_or_empty_are_refused():
    model = branching()
    with pytest.raises(TypeError, match=r"Received an invalid value for `names`, expected a layer name"
                                        r".*Received: names=3"):
        model.freeze(3)
    with pytest.raises(TypeError, match=r"`outputs`.*Received: outputs=None"):
        model.new_graph(None)
    with pytest.raises(ValueError, match=r"Received an empty list for `names`"):
        model.freeze_up_to([])


def test_new_graph_needs_a_built_graph():
    seq = Sequential([layers.Dense(3, name="a")], name="lazy")
    with pytest.raises(ValueError, match=r"Sequential model 'lazy' is not built.*keras.Input\(shape\)"):
        seq.new_graph("a")

    class Sub(Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(2, name="d")

        def call(self, x):
            return self.dense(x)

    sub = Sub(name="sub")
    sub(x8())
    for call in (sub.new_graph, sub.freeze_up_to):
        with pytest.raises(ValueError, match=r"Model 'sub' \(Sub\) is a subclassed model.*functional or a Sequential"):
            call("d")
    sub.freeze("d")  # freezing by name needs no graph
    assert sub.trainable_weights == []


def test_new_graph_refuses_a_shared_layer_and_an_ambiguous_name():
    shared = layers.Dense(4, name="shared")
    inp = Input((4,))
    with pytest.raises(ValueError, match=r"Layer 'shared' is called 2 times in model 'twice'"):
        Model(inp, shared(shared(inp)), name="twice").new_graph("shared")

    def block(name):
        i = Input((4,))
        return keras.Model(i, layers.Dense(4, name="conv")(i), name=name)

    inp = Input((4,))
    model = Model(inp, layers.Add()([block("one")(inp), block("two")(inp)]), name="pair")
    with pytest.raises(ValueError, match=r"Layer name 'conv' is ambiguous in model 'pair': "
                                         r"2 layers have it \(in 'one', 'two'\)"):
        model.new_graph("conv")
    model.freeze("conv")  # freezing takes every layer of that name
    assert model.trainable_weights == []
