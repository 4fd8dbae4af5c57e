"""What one training job spends outside training: a real ``python -m sciml train`` process of the smoke study.

    python benchmarks/cell_overhead.py                    # the smoke study's first L-BFGS cell, 2 steps, 3 runs
    python benchmarks/cell_overhead.py --steps 1 --repeats 5 --out /tmp/overhead

The cell is the first one the plan of ``config/smoke.yaml`` (:func:`sciml.workflow.plan.build_plan`) trains with
the baseline strategy, its spec as the Snakefile passes it but for a tiny number of steps. Its data products are
made by ``python -m sciml data`` processes, then the job runs ``--repeats`` times (its cell file and finished
record deleted before each). With ``--against`` another checkout (e.g. a worktree of main), its package runs
the same jobs, alternating run for run. Reported, medians over the runs:

* each process's wall and CPU seconds (its own and its children's ``getrusage``);
* the CPU seconds of each phase of ``--repeats`` more jobs, each run in a child process that times the verb's steps in
  place: interpreter start, the imports ``sciml train`` makes, the modules torch imports on first use,
  reading the data products, building the cell's models and objectives, writing the cell file, and the rest
  (arguments, finished record, the job log's last line); training itself is the seeds' ``wall_time`` in the
  cell file (one thread);
* from ``python -X importtime``, what the first import of each notable package costs in that process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def plan_cell(results: Path, steps: int):
    """The smoke study's first baseline cell (steps cut to ``steps``) and its data jobs."""
    from sciml.workflow.config import validate
    from sciml.workflow.config_files import load_config_file
    from sciml.workflow.plan import build_plan

    config = load_config_file(REPO / "config" / "smoke.yaml")
    config["results"] = str(results)
    plan = build_plan(validate(config, source="config/smoke.yaml"))
    baseline = config["studies"][0]["baseline"]
    cell = next(job for job in plan.cells.values() if job.spec["strategy"] == baseline)
    cell.spec["strategy_settings"]["steps"] = steps
    return cell, [plan.data[path] for path in cell.inputs]


def run(argv: list[str], tree: Path = REPO) -> tuple[float, float, str, str]:
    """Wall and CPU seconds of a child process (and its own children) running the package of ``tree``, and
    its stdout and stderr."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} failed:\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout, done.stderr


def train_argv(cell, python: list[str]) -> list[str]:
    return [*python, "-m", "sciml", "train", "--spec", cell.spec_json, "--threads", "1", "--checkpoint-every", "0",
            "--out", cell.output, *cell.inputs]


def fresh(cell) -> None:
    from sciml.training.checkpoint import finished_record

    Path(cell.output).unlink(missing_ok=True)
    finished_record(cell.output).unlink(missing_ok=True)


def training_seconds(path: str) -> float:
    import xarray as xr

    with xr.open_dataset(path, engine="netcdf4") as ds:
        return float(ds["wall_time"].sum())


def phases(argv: list[str]) -> None:
    """Run ``sciml train argv`` in this process, printing the CPU seconds of each phase as JSON (a child of
    :func:`main`, so that its imports start from nothing)."""
    seconds = {"interpreter start": time.process_time()}

    def timed(name, function):
        def wrapper(*args, **kwargs):
            start = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[name] = seconds.get(name, 0.0) + time.process_time() - start
        return wrapper

    start = time.process_time()
    # what `sciml train` imports before it reads anything (sciml.cli.cmd_train)
    import torch  # noqa: F401

    import sciml.cli
    import sciml.results.store as store
    import sciml.training.checkpoint  # noqa: F401
    import sciml.training.train as train
    seconds["imports"] = time.process_time() - start
    # torch loads these on first use, inside the first seed's timed training (torch.optim.Optimizer.__init__
    # imports torch._dynamo) and model building (autograd.grad with grad_outputs imports sympy): count them apart
    start = time.process_time()
    import torch._dynamo  # noqa: F401
    import torch.fx.experimental.symbolic_shapes  # noqa: F401
    seconds["torch's imports on first use (torch._dynamo, sympy)"] = time.process_time() - start
    store.read_netcdf = timed("reading data products", store.read_netcdf)
    store.write_netcdf = timed("writing the cell file", store.write_netcdf)
    train.train_cell = timed("building and training", train.train_cell)
    start = time.process_time()
    status = sciml.cli.main(["train", *argv])
    total = time.process_time() - start
    training = training_seconds(argv[argv.index("--out") + 1])
    seconds["building (models, objective, first evaluation)"] = seconds.pop("building and training") - training
    seconds["rest (arguments, finished record, log line)"] = total - training - sum(
        seconds[name] for name in ("reading data products", "building (models, objective, first evaluation)",
                                   "writing the cell file"))
    seconds["outside training, in all"] = sum(seconds.values())
    seconds["training (the seeds' wall_time, one thread)"] = training
    print(json.dumps({"status": status, "seconds": seconds}))


#: packages whose first import importtime reports (cumulative, so torch._dynamo includes sympy, xarray pandas)
PACKAGES = ("torch", "torch._dynamo", "sympy", "xarray", "pandas", "netCDF4", "scipy", "numpy", "matplotlib",
            "jsonschema", "yaml", "sciml.training.train", "sciml.results.store", "sciml.problems")


def import_costs(cell, tree: Path) -> dict[str, float]:
    """Seconds of the first import of each of :data:`PACKAGES` (with what it imports) in one ``sciml train``
    process; a package it never imports is left out."""
    fresh(cell)
    *_, stderr = run(train_argv(cell, [sys.executable, "-X", "importtime"]), tree)
    costs = {}
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| *(\S+)$", line)
        if match and match.group(2) in PACKAGES:
            costs[match.group(2)] = int(match.group(1)) / 1e6
    return costs


def phase_split(cell, tree: Path) -> dict[str, float]:
    fresh(cell)
    argv = train_argv(cell, [])[3:]  # the verb's arguments, after "-m sciml train"
    _, _, stdout, _ = run([sys.executable, __file__, "--phases", *argv], tree)
    return json.loads(stdout.splitlines()[-1])["seconds"]


def table(header: str, rows: dict[str, list[float]], digits: int) -> None:
    """One row per name, one column per tree (and their ratio where there are two)."""
    print(f"\n{header}\n|{'---|' * (len(next(iter(rows.values()))) + 1 + (len(TREES) == 2))}")
    for name, values in rows.items():
        ratio = [f"{values[1] / values[0]:.2f}" if values[0] else ""] if len(values) == 2 else []
        print("| " + " | ".join([name, *(f"{v:.{digits}f}" for v in values), *ratio]) + " |")


#: the package trees measured: this checkout, and with --against another one (e.g. a worktree of main)
TREES: list[Path] = [REPO]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--against", type=Path, help="another checkout to alternate with, run for run (e.g. main)")
    parser.add_argument("--out", help="results folder (default: a temporary one)")
    parser.add_argument("--phases", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phases is not None:
        return phases(args.phases)
    if args.against:
        TREES.insert(0, args.against.resolve())
    with tempfile.TemporaryDirectory() as temporary:
        results = Path(args.out or temporary)
        cell, data = plan_cell(results, args.steps)
        processes: dict[str, list[list[float]]] = {}
        for job in data:
            name = f"data {Path(job.output).relative_to(results)}"
            for tree in TREES:
                Path(job.output).unlink(missing_ok=True)
                wall, cpu, *_ = run([sys.executable, "-m", "sciml", "data", "--spec", job.spec_json,
                                     "--out", job.output], tree)
                processes.setdefault(f"{name}: wall", []).append(wall)
                processes.setdefault(f"{name}: CPU", []).append(cpu)
        runs: dict[Path, list[tuple[float, float]]] = {tree: [] for tree in TREES}
        for _ in range(args.repeats):
            for tree in TREES:  # A B A B: load on a shared machine hits both alike
                fresh(cell)
                runs[tree].append(run(train_argv(cell, [sys.executable]), tree)[:2])
        name = f"train {Path(cell.output).relative_to(results)}"
        processes[f"{name}: wall"] = [statistics.median(wall for wall, _ in runs[tree]) for tree in TREES]
        processes[f"{name}: CPU"] = [statistics.median(cpu for _, cpu in runs[tree]) for tree in TREES]
        split_runs: dict[Path, list[dict[str, float]]] = {tree: [] for tree in TREES}
        for _ in range(args.repeats):
            for tree in TREES:
                split_runs[tree].append(phase_split(cell, tree))
        splits = [{name: statistics.median(split[name] for split in split_runs[tree]) for name in split_runs[tree][0]}
                  for tree in TREES]
        imports = [import_costs(cell, tree) for tree in TREES]
    print(f"smoke study's first {cell.spec['strategy']} cell, {len(cell.spec['seeds'])} seeds x {args.steps} steps, "
          f"one thread; train runs: median of {args.repeats}, alternating; torch {__import__('torch').__version__}, "
          f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at the end")
    columns = " | ".join(str(tree) for tree in TREES) + (" | ratio" if len(TREES) == 2 else "")
    table(f"| process (s) | {columns} |", processes, 2)
    table(f"| phase of one train process (CPU s) | {columns} |",
          {name: [split.get(name, 0.0) for split in splits] for name in splits[-1]}, 3)
    table(f"| first import of (python -X importtime, with what it imports; 0: never imported) (s) | {columns} |",
          {name: [costs.get(name, 0.0) for costs in imports] for name in PACKAGES
           if any(name in costs for costs in imports)}, 3)


if __name__ == "__main__":
    main()
