"""Which rows each training step reads (`zooapi.worker.sampling`)."""

import numpy as np

from zooapi.worker.sampling import IndexStream, plan_chunks


def test_batches_are_random_samples_even_when_the_partition_is_sorted():
    # 1,000 rows sorted by label (10 classes of 100): a batch of 50 drawn from
    # a shuffled pass holds about 5 rows of each class; a run of neighbouring
    # rows would hold one or two classes.
    labels = np.repeat(np.arange(10), 100)
    stream = IndexStream(rows=1000, shuffle=True, seed=3, rank=0)
    drawn = stream.next(640)
    classes_per_batch = [len(set(labels[batch])) for batch in drawn.reshape(-1, 64)]
    assert min(classes_per_batch) >= 8


def test_the_stream_depends_only_on_position_so_training_can_resume():
    first = IndexStream(rows=37, shuffle=True, seed=5, rank=1)
    whole = np.concatenate([first.next(20) for _ in range(5)])
    resumed = IndexStream(rows=37, shuffle=True, seed=5, rank=1)
    resumed.seek(60)
    np.testing.assert_array_equal(resumed.next(40), whole[60:])
    # every pass is a permutation of all rows
    assert sorted(whole[:37].tolist()) == list(range(37))
    other_worker = IndexStream(rows=37, shuffle=True, seed=5, rank=0).next(37)
    assert not np.array_equal(other_worker, whole[:37])


def test_chunks_end_on_every_trigger_period():
    assert plan_chunks(0, 10, 4, [5]) == [4, 1, 4, 1]
    assert plan_chunks(3, 5, 64, []) == [5]
