"""The PINN loss + gradient with and without ``compile: true``, on the four PINN problems.

    python benchmarks/compiled_loss.py                    # N_f = 1,000 and 10,000, one thread
    python benchmarks/compiled_loss.py --n-f 1000 --repeats 100 --out results/compiled.json

For each problem (convection β = 30, reaction ρ = 5, wave c = 2, reaction–diffusion ρ = 5) and N_f, one
2-50-50-50-1 tanh network in float32: the objective's loss and its gradient by autograd (the default) and by
the compiled functional loss (:mod:`sciml.training.compiled`), alternating A B A B in one process. The table
gives the median CPU milliseconds of each, their ratio, and the wall seconds of the first compiled call (the
compilation; it depends on whether torch's compile cache already holds the graph).
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

CELLS = {"convection": 30.0, "reaction": 5.0, "wave": 2.0, "reaction_diffusion": 5.0}


def measure(name: str, coefficient: float, n_f: int, repeats: int) -> dict:
    problem = get_problem(name)
    settings = problem.settings()
    data = {"reference": problem.generate("reference", settings, coefficient),
            "collocation": problem.generate("collocation", settings, n_f)}
    torch.manual_seed(0)
    model = build_model({"architecture": "mlp", "hidden": [50, 50, 50], "activation": "tanh"}, 2, 1)
    objective = problem.objective(settings, {problem.difficulty_axis: coefficient, problem.data_axis: n_f}, data,
                                  model, torch.device("cpu"))
    parameters = objective.parameters()
    compiled = compiled_loss(objective)
    start = time.perf_counter()
    same = torch.allclose(compiled(), objective.loss()[0], rtol=1e-5)
    compile_s = time.perf_counter() - start
    runs = {"autograd": lambda: torch.autograd.grad(objective.loss()[0], parameters),
            "compiled": lambda: torch.autograd.grad(compiled(), parameters)}
    times = {key: [] for key in runs}
    for _ in range(repeats):
        for key, run in runs.items():
            start = time.process_time()
            run()
            times[key].append(1e3 * (time.process_time() - start))
    autograd_ms, compiled_ms = statistics.median(times["autograd"]), statistics.median(times["compiled"])
    return {"problem": name, "n_f": n_f, "autograd_ms": autograd_ms, "compiled_ms": compiled_ms,
            "ratio": autograd_ms / compiled_ms, "compile_s": compile_s, "same_loss": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-f", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", help="also write the rows as JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [measure(name, coefficient, n_f, args.repeats) for n_f in args.n_f for name, coefficient in CELLS.items()]
    print(f"one loss + gradient, CPU ms (median of {args.repeats}, 1 thread, torch {torch.__version__})")
    print("| problem | N_f | autograd | compiled | ratio | first call, s | same loss |\n|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['problem']} | {row['n_f']:,} | {row['autograd_ms']:.2f} | {row['compiled_ms']:.2f} | "
              f"{row['ratio']:.2f} | {row['compile_s']:.1f} | {row['same_loss']} |")
    if args.out:
        with open(args.out, "w") as file:
            json.dump({"date": datetime.date.today().isoformat(), "machine": platform.platform(),
                       "torch": torch.__version__, "rows": rows}, file, indent=1)


if __name__ == "__main__":
    main()
