"""What a Snakemake start costs with and without the study's stored plan (sciml/workflow/plan_cache.py).

    python benchmarks/snakemake_startup.py                  # default and smoke study, 5 runs of each
    python benchmarks/snakemake_startup.py --repeats 9 --config config/smoke.yaml

For each configuration, in a fresh working directory: dry runs (``snakemake -n --cores 1``) of two targets,
the whole study (``figures``) and one training cell (what a SLURM job's own Snakemake start resolves: the
Snakefile, then a DAG of one job), each either as a first start (the stored plans deleted before it) or as a
later one (the plan stored by the run before), alternating. Reported: median wall and CPU seconds of the
Snakemake process (``getrusage`` of children), and whether that process imported torch (``python -X importtime``,
one extra run of each kind).
"""

from __future__ import annotations

import argparse
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sciml.workflow.config_files import load_study_config  # noqa: E402
from sciml.workflow.plan_cache import PLANS, load_plan  # noqa: E402


def start(command: list[str], workdir: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one Snakemake process."""
    before, began = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(command, cwd=workdir, capture_output=True, check=True)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def imports_torch(command: list[str], workdir: Path) -> bool:
    run = subprocess.run([command[0], "-X", "importtime", *command[1:]], cwd=workdir, capture_output=True, text=True,
                         check=True)
    return any(line.rsplit("|", 1)[-1].strip() == "torch" for line in run.stderr.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", action="append", help="configuration files (default: the default and smoke studies)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    configs = args.config or ["config/config.yaml", "config/smoke.yaml"]
    print(f"{platform.node()}, {platform.machine()}, Python {platform.python_version()}; medians of {args.repeats}")
    print("| study | target | jobs | first start: wall / CPU s | later start: wall / CPU s | CPU ratio "
          "| torch imported (first, later) |")
    print("|---|---|---:|---|---|---:|---|")
    for configfile in configs:
        merged, source = load_study_config(REPO / "config" / "config.yaml", [REPO / configfile])
        workdir = Path(tempfile.mkdtemp(prefix="sciml-startup-"))
        plan = load_plan(merged, source, workdir / "unused")[1]
        cell = next(iter(plan.cells))
        for target, label, jobs in (("figures", "the whole study", sum(1 for _ in plan.jobs())), (cell, "one cell", None)):
            command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--configfile",
                       str(REPO / configfile), "--cores", "1", "-n", target]
            runs = {"first": [], "later": []}
            for _ in range(args.repeats):
                shutil.rmtree(workdir / PLANS, ignore_errors=True)
                runs["first"].append(start(command, workdir))
                runs["later"].append(start(command, workdir))
            shutil.rmtree(workdir / PLANS, ignore_errors=True)
            torch_first = imports_torch(command, workdir)
            torch_later = imports_torch(command, workdir)
            medians = {kind: (statistics.median(w for w, _ in values), statistics.median(c for _, c in values))
                       for kind, values in runs.items()}
            (fw, fc), (lw, lc) = medians["first"], medians["later"]
            print(f"| {configfile} | {label} | {jobs or ''} | {fw:.2f} / {fc:.2f} | {lw:.2f} / {lc:.2f} | {fc / lc:.2f} "
                  f"| {torch_first}, {torch_later} |")
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
