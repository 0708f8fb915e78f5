"""How many steps one compiled call of the trainer runs (`zooapi.worker.trainer`)."""

import numpy as np

from zooapi.worker.trainer import CHUNK_BYTES, steps_per_call


def test_steps_per_call_keep_a_call_of_decoded_images_within_the_chunk_budget():
    # The MLP benchmark's rows: 64 floats and a label; 64 steps of 256 rows fit easily.
    mlp = [np.zeros((256, 64), np.float32), np.zeros(256, np.int32)]
    assert steps_per_call(64, 256, mlp) == 64
    # 224x224x3 float32 images, 32 a step (a sample of 8 rows sizes them): 19 MB a step.
    images = (np.zeros((8, 224, 224, 3), np.float32), np.zeros(8, np.int32))
    k = steps_per_call(64, 32, images)
    step_bytes = 32 * (224 * 224 * 3 * 4 + 4)
    assert k == CHUNK_BYTES // step_bytes and 1 <= k < 64
    # A step larger than the budget still runs, one per call.
    assert steps_per_call(64, 1024, images) == 1
