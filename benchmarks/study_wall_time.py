"""Wall time of a whole study run by snakemake, and the per-cell training times it recorded.

    python benchmarks/study_wall_time.py --configfile config/config.yaml --cores 8

Runs in a fresh temporary working directory (nothing cached), then prints the elapsed time, the number of
training cells and, per regime dataset, the summed and largest per-seed training times stored in the cells.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import xarray as xr

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configfile", default=str(REPO / "config" / "config.yaml"))
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    parser.add_argument("--keep", help="run in this directory instead of a temporary one")
    args = parser.parse_args()

    workdir = Path(args.keep or tempfile.mkdtemp(prefix="sciml-benchmark-"))
    workdir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--configfile",
               str(Path(args.configfile).resolve()), "--cores", str(args.cores), "figures"]
    start = time.perf_counter()
    subprocess.run(command, cwd=workdir, check=True, capture_output=True)
    elapsed = time.perf_counter() - start

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; cores used: {args.cores}")
    print(f"config: {args.configfile}")
    print(f"wall time of `snakemake figures`: {elapsed:.0f} s")
    for path in sorted((workdir / "results" / "regimes").rglob("*.nc")):
        ds = xr.load_dataset(path)
        times = ds["wall_time"]
        print(f"  {path.relative_to(workdir / 'results')}: {ds['regime'].size} cells x {ds.sizes['seed']} seeds, "
              f"training {float(times.sum()):.0f} s in all, slowest seed {float(times.max()):.0f} s")


if __name__ == "__main__":
    main()
