"""Train every seed of a cell together, for the strategies that have a batched form.

:func:`train_seeds_together` is what :func:`sciml.train.train_cell` tries first. It returns None (and the
cell is trained one seed after another) unless the strategy's ``batch_seeds`` setting is on, its method has a
batched form here (``lbfgs``, ``adam``, ``adam_lbfgs``) and the objective supports seed batching.

Everything a seed records follows the sequential path's rules: the same initial parameters (same seeding),
one real :class:`~sciml.monitor.Monitor` per seed (history, snapshots, divergence, stalling), the phase
rules of :mod:`sciml.strategies.adam_lbfgs`, and the same final evaluation. A seed that stops (stalled or
diverged) leaves the batch; the others go on. ``wall_time`` of a seed is the cell's training time divided
by its number of seeds, so that, as in the sequential path, the seeds' times add up to the cell's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr

from sciml.batched.adam import BatchedAdam
from sciml.batched.batch import SeedBatch, SeedView
from sciml.batched.lbfgs import BatchedLBFGS
from sciml.models import build_model
from sciml.monitor import Diverged, Monitor, Plan
from sciml.objective import Objective
from sciml.problems import get_problem
from sciml.store import STATUS_DIVERGED, STATUS_OK, SeedResult
from sciml.strategies import build_strategy
from sciml.strategies.adam_lbfgs import LINE_SEARCHES
from sciml.strategies.base import Strategy

#: one step of the given rows, returning each row's loss as its optimizer saw it
BatchStep = Callable[[list[int]], list[float]]
#: a strategy's phases: (length in steps, step function), built before the first step
Phases = list[tuple[int, BatchStep]]

def _lbfgs(batch: SeedBatch, s: Mapping[str, Any], lr_key: str) -> BatchStep:
    return BatchedLBFGS(batch, lr=s[lr_key], max_iter=s["max_iter"], history_size=s["history_size"],
                        line_search_fn=LINE_SEARCHES[s["line_search"]], tolerance_grad=s["tolerance_grad"],
                        tolerance_change=s["tolerance_change"]).step


def lbfgs_phases(batch: SeedBatch, s: Mapping[str, Any]) -> Phases:
    return [(int(s["steps"]), _lbfgs(batch, s, "lr"))]


def adam_phases(batch: SeedBatch, s: Mapping[str, Any]) -> Phases:
    adam = BatchedAdam(batch, lr=s["lr"], betas=s["betas"], eps=s["eps"], weight_decay=s["weight_decay"])

    def step(rows: list[int]) -> list[float]:
        losses = adam.step(rows)
        adam.lr *= s["lr_decay"]  # as torch's ExponentialLR after each step; every row in the batch is at one step
        return losses

    return [(int(s["steps"]), step)]


def adam_lbfgs_phases(batch: SeedBatch, s: Mapping[str, Any]) -> Phases:
    adam = BatchedAdam(batch, lr=s["adam_lr"], betas=s["adam_betas"], eps=s["adam_eps"])
    return [(int(s["adam_steps"]), adam.step), (int(s["lbfgs_steps"]), _lbfgs(batch, s, "lbfgs_lr"))]


#: strategy methods with a batched form, and the modules that form runs through (for the code hash)
PHASES: dict[str, Callable[[SeedBatch, Mapping[str, Any]], Phases]] = {
    "lbfgs": lbfgs_phases,
    "adam": adam_phases,
    "adam_lbfgs": adam_lbfgs_phases,
}
BATCHED_CODE = ("batched/stacked.py", "batched/batch.py", "batched/lbfgs.py", "batched/adam.py")


def batchable(strategy: Strategy) -> bool:
    """Whether the strategy's seeds train together: batching on, a batched form of the method, and no
    learning-rate schedule beyond the exponential decay the batched Adam has."""
    return (strategy.method in PHASES and strategy.settings["batch_seeds"]
            and strategy.settings.get("schedule", "constant") == "constant")


def batched_code(strategy_settings: Mapping[str, Any]) -> tuple[str, ...]:
    """The package files (relative paths) that train a cell with these strategy settings, beyond the
    sequential path's: empty when its seeds are trained one after another."""
    return BATCHED_CODE if batchable(build_strategy(strategy_settings)) else ()


def supports_seed_batching(objective: Objective) -> bool:
    cls = type(objective)
    return cls.batched_residuals is not Objective.batched_residuals and \
        cls.batched_test_error is not Objective.batched_test_error


class SeedMonitors:
    """Each seed's monitor and outcome while its batch trains."""

    def __init__(self, batch: SeedBatch, plan: Plan, seeds: Sequence[int] | None = None,
                 on_step: Callable[[int, float | None], None] | None = None):
        self.batch = batch
        self.monitors = [Monitor(SeedView(batch, row), plan, seed=None if seeds is None else seeds[row],
                                 on_step=on_step) for row in range(batch.size)]
        self.status = [STATUS_OK] * batch.size
        self.stop_step = [0] * batch.size

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


def run_phases(phases: Phases, seeds: SeedMonitors) -> None:
    """The phases on one global step counter, as :meth:`sciml.strategies.adam_lbfgs.PhasedStrategy.run`:
    a stall ends a seed's run in the last phase of nonzero length and only its phase in an earlier one."""
    lengths = [length for length, _ in phases]
    last = max((i for i, n in enumerate(lengths) if n), default=-1)
    running = list(range(seeds.batch.size))
    start = 0
    for index, (length, take_step) in enumerate(phases):
        rows, waiting = list(running), []
        for step in range(start + 1, start + length + 1):
            if not rows:
                break
            rows, stalled = seeds.after_step(step, rows, take_step(rows))
            waiting += stalled if index != last else []
        running = sorted(rows + waiting)
        start += length


def seed_model(spec: Mapping[str, Any], input_dim: int, output_dim: int, seed: int,
               device: torch.device) -> torch.nn.Module:
    """The seed's initial network, as :func:`sciml.train.train_seed` builds it."""
    from sciml.train import DTYPES  # here: sciml.train imports this module

    model_settings = dict(spec["model_settings"])
    dtype = DTYPES[model_settings.pop("dtype", "float32")]
    torch.manual_seed(seed)
    return build_model(model_settings, input_dim, output_dim).to(device=device, dtype=dtype)


def train_seeds_together(
    spec: Mapping[str, Any], data: Mapping[str, xr.Dataset], device: torch.device,
    on_step: Callable[[int, float | None], None] | None = None,
) -> list[SeedResult] | None:
    """Every seed of the cell trained as one batch, or None when the cell cannot be trained that way.
    ``on_step(step, loss)`` follows the steps of every seed (:class:`sciml.monitor.Monitor`)."""
    strategy = build_strategy(spec["strategy_settings"])
    if not batchable(strategy):
        return None
    problem = get_problem(spec["problem"])
    settings = problem.settings(spec["problem_settings"])
    models = [seed_model(spec, problem.input_dim, problem.output_dim, seed, device) for seed in spec["seeds"]]
    objective = problem.objective(settings, spec["axes"], data, models[0], device)
    if not supports_seed_batching(objective):
        return None

    batch = SeedBatch(objective, models)
    seeds = SeedMonitors(batch, strategy.plan(), spec["seeds"], on_step)
    start = time.perf_counter()
    run_phases(PHASES[strategy.method](batch, strategy.settings), seeds)
    wall_time = (time.perf_counter() - start) / batch.size

    finished = [row for row in range(batch.size) if seeds.status[row] == STATUS_OK]
    batch.changed()
    batch.live = finished
    results = []
    for row, seed in enumerate(spec["seeds"]):
        monitor = seeds.monitors[row]
        if seeds.status[row] == STATUS_OK:
            total, components, test_error = batch.observed(row)
            train_loss, components = total.item(), {name: value.item() for name, value in components.items()}
            stop_step = monitor.steps_run
        else:
            train_loss, test_error = np.nan, np.nan
            components = {name: np.nan for name in monitor.history.components}
            stop_step = seeds.stop_step[row]
        results.append(SeedResult(
            seed=seed,
            history=monitor.history,
            final_params=batch.theta[row].cpu().numpy(),
            train_loss=train_loss,
            components=components,
            test_error=test_error,
            status=seeds.status[row],
            stop_step=stop_step,
            wall_time=wall_time,
        ))
    return results
