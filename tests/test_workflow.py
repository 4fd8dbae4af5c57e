"""Real snakemake runs: the smoke study end to end, incremental reruns, and bad input before any job."""

from __future__ import annotations

import re

import pytest
import xarray as xr
import yaml

from conftest import REPO, tiny_config

pytestmark = pytest.mark.workflow


def test_smoke_study_end_to_end(workflow):
    workflow.write_config(yaml.safe_load((REPO / "config" / "smoke.yaml").read_text()))
    workflow.snakemake("figures", timeout=1800)
    results = workflow.workdir / "results"
    assert (results / "figures" / "comparisons" / "pinn_convection_adam_vs_lbfgs.png").stat().st_size > 10_000
    comparison = xr.load_dataset(results / "comparisons" / "pinn" / "convection" / "adam_vs_lbfgs.nc")
    assert comparison["n_pairs"].values.tolist() == [[2, 2], [2, 2]]
    assert (results / "figures" / "across_strategies" / "pinn_convection.png").stat().st_size > 10_000
    for strategy in ("lbfgs", "adam", "adam_lbfgs", "nncg", "alm", "curriculum", "ropinn"):
        assert (results / "figures" / "regimes" / f"pinn_convection_{strategy}.png").stat().st_size > 10_000
        assert (results / "figures" / "regimes" / f"pinn_convection_{strategy}.pdf").exists()
        ds = xr.load_dataset(results / "regimes" / "pinn" / "convection" / f"{strategy}.nc")
        assert ds["regime"].shape == (2, 2) and ds.sizes["seed"] == 2
        assert int(ds["n_seeds"].min()) == 2
        if strategy in ("lbfgs", "adam"):
            assert int(ds["n_seeds_ok"].min()) == 2
        if strategy != "lbfgs":
            assert (results / "comparisons" / "pinn" / "convection" / f"{strategy}_vs_lbfgs.nc").exists()
    lbfgs = xr.load_dataset(results / "regimes" / "pinn" / "convection" / "lbfgs.nc")
    # even 15 L-BFGS steps separate the easy cell from the hard one
    assert lbfgs["regime"].sel(beta=5, n_f=300).item() == 1
    assert lbfgs["regime"].sel(beta=30, n_f=300).item() == 2
    assert len(workflow.files("results/cells/**/*.nc")) == 28
    assert not list(results.rglob("*.tmp"))
    again = workflow.snakemake("figures", "--dry-run")
    assert "Nothing to be done" in again.stdout + again.stderr
    workflow.snakemake("--report", "report.html")
    report = (workflow.workdir / "report.html").read_text()
    assert "pinn_convection_adam.png" in report and "Regime map of one model" in report
    assert_analysis(results, report)


def assert_analysis(results, report: str) -> None:
    """The analysis jobs of the smoke study (tests/test_analysis.py tests their numbers), and the commands."""
    import contextlib
    import io

    import pandas as pd

    from sciml.cli import main

    robust = xr.load_dataset(results / "analysis" / "robustness" / "pinn" / "convection" / "lbfgs.nc")
    assert robust.attrs["bootstrap_exact"] == 1 and robust.attrs["bootstrap_resamples"] == 4  # 2 seeds: 2**2 draws
    assert ((robust["confidence"] >= 0) & (robust["confidence"] <= 1)).all()
    table = pd.read_csv(results / "analysis" / "guidance.csv")
    # strategies besides the baseline x regimes x metrics, per problem only: one problem has no pooled rows
    assert len(table) == 6 * 3 * 2 and set(table["family"]) == {"problem"}
    for name in ("pinn_convection_nncg.png", "guidance.png", "guidance.csv", "Robustness of one regime map",
                 "Regime-aware guidance across every study"):
        assert name in report
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["show", str(results / "regimes" / "pinn" / "convection" / "lbfgs.nc")]) == 0
        assert main(["advise", "--model", "pinn", "--problem", "convection", "--cell", "beta=5", "n_f=300",
                     "--results", str(results)]) == 0
    assert "(label confidence)" in out.getvalue()
    assert "cell beta=5 n_f=300: regime I" in out.getvalue() and "evidence on pinn / convection" in out.getvalue()
    # every training job left its Snakemake benchmark file; `sciml costs` sums them per strategy
    assert len(list((results / "benchmarks" / "cells").rglob("*.tsv"))) == 28
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["costs", "--results", str(results)]) == 0
    assert "| cells/pinn/convection/lbfgs | 4 |" in out.getvalue() and "| **total** | 28 |" in out.getvalue()


COMPARISON = "results/comparisons/pinn/convection/adam_vs_lbfgs.nc"
GUIDANCE = "results/analysis/guidance.nc"


def robustness(strategy: str) -> str:
    return f"results/analysis/robustness/pinn/convection/{strategy}.nc"


def rewritten(before: dict[str, int], after: dict[str, int]) -> set[str]:
    return {path for path, mtime in after.items() if before.get(path) != mtime}


def test_reruns_stay_local(workflow):
    config = tiny_config()
    workflow.write_config(config)
    workflow.snakemake("figures")
    cells = "results/cells/**/*.nc"
    before = workflow.files("results/**/*.nc")
    assert len(workflow.files(cells)) == 4

    # a new grid value: only its cells (and their data), then aggregation and figures
    config["studies"][0]["axes"]["beta"].append(10)
    workflow.write_config(config)
    workflow.snakemake("figures")
    after = workflow.files("results/**/*.nc")
    assert rewritten(before, after) == {
        "results/data/convection/reference/beta=10.nc",
        "results/cells/pinn/convection/lbfgs/beta=10__n_f=100.nc",
        "results/cells/pinn/convection/adam/beta=10__n_f=100.nc",
        "results/regimes/pinn/convection/lbfgs.nc",
        "results/regimes/pinn/convection/adam.nc",
        COMPARISON,
        robustness("lbfgs"),
        robustness("adam"),
        GUIDANCE,
    }

    # one strategy's setting in this study: only that strategy's cells
    before = after
    config["studies"][0]["overrides"] = {"lbfgs": {"steps": 2}}
    workflow.write_config(config)
    workflow.snakemake("figures")
    after = workflow.files("results/**/*.nc")
    assert rewritten(before, after) == {
        *(p for p in after if p.startswith("results/cells/pinn/convection/lbfgs/")),
        "results/regimes/pinn/convection/lbfgs.nc",
        COMPARISON,
        robustness("lbfgs"),
        GUIDANCE,
    }

    # thresholds are analysis, not training: only the regime dataset and its figure
    before = after
    config["studies"][0]["thresholds"]["lbfgs"] = {"train_loss": 1.0, "test_error": 2.0}
    workflow.write_config(config)
    workflow.snakemake("figures")
    after = workflow.files("results/**/*.nc")
    assert rewritten(before, after) == {"results/regimes/pinn/convection/lbfgs.nc", COMPARISON, robustness("lbfgs"),
                                        GUIDANCE}
    assert xr.load_dataset(workflow.workdir / "results/regimes/pinn/convection/lbfgs.nc")["regime"].max() == 1

    # robustness settings are analysis of the regime datasets: only the robustness jobs rerun
    before = after
    config["analysis"] = {"smoothing_sigmas": [0.0, 1.0]}
    workflow.write_config(config)
    workflow.snakemake("figures")
    after = workflow.files("results/**/*.nc")
    assert rewritten(before, after) == {robustness("lbfgs"), robustness("adam")}

    # a comment in the training code changes nothing; a real change reruns the cells it affects
    adam = workflow.repo / "sciml" / "strategies" / "adam.py"
    adam.write_text(adam.read_text() + "\n# a comment only\n")
    assert "Nothing to be done" in workflow.snakemake("figures", "--dry-run").stdout
    source = adam.read_text()
    changed = source.replace('"weight_decay": 0.0,', '"weight_decay": 0.0,\n        "amsgrad": False,')
    assert changed != source
    adam.write_text(changed)
    before = workflow.files("results/**/*.nc")
    workflow.snakemake("figures")
    after = workflow.files("results/**/*.nc")
    assert rewritten(before, after) == {
        *(p for p in after if p.startswith("results/cells/pinn/convection/adam/")),
        "results/regimes/pinn/convection/adam.nc",
        COMPARISON,
        robustness("adam"),
        GUIDANCE,
    }
    assert "Nothing to be done" in workflow.snakemake("figures", "--dry-run").stdout


def test_bad_config_fails_before_any_job(workflow):
    config = tiny_config()
    config["studies"][0]["problem"] = "heat"
    workflow.write_config(config)
    result = workflow.snakemake("figures", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "study.yaml" in output and "studies[0].problem" in output and "unknown problem 'heat'" in output
    assert not (workflow.workdir / "results").exists()


def test_corrupt_cell_file_is_named_and_other_results_survive(workflow):
    config = tiny_config()
    workflow.write_config(config)
    workflow.snakemake("figures")
    cell = workflow.workdir / "results/cells/pinn/convection/adam/beta=30__n_f=100.nc"
    cell.write_bytes(cell.read_bytes()[:1000])  # truncated, and newer than the regime dataset
    before = workflow.files("results/**/*.nc")
    result = workflow.snakemake("figures", check=False)
    assert result.returncode != 0
    log = (workflow.workdir / "results/logs/regimes/pinn/convection/adam.log").read_text()
    assert re.search(r"beta=30__n_f=100\.nc is not a readable NetCDF result file.*rerun snakemake", log)
    after = workflow.files("results/**/*.nc")
    # the failed aggregation leaves no stale dataset behind; every other result is kept as it was
    assert "results/regimes/pinn/convection/adam.nc" not in after
    del before["results/regimes/pinn/convection/adam.nc"]
    assert after == before


def test_job_logs_end_with_what_happened_and_a_cell_missing_a_variable_is_refused(workflow):
    """Every job's log ends with one line saying what it did; a docstring edit reruns nothing; a cell file
    without train_loss stops its aggregation with a message naming the file and the variable (issue 21)."""
    from sciml.store import read_netcdf, write_netcdf

    workflow.write_config(tiny_config())
    workflow.snakemake("figures")
    logs = sorted((workflow.workdir / "results/logs").rglob("*.log"))
    assert logs
    for log in logs:
        last = log.read_text().strip().splitlines()[-1]
        assert re.fullmatch(r"sciml [a-z-]+: wrote \S+( and \S+)*( \(\d seeds? ok, \d diverged\))? in \d+\.\d s",
                            last), (log, last)
    cell_log = workflow.workdir / "results/logs/cells/pinn/convection/adam/beta=5__n_f=100.log"
    assert "(1 seed ok, 0 diverged)" in cell_log.read_text().strip().splitlines()[-1]

    adam = workflow.repo / "sciml" / "strategies" / "adam.py"
    adam.write_text(adam.read_text().replace('"""Adam on the full-batch objective', '"""Adam, full batch: the objective'))
    assert "Nothing to be done" in workflow.snakemake("figures", "--dry-run").stdout

    cell = workflow.workdir / "results/cells/pinn/convection/adam/beta=30__n_f=100.nc"
    write_netcdf(read_netcdf(cell).drop_vars("train_loss"), cell)
    result = workflow.snakemake("figures", check=False)
    assert result.returncode != 0
    last = (workflow.workdir / "results/logs/regimes/pinn/convection/adam.log").read_text().strip().splitlines()[-1]
    assert last.startswith("sciml aggregate: error: ") and "missing variable(s) train_loss" in last
    assert "cells/pinn/convection/adam/beta=30__n_f=100.nc breaks the contract of a cell file" in last
    assert not (workflow.workdir / "results/regimes/pinn/convection/adam.nc").exists()
