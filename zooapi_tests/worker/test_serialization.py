import numpy as np

from zooapi.worker.serialization import arrays_from_bytes, arrays_to_bytes


def test_arrays_round_trip_in_order_with_their_dtypes_and_shapes():
    # 12 arrays: more than 10, so an order taken from sorted key names ("10" < "2") would show.
    arrays = [np.full((i % 3 + 1, 2), i, dtype=np.float32 if i % 2 else np.int64) for i in range(12)]
    back = arrays_from_bytes(arrays_to_bytes(arrays))
    assert len(back) == 12
    for a, b in zip(arrays, back):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    assert arrays_from_bytes(arrays_to_bytes([])) == []


def test_a_trained_models_state_moves_weights_and_optimizer_into_a_fresh_copy():
    from zooapi.worker.serialization import load_model_state, model_state_to_bytes
    from zooapi_tests.conftest import mlp

    trained, fresh = mlp(), mlp()
    x = np.random.default_rng(0).uniform(size=(64, 64)).astype(np.float32)
    trained.fit(x, np.arange(64) % 10, epochs=2, batch_size=16, verbose=0)
    load_model_state(fresh, model_state_to_bytes(trained))
    for mine, theirs in zip(fresh.get_weights(), trained.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    assert int(fresh.optimizer.iterations.numpy()) == 8  # Adam's moments and step count came along
    for mine, theirs in zip(fresh.optimizer.variables, trained.optimizer.variables):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    weights_only = mlp()
    load_model_state(weights_only, model_state_to_bytes(trained, optimizer=False))
    np.testing.assert_array_equal(weights_only.get_weights()[0], trained.get_weights()[0])
    assert not weights_only.optimizer.built
