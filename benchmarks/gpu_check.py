"""GPU check, one short call on a machine with CUDA (a few minutes): CUDA against CPU, and the batched seeds.

    python benchmarks/gpu_check.py --out gpu_check.txt            # on the GPU machine
    python benchmarks/gpu_check.py --device cpu --quick           # exercise the script without a GPU

1. Agreement: a PINN convection cell (beta = 30, N_f = 1,000, five seeds) evaluated and trained on the CPU
   and on the device, seeds batched: loss and gradient of every seed at the initial parameters (float64 and
   float32), 10 Adam steps (float32) and 2 L-BFGS steps (float64). L-BFGS amplifies rounding differences
   step by step, so only its first steps are compared.
2. Speed: the reference cells of benchmarks/cell_time.py on the device, seeds one by one and together, a
   few outer steps each (seconds per outer step).

Prints a summary and writes it to ``--out``. Exits non-zero when an agreement check fails.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cell_time import CELLS, cell_data, cell_spec, measure

from sciml.models.build import seeded_model
from sciml.problems import get_problem
from sciml.training.batched.adam import BatchedAdam
from sciml.training.batched.batch import SeedBatch
from sciml.training.batched.lbfgs import BatchedLBFGS

#: (dtype, relative tolerance) of each agreement check
TOLERANCES = {"loss_f64": 1e-10, "grad_f64": 1e-8, "loss_f32": 1e-4, "grad_f32": 1e-3, "adam_f32": 1e-3,
              "lbfgs_f64": 1e-5}


def batch_on(device: torch.device, dtype: str, n_f: int = 1000) -> SeedBatch:
    cell = dict(CELLS["pinn_convection_nf1000"])
    cell["model_settings"] = {**cell["model_settings"], "dtype": dtype}
    cell["axes"] = {**cell["axes"], "n_f": n_f}
    spec = cell_spec(cell, steps=None, batch_seeds=True)
    problem = get_problem(spec["problem"])
    models = [seeded_model(spec["model_settings"], problem.input_dim, problem.output_dim, seed, device) for seed in spec["seeds"]]
    objective = problem.objective(problem.settings(), spec["axes"], cell_data(spec), models[0], device)
    return SeedBatch(objective, models)


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return float((a - b).norm() / b.norm())


def agreement(device: torch.device, reference: torch.device) -> dict[str, float]:
    found = {}
    for dtype, suffix in (("float64", "f64"), ("float32", "f32")):
        on_device, on_reference = batch_on(device, dtype), batch_on(reference, dtype)
        loss, grad = on_device.loss_and_grad(on_device.theta)
        loss_ref, grad_ref = on_reference.loss_and_grad(on_reference.theta)
        found[f"loss_{suffix}"] = relative(loss, loss_ref)
        found[f"grad_{suffix}"] = max(relative(g, r) for g, r in zip(grad, grad_ref))

    on_device, on_reference = batch_on(device, "float32"), batch_on(reference, "float32")
    for batch in (on_device, on_reference):
        adam = BatchedAdam(batch, lr=1e-3)
        for _ in range(10):
            adam.step(list(range(batch.size)))
    found["adam_f32"] = max(relative(a, b) for a, b in zip(on_device.theta, on_reference.theta))

    on_device, on_reference = batch_on(device, "float64"), batch_on(reference, "float64")
    for batch in (on_device, on_reference):
        lbfgs = BatchedLBFGS(batch, line_search_fn="strong_wolfe")
        for _ in range(2):
            lbfgs.step(list(range(batch.size)))
    found["lbfgs_f64"] = max(relative(a, b) for a, b in zip(on_device.theta, on_reference.theta))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--reference", default="cpu")
    parser.add_argument("--steps", type=int, default=5, help="outer steps per benchmarked cell")
    parser.add_argument("--quick", action="store_true", help="1 step, N_f = 1,000 cell only (a check of the script)")
    parser.add_argument("--out", default="gpu_check.txt")
    args = parser.parse_args()

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_check: CUDA is not available on this machine; run it where a GPU is, or pass --device cpu")
    torch.set_num_threads(1)
    lines = [f"gpu_check {datetime.datetime.now().isoformat(timespec='minutes')} on {platform.node()}",
             (f"device: {torch.cuda.get_device_name(device) if device.type == 'cuda' else device}; "
              f"reference: {args.reference}; torch {torch.__version__}")]

    start = time.perf_counter()
    found = agreement(device, torch.device(args.reference))
    failed = []
    lines.append("agreement (relative difference, device vs reference; tolerance):")
    for name, value in found.items():
        ok = value <= TOLERANCES[name]
        failed += [] if ok else [name]
        lines.append(f"  {name:10} {value:10.2e}  (<= {TOLERANCES[name]:.0e}) {'ok' if ok else 'FAILED'}")
    lines.append(f"  ({time.perf_counter() - start:.0f} s)")

    lines.append(f"speed (PINN convection beta = 30, five seeds, L-BFGS 20 iterations per outer step, "
                 f"{1 if args.quick else args.steps} outer steps):")
    cells = ["pinn_convection_nf1000"] if args.quick else list(CELLS)
    rows = []
    for name in cells:
        for batch_seeds in (False, True):
            row = measure(name, CELLS[name], 1 if args.quick else args.steps, batch_seeds, device)
            rows.append(row)
            lines.append(f"  {name:28} {row['mode']:11} {row['steps']:3d} steps {row['wall_s']:8.2f} s "
                         f"{row['s_per_step']:8.3f} s/step")
        lines.append(f"  {name:28} speed-up of seeds together: {rows[-2]['wall_s'] / rows[-1]['wall_s']:.1f}x")
    summary = "\n".join(lines)
    print(summary)
    Path(args.out).write_text(summary + "\n" + json.dumps({"agreement": found, "speed": rows}) + "\n")
    if failed:
        sys.exit(f"gpu_check: agreement failed for {failed}")


if __name__ == "__main__":
    main()
