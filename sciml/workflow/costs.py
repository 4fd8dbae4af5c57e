"""What a study's jobs cost: the per-job files of Snakemake's ``benchmark:`` directive, summed per group.

The training and diagnostic rules write one TSV per job under ``<results>/benchmarks/`` (wall seconds ``s``,
``cpu_time`` and peak ``max_rss`` in MB, sampled by Snakemake while the job runs, so jobs of a few seconds
read low). Summing them per (model, problem, strategy) or per diagnostic gives the measured cost of a study
on the machine that ran it: the numbers docs/BENCHMARKS.md quotes for the default study.

:func:`packed_hours` turns the same files into the time the study would take on more cores: each job runs on one
core (training and diagnostic jobs are single-threaded by default), so packing the measured jobs, longest first,
onto N cores estimates the wall time of ``snakemake --cores N``. It ignores the order the DAG imposes (data before
cells, cells before figures); those jobs are short next to training, so the estimate errs by about the longest
dependent chain of short jobs.
"""

from __future__ import annotations

import csv
import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sciml.results.store import ResultFileError


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


def read_benchmark(path: Path, group: str = "") -> Cost:
    """One job's cost: the last row of its Snakemake benchmark file (a job run again rewrites the file)."""
    try:
        with path.open(newline="") as handle:
            row = list(csv.DictReader(handle, delimiter="\t"))[-1]
        return Cost(group, jobs=1, wall_s=float(row["s"]), cpu_s=float(row["cpu_time"]), peak_rss_mb=float(row["max_rss"]))
    except (OSError, IndexError, KeyError, ValueError) as error:
        raise ResultFileError(f"{path}: not a Snakemake benchmark file ({error!r})") from error


def group_of(path: Path, root: Path, depth: int) -> str:
    """The job's group: the first ``depth`` folders below ``root`` (e.g. cells/pinn/convection/lbfgs)."""
    parts = path.relative_to(root).parts[:-1]
    return "/".join(parts[:depth])


def job_costs(results: str | Path, depth: int = 4) -> list[Cost]:
    """Every benchmarked job under ``<results>/benchmarks``, its group its first ``depth`` folders."""
    root = Path(results) / "benchmarks"
    if not root.is_dir():
        raise ResultFileError(f"{root}: no benchmark files (run the workflow first)")
    return [read_benchmark(path, group_of(path, root, depth)) for path in sorted(root.rglob("*.tsv"))]


def grouped(jobs: Iterable[Cost]) -> list[Cost]:
    """The jobs' costs summed per group, groups in the order they first appear."""
    costs: dict[str, Cost] = {}
    for job in jobs:
        costs.setdefault(job.group, Cost(job.group)).add(job)
    return list(costs.values())


def makespan(durations: Sequence[float], cores: int) -> float:
    """Finish time of ``durations`` packed onto ``cores`` one-job-at-a-time cores, longest job first, each onto
    the core free soonest (LPT scheduling: at most 4/3 of the best packing)."""
    if cores < 1:
        raise ValueError(f"cores must be at least 1, got {cores}")
    free_at = [0.0] * cores
    for duration in sorted(durations, reverse=True):
        heapq.heappush(free_at, heapq.heappop(free_at) + duration)
    return max(free_at)


def packed_hours(jobs: Sequence[Cost], cores: int) -> str:
    """One sentence: the jobs (:func:`job_costs`) packed onto ``cores`` cores, by their wall and by their CPU
    seconds."""
    wall = makespan([job.wall_s for job in jobs], cores) / 3600
    cpu = makespan([job.cpu_s for job in jobs], cores) / 3600
    longest = max(jobs, key=lambda job: job.wall_s)
    return (f"On {cores} cores, the {len(jobs)} benchmarked jobs packed longest first take {wall:.2f} h by their "
            f"wall times and {cpu:.2f} h by their CPU times (the longest job: {longest.wall_s:,.0f} s, "
            f"{longest.group}).")


def cost_table(costs: Iterable[Cost]) -> str:
    """A Markdown table of the costs with a total row."""
    costs = list(costs)
    total = Cost("**total**")
    for cost in costs:
        total.add(cost)
    lines = ["| group | jobs | wall s | CPU s | peak RSS MB |", "|---|---:|---:|---:|---:|"]
    return "\n".join([*lines, *(cost.row() for cost in costs), total.row()])
