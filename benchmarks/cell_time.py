"""Wall time of reference training cells, seeds trained one by one and together (sciml/training/batched).

    python benchmarks/cell_time.py                                  # every reference cell, both modes
    python benchmarks/cell_time.py --cells pinn_convection_nf1000 --steps 5 --threads 1
    python benchmarks/cell_time.py --n-f 100 300 1000 3000 10000 --steps 3   # growth with N_f
    python benchmarks/cell_time.py --evaluations --n-f 100 1000 10000   # one loss + gradient, all seeds

A reference cell is a config entry in ``CELLS`` (model, problem, axes, strategy, seeds), trained through
:func:`sciml.training.train.train_cell` exactly as a workflow job trains it, with ``batch_seeds`` on and off. Add a
cell of another model family (an FNO or PINODE cell) as one more entry; nothing else changes. ``--steps``
shortens every cell's strategy (the paper's 1,000 L-BFGS steps take hours on a loaded CPU): the script
reports seconds per outer step (wall and CPU time of the process: on a machine shared with other work the
CPU time is the steadier measure), and the full cell's time is that times the steps. Steps that stalled
early (the cell's ``stop_step``) are counted as run, so cells that stop early are not flattered.

Prints one table and, with ``--out``, writes the rows as JSON (machine, date, threads, device included).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import platform
import time
from collections.abc import Mapping
from typing import Any

import torch

from sciml.problems import get_problem
from sciml.training.train import default_device, train_cell

PINN = {"architecture": "mlp", "hidden": [50, 50, 50], "activation": "tanh", "dtype": "float32"}
LBFGS = {"method": "lbfgs", "steps": 1000, "max_iter": 20, "history_size": 100, "line_search": "strong_wolfe"}
FIVE_SEEDS = [0, 1, 2, 3, 4]

#: reference cells, keyed by name; each is the config of one workflow cell
CELLS: dict[str, dict[str, Any]] = {
    "pinn_convection_nf1000": {"model": "pinn", "model_settings": PINN, "problem": "convection",
                               "axes": {"beta": 30, "n_f": 1000}, "strategy": LBFGS, "seeds": FIVE_SEEDS},
    "pinn_convection_nf10000": {"model": "pinn", "model_settings": PINN, "problem": "convection",
                                "axes": {"beta": 30, "n_f": 10000}, "strategy": LBFGS, "seeds": FIVE_SEEDS},
}


def cell_spec(cell: Mapping[str, Any], steps: int | None, batch_seeds: bool) -> dict[str, Any]:
    strategy = dict(cell["strategy"])
    if steps is not None:
        strategy["steps"] = steps
    strategy["batch_seeds"] = batch_seeds
    return {"model": cell["model"], "model_settings": cell["model_settings"], "problem": cell["problem"],
            "problem_settings": cell.get("problem_settings", {}), "strategy": strategy["method"],
            "strategy_settings": strategy, "axes": dict(cell["axes"]), "seeds": list(cell["seeds"])}


def cell_data(spec: Mapping[str, Any]) -> dict:
    problem = get_problem(spec["problem"])
    settings = problem.settings(spec["problem_settings"])
    return {product: problem.generate(product, settings, spec["axes"][axis])
            for product, axis in problem.data_products().items()}


def measure(name: str, cell: Mapping[str, Any], steps: int | None, batch_seeds: bool,
            device: torch.device) -> dict[str, Any]:
    spec = cell_spec(cell, steps, batch_seeds)
    data = cell_data(spec)
    start, start_cpu = time.perf_counter(), time.process_time()
    ds = train_cell(spec, data, device)
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    steps_run = int(ds["stop_step"].max())
    return {"cell": name, "axes": spec["axes"], "seeds": len(spec["seeds"]), "mode": ds.attrs["seed_batching"],
            "steps": steps_run, "wall_s": wall, "s_per_step": wall / max(steps_run, 1), "cpu_s": cpu,
            "cpu_s_per_step": cpu / max(steps_run, 1),
            "train_loss": ds["train_loss"].values.ravel().tolist()}


def evaluation_times(cell: Mapping[str, Any], device: torch.device, repeats: int = 10) -> dict[str, float]:
    """CPU milliseconds of one loss and gradient of every seed: one batched evaluation, and the seeds' own
    objectives one after another (what the sequential path evaluates)."""
    from sciml.models.build import seeded_model
    from sciml.training.batched.batch import SeedBatch

    spec = cell_spec(cell, None, True)
    problem = get_problem(spec["problem"])
    data = cell_data(spec)
    models = [seeded_model(spec["model_settings"], problem.input_dim, problem.output_dim, seed, device) for seed in spec["seeds"]]
    objectives = [problem.objective(problem.settings(spec["problem_settings"]), spec["axes"], data, m, device)
                  for m in models]
    batch = SeedBatch(objectives[0], models)

    def one_by_one():
        for objective in objectives:
            torch.autograd.grad(objective.loss()[0], objective.parameters())

    times = {}
    for mode, evaluate in (("one by one", one_by_one), ("together", lambda: batch.loss_and_grad(batch.theta))):
        evaluate()
        start = time.process_time()
        for _ in range(repeats):
            evaluate()
        times[mode] = (time.process_time() - start) / repeats * 1e3
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", nargs="+", default=list(CELLS), choices=list(CELLS))
    parser.add_argument("--steps", type=int, help="outer steps per cell instead of the cell's own")
    parser.add_argument("--modes", nargs="+", default=["sequential", "batched"], choices=["sequential", "batched"])
    parser.add_argument("--n-f", type=int, nargs="+", help="instead: the first cell at each of these N_f")
    parser.add_argument("--evaluations", action="store_true", help="time single evaluations instead of cells")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    parser.add_argument("--out", help="write the rows as JSON here")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device) if args.device else default_device()
    cells = {name: CELLS[name] for name in args.cells}
    if args.n_f:
        base_name, base = next(iter(cells.items()))
        cells = {}
        for n_f in args.n_f:
            cell = copy.deepcopy(base)
            cell["axes"]["n_f"] = n_f
            cells[f"{base_name.rsplit('_nf', 1)[0]}_nf{n_f}"] = cell

    if args.evaluations:
        print(f"{'cell':32} {'one by one ms':>14} {'together ms':>12}  (CPU time of one loss + gradient, all seeds)")
        for name, cell in cells.items():
            times = evaluation_times(cell, device)
            print(f"{name:32} {times['one by one']:14.1f} {times['together']:12.1f}", flush=True)
        return

    rows = []
    header = f"{'cell':32} {'mode':11} {'steps':>5} {'wall s':>8} {'s/step':>8} {'CPU s/step':>10}"
    print(header)
    for name, cell in cells.items():
        for mode in args.modes:
            row = measure(name, cell, args.steps, mode == "batched", device)
            rows.append(row)
            print(f"{name:32} {row['mode']:11} {row['steps']:5d} {row['wall_s']:8.1f} {row['s_per_step']:8.2f} "
                  f"{row['cpu_s_per_step']:10.2f}", flush=True)
    context = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "processor": platform.processor(),
               "date": datetime.datetime.now().isoformat(timespec="minutes"), "threads": args.threads,
               "device": str(device), "torch": torch.__version__,
               "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None}
    print(json.dumps(context))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"context": context, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
