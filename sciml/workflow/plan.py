"""From a validated configuration to every job of the workflow, each with the spec it runs.

A job's spec holds only the settings that determine its output (and a hash of the code that computes
it). Snakemake sees each spec as a param, so adding a grid value plans only the new cells, and changing one
study's settings or one problem's code reruns only the jobs that depend on them.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from sciml import naming
from sciml.models import ARCHITECTURES
from sciml.problems import get_problem
from sciml.strategies import METHODS, build_strategy
from sciml.training.batched import batchable
from sciml.workflow.batch_plan import CellBatches, joins
from sciml.workflow.captions import plan_captions
from sciml.workflow.codehash import code_hash, package_modules
from sciml.workflow.config import strategy_settings_for, thresholds_for
from sciml.workflow.diagnostic_plan import plan_diagnostics
from sciml.workflow.jobs import Job, Plan, figure_job

#: the module each aggregate job's verb runs (its code hash follows their imports)
AGGREGATION = "sciml.results.regimes"
COMPARISON = "sciml.results.compare"
ANALYSIS = {"robustness": "sciml.results.robustness", "guidance": "sciml.results.guidance"}
#: what every training job runs, whatever its problem, model and strategy
TRAINING = "sciml.training.train"
#: the package that decides whether a cell's seeds train together, and trains them when they do
BATCHED = "sciml.training.batched"


def batched_internals() -> list[str]:
    """The batched package's modules, which a cell trained one seed after another never loads (left out of its
    hash); the package itself, which decides, stays in."""
    return [name for name in package_modules() if name.startswith(f"{BATCHED}.")]


def build_plan(config: Mapping[str, Any]) -> Plan:
    """Every job of a validated configuration (see :func:`sciml.workflow.config.validate`)."""
    results = config["results"]
    plan = Plan(results=results, checkpoint_every=config["checkpoint_every"])
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
                    "code": code_hash([type(problem)]),
                })
            products[product] = axis

        for strategy in study["strategies"]:
            codes: dict[tuple, str] = {}  # cells differ in code only where method or seed batching differ
            cell_paths = []
            batches = CellBatches(results, study["model"], problem, strategy)
            for values in itertools.product(*axes.values()):
                cell_axes = dict(zip(axes, values))
                strategy_settings = strategy_settings_for(config, study, strategy, cell_axes)
                together = config["cells_together"] and joins(problem, strategy_settings)
                key = (strategy_settings["method"], together or batchable(build_strategy(strategy_settings)))
                if key not in codes:
                    classes = [type(problem), ARCHITECTURES[model_settings["architecture"]], METHODS[key[0]]]
                    codes[key] = code_hash([TRAINING, *classes], exclude=() if key[1] else batched_internals())
                code = codes[key]
                path = naming.cell_path(results, study["model"], problem.name, strategy, cell_axes)
                inputs = tuple(
                    naming.data_path(results, problem.name, product, axis, cell_axes[axis])
                    for product, axis in products.items()
                )
                spec = {
                    "model": study["model"],
                    "model_settings": model_settings,
                    "problem": problem.name,
                    "problem_settings": problem_settings,
                    "strategy": strategy,
                    "strategy_settings": strategy_settings,
                    "axes": cell_axes,
                    "seeds": study["seeds"],
                    "code": code,
                }
                plan.cell_data[path] = inputs
                if together:
                    batches.add(path, {**spec, "together": True}, inputs)
                else:
                    plan.cells[path] = Job(path, spec, inputs)
                cell_paths.append(path)
            batches.plan(plan)

            regime = naming.regime_path(results, study["model"], problem.name, strategy)
            plan.regimes[regime] = Job(regime, {
                "model": study["model"],
                "problem": problem.name,
                "strategy": strategy,
                "axes": list(axes),
                "thresholds": thresholds_for(study, strategy),
                "smoothing_sigma": config["regimes"]["smoothing_sigma"],
                "code": code_hash([AGGREGATION]),
            }, tuple(cell_paths))

            stem = naming.figure_stem(results, "regimes", f"{study['model']}_{problem.name}_{strategy}")
            plan.figures[stem] = figure_job(stem, "regime_map", (regime,))
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
                "code": code_hash([COMPARISON]),
            }, (naming.regime_path(results, study["model"], problem.name, baseline),
                naming.regime_path(results, study["model"], problem.name, strategy)))
            stem = naming.figure_stem(results, "comparisons", f"{study['model']}_{problem.name}_{strategy}_vs_{baseline}")
            plan.figures[stem] = figure_job(stem, "comparison", (path,))

    # one figure per (model, strategy) trained on several problems: the regimes across physical systems
    for (model, strategy), regimes in by_model_strategy.items():
        if len(regimes) > 1:
            stem = naming.figure_stem(results, "across_problems", f"{model}_{strategy}")
            plan.figures[stem] = figure_job(stem, "regime_panels", tuple(regimes))
    # one figure per (model, problem) trained with several strategies: the regimes per strategy side by side
    for (model, problem_name), regimes in by_model_problem.items():
        if len(regimes) > 1:
            stem = naming.figure_stem(results, "across_strategies", f"{model}_{problem_name}")
            plan.figures[stem] = figure_job(stem, "strategy_panels", tuple(regimes))
    plan_analyses(config, plan)

    plan_diagnostics(config, plan)
    plan.captions = plan_captions(plan)
    return plan


def plan_analyses(config: Mapping[str, Any], plan: Plan) -> None:
    """Robustness of every regime dataset's labels, and the guidance across every comparison, with figures."""
    settings = config["analysis"]
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
            "code": code_hash([ANALYSIS["robustness"]]),
        }, (regime,))
        stem = naming.figure_stem(plan.results, "robustness", f"{model}_{problem}_{strategy}")
        plan.figures[stem] = figure_job(stem, "robustness", (path,))
    if not plan.comparisons:
        return
    regimes = dict.fromkeys(path for job in plan.comparisons.values() for path in job.inputs)
    path = naming.guidance_path(plan.results)
    plan.analyses[path] = Job(path, {
        "analysis": "guidance",
        "significance": config["regimes"]["significance"],
        "code": code_hash([ANALYSIS["guidance"]]),
    }, (*regimes, *plan.comparisons))
    stem = naming.figure_stem(plan.results, "guidance", "guidance")
    plan.figures[stem] = figure_job(stem, "guidance", (path,))
