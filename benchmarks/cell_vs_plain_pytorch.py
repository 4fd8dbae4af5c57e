"""One PINN cell of several seeds trained by the project against a plain PyTorch loop doing the same work.

    python benchmarks/cell_vs_plain_pytorch.py                           # 5 seeds x 1,000 L-BFGS steps, N_f = 1,000
    python benchmarks/cell_vs_plain_pytorch.py --steps 50 --out results/cell_bench.json

The cell: convection β = 30, 2-50-50-50-1 tanh in float32, L-BFGS (lr 1, max_iter 20, history 100, strong
Wolfe) for ``--steps`` outer steps, the loss and the test error on the 129 x 101 grid recorded after every
step (the project's default ``log_every: 1``), seeds one after another.

* plain PyTorch: the textbook loop (one autograd call per derivative, ``torch.optim.LBFGS``, the record taken
  by hand after every step), starting from the project's initial parameters of each seed;
* project: :func:`sciml.training.train.train_cell`, the training job's own function (monitor, stall rule,
  snapshots and the cell's dataset included; no checkpoints), with ``compile`` and ``batch_seeds`` off and on
  (the compile time is inside the cell's time).

Each variant runs in turn once in this process; the table gives CPU seconds (``time.process_time``, all
threads) per cell and the ratios to plain PyTorch, and each variant's final loss and test error (seed mean),
which differ between variants by the rounding L-BFGS amplifies in float32 (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import time

import numpy as np
import torch

from sciml.models.build import seeded_model
from sciml.problems import get_problem
from sciml.training.objective import relative_l2
from sciml.training.train import train_cell

BETA, N_F = 30.0, 1000
PINN = {"architecture": "mlp", "hidden": [50, 50, 50], "activation": "tanh", "dtype": "float32"}
LBFGS = {"lr": 1.0, "max_iter": 20, "history_size": 100, "line_search_fn": "strong_wolfe"}


def textbook_loss(model, collocation, initial, boundary_t, x_range):
    """Convection loss as the PINN literature writes it: one autograd call with a created graph per derivative."""
    x, t = (c.clone().requires_grad_(True) for c in collocation)
    u = model(torch.stack([x, t], -1)).squeeze(-1)
    (u_t,) = torch.autograd.grad(u, t, torch.ones_like(u), create_graph=True)
    (u_x,) = torch.autograd.grad(u, x, torch.ones_like(u), create_graph=True)
    x0, t0, u0 = initial
    ic = model(torch.stack([x0, t0], -1)).squeeze(-1) - u0
    left = model(torch.stack([torch.full_like(boundary_t, x_range[0]), boundary_t], -1)).squeeze(-1)
    right = model(torch.stack([torch.full_like(boundary_t, x_range[1]), boundary_t], -1)).squeeze(-1)
    return ((u_t + BETA * u_x) ** 2).mean() + (ic**2).mean() + ((right - left) ** 2).mean()


def plain_cell(problem, settings, data, seeds, steps) -> tuple[float, list[float], list[float]]:
    """CPU seconds, final loss and test error per seed of the plain loop."""
    losses, errors = [], []
    start = time.process_time()
    for seed in seeds:
        model = seeded_model(PINN, 2, 1, seed, torch.device("cpu"))
        objective = problem.objective(settings, {"beta": BETA, "n_f": N_F}, data, model, torch.device("cpu"))
        arguments = (model, objective.collocation, objective.initial, objective.boundary_t, problem.x_range)
        test_x, test_t, reference = objective.test
        test_points = torch.stack([test_x, test_t], -1)
        optimizer = torch.optim.LBFGS(model.parameters(), **LBFGS)

        def closure():
            optimizer.zero_grad()
            loss = textbook_loss(*arguments)
            loss.backward()
            return loss

        history = []
        for _ in range(steps):
            optimizer.step(closure)
            loss = textbook_loss(*arguments).item()
            with torch.no_grad():
                error = relative_l2(model(test_points).squeeze(-1).reshape(reference.shape), reference)
            history.append((loss, error))
        losses.append(history[-1][0])
        errors.append(history[-1][1])
    return time.process_time() - start, losses, errors


def project_cell(data, seeds, steps, **settings) -> tuple[float, list[float], list[float]]:
    spec = {"model": "pinn", "model_settings": PINN, "problem": "convection", "problem_settings": {},
            "strategy": "lbfgs", "axes": {"beta": BETA, "n_f": N_F}, "seeds": list(seeds),
            "strategy_settings": {"method": "lbfgs", "steps": steps, "stop_when_stalled": 0, **settings}}
    start = time.process_time()
    cell = train_cell(spec, data, torch.device("cpu"))
    seconds = time.process_time() - start
    return seconds, cell["train_loss"].values.ravel().tolist(), cell["test_error"].values.ravel().tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", help="also write the rows as JSON")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    problem = get_problem("convection")
    settings = problem.settings()
    data = {"reference": problem.generate("reference", settings, BETA),
            "collocation": problem.generate("collocation", settings, N_F)}
    seeds = list(range(args.seeds))
    rows = {"plain PyTorch": plain_cell(problem, settings, data, seeds, args.steps),
            "project": project_cell(data, seeds, args.steps),
            "project, compile": project_cell(data, seeds, args.steps, compile=True),
            "project, batch_seeds": project_cell(data, seeds, args.steps, batch_seeds=True),
            "project, batch_seeds + compile": project_cell(data, seeds, args.steps, batch_seeds=True, compile=True)}
    plain_s = rows["plain PyTorch"][0]
    print(f"one cell: {args.seeds} seeds x {args.steps} L-BFGS steps, N_f = {N_F:,}, beta = {BETA:g}, "
          f"{args.threads} thread(s), torch {torch.__version__}")
    print("| variant | CPU s | speed-up | final loss (seed mean) | test error (seed mean) |\n|---|---|---|---|---|")
    for name, (seconds, losses, errors) in rows.items():
        print(f"| {name} | {seconds:.1f} | {plain_s / seconds:.2f} | {np.mean(losses):.3g} | {np.mean(errors):.3g} |")
    if args.out:
        with open(args.out, "w") as file:
            json.dump({"date": datetime.date.today().isoformat(), "machine": platform.platform(),
                       "torch": torch.__version__, "threads": args.threads, "steps": args.steps,
                       "rows": {name: {"cpu_s": s, "final_loss": lo, "test_error": e}
                                for name, (s, lo, e) in rows.items()}}, file, indent=1)


if __name__ == "__main__":
    main()
