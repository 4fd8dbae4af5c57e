"""Checkpoints: a training job stopped at any step (SIGTERM, SIGKILL) goes on from its checkpoint and ends
with the numbers of an uninterrupted run, seeds trained one by one or together, and a batch job of cells
trained together too; a checkpoint of another spec, or a damaged one, is ignored; a second trainer of one cell
stops at once and touches nothing."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import xarray as xr

from sciml.problems import get_problem
from sciml.provenance import provenance_attrs
from sciml.results.batch_file import member_of
from sciml.results.store import read_netcdf, write_netcdf
from sciml.training.checkpoint import EXIT_BUSY, EXIT_PREEMPTED, Checkpointer, Preempted, checkpoint_identity
from sciml.training.monitor import Monitor
from sciml.training.stepping import run_phases
from sciml.training.train import train_cell, train_cells

from conftest import REPO, tiny_config, training_process

TINY = {"architecture": "mlp", "hidden": [10, 10], "activation": "tanh", "dtype": "float32"}
CPU = torch.device("cpu")

# (strategy, global step after which SIGTERM arrives): late in each strategy, inside its last phase where it has
# several, so that every piece of state a step depends on is in play
STRATEGIES = {
    "lbfgs": ({"method": "lbfgs", "steps": 6, "max_iter": 5}, 3),
    "adam": ({"method": "adam", "steps": 10, "lr": 0.01}, 4),
    # the schedulers' state (its step count) must come back too: a fresh cosine schedule would restart
    "adam_cosine": ({"method": "adam", "steps": 10, "lr": 0.01, "schedule": "cosine"}, 4),
    "adam_lr_decay": ({"method": "adam", "steps": 10, "lr": 0.01, "lr_decay": 0.8}, 4),
    "adam_lbfgs": ({"method": "adam_lbfgs", "adam_steps": 5, "lbfgs_steps": 5, "max_iter": 5}, 7),
    "nncg": ({"method": "nncg", "adam_steps": 3, "lbfgs_steps": 2, "nncg_steps": 4, "rank": 5, "precond_refresh": 2,
              "cg_max_iter": 10, "max_iter": 5}, 7),
    "alm": ({"method": "alm", "pretrain_steps": 3, "outer_steps": 4, "max_iter": 5}, 5),
    "curriculum": ({"method": "curriculum", "stages": 2, "stage_steps": 3, "final_steps": 4, "max_iter": 5}, 4),
    "ropinn": ({"method": "ropinn", "steps": 8, "calibration_window": 3, "adam_lr": 0.01}, 5),
}


def cell_spec(strategy, seeds=(0, 1), beta=5, n_f=64, model=TINY):
    return {"model": "pinn", "model_settings": model, "problem": "convection", "problem_settings": {},
            "strategy": strategy["method"], "strategy_settings": strategy, "axes": {"beta": beta, "n_f": n_f},
            "seeds": list(seeds), "code": "test"}


def cell_data(beta=5, n_f=64):
    problem = get_problem("convection")
    settings = problem.settings()
    return {"reference": problem.generate("reference", settings, beta),
            "collocation": problem.generate("collocation", settings, n_f)}


def assert_same_numbers(resumed: xr.Dataset, reference: xr.Dataset) -> None:
    """Every variable bit for bit (wall times aside), and the same provenance but for the resumption record."""
    assert set(resumed.data_vars) == set(reference.data_vars)
    for name in reference.data_vars:
        if name != "wall_time":
            np.testing.assert_array_equal(resumed[name].values, reference[name].values, err_msg=name)
    for name in reference.coords:
        np.testing.assert_array_equal(resumed[name].values, reference[name].values, err_msg=name)
    drop = {"checkpoint_resumes"}
    assert {k: v for k, v in resumed.attrs.items() if k not in drop} == \
        {k: v for k, v in reference.attrs.items() if k not in drop}


def sigterm_after(monkeypatch, stop_step: int, seed: int) -> None:
    """A real SIGTERM to this process right after global step ``stop_step`` of ``seed``."""
    after_step = Monitor.after_step

    def after_step_then_signal(self, step, loss=None):
        stop = after_step(self, step, loss)
        if step == stop_step and torch.initial_seed() == seed:
            signal.raise_signal(signal.SIGTERM)
        return stop

    monkeypatch.setattr(Monitor, "after_step", after_step_then_signal)


@pytest.mark.parametrize("method", list(STRATEGIES))
def test_resumption_after_sigterm_is_exact(method, tmp_path, monkeypatch, one_thread):
    strategy, stop_step = STRATEGIES[method]
    spec, data = cell_spec(strategy), cell_data()
    reference = train_cell(spec, data, CPU)

    path = tmp_path / "cell.nc.ckpt"
    with monkeypatch.context() as patch:
        sigterm_after(patch, stop_step, seed=1)  # seed 0 finished, seed 1 in the middle
        checkpointer = Checkpointer(path, checkpoint_identity(spec), every=3600)  # only the SIGTERM saves
        with checkpointer.stopping_on_signals(), pytest.raises(Preempted, match="run the job again"):
            train_cell(spec, data, CPU, checkpointer)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    saved = torch.load(path, weights_only=False)["state"]
    assert sorted(saved["finished"]) == [0]
    assert saved["running"]["seed"] == 1 and saved["running"]["strategy"]["step"] == stop_step + 1

    resumed = train_cell(spec, data, CPU, Checkpointer(path, checkpoint_identity(spec), every=3600))
    assert_same_numbers(resumed, reference)
    (resume,) = json.loads(resumed.attrs["checkpoint_resumes"])
    assert resume["seeds_finished"] == [0] and resume["seed"] == 1 and resume["step"] == stop_step + 1
    assert json.loads(reference.attrs["checkpoint_resumes"]) == []


def test_checkpoints_follow_the_interval_and_survive_two_interruptions(tmp_path, monkeypatch, one_thread):
    """Saved at every boundary (interval 0), stopped twice in one seed: still the uninterrupted numbers."""
    strategy, _ = STRATEGIES["adam_lbfgs"]
    spec, data = cell_spec(strategy, seeds=(3,)), cell_data()
    reference = train_cell(spec, data, CPU)
    path = tmp_path / "cell.nc.ckpt"
    for stop_step in (2, 6):
        with monkeypatch.context() as patch:
            sigterm_after(patch, stop_step, seed=3)
            checkpointer = Checkpointer(path, checkpoint_identity(spec), every=0.0)
            with checkpointer.stopping_on_signals(), pytest.raises(Preempted):
                train_cell(spec, data, CPU, checkpointer)
    resumed = train_cell(spec, data, CPU, Checkpointer(path, checkpoint_identity(spec), every=0.0))
    assert_same_numbers(resumed, reference)
    assert [r["step"] for r in json.loads(resumed.attrs["checkpoint_resumes"])] == [3, 7]


def test_a_checkpoint_is_saved_at_the_first_boundary_once_the_interval_has_passed(tmp_path):
    """What a kill costs: at most the interval of training, and the step under way when it ends."""
    path = tmp_path / "cell.nc.ckpt"
    checkpointer = Checkpointer(path, "identity", every=0.5)
    checkpointer.boundary(lambda: {"step": 1})
    assert not path.exists()
    time.sleep(0.5)
    checkpointer.boundary(lambda: {"step": 2})
    assert checkpointer.load() == {"step": 2}
    checkpointer.boundary(lambda: {"step": 3})
    assert checkpointer.load() == {"step": 2}


def test_checkpoint_of_another_spec_or_damaged_is_ignored(tmp_path, monkeypatch, caplog, one_thread):
    strategy, stop_step = STRATEGIES["lbfgs"]
    spec, data = cell_spec(strategy, seeds=(0,)), cell_data()
    path = tmp_path / "cell.nc.ckpt"
    with monkeypatch.context() as patch:
        sigterm_after(patch, stop_step, seed=0)
        checkpointer = Checkpointer(path, checkpoint_identity(spec), every=3600)
        with checkpointer.stopping_on_signals(), pytest.raises(Preempted):
            train_cell(spec, data, CPU, checkpointer)

    other = cell_spec({**strategy, "steps": 4}, seeds=(0,))
    assert checkpoint_identity(other) != checkpoint_identity(spec)
    with caplog.at_level(logging.INFO, logger="sciml.training.checkpoint"):
        fresh = train_cell(other, data, CPU, Checkpointer(path, checkpoint_identity(other), every=3600))
    assert "checkpoint of another spec or code" in caplog.text and "resuming" not in caplog.text
    assert_same_numbers(fresh, train_cell(other, data, CPU))

    caplog.clear()
    path.write_bytes(path.read_bytes()[:300])  # as if the disk had lost its end
    with caplog.at_level(logging.INFO, logger="sciml.training.checkpoint"):
        fresh = train_cell(spec, data, CPU, Checkpointer(path, checkpoint_identity(spec), every=3600))
    assert f"{path}: unreadable checkpoint" in caplog.text
    assert json.loads(fresh.attrs["checkpoint_resumes"]) == []


# -- a real training process, killed -------------------------------------------------------------------------

def train_command(spec, data_paths, out, every):
    return [sys.executable, "-m", "sciml", "train", "--spec", json.dumps(spec), "--threads", "1",
            "--checkpoint-every", str(every), "--out", str(out), *map(str, data_paths)]


def wait_for_checkpoint(process, path, ready, timeout=120):
    """Poll the checkpoint until ``ready(state)``; fail if the job ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the job ended before the checkpoint the test waits for"
        if path.exists():
            try:
                state = torch.load(path, weights_only=False)["state"]
            except (EOFError, RuntimeError):  # replaced while being read
                state = None
            if state is not None and ready(state):
                return state
        time.sleep(0.02)
    raise AssertionError(f"no checkpoint ready within {timeout} s")


# (strategy, the state in which to kill, signal): L-BFGS; Adam -> L-BFGS killed in its L-BFGS phase; ALM
# stopped by SIGTERM (SLURM preemption or time limit) in its outer iterations
KILLS = {
    "lbfgs": ({"method": "lbfgs", "steps": 100, "max_iter": 5, "stop_when_stalled": 0},
              lambda state: state["running"] is not None and state["running"]["strategy"]["step"] > 5, signal.SIGKILL),
    "adam_lbfgs": ({"method": "adam_lbfgs", "adam_steps": 20, "lbfgs_steps": 80, "max_iter": 5, "stop_when_stalled": 0},
                   lambda state: state["running"] is not None and state["running"]["strategy"]["step"] > 25,
                   signal.SIGKILL),
    "alm": ({"method": "alm", "pretrain_steps": 5, "outer_steps": 80, "max_iter": 5, "stop_when_stalled": 0},
            lambda state: state["running"] is not None and state["running"]["strategy"]["step"] > 8, signal.SIGTERM),
    # Ctrl-C: the terminal sends SIGINT to Snakemake and to every job
    "lbfgs_ctrl_c": ({"method": "lbfgs", "steps": 100, "max_iter": 5, "stop_when_stalled": 0},
                     lambda state: state["running"] is not None and state["running"]["strategy"]["step"] > 5,
                     signal.SIGINT),
}


@pytest.mark.parametrize("method", list(KILLS))
def test_killed_training_process_goes_on_to_the_same_numbers(method, tmp_path, one_thread):
    strategy, ready, kill = KILLS[method]
    spec = cell_spec(strategy, seeds=(0,), beta=30, n_f=100)
    data = cell_data(beta=30, n_f=100)
    paths = []
    for product, ds in data.items():
        paths.append(tmp_path / f"{product}.nc")
        write_netcdf(ds, paths[-1])
    out = tmp_path / "cells" / "beta=30__n_f=100.nc"
    checkpoint = out.with_name(out.name + ".ckpt")
    lock = out.with_name(out.name + ".lock")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = train_command(spec, paths, out, every=0.05)

    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_checkpoint(process, checkpoint, ready)
        process.send_signal(kill)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    if kill == signal.SIGTERM:
        assert process.returncode == EXIT_PREEMPTED, stderr
        assert "stopped on SIGTERM" in stderr
    elif kill == signal.SIGINT:
        assert process.returncode == 128 + signal.SIGINT, stderr
        assert "stopped on SIGINT" in stderr and "Traceback" not in stderr
    else:
        assert process.returncode == -signal.SIGKILL
        assert lock.exists()  # left behind; its lock ended with the process, so it stops no one
    assert not out.exists() and checkpoint.exists()
    interrupted_at = torch.load(checkpoint, weights_only=False)["state"]["running"]["strategy"]["step"]

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming" in rerun.stderr and not checkpoint.exists() and not lock.exists()
    resumed = read_netcdf(out)
    assert json.loads(resumed.attrs["checkpoint_resumes"])[0]["step"] == interrupted_at

    reference = train_cell(spec, {product: read_netcdf(path) for product, path in zip(data, paths)}, CPU)
    assert_same_numbers(resumed, reference)


@pytest.mark.workflow
def test_snakemake_reruns_a_killed_job_from_its_checkpoint(workflow):
    config = tiny_config()
    config["models"]["pinn"]["hidden"] = [10, 10]
    config["strategies"]["lbfgs"].update(steps=100, max_iter=5, stop_when_stalled=0)
    config["studies"][0].update(strategies=["lbfgs"], axes={"beta": [30], "n_f": [100]})
    config["checkpoint_every"] = 0.05
    workflow.write_config(config)
    relative = "results/cells/pinn/convection/lbfgs/beta=30__n_f=100.nc"
    cell = workflow.workdir / relative
    checkpoint = cell.with_name(cell.name + ".ckpt")

    first = subprocess.Popen(workflow.command("figures"), cwd=workflow.workdir, env=workflow.env(), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_checkpoint(first, checkpoint, lambda s: s["running"] is not None and s["running"]["strategy"]["step"] > 5)
        os.kill(training_process(relative), signal.SIGKILL)  # the job dies, as on a node failure or the OOM killer
        output, _ = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode != 0, output
    assert not cell.exists() and checkpoint.exists()  # Snakemake removed no checkpoint: it is no output

    workflow.snakemake("figures")
    log = (workflow.workdir / "results/logs/cells/pinn/convection/lbfgs/beta=30__n_f=100.log").read_text()
    assert "resuming" in log and not checkpoint.exists()
    assert json.loads(read_netcdf(cell).attrs["checkpoint_resumes"])[0]["step"] > 5
    from sciml.cli import main

    assert main(["retrain", str(cell), "--check"]) == 0  # the resumed cell has the numbers of a fresh run

    config["checkpoint_every"] = 600  # how often jobs save their progress changes no result: nothing reruns
    workflow.write_config(config)
    assert "Nothing to be done" in workflow.snakemake("figures", "--dry-run").stdout


def test_a_finished_cell_is_put_back_not_retrained(tmp_path, one_thread):
    """Snakemake deletes a job's output before it reruns it, also when it only missed the job's end (killed while
    the job finished): the job's hard link to its output brings the cell back when spec and code are the same."""
    spec = cell_spec({"method": "lbfgs", "steps": 3, "max_iter": 5}, seeds=(0,))
    paths = []
    for product, ds in cell_data().items():
        paths.append(tmp_path / f"{product}.nc")
        write_netcdf(ds, paths[-1])
    out = tmp_path / "cells" / "beta=5__n_f=64.nc"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    first = subprocess.run(train_command(spec, paths, out, every=0), env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    trained = out.read_bytes()
    record = out.with_name(f".{out.name}.done")
    assert record.stat().st_ino == out.stat().st_ino  # a hard link: no extra space

    out.unlink()  # as Snakemake does before a rerun
    again = subprocess.run(train_command(spec, paths, out, every=0), env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "kept the cell a previous run of this job finished" in again.stderr and "training pinn" not in again.stderr
    assert out.read_bytes() == trained and record.exists()

    # other settings (or code: the spec holds its hash) train afresh; so does a damaged record
    out.unlink()
    other = {**spec, "code": "changed"}
    retrained = subprocess.run(train_command(other, paths, out, every=0), env=env, capture_output=True, text=True,
                               timeout=300)
    assert retrained.returncode == 0 and "training pinn" in retrained.stderr, retrained.stderr
    out.unlink()
    record.write_bytes(trained[:1000])
    damaged = subprocess.run(train_command(other, paths, out, every=0), env=env, capture_output=True, text=True,
                             timeout=300)
    assert damaged.returncode == 0 and "training pinn" in damaged.stderr, damaged.stderr
    assert read_netcdf(out)["train_loss"].notnull().all()


def test_a_second_trainer_of_a_cell_stops_at_once_and_touches_nothing(tmp_path, one_thread):
    """Two trainers of one cell (two Snakemake runs on one results folder, or one beside a trainer orphaned by a
    kill -9 of Snakemake): the one that comes second exits with EX_TEMPFAIL and one line naming the cell and the
    other process, and leaves the checkpoint alone; the first ends its cell, which the second, run again, keeps."""
    spec = cell_spec(KILLS["lbfgs"][0], seeds=(0,), beta=30, n_f=100)
    paths = []
    for product, ds in cell_data(beta=30, n_f=100).items():
        paths.append(tmp_path / f"{product}.nc")
        write_netcdf(ds, paths[-1])
    out = tmp_path / "cells" / "beta=30__n_f=100.nc"
    checkpoint = out.with_name(out.name + ".ckpt")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = train_command(spec, paths, out, every=0.05)

    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_checkpoint(first, checkpoint, lambda state: state["running"] is not None)
        first.send_signal(signal.SIGSTOP)  # held mid-training, lock in hand, however long the second takes to start
        saved = checkpoint.read_bytes()
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert checkpoint.read_bytes() == saved
        first.send_signal(signal.SIGCONT)
        _, stderr = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert second.returncode == EXIT_BUSY, second.stderr
    last = second.stderr.strip().splitlines()[-1]
    assert last.startswith(f"sciml train: error: cell pinn/convection/lbfgs at beta=30 n_f=100: another process "
                           f"(pid {first.pid} on "), last
    assert "is training this cell" in last and "run it again once that process has ended" in last
    assert "training pinn" not in second.stderr and "Traceback" not in second.stderr
    assert first.returncode == 0, stderr
    assert "resuming" not in stderr and not out.with_name(out.name + ".lock").exists()
    trained = out.read_bytes()

    out.unlink()  # as the second's Snakemake may do: it deletes the outputs of a job that failed
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "kept the cell a previous run of this job finished" in again.stderr and "training pinn" not in again.stderr
    assert out.read_bytes() == trained


# -- rows trained together: the seeds of a cell (batch_seeds), the cells of a column (cells_together) ----------

def sigterm_at_step(monkeypatch, stop_step: int) -> None:
    """A real SIGTERM to this process once the first seed has taken global step ``stop_step``."""
    after_step = Monitor.after_step
    sent = []

    def after_step_then_signal(self, step, loss=None):
        stop = after_step(self, step, loss)
        if step == stop_step and not sent:
            sent.append(step)
            signal.raise_signal(signal.SIGTERM)
        return stop

    monkeypatch.setattr(Monitor, "after_step", after_step_then_signal)


def test_run_phases_resumed_from_any_boundary_takes_the_same_steps():
    """The step loop's position (phase, step, rows stepping, rows waiting for the next phase) is all a resumed
    loop needs: stopped before any step and resumed there, it takes exactly the steps of an uninterrupted one."""
    lengths = [4, 0, 3, 3]

    def loop(taken, phase=0, step=1, rows=(0, 1, 2), waiting=(), stop_before=None):
        def take_step(phase, step, rows):
            taken.append((phase, step, tuple(rows)))
            # row 1 stalls at step 2 (waits for phase 2), row 2 at step 6 (waits for phase 3), row 0 at step 9 (ends)
            stalled = {2: [1], 6: [2], 9: [0]}.get(step, [])
            return [row for row in rows if row not in stalled], [row for row in rows if row in stalled]

        def before_step(*position):
            if position[1] == stop_before:
                raise Preempted(repr(position))

        run_phases(lengths, take_step, rows, phase, step, waiting, before_step)

    whole = []
    loop(whole)
    assert whole[:3] == [(0, 1, (0, 1, 2)), (0, 2, (0, 1, 2)), (0, 3, (0, 2))] and whole[-1] == (3, 10, (1, 2))
    for stop in range(1, 11):
        taken, position = [], None
        try:
            loop(taken, stop_before=stop)
        except Preempted as stopped:
            position = eval(str(stopped))  # (phase, step, going, waiting)
        assert position is not None and position[1] == stop
        phase, step, going, waiting = position
        loop(taken, phase, step, going, waiting)
        assert taken == whole, stop


# (strategy, step after which SIGTERM arrives): L-BFGS; Adam with a decaying learning rate; Adam -> L-BFGS
# stopped in its L-BFGS phase
BATCHED = {
    "lbfgs": ({"method": "lbfgs", "steps": 6, "max_iter": 5}, 3),
    "adam_lr_decay": ({"method": "adam", "steps": 10, "lr": 0.01, "lr_decay": 0.8}, 4),
    "adam_lbfgs": ({"method": "adam_lbfgs", "adam_steps": 5, "lbfgs_steps": 5, "max_iter": 5}, 7),
}


@pytest.mark.parametrize("method", list(BATCHED))
def test_seeds_trained_together_resume_exactly_after_sigterm(method, tmp_path, monkeypatch, one_thread):
    strategy, stop_step = BATCHED[method]
    spec, data = cell_spec({**strategy, "batch_seeds": True}, seeds=(0, 1, 2)), cell_data()
    reference = train_cell(spec, data, CPU)
    assert reference.attrs["seed_batching"] == "together"

    path = tmp_path / "cell.nc.ckpt"
    with monkeypatch.context() as patch:
        sigterm_at_step(patch, stop_step)
        checkpointer = Checkpointer(path, checkpoint_identity(spec), every=3600)  # only the SIGTERM saves
        with checkpointer.stopping_on_signals(), pytest.raises(Preempted, match="run the job again"):
            train_cell(spec, data, CPU, checkpointer)
    saved = torch.load(path, weights_only=False)["state"]
    assert saved["position"]["step"] == stop_step + 1 and saved["position"]["going"] == [0, 1, 2]

    resumed = train_cell(spec, data, CPU, Checkpointer(path, checkpoint_identity(spec), every=3600))
    assert_same_numbers(resumed, reference)
    (resume,) = json.loads(resumed.attrs["checkpoint_resumes"])
    assert resume["step"] == stop_step + 1 and resume["rows_training"] == 3
    assert json.loads(reference.attrs["checkpoint_resumes"]) == []


def batch_job_command(spec, data_paths, out, every):
    return [sys.executable, "-m", "sciml", "train-together", "--spec", json.dumps(spec), "--threads", "1",
            "--checkpoint-every", str(every), "--out", str(out), *map(str, data_paths)]


def test_a_batch_job_stopped_by_sigterm_goes_on_from_its_checkpoint(tmp_path, one_thread):
    """`sciml train-together` (cells_together) saves its batch as it trains and on SIGTERM, exits 143, and its
    rerun ends with the numbers of an uninterrupted batch."""
    strategy = {"method": "lbfgs", "steps": 100, "max_iter": 5, "stop_when_stalled": 0}
    cells = [{**cell_spec(strategy, seeds=(0, 1), beta=beta, n_f=100), "together": True} for beta in (5, 30)]
    problem = get_problem("convection")
    jobs = [("collocation", "n_f", 100), ("reference", "beta", 5), ("reference", "beta", 30)]
    paths = [tmp_path / f"{product}_{value}.nc" for product, _, value in jobs]
    for (product, axis, value), path in zip(jobs, paths):  # each with the provenance its data job gives it
        ds = problem.generate(product, problem.settings(), value)
        ds.attrs.update(provenance_attrs({"problem": "convection", "product": product, "axis": axis, "value": value}))
        write_netcdf(ds, path)
    out = tmp_path / "batches" / "n_f=100.nc"
    checkpoint = out.with_name(out.name + ".ckpt")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = batch_job_command({"cells": cells}, paths, out, every=0.05)

    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_checkpoint(process, checkpoint, lambda state: state["position"]["step"] > 5)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == EXIT_PREEMPTED, stderr
    assert "stopped on SIGTERM" in stderr and "Traceback" not in stderr
    assert not out.exists() and checkpoint.exists()
    interrupted_at = torch.load(checkpoint, weights_only=False)["state"]["position"]["step"]

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming 4 rows" in rerun.stderr and not checkpoint.exists()
    datas = [{"collocation": read_netcdf(paths[0]), "reference": read_netcdf(path)} for path in paths[1:]]
    for cell, reference in zip(cells, train_cells(cells, datas, CPU)):
        resumed = member_of(out, cell)
        assert json.loads(resumed.attrs["checkpoint_resumes"])[0]["step"] == interrupted_at
        assert_same_numbers(resumed, reference)
