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

#: Snakemake's benchmark columns that are summed (seconds) or maximised (MB)
SUMMED = ("s", "cpu_time")
PEAK = "max_rss"


@dataclass
class Cost:
    group: str
    jobs: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0

    def add(self, row: dict[str, float]) -> None:
        self.jobs += 1
        self.wall_s += row["s"]
        self.cpu_s += row["cpu_time"]
        self.peak_rss_mb = max(self.peak_rss_mb, row[PEAK])


def read_benchmark(path: Path) -> dict[str, float]:
    """The last row of one Snakemake benchmark file (a job run again appends nothing: the file is rewritten)."""
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        row = rows[-1]
        return {key: float(row[key]) for key in (*SUMMED, PEAK)}
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
    lines = ["| group | jobs | wall s | CPU s | peak RSS MB |", "|---|---:|---:|---:|---:|"]
    for cost in costs:
        lines.append(f"| {cost.group} | {cost.jobs} | {cost.wall_s:,.0f} | {cost.cpu_s:,.0f} | {cost.peak_rss_mb:,.0f} |")
    total = Cost("total")
    for cost in costs:
        total.jobs += cost.jobs
        total.wall_s += cost.wall_s
        total.cpu_s += cost.cpu_s
        total.peak_rss_mb = max(total.peak_rss_mb, cost.peak_rss_mb)
    lines.append(f"| **total** | {total.jobs} | {total.wall_s:,.0f} | {total.cpu_s:,.0f} | {total.peak_rss_mb:,.0f} |")
    return "\n".join(lines)
