"""Real snakemake runs: incremental reruns, and bad input before any job (the smoke study: tests/test_readme.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import xarray as xr

from conftest import Workflow, tiny_config, training_process

pytestmark = pytest.mark.workflow


COMPARISON = "results/comparisons/pinn/convection/adam_vs_lbfgs.nc"
GUIDANCE = "results/analysis/guidance.nc"


def robustness(strategy: str) -> str:
    return f"results/analysis/robustness/pinn/convection/{strategy}.nc"


def rewritten(before: dict[str, int], after: dict[str, int]) -> set[str]:
    return {path for path, mtime in after.items() if before.get(path) != mtime}


#: the one cell of :func:`one_lbfgs_cell`, and its job's log
CELL = "results/cells/pinn/convection/lbfgs/beta=30__n_f=100.nc"
CELL_LOG = "results/logs/cells/pinn/convection/lbfgs/beta=30__n_f=100.log"


def one_lbfgs_cell(workflow, checkpoint_every: float, **lbfgs) -> None:
    """A study of one L-BFGS cell (:data:`CELL`) that checkpoints every ``checkpoint_every`` seconds."""
    config = tiny_config()
    config["checkpoint_every"] = checkpoint_every
    config["strategies"]["lbfgs"].update(stop_when_stalled=0, **lbfgs)
    config["studies"][0].update(strategies=["lbfgs"], axes={"beta": [30], "n_f": [100]})
    workflow.write_config(config)


def wait_for_checkpoint(process, checkpoint, deadline: float, interval: float) -> None:
    """Until ``checkpoint`` exists, while ``process`` (a background Snakemake) runs and ``deadline`` is ahead."""
    import time

    while not checkpoint.exists():
        assert process.poll() is None and time.monotonic() < deadline, "training never checkpointed"
        time.sleep(interval)


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


def test_cells_trained_together_equal_cells_trained_alone_and_rerun_only_what_changed(workflow, tmp_path):
    """``cells_together``: one job per column of cells trains them as one batch, and each cell's own job copies it
    out. A new coefficient trains only its cell, and what was made from the cells kept stays as it is."""
    config = tiny_config()
    config["models"]["pinn"]["dtype"] = "float64"  # together and alone agree to rounding, which float64 keeps small
    config["studies"][0].update(strategies=["lbfgs"])
    config["diagnostics"] = {"curv": {
        "kind": "curvature", "select": [{"model": "pinn", "problem": "convection", "strategy": "lbfgs"}],
        "settings": {"snapshots": "last", "lanczos_steps": 5, "power_iterations": 5, "trace_samples": 5}}}
    alone = Workflow(tmp_path / "alone")
    alone.write_config(config)
    alone.snakemake("results/regimes/pinn/convection/lbfgs.nc")
    config["cells_together"] = True
    workflow.write_config(config)
    workflow.snakemake("figures")
    batch = "results/batches/pinn/convection/lbfgs/n_f=100.nc"
    cells = [f"results/cells/pinn/convection/lbfgs/beta={beta}__n_f=100.nc" for beta in (5, 30)]
    for cell in cells:
        together, reference = (xr.load_dataset(root / cell) for root in (workflow.workdir, alone.workdir))
        assert together.attrs["seed_batching"] == "together, with 2 cells"
        for name in ("train_loss", "test_error"):
            np.testing.assert_allclose(together[name].values, reference[name].values, rtol=1e-6, err_msg=f"{cell}: {name}")
        # parameters are stored in float32, about 0.1 in size: rounding apart, they agree to a few float32 steps
        np.testing.assert_allclose(together["params"].values, reference["params"].values, atol=1e-6, err_msg=cell)

    def diagnostic(beta):
        return f"results/diagnostics/curv/pinn/convection/lbfgs/beta={beta}__n_f=100.nc"

    # a new coefficient: the batch job trains its cell only (the log says so), and no kept cell is touched
    before = workflow.files("results/**/*.nc")
    config["studies"][0]["axes"]["beta"].append(10)
    workflow.write_config(config)
    workflow.snakemake("figures")
    after = workflow.files("results/**/*.nc")
    assert rewritten(before, after) == {
        "results/data/convection/reference/beta=10.nc", batch, "results/cells/pinn/convection/lbfgs/beta=10__n_f=100.nc",
        diagnostic(10), "results/diagnostics/curv/pinn/convection/lbfgs.nc", "results/regimes/pinn/convection/lbfgs.nc",
        robustness("lbfgs"),
    }
    log = (workflow.workdir / "results/logs/batches/pinn/convection/lbfgs/n_f=100.log").read_text()
    assert "2 cell(s) kept as trained before, 1 to train together" in log
    assert "Nothing to be done" in workflow.snakemake("figures", "--dry-run").stdout

    # a new coefficient and new diagnostic settings in one run: the diagnostics of the cells kept run again too
    before = after
    config["studies"][0]["axes"]["beta"].append(20)
    config["diagnostics"]["curv"]["settings"]["trace_samples"] = 6
    workflow.write_config(config)
    workflow.snakemake("figures")
    after = workflow.files("results/**/*.nc")
    assert {path for path in rewritten(before, after) if path.startswith("results/cells/")} == {
        "results/cells/pinn/convection/lbfgs/beta=20__n_f=100.nc"}
    assert {diagnostic(beta) for beta in (5, 30, 10, 20)} <= rewritten(before, after)
    assert "Nothing to be done" in workflow.snakemake("figures", "--dry-run").stdout

    # a changed training setting trains every cell again, and everything made from them follows
    before = after
    config["studies"][0]["overrides"] = {"lbfgs": {"max_iter": 4}}
    workflow.write_config(config)
    workflow.snakemake("figures")
    after = workflow.files("results/**/*.nc")
    assert {batch, *cells, *(diagnostic(beta) for beta in (5, 30, 10, 20))} <= rewritten(before, after)
    assert "4 to train together" in (workflow.workdir / "results/logs/batches/pinn/convection/lbfgs/n_f=100.log").read_text()
    assert "Nothing to be done" in workflow.snakemake("figures", "--dry-run").stdout

    # a deleted cell file comes back from its batch, without training
    before = workflow.files("results/**/*.nc")
    (workflow.workdir / cells[0]).unlink()
    workflow.snakemake("figures")
    assert cells[0] in rewritten(before, workflow.files("results/**/*.nc"))
    assert workflow.files(batch) == {batch: before[batch]}


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

    # as the message says: delete it and rerun the same command, which rebuilds the cell and what follows it
    figure = "results/figures/regimes/pinn_convection_adam.png"
    drawn = workflow.files(figure)[figure]
    cell.unlink()
    rerun = workflow.snakemake("figures")
    assert "is missing while" in rerun.stderr
    rebuilt = workflow.files("results/**/*.nc")
    assert "results/cells/pinn/convection/adam/beta=30__n_f=100.nc" in rebuilt
    assert "results/regimes/pinn/convection/adam.nc" in rebuilt
    assert workflow.files(figure)[figure] > drawn
    assert "Nothing to be done" in workflow.snakemake("figures", "--dry-run").stdout


def test_ctrl_c_stops_cleanly_and_the_rerun_goes_on(workflow):
    """Ctrl-C (SIGINT to Snakemake and its jobs, as a terminal sends it): one line in the job's log, its checkpoint
    kept; the same command then goes on from the checkpoint and ends the run."""
    import os
    import signal
    import subprocess
    import time

    one_lbfgs_cell(workflow, 0.2, steps=1000)
    log = workflow.workdir / CELL_LOG
    checkpoint = workflow.workdir / f"{CELL}.ckpt"
    process = workflow.start_snakemake("figures", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_checkpoint(process, checkpoint, time.monotonic() + 300, 0.2)
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode != 0
    text = log.read_text()
    assert "stopped on SIGINT" in text and "Traceback" not in text, text
    assert "Traceback" not in output, output[-3000:]
    assert checkpoint.exists()

    workflow.snakemake("figures")
    assert "resuming" in log.read_text()
    assert "Nothing to be done" in workflow.snakemake("figures", "--dry-run").stdout


def test_job_logs_end_with_what_happened_and_a_cell_missing_a_variable_is_refused(workflow):
    """Every job's log ends with one line saying what it did; a docstring edit reruns nothing; a cell file
    without train_loss stops its aggregation with a message naming the file and the variable (issue 21)."""
    from sciml.results.store import read_netcdf, write_netcdf

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


def test_a_cell_another_process_trains_fails_alone_and_the_same_command_ends_the_run(workflow):
    """A process Snakemake does not know of trains one cell (another Snakemake run on the same results folder, or
    a trainer orphaned by a kill -9 of Snakemake): that cell's job fails with one line naming it, every other job
    goes on (keep-going is on in profiles/default); once the process has ended, the same command ends the run."""
    import subprocess
    import sys

    config = tiny_config()
    config["studies"][0]["strategies"] = ["lbfgs"]
    workflow.write_config(config)
    held = workflow.workdir / CELL
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom sciml.training.checkpoint import cell_lock\n"
         "with cell_lock(sys.argv[1]):\n    print('locked', flush=True)\n    sys.stdin.readline()", str(held)],
        env=workflow.env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        result = workflow.snakemake("figures", check=False)
    finally:
        holder.communicate("\n", timeout=60)
    assert result.returncode != 0
    last = (workflow.workdir / CELL_LOG).read_text().strip().splitlines()[-1]
    assert last.startswith("sciml train: error: cell pinn/convection/lbfgs at beta=30 n_f=100: another process "
                           f"(pid {holder.pid} on ") and "is training this cell" in last, last
    assert not held.exists()
    assert "results/cells/pinn/convection/lbfgs/beta=5__n_f=100.nc" in workflow.files("results/cells/**/*.nc")

    rerun = workflow.snakemake("figures")
    assert "Traceback" not in rerun.stderr
    assert "results/regimes/pinn/convection/lbfgs.nc" in workflow.files("results/regimes/**/*.nc")
    assert not list(workflow.workdir.glob("results/**/*.lock"))
    assert "Nothing to be done" in workflow.snakemake("figures", "--dry-run").stdout


def test_after_a_kill_9_of_snakemake_the_orphaned_trainer_keeps_its_cell(workflow):
    """kill -9 of Snakemake leaves its training job running as an orphan. The next run asks for `--unlock`; run
    while the orphan trains, the cell's job stops at once instead of training it a second time; once the orphan
    has ended, the same command keeps the cell it finished and goes on from there."""
    import os
    import signal
    import subprocess
    import time

    one_lbfgs_cell(workflow, 0.05, steps=100, max_iter=5)
    cell = workflow.workdir / CELL
    checkpoint, lock = cell.with_name(cell.name + ".ckpt"), cell.with_name(cell.name + ".lock")
    log = workflow.workdir / CELL_LOG
    first = workflow.start_snakemake("figures", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        wait_for_checkpoint(first, checkpoint, deadline, 0.05)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=60)
        orphan = training_process(CELL)
        os.kill(orphan, signal.SIGSTOP)  # held mid-training, however long the next runs take

        locked = workflow.snakemake("figures", check=False)
        assert locked.returncode != 0 and "--unlock" in locked.stderr, locked.stderr[-3000:]
        workflow.snakemake("figures", "--unlock")
        busy = workflow.snakemake("figures", check=False)
        assert busy.returncode != 0
        last = log.read_text().strip().splitlines()[-1]
        assert last.startswith("sciml train: error: cell pinn/convection/lbfgs at beta=30 n_f=100: another process "
                               f"(pid {orphan} on "), last

        os.kill(orphan, signal.SIGCONT)
        while lock.exists() or not cell.exists():  # the orphan ends: cell written, lock let go
            assert time.monotonic() < deadline, "the orphaned trainer never finished"
            time.sleep(0.1)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the orphan too, should the test fail before it ends
    finished = cell.read_bytes()
    rerun = workflow.snakemake("figures")
    assert "training pinn" not in log.read_text()
    assert cell.read_bytes() == finished  # not trained again: its wall times would differ
    assert "results/regimes/pinn/convection/lbfgs.nc" in workflow.files("results/regimes/**/*.nc"), rerun.stderr
    assert "Nothing to be done" in workflow.snakemake("figures", "--dry-run").stdout


def test_a_config_file_snakemake_cannot_read_is_named_with_its_line_by_sciml_check(workflow):
    """Snakemake reads each --configfile before the workflow starts, so the Snakefile cannot improve its words:
    a YAML syntax error comes without file or line, a missing file as a traceback. `sciml check` names both."""
    import subprocess
    import sys

    workflow.configfile.write_text("seeds: [0, 1\nthreads: 2\n")
    result = workflow.snakemake("figures", "--dry-run", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Config file is not valid JSON or YAML" in output
    assert "line 1" not in output and str(workflow.configfile) not in output
    check = subprocess.run([sys.executable, "-m", "sciml", "check", str(workflow.configfile)], cwd=workflow.repo,
                           env=workflow.env(), capture_output=True, text=True)
    assert check.returncode == 2 and str(workflow.configfile) in check.stderr and "line 1" in check.stderr

    workflow.configfile.unlink()
    result = workflow.snakemake("figures", "--dry-run", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" in output and "FileNotFoundError" in output
    check = subprocess.run([sys.executable, "-m", "sciml", "check", str(workflow.configfile)], cwd=workflow.repo,
                           env=workflow.env(), capture_output=True, text=True)
    assert check.stderr == f"sciml check: error: {workflow.configfile}: no such configuration file\n"


def test_a_cell_finished_after_a_kill_9_of_snakemake_is_kept_when_snakemake_reruns_its_job(workflow):
    """The orphaned trainer ends its cell after Snakemake was killed: Snakemake calls the job incomplete and runs
    it again (rerun-incomplete), and the job puts back the cell instead of training it again."""
    import os
    import signal
    import subprocess
    import time

    one_lbfgs_cell(workflow, 0.05, steps=40, max_iter=5)
    cell = workflow.workdir / CELL
    log = workflow.workdir / CELL_LOG
    first = workflow.start_snakemake("figures", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        wait_for_checkpoint(first, cell.with_name(cell.name + ".ckpt"), deadline, 0.05)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=60)
        while cell.with_name(cell.name + ".lock").exists() or not cell.exists():  # the orphan ends its cell
            assert time.monotonic() < deadline, "the orphaned trainer never finished"
            time.sleep(0.1)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
    finished = cell.read_bytes()
    workflow.snakemake("figures", "--unlock")
    workflow.snakemake("figures")  # the job runs again ("Forced execution"): its log is rewritten
    text = log.read_text()
    assert "kept the cell a previous run of this job finished" in text and "training pinn" not in text, text
    assert cell.read_bytes() == finished
    assert "Nothing to be done" in workflow.snakemake("figures", "--dry-run").stdout
