"""The jobs of the ``diagnostics:`` section: one per selected cell, one combination per (model, problem,
strategy), and the figures drawn from the combinations (called by :func:`sciml.workflow.plan.build_plan`)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from sciml import naming
from sciml.diagnostic_jobs import KINDS
from sciml.models import ARCHITECTURES
from sciml.problems import get_problem
from sciml.workflow.codehash import code_hash
from sciml.workflow.jobs import Job, Plan, figure_job

#: what every diagnostic job runs (with its kind's module, problem and model); what combines a diagnostic's cells
RUNNER = "sciml.diagnostic_jobs.run"
COMBINER = "sciml.diagnostic_jobs.combine"


def set_figures(kind: str, settings: Mapping[str, Any], whole_grid: bool) -> list[str]:
    """Figures drawn from one (model, problem, strategy) combination of a diagnostic."""
    if kind == "curvature":
        return (["curvature_map"] if whole_grid else []) + (["sharpening"] if settings["snapshots"] == "all" else [])
    return {"density": ["spectra"], "landscape": ["landscapes"], "connectivity": ["connectivity"],
            "similarity": ["cka_map"]}.get(kind, [])  # a kind without a figure of its own is still combined


def across_figures(kind: str, settings: Mapping[str, Any]) -> list[str]:
    """Figures drawn from every combination of a diagnostic together."""
    if kind == "tail_alpha":
        return ["tail_alpha"]
    return ["sharpening_regimes"] if kind == "curvature" and settings["snapshots"] == "all" else []


def _figure_job(plan: Plan, family: str, name: str, figure: str, inputs: tuple[str, ...]) -> None:
    stem = naming.figure_stem(plan.results, family, f"{name}_{figure}")
    plan.figures[stem] = figure_job(stem, figure, inputs)


def plan_diagnostics(config: Mapping[str, Any], plan: Plan) -> None:
    studies = {(s["model"], s["problem"]): s for s in config["studies"]}
    for name, diagnostic in config.get("diagnostics", {}).items():
        kind = KINDS[diagnostic["kind"]]
        settings = diagnostic["settings"]
        sets = []
        for selection in diagnostic["select"]:
            model, problem_name, strategy = selection["model"], selection["problem"], selection["strategy"]
            study = studies[(model, problem_name)]
            problem = get_problem(problem_name)
            versus = selection.get("versus")
            folder = f"{strategy}_vs_{versus}" if versus else strategy
            code = code_hash([RUNNER, kind.module.__name__, type(problem),
                              ARCHITECTURES[config["models"][model]["architecture"]]])
            grid = [dict(zip(study["axes"], values)) for values in itertools.product(*study["axes"].values())]
            paths = []
            for axes in selection["cells"] or grid:
                path = naming.diagnostic_path(plan.results, name, model, problem_name, folder, axes)
                cells = [naming.cell_path(plan.results, model, problem_name, s, axes) for s in (strategy, versus) if s]
                plan.diagnostics[path] = Job(path, {
                    "diagnostic": name, "kind": kind.name, "settings": settings, "model": model,
                    "problem": problem_name, "strategy": strategy, "versus": versus, "axes": axes, "code": code,
                }, (*cells, *plan.cell_data[cells[0]]))
                paths.append(path)
            combined = naming.diagnostic_set_path(plan.results, name, model, problem_name, folder)
            plan.diagnostic_sets[combined] = Job(combined, {
                "diagnostic": name, "kind": kind.name, "model": model, "problem": problem_name,
                "strategy": strategy, "versus": versus, "axes": list(study["axes"]), "settings": settings,
                "flags": diagnostic["flags"],
                "code": code_hash([COMBINER]),
            }, (naming.regime_path(plan.results, model, problem_name, strategy), *paths))
            for figure in set_figures(kind.name, settings, whole_grid=not selection["cells"]):
                _figure_job(plan, name, f"{model}_{problem_name}_{folder}", figure, (combined,))
            sets.append(combined)
        for figure in across_figures(kind.name, settings):
            _figure_job(plan, name, "all", figure, tuple(sets))

