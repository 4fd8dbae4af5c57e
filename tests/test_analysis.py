"""Robustness of regime labels and regime-aware guidance against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from sciml.results.compare import compare
from sciml.results.guidance import benjamini_hochberg, guidance, holm, read_table, to_dataset
from sciml.results.regimes import OVER_TRAINED, UNDER_TRAINED, WELL_TRAINED
from sciml.results.robustness import cell_table, robustness, seed_resamples, smoothed_labels

from support import ROBUSTNESS_SPEC, SIGNIFICANCE, TAU_ERROR, TAU_LOSS, bootstrap_study, guidance_studies, regime_dataset


def test_exact_seed_bootstrap_confidence():
    """Two seeds: the four draws (0,0) (0,1) (1,0) (1,1), each cell's labels under them worked out by hand."""
    ds = robustness(bootstrap_study(), ROBUSTNESS_SPEC)
    assert ds.attrs["bootstrap_exact"] == 1 and ds.attrs["bootstrap_resamples"] == 4
    assert ds["regime"].values.tolist() == [[WELL_TRAINED, UNDER_TRAINED], [OVER_TRAINED, WELL_TRAINED]]
    # (1,10): identical seeds; (1,20): I only when seed 0 is drawn twice; (2,10): error 0.01 < tau_E when seed 1 is
    # drawn twice; (2,20): seed 1 diverged, so drawing it twice leaves no finished seed, which is II
    np.testing.assert_allclose(ds["confidence"].values, [[1.0, 0.75], [0.75, 0.75]])
    shares = ds["bootstrap_regime_share"].transpose("beta", "n_f", "regime_label").values
    np.testing.assert_allclose(shares[0, 1], [0.25, 0.75, 0.0])
    np.testing.assert_allclose(shares[1, 0], [0.25, 0.0, 0.75])
    np.testing.assert_allclose(shares[1, 1], [0.75, 0.25, 0.0])
    np.testing.assert_allclose(ds["bootstrap_share_changed"].values, [0.25, 0.0, 0.0, 0.5])
    np.testing.assert_allclose(ds["regime_confidence"].values, [0.875, 0.75, 0.75])


def test_threshold_and_smoothing_sensitivity():
    ds = robustness(bootstrap_study(), ROBUSTNESS_SPEC)
    # tau_L * 0.5 = 5e-3 puts the mean loss 6e-3 of (2,20) above it; tau_E * 2 = 0.2 puts (2,10)'s error 0.155 below
    np.testing.assert_allclose(ds["threshold_share_changed"].values,
                               [[0.25, 0.25, 0.5], [0.0, 0.0, 0.25], [0.0, 0.0, 0.25]])
    assert np.array_equal(ds["threshold_regime"].sel(factor_train_loss=1.0, factor_test_error=1.0), ds["regime"])
    assert ds["smoothing_share_changed"].sel(sigma=0.0).item() == 0.0  # unsmoothed boundaries: the stored labels
    table = cell_table(ds)
    row = table[(table["beta"] == 2.0) & (table["n_f"] == 10.0)].iloc[0]
    assert row["regime"] == "III" and row["confidence"] == 0.75 and row["bootstrap_share_I"] == 0.25
    assert row["threshold_share_changed"] == pytest.approx(3 / 9)


def test_smoothed_labels_follow_the_smoothed_maps():
    loss, error = np.array([[1e-4, 1e-1]]), np.array([[0.01, 0.01]])
    assert smoothed_labels(loss, error, TAU_LOSS, TAU_ERROR, 0.0).tolist() == [[WELL_TRAINED, UNDER_TRAINED]]
    # a very wide Gaussian averages the log losses: 10**-2.5 < tau_L everywhere
    assert smoothed_labels(loss, error, TAU_LOSS, TAU_ERROR, 100.0).tolist() == [[WELL_TRAINED, WELL_TRAINED]]
    # a cell where no seed finished stays II however the map around it is smoothed
    loss[0, 1] = np.nan
    assert smoothed_labels(loss, error, TAU_LOSS, TAU_ERROR, 100.0).tolist() == [[WELL_TRAINED, UNDER_TRAINED]]


def test_seed_resamples_exact_or_seeded():
    draws, exact = seed_resamples(3, 27, seed=0)
    assert exact and draws.shape == (27, 3) and len({tuple(d) for d in draws}) == 27
    draws, exact = seed_resamples(5, 100, seed=1)
    again, _ = seed_resamples(5, 100, seed=1)
    assert not exact and draws.shape == (100, 5) and np.array_equal(draws, again) and draws.max() == 4


def test_random_bootstrap_estimates_the_resampling_probability():
    """Five seeds, one high loss: the cell is I only when that seed is never drawn, (4/5)**5 = 0.328."""
    loss = np.full((2, 2, 5), 1e-4)
    loss[0, 1, 0] = 1.0
    study = regime_dataset(loss, np.full(loss.shape, 0.01))
    exact = robustness(study, {**ROBUSTNESS_SPEC, "bootstrap_replicates": 5**5})
    cell = {"beta": 1.0, "n_f": 20.0}
    assert exact.attrs["bootstrap_exact"]
    assert exact["bootstrap_regime_share"].sel(regime_label=WELL_TRAINED, **cell).item() == pytest.approx(0.8**5)
    drawn = robustness(study, {**ROBUSTNESS_SPEC, "bootstrap_replicates": 3000})
    assert not drawn.attrs["bootstrap_exact"] and drawn.attrs["bootstrap_resamples"] == 3000
    share_i = drawn["bootstrap_regime_share"].sel(regime_label=WELL_TRAINED, **cell).item()
    assert share_i == pytest.approx(0.8**5, abs=4 * np.sqrt(0.33 * 0.67 / 3000))
    assert drawn["confidence"].sel(**cell).item() == pytest.approx(1 - share_i)


def test_holm_and_benjamini_hochberg_by_hand():
    p = [0.01, 0.04, 0.03, 0.005, np.nan]
    np.testing.assert_allclose(holm(p), [0.03, 0.06, 0.06, 0.02, np.nan])
    np.testing.assert_allclose(benjamini_hochberg(p), [0.02, 0.04, 0.04, 0.02, np.nan])
    assert holm([0.5, 0.9]).tolist() == [1.0, 1.0]


def rows(table, **where):
    selected = table
    for key, value in where.items():
        selected = selected[selected[key] == value]
    return selected


def test_guidance_effects_tests_and_recommendations():
    regimes, comparisons = guidance_studies()
    table = guidance(regimes, comparisons, {"significance": SIGNIFICANCE})
    loss = rows(table, metric="train_loss", family="problem")
    better = rows(loss, problem="p1", strategy="a", regime="II").iloc[0]
    # eight distinct positive log ratios log10(2..9): exact two-sided p = 2/2**8; Holm over the 12 tests of
    # the per-problem family, three of them at 2/2**8: 12 * 2/2**8
    assert better["n_cells"] == 1 and better["n_pairs"] == 8
    assert better["median_log10_ratio"] == pytest.approx(np.log10(np.sqrt(30)))
    assert better["p_value"] == pytest.approx(2 / 2**8) and better["p_holm"] == pytest.approx(12 * 2 / 2**8)
    assert better["verdict"] == "better" and better["recommended"] and better["share_pairs_improved"] == 1.0
    # the cell tests: 12 per-cell p-values, three at 2/2**8, BH gives 12/3 * 2/2**8 = 0.03125 <= 0.1
    assert better["cells_better"] == 1 and better["cells_worse"] == 0
    worse = rows(loss, problem="p1", strategy="b", regime="II").iloc[0]
    assert worse["verdict"] == "worse" and not worse["recommended"] and worse["cells_worse"] == 1
    assert rows(loss, problem="p1", strategy="a", regime="I").iloc[0]["verdict"] == "no cells"
    unchanged = rows(loss, problem="p1", strategy="a", regime="III").iloc[0]
    assert unchanged["p_value"] == 1.0 and unchanged["verdict"] == "not significant"

    pooled = rows(table, family="across problems", metric="train_loss", strategy="a", regime="II").iloc[0]
    # sixteen distinct positive ratios pooled over p1 and p2; Holm over the 6 tests of the pooled family (a's
    # three regimes and two metrics: b, compared on p1 alone, has no pooled rows)
    assert pooled["problem"] == "all" and pooled["problems"] == "p1 p2" and pooled["n_pairs"] == 16
    assert pooled["p_value"] == pytest.approx(2 / 2**16) and pooled["p_holm"] == pytest.approx(6 * 2 / 2**16)
    assert pooled["recommended"]
    assert set(rows(table, family="across problems")["strategy"]) == {"a"}
    assert not rows(table, metric="test_error")["recommended"].any()  # identical errors everywhere

    back = read_table(to_dataset(table, {"significance": SIGNIFICANCE}))
    assert back["recommended"].tolist() == table["recommended"].tolist()
    assert np.allclose(back["p_holm"], table["p_holm"], equal_nan=True)


def test_guidance_names_a_missing_baseline_dataset():
    regimes, comparisons = guidance_studies()
    with pytest.raises(KeyError, match="regime dataset of .*lbfgs"):
        guidance([ds for ds in regimes if ds.attrs["strategy"] != "lbfgs"], comparisons, {"significance": 0.1})


def test_analysis_figures(tmp_path):
    from sciml.figures import FIGURES

    regimes, comparisons = guidance_studies()
    table = guidance(regimes, comparisons, {"significance": SIGNIFICANCE})
    paths = FIGURES["guidance"]([to_dataset(table, {"significance": SIGNIFICANCE})], {}, tmp_path / "guidance")
    paths += FIGURES["robustness"]([robustness(bootstrap_study(), ROBUSTNESS_SPEC)], {}, tmp_path / "robustness")
    assert [p.suffix for p in paths] == [".png", ".pdf"] * 2 and all(p.stat().st_size > 10_000 for p in paths)


def test_plan_has_an_analysis_per_regime_dataset_and_a_caption_per_figure():
    import yaml

    from sciml.figures import FIGURES
    from sciml.workflow.captions import analysis_caption, caption
    from sciml.workflow.config import validate
    from sciml.workflow.plan import build_plan

    from conftest import REPO

    config = validate(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
    plan = build_plan(config)
    robustness_jobs = [job for job in plan.analyses.values() if job.spec["analysis"] == "robustness"]
    assert sorted(job.inputs[0] for job in robustness_jobs) == sorted(plan.regimes)
    assert robustness_jobs[0].spec["bootstrap_replicates"] == config["analysis"]["bootstrap_replicates"]
    (guidance_job,) = [job for job in plan.analyses.values() if job.spec["analysis"] == "guidance"]
    assert set(plan.comparisons) <= set(guidance_job.inputs)
    assert {job.spec["kind"] for job in plan.figures.values()} == set(FIGURES)
    for job in plan.figures.values():
        assert len(caption(job, plan).splitlines()) >= 3  # what it shows, a blank line, the settings
    assert f"{len(plan.comparisons)} comparisons" in analysis_caption(guidance_job, plan)


def small_gain_study(gain: np.ndarray):
    """Baseline lbfgs and strategy a on one regime II cell (eight seeds), a's loss lower by the factors ``gain``."""
    loss, error = np.ones((1, 1, gain.size)), np.full((1, 1, gain.size), 0.9)
    grid = ((1.0,), (10.0,))
    baseline = regime_dataset(loss, error, grid=grid, strategy="lbfgs")
    other = regime_dataset(loss / gain, error, grid=grid, strategy="a")
    spec = {"model": "m", "problem": "p1", "strategy": "a", "baseline": "lbfgs", "significance": SIGNIFICANCE}
    return [baseline, other], [compare(baseline, other, ["beta", "n_f"], spec)]


def test_a_significant_gain_below_the_practical_threshold_is_not_recommended():
    from sciml.results.guidance import MIN_FOLD_IMPROVEMENT, SMALL_IMPROVEMENT

    gain = 1.0 + 0.01 * np.arange(1, 9)  # eight distinct ratios, all positive: exact p = 2/2**8
    table = guidance(*small_gain_study(gain), {"significance": SIGNIFICANCE})
    row = rows(table, metric="train_loss", regime="II").iloc[0]
    assert row["significant"] and 1 < row["fold_improvement"] < MIN_FOLD_IMPROVEMENT
    assert row["verdict"] == SMALL_IMPROVEMENT and not row["recommended"]
    # the same evidence with the gains scaled past the threshold is recommended
    table = guidance(*small_gain_study(gain * MIN_FOLD_IMPROVEMENT), {"significance": SIGNIFICANCE})
    row = rows(table, metric="train_loss", regime="II").iloc[0]
    assert row["verdict"] == "better" and row["recommended"]
    assert to_dataset(table, {"significance": SIGNIFICANCE}).attrs["min_fold_improvement"] == MIN_FOLD_IMPROVEMENT
