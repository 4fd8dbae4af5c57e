"""The default study's training jobs, this checkout against another, alternating: what a code change does to
the study's cost, without running the whole study twice.

    python benchmarks/study_ab.py --against /tmp/tree_of_1aee764
    python benchmarks/study_ab.py --against TREE --only pinn/convection --out /tmp/ab

Each tree plans ``config/config.yaml`` with its own package (so each gets the spec its own code expects) and
makes its own data products with ``python -m sciml data``. Then, for one representative cell of every
(model, problem, strategy) group of the default study (the middle value of each axis), both trees run the
training job exactly as their Snakefile does (``python -m sciml train``, one thread), in the order A B for one
cell and B A for the next, so that a drift in the machine's load falls on both. Reported per cell: the CPU
seconds of each process (``getrusage`` of the child), their ratio, and whether both trees end at the same
training loss and test error.

The study-level estimate weights each group's ratio by that group's CPU seconds in a finished run of the study
(``--costs``: a ``results`` folder with the Snakemake benchmark files ``sciml costs`` reads); groups without a
representative cell here (none by default) are left out of the estimate and named.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

from cell_overhead import run  # a child process of another tree's package: wall and CPU seconds, stdout, stderr

REPO = Path(__file__).resolve().parents[1]

#: run by each tree's python: its plan of the default study, restricted to the chosen cells, as JSON. Module
#: paths moved once (sciml.plan -> sciml.workflow.plan), hence the fallback.
PLAN_SCRIPT = r"""
import json, sys
import yaml
try:
    from sciml.workflow.config import validate
    from sciml.workflow.plan import build_plan
except ImportError:
    from sciml.config import validate
    from sciml.plan import build_plan
config = yaml.safe_load(open("config/config.yaml"))
config["results"] = sys.argv[1]
plan = build_plan(validate(config, source="config/config.yaml"))
cells = {}
for job in plan.cells.values():
    s = job.spec
    cells[job.output] = {"group": f"{s['model']}/{s['problem']}/{s['strategy']}", "axes": s["axes"],
                         "spec": job.spec_json, "inputs": list(job.inputs)}
data = {path: job.spec_json for path, job in plan.data.items()}
json.dump({"cells": cells, "data": data}, sys.stdout)
"""

#: run by each tree's python: a cell file's seed-mean final training loss and test error
RESULT_SCRIPT = r"""
import json, sys
import xarray as xr
with xr.open_dataset(sys.argv[1], engine="netcdf4") as ds:
    print(json.dumps({"train_loss": float(ds["train_loss"].mean()), "test_error": float(ds["test_error"].mean())}))
"""


def plan_of(tree: Path, results: Path) -> dict:
    return json.loads(run([sys.executable, "-c", PLAN_SCRIPT, str(results)], tree)[2])


def representatives(cells: dict, only: str | None) -> dict[str, str]:
    """Per group, the cell at the middle value of every axis (the lower middle for an even count)."""
    by_group: dict[str, list[tuple[str, dict]]] = {}
    for path, cell in cells.items():
        if only is None or cell["group"].startswith(only):
            by_group.setdefault(cell["group"], []).append((path, cell["axes"]))
    chosen = {}
    for group, members in sorted(by_group.items()):
        axes = members[0][1].keys()
        middle = {}
        for axis in axes:
            values = sorted({a[axis] for _, a in members})
            middle[axis] = values[(len(values) - 1) // 2]
        chosen[group] = next(path for path, a in members if a == middle)
    return chosen


def group_costs(results: Path) -> dict[str, float]:
    """CPU seconds per model/problem/strategy from the Snakemake benchmark files of a finished study."""
    costs: dict[str, float] = {}
    for tsv in (results / "benchmarks" / "cells").glob("*/*/*/*.tsv"):
        header, values = tsv.read_text().splitlines()[:2]
        row = dict(zip(header.split("\t"), values.split("\t")))
        group = "/".join(tsv.parent.relative_to(results / "benchmarks" / "cells").parts)
        costs[group] = costs.get(group, 0.0) + float(row["cpu_time"])
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", type=Path, required=True, help="the other tree (B), e.g. an older commit")
    parser.add_argument("--only", help="groups whose model/problem/strategy starts with this")
    parser.add_argument("--costs", type=Path, default=None,
                        help="results folder of a finished default study, to weight the groups (sciml costs' files)")
    parser.add_argument("--out", type=Path, default=None, help="also write the results here as JSON")
    args = parser.parse_args()

    trees = {"A": REPO, "B": args.against.resolve()}
    work = Path(tempfile.mkdtemp(prefix="study_ab_"))
    plans = {name: plan_of(tree, work / name) for name, tree in trees.items()}
    chosen = representatives(plans["A"]["cells"], args.only)
    rows = []
    for index, (group, path_a) in enumerate(chosen.items()):
        relative = Path(path_a).relative_to(work / "A")
        record = {"group": group, "cell": str(relative)}
        for name in ("AB" if index % 2 == 0 else "BA"):
            tree, plan = trees[name], plans[name]
            out = str(work / name / relative)
            cell = plan["cells"][out]
            for data in cell["inputs"]:
                if not Path(data).exists():
                    run([sys.executable, "-m", "sciml", "data", "--spec", plan["data"][data], "--out", data], tree)
            wall, cpu, _, _ = run([sys.executable, "-m", "sciml", "train", "--spec", cell["spec"], "--threads", "1",
                                "--checkpoint-every", "0", "--out", out, *cell["inputs"]], tree)
            result = json.loads(run([sys.executable, "-c", RESULT_SCRIPT, out], tree)[2])
            record[name] = {"wall_s": wall, "cpu_s": cpu, **result}
        record["ratio"] = record["B"]["cpu_s"] / record["A"]["cpu_s"]
        rows.append(record)
        print(f"{group:36s} {record['cell']:60s} B {record['B']['cpu_s']:7.1f} s  A {record['A']['cpu_s']:7.1f} s  "
              f"B/A {record['ratio']:.2f}  loss {record['B']['train_loss']:.3g} / {record['A']['train_loss']:.3g}  "
              f"error {record['B']['test_error']:.3g} / {record['A']['test_error']:.3g}", flush=True)

    summary = {"machine": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
               "load_average_end": os.getloadavg(), "against": str(trees["B"]), "cells": rows}
    total_a = sum(r["A"]["cpu_s"] for r in rows)
    total_b = sum(r["B"]["cpu_s"] for r in rows)
    print(f"representative cells, summed: B {total_b:.0f} s, A {total_a:.0f} s, B/A {total_b / total_a:.2f}")
    if args.costs is not None:
        costs = group_costs(args.costs)
        weighted = {r["group"]: costs[r["group"]] for r in rows if r["group"] in costs}
        missing = sorted(set(costs) - set(weighted))
        a_cost = sum(weighted.values())  # the finished study's CPU seconds of the groups measured here (code A)
        b_cost = sum(costs[r["group"]] * r["ratio"] for r in rows if r["group"] in costs)
        summary["study_estimate"] = {"groups": len(weighted), "a_cpu_s": a_cost, "b_cpu_s": b_cost,
                                     "ratio": b_cost / a_cost, "groups_left_out": missing}
        print(f"study estimate over {len(weighted)} groups ({a_cost:.0f} CPU s with A): B/A {b_cost / a_cost:.2f}"
              + (f"; left out: {', '.join(missing)}" if missing else ""))
    if args.out is not None:
        args.out.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
