"""The SLURM path for real: the smoke study through sbatch on a single-node SLURM started on this machine.

tests/slurm/start_slurm.sh installs (Debian: apt-get) and starts munged + slurmctld + slurmd with two fake
GPUs; the tests run `snakemake --profile profiles/slurm` on config/smoke.yaml and check, from SLURM's own
records, that every job went through sbatch, that training cells got a GPU and the other jobs none, and
that a failed job is resubmitted with more memory and time.

Needs root. Never skipped: when SLURM cannot be started the test fails with the script's output.
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from sciml.workflow.config import validate
from sciml.workflow.config_files import load_study_config
from sciml.workflow.plan import build_plan

from conftest import REPO

pytestmark = pytest.mark.slurm

SCRIPTS = REPO / "tests" / "slurm"
STATE = Path(os.environ.get("SCIML_SLURM_DIR", "/tmp/sciml-slurm"))
# bound of one SLURM snakemake run; snakemake ignores SIGTERM with this executor, hence `timeout -k`
RUN_LIMIT = int(os.environ.get("SCIML_SLURM_RUN_LIMIT", "900"))
LOCK_WAIT = int(os.environ.get("SCIML_SLURM_LOCK_WAIT", "600"))
# Every SLURM job pays two snakemake start-ups (its own and its `srun` step's, ~5-8 s each here, parsing a
# Snakefile that imports torch), and the node has two CPUs: the whole smoke study (40+ jobs when this was
# written) takes over 10 min through SLURM. By default the test runs its baseline and one more strategy on the smoke
# grid cut to the first value of every axis but the first (13 jobs, every rule, ~3-4 min);
# SCIML_SLURM_SMOKE=full runs the whole smoke study.
FULL_SMOKE = os.environ.get("SCIML_SLURM_SMOKE", "reduced") == "full"
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
    """A running single-node SLURM; stopped afterwards if this fixture started it.

    One test session at a time uses the cluster (a lock file beside its state directory): a concurrent
    session would share its two CPUs and could stop the cluster under the other's jobs.
    """
    env = {**os.environ, "SCIML_SLURM_DIR": str(STATE)}
    STATE.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{STATE}.lock", "w") as lock:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"another test session held {STATE}.lock for {LOCK_WAIT} s", pytrace=False)
                time.sleep(2)
        start = _run(["bash", str(SCRIPTS / "start_slurm.sh")], timeout=900, env=env)
        output = start.stdout + start.stderr
        if start.returncode != 0:
            pytest.fail(f"SLURM could not be started (start_slurm.sh exit {start.returncode}):\n{output}",
                        pytrace=False)
        started_here = "already running" not in output
        try:
            yield STATE
        finally:
            if started_here:
                _run(["bash", str(SCRIPTS / "stop_slurm.sh")], timeout=120, env=env)


def _scontrol_job(jobid: str) -> dict[str, str]:
    result = _run(["scontrol", "show", "job", "--oneliner", jobid], timeout=20)
    assert result.returncode == 0, f"scontrol show job {jobid}: {result.stderr}"
    return dict(re.findall(r"(\S+?)=(\S*)", result.stdout))


#: the reduced study's second strategy: one without a batched form, so that with `cells_together` the baseline's
#: cells train in a batch job and this one's in `train` jobs
ALONE = "alm"


def _smoke_overlay(path: Path, first_axis_more: list | None = None) -> tuple[list[tuple[str, str, str]], int]:
    """A --configfile overlay reducing the smoke study (unless FULL_SMOKE) to its baseline and ``ALONE``, with
    `cells_together` on; ``first_axis_more`` adds values to the first axis.

    Returns the (model, problem, strategy) triples studied and the number of grid cells per strategy.
    """
    smoke = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    studied, cells = [], set()
    for study in smoke["studies"]:
        if not FULL_SMOKE:
            baseline = study.get("baseline")  # kept, so comparisons run too
            study["strategies"] = [baseline, ALONE] if baseline else [study["strategies"][0], ALONE]
            axes = study["axes"]
            study["axes"] = {name: values if i == 0 else values[:1] for i, (name, values) in enumerate(axes.items())}
        if first_axis_more:
            first = next(iter(study["axes"]))
            study["axes"][first] = sorted(study["axes"][first] + first_axis_more)
        size = 1
        for values in study["axes"].values():
            size *= len(values)
        cells.add(size)
        studied += [(study["model"], study["problem"], name) for name in study["strategies"]]
    assert len(cells) == 1, "studies with different grid sizes"
    # the `studies` list of a later --configfile replaces the earlier one; everything else stays smoke.yaml's
    path.write_text(yaml.safe_dump({"cells_together": True, "studies": smoke["studies"]}, sort_keys=False))
    return studied, cells.pop()


def _snakemake_env() -> dict[str, str]:
    env = dict(os.environ)
    # jobs run `python -m sciml` / `python -m snakemake` with the submitting environment (sbatch --export=ALL)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


RETRY_SNAKEFILE = """
rule all:
    input: "cell.txt"

# named like the workflow's training rule, so it gets the profile's train resources (2000 MB * attempt)
rule train:
    output: "cell.txt"
    shell: "echo attempt {resources.mem_mb} MB {resources.runtime} min; test {resources.mem_mb} -ge 4000 && touch {output}"
"""


@pytest.fixture(scope="session")
def retry_run(slurm_cluster, tmp_path_factory):
    """A toy workflow whose `train` job fails unless it has 4000 MB, started in the background at once.

    It needs two SLURM jobs of a few seconds; run beside the smoke study it costs the session little.
    """
    workdir = tmp_path_factory.mktemp("retry")
    (workdir / "Snakefile").write_text(RETRY_SNAKEFILE)
    command = ["timeout", "-k", "10", str(RUN_LIMIT), sys.executable, "-m", "snakemake",
               "--profile", str(REPO / "profiles" / "slurm"), "--slurm-init-seconds-before-status-checks", "2"]
    log = open(workdir / "snakemake.log", "w+")
    process = subprocess.Popen(command, cwd=workdir, env=_snakemake_env(), stdout=log, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    yield process, workdir, log
    if process.poll() is None:  # its own process group: `timeout` and the snakemake under it
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    log.close()


def _study_through_slurm(workdir: Path, overlay: Path, record: Path, targets: Sequence[str] = ()) -> str:
    """Run the smoke study with ``overlay`` through the SLURM profile in ``workdir`` (its ``targets``; all by
    default); its log, after checking that it finished and that a dry run then finds nothing to do."""
    env = _snakemake_env()
    configfiles = [str(REPO / "config" / "smoke.yaml"), str(overlay)]
    command = ["timeout", "-k", "10", str(RUN_LIMIT), sys.executable, "-m", "snakemake",
               "-s", str(REPO / "Snakefile"), "--configfile", *configfiles, "--profile", str(REPO / "profiles" / "slurm"),
               # status checks from 2 s on instead of the profile's site-friendly 10 s (the test cluster's
               # MinJobAge 600 >= 3 x 2): finished jobs are noticed sooner
               "--slurm-init-seconds-before-status-checks", "2", *targets]
    began = time.monotonic()
    run = _run(command, timeout=RUN_LIMIT + 30, cwd=workdir, env=env)
    elapsed = time.monotonic() - began
    log = run.stdout + run.stderr
    record.write_text(log)
    print(f"SLURM run ({record.name}): {elapsed:.0f} s wall, exit {run.returncode}")
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
    # nothing left to do: every output of the study exists and is up to date
    check = _run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--configfile", *configfiles,
                  "--dry-run", "--cores", "1", *targets], timeout=120, cwd=workdir, env=env)
    assert "Nothing to be done" in check.stdout + check.stderr, _tail(check.stdout + check.stderr)
    return log


def _planned(overlay: Path):
    """The plan of the smoke study with ``overlay``, as the workflow builds it (results relative to the workdir)."""
    config, source = load_study_config(REPO / "config" / "config.yaml", [REPO / "config" / "smoke.yaml", overlay])
    return build_plan(validate(config, source=source))


def _tres(info: dict[str, str]) -> str:
    return info.get("TresPerJob", "") + info.get("TresPerNode", "")


def test_smoke_study_through_slurm(slurm_cluster, retry_run, tmp_path):
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm" and profile["slurm-status-command"] == "squeue"
    workdir = tmp_path / "work"
    workdir.mkdir()
    overlay = tmp_path / "slurm_smoke.yaml"
    studied, cells_per_strategy = _smoke_overlay(overlay)
    plan = _planned(overlay)
    together = {path for path, job in plan.cells.items() if job.spec.get("together")}
    assert plan.batches and together and together != set(plan.cells), "the run must cover both ways of training"
    log = _study_through_slurm(workdir, overlay, tmp_path / "snakemake.log")

    # ---- every output of the study is there ------------------------------------------------------------
    results = workdir / "results"
    cells = sorted(results.glob("cells/**/*.nc"))
    assert len(cells) == cells_per_strategy * len(studied), cells
    assert {str(cell.relative_to(workdir)) for cell in cells} == set(plan.cells)
    for model, problem, strategy in studied:
        assert (results / "regimes" / model / problem / f"{strategy}.nc").stat().st_size > 0
        for suffix in ("png", "pdf"):
            assert (results / "figures" / "regimes" / f"{model}_{problem}_{strategy}.{suffix}").stat().st_size > 0
    assert not list(results.rglob("*.tmp"))

    # ---- every SLURM job's own Snakemake start loaded the plan the run stored: one key for all of them -----
    assert len(list((workdir / ".snakemake" / "sciml-plans").glob("*.pickle"))) == 1

    # ---- every job went through sbatch, but the local target rule and the copies out of batch files ----
    submissions = SUBMITTED.findall(log)
    assert submissions, f"no SLURM submission in snakemake's log:\n{_tail(log)}"
    jobids = [jobid for _, jobid, _ in submissions]
    assert len(set(jobids)) == len(jobids)
    finished = [int(n) for n in re.findall(r"^(\d+) of \d+ steps", log, re.M)]
    total = int(re.search(r"^\d+ of (\d+) steps", log, re.M).group(1))
    assert max(finished) == total
    copies = set(re.findall(r"^localrule cell_from_batch:\n(?:\s+\S+: .*\n)*?\s+output: (\S+)$", log, re.M))
    assert copies == together, _tail(log)
    # grouping put several of the others into one SLURM job
    assert len(jobids) < total - 1 - len(copies), "tiny jobs were not grouped"

    slurm_logs: dict[str, str] = {}
    for _, jobid, logfile in submissions:
        path = Path(logfile)
        assert path.is_file() and path.is_relative_to(workdir / "results" / "logs" / "slurm"), path
        text = path.read_text(errors="replace")
        slurm_logs[jobid] = text
        info = _scontrol_job(jobid)  # MinJobAge keeps finished jobs in slurmctld for 10 min
        assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0", info
        assert info["Partition"] == profile["default-resources"]["slurm_partition"]
        assert Path(info["StdOut"]) == path
        # slurmstepd's TaskProlog ran this job: its batch step and the `srun` step snakemake started in it
        steps = {step for job, step, _ in TASK_LINE.findall(text) if job == jobid}
        assert {"?", "0"} <= steps or {"batch", "0"} <= steps, f"job {jobid}: no batch+srun task lines\n{text}"

    # ---- training: one SLURM job with one GPU per cell trained alone and per batch; nothing else has one --
    def jobs_of(rule: str) -> dict[str, str]:
        jobs = {}
        for _, jobid, logfile in submissions:
            if f"/rule_{rule}/" in logfile:
                outputs = re.findall(r"^\s+output: (\S+\.nc)(?: \(update\))?$", slurm_logs[jobid], re.M)
                assert len(set(outputs)) == 1, slurm_logs[jobid]
                jobs[outputs[0]] = jobid
        return jobs

    train_jobs, batch_jobs = jobs_of("train"), jobs_of("train_together")
    assert set(train_jobs) == set(plan.cells) - together and set(batch_jobs) == set(plan.batches)
    memory = {**dict.fromkeys(train_jobs.values(), "2000M"), **dict.fromkeys(batch_jobs.values(), "4000M")}
    for jobid in jobids:
        info = _scontrol_job(jobid)
        gpus = {visible for job, _, visible in TASK_LINE.findall(slurm_logs[jobid]) if job == jobid}
        if jobid in memory:
            assert "gpu:1" in _tres(info), info
            assert info["MinMemoryNode"] == memory[jobid]  # the profile's value * attempt, attempt 1
            assert gpus and all(re.fullmatch(r"[01]", visible) for visible in gpus), gpus
        else:
            assert "gpu" not in _tres(info), info
            assert gpus == {"unset"}, gpus

    # ---- a new coefficient: the batch job, run by SLURM's snakemake with --force, still keeps the cells it holds
    # (its output is update()); only the new cells are made. The new cells are the targets: the report after them
    # is what the run above covered
    made = {cell: cell.stat().st_mtime_ns for cell in cells}
    more = tmp_path / "slurm_smoke_more.yaml"
    _smoke_overlay(more, first_axis_more=[10])
    wider = _planned(more)
    new = sorted(set(wider.cells) - set(plan.cells))
    log = _study_through_slurm(workdir, more, tmp_path / "snakemake_more.log", targets=new)
    assert {cell: cell.stat().st_mtime_ns for cell in cells} == made
    assert new and all((workdir / cell).is_file() for cell in new)
    for batch in wider.batches:
        kept = len(wider.batches[batch].spec["cells"]) - 1
        batch_log = (workdir / batch.replace("results/batches/", "results/logs/batches/")).with_suffix(".log")
        assert f"{kept} cell(s) kept as trained before, 1 to train together" in batch_log.read_text()
    submitted = {Path(logfile).parts[-3]: jobid for _, jobid, logfile in SUBMITTED.findall(log)}
    assert "rule_train_together" in submitted and "rule_train" in submitted, _tail(log)


def test_failed_job_is_resubmitted_with_more_memory_and_time(retry_run):
    process, workdir, log = retry_run
    try:
        process.wait(timeout=RUN_LIMIT + 30)
    except subprocess.TimeoutExpired:
        pytest.fail("the retry workflow did not finish", pytrace=False)
    log.seek(0)
    text = log.read()
    assert process.returncode == 0, f"exit {process.returncode}:\n{_tail(text)}\n{_cluster_diagnostics()}"
    assert (workdir / "cell.txt").exists()
    jobids = [jobid for _, jobid, _ in SUBMITTED.findall(text)]
    assert len(jobids) == 2, text  # attempt 1 failed, attempt 2 (retries: 2) succeeded
    first, second = (_scontrol_job(jobid) for jobid in jobids)
    assert first["JobState"] == "FAILED" and second["JobState"] == "COMPLETED", (first, second)
    # the profile's `2000 * attempt` MB and `120 * attempt` min reached sbatch
    assert (first["MinMemoryNode"], first["TimeLimit"]) == ("2000M", "02:00:00"), first
    assert (second["MinMemoryNode"], second["TimeLimit"]) == ("4000M", "04:00:00"), second
    assert "gpu:1" in second.get("TresPerJob", ""), second
