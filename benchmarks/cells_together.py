"""A column of PINN cells trained together against the same cells trained one after another.

    python benchmarks/cells_together.py                       # N_f = 1,000; beta 5, 10, 20, 30, 50; 3 seeds; 20 steps
    python benchmarks/cells_together.py --steps 100 --repeats 1 --out /tmp/together.json

The cells: convection at N_f = ``--n-f``, one per beta, each with ``--seeds`` seeds of the default study's
2-50-50-50-1 tanh PINN in float32, L-BFGS as the default study runs it (lr 1, max_iter 20, history 100, strong
Wolfe) for ``--steps`` outer steps, a record after every step. Variants, each through the training job's own
functions (:func:`sciml.training.train.train_cell`, :func:`sciml.training.train.train_cells`):

* ``one seed at a time``: each cell as the default study trains it (torch.optim.LBFGS per seed);
* ``cells alone``: each cell's seeds batched (``batch_seeds: true``), cell after cell;
* ``cells together``: every seed of every cell as one batch (``train_cells``, the ``cells_together`` option).

They alternate in one process for ``--repeats`` rounds; the table gives the median CPU seconds
(``time.process_time``) per variant, the loss-and-gradient evaluations of single rows they made (counted
around ``torch.optim.LBFGS.step``'s closure and ``SeedBatch.loss_and_grad``), CPU ms per such evaluation, and the
share of CPU time the batched L-BFGS spends on its search directions (the history update and the compact-form
direction of each row). In float32, L-BFGS amplifies rounding, so the variants' trajectories (and how many evaluations they
need) differ; CPU per evaluation compares their cost for the same work. Per evaluation, it also times one loss
and gradient of all rows together against one per cell. With one thread on a CPU the rows' arithmetic does not
shrink, so what joining cells saves is the per-call work (Python, dispatch, small kernels); on a GPU, where one
small MLP leaves the device idle, the rows run side by side.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime
import json
import platform
import statistics
import time

import torch

from sciml.models.build import seeded_model
from sciml.problems import get_problem
from sciml.training.batched.batch import SeedBatch
from sciml.training.batched.lbfgs import BatchedLBFGS
from sciml.training.train import train_cell, train_cells

PINN = {"architecture": "mlp", "hidden": [50, 50, 50], "activation": "tanh", "dtype": "float32"}
CPU = torch.device("cpu")


def specs_and_data(betas, n_f, seeds, steps):
    problem = get_problem("convection")
    settings = problem.settings()
    collocation = problem.generate("collocation", settings, n_f)
    strategy = {"method": "lbfgs", "steps": steps, "lr": 1.0, "max_iter": 20, "history_size": 100}
    specs = [{"model": "pinn", "model_settings": PINN, "problem": "convection", "problem_settings": {},
              "strategy": "lbfgs", "strategy_settings": strategy, "axes": {"beta": beta, "n_f": n_f},
              "seeds": list(range(seeds))} for beta in betas]
    datas = [{"reference": problem.generate("reference", settings, beta), "collocation": collocation}
             for beta in betas]
    return problem, settings, specs, datas


def per_evaluation(problem, settings, specs, datas, repeats: int = 20) -> dict[str, float]:
    """CPU ms of one loss and gradient of every row: one batch per cell, against one batch of all cells."""
    objectives, models = [], []
    for spec, data in zip(specs, datas):
        cell_models = [seeded_model(PINN, 2, 1, seed, CPU) for seed in spec["seeds"]]
        objectives.append(problem.objective(settings, spec["axes"], data, cell_models[0], CPU))
        models.append(cell_models)
    alone = [SeedBatch(o, m) for o, m in zip(objectives, models)]
    copies = [len(m) for m in models]
    together = SeedBatch(objectives[0], [m for ms in models for m in ms],
                         rows_objective=objectives[0].joined(objectives[1:], copies))

    def timed(evaluate) -> float:
        evaluate()  # warm-up
        times = []
        for _ in range(repeats):
            start = time.process_time()
            evaluate()
            times.append(time.process_time() - start)
        return 1e3 * statistics.median(times)

    return {"cells alone (one batch per cell)": timed(lambda: [b.loss_and_grad(b.theta) for b in alone]),
            "cells together (one batch)": timed(lambda: together.loss_and_grad(together.theta))}


@contextlib.contextmanager
def counted(work: collections.Counter):
    """Count, while inside, single-row loss-and-gradient evaluations (``work["evaluations"]``) and the CPU seconds
    the batched L-BFGS spends on search directions (``work["direction_s"]``)."""
    lbfgs_step, batch_loss_and_grad, direction = torch.optim.LBFGS.step, SeedBatch.loss_and_grad, BatchedLBFGS._direction

    def step(optimizer, closure):
        def counted_closure():
            work["evaluations"] += 1
            return closure()
        return lbfgs_step(optimizer, counted_closure)

    def loss_and_grad(batch, theta, rows=None):
        work["evaluations"] += theta.shape[0]
        return batch_loss_and_grad(batch, theta, rows)

    def timed_direction(optimizer, rows):
        start = time.process_time()
        direction(optimizer, rows)
        work["direction_s"] += time.process_time() - start

    torch.optim.LBFGS.step, SeedBatch.loss_and_grad, BatchedLBFGS._direction = step, loss_and_grad, timed_direction
    try:
        yield work
    finally:
        torch.optim.LBFGS.step, SeedBatch.loss_and_grad, BatchedLBFGS._direction = lbfgs_step, batch_loss_and_grad, direction


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--betas", type=float, nargs="+", default=[5, 10, 20, 30, 50])
    parser.add_argument("--n-f", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None, help="also write the results here as JSON")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    problem, settings, specs, datas = specs_and_data(args.betas, args.n_f, args.seeds, args.steps)
    evaluation = per_evaluation(problem, settings, specs, datas)
    batched = [{**s, "strategy_settings": {**s["strategy_settings"], "batch_seeds": True}} for s in specs]
    variants = {
        "one seed at a time": lambda: [train_cell(s, d, CPU) for s, d in zip(specs, datas)],
        "cells alone": lambda: [train_cell(s, d, CPU) for s, d in zip(batched, datas)],
        "cells together": lambda: train_cells(specs, datas, CPU),
    }
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    work: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    finals: dict[str, list[tuple[float, float]]] = {}
    for _ in range(args.repeats):
        for name, run in variants.items():
            with counted(collections.Counter()) as counts:
                start = time.process_time()
                cells = run()
                seconds[name].append(time.process_time() - start)
            work[name].append(dict(counts))
            finals[name] = [(float(c["train_loss"].mean()), float(c["test_error"].mean())) for c in cells]

    print(f"{len(specs)} cells x {args.seeds} seeds, N_f = {args.n_f}, {args.steps} L-BFGS steps, "
          f"{args.threads} thread(s), {platform.processor() or platform.machine()}")
    print("| variant | CPU s (median) | evaluations | CPU ms per evaluation | search directions "
          "| final loss, test error per cell (seed means) |")
    print("|---|---:|---:|---:|---:|---|")
    for name in variants:
        cpu = statistics.median(seconds[name])
        evaluations = statistics.median(w["evaluations"] for w in work[name])
        directions = statistics.median(w.get("direction_s", 0.0) / s for w, s in zip(work[name], seconds[name]))
        cells = "; ".join(f"{loss:.3g}, {error:.3g}" for loss, error in finals[name])
        print(f"| {name} | {cpu:.1f} | {evaluations:.0f} | {1e3 * cpu / evaluations:.2f} | "
              f"{f'{100 * directions:.0f} %' if directions else '(in torch)'} | {cells} |")
    for name, ms in evaluation.items():
        print(f"one loss and gradient of all {len(specs) * args.seeds} rows, {name}: {ms:.1f} CPU ms")
    if args.out:
        with open(args.out, "w") as out:
            json.dump({"date": datetime.datetime.now().isoformat(), "machine": platform.platform(),
                       "args": vars(args), "seconds": seconds, "work": work, "finals": finals,
                       "evaluation_ms": evaluation}, out, indent=1)


if __name__ == "__main__":
    main()
