"""TensorFlow's start-up lines stay out of the terminal (zooapi.quiet)."""

import re
import subprocess
import sys
import textwrap

import pytest

from zooapi import quiet
from zooapi_tests.conftest import classic_environment

# What TensorFlow 2.21 printed at start-up here, in every process that loaded it.
STARTUP = (
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    b"I0000 00:00:1796030092.902543    5539 cudart_stub.cc:31] Could not find cuda drivers on your machine, "
    b"GPU will not be used.\n"
    b"I0000 00:00:1796030092.978274    5539 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to "
    b"use available CPU instructions in performance-critical operations.\n"
    b"To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
    b"appropriate compiler flags.\n"
    b"E0000 00:00:1796030098.683252    5539 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
    b"Failed call to cuInit: UNKNOWN ERROR (303)\n"
)
# A line from anywhere else must never be dropped.
OTHER = b"/tmp/x.py:3: UserWarning: something the user should see\n"

TF_NOISE = re.compile(r"absl::InitializeLog|cuda drivers|cuInit|oneDNN|cpu_feature_guard|"
                      r"To enable the following instructions|^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ ")


def tf_noise(text: str) -> list[str]:
    return [line for line in text.splitlines() if TF_NOISE.search(line)]


def test_quiet_environment_sets_defaults_but_keeps_what_the_user_set():
    env = quiet.quiet_environment({"TF_CPP_MIN_LOG_LEVEL": "0", "PATH": "/bin"})
    assert env == {"TF_CPP_MIN_LOG_LEVEL": "0", "PATH": "/bin", "GRPC_VERBOSITY": "ERROR", "GLOG_minloglevel": "2"}
    assert quiet.quiet_environment({})["TF_CPP_MIN_LOG_LEVEL"] == "3"
    assert "TF_ENABLE_ONEDNN_OPTS" not in quiet.quiet_environment({})  # a numerics switch, not a log one


@pytest.mark.parametrize("value", ["1", "true", "YES"])
def test_the_verbose_switch_adds_nothing(value):
    assert quiet.quiet_environment({"ZOOAPI_VERBOSE_WORKERS": value}) == {"ZOOAPI_VERBOSE_WORKERS": value}


def test_hidden_lines_follow_the_log_level_and_other_lines_stay():
    text = STARTUP + OTHER
    assert quiet.drop_hidden_lines(text, 3) == OTHER
    # Level 2 hides INFO and WARNING, not the ERROR line (what the user asked for).
    assert quiet.drop_hidden_lines(text, 2) == STARTUP.splitlines(keepends=True)[-1] + OTHER
    assert quiet.drop_hidden_lines(text, 0) == text
    assert quiet.drop_hidden_lines(OTHER + STARTUP, 3) == OTHER


def _run(code: str, **env) -> subprocess.CompletedProcess:
    full = classic_environment(drop=("TF_CPP_MIN_LOG_LEVEL", "GRPC_VERBOSITY", "GLOG_minloglevel",
                                     "ZOOAPI_VERBOSE_WORKERS"))
    full.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full, capture_output=True,
                          text=True, timeout=600)


IMPORT_TF = """
    import zooapi
    import keras  # imports TensorFlow
    import tensorflow as tf
    assert type(tf.__spec__.loader).__name__ == "SourceFileLoader", tf.__spec__.loader
    tf.config.list_physical_devices("GPU")
    import os
    print("sum", float(tf.reduce_sum(tf.constant([1.0, 2.0]))), "level", os.environ.get("TF_CPP_MIN_LOG_LEVEL"))
"""


@pytest.mark.slow
def test_a_worker_loading_tensorflow_prints_nothing_but_the_switch_brings_the_lines_back():
    quiet_run = _run(IMPORT_TF)
    assert quiet_run.returncode == 0, quiet_run.stderr
    assert quiet_run.stdout.strip() == "sum 3.0 level 3"
    assert tf_noise(quiet_run.stderr) == []
    loud = _run(IMPORT_TF, ZOOAPI_VERBOSE_WORKERS="1")
    assert loud.returncode == 0, loud.stderr
    if not tf_noise(loud.stderr):
        pytest.skip("this TensorFlow build prints no start-up lines here")
    assert any("cuda" in line or "oneDNN" in line or "cpu_feature" in line for line in tf_noise(loud.stderr))


@pytest.mark.slow
def test_a_users_log_level_wins_over_zooapis():
    # TF_CPP_MIN_LOG_LEVEL=2 hides INFO and WARNING only: an ERROR line, if TF logs one, stays.
    run = _run(IMPORT_TF, TF_CPP_MIN_LOG_LEVEL="2")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "sum 3.0 level 2"
    assert [line for line in tf_noise(run.stderr) if not line.startswith("E")] == []


# zooapi first: a driver that imports Keras before zooapi prints TensorFlow's
# start-up lines itself, as plain Keras does; the workers stay quiet either way.
FIT_AND_PREDICT = """
    import zooapi, keras
    from sklearn.datasets import load_digits
    from zooapi import engine

    spark = zooapi.init_nncontext("quiet", master="local[2]")
    digits = load_digits()
    rows = [((x / 16.0).tolist(), int(y)) for x, y in zip(digits.data, digits.target)]
    df = spark.createDataFrame(rows, "features array<float>, label long").repartition(2)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    engine.fit(model, df, "features", "label", batch_size=64, epochs={epochs}, num_workers=2, verbose=2)
    print("PREDICTED", engine.predict(model, df, "features").count())
    spark.stop()
"""


@pytest.mark.slow
def test_a_fit_and_predict_on_two_workers_prints_no_tensorflow_lines():
    run = _run(FIT_AND_PREDICT.format(epochs=3))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "PREDICTED 1797" in run.stdout
    assert len(re.findall(r"^Epoch \d/3", run.stdout, re.M)) == 3  # the progress lines are still there
    assert tf_noise(run.stdout + run.stderr) == []
