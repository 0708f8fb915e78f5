"""The training loop of one worker: steps, validation, checkpoints, stopping.

All workers run the same loop over the same step counts and take every
decision on the same numbers (triggers see all-reduced losses and scores;
the driver's stop answer is broadcast by a collective), so none waits in a
collective that another skipped.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from zooapi.optim.schedules import plateaus_of
from zooapi.optim.triggers import TrainingState, Trigger
from zooapi.worker import metrics as M
from zooapi.worker.checkpoints import write_checkpoint
from zooapi.worker.keras_internals import learning_rate_setting
from zooapi.worker.layer_state import differing, fingerprints
from zooapi.worker.prefetch import prefetch_iter
from zooapi.worker.sampling import IndexStream, plan_chunks
from zooapi.worker.serialization import model_state_to_bytes
from zooapi.worker.train_job import Placement, TrainJob


@dataclass
class Control:
    """When to validate, checkpoint and stop (None: never / epochs only)."""

    validation: Trigger | None = None
    checkpoint: Trigger | None = None
    end: Trigger | None = None
    checkpoint_path: str = ""
    checkpoint_overwrite: bool = True

    def periods(self) -> list[int]:
        return [p for t in (self.validation, self.checkpoint, self.end) if t is not None for p in t.periods()]


class TrainLoop:
    """Runs `job` (`zooapi.worker.train_job.TrainJob`) as the worker
    `place` (its `Placement`), `steps_per_call` steps per compiled call."""

    def __init__(self, job: TrainJob, place: Placement, steps_per_call: int, strategy, model, steps_fns,
                 train_data, val_data, split: Callable, metrics: list, client, control: Control):
        self.job, self.place, self.steps_per_call = job, place, steps_per_call
        self.strategy, self.model, self.fns = strategy, model, steps_fns
        self.train_data, self.val_data, self.split = train_data, val_data, split
        self.metrics, self.client, self.control = metrics, client, control
        self.chief = place.chief
        self.local_b, self.global_b = place.local_batch(job.batch_size), job.batch_size
        self.steps = place.steps(job.batch_size)
        self.stream = IndexStream(train_data.rows, job.shuffle, job.seed, place.rank)
        self.last_loss: float | None = None
        self.last_score: float | None = None
        self.plateaus = plateaus_of(learning_rate_setting(model.optimizer))
        # The chief's weights at the last epoch end where all workers agreed.
        self.consistent = model.get_weights() if self.chief and place.num_workers > 1 else None

    # -- the loop --------------------------------------------------------

    def run(self) -> None:
        job, steps = self.job, self.steps
        epoch, step = job.initial_epoch, job.initial_epoch_step
        iteration = int(self.model.optimizer.iterations.numpy())
        self.stream.seek((epoch * steps + step) * self.local_b)
        while epoch < job.epochs:
            for m in self.metrics:
                m.reset_state()
            started = last_report = time.perf_counter()
            records, loss_sum, done = [], 0.0, 0
            stop = False
            chunks = plan_chunks(iteration, steps - step, self.steps_per_call, self.control.periods())
            for k, x, y, weights in prefetch_iter(self._produce(k) for k in chunks):
                chunk_started = time.perf_counter()
                losses, rates = self.fns.train_steps(x, y, weights)
                iteration, step, done = iteration + k, step + k, done + k
                if self.chief:
                    losses, rates = losses.numpy(), rates.numpy()
                    speed = k * self.global_b / max(time.perf_counter() - chunk_started, 1e-9)
                    records += [[iteration - k + i + 1, float(l), float(r), speed]
                                for i, (l, r) in enumerate(zip(losses, rates))]
                    loss_sum += float(losses.sum())
                    now = time.perf_counter()
                    if now - last_report >= job.progress_interval or step == steps:
                        self.client.send({"type": "step", "epoch": epoch, "step": step - 1, "iteration": iteration,
                                          "logs": {"loss": loss_sum / done}, "iterations": records})
                        records, last_report = [], now
                if step < steps and self._at_point(TrainingState(epoch, iteration, False, self.last_loss,
                                                                  self.last_score), epoch, step, iteration):
                    stop = True
                    break
            if stop:
                if self.chief and records:
                    self.client.send({"type": "step", "epoch": epoch, "step": step - 1, "iteration": iteration,
                                      "logs": {"loss": loss_sum / done}, "iterations": records})
                break
            if not self._consistent(epoch):
                break
            seconds = time.perf_counter() - started
            logs = M.results(self.metrics)
            self.last_loss = logs.get("loss")
            epoch, step = epoch + 1, 0
            state = TrainingState(epoch, iteration, True, self.last_loss, self.last_score)
            if self.val_data is not None and self.control.validation is not None and self.control.validation(state):
                logs.update({f"val_{k}": v for k, v in self.validate(epoch - 1, iteration, mid_epoch=False).items()})
                state.score = self.last_score
            if self.control.checkpoint is not None and self.control.checkpoint(state):
                self.checkpoint(epoch, 0, iteration)
            answer = 0.0
            if self.chief:
                # weights only: callbacks on the driver may set the learning rate there
                payload = model_state_to_bytes(self.model, optimizer=False) if job.sync_weights else None
                reply = self.client.request({"type": "epoch_end", "epoch": epoch - 1, "iteration": iteration,
                                             "logs": logs, "seconds": seconds, "samples": done * self.global_b},
                                            payload)
                answer = 1.0 if reply.get("stop") else 0.0
            if self.fns.all_sum(answer) > 0 or (self.control.end is not None and self.control.end(state)):
                break

    def _consistent(self, epoch: int) -> bool:
        """Whether every worker holds the same weights at this epoch end (a
        collective: every worker calls it). When they do not, the chief goes
        back to the weights of the last epoch end where they did, tells the
        driver which weights differ, and training ends."""
        if self.place.num_workers == 1:
            return True
        names = differing(self.model, self.fns.all_gather(fingerprints(self.model)))
        if not names:
            if self.chief:
                self.consistent = self.model.get_weights()
            return True
        if self.chief:
            self.model.set_weights(self.consistent)
            self.client.send({"type": "diverged", "epoch": epoch, "variables": names})
        return False

    def _produce(self, k: int):
        x, y, weights = self.split(self.train_data.take(self.stream.next(k * self.local_b)))

        def stack(a):
            return np.reshape(a, (k, self.local_b, *np.shape(a)[1:]))

        import tensorflow as tf

        return (k, tf.nest.map_structure(stack, x), tf.nest.map_structure(stack, y),
                None if weights is None else stack(weights))

    def _at_point(self, state: TrainingState, epoch: int, step: int, iteration: int) -> bool:
        """Mid-epoch validation and checkpoint; True when training must end."""
        control = self.control
        if self.val_data is not None and control.validation is not None and control.validation(state):
            saved = self._local_states()
            self.validate(epoch, iteration, mid_epoch=True)
            self._restore_local_states(saved)
            state.score = self.last_score
        if control.checkpoint is not None and control.checkpoint(state):
            self.checkpoint(epoch, step, iteration)
        return control.end is not None and control.end(state)

    # -- validation ------------------------------------------------------

    def validate(self, epoch: int, iteration: int, mid_epoch: bool) -> dict[str, float]:
        """Exact metrics over every worker's validation rows."""
        for m in self.metrics:
            m.reset_state()
        for start in range(0, self.val_data.rows, self.local_b):
            x, y, _ = self.split(self.val_data.slice(start, start + self.local_b))  # unweighted, as in Keras
            self.fns.eval_step(x, y)
        logs = M.results(self.metrics)
        score_names = [k for k in logs if k != "loss"]
        self.last_score = logs[score_names[0]] if score_names else -logs["loss"]
        val_logs = {f"val_{k}": v for k, v in logs.items()}
        for plateau in self.plateaus:
            plateau.on_validation(val_logs)
        if self.chief:
            self.client.send({"type": "validation", "epoch": epoch, "iteration": iteration, "logs": logs,
                              "mid_epoch": mid_epoch})
        return logs

    def _local_states(self) -> list[np.ndarray]:
        return [np.asarray(self.strategy.experimental_local_results(v)[0])
                for m in self.metrics for v in m.variables]

    def _restore_local_states(self, values: list[np.ndarray]) -> None:
        variables = [v for m in self.metrics for v in m.variables]
        for var, value in zip(variables, values):
            self.strategy.experimental_local_results(var)[0].assign(value)

    # -- checkpoints -----------------------------------------------------

    def checkpoint(self, epoch: int, step: int, iteration: int) -> None:
        """The chief saves the model and the position (the others go on)."""
        if not self.chief or not self.control.checkpoint_path:
            return
        with tempfile.TemporaryDirectory(prefix="zooapi-ckpt-") as tmp:
            path = Path(tmp) / "model.keras"
            self.model.save(path)
            data = path.read_bytes()
        position: dict[str, Any] = {"epoch": epoch, "epoch_step": step, "iteration": iteration,
                                    "steps_per_epoch": self.steps, "seed": self.job.seed,
                                    "plateaus": [p.state for p in self.plateaus], "time": time.time()}
        name = write_checkpoint(self.control.checkpoint_path, data, position, self.control.checkpoint_overwrite)
        self.client.send({"type": "checkpoint", "name": name, "epoch": epoch, "iteration": iteration})
