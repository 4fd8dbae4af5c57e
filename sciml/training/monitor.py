"""What a strategy reports while it trains: history, snapshots, divergence and stalling.

Strategies call :meth:`Monitor.after_step` once per (outer) step. The monitor evaluates the objective at
the planned record steps, keeps parameter snapshots for later diagnostics (so nothing is ever retrained),
stops a seed whose loss or parameters are no longer finite, and ends training early once the parameters
have stopped moving (L-BFGS returns at once when it has converged; later calls would change nothing).

The monitor is also where a strategy meets the checkpoint: it offers one at every step boundary
(:meth:`Monitor.at_boundary`) and hands a saved state back when a seed resumes (:meth:`Monitor.resume`). Its
own state (history, stall count) is part of what is saved.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from sciml.training.objective import Objective
from sciml.training.params import flatten
from sciml.training.records import History

log = logging.getLogger(__name__)


class Diverged(Exception):
    def __init__(self, step: int, loss: float):
        super().__init__(f"loss became {loss} at step {step}")
        self.step = step
        self.loss = loss


@dataclass
class Schedule:
    """When a seed's training is recorded and stopped: its steps, record interval, snapshots and stall rule."""

    steps: int
    log_every: int
    snapshots: int
    #: stop after this many consecutive steps that leave the parameters bit-for-bit unchanged (0: never)
    stop_when_stalled: int

    def record_steps(self) -> np.ndarray:
        steps = list(range(0, self.steps + 1, self.log_every))
        if steps[-1] != self.steps:
            steps.append(self.steps)
        return np.asarray(steps)

    def snapshot_steps(self) -> np.ndarray:
        return np.unique(np.linspace(0, self.steps, self.snapshots).round().astype(int))


class SeedCheckpoint(Protocol):
    """Where a monitor saves and resumes its seed (:class:`sciml.training.checkpoint.SeedCheckpoint`)."""

    def boundary(self, monitor: Monitor, strategy_state: Callable[[], dict[str, Any]]) -> None: ...

    def resume(self, monitor: Monitor) -> dict[str, Any] | None: ...


class Monitor:
    def __init__(self, objective: Objective, schedule: Schedule, checkpoint: SeedCheckpoint | None = None,
                 seed: int | str | None = None, on_step: Callable[[int, float | None], None] | None = None):
        """``on_step(step, latest loss)`` is called after every step (the job's progress log)."""
        self.objective = objective
        #: the seed being trained (or words naming it, with its cell), for the job log's line when it diverges
        self.seed = seed
        self.schedule = schedule
        self.checkpoint = checkpoint
        self.on_step = on_step
        self.latest_loss: float | None = None
        total, components = objective.loss()
        params = flatten(objective.parameters())
        self.history = History(
            components=list(components),
            record_steps=schedule.record_steps(),
            snapshot_steps=schedule.snapshot_steps(),
            n_params=params.numel(),
        )
        self._record_index = {int(s): i for i, s in enumerate(self.history.record_steps)}
        self._snapshot_index = {int(s): i for i, s in enumerate(self.history.snapshot_steps)}
        self._previous = params
        self._stalled = 0
        self.steps_run = 0
        self._observe(0, params, total, components)

    def _evaluate(self, total=None, components=None) -> tuple[float, dict[str, float], float]:
        """Loss, its terms and the test error at the current parameters (the loss as given when already known)."""
        if total is None:
            total, components = self.objective.loss()
        return total.item(), {name: value.item() for name, value in components.items()}, self.objective.test_error()

    def _observe(self, step: int, params: torch.Tensor, total=None, components=None) -> None:
        h = self.history
        if step in self._record_index:
            i = self._record_index[step]
            self.latest_loss, terms, h.test_error[i] = self._evaluate(total, components)
            h.train_loss[i] = self.latest_loss
            for name, value in terms.items():
                h.terms[name][i] = value
        if step in self._snapshot_index:
            h.snapshots[self._snapshot_index[step]] = params.cpu().numpy()

    def after_step(self, step: int, loss: float | None = None) -> bool:
        """Record step ``step``; return True when training should stop early (converged)."""
        self.steps_run = step
        params = flatten(self.objective.parameters())
        if (loss is not None and not np.isfinite(loss)) or not bool(torch.isfinite(params).all()):
            what = f"loss {loss}" if loss is not None and not np.isfinite(loss) else f"parameters not finite (loss {loss})"
            who = "a seed" if self.seed is None else f"seed {self.seed}"
            log.warning("%s diverged at step %d: %s; the cell records it as diverged", who, step, what)
            raise Diverged(step, float("nan") if loss is None else loss)
        self._observe(step, params)
        if self.on_step is not None:
            self.on_step(step, loss if loss is not None else self.latest_loss)
        if torch.equal(params, self._previous):
            self._stalled += 1
        else:
            self._stalled = 0
        self._previous = params
        if self.schedule.stop_when_stalled and self._stalled >= self.schedule.stop_when_stalled:
            self._fill_forward(step, params)
            return True
        return False

    def at_boundary(self, strategy_state: Callable[[], dict[str, Any]]) -> None:
        """Called before every step, where the strategy's state is complete: a checkpoint may be saved."""
        if self.checkpoint is not None:
            self.checkpoint.boundary(self, strategy_state)

    def resume(self) -> dict[str, Any] | None:
        """The strategy's saved state when this seed goes on from a checkpoint, after restoring the model,
        this monitor and the random generators to that moment; None for a fresh start."""
        return None if self.checkpoint is None else self.checkpoint.resume(self)

    def state_dict(self) -> dict[str, Any]:
        h = self.history
        return {
            "train_loss": h.train_loss.copy(),
            "test_error": h.test_error.copy(),
            "terms": {name: values.copy() for name, values in h.terms.items()},
            "snapshots": h.snapshots.copy(),
            "previous": self._previous.clone(),
            "stalled": self._stalled,
            "steps_run": self.steps_run,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        h = self.history
        h.train_loss[:], h.test_error[:], h.snapshots[:] = state["train_loss"], state["test_error"], state["snapshots"]
        for name, values in state["terms"].items():
            h.terms[name][:] = values
        self._previous = state["previous"].to(self._previous.device)
        self._stalled, self.steps_run = state["stalled"], state["steps_run"]

    def _fill_forward(self, step: int, params: torch.Tensor) -> None:
        """Parameters no longer move, so every later record and snapshot equals the current state."""
        h = self.history
        later = h.record_steps > step
        if later.any():
            if step in self._record_index:  # just recorded at these very parameters: copy, do not evaluate again
                i = self._record_index[step]
                total, test_error = h.train_loss[i], h.test_error[i]
                terms = {name: values[i] for name, values in h.terms.items()}
            else:
                total, terms, test_error = self._evaluate()
            h.train_loss[later], h.test_error[later] = total, test_error
            for name, value in terms.items():
                h.terms[name][later] = value
        h.snapshots[h.snapshot_steps > step] = params.cpu().numpy()
