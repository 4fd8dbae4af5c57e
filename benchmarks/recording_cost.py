"""What recording a seed's history costs: training with ``log_every=1`` against recording only the first and last
step, side by side.

    python benchmarks/recording_cost.py                   # convection β = 30, N_f = 1,000, 50 L-BFGS steps
    python benchmarks/recording_cost.py --steps 20 --repeats 3 --n-f 10000

Both runs train the same seed of the same cell through :func:`sciml.training.train.train_seed` (the monitor,
the strategy's step loop, the final evaluation), alternating A B A B in one process on one torch thread, and
must end at bit-identical parameters (recording only reads the model). Reported: the median CPU seconds of
each, the recording share (every-step run over the sparse run, minus one), and the monitor's own recording
time, measured directly around :meth:`Monitor._observe` in the every-step run, per record and as a share of
that run's training time.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import torch

from sciml.problems import get_problem
from sciml.training import monitor as monitor_module
from sciml.training.train import train_seed

MODEL = {"architecture": "mlp", "hidden": [50, 50, 50], "activation": "tanh", "dtype": "float32"}


def spec(beta: float, n_f: int, steps: int, log_every: int) -> dict:
    return {"model": "pinn", "model_settings": MODEL, "problem": "convection", "problem_settings": {},
            "strategy": "lbfgs", "strategy_settings": {"method": "lbfgs", "steps": steps, "log_every": log_every},
            "axes": {"beta": beta, "n_f": n_f}, "seeds": [0]}


class ObserveTimer:
    """Adds up the CPU time spent in :meth:`Monitor._observe` (the recorded evaluations and snapshots)."""

    def __init__(self):
        self.seconds, self.calls = 0.0, 0
        self._observe = monitor_module.Monitor._observe
        timer = self

        def timed(monitor, *args, **kwargs):
            start = time.process_time()
            try:
                return timer._observe(monitor, *args, **kwargs)
            finally:
                timer.seconds += time.process_time() - start
                timer.calls += 1

        monitor_module.Monitor._observe = timed

    def reset(self) -> None:
        self.seconds, self.calls = 0.0, 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--beta", type=float, default=30.0)
    parser.add_argument("--n-f", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    problem = get_problem("convection")
    settings = problem.settings()
    data = {"reference": problem.generate("reference", settings, args.beta),
            "collocation": problem.generate("collocation", settings, args.n_f)}
    runs = {"every step": spec(args.beta, args.n_f, args.steps, 1),
            "first and last": spec(args.beta, args.n_f, args.steps, args.steps)}
    timer = ObserveTimer()
    times: dict[str, list[float]] = {name: [] for name in runs}
    observed, per_record, params = [], [], {}
    for _ in range(args.repeats):
        for name, cell in runs.items():
            timer.reset()
            start = time.process_time()
            result = train_seed(cell, data, 0, torch.device("cpu"))
            seconds = time.process_time() - start
            times[name].append(seconds)
            params[name] = result.final_params
            if name == "every step":
                observed.append(timer.seconds / seconds)
                per_record.append(1e3 * timer.seconds / timer.calls)
    every, sparse = statistics.median(times["every step"]), statistics.median(times["first and last"])
    print(f"convection β = {args.beta:g}, N_f = {args.n_f:,}, 2-50-50-50-1 tanh float32, L-BFGS {args.steps} steps, "
          f"one seed; median of {args.repeats}, A B A B, one thread, torch {torch.__version__}, "
          f"{platform.machine()}, load {os.getloadavg()[0]:.1f} at the end")
    print("| log_every = 1 (CPU s) | first and last only (CPU s) | recording share | "
          "monitor's recording, per record (CPU ms) | its share of the run |")
    print("|---|---|---|---|---|")
    print(f"| {every:.2f} | {sparse:.2f} | {every / sparse - 1:.1%} | {statistics.median(per_record):.2f} | "
          f"{statistics.median(observed):.1%} |")
    print("same final parameters:", bool(np.array_equal(params["every step"], params["first and last"])))


if __name__ == "__main__":
    main()
