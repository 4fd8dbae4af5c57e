"""The SLURM path for real: the smoke study through sbatch on a single-node SLURM started on this machine.

tests/slurm/start_slurm.sh installs (Debian: apt-get) and starts munged + slurmctld + slurmd with two fake
GPUs; the test runs `snakemake --profile profiles/slurm` on config/smoke.yaml and checks, from SLURM's own
records, that every job went through sbatch, that training cells got a GPU and the other jobs none.

Needs root. Never skipped: when SLURM cannot be started the test fails with the script's output.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO

pytestmark = pytest.mark.slurm

SCRIPTS = REPO / "tests" / "slurm"
STATE = Path(os.environ.get("SCIML_SLURM_DIR", "/tmp/sciml-slurm"))
# the whole SLURM smoke run (≈2-3 min on 2 idle cores); snakemake ignores SIGTERM with this executor,
# hence `timeout -k`
RUN_LIMIT = int(os.environ.get("SCIML_SLURM_RUN_LIMIT", "900"))
# Strategies of the smoke study run through SLURM (its baseline first): every SLURM job pays two snakemake
# start-ups (its own and its `srun` step's), so the whole smoke study would not fit the time budget on two
# cores. 0 runs all of them.
STRATEGIES = int(os.environ.get("SCIML_SLURM_SMOKE_STRATEGIES", "2"))
SUBMITTED = re.compile(r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (.+?)\)\.?$", re.M)
TASK_LINE = re.compile(r"^\[slurm-task\] job=(\d+) step=(\S+) CUDA_VISIBLE_DEVICES=(\S*)$", re.M)


def _run(command: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired as error:
        out = (error.stdout or b"").decode() if isinstance(error.stdout, bytes) else (error.stdout or "")
        err = (error.stderr or b"").decode() if isinstance(error.stderr, bytes) else (error.stderr or "")
        pytest.fail(f"{' '.join(command)} timed out after {timeout} s:\n{out}\n{err}", pytrace=False)


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _cluster_diagnostics() -> str:
    parts = []
    for command in (["sinfo", "-N", "-l"], ["squeue", "--states=all", "-o", "%i %T %r %k"]):
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=10)
            parts.append(f"$ {' '.join(command)}\n{result.stdout}{result.stderr}")
        except (OSError, subprocess.TimeoutExpired) as error:
            parts.append(f"$ {' '.join(command)}: {error}")
    for log in ("slurmctld.log", "slurmd.log"):
        path = STATE / "log" / log
        if path.exists():
            parts.append(f"--- {path}\n{_tail(path.read_text(errors='replace'), 25)}")
    return "\n".join(parts)


@pytest.fixture(scope="session")
def slurm_cluster():
    """A running single-node SLURM; stopped afterwards if this fixture started it."""
    env = {**os.environ, "SCIML_SLURM_DIR": str(STATE)}
    start = _run(["bash", str(SCRIPTS / "start_slurm.sh")], timeout=900, env=env)
    output = start.stdout + start.stderr
    if start.returncode != 0:
        pytest.fail(f"SLURM could not be started (start_slurm.sh exit {start.returncode}):\n{output}",
                    pytrace=False)
    started_here = "already running" not in output
    yield STATE
    if started_here:
        _run(["bash", str(SCRIPTS / "stop_slurm.sh")], timeout=120, env=env)


def _scontrol_job(jobid: str) -> dict[str, str]:
    result = _run(["scontrol", "show", "job", "--oneliner", jobid], timeout=20)
    assert result.returncode == 0, f"scontrol show job {jobid}: {result.stderr}"
    return dict(re.findall(r"(\S+?)=(\S*)", result.stdout))


def _smoke_overlay(path: Path) -> list[str]:
    """A --configfile overlay limiting each smoke study to STRATEGIES strategies; returns their names."""
    smoke = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    strategies = []
    for study in smoke["studies"]:
        if STRATEGIES:
            names = list(study["strategies"])
            baseline = study.get("baseline")
            if baseline in names:
                names.remove(baseline)
                names.insert(0, baseline)
            study["strategies"] = names[:STRATEGIES]
        strategies += [(study["model"], study["problem"], name) for name in study["strategies"]]
    # the `studies` list of a later --configfile replaces the earlier one; everything else stays smoke.yaml's
    path.write_text(yaml.safe_dump({"studies": smoke["studies"]}, sort_keys=False))
    return strategies


def test_smoke_study_through_slurm(slurm_cluster, tmp_path):
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm" and profile["slurm-status-command"] == "squeue"
    workdir = tmp_path / "work"
    workdir.mkdir()
    overlay = tmp_path / "slurm_smoke.yaml"
    studied = _smoke_overlay(overlay)
    env = dict(os.environ)
    # jobs run `python -m sciml` / `python -m snakemake` with the submitting environment (sbatch --export=ALL)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    command = ["timeout", "-k", "10", str(RUN_LIMIT), sys.executable, "-m", "snakemake",
               "-s", str(REPO / "Snakefile"), "--configfile", str(REPO / "config" / "smoke.yaml"), str(overlay),
               "--profile", str(REPO / "profiles" / "slurm")]
    began = time.monotonic()
    run = _run(command, timeout=RUN_LIMIT + 30, cwd=workdir, env=env)
    elapsed = time.monotonic() - began
    log = run.stdout + run.stderr
    (tmp_path / "snakemake.log").write_text(log)
    print(f"SLURM smoke run: {elapsed:.0f} s wall, exit {run.returncode}")
    if run.returncode != 0:
        diagnostics = _cluster_diagnostics()
        # `timeout` killed snakemake, not its SLURM jobs: cancel what this run left queued or running
        run_id = re.search(r"SLURM run ID: (\S+)", log)
        if run_id:
            subprocess.run(["scancel", "--name", run_id.group(1)], capture_output=True, timeout=20)
        timed_out = run.returncode in (124, 137, -9) and elapsed >= RUN_LIMIT
        pytest.fail(f"snakemake through SLURM failed (exit {run.returncode}"
                    f"{f', timed out after {RUN_LIMIT} s' if timed_out else ''}, {elapsed:.0f} s):\n"
                    f"{_tail(log)}\n{diagnostics}", pytrace=False)
    assert "(100%) done" in log, _tail(log)

    # ---- every output of the study is there ------------------------------------------------------------
    results = workdir / "results"
    cells = sorted(results.glob("cells/**/*.nc"))
    assert len(cells) == 4 * len(studied), cells  # 2 x 2 grid per strategy
    for model, problem, strategy in studied:
        assert (results / "regimes" / model / problem / f"{strategy}.nc").stat().st_size > 0
        for suffix in ("png", "pdf"):
            assert (results / "figures" / "regimes" / f"{model}_{problem}_{strategy}.{suffix}").stat().st_size > 0
    assert not list(results.rglob("*.tmp"))
    # nothing left to do: every output of the study exists and is up to date
    check = _run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--configfile",
                  str(REPO / "config" / "smoke.yaml"), str(overlay), "--dry-run", "--cores", "1"],
                 timeout=120, cwd=workdir, env=env)
    assert "Nothing to be done" in check.stdout + check.stderr, _tail(check.stdout + check.stderr)

    # ---- every job went through sbatch -------------------------------------------------------------------
    submissions = SUBMITTED.findall(log)
    assert submissions, f"no SLURM submission in snakemake's log:\n{_tail(log)}"
    jobids = [jobid for _, jobid, _ in submissions]
    assert len(set(jobids)) == len(jobids)
    finished = [int(n) for n in re.findall(r"^(\d+) of \d+ steps", log, re.M)]
    total = int(re.search(r"^\d+ of (\d+) steps", log, re.M).group(1))
    assert max(finished) == total
    # all jobs but the local target rule ran in SLURM; grouping put several of them into one SLURM job
    assert len(jobids) < total - 1, "tiny jobs were not grouped"

    slurm_logs: dict[str, str] = {}
    for _, jobid, logfile in submissions:
        path = Path(logfile)
        assert path.is_file() and path.is_relative_to(workdir / "logs" / "slurm"), path
        text = path.read_text(errors="replace")
        slurm_logs[jobid] = text
        info = _scontrol_job(jobid)  # MinJobAge keeps finished jobs in slurmctld for 10 min
        assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0", info
        assert info["Partition"] == profile["default-resources"]["slurm_partition"]
        assert Path(info["StdOut"]) == path
        # slurmstepd's TaskProlog ran this job: its batch step and the `srun` step snakemake started in it
        steps = {step for job, step, _ in TASK_LINE.findall(text) if job == jobid}
        assert {"?", "0"} <= steps or {"batch", "0"} <= steps, f"job {jobid}: no batch+srun task lines\n{text}"

    # ---- training cells: one SLURM job each, with one GPU; nothing else asked for one -------------------
    train_jobs = {}
    for _, jobid, logfile in submissions:
        if "/rule_train/" not in logfile:
            continue
        outputs = re.findall(r"^\s+output: (\S+\.nc)$", slurm_logs[jobid], re.M)
        assert len(set(outputs)) == 1, slurm_logs[jobid]
        train_jobs[outputs[0]] = jobid
    assert sorted(train_jobs) == sorted(str(cell.relative_to(workdir)) for cell in cells)
    for jobid in jobids:
        info = _scontrol_job(jobid)
        gpus = {visible for job, _, visible in TASK_LINE.findall(slurm_logs[jobid]) if job == jobid}
        if jobid in train_jobs.values():
            assert "gpu:1" in info.get("TresPerJob", "") or "gpu:1" in info.get("TresPerNode", ""), info
            assert info["MinMemoryNode"] == "2000M"  # 2000 * attempt, attempt 1
            assert gpus and all(re.fullmatch(r"[01]", visible) for visible in gpus), gpus
        else:
            assert "gpu" not in info.get("TresPerJob", "") + info.get("TresPerNode", ""), info
            assert gpus == {"unset"}, gpus
