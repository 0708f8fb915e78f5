"""A model's layer graph: finding layers by name (nested models included),
freezing and unfreezing them, and cutting new graphs out of a model.

Everything here walks Keras' own graph records: a functional model's
`layers` (already in topological order), and for paths through the graph the
`Node`s that each `KerasTensor` points back to (`tensor._keras_history`,
`layer._inbound_nodes`, `node.parent_nodes`). Nothing is copied: a graph made
by `new_graph` holds the very same layer objects, so their weights are shared.

Example:
    >>> from zooapi.keras import graph  # doctest: +SKIP
    >>> [layer.name for layer in graph.flattened_layers(model)]  # doctest: +SKIP
    >>> graph.freeze_up_to(model, "block_13_expand_relu")  # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import logging
from typing import Any, Sequence, Union

from zooapi.worker.keras_internals import sublayers

logger = logging.getLogger(__name__)

Names = Union[str, Sequence[str]]


def _keras():
    import keras

    return keras


def _is_model(layer) -> bool:
    return isinstance(layer, _keras().Model)


def _is_input_layer(layer) -> bool:
    return isinstance(layer, _keras().layers.InputLayer)


def _is_sequential(model) -> bool:
    return isinstance(model, _keras().Sequential)


def _child_layers(container) -> list:
    """A container's own layers, in Keras' order (topological for functional
    and Sequential models, tracking order for subclassed ones)."""
    return [layer for layer in container.layers if isinstance(layer, _keras().layers.Layer)]


def flattened_layers(model, include_container: bool = False) -> list:
    """All layers of `model`, nested models expanded in place, in topological
    order; each layer once, however often it is called.

    Input layers (which hold no weights) are left out.

    Args:
        model: a Keras model.
        include_container: also list every nested model, just before its own
            layers.

    Returns:
        A list of layers.

    Example:
        >>> [layer.name for layer in flattened_layers(model)]  # doctest: +SKIP
        ['conv1', 'conv2', 'flatten', 'dense']
    """
    out: list = []
    seen: set[int] = set()

    def visit(container) -> None:
        for layer in _child_layers(container):
            if id(layer) in seen or _is_input_layer(layer):
                continue
            seen.add(id(layer))
            if _is_model(layer):
                if include_container:
                    out.append(layer)
                visit(layer)
            else:
                out.append(layer)

    visit(model)
    return out


def _check_names(names: Any, argument: str, allow_none: bool) -> list[str] | None:
    if names is None and allow_none:
        return None
    if isinstance(names, str):
        names = [names]
    elif isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names):
        names = list(names)
    else:
        expected = "a layer name, a list of layer names" + (" or None (every layer)" if allow_none else "")
        raise TypeError(f"Received an invalid value for `{argument}`, expected {expected}. "
                        f"Received: {argument}={names!r}")
    if not names:
        raise ValueError(f"Received an empty list for `{argument}`; expected at least one layer name.")
    return names


def find_layer_paths(model, names: Names, argument: str = "names") -> dict[str, list[list]]:
    """For each name, every path `[container, ..., layer]` from `model`'s own
    layers down to a layer of that name (nested models searched too).

    Raises:
        ValueError: a name matches no layer; the message lists close matches.
    """
    wanted = _check_names(names, argument, allow_none=False)
    found: dict[str, list[list]] = {name: [] for name in wanted}
    seen: set[int] = set()

    def visit(container, prefix: list) -> None:
        for layer in _child_layers(container):
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            if layer.name in found:
                found[layer.name].append(prefix + [layer])
            if _is_model(layer):
                visit(layer, prefix + [layer])

    visit(model, [])
    missing = [name for name, paths in found.items() if not paths]
    if missing:
        known = [layer.name for layer in flattened_layers(model, include_container=True)]
        name = missing[0]
        close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
        raise ValueError(f"No layer named {name!r} in model {model.name!r}. "
                         f"Close matches: {', '.join(close) if close else 'none'}. "
                         "`model.flattened_layers(include_container=True)` lists every layer.")
    return found


def _paths(model, names: Names, argument: str = "names") -> list[list]:
    return [path for paths in find_layer_paths(model, names, argument).values() for path in paths]


# ---- the graph as Keras records it ---------------------------------------------------------------

def _outputs(model) -> list:
    """The model's output KerasTensors; ValueError when it has no graph."""
    try:
        outputs = model.outputs
    except (AttributeError, ValueError):
        outputs = None
    if outputs:
        return list(outputs)
    if _is_sequential(model):
        raise ValueError(
            f"Sequential model {model.name!r} is not built, so it has no graph yet. Start it with "
            "`keras.Input(shape)` or call `model.build(input_shape)` first.")
    raise ValueError(
        f"Model {model.name!r} ({type(model).__name__}) is a subclassed model whose layer graph "
        "Keras does not record; expected a functional or a Sequential model.")


def _node_of(tensor):
    operation, node_index, _ = tensor._keras_history
    return operation._inbound_nodes[node_index]


def graph_nodes(model) -> list:
    """The `Node`s of `model`'s own graph, inputs first (topological order)."""
    order: list = []
    state: dict[int, bool] = {}
    for tensor in _outputs(model):
        stack = [(_node_of(tensor), False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in state:
                continue
            state[id(node)] = True
            stack.append((node, True))
            stack.extend((parent, False) for parent in reversed(node.parent_nodes) if id(parent) not in state)
    return order


def _nodes_of(model, layer) -> list:
    """The nodes where `layer` is called inside `model`'s own graph."""
    return [node for node in graph_nodes(model) if node.operation is layer]


def _upstream_layers(model, layer) -> list:
    """The layers on any path from `model`'s inputs into `layer` (excluded)."""
    if _is_sequential(model):
        own = _child_layers(model)
        return own[:next(i for i, candidate in enumerate(own) if candidate is layer)]
    targets = _nodes_of(model, layer)
    todo = [parent for node in targets for parent in node.parent_nodes]
    seen_nodes: set[int] = set()
    seen_layers: set[int] = {id(layer)}
    out: list = []
    while todo:
        node = todo.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if id(node.operation) not in seen_layers:
            seen_layers.add(id(node.operation))
            out.append(node.operation)
        todo.extend(node.parent_nodes)
    return out


# ---- trainable state ---------------------------------------------------------------------------

def _warn_if_optimizer_built(model) -> None:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and getattr(optimizer, "built", False):
        # Measured with Keras 3.15: after a first `fit`, its traced train step
        # keeps the old variable list, so a changed flag is silently ignored.
        logger.warning(
            "Model %r already has a built optimizer (it was trained, or loaded compiled): call "
            "`model.compile(...)` again so that training sees the new trainable flags.", model.name)


def _set_trainable(layer, value: bool) -> None:
    """`layer.trainable = value` for the layer and every sublayer. Keras'
    setter alone is not enough with the TensorFlow backend: attribute
    tracking skips assigning the value an attribute already holds, so the
    setter stops at any sublayer whose own flag already equals `value`."""
    for sub in sublayers(layer, include_self=True):
        type(sub).trainable.fset(sub, value)


def _set_trainable_keeping_sublayers(layer) -> None:
    """Sets `layer.trainable = True` without changing any sublayer's flag
    (Keras' setter would set them all)."""
    if layer.trainable:
        return
    saved = [(sub, sub.trainable) for sub in sublayers(layer)]
    type(layer).trainable.fset(layer, True)
    for sub, flag in saved:
        type(sub).trainable.fset(sub, flag)


def freeze(model, names: Names | None = None) -> None:
    """Makes the named layers (every layer when `names` is None) non-trainable.

    A named nested model is frozen as a whole. Recompile before Keras' own
    `fit` if the model was trained since it was compiled.

    Args:
        model: a Keras model.
        names: a layer name, a list of names, or None for every layer.

    Example:
        >>> freeze(model, ["conv1", "conv2"])  # doctest: +SKIP
    """
    if _check_names(names, "names", allow_none=True) is None:
        for layer in _child_layers(model):
            _set_trainable(layer, False)
    else:
        for path in _paths(model, names):
            _set_trainable(path[-1], False)
    _warn_if_optimizer_built(model)


def unfreeze(model, names: Names | None = None) -> None:
    """Makes the named layers (every layer when `names` is None) trainable.

    The nested models that hold a named layer (and `model` itself) are made
    trainable too, without touching their other layers, so that the layer
    really trains.

    Args:
        model: a Keras model.
        names: a layer name, a list of names, or None for every layer.

    Example:
        >>> unfreeze(model, "block_16_project")  # doctest: +SKIP
    """
    if _check_names(names, "names", allow_none=True) is None:
        _set_trainable(model, True)
    else:
        for path in _paths(model, names):
            for container in [model] + path[:-1]:
                _set_trainable_keeping_sublayers(container)
            _set_trainable(path[-1], True)
    _warn_if_optimizer_built(model)


def freeze_up_to(model, names: Names) -> None:
    """Freezes every layer on any path from the model's inputs up to and
    including the named layers; the layers after them keep their flags.

    Works through nested models: naming a layer inside a backbone freezes
    what feeds the backbone, and the backbone's own layers up to that one.

    Args:
        model: a functional or Sequential Keras model.
        names: a layer name or a list of names.

    Example:
        >>> freeze_up_to(model, "conv2")  # doctest: +SKIP
    """

    def freeze_path(container, path: list) -> None:
        head, rest = path[0], path[1:]
        for layer in _upstream_layers(container, head):
            if not _is_input_layer(layer) and isinstance(layer, _keras().layers.Layer):
                _set_trainable(layer, False)
        if rest:
            freeze_path(head, rest)
        else:
            _set_trainable(head, False)

    paths = _paths(model, names)
    if not _is_sequential(model):
        _outputs(model)  # a subclassed model has no graph: say so before changing anything
    for path in paths:
        freeze_path(model, path)
    _warn_if_optimizer_built(model)


# ---- new graphs ---------------------------------------------------------------------------------

def _model_inputs(model):
    if _is_sequential(model):
        inputs = model.inputs
        return inputs[0] if len(inputs) == 1 else inputs
    return model.input


def _output_in(model, path: list):
    """The output tensor(s) of `path[-1]` inside `model`'s graph."""
    head, rest = path[0], path[1:]
    _outputs(model)
    nodes = _nodes_of(model, head)
    if len(nodes) != 1:
        raise ValueError(
            f"Layer {head.name!r} is called {len(nodes)} times in model {model.name!r}; "
            "`new_graph` needs a layer that is called exactly once.")
    node = nodes[0]
    if not rest:
        outs = node.output_tensors
        return outs[0] if len(outs) == 1 else list(outs)
    from zooapi.keras.models import Model

    inner = Model(inputs=_model_inputs(head), outputs=_output_in(head, rest),
                  name=f"{head.name}_to_{rest[-1].name}")
    return inner(*node.arguments.args, **node.arguments.kwargs)


def new_graph(model, outputs: Names, name: str | None = None):
    """A new model from `model`'s inputs to the outputs of the named layer(s),
    sharing the layer objects (and so the weights) with `model`, which keeps
    working exactly as before.

    One name, alone or in a list of one (`"pool5"` or `["pool5"]`, as
    Analytics Zoo's `new_graph` takes it), gives a model with that layer's
    single output, so that `new_graph(model, ["pool5"])(x)` is a tensor that
    the next Keras layer takes as it is. Two or more names give a model
    with one output per name, in the order given.

    Args:
        model: a functional or built Sequential Keras model.
        outputs: a layer name or a list of layer names. A layer inside a
            nested model may be named: the nested model is cut at that layer
            too.
        name: the new model's name.

    Returns:
        A `zooapi.keras.Model`, not compiled.

    Example:
        >>> base = new_graph(model, ["pool5"])  # doctest: +SKIP
        >>> x = keras.layers.GlobalAveragePooling2D()(base(inp))  # doctest: +SKIP
        >>> head = Model(inp, keras.layers.Dense(2, activation="softmax")(x))  # doctest: +SKIP
    """
    from zooapi.keras.models import Model

    found = find_layer_paths(model, outputs, "outputs")
    _outputs(model)
    tensors = []
    for layer_name, paths in found.items():
        if len(paths) > 1:
            where = ", ".join(repr(p[-2].name) if len(p) > 1 else repr(model.name) for p in paths)
            raise ValueError(f"Layer name {layer_name!r} is ambiguous in model {model.name!r}: "
                             f"{len(paths)} layers have it (in {where}).")
        tensors.append(_output_in(model, paths[0]))
    result = tensors[0] if len(tensors) == 1 else tensors
    return Model(inputs=_model_inputs(model), outputs=result, name=name)
