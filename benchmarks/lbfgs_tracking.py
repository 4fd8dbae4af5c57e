"""How closely the batched L-BFGS follows torch.optim.LBFGS, next to torch against itself on other threads.

    python benchmarks/lbfgs_tracking.py --steps 3

One seed of the PINN convection cell beta = 30, N_f = 1,000 (float32, 5,301 parameters), L-BFGS (20
iterations per outer step, strong Wolfe). After each outer step, the relative difference of the parameters
between (a) sciml.training.batched.lbfgs (a batch of one) and torch.optim.LBFGS, and (b) torch.optim.LBFGS on one and
on two threads: any rounding change grows from step to step on a PINN loss, so (b) is the yardstick for (a).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cell_time import CELLS, cell_data, cell_spec

from sciml.models.build import seeded_model
from sciml.problems import get_problem
from sciml.strategies.base import closure_for
from sciml.training.batched.batch import SeedBatch
from sciml.training.batched.lbfgs import BatchedLBFGS
from sciml.training.params import flatten


def objective():
    spec = cell_spec(CELLS["pinn_convection_nf1000"], steps=None, batch_seeds=True)
    problem = get_problem(spec["problem"])
    model = seeded_model(spec["model_settings"], problem.input_dim, problem.output_dim, 0, torch.device("cpu"))
    return problem.objective(problem.settings(), spec["axes"], cell_data(spec), model, torch.device("cpu"))


def torch_run(steps: int, threads: int) -> tuple[list[torch.Tensor], list[int]]:
    torch.set_num_threads(threads)
    o = objective()
    optimizer = torch.optim.LBFGS(o.parameters(), line_search_fn="strong_wolfe")
    params, evals = [], []
    for _ in range(steps):
        optimizer.step(closure_for(o, optimizer))
        params.append(flatten(o.parameters()).clone())
        evals.append(optimizer.state[optimizer._params[0]]["func_evals"])
    return params, evals


def batched_run(steps: int) -> tuple[list[torch.Tensor], list[int]]:
    torch.set_num_threads(1)
    o = objective()
    batch = SeedBatch(o, [o.model])
    optimizer = BatchedLBFGS(batch, line_search_fn="strong_wolfe")
    params, evals = [], []
    for _ in range(steps):
        optimizer.step([0])
        params.append(batch.theta[0].clone())
        evals.append(optimizer.func_evals[0])
    return params, evals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    reference, reference_evals = torch_run(args.steps, threads=1)
    two_threads, _ = torch_run(args.steps, threads=2)
    batched, batched_evals = batched_run(args.steps)

    def relative(a, b):
        return float((a - b).norm() / b.norm())

    print("step  batched vs torch  torch 2 vs 1 threads  evaluations (batched, torch)")
    for step in range(args.steps):
        print(f"{step + 1:4d}  {relative(batched[step], reference[step]):16.2e}  "
              f"{relative(two_threads[step], reference[step]):20.2e}  {batched_evals[step]}, {reference_evals[step]}")


if __name__ == "__main__":
    main()
