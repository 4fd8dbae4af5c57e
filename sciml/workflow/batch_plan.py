"""Cells trained together (the ``cells_together`` option): which cells join, and the job of each batch.

A batch holds the cells of one (model, problem, strategy) that differ only in their PDE coefficient: the
PINN cells of one N_f column of a grid share their collocation points, so all their seeds train as one
vectorised model (:func:`sciml.training.batched.runners.train_cells_together`). The batch job writes every
member into one file (``RESULTS/batches/...``) and keeps the members that file already holds with the same
spec, so a new grid value trains only its own cell. Each cell's job then copies its member out into the
cell's usual file. It reads the batch file as ``ancient`` (workflow/rules/train.smk): a batch job that kept
a member reruns neither that cell's job nor anything made from the cell.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from typing import Any

from sciml import naming
from sciml.problems.base import Problem
from sciml.provenance import canonical_json
from sciml.strategies import build_strategy
from sciml.training.batched import batched_form
from sciml.workflow.jobs import Job, Plan


def joins(problem: Problem, strategy_settings: Mapping[str, Any]) -> bool:
    """Whether cells of ``problem`` trained with these strategy settings can train together: an objective that
    joins cells, and a strategy with a batched form (not compiled: a compiled loss serves one cell's rows)."""
    if not problem.cells_join:
        return False
    strategy = build_strategy(strategy_settings)
    return batched_form(strategy) and not strategy.settings.get("compile", False)


class CellBatches:
    """The cells of one (model, problem, strategy) that train together, gathered into batches as the plan
    meets them (:meth:`add`), then planned as jobs (:meth:`plan`)."""

    def __init__(self, results: str, model: str, problem: Problem, strategy: str):
        self.results, self.model, self.problem, self.strategy = results, model, problem, strategy
        #: cells of one shape (their spec but the difficulty axis) -> (cell path, spec, inputs) of each member
        self.groups: dict[str, list[tuple[str, dict[str, Any], tuple[str, ...]]]] = {}

    def add(self, path: str, spec: dict[str, Any], inputs: tuple[str, ...]) -> None:
        shape = canonical_json({**spec, "axes": self._other_axes(spec)})
        self.groups.setdefault(shape, []).append((path, spec, inputs))

    def plan(self, plan: Plan) -> None:
        """A job per batch, whose inputs are its members' data; each member's job reads the batch file only."""
        names = [naming.cell_id(self._other_axes(members[0][1])) or "all" for members in self.groups.values()]
        shared = Counter(names)
        for name, members in zip(names, self.groups.values()):
            if shared[name] > 1:  # cell overrides split a column: its batches are told apart by their settings
                settings = canonical_json(members[0][1]["strategy_settings"]).encode()
                name = f"{name}__settings={hashlib.sha256(settings).hexdigest()[:8]}"
            path = naming.batch_path(self.results, self.model, self.problem.name, self.strategy, name)
            inputs = tuple(dict.fromkeys(data for _, _, cell_inputs in members for data in cell_inputs))
            plan.batches[path] = Job(path, {"cells": [spec for _, spec, _ in members]}, inputs)
            for cell, spec, _ in members:
                plan.cells[cell] = Job(cell, spec, (path,))

    def _other_axes(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        return {axis: value for axis, value in spec["axes"].items() if axis != self.problem.difficulty_axis}
