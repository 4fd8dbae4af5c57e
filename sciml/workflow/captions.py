"""Report captions: what each figure shows and which settings produced it."""

from __future__ import annotations

from sciml.problems import get_problem
from sciml.results.guidance import MIN_FOLD_IMPROVEMENT
from sciml.workflow.jobs import Job, Plan

WHAT = {
    "regime_map": (
        "Regime map of one model, problem and strategy. Left: log10 of the seed-mean final training loss; right: "
        "log10 of the seed-mean relative L2 test error, over the grid of physical difficulty (rows) and amount of "
        "data (columns), in grey. Each cell is framed in its regime's colour and labelled I (well-trained, green), "
        "II (under-trained, red) or III (over-trained, orange); adjacent frames of different colours are the "
        "regime boundaries. A dagger marks cells where some seeds diverged, with the count of seeds that finished."
    ),
    "regime_panels": (
        "Regimes across physical systems: one row per problem, trained with the same model and strategy; "
        "left the log10 seed-mean training loss, right the log10 seed-mean test error, regime frames and labels "
        "as in the single regime maps."
    ),
    "strategy_panels": (
        "Regimes per strategy (paper Fig. 3): one model and problem, one column per strategy, at most four "
        "strategies side by side; for each group of strategies a row of log10 seed-mean training loss over a row "
        "of log10 seed-mean test error, every loss map on one colour scale and every error map on another; "
        "regime frames and labels as in the single regime maps, from each strategy's own seeds."
    ),
    "comparison": (
        "A strategy against the baseline strategy on the same grid, seeds paired. Top: relative improvement "
        "of the seed means, 1 - mean(strategy)/mean(baseline), of the training loss (left) and test error (right); "
        "blue cells: the strategy helps. Hatched cells: a two-sided Wilcoxon signed-rank test of the paired "
        "log10 ratios is not significant at the configured level. Bottom: share of seeds the strategy improved."
    ),
    "robustness": (
        "Robustness of one regime map's labels. Left: each cell's label and its confidence, the share of seed "
        "resamples (seeds drawn with replacement from the study's seeds, one draw for the whole grid; all S^S "
        "draws when there are few seeds) under which the seed means keep the stored label. Middle: share of "
        "cells relabelled when tau_L (rows) and tau_E (columns) are scaled by the given factors. Right: share of "
        "cells whose label differs from the one the paper's boundaries, smoothed by sigma cells, imply (blue), and "
        "the mean share relabelled by a seed resample (orange, bar to its 95th percentile). Small shares: the "
        "regimes are a property of the models, not of the analysis settings."
    ),
    "guidance": (
        "Regime-aware guidance across every study. A cell's regime is the baseline strategy's label there. Each "
        "box pools the paired seeds of the cells in that regime; colour and number: the median fold change "
        "10^median(log10(baseline/strategy)) (above 1 and blue: the strategy lowers the metric); a star: a "
        "two-sided Wilcoxon signed-rank test of the pooled pairs is significant after Holm's correction within "
        "its family (all per-problem rows together; or all rows pooled over problems, rows 'all'); a black box: "
        "the recommended strategy, the significant one with the largest improvement, if that improvement is at "
        f"least {MIN_FOLD_IMPROVEMENT:g}x (the practical threshold; a smaller significant gain is no reason to "
        "switch). 'no cells': the baseline puts no cell in that regime."
    ),
}
#: figures drawn from diagnostic jobs (sciml/diagnostic_jobs), with the paper figure each reproduces
WHAT.update({
    "curvature_map": (
        "Curvature maps (paper Fig. 11). Top: log10 seed-mean final training loss and test error; bottom: log10 "
        "seed-mean algebraic top Hessian eigenvalue λ_max (Lanczos) and Hessian trace (Hutchinson) at the final "
        "parameters, over the same grid, with the regime labels. Framed S: deceptive sharpness, λ_max at or above "
        "the grid's upper quantile of λ_max while the training loss is at most τ_L. Framed F: deceptive flatness, "
        "λ_max at or below the lower quantile while the cell is regime II. Quantiles are over the probed cells of "
        "this grid; the flags are stored in the dataset (docs/DATA.md). Cells whose value is not positive are blank."
    ),
    "sharpening": (
        "Sharpening dynamics (paper Fig. 7): the algebraic λ_max of the training-loss Hessian (left) and the "
        "training loss (right) at the parameter snapshots saved during training, one line per seed, one row per "
        "probed cell, with the cell's regime."
    ),
    "sharpening_regimes": (
        "Sharpening across regimes (paper Fig. 12): seed-mean λ_max along training (step over the last step) for "
        "every probed cell, coloured by its regime (green I, red II, orange III), one panel per study; one point "
        "per stored parameter snapshot, their count in each panel's title."
    ),
    "spectra": (
        "Hessian spectral densities before and after training (paper Figs. 6, 16): stochastic Lanczos quadrature "
        "at initialisation and at the final parameters, pooled over seeds and runs and broadened by a Gaussian of "
        "1% of the node spread; logarithmic density."
    ),
    "landscapes": (
        "Loss landscapes (paper Figs. 5, 13): log10 training loss on planes through the final parameters (star), "
        "along filter-normalised random directions (span in units of the filter norms) and along the top-2 "
        "Hessian eigenvectors (unit vectors), one row per probed cell."
    ),
    "connectivity": (
        "Mode connectivity (paper Fig. 15): training loss and test error along the linear path and the trained "
        "quadratic Bézier curve between two strategies' solutions of the same cell and seed; mc = ½(L(0)+L(1)) − "
        "L(t*) at the t* farthest from the endpoints' mean (negative: a barrier). The title gives the linear CKA "
        "of the two solutions' test predictions."
    ),
    "cka_map": (
        "Similarity of solutions: mean linear CKA between the test-grid predictions of distinct seed pairs of "
        "each cell (1: the seeds agree up to scale and offset), with the regime labels."
    ),
    "tail_alpha": (
        "Tail exponent α against the learning rate (paper Fig. 14): from each seed's final parameters, SGD (or "
        "Adam; the panel title says which) takes further steps at each learning rate after an unrecorded burn-in, "
        "each step on a fresh sample where the objective allows it (minibatches for the CV baseline, a new draw of "
        "residual points for PINNs; else full batch); α is the maximum-likelihood exponent of a power law fitted to "
        "the upper tail of the inverse step lengths, x_min by minimum Kolmogorov-Smirnov distance. Points: seed "
        "median (log axis); bars: seed range; missing points: steps blew up or admitted no fit."
    ),
})


def analysis_caption(job: Job, plan: Plan) -> str:
    """Caption of an analysis output (the guidance table in the report): what it holds and its settings."""
    spec = job.spec
    if spec["analysis"] == "guidance":
        return (
            "Regime-aware guidance table, one row per (family, model, problem, strategy, baseline, regime, "
            "metric): cells and seed pairs pooled, median log10(baseline/strategy) and fold improvement, median "
            "relative improvement over cells, share of pairs improved, Wilcoxon p-value and its Holm adjustment "
            "within the family, cells individually significant after Benjamini-Hochberg (better/worse), verdict "
            f"and the recommended strategy (significant, median fold improvement at least {MIN_FOLD_IMPROVEMENT:g}x). "
            f"Significance level {spec['significance']:g}; built from "
            f"{sum(path in plan.comparisons for path in job.inputs)} comparisons. Definitions: docs/DATA.md."
        )
    factors = ", ".join(f"{f:g}" for f in spec["threshold_factors"])
    sigmas = ", ".join(f"{s:g}" for s in spec["smoothing_sigmas"])
    return (f"robustness of {spec['model']} / {spec['problem']} / {spec['strategy']}: threshold factors "
            f"{factors}; smoothing sigmas {sigmas}; at most {spec['bootstrap_replicates']} seed resamples "
            f"(generator seed {spec['bootstrap_seed']}).")


def caption(job: Job, plan: Plan) -> str:
    """Caption of a figure job: what it shows, then the settings of the regime datasets it draws.

    Built from the plan alone (never from files), so it is stable between planning and running.
    """
    lines = [WHAT[job.spec["kind"]], ""]
    for path in job.inputs:
        if path in plan.analyses:
            job_inputs = plan.analyses[path].inputs
            lines.append(f"* ``{path}``: {analysis_caption(plan.analyses[path], plan)}")
            lines += [f"* ``{source}``: {_regime_settings(plan.regimes[source].spec)}"
                      for source in job_inputs if source in plan.regimes]
            continue
        if path in plan.comparisons:
            spec = plan.comparisons[path].spec
            lines.append(f"* ``{path}``: {spec['strategy']} vs {spec['baseline']} on {spec['model']} / "
                         f"{spec['problem']}; significance level {spec['significance']:g}.")
            continue
        if path in plan.diagnostic_sets:
            spec = plan.diagnostic_sets[path].spec
            settings = ", ".join(f"{k} {v}" for k, v in sorted(spec["settings"].items()))
            versus = f" vs {spec['versus']}" if spec["versus"] else ""
            lines.append(f"* ``{path}``: diagnostic {spec['diagnostic']} ({spec['kind']}) of {spec['model']} / "
                         f"{spec['problem']} / {spec['strategy']}{versus}; settings: {settings}"
                         + (f"; flag quantiles {spec['flags']['low_quantile']:g} and {spec['flags']['high_quantile']:g}"
                            if spec["kind"] == "curvature" else "") + ".")
            continue
        spec = plan.regimes[path].spec
        lines.append(f"* ``{path}``: {_regime_settings(spec)}")
        notes = get_problem(spec["problem"]).axis_notes
        if notes:
            lines[-1] += " Axes: " + "; ".join(f"{axis} = {text}" for axis, text in notes.items()) + "."
    return "\n".join(lines)


def _regime_settings(spec: dict) -> str:
    tau = spec["thresholds"]
    return (f"model {spec['model']}, problem {spec['problem']}, strategy {spec['strategy']}; thresholds: training "
            f"loss {tau['train_loss']:g}, test error {tau['test_error']:g}; smoothing {spec['smoothing_sigma']:g} cells.")


def plan_captions(plan: Plan) -> dict[str, str]:
    """The report caption of every figure (by stem) and analysis output: planned with the jobs, so that a
    Snakemake start that loads a stored plan needs neither this module nor the problems it reads."""
    return {**{stem: caption(job, plan) for stem, job in plan.figures.items()},
            **{path: analysis_caption(job, plan) for path, job in plan.analyses.items()}}
