"""The NetCDF contract: round trip, provenance, atomic writes, combining, clear errors on bad files."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
import xarray as xr

from sciml.provenance import provenance_attrs
from sciml.results.regimes import build_regime_dataset
from sciml.results.store import ResultFileError, combine_cells, read_netcdf, write_netcdf
from sciml.training.records import STATUS_OK
from sciml.training.train import train_cell

from support import cell_data, cell_spec

STRATEGY = {"method": "lbfgs", "steps": 2, "snapshots": 2}


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    """Three cells of a 2 x 2 grid (one missing), two seeds each, written as files."""
    root = tmp_path_factory.mktemp("cells")
    paths = []
    for beta, n_f in [(5, 50), (5, 80), (30, 50)]:
        ds = train_cell(cell_spec(beta, n_f, STRATEGY, seeds=(0, 1)), cell_data(beta, n_f), torch.device("cpu"))
        path = root / f"beta={beta}__n_f={n_f}.nc"
        write_netcdf(ds, path)
        paths.append(path)
    return paths


def test_cell_round_trip_and_contract(cells):
    ds = read_netcdf(cells[0])
    assert ds["train_loss"].dims == ("beta", "n_f", "seed")
    assert ds.sizes["beta"] == ds.sizes["n_f"] == 1 and ds["seed"].values.tolist() == [0, 1]
    assert ds["params"].dims == ("beta", "n_f", "seed", "param") and ds.sizes["param"] == 5301
    assert ds["params"].dtype == np.float32
    assert ds["snapshot_params"].dims == ("beta", "n_f", "seed", "snapshot", "param")
    for name in ("loss_pde", "loss_ic", "loss_bc", "history_loss_pde", "history_train_loss", "history_test_error",
                 "wall_time", "status", "stop_step"):
        assert name in ds, name
    total = ds["loss_pde"] + ds["loss_ic"] + ds["loss_bc"]
    np.testing.assert_allclose(total.values, ds["train_loss"].values, rtol=1e-5)
    for key in ("config_hash", "config", "package_versions", "git_commit", "device"):
        assert ds.attrs[key]
    spec = json.loads(ds.attrs["config"])
    assert spec["axes"] == {"beta": 5, "n_f": 50} and json.loads(ds.attrs["package_versions"])["torch"]
    assert ds.attrs["device"].startswith("cpu")
    rewritten = cells[0].with_name("copy.nc")
    write_netcdf(ds, rewritten)
    xr.testing.assert_identical(read_netcdf(rewritten), ds)


def test_combined_cells_keep_missing_ones_as_nan(cells):
    ds = combine_cells(cells, ["beta", "n_f"])
    assert ds["train_loss"].shape == (2, 2, 2)
    assert np.isnan(ds["train_loss"].sel(beta=30, n_f=80)).all()
    assert ds["cell_config_hash"].dims == ("beta", "n_f")
    assert ds["cell_config_hash"].sel(beta=5, n_f=50).item() != ds["cell_config_hash"].sel(beta=5, n_f=80).item()


def test_cells_trained_for_different_lengths_combine_on_the_union_of_their_steps(cells, tmp_path):
    """A cell_overrides entry can give some cells more steps: their histories are longer, the grid the same."""
    longer = train_cell(cell_spec(30, 80, {**STRATEGY, "steps": 4}, seeds=(0, 1)), cell_data(30, 80),
                        torch.device("cpu"))
    path = tmp_path / "beta=30__n_f=80.nc"
    write_netcdf(longer, path)
    ds = combine_cells([*cells, path], ["beta", "n_f"])
    assert ds["train_loss"].dims == ("beta", "n_f", "seed") and ds["train_loss"].shape == (2, 2, 2)
    assert ds["step"].values.tolist() == longer["step"].values.tolist()
    short = ds["history_train_loss"].sel(beta=5, n_f=50)
    assert np.isnan(short.sel(step=4)).all() and np.isfinite(short.sel(step=2)).all()
    np.testing.assert_array_equal(ds["history_train_loss"].sel(beta=30, n_f=80).values,
                                  longer["history_train_loss"].isel(beta=0, n_f=0).values)


def test_regime_dataset(cells):
    spec = {"model": "pinn", "problem": "convection", "strategy": "lbfgs", "axes": ["beta", "n_f"],
            "thresholds": {"train_loss": 1e9, "test_error": 1e9}, "smoothing_sigma": 0.7}
    ds = build_regime_dataset(cells, spec)
    assert ds["regime"].dims == ("beta", "n_f")
    assert ds["n_seeds_ok"].sel(beta=5, n_f=50).item() == 2
    assert ds["n_seeds"].sel(beta=30, n_f=80).item() == 0  # the missing cell
    expected = ds["train_loss"].sel(beta=5, n_f=50).mean().item()
    assert ds["train_loss_mean"].sel(beta=5, n_f=50).item() == pytest.approx(expected)
    assert ds["regime"].sel(beta=5, n_f=50).item() == 1  # huge thresholds: well-trained
    assert ds["regime"].sel(beta=30, n_f=80).item() == 2  # nothing trained there: under-trained
    assert int(ds["status"].sel(beta=5, n_f=50).max()) == STATUS_OK


def test_corrupt_and_truncated_files_are_named(cells, tmp_path):
    truncated = tmp_path / "beta=5__n_f=50.nc"
    truncated.write_bytes(cells[0].read_bytes()[:2000])
    garbage = tmp_path / "garbage.nc"
    garbage.write_bytes(b"not a netcdf file at all")
    for path in (truncated, garbage):
        with pytest.raises(ResultFileError, match=f"{path}.*rerun snakemake"):
            read_netcdf(path)
        with pytest.raises(ResultFileError, match=str(path)):
            combine_cells([cells[1], path], ["beta", "n_f"])
    with pytest.raises(ResultFileError, match="no such result file"):
        read_netcdf(tmp_path / "absent.nc")


def test_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.nc"
    bad = xr.Dataset({"a": ("x", [1.0, 2.0])}, attrs={"nested": {"not": "allowed"}})
    with pytest.raises(Exception):
        write_netcdf(bad, target)
    assert os.listdir(tmp_path) == []


def test_provenance_hash_follows_the_spec():
    a = provenance_attrs({"x": 1, "y": [1, 2]})
    b = provenance_attrs({"y": [1, 2], "x": 1})
    c = provenance_attrs({"x": 2, "y": [1, 2]})
    assert a["config_hash"] == b["config_hash"] != c["config_hash"]


def test_retrain_reproduces_a_cell_from_its_provenance(cells, capsys):
    from sciml.cli import main

    assert main(["retrain", str(cells[2]), "--check"]) == 0
    assert "identical" in capsys.readouterr().out


def test_retrain_uses_the_thread_count_the_cell_was_trained_with(cells, capsys):
    """CPU reductions depend on the thread count: retrain sets the stored one, whatever the process had."""
    from sciml.cli import main

    stored = int(read_netcdf(cells[2]).attrs["torch_threads"])
    threads = torch.get_num_threads()
    torch.set_num_threads(stored + 1)
    try:
        assert main(["retrain", str(cells[2])]) == 0
        assert torch.get_num_threads() == stored
    finally:
        torch.set_num_threads(threads)


def test_written_files_follow_the_umask(tmp_path, cells):
    """mkstemp makes 0600 files; results are shared with the group on a cluster, as the umask says."""
    from sciml.atomic import atomic_path

    previous = os.umask(0o002)
    try:
        write_netcdf(read_netcdf(cells[0]), tmp_path / "cell.nc")
        with atomic_path(tmp_path / "table.csv") as temporary:
            temporary.write_text("a,b\n")
    finally:
        os.umask(previous)
    assert (tmp_path / "cell.nc").stat().st_mode & 0o777 == 0o664
    assert (tmp_path / "table.csv").stat().st_mode & 0o777 == 0o664
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cell.nc", "table.csv"]  # no temporary left


def _broken(cells, tmp_path, change) -> str:
    """A copy of a real cell file with one change to its variables, under the cell's own file name."""
    ds = change(read_netcdf(cells[0]))
    path = tmp_path / cells[0].name
    write_netcdf(ds, path)
    return str(path)


def test_a_cell_missing_a_variable_is_refused_naming_file_and_variable(cells, tmp_path, capsys):
    path = _broken(cells, tmp_path, lambda ds: ds.drop_vars(["train_loss", "loss_pde"]))
    with pytest.raises(ResultFileError, match=f"{path} breaks the contract of a cell file") as error:
        read_netcdf(path)
    assert "missing variable(s) train_loss" in str(error.value) and "loss_pde" not in str(error.value)
    # the aggregation job, which once labelled the cell II from a NaN, stops there
    spec = {"model": "pinn", "problem": "convection", "strategy": "lbfgs", "axes": ["beta", "n_f"],
            "thresholds": {"train_loss": 1.0, "test_error": 1.0}, "smoothing_sigma": 0.7}
    with pytest.raises(ResultFileError, match=f"{path}.*train_loss"):
        build_regime_dataset([path, cells[1]], spec)
    from sciml.cli import main

    assert main(["aggregate", "--spec", json.dumps(spec), "--out", str(tmp_path / "regimes.nc"), path]) == 2
    err = capsys.readouterr().err
    assert f"sciml aggregate: error: {path}" in err and "missing variable(s) train_loss" in err
    assert not (tmp_path / "regimes.nc").exists()


def test_a_cell_with_wrong_dimensions_or_dtype_is_refused(cells, tmp_path):
    def wrong_dims(ds):
        return ds.assign(test_error=ds["history_test_error"])

    def wrong_dtype(ds):
        return ds.assign(status=ds["status"].astype(np.float64))

    path = _broken(cells, tmp_path, wrong_dims)
    with pytest.raises(ResultFileError, match=f"{path}.*test_error has dimensions "
                                              r"\('beta', 'n_f', 'seed', 'step'\), expected \('beta', 'n_f', 'seed'\)"):
        read_netcdf(path)
    path = _broken(cells, tmp_path, wrong_dtype)
    with pytest.raises(ResultFileError, match=f"{path}.*status is float64, expected integer"):
        read_netcdf(path)
    with pytest.raises(ResultFileError, match="no history_loss_<term> variable"):
        read_netcdf(_broken(cells, tmp_path, lambda ds: ds.drop_vars([n for n in ds if n.startswith("history_loss")])))


def test_readers_refuse_a_file_of_another_kind_and_a_file_of_no_kind(cells, tmp_path, capsys):
    from sciml.cli import main

    assert main(["show", str(cells[0])]) == 2
    assert f"{cells[0]} is a cell file, not the regime dataset expected here" in capsys.readouterr().err
    stranger = tmp_path / "stranger.nc"
    write_netcdf(xr.Dataset({"train_loss": ("seed", [1.0])}), stranger)
    with pytest.raises(ResultFileError, match=f"{stranger} is not a result file of this workflow"):
        read_netcdf(stranger)
    assert read_netcdf(cells[0], "cell file")["train_loss"].dtype == np.float64


def test_a_regime_dataset_missing_its_labels_is_refused_by_show(cells, tmp_path, capsys):
    from sciml.cli import main

    spec = {"model": "pinn", "problem": "convection", "strategy": "lbfgs", "axes": ["beta", "n_f"],
            "thresholds": {"train_loss": 1.0, "test_error": 1.0}, "smoothing_sigma": 0.7}
    regimes = build_regime_dataset(cells, spec).assign_attrs(provenance_attrs(spec))
    path = tmp_path / "lbfgs.nc"
    write_netcdf(regimes.drop_vars("regime"), path)
    assert main(["show", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"sciml show: error: {path} breaks the contract of a regime dataset" in err and "regime" in err
    write_netcdf(regimes, path)
    assert main(["show", str(path)]) == 0


def test_reproduction_compares_every_variable_but_wall_time(cells, tmp_path):
    from sciml.results.reproduce import differences, reproduction_report

    stored = read_netcdf(cells[0])
    copy = stored.copy(deep=True)
    copy["wall_time"] += 5.0  # timing: never reproduced, never compared
    write_netcdf(copy, tmp_path / "same.nc")
    lines, differ = reproduction_report(stored, read_netcdf(tmp_path / "same.nc"))
    assert differ == {} and "train_loss" in lines[0] and lines[0].endswith("identical")
    assert lines[2].startswith("all ") and lines[2].endswith("variables identical")
    assert lines[3] == "not compared (wall-clock time): wall_time"
    copy["params"] += 1
    copy["history_train_loss"][:] = 0.0
    write_netcdf(copy, tmp_path / "changed.nc")
    lines, differ = reproduction_report(stored, read_netcdf(tmp_path / "changed.nc"))
    assert sorted(differ) == ["history_train_loss", "params"]  # train_loss and test_error still agree
    assert lines[0].endswith("identical") and lines[1].endswith("identical")
    assert lines[2].startswith("DIFFERENT: 2 of") and "params (10602 of 10602 values differ)" in lines[2]
    assert differences(stored, stored.drop_vars("loss_ic")) == {"loss_ic": "only in the stored cell"}


def test_retrain_check_fails_naming_what_the_stored_file_does_not_reproduce(cells, tmp_path, capsys):
    from sciml.cli import main

    changed = read_netcdf(cells[2])
    changed["snapshot_params"] += 1
    changed["history_test_error"][:] = 0.0
    path = tmp_path / cells[2].name
    write_netcdf(changed, path)
    assert main(["retrain", str(path)]) == 0  # without --check: a report only
    assert main(["retrain", str(path), "--check"]) == 2
    captured = capsys.readouterr()
    assert "DIFFERENT: 2 of" in captured.out and "snapshot_params (" in captured.out
    assert f"{path}: retraining did not reproduce the stored numbers: history_test_error, snapshot_params differ" \
        in captured.err
