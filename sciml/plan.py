"""From a validated configuration to every job of the workflow, each with the spec it runs.

A job's spec holds only the settings that determine its output (and a hash of the code that computes
it). Snakemake sees each spec as a param, so adding a grid value plans only the new cells, and changing one
study's settings or one problem's code reruns only the jobs that depend on them.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sciml import naming
from sciml.batched.runners import batched_code
from sciml.config import strategy_settings_for, thresholds_for
from sciml.diagnose.plan import plan_diagnostics
from sciml.models import ARCHITECTURES
from sciml.problems import get_problem
from sciml.provenance import TRAINING_CORE, canonical_json, code_hash
from sciml.strategies import METHODS

AGGREGATION_CODE = ("regimes.py", "store.py")
COMPARISON_CODE = ("compare.py", "store.py")
FIGURE_CODE = ("regimes.py", "figures/common.py", "figures/regime_map.py", "figures/comparison.py")
ROBUSTNESS_CODE = ("robustness.py", "regimes.py", "store.py")
GUIDANCE_CODE = ("guidance.py", "compare.py", "regimes.py", "store.py")
ANALYSIS_FIGURE_CODE = ("regimes.py", "guidance.py", "figures/common.py", "figures/robustness.py", "figures/guidance.py")


#: the Plan fields holding jobs, upstream first
JOB_KINDS = ("data", "cells", "regimes", "comparisons", "analyses", "diagnostics", "diagnostic_sets", "figures")


@dataclass(frozen=True)
class Job:
    output: str
    spec: dict[str, Any]
    inputs: tuple[str, ...] = ()

    @property
    def spec_json(self) -> str:
        return canonical_json(self.spec)


@dataclass
class Plan:
    results: str
    #: seconds between training checkpoints (0: none); not in any spec, as it does not change a result
    checkpoint_every: float = 0
    data: dict[str, Job] = field(default_factory=dict)
    cells: dict[str, Job] = field(default_factory=dict)
    regimes: dict[str, Job] = field(default_factory=dict)
    comparisons: dict[str, Job] = field(default_factory=dict)
    figures: dict[str, Job] = field(default_factory=dict)
    #: analyses of the regime datasets (sciml/robustness.py, sciml/guidance.py); keyed by their NetCDF output
    analyses: dict[str, Job] = field(default_factory=dict)
    #: diagnostic jobs on trained cells (sciml/diagnose): per cell, and combined per (model, problem, strategy)
    diagnostics: dict[str, Job] = field(default_factory=dict)
    diagnostic_sets: dict[str, Job] = field(default_factory=dict)

    def jobs(self) -> Iterator[tuple[str, Job]]:
        """Every job with its kind."""
        for kind in JOB_KINDS:
            for job in getattr(self, kind).values():
                yield kind, job

    def missing_intermediates(self, exists: Callable[[str], bool] = os.path.exists) -> dict[str, str]:
        """Results this plan produces that are missing while a result made from them is present: missing file ->
        one such present result.

        Snakemake calls a job up to date when its output exists, even if one of its inputs is missing but could
        be produced: a deleted cell file (say, a corrupt one) would never come back, and the figures made from it
        would stay. The Snakefile forces these files, which rebuilds them and everything made from them.
        """
        produced = {job.output for _, job in self.jobs()}
        missing: dict[str, str] = {}
        for kind, job in self.jobs():
            present = exists(f"{job.output}.png" if kind == "figures" else job.output)
            for path in job.inputs if present else ():
                if path in produced and path not in missing and not exists(path):
                    missing[path] = job.output
        return missing

    def lookup(self, kind: str, output: str) -> Job:
        jobs: dict[str, Job] = getattr(self, kind)
        try:
            return jobs[output]
        except KeyError:
            raise KeyError(f"{output} is not a {kind} output of this configuration") from None


def build_plan(config: Mapping[str, Any]) -> Plan:
    """Every job of a validated configuration (see :func:`sciml.config.validate`)."""
    results = config["results"]
    plan = Plan(results=results, checkpoint_every=config["checkpoint_every"])
    figure_code = code_hash([], extra=FIGURE_CODE)
    by_model_strategy: dict[tuple[str, str], list[str]] = {}
    by_model_problem: dict[tuple[str, str], list[str]] = {}
    for study in config["studies"]:
        problem = get_problem(study["problem"])
        problem_settings = config["problems"].get(problem.name, {})
        model_settings = config["models"][study["model"]]
        axes = study["axes"]

        products = {}
        for product, axis in problem.data_products().items():
            for value in axes[axis]:
                path = naming.data_path(results, problem.name, product, axis, value)
                plan.data[path] = Job(path, {
                    "problem": problem.name,
                    "product": product,
                    "axis": axis,
                    "value": value,
                    "problem_settings": problem_settings,
                    "code": code_hash([type(problem)], extra=problem.code_modules),
                })
            products[product] = axis

        for strategy in study["strategies"]:
            codes: dict[tuple, str] = {}  # cells differ in code only where method or batch_seeds differ
            cell_paths = []
            for values in itertools.product(*axes.values()):
                cell_axes = dict(zip(axes, values))
                strategy_settings = strategy_settings_for(config, study, strategy, cell_axes)
                extra = TRAINING_CORE + problem.code_modules + batched_code(strategy_settings)
                key = (strategy_settings["method"], extra)
                if key not in codes:
                    classes = [type(problem), ARCHITECTURES[model_settings["architecture"]],
                               METHODS[strategy_settings["method"]]]
                    codes[key] = code_hash(classes, extra=extra)
                code = codes[key]
                path = naming.cell_path(results, study["model"], problem.name, strategy, cell_axes)
                inputs = tuple(
                    naming.data_path(results, problem.name, product, axis, cell_axes[axis])
                    for product, axis in products.items()
                )
                plan.cells[path] = Job(path, {
                    "model": study["model"],
                    "model_settings": model_settings,
                    "problem": problem.name,
                    "problem_settings": problem_settings,
                    "strategy": strategy,
                    "strategy_settings": strategy_settings,
                    "axes": cell_axes,
                    "seeds": study["seeds"],
                    "code": code,
                }, inputs)
                cell_paths.append(path)

            regime = naming.regime_path(results, study["model"], problem.name, strategy)
            plan.regimes[regime] = Job(regime, {
                "model": study["model"],
                "problem": problem.name,
                "strategy": strategy,
                "axes": list(axes),
                "thresholds": thresholds_for(study, strategy),
                "smoothing_sigma": config["regimes"]["smoothing_sigma"],
                "code": code_hash([], extra=AGGREGATION_CODE),
            }, tuple(cell_paths))

            stem = naming.figure_stem(results, "regimes", f"{study['model']}_{problem.name}_{strategy}")
            plan.figures[stem] = Job(stem, {"kind": "regime_map", "code": figure_code}, (regime,))
            by_model_strategy.setdefault((study["model"], strategy), []).append(regime)
            by_model_problem.setdefault((study["model"], problem.name), []).append(regime)

        baseline = study.get("baseline")
        for strategy in study["strategies"] if baseline else ():
            if strategy == baseline:
                continue
            path = naming.comparison_path(results, study["model"], problem.name, strategy, baseline)
            plan.comparisons[path] = Job(path, {
                "model": study["model"],
                "problem": problem.name,
                "strategy": strategy,
                "baseline": baseline,
                "axes": list(axes),
                "significance": config["regimes"]["significance"],
                "code": code_hash([], extra=COMPARISON_CODE),
            }, (naming.regime_path(results, study["model"], problem.name, baseline),
                naming.regime_path(results, study["model"], problem.name, strategy)))
            stem = naming.figure_stem(results, "comparisons", f"{study['model']}_{problem.name}_{strategy}_vs_{baseline}")
            plan.figures[stem] = Job(stem, {"kind": "comparison", "code": figure_code}, (path,))

    # one figure per (model, strategy) trained on several problems: the regimes across physical systems
    for (model, strategy), regimes in by_model_strategy.items():
        if len(regimes) > 1:
            stem = naming.figure_stem(results, "across_problems", f"{model}_{strategy}")
            plan.figures[stem] = Job(stem, {"kind": "regime_panels", "code": figure_code}, tuple(regimes))
    # one figure per (model, problem) trained with several strategies: the regimes per strategy side by side
    for (model, problem_name), regimes in by_model_problem.items():
        if len(regimes) > 1:
            stem = naming.figure_stem(results, "across_strategies", f"{model}_{problem_name}")
            plan.figures[stem] = Job(stem, {"kind": "strategy_panels", "code": figure_code}, tuple(regimes))
    plan_analyses(config, plan)

    plan_diagnostics(config, plan)
    return plan


def plan_analyses(config: Mapping[str, Any], plan: Plan) -> None:
    """Robustness of every regime dataset's labels, and the guidance across every comparison, with figures."""
    settings = config["analysis"]
    figure_code = code_hash([], extra=ANALYSIS_FIGURE_CODE)
    for regime, job in plan.regimes.items():
        model, problem, strategy = job.spec["model"], job.spec["problem"], job.spec["strategy"]
        path = naming.robustness_path(plan.results, model, problem, strategy)
        plan.analyses[path] = Job(path, {
            "analysis": "robustness",
            "model": model,
            "problem": problem,
            "strategy": strategy,
            **{key: settings[key] for key in ("threshold_factors", "smoothing_sigmas", "bootstrap_replicates",
                                              "bootstrap_seed")},
            "code": code_hash([], extra=ROBUSTNESS_CODE),
        }, (regime,))
        stem = naming.figure_stem(plan.results, "robustness", f"{model}_{problem}_{strategy}")
        plan.figures[stem] = Job(stem, {"kind": "robustness", "code": figure_code}, (path,))
    if not plan.comparisons:
        return
    regimes = dict.fromkeys(path for job in plan.comparisons.values() for path in job.inputs)
    path = naming.guidance_path(plan.results)
    plan.analyses[path] = Job(path, {
        "analysis": "guidance",
        "significance": config["regimes"]["significance"],
        "code": code_hash([], extra=GUIDANCE_CODE),
    }, (*regimes, *plan.comparisons))
    stem = naming.figure_stem(plan.results, "guidance", "guidance")
    plan.figures[stem] = Job(stem, {"kind": "guidance", "code": figure_code}, (path,))
