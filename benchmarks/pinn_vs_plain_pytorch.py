"""The project's PINN loss + gradient against a plain PyTorch loop doing the same work, side by side.

    python benchmarks/pinn_vs_plain_pytorch.py                      # N_f = 1,000 and 10,000, one thread
    python benchmarks/pinn_vs_plain_pytorch.py --n-f 1000 --repeats 200 --out results/bench.json

Both compute the convection PINN loss (β = 30; MSE of u_t + β u_x at N_f residual points, of the initial
condition at 257 points, of the periodic boundary at 101 times) and its gradient for the same 2-50-50-50-1
tanh network in float32. The plain loop writes the textbook code (and the paper's): one autograd call with a
created graph per derivative, u_t then u_x. The project evaluates :class:`sciml.problems.pinn.PINNObjective`,
which takes both first derivatives from one backward pass (:func:`sciml.problems.pinn.input_fields`), and
the project with ``compile: true`` (:mod:`sciml.training.compiled`: the functional loss and its gradient
compiled by ``torch.compile``; compiling happens before the timing and is reported on its own). The three
alternate A B C A B C within one process so that load on a shared machine hits them alike; the table reports
the median CPU milliseconds of each and the ratios to plain PyTorch, after checking that all give the same loss.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import time

import torch

from sciml.models.build import build_model
from sciml.problems import get_problem
from sciml.training.compiled import compiled_loss

BETA = 30.0


def plain_loss(model, x, t, x0, u0, tb, x_left, x_right):
    """The loss as one writes it without the project: autograd derivatives, created graph."""
    x, t = x.clone().requires_grad_(True), t.clone().requires_grad_(True)
    u = model(torch.stack([x, t], -1)).squeeze(-1)
    (u_t,) = torch.autograd.grad(u, t, torch.ones_like(u), create_graph=True)
    (u_x,) = torch.autograd.grad(u, x, torch.ones_like(u), create_graph=True)
    pde = ((u_t + BETA * u_x) ** 2).mean()
    ic = ((model(torch.stack([x0, torch.zeros_like(x0)], -1)).squeeze(-1) - u0) ** 2).mean()
    left = model(torch.stack([torch.full_like(tb, x_left), tb], -1)).squeeze(-1)
    right = model(torch.stack([torch.full_like(tb, x_right), tb], -1)).squeeze(-1)
    return pde + ic + ((right - left) ** 2).mean()


def measure(n_f: int, repeats: int) -> dict:
    problem = get_problem("convection")
    settings = problem.settings()
    data = {"reference": problem.generate("reference", settings, BETA),
            "collocation": problem.generate("collocation", settings, n_f)}
    torch.manual_seed(0)
    model = build_model({"architecture": "mlp", "hidden": [50, 50, 50], "activation": "tanh"}, 2, 1)
    objective = problem.objective(settings, {"beta": BETA, "n_f": n_f}, data, model, torch.device("cpu"))
    x, t = objective.collocation
    x0, _, u0 = objective.initial
    args = (model, x, t, x0, u0, objective.boundary_t, *problem.x_range)
    params = list(model.parameters())

    def plain():
        loss = plain_loss(*args)
        torch.autograd.grad(loss, params)
        return loss

    def project():
        loss, _ = objective.loss()
        torch.autograd.grad(loss, params)
        return loss

    compiled_total = compiled_loss(objective)

    def compiled():
        loss = compiled_total()
        torch.autograd.grad(loss, params)
        return loss

    start = time.perf_counter()
    reference = plain()
    same = all(torch.allclose(reference, run(), rtol=1e-5) for run in (project, compiled))  # compiles here
    compile_s = time.perf_counter() - start
    runs = {"plain": plain, "project": project, "compiled": compiled}
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.process_time()
            run()
            times[name].append(1e3 * (time.process_time() - start))
    ms = {name: statistics.median(values) for name, values in times.items()}
    return {"n_f": n_f, "plain_ms": ms["plain"], "project_ms": ms["project"], "compiled_ms": ms["compiled"],
            "ratio": ms["plain"] / ms["project"], "compiled_ratio": ms["plain"] / ms["compiled"],
            "compile_s": compile_s, "same_loss": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-f", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", help="also write the rows as JSON")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [measure(n_f, args.repeats) for n_f in args.n_f]
    print(f"one loss + gradient, CPU ms (median of {args.repeats}, {args.threads} thread(s), torch {torch.__version__})")
    print("| N_f | plain PyTorch | project | ratio | project, compiled | ratio | first call, s | same loss |\n"
          "|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['n_f']:,} | {row['plain_ms']:.2f} | {row['project_ms']:.2f} | {row['ratio']:.2f} | "
              f"{row['compiled_ms']:.2f} | {row['compiled_ratio']:.2f} | {row['compile_s']:.1f} | "
              f"{row['same_loss']} |")
    if args.out:
        with open(args.out, "w") as file:
            json.dump({"date": datetime.date.today().isoformat(), "machine": platform.platform(),
                       "torch": torch.__version__, "threads": args.threads, "rows": rows}, file, indent=1)


if __name__ == "__main__":
    main()
