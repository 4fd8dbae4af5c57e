"""Diagnostic jobs on trained cells: each stored number agrees with a direct call of the tested library
function at the stored parameters (the exact Hessian where one exists), configurations are checked by name,
the flags follow their stated rule, and one real snakemake run draws the diagnostic figures."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import xarray as xr

from sciml.diagnostic_jobs import tail_alpha as alpha
from sciml.diagnostic_jobs.combine import combine_diagnostic
from sciml.diagnostic_jobs.flags import deceptive_flags
from sciml.diagnostic_jobs.rebuild import rebuild
from sciml.diagnostic_jobs.run import run_diagnostic
from sciml.diagnostics.connectivity import linear_path
from sciml.diagnostics.density import stochastic_lanczos_quadrature
from sciml.diagnostics.exact import exact_hessian
from sciml.diagnostics.hvp import preserved_parameters
from sciml.diagnostics.landscape import loss_surface
from sciml.diagnostics.similarity import cka_matrix
from sciml.diagnostics.tail_alpha import tail_alpha
from sciml.figures import FIGURES
from sciml.results.regimes import (
    OVER_TRAINED,
    UNDER_TRAINED,
    WELL_TRAINED,
    build_regime_dataset,
)
from sciml.results.store import ResultFileError, read_netcdf, write_netcdf
from sciml.training.params import assign
from sciml.training.train import train_cell
from sciml.workflow.config import ConfigError, validate

from conftest import tiny_config
from support import cell_data, cell_spec

pytestmark = pytest.mark.usefixtures("one_thread")

CPU = torch.device("cpu")
TINY = {"architecture": "mlp", "hidden": [6, 6], "activation": "tanh", "dtype": "float64"}  # 67 parameters
BETA, N_F = 5, 40


def trained(method: str, steps: int):
    spec = cell_spec(BETA, N_F, {"method": method, "steps": steps, "snapshots": 3}, seeds=(0, 1))
    spec["model_settings"] = TINY
    data = cell_data(BETA, N_F)
    return train_cell(spec, data, CPU), data


@pytest.fixture(scope="module")
def lbfgs_cell():
    return trained("lbfgs", 4)


@pytest.fixture(scope="module")
def adam_cell():
    return trained("adam", 20)


def job(kind: str, settings: dict, cells, data, versus=None) -> xr.Dataset:
    spec = {"diagnostic": kind, "kind": kind, "settings": settings, "model": "pinn", "problem": "convection",
            "strategy": "lbfgs", "versus": versus, "axes": {"beta": BETA, "n_f": N_F}, "code": "test"}
    return run_diagnostic(spec, [(f"cell{i}.nc", ds) for i, ds in enumerate(cells)], data, CPU)


def objective_at(cell, data, flat):
    rebuilt = rebuild(cell, data, CPU)
    assign(rebuilt.objective.parameters(), torch.as_tensor(flat, dtype=torch.float64))
    return rebuilt.objective


def test_rebuilt_objective_reproduces_the_stored_loss(lbfgs_cell):
    cell, data = lbfgs_cell
    rebuilt = rebuild(cell, data, CPU)
    for seed in rebuilt.seeds:
        # the last snapshot is the final parameters, the point every "final" diagnostic probes
        np.testing.assert_array_equal(rebuilt.snapshot(seed, -1), rebuilt.final_params(seed))
        objective = objective_at(cell, data, rebuilt.final_params(seed))
        stored = float(cell["train_loss"].sel(seed=seed).squeeze())
        assert float(objective.loss()[0].detach()) == pytest.approx(stored, rel=1e-5)  # params are stored as float32


def test_curvature_job_matches_the_exact_hessian(lbfgs_cell):
    cell, data = lbfgs_cell
    settings = {"snapshots": "all", "seeds": [], "lanczos_steps": 67, "power_iterations": 500,
                "trace_samples": 100, "tol": 1e-6, "probe_seed": 0, "trace_target_rel_error": None}
    out = job("curvature", settings, [cell], data).squeeze(["beta", "n_f"])
    assert out.sizes == {"seed": 2, "snapshot": 3}
    np.testing.assert_array_equal(out["snapshot_step"], cell["snapshot_step"])
    rebuilt = rebuild(cell, data, CPU)
    for seed in (0, 1):
        for k in range(3):
            objective = objective_at(cell, data, rebuilt.snapshot(seed, k))
            eigenvalues = np.linalg.eigvalsh(exact_hessian(objective))
            point = out.sel(seed=seed).isel(snapshot=k)
            scale = np.abs(eigenvalues).max()
            assert float(point["lambda_max"]) == pytest.approx(eigenvalues[-1], abs=1e-6 * scale)
            assert float(point["lambda_min"]) == pytest.approx(eigenvalues[0], abs=1e-6 * scale)
            signed = eigenvalues[np.argmax(np.abs(eigenvalues))]
            assert float(point["largest_magnitude"]) == pytest.approx(signed, rel=1e-3)
            # Hutchinson is unbiased: within a few of its own standard errors of the exact trace
            assert abs(float(point["trace"]) - eigenvalues.sum()) <= 4 * float(point["trace_standard_error"])
            assert 2 <= float(point["trace_probes"]) <= 100
            assert float(point["loss"]) == pytest.approx(float(objective.loss()[0].detach()), rel=1e-12)
            assert float(point["test_error"]) == pytest.approx(objective.test_error(), rel=1e-12)


def test_density_and_landscape_jobs_equal_direct_calls(lbfgs_cell):
    cell, data = lbfgs_cell
    rebuilt = rebuild(cell, data, CPU)
    density = job("density", {"snapshots": "ends", "seeds": [1], "lanczos_steps": 12, "runs": 2, "probe_seed": 3},
                  [cell], data).squeeze(["beta", "n_f"])
    for k, index in enumerate((0, -1)):
        direct = stochastic_lanczos_quadrature(objective_at(cell, data, rebuilt.snapshot(1, index)), steps=12,
                                               runs=2, seed=3)
        np.testing.assert_array_equal(density["slq_nodes"].sel(seed=1).isel(snapshot=k), direct.nodes)
        np.testing.assert_array_equal(density["slq_weights"].sel(seed=1).isel(snapshot=k), direct.weights)

    settings = {"seeds": [0], "directions": ["random", "hessian"], "random_span": 0.5, "hessian_span": 2.0,
                "points": 5, "lanczos_steps": 67, "tol": 1e-3, "probe_seed": 1}
    surfaces = job("landscape", settings, [cell], data).squeeze(["beta", "n_f"])
    objective = objective_at(cell, data, rebuilt.final_params(0))
    for kind, span in (("random", 0.5), ("hessian", 2.0)):
        direct = loss_surface(objective, kind, span=span, points=5, seed=1, lanczos_steps=67)
        stored = surfaces["surface_loss"].sel(seed=0, direction=kind).values
        np.testing.assert_array_equal(stored, direct.loss)
        assert stored[2, 2] == float(objective.loss()[0].detach())  # θ* is the grid's centre


def test_connectivity_and_similarity_jobs_equal_direct_calls(lbfgs_cell, adam_cell):
    (cell, data), (other, _) = lbfgs_cell, adam_cell
    settings = {"seeds": [], "points": 5, "bezier_steps": 3, "bezier_lr": 1e-3, "probe_seed": 0}
    paths = job("connectivity", settings, [cell, other], data, versus="adam").squeeze(["beta", "n_f"])
    first, second = rebuild(cell, data, CPU), rebuild(other, data, CPU)
    for seed in (0, 1):
        ends = first.final_params(seed), second.final_params(seed)
        direct = linear_path(first.objective, *ends, points=5)
        np.testing.assert_array_equal(paths["path_loss"].sel(seed=seed, path="linear"), direct.loss)
        assert float(paths["mc"].sel(seed=seed, path="linear")) == direct.mc
        bezier = paths["path_loss"].sel(seed=seed, path="bezier").values
        # every path starts and ends at the two solutions
        assert bezier[0] == direct.loss[0] and bezier[-1] == direct.loss[-1]

    cka = job("similarity", {"seeds": []}, [cell], data).squeeze(["beta", "n_f"])
    predictions = []
    with preserved_parameters(first.objective):
        for seed in (0, 1):
            first.load(first.final_params(seed))
            predictions.append(first.objective.predict_test().numpy())
    np.testing.assert_allclose(cka["cka"].values, cka_matrix(predictions), rtol=0, atol=0)
    assert float(cka["cka_mean"]) == cka_matrix(predictions)[0, 1]


def test_tail_alpha_job_fits_its_stored_step_lengths(lbfgs_cell):
    cell, data = lbfgs_cell
    settings = {**alpha.DEFAULTS, "seeds": [0], "learning_rates": [1e-3, 1e-2], "steps": 60, "batch_size": 8,
                "min_tail": 10}
    out = job("tail_alpha", settings, [cell], data).squeeze(["beta", "n_f"])
    assert out.attrs["sampling"] == "full batch"  # a PINN objective has no minibatches
    objective = objective_at(cell, data, rebuild(cell, data, CPU).final_params(0))
    with torch.enable_grad():
        gradient = torch.autograd.grad(objective.loss()[0], objective.parameters())
    norm = float(torch.cat([g.reshape(-1) for g in gradient]).norm())
    for lr in (1e-3, 1e-2):
        lengths = out["step_length"].sel(seed=0, learning_rate=lr).values
        assert lengths[0] == pytest.approx(lr * norm, rel=1e-10)  # the first SGD step is lr * gradient
        direct = tail_alpha(lengths, min_tail=10)
        assert float(out["alpha"].sel(seed=0, learning_rate=lr)) == direct.alpha
        assert float(out["n_tail"].sel(seed=0, learning_rate=lr)) == direct.n_tail


def test_tail_alpha_burn_in_drops_the_first_steps_of_the_same_run(lbfgs_cell):
    cell, data = lbfgs_cell
    settings = {**alpha.DEFAULTS, "seeds": [0], "learning_rates": [1e-3], "min_tail": 10}
    whole = job("tail_alpha", {**settings, "steps": 30}, [cell], data)["step_length"].values.reshape(-1)
    tail = job("tail_alpha", {**settings, "burn_in": 8, "steps": 22}, [cell], data)["step_length"].values.reshape(-1)
    np.testing.assert_array_equal(tail, whole[8:])  # full-batch SGD is deterministic


def test_tail_alpha_adam_first_step_is_lr_times_the_gradient_sign(lbfgs_cell):
    cell, data = lbfgs_cell
    settings = {**alpha.DEFAULTS, "seeds": [0], "optimizer": "adam", "learning_rates": [1e-3], "steps": 12,
                "min_tail": 10}
    out = job("tail_alpha", settings, [cell], data)
    assert out.attrs["optimizer"] == "adam"
    objective = objective_at(cell, data, rebuild(cell, data, CPU).final_params(0))
    with torch.enable_grad():
        gradient = torch.cat([g.reshape(-1) for g in torch.autograd.grad(objective.loss()[0], objective.parameters())])
    # bias-corrected first moments are g and g², so Adam's first update is lr · g / (|g| + eps)
    expected = 1e-3 * float(torch.linalg.vector_norm(gradient / (gradient.abs() + 1e-8)))
    assert float(out["step_length"].values.reshape(-1)[0]) == pytest.approx(expected, rel=1e-5)


def test_tail_alpha_resampled_residual_points_step_on_fresh_points_and_restore_the_cell(lbfgs_cell):
    cell, data = lbfgs_cell
    settings = {**alpha.DEFAULTS, "seeds": [0], "learning_rates": [1e-2], "steps": 15, "min_tail": 10,
                "resample_points": True}
    rebuilt = rebuild(cell, data, CPU)
    own_points = rebuilt.objective.collocation_points().clone()
    before = [p.detach().clone() for p in rebuilt.objective.parameters()]
    out = alpha.run(rebuilt, settings, "cell.nc")
    assert out.attrs["sampling"] == "residual points"
    # the cell's own residual points, coefficient and parameters are back after the probe
    torch.testing.assert_close(rebuilt.objective.collocation_points(), own_points, rtol=0, atol=0)
    assert rebuilt.objective.difficulty == BETA
    for p, q in zip(rebuilt.objective.parameters(), before):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    # the first step is lr times the gradient at the first fresh draw of as many points
    objective = objective_at(cell, data, rebuilt.final_params(0))
    objective.set_difficulty(BETA, resample_seed=alpha.RESAMPLE_STREAM)
    assert not torch.equal(objective.collocation_points(), own_points)
    assert objective.collocation_points().shape == own_points.shape
    with torch.enable_grad():
        gradient = torch.cat([g.reshape(-1) for g in torch.autograd.grad(objective.loss()[0], objective.parameters())])
    assert float(out["step_length"].sel(seed=0, learning_rate=1e-2)[0]) == pytest.approx(
        1e-2 * float(gradient.norm()), rel=1e-6)
    lengths = out["step_length"].values.reshape(-1)
    assert float(out["alpha"].values.reshape(-1)[0]) == tail_alpha(lengths, min_tail=10).alpha


def test_tail_alpha_probe_restores_the_cell_points_when_a_step_fails(lbfgs_cell, monkeypatch):
    cell, data = lbfgs_cell
    objective = objective_at(cell, data, rebuild(cell, data, CPU).final_params(0))
    own_points = objective.collocation_points().clone()
    loss, calls = objective.loss, []

    def failing_third_loss():
        calls.append(1)
        if len(calls) == 3:
            raise FloatingPointError("injected failure in the third step")
        return loss()

    monkeypatch.setattr(objective, "loss", failing_third_loss)
    with pytest.raises(FloatingPointError, match="third step"):
        alpha.step_lengths(objective, "sgd", 1e-2, 0, 10, "residual points", 0, torch.Generator())
    assert len(calls) == 3
    torch.testing.assert_close(objective.collocation_points(), own_points, rtol=0, atol=0)
    assert objective.difficulty == BETA
    assert all(p.grad is None for p in objective.parameters())


def test_landscape_connectivity_similarity_and_alpha_figures_draw(lbfgs_cell, adam_cell, tmp_path):
    (cell, data), (other, _) = lbfgs_cell, adam_cell
    write_netcdf(cell, tmp_path / "cell.nc")
    regimes = build_regime_dataset([tmp_path / "cell.nc"], {
        "model": "pinn", "problem": "convection", "strategy": "lbfgs", "axes": ["beta", "n_f"],
        "smoothing_sigma": 0.7, "thresholds": {"train_loss": 1e-3, "test_error": 0.2}})
    runs = {
        "landscapes": ("landscape", {"seeds": [0], "directions": ["random", "hessian"], "random_span": 0.5,
                                     "hessian_span": 1.0, "points": 3, "lanczos_steps": 5, "tol": 1e-3,
                                     "probe_seed": 0}, [cell]),
        "connectivity": ("connectivity", {"seeds": [], "points": 3, "bezier_steps": 2, "bezier_lr": 1e-3,
                                          "probe_seed": 0}, [cell, other]),
        "cka_map": ("similarity", {"seeds": []}, [cell]),
        "tail_alpha": ("tail_alpha", {**alpha.DEFAULTS, "seeds": [0], "learning_rates": [1e-3], "steps": 40,
                                      "min_tail": 10, "resample_points": True}, [cell]),
    }
    for figure, (kind, settings, cells) in runs.items():
        versus = "adam" if kind == "connectivity" else None
        write_netcdf(job(kind, settings, cells, data, versus=versus), tmp_path / f"{kind}.nc")
        combined = combine_diagnostic([tmp_path / f"{kind}.nc"], regimes, {
            "diagnostic": kind, "kind": kind, "model": "pinn", "problem": "convection", "strategy": "lbfgs",
            "versus": versus, "axes": ["beta", "n_f"]})
        write_netcdf(combined, tmp_path / f"{kind}_combined.nc")
        xr.testing.assert_identical(read_netcdf(tmp_path / f"{kind}_combined.nc"), combined)  # meets its contract
        paths = FIGURES[figure]([combined], {}, tmp_path / figure)
        assert all(path.stat().st_size > 0 for path in paths)


def test_a_diverged_seed_gives_nan_not_an_error(lbfgs_cell):
    cell, data = lbfgs_cell
    broken = cell.copy(deep=True)
    broken["snapshot_params"].loc[{"seed": 1}] = np.nan
    settings = {"snapshots": "last", "seeds": [], "lanczos_steps": 5, "power_iterations": 5, "trace_samples": 3,
                "tol": 1e-3, "probe_seed": 0, "trace_target_rel_error": None}
    out = job("curvature", settings, [broken], data).squeeze(["beta", "n_f"])
    assert np.isfinite(out["lambda_max"].sel(seed=0)).all() and np.isnan(out["lambda_max"].sel(seed=1)).all()


def test_combined_trace_carries_the_standard_error_of_its_seed_mean(lbfgs_cell, tmp_path):
    cell, data = lbfgs_cell
    write_netcdf(cell, tmp_path / "cell.nc")
    regimes = build_regime_dataset([tmp_path / "cell.nc"], {
        "model": "pinn", "problem": "convection", "strategy": "lbfgs", "axes": ["beta", "n_f"],
        "smoothing_sigma": 0.7, "thresholds": {"train_loss": 1e-3, "test_error": 0.2}})
    settings = {"snapshots": "last", "seeds": [], "lanczos_steps": 5, "power_iterations": 5, "trace_samples": 4,
                "tol": 1e-3, "probe_seed": 0, "trace_target_rel_error": None}
    write_netcdf(job("curvature", settings, [cell], data), tmp_path / "curvature.nc")
    combined = combine_diagnostic([tmp_path / "curvature.nc"], regimes, {
        "diagnostic": "curvature", "kind": "curvature", "model": "pinn", "problem": "convection",
        "strategy": "lbfgs", "axes": ["beta", "n_f"], "flags": {"low_quantile": 0.25, "high_quantile": 0.75}})
    final = combined.isel(snapshot=-1).squeeze(["beta", "n_f"])
    se = final["trace_standard_error"].values
    assert se.shape == (2,) and (se > 0).all()
    assert float(combined["trace_mean_standard_error"].squeeze()) == pytest.approx(np.sqrt(se @ se) / 2, rel=1e-12)
    assert float(combined["trace_mean"].squeeze()) == pytest.approx(final["trace"].values.mean(), rel=1e-12)


def test_a_cell_without_its_model_settings_is_named(lbfgs_cell, tmp_path):
    cell, data = lbfgs_cell
    broken = cell.copy()
    broken.attrs["config"] = "{}"
    with pytest.raises(ResultFileError, match="bad.nc.*attrs\\['config'\\]"):
        rebuild(broken, data, CPU, source="bad.nc")
    path = tmp_path / "cell.nc"
    write_netcdf(cell, path)
    assert rebuild(read_netcdf(path), data, CPU).seeds == [0, 1]  # a file round trip keeps what it needs


def test_deceptive_flags_follow_the_stated_rule():
    lam = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, np.nan]])
    loss = np.array([[1.0, 1e-5, 1e-5], [1.0, 1e-5, 1e-5]])
    regime = np.array([[UNDER_TRAINED, WELL_TRAINED, OVER_TRAINED], [UNDER_TRAINED, WELL_TRAINED, WELL_TRAINED]])
    sharp, flat, low, high = deceptive_flags(lam, loss, regime, tau_loss=1e-3, low_quantile=0.25, high_quantile=0.75)
    assert (low, high) == (2.0, 4.0)  # quantiles of the five probed cells
    # λ ≥ 4 with low loss: only (1, 1) (λ = 4 sits in a regime II cell with high loss)
    np.testing.assert_array_equal(sharp, [[0, 0, 0], [0, 1, 0]])
    # λ ≤ 2 in regime II: only (0, 0); (0, 1) is flat but well trained
    np.testing.assert_array_equal(flat, [[1, 0, 0], [0, 0, 0]])


def diagnostics_config() -> dict:
    config = tiny_config()
    config["diagnostics"] = {
        "sharpening": {"kind": "curvature", "select": [{"model": "pinn", "problem": "convection", "strategy": "lbfgs"}],
                       "settings": {"snapshots": "all", "lanczos_steps": 5, "power_iterations": 5,
                                    "trace_samples": 3}},
        "spectra": {"kind": "density", "select": [{"model": "pinn", "problem": "convection", "strategy": "lbfgs",
                                                   "cells": [{"beta": 30, "n_f": 100}]}],
                    "settings": {"lanczos_steps": 5, "runs": 1}},
    }
    return config


@pytest.mark.parametrize("edit, words", [
    (lambda d: d["sharpening"].update(kind="hessian"), ["diagnostics.sharpening.kind", "unknown kind 'hessian'"]),
    (lambda d: d["sharpening"]["settings"].update(snapshots="some"), ["diagnostics.sharpening.settings.snapshots"]),
    (lambda d: d["sharpening"]["settings"].update(lanczos=3), ["diagnostics.sharpening.settings", "lanczos"]),
    *[(lambda d, v=value: d["sharpening"]["settings"].update(trace_target_rel_error=v),
       ["diagnostics.sharpening.settings.trace_target_rel_error", "null (off) or a number strictly between 0 and 1",
        repr(value)]) for value in (0, 1.5, -0.1, "5e-2", True)],
    (lambda d: d.update(alpha={"kind": "tail_alpha", "select": d["spectra"]["select"], "settings": {"optimizer": "rmsprop"}}),
     ["diagnostics.alpha.settings.optimizer", "'rmsprop'", "'sgd'", "'adam'"]),
    (lambda d: d["spectra"]["select"][0]["cells"][0].update(beta=7),
     ["diagnostics.spectra.select[0].cells[0].beta", "7 is not on the study's grid"]),
    (lambda d: d["spectra"]["select"][0].update(strategy="alm"), ["diagnostics.spectra.select[0].strategy", "'alm'"]),
    (lambda d: d["spectra"].update(kind="connectivity", settings={}), ["diagnostics.spectra.select[0]", "versus"]),
    (lambda d: d["spectra"]["select"][0].update(problem="wave"), ["no study trains model 'pinn' on problem 'wave'"]),
])
def test_bad_diagnostics_are_named(edit, words):
    config = diagnostics_config()
    edit(config["diagnostics"])
    with pytest.raises(ConfigError) as error:
        validate(copy.deepcopy(config), source="study.yaml")
    for word in words:
        assert word in str(error.value)


def test_trace_target_is_off_by_default_and_validated():
    config = diagnostics_config()
    settings = validate(copy.deepcopy(config), source="study.yaml")["diagnostics"]["sharpening"]["settings"]
    assert settings["trace_target_rel_error"] is None  # the paper's Hutchinson rule
    config["diagnostics"]["sharpening"]["settings"]["trace_target_rel_error"] = 0.05
    settings = validate(config, source="study.yaml")["diagnostics"]["sharpening"]["settings"]
    assert settings["trace_target_rel_error"] == 0.05


@pytest.mark.workflow
def test_snakemake_runs_diagnostics_into_figures(workflow):
    config = diagnostics_config()
    config["studies"][0]["strategies"] = ["lbfgs"]
    workflow.write_config(config)
    workflow.snakemake("figures")
    for stem in ("sharpening/pinn_convection_lbfgs_curvature_map", "sharpening/pinn_convection_lbfgs_sharpening",
                 "sharpening/all_sharpening_regimes", "spectra/pinn_convection_lbfgs_spectra"):
        for suffix in ("png", "pdf"):
            assert (workflow.workdir / f"results/figures/{stem}.{suffix}").stat().st_size > 0
    combined = read_netcdf(workflow.workdir / "results/diagnostics/sharpening/pinn/convection/lbfgs.nc")
    assert combined.sizes["beta"] == 2 and combined.sizes["snapshot"] == 3
    assert {"deceptive_sharpness", "deceptive_flatness", "regime", "lambda_max_mean"} <= set(combined)
    spectra = read_netcdf(workflow.workdir / "results/diagnostics/spectra/pinn/convection/lbfgs.nc")
    assert np.isnan(spectra["slq_nodes"].sel(beta=5)).all() and np.isfinite(spectra["slq_nodes"].sel(beta=30)).any()
