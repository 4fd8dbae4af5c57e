"""Cost of one seed at any cell of a configured study: wall time and peak memory per strategy.

Unlike benchmarks/cell_wall_time.py (whole workflow jobs of cells on the grid), the cell may lie off the grid
(e.g. N_f = 25,000) and strategy settings may be overridden, so single costs can be probed cheaply. Each
strategy runs in a fresh process (one torch thread, as the workflow's training jobs), so the peak resident
memory is that strategy's alone. Prints one JSON line per strategy.

    python benchmarks/cell_cost.py --problem convection --cell beta=20 n_f=1000
    python benchmarks/cell_cost.py --problem convection --cell beta=30 n_f=25000 --strategies lbfgs --set steps=3
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

import yaml


def assignments(items: list[str]) -> dict:
    """``key=value`` words as a mapping, each value read as YAML (numbers stay numbers)."""
    return {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in items)}


def load_study(args: argparse.Namespace) -> tuple[dict, dict]:
    from sciml.workflow.config import validate
    from sciml.workflow.config_files import load_config_file

    config = validate(load_config_file(args.config), source=args.config)
    for study in config["studies"]:
        if study["problem"] == args.problem:
            return config, study
    raise SystemExit(f"{args.config}: no study of problem {args.problem!r}")


def measure(args: argparse.Namespace, strategy: str) -> dict:
    import torch

    from sciml.problems import get_problem
    from sciml.training.train import train_seed
    from sciml.workflow.config import strategy_settings_for

    torch.set_num_threads(1)
    config, study = load_study(args)
    axes = assignments(args.cell)
    settings = {**strategy_settings_for(config, study, strategy, axes), **assignments(args.set)}
    problem = get_problem(args.problem)
    problem_settings = problem.settings(config["problems"].get(problem.name, {}))
    data = {product: problem.generate(product, problem_settings, axes[axis])
            for product, axis in problem.data_products().items()}
    spec = {"model": study["model"], "model_settings": config["models"][study["model"]], "problem": problem.name,
            "problem_settings": config["problems"].get(problem.name, {}), "strategy": strategy,
            "strategy_settings": settings, "axes": axes, "seeds": [args.seed]}
    start, cpu_start = time.perf_counter(), time.process_time()
    result = train_seed(spec, data, args.seed, torch.device("cpu"))
    return {
        "problem": args.problem, "cell": axes, "strategy": strategy, "seed": args.seed,
        "wall_s": round(time.perf_counter() - start, 2), "cpu_s": round(time.process_time() - cpu_start, 2),
        "steps_run": int(result.stop_step),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "train_loss": result.train_loss, "test_error": result.test_error,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "torch_threads": 1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--problem", required=True)
    parser.add_argument("--cell", nargs="+", required=True, help="axis=value for both axes of the problem")
    parser.add_argument("--strategies", nargs="*", help="default: every strategy of the study")
    parser.add_argument("--set", nargs="*", default=[], help="strategy setting overrides, key=value")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the child process: measure this strategy only
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args, args.one)), flush=True)
        return
    _, study = load_study(args)
    for strategy in args.strategies or study["strategies"]:
        subprocess.run([sys.executable, *sys.argv, "--one", strategy], check=True)


if __name__ == "__main__":
    main()
