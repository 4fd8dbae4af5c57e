"""Training a cell: collocation sampling, a well-posed cell, reproducibility and divergence as a result."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sciml.problems import get_problem
from sciml.problems.pinn import PINNObjective
from sciml.training.records import STATUS_DIVERGED, STATUS_OK
from sciml.training.train import train_cell, train_seed

from support import PINN, cell_data, cell_spec


def test_collocation_sampling():
    problem = get_problem("convection")
    settings = problem.settings()
    x, t = problem.grid(settings)
    a = problem.generate("collocation", settings, 5000)
    pairs = set(zip(a["x"].values.tolist(), a["t"].values.tolist()))
    assert len(pairs) == 5000  # without replacement
    assert set(a["x"].values) <= set(x[1:-1]) and set(a["t"].values) <= set(t[1:])  # interior, t > 0
    again = problem.generate("collocation", settings, 5000)
    np.testing.assert_array_equal(a["x"].values, again["x"].values)  # reproducible
    torch.manual_seed(123)  # the network's init seed plays no part
    np.random.seed(123)
    np.testing.assert_array_equal(a["t"].values, problem.generate("collocation", settings, 5000)["t"].values)
    other = problem.generate("collocation", problem.settings({"sampling_seed": 1}), 5000)
    assert not np.array_equal(a["x"].values, other["x"].values)
    assert problem.n_candidates(settings) == 255 * 100
    full = problem.generate("collocation", settings, 25500)
    assert len(set(zip(full["x"].values.tolist(), full["t"].values.tolist()))) == 25500


def test_test_grid_is_129_by_101():
    reference = cell_data(5, 10)["reference"]
    assert reference["u"].shape == (101, 129)
    assert reference["x"].values[0] == 0 and np.isclose(reference["x"].values[-1], 2 * np.pi)


def test_network_matches_the_paper():
    from sciml.models.build import build_model

    model = build_model({k: v for k, v in PINN.items() if k != "dtype"}, 2, 1)
    assert sum(p.numel() for p in model.parameters()) == 5301
    assert all(layer.bias.detach().abs().max().item() == 0 for layer in model.net if hasattr(layer, "bias"))


def test_well_posed_cell_reaches_a_low_test_error():
    strategy = {"method": "lbfgs", "steps": 150, "log_every": 10}
    ds = train_cell(cell_spec(5, 2000, strategy), cell_data(5, 2000), torch.device("cpu"))
    assert int(ds["status"].item()) == STATUS_OK
    assert float(ds["train_loss"].item()) < 1e-3
    assert float(ds["test_error"].item()) < 0.05
    history = ds["history_train_loss"].squeeze().values
    assert history[0] > 100 * history[-1]
    np.testing.assert_allclose(ds["history_test_error"].squeeze().values[-1], ds["test_error"].item(), rtol=1e-6)


def test_same_seed_same_numbers_and_snapshots():
    strategy = {"method": "lbfgs", "steps": 4, "snapshots": 3}
    data = cell_data(30, 200)
    a = train_seed(cell_spec(30, 200, strategy), data, seed=3, device=torch.device("cpu"))
    b = train_seed(cell_spec(30, 200, strategy), data, seed=3, device=torch.device("cpu"))
    c = train_seed(cell_spec(30, 200, strategy), data, seed=4, device=torch.device("cpu"))
    np.testing.assert_array_equal(a.final_params, b.final_params)
    np.testing.assert_array_equal(a.history.train_loss, b.history.train_loss)
    assert not np.array_equal(a.final_params, c.final_params)
    assert a.history.snapshot_steps.tolist() == [0, 2, 4]
    np.testing.assert_array_equal(a.history.snapshots[-1], a.final_params)


def test_stalled_lbfgs_stops_early_and_fills_history_forward():
    strategy = {"method": "lbfgs", "steps": 400, "log_every": 1, "stop_when_stalled": 3}
    result = train_seed(cell_spec(5, 100, strategy), cell_data(5, 100), seed=0, device=torch.device("cpu"))
    assert result.status == STATUS_OK
    assert result.stop_step < 400
    tail = result.history.train_loss[result.stop_step:]
    np.testing.assert_array_equal(tail, tail[0])
    np.testing.assert_array_equal(result.history.snapshots[-1], result.final_params)


def poison_seed_one(monkeypatch) -> None:
    """Seed 1's PDE residual turns NaN after 5 evaluations; every other seed trains normally."""
    original = PINNObjective.residuals
    calls = {"n": 0}

    def poisoned(self):
        terms = original(self)
        if torch.initial_seed() == 1:
            calls["n"] += 1
            if calls["n"] > 5:
                terms["pde"] = terms["pde"] * float("nan")
        return terms

    monkeypatch.setattr(PINNObjective, "residuals", poisoned)


def test_nan_in_one_seed_is_a_result(monkeypatch, tmp_path):
    """A NaN injected into seed 1's loss after 5 evaluations stops that seed only."""
    poison_seed_one(monkeypatch)
    strategy = {"method": "adam", "steps": 20, "log_every": 1, "batch_seeds": False}  # the sequential path:
    # batched seeds (tests/test_batched.py) never call residuals()
    ds = train_cell(cell_spec(5, 100, strategy, seeds=(0, 1)), cell_data(5, 100), torch.device("cpu"))
    status = ds["status"].squeeze().values
    assert status.tolist() == [STATUS_OK, STATUS_DIVERGED]
    stop = ds["stop_step"].squeeze().values
    assert stop[0] == 20 and 0 < stop[1] < 20
    assert np.isfinite(ds["train_loss"].squeeze().values[0])
    assert np.isnan(ds["train_loss"].squeeze().values[1])
    history = ds["history_train_loss"].squeeze().values
    assert np.isfinite(history[0]).all()
    assert np.isfinite(history[1, : stop[1]]).all() and np.isnan(history[1, stop[1]:]).all()

    # the seed mean covers the finished seed only, says so, and the regime map marks the cell
    import matplotlib.pyplot as plt

    from sciml.figures.regime_map import draw_panels
    from sciml.results.regimes import build_regime_dataset
    from sciml.results.store import write_netcdf

    write_netcdf(ds, tmp_path / "cell.nc")
    regimes = build_regime_dataset([tmp_path / "cell.nc"], {
        "model": "pinn", "problem": "convection", "strategy": "adam", "axes": ["beta", "n_f"],
        "thresholds": {"train_loss": 1.0, "test_error": 1.0}, "smoothing_sigma": 0.0})
    assert regimes["n_seeds"].item() == 2 and regimes["n_seeds_ok"].item() == 1
    assert regimes["train_loss_mean"].item() == ds["train_loss"].squeeze().values[0]
    figure, axes = plt.subplots(1, 2)
    draw_panels(regimes, axes)
    assert "\u20201/2" in {text.get_text()[-4:] for text in axes[0].texts}
    plt.close(figure)


def test_unknown_problem_is_named():
    with pytest.raises(KeyError, match="unknown problem 'heat'"):
        get_problem("heat")


def test_strategy_statistics_land_in_the_cell_file(tmp_path):
    """NNCG's μ and CG record per seed survive the round trip through NetCDF; other strategies add nothing."""
    from sciml.results.store import read_netcdf, write_netcdf

    nncg = {"method": "nncg", "adam_steps": 2, "lbfgs_steps": 1, "nncg_steps": 2, "max_iter": 5, "rank": 5,
            "cg_max_iter": 20}
    data = cell_data(5, 100)
    ds = train_cell(cell_spec(5, 100, nncg, seeds=(0, 1)), data, torch.device("cpu"))
    write_netcdf(ds, tmp_path / "cell.nc")
    stored = read_netcdf(tmp_path / "cell.nc")
    assert stored["strategy_nncg_steps_taken"].squeeze().values.tolist() == [2, 2]
    assert (stored["strategy_cg_iterations_total"].values > 0).all()
    assert (stored["strategy_mu_final"].values >= 1e-2).all()
    plain = train_cell(cell_spec(5, 100, {"method": "adam", "steps": 2}), data, torch.device("cpu"))
    assert not [name for name in plain.data_vars if name.startswith("strategy_")]


def test_a_cell_too_large_for_memory_is_named_with_the_memory_asked_for(monkeypatch, tmp_path, capsys):
    """The allocator's own error (a real one: torch refuses 2**62 bytes at once) becomes one naming the cell."""
    import json

    import sciml.training.train
    from sciml.cli import main
    from sciml.results.store import write_netcdf
    from sciml.training.memory import CellOutOfMemory

    def huge_model(*args, **kwargs):
        return torch.empty(2**62, dtype=torch.uint8)

    monkeypatch.setattr(sciml.training.train, "seeded_model", huge_model)
    spec = cell_spec(5, 100, {"method": "adam", "steps": 2})
    with pytest.raises(CellOutOfMemory, match=r"training cell pinn/convection/adam at beta=5 n_f=100 \(seed 0\) "
                                              r"ran out of memory on cpu: it tried to allocate 4.29e\+09 GiB"):
        train_cell(spec, cell_data(5, 100), torch.device("cpu"))
    paths = []
    for product, ds in cell_data(5, 100).items():
        paths.append(str(tmp_path / f"{product}.nc"))
        write_netcdf(ds, paths[-1])
    assert main(["train", "--spec", json.dumps(spec), "--out", str(tmp_path / "cell.nc"), *paths]) == 2
    err = capsys.readouterr().err
    assert "sciml train: error: training cell pinn/convection/adam at beta=5 n_f=100 (seed 0) ran out of " \
           "memory on cpu: it tried to allocate 4.29e+09 GiB" in err and "DefaultCPUAllocator" in err
    assert "Traceback" not in err and not (tmp_path / "cell.nc").exists()


def test_other_runtime_errors_in_training_are_not_called_memory(monkeypatch):
    import sciml.training.train
    from sciml.training.memory import asked_memory

    def broken(*args, **kwargs):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    monkeypatch.setattr(sciml.training.train, "seeded_model", broken)
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied") as raised:
        train_cell(cell_spec(5, 100, {"method": "adam", "steps": 2}), cell_data(5, 100), torch.device("cpu"))
    assert type(raised.value) is RuntimeError
    assert asked_memory("CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 79.15 GiB total capacity)") == "20.00 GiB"
    assert asked_memory("Unable to allocate 8.00 PiB for an array with shape (1,)") == "8.00 PiB"


def test_train_job_log_names_a_diverged_seed_and_ends_with_what_happened(monkeypatch, tmp_path, capsys, caplog):
    """`sciml train`'s stderr is the job log: a line per diverged seed (seed, step, loss), then one summary."""
    import json
    import logging
    import re

    from sciml.cli import main
    from sciml.results.store import write_netcdf

    poison_seed_one(monkeypatch)
    paths = []
    for product, ds in cell_data(5, 100).items():
        paths.append(str(tmp_path / f"{product}.nc"))
        write_netcdf(ds, paths[-1])
    out = tmp_path / "cell.nc"
    spec = cell_spec(5, 100, {"method": "adam", "steps": 20, "batch_seeds": False}, seeds=(0, 1))
    with caplog.at_level(logging.INFO):
        assert main(["train", "--spec", json.dumps(spec), "--out", str(out), *paths]) == 0
    diverged = [r.getMessage() for r in caplog.records if "diverged" in r.getMessage()]
    assert len(diverged) == 1 and re.fullmatch(r"seed 1 diverged at step \d+: loss nan; the cell records it as diverged",
                                               diverged[0]), diverged
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.fullmatch(rf"sciml train: wrote {re.escape(str(out))} \(1 seed ok, 1 diverged\) in \d+\.\d s", last), last

    assert main(["aggregate", "--spec", json.dumps({"model": "pinn", "problem": "convection", "strategy": "adam",
                 "axes": ["beta", "n_f"], "thresholds": {"train_loss": 1.0, "test_error": 1.0}, "smoothing_sigma": 0.0}),
                 "--out", str(tmp_path / "regimes.nc"), str(out)]) == 0
    assert re.fullmatch(r"sciml aggregate: wrote \S+regimes\.nc in \d+\.\d s", capsys.readouterr().err.strip().splitlines()[-1])
    assert main(["aggregate", "--spec", "{", "--out", str(tmp_path / "x.nc"), str(out)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("sciml aggregate: error: --spec is not valid JSON")
