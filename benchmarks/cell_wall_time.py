"""Wall time of single training jobs, exactly as the workflow runs them (`python -m sciml train`, one process).

    python benchmarks/cell_wall_time.py --configfile config/config.yaml --model pinode --problem pendulum \\
        --cell inv_damping=15,t_train=20 --cell inv_damping=1,t_train=0.5

For every strategy of the chosen study (or those given by --strategy) and every --cell, generates the cell's
data products, runs the training job in a fresh process and prints its wall and CPU time (process start, imports
and NetCDF output included), the summed per-seed training time stored in the cell, and the seed-mean training
loss and test error. Runs in a temporary directory; nothing is cached between jobs.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import xarray as xr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sciml.naming import canonical_number, cell_path  # noqa: E402
from sciml.workflow.config import validate  # noqa: E402
from sciml.workflow.config_files import merge_config_files  # noqa: E402
from sciml.workflow.plan import build_plan  # noqa: E402


def parse_cell(text: str) -> dict[str, float]:
    return {name: canonical_number(float(value)) for name, value in (part.split("=") for part in text.split(","))}


def child_cpu_seconds() -> float:
    """User + system CPU time of the finished child processes: the cost on a loaded machine, where wall
    time also counts waiting for a core."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configfile", action="append", default=None, help="config file(s), merged in order")
    parser.add_argument("--model", required=True)
    parser.add_argument("--problem", required=True)
    parser.add_argument("--strategy", action="append", help="default: every strategy of the study")
    parser.add_argument("--cell", action="append", required=True, help="axis=value,axis=value")
    args = parser.parse_args()

    files = args.configfile or [str(REPO / "config" / "config.yaml")]
    config = validate(merge_config_files(files), source=", ".join(files))
    (study,) = [s for s in config["studies"] if (s["model"], s["problem"]) == (args.model, args.problem)]
    plan = build_plan(config)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
          f"config: {', '.join(files)}; seeds {study['seeds']}")
    with tempfile.TemporaryDirectory(prefix="sciml-cells-") as workdir:
        for strategy in args.strategy or study["strategies"]:
            for text in args.cell:
                axes = {axis: parse_cell(text)[axis] for axis in study["axes"]}
                job = plan.cells[cell_path(config["results"], args.model, args.problem, strategy, axes)]
                for data_path in job.inputs:
                    subprocess.run([sys.executable, "-m", "sciml", "data", "--spec", plan.data[data_path].spec_json,
                                    "--out", str(Path(workdir, data_path))], check=True, env=env)
                out = Path(workdir, job.output)
                start, cpu_start = time.perf_counter(), child_cpu_seconds()
                subprocess.run([sys.executable, "-m", "sciml", "train", "--spec", job.spec_json, "--threads",
                                str(config["threads"]), "--out", str(out), *(str(Path(workdir, p)) for p in job.inputs)],
                               check=True, env=env)
                elapsed, cpu = time.perf_counter() - start, child_cpu_seconds() - cpu_start
                ds = xr.load_dataset(out)
                loss, error = float(ds["train_loss"].mean()), float(ds["test_error"].mean())
                print(f"{strategy:12s} {text:28s} job {elapsed:6.1f} s wall, {cpu:6.1f} s CPU; "
                      f"training {float(ds['wall_time'].sum()):6.1f} s, loss {loss:.2e}, error {error:.3f}", flush=True)


if __name__ == "__main__":
    main()
