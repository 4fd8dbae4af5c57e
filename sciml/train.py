"""Train one grid cell: every seed of one (model, problem, strategy, axis values), into one dataset."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import xarray as xr

from sciml.batched.runners import train_seeds_together
from sciml.checkpoint import CellProgress, Checkpointer
from sciml.config import ConfigError
from sciml.models import build_model
from sciml.monitor import Diverged, Monitor
from sciml.params import flatten
from sciml.problems import get_problem
from sciml.progress import ProgressLog
from sciml.provenance import provenance_attrs
from sciml.store import STATUS_DIVERGED, STATUS_OK, SeedResult, cell_dataset
from sciml.strategies import build_strategy

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "float64": torch.float64}


class CellOutOfMemory(ConfigError):
    """A cell asked for more memory than its device has: the cell as configured does not fit this machine."""


#: what allocators say when they run out (torch's CPU and CUDA allocators, numpy)
_OUT_OF_MEMORY = re.compile(r"out of memory|not enough memory|can't allocate memory|tried to allocate|"
                            r"unable to allocate", re.IGNORECASE)
_ASKED = (re.compile(r"tried to allocate (\d+) bytes", re.IGNORECASE),  # torch CPU: a byte count
          re.compile(r"(?:tried|unable) to allocate ([\d.]+ ?[KMGTPE]i?B)", re.IGNORECASE))  # CUDA, numpy


def asked_memory(message: str) -> str:
    """How much memory an allocator's message says was asked for, in words."""
    found = _ASKED[0].search(message)
    if found:
        return f"{int(found.group(1)) / 2**30:.3g} GiB"
    found = _ASKED[1].search(message)
    return found.group(1) if found else "an amount the allocator did not say"


@contextmanager
def memory_named(spec: Mapping[str, Any], device: torch.device, seeds: str) -> Iterator[None]:
    """Turn an allocator's out-of-memory error into one naming the cell, the seed(s) and the memory asked for."""
    try:
        yield
    except (RuntimeError, MemoryError) as error:  # torch.OutOfMemoryError is a RuntimeError
        if not (isinstance(error, (MemoryError, torch.OutOfMemoryError)) or _OUT_OF_MEMORY.search(str(error))):
            raise
        said = (str(error).strip().splitlines() or [""])[0]
        raise CellOutOfMemory(
            f"training cell {cell_name(spec)} ({seeds}) ran out of memory on {device}: it tried to allocate "
            f"{asked_memory(str(error))}. Use a smaller model, fewer points or samples, or a machine with more "
            f"memory (the allocator said: {type(error).__name__}: {said})"
        ) from error


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def train_seed(spec: Mapping[str, Any], data: Mapping[str, xr.Dataset], seed: int, device: torch.device,
               progress: CellProgress | None = None,
               on_step: Callable[[int, float | None], None] | None = None) -> SeedResult:
    """Train one seed; with ``progress``, save checkpoints and go on from a saved state of this seed.
    ``on_step(step, loss)`` follows the steps (:class:`sciml.monitor.Monitor`)."""
    problem = get_problem(spec["problem"])
    settings = problem.settings(spec["problem_settings"])
    model_settings = dict(spec["model_settings"])
    dtype = DTYPES[model_settings.pop("dtype", "float32")]

    with memory_named(spec, device, f"seed {seed}"):
        torch.manual_seed(seed)
        model = build_model(model_settings, problem.input_dim, problem.output_dim).to(device=device, dtype=dtype)
        objective = problem.objective(settings, spec["axes"], data, model, device)
        strategy = build_strategy(spec["strategy_settings"])
        checkpoint = progress.seed_checkpoint(seed, model) if progress is not None else None
        monitor = Monitor(objective, strategy.plan(), checkpoint, seed=seed, on_step=on_step)

        start = time.perf_counter()
        try:
            strategy.run(objective, monitor)
            status, stop_step = STATUS_OK, monitor.steps_run
        except Diverged as diverged:
            status, stop_step = STATUS_DIVERGED, diverged.step
        wall_time = time.perf_counter() - start + (checkpoint.elapsed_before if checkpoint is not None else 0.0)

        if status == STATUS_OK:
            total, components = objective.loss()
            train_loss, test_error = total.item(), objective.test_error()
            components = {name: value.item() for name, value in components.items()}
    if status != STATUS_OK:
        train_loss, test_error = np.nan, np.nan
        components = {name: np.nan for name in monitor.history.components}
    return SeedResult(
        seed=seed,
        history=monitor.history,
        final_params=flatten(objective.parameters()).cpu().numpy(),
        train_loss=train_loss,
        components=components,
        test_error=test_error,
        status=status,
        stop_step=stop_step,
        wall_time=wall_time,
        statistics=strategy.statistics(),
    )


def train_cell(
    spec: Mapping[str, Any],
    data: Mapping[str, xr.Dataset],
    device: torch.device | None = None,
    checkpointer: Checkpointer | None = None,
) -> xr.Dataset:
    """Train every seed of the cell described by ``spec`` (see :func:`sciml.plan.cell_spec`), one after
    another; with a ``checkpointer``, save progress as it goes and go on from a saved one (sciml.checkpoint)."""
    device = device or default_device()
    steps = build_strategy(spec["strategy_settings"]).plan().steps
    seeds = list(spec["seeds"])
    log.info("training %s: %d seed(s) x %d steps on %s", cell_name(spec), len(seeds), steps, device)
    together = ProgressLog(steps)
    with memory_named(spec, device, f"seeds {seeds} together"):
        results = train_seeds_together(spec, data, device,  # None: the seeds cannot be trained together
                                       on_step=lambda step, loss: together.update(step, loss, "seeds together"))
    if results is not None:  # no checkpoints on this path yet: an interrupted batched cell starts over
        return cell_dataset(spec["axes"], results, {**provenance_attrs(spec, device), "seed_batching": "together"})
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


def cell_name(spec: Mapping[str, Any]) -> str:
    """model/problem/strategy at axis values, as a log line names a cell."""
    axes = " ".join(f"{axis}={value:g}" for axis, value in spec["axes"].items())
    return f"{spec['model']}/{spec['problem']}/{spec['strategy']} at {axes}"
