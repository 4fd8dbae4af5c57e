"""Train every seed of a cell together, or every seed of several cells, for the strategies that have a batched
form.

:func:`train_seeds_together` is what :func:`sciml.training.train.train_cell` tries first. It returns None (and the
cell is trained one seed after another) unless the strategy's ``batch_seeds`` setting is on, its method has a
batched form here (``lbfgs``, ``adam``, ``adam_lbfgs``) and the objective supports seed batching.
:func:`train_cells_together` trains the seeds of several cells of one shape (cells that differ only in the
value of their difficulty axis) as one batch, each row on its own cell's problem.

Everything a seed records follows the sequential path's rules: the same initial parameters (same seeding),
one real :class:`~sciml.training.monitor.Monitor` per seed (history, snapshots, divergence, stalling), the phase
rules of :mod:`sciml.training.stepping`, and the same final evaluation. A seed that stops (stalled or
diverged) leaves the batch; the others go on. ``wall_time`` of a seed is the cell's training time divided
by its number of seeds, so that, as in the sequential path, the seeds' times add up to the cell's.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import torch
import xarray as xr

from sciml.models.build import seeded_model
from sciml.problems import get_problem
from sciml.problems.base import Problem
from sciml.strategies import build_strategy
from sciml.strategies.base import Strategy
from sciml.strategies.phases import lbfgs_arguments
from sciml.training.batched import BATCHED_METHODS, batchable, batched_form
from sciml.training.batched.adam import BatchedAdam
from sciml.training.batched.batch import SeedBatch, SeedView
from sciml.training.batched.checkpoint import BatchCheckpoint, Position
from sciml.training.batched.lbfgs import BatchedLBFGS
from sciml.training.monitor import Diverged, Monitor, Schedule
from sciml.training.objective import Objective
from sciml.training.records import STATUS_DIVERGED, STATUS_OK, SeedResult, seed_result
from sciml.training.stepping import run_phases


class BatchOptimizer(Protocol):
    """A batched optimizer: steps the given rows, and saves and restores its state for checkpoints."""

    def step(self, rows: Sequence[int]) -> list[float]:
        """One step of ``rows``, returning each row's loss as the optimizer saw it."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


#: a strategy's phases: (length in steps, optimizer), built before the first step
Phases = list[tuple[int, BatchOptimizer]]


def _lbfgs(batch: SeedBatch, s: Mapping[str, Any], lr_key: str) -> BatchedLBFGS:
    return BatchedLBFGS(batch, **lbfgs_arguments(s, lr_key))


def lbfgs_phases(batch: SeedBatch, s: Mapping[str, Any]) -> Phases:
    return [(int(s["steps"]), _lbfgs(batch, s, "lr"))]


def adam_phases(batch: SeedBatch, s: Mapping[str, Any]) -> Phases:
    adam = BatchedAdam(batch, lr=s["lr"], betas=s["betas"], eps=s["eps"], weight_decay=s["weight_decay"],
                       lr_decay=s["lr_decay"])
    return [(int(s["steps"]), adam)]


def adam_lbfgs_phases(batch: SeedBatch, s: Mapping[str, Any]) -> Phases:
    adam = BatchedAdam(batch, lr=s["adam_lr"], betas=s["adam_betas"], eps=s["adam_eps"])
    return [(int(s["adam_steps"]), adam), (int(s["lbfgs_steps"]), _lbfgs(batch, s, "lbfgs_lr"))]


#: each batched method's phases (the methods are sciml.training.batched.BATCHED_METHODS)
PHASES: dict[str, Callable[[SeedBatch, Mapping[str, Any]], Phases]] = {
    "lbfgs": lbfgs_phases,
    "adam": adam_phases,
    "adam_lbfgs": adam_lbfgs_phases,
}


def supports_seed_batching(objective: Objective) -> bool:
    cls = type(objective)
    return cls.batched_residuals is not Objective.batched_residuals and \
        cls.batched_test_error is not Objective.batched_test_error


class SeedMonitors:
    """Each seed's monitor and outcome while its batch trains."""

    def __init__(self, batch: SeedBatch, schedule: Schedule, seeds: Sequence[int | str] | None = None,
                 on_step: Callable[[int, float | None], None] | None = None):
        self.batch = batch
        self.monitors = [Monitor(SeedView(batch, row), schedule, seed=None if seeds is None else seeds[row],
                                 on_step=on_step) for row in range(batch.size)]
        self.status = [STATUS_OK] * batch.size
        self.stop_step = [0] * batch.size

    def state_dict(self) -> dict[str, Any]:
        return {"monitors": [monitor.state_dict() for monitor in self.monitors], "status": list(self.status),
                "stop_step": list(self.stop_step)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for monitor, saved in zip(self.monitors, state["monitors"]):
            monitor.load_state_dict(saved)
        self.status, self.stop_step = list(state["status"]), list(state["stop_step"])

    def after_step(self, step: int, rows: list[int], losses: Sequence[float]) -> tuple[list[int], list[int]]:
        """Report ``step`` of ``rows``; returns the rows that go on and those that stalled."""
        self.batch.live = rows  # the monitors' shared evaluation covers the rows just stepped
        going, stalled = [], []
        for row, loss in zip(rows, losses):
            try:
                stop = self.monitors[row].after_step(step, loss)
            except Diverged as diverged:
                self.status[row], self.stop_step[row] = STATUS_DIVERGED, diverged.step
                continue
            (stalled if stop else going).append(row)
        return going, stalled


def train_batch(phases: Phases, seeds: SeedMonitors, checkpoint: BatchCheckpoint | None = None) -> None:
    """The phases on the step loop every strategy runs (:func:`sciml.training.stepping.run_phases`); with a
    ``checkpoint``, from its saved position, saving at step boundaries."""

    def take_step(phase: int, step: int, rows: list[int]) -> tuple[list[int], list[int]]:
        return seeds.after_step(step, rows, phases[phase][1].step(rows))

    lengths = [length for length, _ in phases]
    if checkpoint is None:
        run_phases(lengths, take_step, range(seeds.batch.size))
        return
    at = checkpoint.resume(phases, seeds)
    run_phases(lengths, take_step, at.going, at.phase, at.step, at.waiting,
               before_step=lambda *position: checkpoint.boundary(Position(*position), phases, seeds))


def train_seeds_together(
    spec: Mapping[str, Any], data: Mapping[str, xr.Dataset], device: torch.device,
    on_step: Callable[[int, float | None], None] | None = None, checkpoint: BatchCheckpoint | None = None,
) -> list[SeedResult] | None:
    """Every seed of the cell trained as one batch, or None when the cell cannot be trained that way.
    ``on_step(step, loss)`` follows the steps of every seed (:class:`sciml.training.monitor.Monitor`); with a
    ``checkpoint``, training saves its progress and goes on from a saved one."""
    strategy = build_strategy(spec["strategy_settings"])
    if not batchable(strategy):
        return None
    problem = get_problem(spec["problem"])
    settings = problem.settings(spec["problem_settings"])
    models = seed_models(spec, problem, device)
    objective = problem.objective(settings, spec["axes"], data, models[0], device)
    if not supports_seed_batching(objective):
        return None

    batch = SeedBatch(objective, models, compiled=strategy.settings["compile"])
    return train_rows(batch, strategy, spec["seeds"], on_step, checkpoint=checkpoint)


def seed_models(spec: Mapping[str, Any], problem: Problem, device: torch.device) -> list[torch.nn.Module]:
    """The cell's model at each of its seeds' initial parameters, in the order of its seeds."""
    return [seeded_model(spec["model_settings"], problem.input_dim, problem.output_dim, seed, device)
            for seed in spec["seeds"]]


#: what cells trained together must share: everything but their axis values
SHARED_BY_CELLS = ("model", "model_settings", "problem", "problem_settings", "strategy", "strategy_settings")


def train_cells_together(
    specs: Sequence[Mapping[str, Any]], datas: Sequence[Mapping[str, xr.Dataset]], device: torch.device,
    on_step: Callable[[int, float | None], None] | None = None, checkpoint: BatchCheckpoint | None = None,
) -> list[list[SeedResult]]:
    """Every seed of every cell in ``specs`` (each with its data in ``datas``) trained as one batch: the seeds
    of each cell, cell after cell, are the rows. Each row keeps its own optimizer state, line search, monitor
    and stopping, as in :func:`train_seeds_together`, so each cell's results equal those of training it alone
    to float tolerance. The cells must share everything but their axis values, and their objectives must join
    (:meth:`~sciml.training.objective.Objective.joined`: for PINNs, one value of the data axis). Returns each
    cell's seed results. With a ``checkpoint``, training saves its progress and goes on from a saved one."""
    first = specs[0]
    for spec in specs[1:]:
        for key in SHARED_BY_CELLS:
            if spec[key] != first[key]:
                raise ValueError(f"cells at {spec['axes']} and {first['axes']} differ in {key}: only cells that "
                                 "differ in their axis values train together")
    strategy = build_strategy(first["strategy_settings"])
    if not batched_form(strategy):
        raise ValueError(f"method {strategy.method!r} (with its learning-rate schedule) has no batched form; cells "
                         f"train together with {sorted(BATCHED_METHODS)} and a constant or exponential schedule only")
    problem = get_problem(first["problem"])
    settings = problem.settings(first["problem_settings"])
    models, objectives, seeds, labels = [], [], [], []
    for spec, data in zip(specs, datas):
        cell_models = seed_models(spec, problem, device)
        objectives.append(problem.objective(settings, spec["axes"], data, cell_models[0], device))
        models += cell_models
        seeds += list(spec["seeds"])
        where = ", ".join(f"{axis}={value:g}" for axis, value in spec["axes"].items())
        labels += [f"{seed} of the cell at {where}" for seed in spec["seeds"]]
    copies = [len(spec["seeds"]) for spec in specs]
    rows_objective = objectives[0].joined(objectives[1:], copies)
    batch = SeedBatch(objectives[0], models, compiled=strategy.settings["compile"], rows_objective=rows_objective)
    results = train_rows(batch, strategy, seeds, on_step, labels, checkpoint)
    ends = list(itertools.accumulate(copies))
    return [results[end - n:end] for n, end in zip(copies, ends)]


def train_rows(batch: SeedBatch, strategy: Strategy, seeds: Sequence[int],
               on_step: Callable[[int, float | None], None] | None = None,
               labels: Sequence[str] | None = None, checkpoint: BatchCheckpoint | None = None) -> list[SeedResult]:
    """Train every row of ``batch`` (row i is seed ``seeds[i]``, named ``labels[i]`` in the job log when given)
    with the strategy's batched phases; each row's result, its ``wall_time`` the batch's training time over its
    rows."""
    monitors = SeedMonitors(batch, strategy.schedule(), labels or seeds, on_step)
    start = time.perf_counter()
    train_batch(PHASES[strategy.method](batch, strategy.settings), monitors, checkpoint)
    elapsed = time.perf_counter() - start + (checkpoint.elapsed_before if checkpoint is not None else 0.0)
    wall_time = elapsed / batch.size

    finished = [row for row in range(batch.size) if monitors.status[row] == STATUS_OK]
    batch.changed()
    batch.live = finished
    results = []
    for row, seed in enumerate(seeds):
        finished_ok = monitors.status[row] == STATUS_OK
        stop_step = monitors.monitors[row].steps_run if finished_ok else monitors.stop_step[row]
        results.append(seed_result(seed, monitors.monitors[row].history, batch.theta[row].cpu().numpy(),
                                   monitors.status[row], stop_step, wall_time,
                                   batch.observed(row) if finished_ok else None))
    return results
