"""A study's validated configuration and plan, stored between Snakemake starts.

Every Snakemake process parses the Snakefile: the run a user starts, each dry run, and under SLURM every job
again in a process of its own. Validating a study builds its models, strategies and problems, which imports
torch; with planning, that is most of a start's CPU time (docs/BENCHMARKS.md, "Snakemake start-up"). Both
depend only on the merged configuration, the package's own files and the installed versions of what validation
calls, so the first start stores them under a hash of these and later starts with the same hash load them.
A stored plan is therefore the plan validation and planning would return now, or it is not used.

The files are pickles in Snakemake's own state folder of the working directory (``.snakemake/``), read only by
the user's own Snakemake processes; deleting them at any time costs one planning.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from sciml.atomic import atomic_path
from sciml.provenance import canonical_json
from sciml.workflow.jobs import Plan

#: where a Snakemake run keeps its plans, relative to its working directory
PLANS = Path(".snakemake") / "sciml-plans"
#: the package whose files (code, packaged schema) decide what validation accepts and what the plan holds
PACKAGE = Path(__file__).resolve().parents[1]
#: distributions validation calls into: a new version may accept or refuse another configuration
VALIDATING = ("torch", "numpy", "jsonschema", "pyyaml")
#: stored plans kept; older ones (by last use) are deleted when one is stored
KEEP = 16


def package_fingerprint(package: Path = PACKAGE) -> str:
    """A hash of every source and data file of ``package``, by path and content."""
    digest = hashlib.sha256()
    files = sorted(path for path in package.rglob("*")
                   if path.suffix in {".py", ".yaml", ".json"} and "__pycache__" not in path.parts)
    for path in files:
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def plan_key(config: Mapping[str, Any], package: Path = PACKAGE) -> str:
    """The hash a stored plan of ``config`` (merged, not yet validated) is kept under."""
    parts = {
        "config": config,
        "package": package_fingerprint(package),
        "python": sys.version,
        "versions": {name: _version(name) for name in VALIDATING},
    }
    return hashlib.sha256(canonical_json(parts).encode()).hexdigest()


def load_plan(config: Mapping[str, Any], source: str, directory: Path = PLANS) -> tuple[dict[str, Any], Plan]:
    """The validated configuration and plan of the merged ``config`` (read from ``source``, named in errors):
    stored ones from ``directory`` when an earlier start stored them under the same key, else validated,
    planned and stored there. A configuration that fails validation stores nothing and raises ConfigError."""
    try:
        key = plan_key(config)
    except (TypeError, ValueError):  # a value JSON cannot hold (a YAML date, say): validation names it
        key = None
    path = directory / f"{key}.pickle"
    if key is not None and (stored := _read(path)) is not None:
        return stored
    # imported only here: validation imports torch, and the point of a stored plan is not to
    from sciml.workflow.config import validate
    from sciml.workflow.plan import build_plan

    study = validate(config, source=source)
    plan = build_plan(study)
    if key is not None:
        _store(path, (study, plan))
    return study, plan


def _read(path: Path) -> tuple[dict[str, Any], Plan] | None:
    try:
        with path.open("rb") as file:
            study, plan = pickle.load(file)
        os.utime(path)  # last use, for pruning
    except Exception:  # none stored, or a damaged file (unpickling raises many kinds): plan afresh
        return None
    return study, plan


def _store(path: Path, stored: tuple[dict[str, Any], Plan]) -> None:
    try:
        with atomic_path(path) as temporary:
            temporary.write_bytes(pickle.dumps(stored, protocol=pickle.HIGHEST_PROTOCOL))
        _prune(path.parent)
    except OSError:  # a read-only or full working directory: the run goes on, planning at every start
        pass


def _prune(directory: Path) -> None:
    """Delete all but the ``KEEP`` plans used last (another start may delete one first: that is fine)."""
    stored = []
    for path in directory.glob("*.pickle"):
        try:
            stored.append((path.stat().st_mtime, path))
        except FileNotFoundError:
            continue
    for _, path in sorted(stored, reverse=True)[KEEP:]:
        path.unlink(missing_ok=True)
