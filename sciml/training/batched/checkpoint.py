"""Checkpoints of rows trained together (the seeds of a cell, or of several cells): the batched path's
counterpart of :class:`sciml.training.checkpoint.CellProgress`.

A batch is saved between two global steps: its parameter matrix, the running phase's optimizer state (finished
phases are never used again and later ones have not started), every row's monitor and status, where the step
loop stands (phase, step, the rows about to take it and those that stalled earlier in the phase), the
training time so far and the global random generators. A resumed batch ends with the numbers of an
uninterrupted one on the same device and thread count. When to save, the atomic file, SIGTERM and the
identity check are the :class:`~sciml.training.checkpoint.Checkpointer`'s.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch

from sciml.provenance import canonical_json, device_description
from sciml.training.checkpoint import Checkpointer, rng_state, set_rng_state

if TYPE_CHECKING:
    from sciml.training.batched.runners import Phases, SeedMonitors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Position:
    """Where the step loop stands before a step (:func:`sciml.training.stepping.run_phases`)."""

    phase: int
    step: int
    going: list[int]
    waiting: list[int]


class BatchCheckpoint:
    """One batch's link to its job's checkpoint: restores a saved batch, saves at step boundaries."""

    def __init__(self, checkpointer: Checkpointer, device: torch.device):
        self.checkpointer = checkpointer
        self.device = device
        self._saved = checkpointer.load(device)
        #: every resumption of this batch: the step it went on at, and where the interrupted run trained
        self.resumes: list[dict[str, Any]] = self._saved["resumes"] if self._saved else []
        #: training seconds before this process took over
        self.elapsed_before = 0.0
        self._clock = time.perf_counter()

    def resume(self, phases: Phases, seeds: SeedMonitors) -> Position:
        """Restore the saved batch into ``phases`` and ``seeds``; where its step loop goes on (the start when
        nothing was saved)."""
        self._clock = time.perf_counter()
        batch = seeds.batch
        saved, self._saved = self._saved, None
        if saved is None:
            return Position(0, 1, list(range(batch.size)), [])
        at = Position(**saved["position"])
        batch.theta.copy_(saved["theta"])
        batch.live = list(saved["live"])
        batch.changed()
        phases[at.phase][1].load_state_dict(saved["optimizer"])
        seeds.load_state_dict(saved["seeds"])
        set_rng_state(saved["rng"])
        self.elapsed_before = saved["wall_time"]
        where = {"step": at.step, "rows_training": len(at.going) + len(at.waiting), "device": saved["device"],
                 "torch_threads": saved["torch_threads"]}
        self.resumes.append(where)
        log.info("%s: resuming %d rows at step %d, %d still training (saved on %s, %s threads)",
                 self.checkpointer.path, batch.size, at.step, where["rows_training"], where["device"],
                 where["torch_threads"])
        return at

    def boundary(self, at: Position, phases: Phases, seeds: SeedMonitors) -> None:
        """Before step ``at.step``: save when due or asked to stop (:meth:`Checkpointer.boundary`)."""
        self.checkpointer.boundary(lambda: {
            "position": asdict(at),
            "theta": seeds.batch.theta.clone(),
            "live": list(seeds.batch.live),
            "optimizer": phases[at.phase][1].state_dict(),
            "seeds": seeds.state_dict(),
            "rng": rng_state(),
            "wall_time": self.elapsed_before + time.perf_counter() - self._clock,
            "resumes": self.resumes,
            "device": device_description(self.device),
            "torch_threads": torch.get_num_threads(),
        })

    def provenance(self) -> dict[str, str]:
        return {"checkpoint_resumes": canonical_json(self.resumes)}
