"""The workflow's jobs: each with the one output it writes, the spec it runs with and the files it reads.

:func:`sciml.workflow.plan.build_plan` fills a :class:`Plan`; the Snakefile's rules look their jobs up in it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from sciml.figures import FIGURE_MODULES
from sciml.provenance import canonical_json
from sciml.workflow.codehash import code_hash

#: the Plan fields holding jobs, upstream first
JOB_KINDS = ("data", "batches", "cells", "regimes", "comparisons", "analyses", "diagnostics", "diagnostic_sets", "figures")


@dataclass(frozen=True)
class Job:
    output: str
    spec: dict[str, Any]
    inputs: tuple[str, ...] = ()

    @property
    def spec_json(self) -> str:
        return canonical_json(self.spec)


@dataclass
class Plan:
    results: str
    #: seconds between training checkpoints (0: none); not in any spec, as it does not change a result
    checkpoint_every: float = 0
    data: dict[str, Job] = field(default_factory=dict)
    #: cells trained together (``cells_together``, sciml/workflow/batch_plan.py): one file per batch of cells
    batches: dict[str, Job] = field(default_factory=dict)
    cells: dict[str, Job] = field(default_factory=dict)
    #: the data products each cell is trained on (a cell's job reads its batch file instead, when it has one)
    cell_data: dict[str, tuple[str, ...]] = field(default_factory=dict)
    regimes: dict[str, Job] = field(default_factory=dict)
    comparisons: dict[str, Job] = field(default_factory=dict)
    figures: dict[str, Job] = field(default_factory=dict)
    #: analyses of the regime datasets (sciml/results/robustness.py, sciml/results/guidance.py); keyed by their NetCDF output
    analyses: dict[str, Job] = field(default_factory=dict)
    #: diagnostic jobs on trained cells (sciml/diagnostic_jobs): per cell, and combined per (model, problem, strategy)
    diagnostics: dict[str, Job] = field(default_factory=dict)
    diagnostic_sets: dict[str, Job] = field(default_factory=dict)
    #: report captions of figures (by stem) and analysis outputs (sciml/workflow/captions.py), made with the plan
    captions: dict[str, str] = field(default_factory=dict)

    def jobs(self) -> Iterator[tuple[str, Job]]:
        """Every job with its kind."""
        for kind in JOB_KINDS:
            for job in getattr(self, kind).values():
                yield kind, job

    def missing_intermediates(self, exists: Callable[[str], bool] = os.path.exists) -> dict[str, str]:
        """Results this plan produces that are missing while a result made from them is present: missing file ->
        one such present result.

        Snakemake calls a job up to date when its output exists, even if one of its inputs is missing but could
        be produced: a deleted cell file (say, a corrupt one) would never come back, and the figures made from it
        would stay. The Snakefile forces these files, which rebuilds them and everything made from them.

        Batch files are left out: a cell's job reads its batch file as ``ancient``, only to make a missing or
        changed cell.
        """
        produced = {job.output for kind, job in self.jobs() if kind != "batches"}
        missing: dict[str, str] = {}
        for kind, job in self.jobs():
            present = exists(f"{job.output}.png" if kind == "figures" else job.output)
            for path in job.inputs if present else ():
                if path in produced and path not in missing and not exists(path):
                    missing[path] = job.output
        return missing

    def lookup(self, kind: str, output: str) -> Job:
        jobs: dict[str, Job] = getattr(self, kind)
        try:
            return jobs[output]
        except KeyError:
            raise KeyError(f"{output} is not a {kind} output of this configuration") from None


def figure_job(stem: str, kind: str, inputs: tuple[str, ...]) -> Job:
    """The job drawing figure ``kind`` at ``stem`` from ``inputs``; its code is the module drawing it."""
    return Job(stem, {"kind": kind, "code": code_hash([FIGURE_MODULES[kind]])}, inputs)


def members_pattern(plan: Plan) -> str:
    """A regular expression matching exactly the cells of ``plan`` trained together, by the part of their path
    between ``RESULTS/cells/`` and ``.nc``: the wildcard of the rule that copies them out of their batch files
    (workflow/rules/train.smk), which must not take any other cell. It matches nothing when no cell trains
    together."""
    prefix = f"{PurePosixPath(plan.results, 'cells')}/"
    members = sorted(path[len(prefix):-len(".nc")] for path, job in plan.cells.items() if job.spec.get("together"))
    return "|".join(re.escape(member) for member in members) or "(?!)"
