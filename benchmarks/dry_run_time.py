"""Time of `snakemake -n` (planning only) on a generated study of many cells.

    python benchmarks/dry_run_time.py --beta 100 --n-f 100      # 10,000 training cells

Writes a config with one PINN convection study over a beta x N_f grid (one L-BFGS strategy) into a
temporary working directory, runs a dry run of the `figures` target there and prints the elapsed and CPU
time and the number of jobs Snakemake planned.
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]


def study_config(n_beta: int, n_f: int) -> dict:
    betas = [round(float(b), 3) for b in np.linspace(1.0, 100.0, n_beta)]
    points = [int(n) for n in np.linspace(10, 25000, n_f).round()]  # distinct for n_f up to ~25,000
    return {
        "results": "results", "seeds": [0, 1, 2, 3, 4], "threads": 1,
        "models": {"pinn": {"architecture": "mlp", "hidden": [50, 50, 50], "activation": "tanh", "dtype": "float32"}},
        "problems": {"convection": {}},
        "strategies": {"lbfgs": {"method": "lbfgs", "steps": 1000}},
        "studies": [{"model": "pinn", "problem": "convection", "strategies": ["lbfgs"],
                     "axes": {"beta": betas, "n_f": points},
                     "thresholds": {"default": {"train_loss": 0.004, "test_error": 0.23}}}],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--beta", type=int, default=100, help="number of beta values")
    parser.add_argument("--n-f", type=int, default=100, help="number of N_f values")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="sciml-dryrun-"))
    configfile = workdir / "study.yaml"
    config = study_config(args.beta, args.n_f)
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    cells = len(config["studies"][0]["axes"]["beta"]) * len(config["studies"][0]["axes"]["n_f"])
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--configfile", str(configfile),
               "--cores", "1", "-n", "figures"]
    start, children = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    run = subprocess.run(command, cwd=workdir, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    total = re.search(r"^total\s+(\d+)", run.stdout, flags=re.MULTILINE)
    print(f"training cells: {cells}; jobs planned: {total.group(1) if total else 'unknown'}")
    print(f"`snakemake -n figures`: {elapsed:.1f} s wall, {cpu:.1f} s CPU ({workdir})")


if __name__ == "__main__":
    main()
