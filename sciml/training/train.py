"""Train one grid cell: every seed of one (model, problem, strategy, axis values), into one dataset."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
import xarray as xr

from sciml.models.build import seeded_model
from sciml.problems import get_problem
from sciml.provenance import provenance_attrs
from sciml.strategies import build_strategy
from sciml.training.batched import batchable
from sciml.training.checkpoint import CellProgress, Checkpointer
from sciml.training.memory import memory_named
from sciml.training.monitor import Diverged, Monitor
from sciml.training.params import flatten
from sciml.training.progress import ProgressLog
from sciml.training.records import STATUS_DIVERGED, STATUS_OK, SeedResult, cell_dataset, seed_result

if TYPE_CHECKING:
    from sciml.training.batched.checkpoint import BatchCheckpoint

log = logging.getLogger(__name__)


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def train_seed(spec: Mapping[str, Any], data: Mapping[str, xr.Dataset], seed: int, device: torch.device,
               progress: CellProgress | None = None,
               on_step: Callable[[int, float | None], None] | None = None) -> SeedResult:
    """Train one seed; with ``progress``, save checkpoints and go on from a saved state of this seed.
    ``on_step(step, loss)`` follows the steps (:class:`sciml.training.monitor.Monitor`)."""
    problem = get_problem(spec["problem"])
    settings = problem.settings(spec["problem_settings"])
    with memory_named(lambda: cell_name(spec), device, f"seed {seed}"):
        model = seeded_model(spec["model_settings"], problem.input_dim, problem.output_dim, seed, device)
        objective = problem.objective(settings, spec["axes"], data, model, device)
        strategy = build_strategy(spec["strategy_settings"])
        checkpoint = progress.seed_checkpoint(seed, model) if progress is not None else None
        monitor = Monitor(objective, strategy.schedule(), checkpoint, seed=seed, on_step=on_step)

        start = time.perf_counter()
        try:
            strategy.run(objective, monitor)
            status, stop_step = STATUS_OK, monitor.steps_run
        except Diverged as diverged:
            status, stop_step = STATUS_DIVERGED, diverged.step
        wall_time = time.perf_counter() - start + (checkpoint.elapsed_before if checkpoint is not None else 0.0)
        final = (*objective.loss(), objective.test_error()) if status == STATUS_OK else None
    return seed_result(seed, monitor.history, flatten(objective.parameters()).cpu().numpy(), status, stop_step,
                       wall_time, final, strategy.statistics())


def train_cell(
    spec: Mapping[str, Any],
    data: Mapping[str, xr.Dataset],
    device: torch.device | None = None,
    checkpointer: Checkpointer | None = None,
) -> xr.Dataset:
    """Train every seed of the cell described by ``spec`` (see :func:`sciml.workflow.plan.cell_spec`), one after
    another; with a ``checkpointer``, save progress as it goes and go on from a saved one (sciml.training.checkpoint)."""
    device = device or default_device()
    strategy = build_strategy(spec["strategy_settings"])
    steps = strategy.schedule().steps
    seeds = list(spec["seeds"])
    log.info("training %s: %d seed(s) x %d steps on %s", cell_name(spec), len(seeds), steps, device)
    if batchable(strategy):
        batched = _train_together(spec, data, device, steps, checkpointer)
        if batched is not None:
            results, attrs = batched
            return cell_dataset(spec["axes"], results, {**provenance_attrs(spec, device), **attrs,
                                                        "seed_batching": "together"})
    progress = CellProgress(checkpointer, device)
    log_progress = ProgressLog(steps * len(seeds))
    results = []
    for index, seed in enumerate(seeds):
        def on_step(step, loss, index=index, seed=seed):
            log_progress.update(index * steps + step, loss, f"seed {seed} ({index + 1} of {len(seeds)})")

        result = progress.finished[seed] if seed in progress.finished else \
            train_seed(spec, data, seed, device, progress, on_step)
        progress.finish(result)
        results.append(result)
    attrs = {**provenance_attrs(spec, device), **progress.provenance(), "seed_batching": "one by one"}
    return cell_dataset(spec["axes"], results, attrs)


def train_cells(specs: Sequence[Mapping[str, Any]], datas: Sequence[Mapping[str, xr.Dataset]],
                device: torch.device | None = None, checkpointer: Checkpointer | None = None) -> list[xr.Dataset]:
    """Train the cells ``specs`` (each with its data in ``datas``) as one batch of all their seeds
    (:func:`sciml.training.batched.runners.train_cells_together`): cells of one shape, differing only in their
    axis values. One dataset per cell, as :func:`train_cell` makes it; with a ``checkpointer``, progress is
    saved as it goes and training goes on from a saved one."""
    from sciml.training.batched.runners import train_cells_together  # only a batched job loads the batched optimizers

    device = device or default_device()
    steps = build_strategy(specs[0]["strategy_settings"]).schedule().steps
    names = ", ".join(cell_name(spec) for spec in specs)
    log.info("training %d cells together: %s; %d seed(s) each x %d steps on %s", len(specs), names,
             len(specs[0]["seeds"]), steps, device)
    together = ProgressLog(steps)
    checkpoint = _batch_checkpoint(checkpointer, device)
    with memory_named(lambda: names, device, f"{len(specs)} cells together"):
        results = train_cells_together(specs, datas, device, checkpoint=checkpoint,
                                       on_step=lambda step, loss: together.update(step, loss, "cells together"))
    attrs = {**_resumes(checkpoint), "seed_batching": f"together, with {len(specs)} cells"}
    return [cell_dataset(spec["axes"], cell, {**provenance_attrs(spec, device), **attrs})
            for spec, cell in zip(specs, results)]


def _train_together(spec: Mapping[str, Any], data: Mapping[str, xr.Dataset], device: torch.device,
                    steps: int, checkpointer: Checkpointer | None) -> tuple[list[SeedResult], dict[str, str]] | None:
    """Every seed as one batch, with the provenance of its checkpoints; None where the objective cannot batch
    its seeds."""
    from sciml.training.batched.runners import train_seeds_together  # only a batched cell loads the batched optimizers

    together = ProgressLog(steps)
    checkpoint = _batch_checkpoint(checkpointer, device)
    with memory_named(lambda: cell_name(spec), device, f"seeds {list(spec['seeds'])} together"):
        results = train_seeds_together(spec, data, device, checkpoint=checkpoint,
                                       on_step=lambda step, loss: together.update(step, loss, "seeds together"))
    return None if results is None else (results, _resumes(checkpoint))


def _batch_checkpoint(checkpointer: Checkpointer | None, device: torch.device) -> BatchCheckpoint | None:
    from sciml.training.batched.checkpoint import BatchCheckpoint

    return None if checkpointer is None else BatchCheckpoint(checkpointer, device)


def _resumes(checkpoint: BatchCheckpoint | None) -> dict[str, str]:
    """The ``checkpoint_resumes`` provenance of a batch (``[]`` for one trained in one go)."""
    return checkpoint.provenance() if checkpoint is not None else {"checkpoint_resumes": "[]"}


def cell_name(spec: Mapping[str, Any]) -> str:
    """model/problem/strategy at axis values, as a log line names a cell."""
    axes = " ".join(f"{axis}={value:g}" for axis, value in spec["axes"].items())
    return f"{spec['model']}/{spec['problem']}/{spec['strategy']} at {axes}"
