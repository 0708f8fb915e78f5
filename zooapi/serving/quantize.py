"""int8 post-training quantization through Keras' own `model.quantize`.

Keras quantizes the weights of `Dense`, `EinsumDense` and `Embedding`
layers (and the activations of the first two, per batch). It does not
cover convolutions: a model that spends most of its multiply-adds there
gains little, and `quantize` warns about it.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

MODES = ("int8",)
# Above this share of uncovered multiply-adds, quantization is unlikely to pay.
_UNCOVERED_WARNING_SHARE = 0.5


@dataclass
class QuantizationReport:
    """What `quantize` did.

    Attributes:
        mode: the quantization mode ("int8").
        quantized: names of the layers Keras quantized.
        not_covered: names of the layers with weights it left in float.
        covered_share: the share of the model's multiply-adds (an estimate
            from kernel sizes and output shapes) in quantized layers.
    """

    mode: str
    quantized: list[str] = field(default_factory=list)
    not_covered: list[str] = field(default_factory=list)
    covered_share: float = 0.0


def _leaf_layers(layer):
    children = getattr(layer, "layers", None)
    if not children:
        yield layer
        return
    for child in children:
        yield from _leaf_layers(child)


def _multiply_adds(layer) -> int:
    """Multiply-adds of one call on one row, estimated as kernel size times
    output positions (exact for `Dense` and `Conv*D`); 0 without a kernel."""
    kernel = next((w for w in layer.weights if "kernel" in w.path or "embeddings" in w.path), None)
    if kernel is None or "embeddings" in kernel.path:
        return 0
    size = int(np.prod(kernel.shape))
    try:
        output = layer.output.shape[1:]
        positions = int(np.prod([d or 1 for d in output])) // max(int(kernel.shape[-1]), 1)
    except (AttributeError, ValueError, TypeError):
        positions = 1
    return size * max(positions, 1)


def quantize(model, mode: str = "int8") -> QuantizationReport:
    """Quantizes `model` in place with Keras' `model.quantize(mode)`, logs
    which layers were quantized and warns when most of the multiply-adds are
    in layers Keras does not cover (convolutions).

    The quantized model saves and loads as `.keras` like any other.

    Args:
        model: a built Keras model.
        mode: "int8".

    Returns:
        A `QuantizationReport`.

    Raises:
        ValueError: an unsupported `mode`, or a model with no layer Keras
            can quantize.

    Example:
        >>> report = quantize(model, mode="int8")  # doctest: +SKIP
        >>> report.quantized  # doctest: +SKIP
        ['dense', 'dense_1']
        >>> model.save("digits-int8.keras")  # doctest: +SKIP
    """
    if mode not in MODES:
        raise ValueError(f"Received an invalid value for `mode`, expected one of {MODES}. Received: mode={mode!r}")
    weighted = [layer for layer in _leaf_layers(model) if layer.weights]
    macs = {layer.name: _multiply_adds(layer) for layer in weighted}
    with warnings.catch_warnings():
        # Keras warns for every layer without weights (InputLayer, Flatten...).
        warnings.filterwarnings("ignore", message=".*does not have a `quantize` method")
        model.quantize(mode)
    report = QuantizationReport(mode)
    for layer in weighted:
        target = report.quantized if getattr(layer, "quantization_mode", None) == mode else report.not_covered
        target.append(layer.name)
    if not report.quantized:
        raise ValueError(f"Keras quantized no layer of {model.name!r} to {mode}: it covers Dense, EinsumDense and "
                         f"Embedding layers. Received layers with weights: {[l.name for l in weighted]}.")
    total = sum(macs.values())
    report.covered_share = sum(macs[n] for n in report.quantized) / total if total else 1.0
    logger.info("Quantized to %s: %s (%.0f%% of the multiply-adds); left in float: %s.", mode,
                ", ".join(report.quantized), 100 * report.covered_share, ", ".join(report.not_covered) or "none")
    if 1 - report.covered_share > _UNCOVERED_WARNING_SHARE:
        warnings.warn(
            f"{100 * (1 - report.covered_share):.0f}% of {model.name!r}'s multiply-adds are in layers that Keras' "
            f"{mode} quantization does not cover ({', '.join(report.not_covered)}); expect little gain. "
            "Consider model.export(format='litert') or format='onnx' for convolutions.", UserWarning, stacklevel=2)
    return report
