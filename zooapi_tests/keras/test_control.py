import pytest

from zooapi.keras import Input, Sequential, layers


def test_gradient_clipping_on_an_uncompiled_model_says_compile_first():
    model = Sequential([Input((4,)), layers.Dense(1)])
    with pytest.raises(ValueError, match=r"^The model is not compiled; call `model\.compile\(optimizer=\.\.\., "
                                         r"loss=\.\.\.\)` first\.$"):
        model.set_gradient_clipping_by_l2_norm(1.0)
