"""One worker of a training job, in a trainer process (forked by the
executor's zygote, `zooapi.worker.zygote`; handed the job by its barrier
task, `zooapi.worker.supervisor`).

It runs one worker of a synchronous data-parallel job: a custom `tf.function`
step under `MultiWorkerMirroredStrategy` (Keras 3's `fit` does not run under
it), gradients all-reduced by the Keras optimizer, the loss scaled by the
global batch size. Every worker runs the same number of full batches per
epoch, drawn from its own spilled partition (`zooapi.worker.sampling`).
Metrics are Keras' own, with states summed over all workers when read. The
loop itself (validation, checkpoints, stopping) is `zooapi.worker.loop`.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np


def train(folder: Path, client, import_wait: float = 0.0):
    """Trains the job in `folder` (`zooapi.worker.train_job`), reporting to
    the driver on `client`; returns the worker's `Placement`. `import_wait`:
    the seconds the job waited for this process to import TensorFlow
    (reported with the start-up phases)."""
    from zooapi.worker import train_job

    job, place = train_job.read(folder)
    clock = {"start": time.perf_counter()}
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(place.threads)
    tf.config.threading.set_inter_op_parallelism_threads(max(2, place.threads))
    from zooapi.worker.devices import configure_gpus

    configure_gpus(place.gpus)
    n = place.num_workers
    if n > 1:
        os.environ["TF_CONFIG"] = json.dumps(place.tf_config())
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        os.environ.pop("TF_CONFIG", None)
        strategy = tf.distribute.get_strategy()
    clock["strategy"] = time.perf_counter()

    import keras
    from pyspark import cloudpickle

    from zooapi.checks import check_compiled
    from zooapi.feed.spill import SpillReader
    from zooapi.worker import metrics as M
    from zooapi.worker.layer_state import updated_state
    from zooapi.worker.loop import TrainLoop
    from zooapi.worker.sample_weights import class_sample_weights
    from zooapi.worker.serialization import load_model_bytes, model_state_to_bytes
    from zooapi.worker.transforms import apply_preprocessing

    keras.utils.set_random_seed(job.seed)
    train_data = SpillReader(folder / "train")
    val_data = SpillReader(folder / "validation") if job.has_validation else None
    n_in, n_out = len(job.features), len(job.labels)
    class_weight = job.class_weight
    local_b, global_b = place.local_batch(job.batch_size), job.batch_size
    custom = cloudpickle.loads((folder / "custom_objects.pkl").read_bytes())
    feature_fn, label_fn, control = cloudpickle.loads(job.trainer_part)

    def split(arrays):
        """Features, labels and per-row loss weights (None: unweighted)."""
        xs = apply_preprocessing(feature_fn, arrays[:n_in])
        ys = apply_preprocessing(label_fn, arrays[n_in:n_in + n_out])
        x, y = M.as_structure(xs), M.as_structure(ys)
        if len(arrays) > n_in + n_out:
            weights = np.asarray(arrays[n_in + n_out], np.float32).reshape(-1)
        elif class_weight is not None:
            weights = class_sample_weights(y, class_weight)
        else:
            weights = None
        return x, y, weights

    with strategy.scope():
        model = load_model_bytes((folder / "model.keras").read_bytes(), custom, compile=True)
        check_compiled(model)
        loss_tracker = keras.metrics.Mean(name="loss")
        # Build weights, loss and metric variables here, in cross-replica context.
        x0, y0, w0 = split(train_data.take(np.arange(min(local_b, train_data.rows))))
        pred0 = model(x0, training=False)
        model.compute_loss(x=x0, y=y0, y_pred=pred0, sample_weight=w0, training=False)
        model.compute_metrics(x0, y0, pred0, sample_weight=w0)
        model.optimizer.build(model.trainable_variables)
    clock["model"] = time.perf_counter()
    metrics = [loss_tracker] + M.compiled_metrics(model)
    fns = StepFunctions(strategy, model, loss_tracker, n, local_b, global_b, updated_state(model))
    per_call = steps_per_call(job.steps_per_execution, local_b, [x0, y0])

    steps = place.steps(global_b)
    if place.chief:
        marks = list(clock.items())
        client.send({"type": "train_begin", "steps": steps, "rows": place.total_rows,
                     "val_rows": place.total_val_rows, "workers": n,
                     "iteration": int(model.optimizer.iterations.numpy()),
                     "batch_spec": {name: [[list(np.shape(a)[1:]), np.asarray(a).dtype.str]
                                           for a in tf.nest.flatten(part)] for name, part in (("x", x0), ("y", y0))},
                     "startup_seconds": {"tensorflow_import": round(import_wait, 3), **{
                         name: round(t - marks[i][1], 3) for i, (name, t) in enumerate(marks[1:])}}})
    TrainLoop(job, place, per_call, strategy, model, fns, train_data, val_data, split, metrics, client,
              control).run()
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(w).tobytes() for w in model.get_weights()))
    client.request({"type": "train_end", "weights_sha256": digest.hexdigest()})
    if place.chief:
        (folder / "result.npz").write_bytes(model_state_to_bytes(model))
    return place


# Bytes of decoded batches one call may take. The prefetch thread keeps two
# calls' batches ahead of the one in flight: 64 steps of 32 images of 224x224x3
# would be 1.2 GB each, where 64 steps of the MLP benchmark take 4 MB.
CHUNK_BYTES = 128 << 20


def steps_per_call(configured: int, local_b: int, sample) -> int:
    """`configured`, lowered so that one call's batches (sized as `sample`,
    `local_b` decoded rows) stay within `CHUNK_BYTES`."""
    import tensorflow as tf

    arrays = [np.asarray(a) for a in tf.nest.flatten(sample)]
    step_bytes = sum(a.nbytes for a in arrays) / max(len(arrays[0]), 1) * local_b
    return max(1, min(configured, int(CHUNK_BYTES // max(step_bytes, 1))))


class StepFunctions:
    """The compiled per-replica steps and the collectives the loop needs.

    `state` are the variables layers update themselves (see
    `zooapi.worker.layer_state`); with several workers, each call ends by
    averaging them over the workers."""

    def __init__(self, strategy, model, loss_tracker, num_workers: int, local_b: int, global_b: int,
                 state: list = ()):
        import keras
        import tensorflow as tf

        from zooapi.worker.keras_internals import learning_rate_setting

        self.strategy, n = strategy, num_workers
        # Keras scales each replica's loss by 1/n; re-weight so that the sum over
        # workers is the mean over the global batch even when local sizes differ.
        scale = local_b * n / global_b

        def replica_train_step(x, y, weights):
            with tf.GradientTape() as tape:
                y_pred = model(x, training=True)
                loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=weights, training=True)
                scaled = model.optimizer.scale_loss(loss * scale if scale != 1 else loss)
            variables = model.trainable_variables
            if variables:
                grads = tape.gradient(scaled, variables)
                model.optimizer.apply(grads, variables)
            model.compute_metrics(x, y, y_pred, sample_weight=weights)
            return loss * n if n != 1 else loss

        def replica_track_losses(losses):
            # One update for the whole call: the same sums as one per step.
            loss_tracker.update_state(losses, sample_weight=tf.fill(tf.shape(losses), float(local_b)))

        def replica_eval_step(x, y):
            y_pred = model(x, training=False)
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred, training=False)
            size = tf.shape(tf.nest.flatten(y_pred)[0])[0]
            loss_tracker.update_state(loss * n, sample_weight=size)
            model.compute_metrics(x, y, y_pred, sample_weight=None)

        state = list(state) if n > 1 else []

        def replica_average_state():
            context = tf.distribute.get_replica_context()
            means = context.all_reduce(tf.distribute.ReduceOp.MEAN, [tf.identity(v.value) for v in state])
            for variable, mean in zip(state, means):
                variable.assign(mean)

        # A learning rate held in a variable changes only between calls (plateau
        # schedules, callbacks): read it once per call instead of once per step.
        fixed_rate = isinstance(learning_rate_setting(model.optimizer), keras.Variable)

        @tf.function
        def train_steps(x, y, weights=None):
            """Runs len(x) steps in one call (x, y and the per-row loss
            weights, when there are any, hold one batch per step); returns
            each step's local loss and learning rate."""
            k = tf.shape(tf.nest.flatten(x)[0])[0]
            losses = tf.TensorArray(tf.float32, size=k)
            if fixed_rate:
                rates = tf.fill([k], tf.cast(model.optimizer.learning_rate, tf.float32))
            else:
                rates = tf.TensorArray(tf.float32, size=k)
            for i in tf.range(k):
                if not fixed_rate:
                    rates = rates.write(i, tf.cast(model.optimizer.learning_rate, tf.float32))
                pick = lambda t: t[i]  # noqa: E731
                out = strategy.run(replica_train_step, args=(
                    tf.nest.map_structure(pick, x), tf.nest.map_structure(pick, y),
                    None if weights is None else weights[i]))
                losses = losses.write(i, tf.cast(strategy.experimental_local_results(out)[0], tf.float32))
            losses = losses.stack()
            strategy.run(replica_track_losses, args=(losses,))
            if state:
                strategy.run(replica_average_state)
            return losses, (rates if fixed_rate else rates.stack())

        @tf.function(reduce_retracing=True)
        def eval_step(x, y):
            strategy.run(replica_eval_step, args=(x, y))

        self.train_steps, self.eval_step = train_steps, eval_step
        self._n = n

    def all_sum(self, value: float) -> float:
        """The sum of `value` over all workers (every worker must call it)."""
        import tensorflow as tf

        if self._n == 1:
            return value
        per_replica = self.strategy.run(lambda: tf.constant(value, tf.float32))
        return float(self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None))

    def all_gather(self, values: np.ndarray) -> np.ndarray:
        """Every worker's `values` (a 1-D int64 array of the same length on
        all workers), one row per worker in rank order (every worker must
        call it)."""
        import tensorflow as tf

        if self._n == 1:
            return values[None]
        per_replica = self.strategy.run(lambda: tf.constant(values[None], tf.int64))
        return self.strategy.gather(per_replica, axis=0).numpy()


def run(folder: Path, client, import_wait: float = 0.0) -> tuple[int, str | None]:
    """Trains the job in `folder`, reporting on `client` (a
    `zooapi.worker.protocol.DriverClient`, its errors too). Returns the exit
    code (0, `standby.ERROR_REPORTED`, or 2 for an error the driver could
    not be told) and, after a job that succeeded, the `Placement.reuse_key`
    of the jobs this process can run next."""
    from zooapi.worker.standby import ERROR_REPORTED

    try:
        placement = train(folder, client, import_wait)
    except BaseException as exc:
        trace = traceback.format_exc()
        sys.stderr.write(trace)  # the job's child.log
        return (ERROR_REPORTED if client.report_error(type(exc).__name__, str(exc), trace) else 2), None
    return 0, placement.reuse_key()
