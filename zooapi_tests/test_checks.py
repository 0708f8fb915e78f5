import numpy as np
import pytest

from zooapi.checks import check_compiled, check_fraction, check_int, check_number


def test_check_int_returns_python_ints_and_allowed_values():
    assert check_int("n", np.int64(3)) == 3 and type(check_int("n", np.int64(3))) is int
    assert check_int("n", 0, minimum=0) == 0
    assert check_int("height", -1, allow=(-1,)) == -1
    assert check_int("seed", None, minimum=0, allow=(None,)) is None


@pytest.mark.parametrize("value", [0, -2, True, 2.0, "3", None])
def test_check_int_refuses_in_keras_form(value):
    with pytest.raises(ValueError, match=r"^Received an invalid value for `units`, expected a positive integer\. "
                                         rf"Received: units={value!r}$".replace("(", r"\(")):
        check_int("units", value)


def test_check_int_names_the_allowed_values_and_the_owner():
    with pytest.raises(ValueError, match=r"^ImageBytesToMat: received an invalid value for `height`, expected a "
                                         r"positive integer or -1\. Received: height=-2$"):
        check_int("height", -2, allow=(-1,), owner="ImageBytesToMat")
    with pytest.raises(ValueError, match=r"^Received an invalid value for `seed`, expected a non-negative integer "
                                         r"or None\. Received: seed=-1$"):
        check_int("seed", -1, minimum=0, allow=(None,))


def test_check_number_returns_floats_and_refuses_in_keras_form():
    assert check_number("learning_rate", 2) == 2.0 and type(check_number("learning_rate", 2)) is float
    assert check_number("embed_l2", 0, positive=False) == 0.0
    for value in (0, -1e-3, True, "0.1", None, float("nan")):
        with pytest.raises(ValueError, match=r"^Received an invalid value for `learning_rate`, expected a positive "
                                             r"number\. Received: learning_rate="):
            check_number("learning_rate", value)
    with pytest.raises(ValueError, match=r"^Received an invalid value for `embed_l2`, expected a number >= 0\. "
                                         r"Received: embed_l2=-0\.1$"):
        check_number("embed_l2", -0.1, positive=False)


def test_check_fraction_takes_closed_or_half_open_unit_intervals():
    assert check_fraction("alpha", 1) == 1.0 and type(check_fraction("alpha", 1)) is float
    assert check_fraction("dropout", np.float32(0.5), include_one=False) == 0.5
    for value in (-0.1, 1.5, True, "0.5", None, float("nan")):
        with pytest.raises(ValueError, match=r"^Received an invalid value for `alpha`, expected a number in "
                                             r"\[0, 1\]\. Received: alpha="):
            check_fraction("alpha", value)
    with pytest.raises(ValueError, match=r"^Received an invalid value for `dropout`, expected a number in "
                                         r"\[0, 1\)\. Received: dropout=1$"):
        check_fraction("dropout", 1, include_one=False)


def test_check_compiled_refuses_a_model_without_optimizer():
    class Model:
        optimizer = None

    with pytest.raises(ValueError, match=r"^The model is not compiled; call `model\.compile\(optimizer=\.\.\., "
                                         r"loss=\.\.\.\)` first\.$"):
        check_compiled(Model())
