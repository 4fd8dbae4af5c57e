"""The `cells_together` option end to end: one column of PINN cells through real snakemake runs, with the option
off (one training job per cell) and on (one batch job, then one job per cell copying it out).

    python benchmarks/cells_together_workflow.py                 # N_f = 1,000; beta 5, 10, 20, 30, 50; 3 seeds; 100 steps
    python benchmarks/cells_together_workflow.py --steps 200 --out /tmp/together_workflow.json

Each run starts from an empty results folder, trains the convection L-BFGS cells of the default study's network
and settings (``--steps`` outer steps) and builds their regime dataset, with ``--cores`` parallel jobs. The
table sums the Snakemake benchmark files of the jobs that trained the cells (``sciml costs`` reads the same
files): CPU seconds, job count and the longest job, and the run's wall time. It also checks that both runs
reach the same numbers (relative difference of each seed's final training loss).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr
import yaml

from sciml.workflow.costs import job_costs

REPO = Path(__file__).resolve().parents[1]
BETAS = [5, 10, 20, 30, 50]


def study(together: bool, n_f: int, seeds: int, steps: int) -> dict:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    lbfgs = {**config["strategies"]["lbfgs"], "steps": steps}
    return {
        "cells_together": together,
        "seeds": list(range(seeds)),
        "strategies": {"lbfgs": lbfgs},
        "studies": [{"model": "pinn", "problem": "convection", "axes": {"beta": BETAS, "n_f": [n_f]},
                     "strategies": ["lbfgs"], "thresholds": {"default": {"train_loss": 0.004, "test_error": 0.23}}}],
    }


def run(workdir: Path, config: dict, cores: int) -> dict:
    workdir.mkdir(parents=True)
    (workdir / "study.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    target = "results/regimes/pinn/convection/lbfgs.nc"
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--configfile", "study.yaml",
               "--cores", str(cores), target]
    began = time.perf_counter()
    finished = subprocess.run(command, cwd=workdir, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    if finished.returncode:
        raise SystemExit(f"snakemake failed in {workdir}:\n{finished.stdout[-3000:]}\n{finished.stderr[-3000:]}")
    wall = time.perf_counter() - began
    jobs = [job for job in job_costs(workdir / "results", depth=1) if job.group in ("cells", "batches")]
    loss = xr.load_dataset(workdir / target)["train_loss"].values
    return {"wall_s": wall, "training_jobs": len(jobs), "training_cpu_s": sum(job.cpu_s for job in jobs),
            "longest_job_s": max(job.wall_s for job in jobs),
            "per_group_cpu_s": {group: sum(job.cpu_s for job in jobs if job.group == group) for group in ("cells", "batches")},
            "train_loss": loss.tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-f", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as root:
        for name, together in (("one job per cell", False), ("cells together", True)):
            results[name] = run(Path(root) / name.replace(" ", "_"), study(together, args.n_f, args.seeds, args.steps),
                                args.cores)
    alone, together = results["one job per cell"], results["cells together"]
    difference = np.nanmax(np.abs(np.subtract(together["train_loss"], alone["train_loss"])) / np.abs(alone["train_loss"]))
    print(f"{len(BETAS)} cells (beta {BETAS}), N_f = {args.n_f}, {args.seeds} seeds, {args.steps} L-BFGS steps, "
          f"--cores {args.cores}; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print("| variant | training jobs | their CPU s | longest job s | run wall s |")
    print("|---|---:|---:|---:|---:|")
    for name, result in results.items():
        print(f"| {name} | {result['training_jobs']} | {result['training_cpu_s']:.0f} | {result['longest_job_s']:.0f} "
              f"| {result['wall_s']:.0f} |")
    print(f"CPU ratio (one job per cell / together): {alone['training_cpu_s'] / together['training_cpu_s']:.2f}; "
          f"copies out of the batch file: {together['per_group_cpu_s']['cells']:.0f} CPU s in all; "
          f"largest relative difference of a final training loss: {difference:.1e}")
    if args.out:
        args.out.write_text(json.dumps({"date": datetime.date.today().isoformat(), "args": vars(args) | {"out": str(args.out)},
                                        "results": results, "max_relative_loss_difference": difference}, indent=1))


if __name__ == "__main__":
    main()
