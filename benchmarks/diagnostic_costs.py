"""Cost of each configured diagnostic per cell: seconds of one diagnostic job's computation (without the
Python start-up of its process), on cells trained here with a capped number of steps.

    python benchmarks/diagnostic_costs.py [--configfile config/config.yaml] [--train-steps 20]

For every diagnostic of the configuration and every selection, the selected cell with the largest data-axis
value (the most expensive loss) is trained with the study's model, strategy and seeds but at most
``--train-steps`` outer steps (curvature costs depend on the model and data size, hardly on how far training
went), then the diagnostic runs on it with its configured settings. Printed: seconds per cell, cells selected
and their product, an upper bound of the diagnostic's total compute in the study. One torch thread.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from sciml.diagnostic_jobs.run import run_diagnostic
from sciml.problems import get_problem
from sciml.training.train import train_cell
from sciml.workflow.config import validate
from sciml.workflow.config_files import load_config_file
from sciml.workflow.plan import build_plan

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configfile", default=str(REPO / "config" / "config.yaml"))
    parser.add_argument("--train-steps", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    device = torch.device("cpu")
    config = validate(load_config_file(args.configfile), source=args.configfile)
    plan = build_plan(config)
    trained = {}
    print(f"{platform.node()} {platform.machine()} torch {torch.__version__}, 1 thread, {time.strftime('%Y-%m-%d')}")
    print(f"{'diagnostic':16} {'cell':58} {'s/cell':>8} {'cells':>6} {'total s':>8}")
    grand = 0.0
    for name in config["diagnostics"]:
        jobs = [job for job in plan.diagnostics.values() if job.spec["diagnostic"] == name]
        groups = {}
        for job in jobs:
            groups.setdefault((job.spec["model"], job.spec["problem"], job.spec["strategy"]), []).append(job)
        for group in groups.values():
            problem = get_problem(group[0].spec["problem"])
            job = max(group, key=lambda j: j.spec["axes"][problem.data_axis])
            cells = []
            for path in job.inputs:
                if path not in plan.cells:
                    continue
                if path not in trained:
                    spec = dict(plan.cells[path].spec)
                    settings = dict(spec["strategy_settings"])
                    for key in ("steps", "adam_steps", "lbfgs_steps", "pretrain_steps", "outer_steps", "final_steps"):
                        if key in settings:
                            settings[key] = min(settings[key], args.train_steps)
                    spec["strategy_settings"] = settings
                    data = {product: problem.generate(product, problem.settings(spec["problem_settings"]),
                                                      spec["axes"][axis])
                            for product, axis in problem.data_products().items()}
                    trained[path] = (train_cell(spec, data, device), data)
                cells.append((path, trained[path][0]))
            data = trained[cells[0][0]][1]
            start = time.perf_counter()
            run_diagnostic(job.spec, cells, data, device)
            seconds = time.perf_counter() - start
            total = seconds * len(group)
            grand += total
            print(f"{name:16} {job.output.split('/', 2)[2][:58]:58} {seconds:8.1f} {len(group):6d} {total:8.0f}")
    print(f"upper bound of all diagnostic compute: {grand:.0f} s = {grand / 60:.1f} core-min")


if __name__ == "__main__":
    main()
