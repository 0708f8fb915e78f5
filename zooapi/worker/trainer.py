"""The training process: `python -m zooapi.worker.trainer FOLDER`, or a
trainer forked by the executor's zygote that a supervisor hands a job
folder (`zooapi.worker.standby`).

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


def train(folder: Path, import_wait: float = 0.0) -> None:
    """Trains the job in `folder`; `import_wait`: the seconds the job waited
    for this process to import TensorFlow (reported with the start-up phases)."""
    cfg = json.loads((folder / "config.json").read_text())
    clock = {"start": time.perf_counter()}
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(cfg["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(max(2, cfg["threads"]))
    from zooapi.worker.devices import configure_gpus

    configure_gpus(cfg.get("gpus"))
    n = cfg["num_workers"]
    if n > 1:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        strategy = tf.distribute.get_strategy()
    clock["strategy"] = time.perf_counter()

    import keras
    from pyspark import cloudpickle

    from zooapi.checks import check_compiled
    from zooapi.feed.spill import SpillReader
    from zooapi.worker import metrics as M
    from zooapi.worker.protocol import DriverClient
    from zooapi.worker.layer_state import updated_state
    from zooapi.worker.loop import TrainLoop
    from zooapi.worker.sample_weights import class_sample_weights
    from zooapi.worker.serialization import load_model_bytes, model_state_to_bytes
    from zooapi.worker.transforms import apply_preprocessing

    rank, chief = cfg["rank"], cfg["rank"] == 0
    keras.utils.set_random_seed(cfg["seed"])
    train_data = SpillReader(folder / "train")
    val_data = SpillReader(folder / "validation") if cfg["has_validation"] else None
    n_in, n_out = cfg["n_features"], cfg["n_labels"]
    class_weight = dict(cfg["class_weight"]) if cfg["class_weight"] else None
    local_b, global_b = cfg["local_batch"], cfg["global_batch"]
    custom = cloudpickle.loads((folder / "custom_objects.pkl").read_bytes())
    feature_fn, label_fn, control = cloudpickle.loads((folder / "job.pkl").read_bytes())

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
    cfg["steps_per_execution"] = steps_per_call(cfg["steps_per_execution"], local_b, [x0, y0])

    client = DriverClient(cfg["driver"], rank)
    if chief:
        marks = list(clock.items())
        client.send({"type": "train_begin", "steps": cfg["steps"], "rows": cfg["total_rows"],
                     "val_rows": cfg["total_val_rows"], "workers": n,
                     "iteration": int(model.optimizer.iterations.numpy()),
                     "batch_spec": {name: [[list(np.shape(a)[1:]), np.asarray(a).dtype.str]
                                           for a in tf.nest.flatten(part)] for name, part in (("x", x0), ("y", y0))},
                     "startup_seconds": {"tensorflow_import": round(import_wait, 3), **{
                         name: round(t - marks[i][1], 3) for i, (name, t) in enumerate(marks[1:])}}})
    TrainLoop(cfg, strategy, model, fns, train_data, val_data, split, metrics, client, control).run()
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(w).tobytes() for w in model.get_weights()))
    client.request({"type": "train_end", "weights_sha256": digest.hexdigest()})
    if chief:
        (folder / "result.npz").write_bytes(model_state_to_bytes(model))
    client.close()


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


def _anchor_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _read_line(conn) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk:
            return b""
        data += chunk
    return data


def _end_with_supervisor(conn, done) -> None:
    """Ends this process when the supervisor's connection closes before the
    job is `done` (its task was killed): it sends nothing after the job, so
    any read returning is EOF."""
    conn.recv(1)
    if not done.is_set():
        os._exit(3)


def _accept(listener, anchor_pid: int, path: Path, close: bool = True):
    """The next connection to `listener` (closed after it unless not
    `close`); None when the process `anchor_pid` ended first (the socket at
    `path` is removed)."""
    listener.settimeout(1.0)
    try:
        while True:
            try:
                conn, _ = listener.accept()
                conn.settimeout(None)
                return conn
            except TimeoutError:
                if not _anchor_alive(anchor_pid):
                    path.unlink(missing_ok=True)
                    try:
                        path.parent.rmdir()  # the executor's pool, when this was its last trainer
                    except OSError:
                        pass
                    return None
    finally:
        if close:
            listener.close()


def _serve(conn) -> tuple[int, str | None]:
    """Runs the job a supervisor sends on `conn`; its exit code and, when
    this process can run another job, the `standby.reuse_key` of the jobs it can run."""
    import threading

    from zooapi.worker import standby as pool

    accepted = time.time()
    line = _read_line(conn)
    if not line:
        return 0, None
    job = json.loads(line)
    import_wait = max(0.0, accepted - job["claimed_at"])  # a zygote that was still importing
    folder = Path(job["folder"])
    sys.path.extend(p for p in job["sys_path"] if p not in sys.path)
    log = os.open(folder / "child.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.environ.update(json.loads((folder / "env.json").read_text()))
    conn.sendall(f"{os.getpid()}\n".encode())
    done = threading.Event()
    threading.Thread(target=_end_with_supervisor, args=(conn, done), daemon=True).start()
    code = run(folder, import_wait)
    try:
        key = pool.reuse_key(json.loads((folder / "config.json").read_text())) if code == 0 else None
    except (OSError, ValueError, KeyError):
        key = None
    sys.stdout.flush()
    sys.stderr.flush()
    quiet = os.open(os.devnull, os.O_WRONLY)  # the job folder is about to go
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)
    os.close(quiet)
    done.set()
    conn.sendall(f"{code}\n".encode())
    conn.close()
    return code, key


def _import_training_modules() -> None:
    """Imports what `train` needs, so that the zygote's trainers have it: TensorFlow
    (9 s here) and the rest (1 s more: Spark's Python workers put
    `pyspark.zip` first on the path, and Python compiles PySpark from the
    zip on every import). Importing runs no TensorFlow op, so the process
    can still configure collectives for the job it gets."""
    import keras  # noqa: F401
    import tensorflow  # noqa: F401
    from pyspark import cloudpickle  # noqa: F401

    from zooapi import checks  # noqa: F401
    from zooapi.feed import spill  # noqa: F401
    from zooapi.worker import (devices, keras_internals, layer_state, loop, metrics,  # noqa: F401
                               protocol, sample_weights, serialization, transforms)


def _wait_for_jobs(listener, anchor_pid: int, path: Path) -> int:
    """A trainer's life: waits on the pool socket `listener` (at `path`
    until claimed) while the process `anchor_pid` lives, trains the job a
    supervisor sends; after a one-worker job it waits again, as a reusable
    trainer, for the next one-worker job with the same threads."""
    from zooapi.worker import standby as pool

    while True:
        conn = _accept(listener, anchor_pid, path)
        if conn is None:
            return 0
        code, key = _serve(conn)
        offer = pool.offer_again(path.parent, key) if key else None
        if offer is None:
            return code
        listener, path = offer
        import keras

        keras.backend.clear_session()  # the finished job's models and layer names


def zygote(listener_fd: int, anchor_pid: int, path: Path) -> int:
    """Imports what training needs, then forks a trainer for each name a
    supervisor sends on the socket `listener_fd` (at `path`), while the
    process `anchor_pid` (the executor's Python daemon) lives. See
    `zooapi.worker.standby`."""
    import signal
    import socket

    from zooapi.worker import standby as pool

    listener = socket.socket(fileno=listener_fd)
    _import_training_modules()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the system reaps the trainers
    while True:
        conn = _accept(listener, anchor_pid, path, close=False)
        if conn is None:
            return 0
        with conn:
            name = _read_line(conn).decode().strip()
            if not name or os.fork() != 0:
                continue
            code = 1
            try:  # the forked trainer
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                listener.close()
                trainer_listener, trainer_path = pool.become_trainer(path.parent, name)
                conn.sendall(b"ok\n")
                conn.close()
                code = _wait_for_jobs(trainer_listener, anchor_pid, trainer_path)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)


def run(folder: Path, import_wait: float = 0.0) -> int:
    """Trains the job in `folder`; a failure is written to `error.json`."""
    try:
        train(folder, import_wait)
    except BaseException as exc:
        (folder / "error.json").write_text(json.dumps({
            "type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc(),
        }))
        traceback.print_exc()
        return 1
    return 0


def main(argv: list[str]) -> int:
    """`trainer FOLDER` trains at once; `trainer --zygote FD PID PATH` forks trainers that wait for jobs (`zygote`)."""
    if argv[1] == "--zygote":
        return zygote(int(argv[2]), int(argv[3]), Path(argv[4]))
    return run(Path(argv[1]))


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: TF's collective threads can hang it.
    os._exit(code)
