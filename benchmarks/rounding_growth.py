"""How far apart two trainings of the same PINN cell drift when only their floating-point rounding differs.

    python benchmarks/rounding_growth.py                 # 2 seeds x 50 L-BFGS steps, float32 and float64
    python benchmarks/rounding_growth.py --steps 100 --out results/rounding.json

The cell (convection β = 30, N_f = 1,000, 2-50-50-50-1 tanh, L-BFGS with strong Wolfe, seeds 0 and 1) is
trained by :func:`sciml.training.train.train_cell` three ways that compute the same loss in a different order
of floating-point operations: seeds one after another (the reference), seeds batched as one vectorised model
(``batch_seeds: true``: batched matrix products), and compiled (``compile: true``: fused loops). For each
dtype the table gives the largest relative difference of the recorded training loss from the reference over
the seeds, at a few steps: a difference that starts at the dtype's rounding and grows with the steps is
L-BFGS amplifying rounding, not a different algorithm.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform

import numpy as np
import torch

from sciml.problems import get_problem
from sciml.training.train import train_cell

BETA, N_F = 30.0, 1000
VARIANTS = {"batched": {"batch_seeds": True}, "compiled": {"compile": True}}


def history(dtype: str, steps: int, seeds: list[int], data, at: list[int], **settings) -> np.ndarray:
    spec = {"model": "pinn", "problem": "convection", "problem_settings": {}, "strategy": "lbfgs",
            "model_settings": {"architecture": "mlp", "hidden": [50, 50, 50], "activation": "tanh", "dtype": dtype},
            "axes": {"beta": BETA, "n_f": N_F}, "seeds": seeds,
            "strategy_settings": {"method": "lbfgs", "steps": steps, "stop_when_stalled": 0, **settings}}
    cell = train_cell(spec, data, torch.device("cpu"))
    return cell["history_train_loss"].squeeze().sel(step=at).transpose("seed", "step").values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--out", help="also write the rows as JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)
    problem = get_problem("convection")
    settings = problem.settings()
    data = {"reference": problem.generate("reference", settings, BETA),
            "collocation": problem.generate("collocation", settings, N_F)}
    at = sorted({s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if s <= args.steps} | {args.steps})
    rows = []
    for dtype in ("float32", "float64"):
        reference = history(dtype, args.steps, [0, 1], data, at)
        for name, settings_ in VARIANTS.items():
            other = history(dtype, args.steps, [0, 1], data, at, **settings_)
            drift = np.nanmax(np.abs(other - reference) / np.abs(reference), axis=0)  # over seeds, per step
            rows.append({"dtype": dtype, "variant": name, "drift": dict(zip(at, drift.tolist()))})
    print(f"largest relative difference of the training loss from seeds one by one, 2 seeds, torch {torch.__version__}")
    print("| dtype | variant | " + " | ".join(f"step {s}" for s in at) + " |\n|---|---|" + "---|" * len(at))
    for row in rows:
        print(f"| {row['dtype']} | {row['variant']} | " + " | ".join(f"{row['drift'][s]:.1e}" for s in at) + " |")
    if args.out:
        with open(args.out, "w") as file:
            json.dump({"date": datetime.date.today().isoformat(), "machine": platform.platform(),
                       "torch": torch.__version__, "steps": args.steps, "rows": rows}, file, indent=1)


if __name__ == "__main__":
    main()
