"""What a study's jobs cost: the per-job files of Snakemake's ``benchmark:`` directive, summed per group.

The training and diagnostic rules write one TSV per job under ``<results>/benchmarks/`` (wall seconds ``s``,
``cpu_time`` and peak ``max_rss`` in MB, sampled by Snakemake while the job runs, so jobs of a few seconds
read low). Summing them per (model, problem, strategy) or per diagnostic gives the measured cost of a study
on the machine that ran it: the numbers docs/BENCHMARKS.md quotes for the default study.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sciml.store import ResultFileError


@dataclass
class Cost:
    group: str
    jobs: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0

    def add(self, other: Cost) -> None:
        self.jobs += other.jobs
        self.wall_s += other.wall_s
        self.cpu_s += other.cpu_s
        self.peak_rss_mb = max(self.peak_rss_mb, other.peak_rss_mb)

    def row(self) -> str:
        return f"| {self.group} | {self.jobs} | {self.wall_s:,.0f} | {self.cpu_s:,.0f} | {self.peak_rss_mb:,.0f} |"


def read_benchmark(path: Path) -> Cost:
    """One job's cost: the last row of its Snakemake benchmark file (a job run again rewrites the file)."""
    try:
        with path.open(newline="") as handle:
            row = list(csv.DictReader(handle, delimiter="\t"))[-1]
        return Cost("", jobs=1, wall_s=float(row["s"]), cpu_s=float(row["cpu_time"]), peak_rss_mb=float(row["max_rss"]))
    except (OSError, IndexError, KeyError, ValueError) as error:
        raise ResultFileError(f"{path}: not a Snakemake benchmark file ({error!r})") from error


def group_of(path: Path, root: Path, depth: int) -> str:
    """The job's group: the first ``depth`` folders below ``root`` (e.g. cells/pinn/convection/lbfgs)."""
    parts = path.relative_to(root).parts[:-1]
    return "/".join(parts[:depth])


def study_costs(results: str | Path, depth: int = 4) -> list[Cost]:
    """Costs of every benchmarked job under ``<results>/benchmarks``, grouped by their first ``depth`` folders."""
    root = Path(results) / "benchmarks"
    if not root.is_dir():
        raise ResultFileError(f"{root}: no benchmark files (run the workflow first)")
    costs: dict[str, Cost] = {}
    for path in sorted(root.rglob("*.tsv")):
        group = group_of(path, root, depth)
        costs.setdefault(group, Cost(group)).add(read_benchmark(path))
    return list(costs.values())


def cost_table(costs: Iterable[Cost]) -> str:
    """A Markdown table of the costs with a total row."""
    costs = list(costs)
    total = Cost("**total**")
    for cost in costs:
        total.add(cost)
    lines = ["| group | jobs | wall s | CPU s | peak RSS MB |", "|---|---:|---:|---:|---:|"]
    return "\n".join([*lines, *(cost.row() for cost in costs), total.row()])
