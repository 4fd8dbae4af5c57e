"""Train a few cells of a configured study in this process: per-cell cost and the regime each lands in.

    python benchmarks/operator_cells.py --model fno --problem poisson --strategy adam \\
        --cell eig_ratio=1,n_train=8 --cell eig_ratio=100,n_train=128

Specs come from the plan of the configuration (default config/config.yaml), exactly as snakemake would run
them; data products are generated in memory. Prints, per cell: CPU seconds of training (summed over seeds,
one torch thread), the per-seed wall times the cell file records, the seed-mean loss and test error, and the
regime label under the study's thresholds.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from sciml import naming
from sciml.problems import get_problem
from sciml.results.regimes import REGIME_NAMES, label
from sciml.training.train import train_cell
from sciml.workflow.config import thresholds_for, validate
from sciml.workflow.config_files import load_config_file
from sciml.workflow.plan import build_plan

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configfile", default=str(REPO / "config" / "config.yaml"))
    parser.add_argument("--model", required=True)
    parser.add_argument("--problem", required=True)
    parser.add_argument("--strategy", required=True)
    parser.add_argument("--cell", action="append", required=True, help="axis=value,axis=value")
    args = parser.parse_args()
    torch.set_num_threads(1)

    config = validate(load_config_file(args.configfile), source=args.configfile)
    plan = build_plan(config)
    study = next(s for s in config["studies"] if (s["model"], s["problem"]) == (args.model, args.problem))
    tau = thresholds_for(study, args.strategy)
    problem = get_problem(args.problem)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
          f"torch threads 1; thresholds {tau}")
    for text in args.cell:
        axes = {name: naming.canonical_number(float(value)) for name, value in (part.split("=") for part in text.split(","))}
        ordered = {axis: axes[axis] for axis in study["axes"]}
        job = plan.lookup("cells", naming.cell_path(config["results"], args.model, args.problem, args.strategy, ordered))
        settings = problem.settings(job.spec["problem_settings"])
        data = {product: problem.generate(product, settings, ordered[axis])
                for product, axis in problem.data_products().items()}
        start = time.process_time()
        ds = train_cell(job.spec, data, torch.device("cpu"))
        cpu = time.process_time() - start
        loss, error = float(ds["train_loss"].mean()), float(ds["test_error"].mean())
        regime = REGIME_NAMES[int(label(np.array(loss), np.array(error), tau["train_loss"], tau["test_error"]))]
        walls = " ".join(f"{w:.0f}" for w in ds["wall_time"].values.ravel())
        print(f"{naming.cell_id(ordered)}: cpu {cpu:.0f} s ({len(job.spec['seeds'])} seeds; wall per seed {walls} s), "
              f"loss {loss:.3g}, test error {error:.3g} -> regime {regime}", flush=True)


if __name__ == "__main__":
    main()
