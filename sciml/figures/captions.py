"""Report captions: what each figure shows and which settings produced it."""

from __future__ import annotations

from sciml.plan import Job, Plan
from sciml.problems import get_problem

WHAT = {
    "regime_map": (
        "Regime map of one model, problem and strategy. Left: log10 of the seed-mean final training loss; right: "
        "log10 of the seed-mean relative L2 test error, over the grid of physical difficulty (rows) and amount of "
        "data (columns). White lines: threshold contours of the Gaussian-smoothed log maps (regime boundaries). "
        "Each cell is labelled I (well-trained), II (under-trained) or III (over-trained); a dagger marks cells "
        "where some seeds diverged, with the count of seeds that finished."
    ),
    "regime_panels": (
        "Regimes across physical systems: one row per problem, trained with the same model and strategy; "
        "left the log10 seed-mean training loss, right the log10 seed-mean test error, boundaries and labels as "
        "in the single regime maps."
    ),
    "comparison": (
        "A strategy against the baseline strategy on the same grid, seeds paired. Top: relative improvement "
        "of the seed means, 1 - mean(strategy)/mean(baseline), of the training loss (left) and test error (right); "
        "blue cells: the strategy helps. Hatched cells: a two-sided Wilcoxon signed-rank test of the paired "
        "log10 ratios is not significant at the configured level. Bottom: share of seeds the strategy improved."
    ),
}


def caption(job: Job, plan: Plan) -> str:
    """Caption of a figure job: what it shows, then the settings of the regime datasets it draws.

    Built from the plan alone (never from files), so it is stable between planning and running.
    """
    lines = [WHAT[job.spec["kind"]], ""]
    for path in job.inputs:
        if path in plan.comparisons:
            spec = plan.comparisons[path].spec
            lines.append(f"* ``{path}``: {spec['strategy']} vs {spec['baseline']} on {spec['model']} / "
                         f"{spec['problem']}; significance level {spec['significance']:g}.")
            continue
        spec = plan.regimes[path].spec
        tau = spec["thresholds"]
        lines.append(
            f"* ``{path}``: model {spec['model']}, problem {spec['problem']}, strategy {spec['strategy']}; "
            f"thresholds: training loss {tau['train_loss']:g}, test error {tau['test_error']:g}; smoothing "
            f"{spec['smoothing_sigma']:g} cells."
        )
        notes = get_problem(spec["problem"]).axis_notes
        if notes:
            lines[-1] += " Axes: " + "; ".join(f"{axis} = {text}" for axis, text in notes.items()) + "."
    return "\n".join(lines)
