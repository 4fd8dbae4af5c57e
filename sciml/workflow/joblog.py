"""The last line of every ``sciml VERB`` job log (``results/logs/...``): what the job did, and how long it took.

A job that fails ends its log with ``sciml VERB: error: ...`` (:func:`sciml.cli.main`); one that succeeds
with :func:`summary`, e.g. ``sciml train: wrote results/cells/...nc (2 seeds ok, 0 diverged) in 12.3 s``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

#: the files a verb given ``--out-stem`` writes (``analyse``: NetCDF and CSV; ``figure``: PNG and PDF)
STEM_SUFFIXES = (".nc", ".csv", ".png", ".pdf")


def written(args: argparse.Namespace) -> list[str]:
    """The files the finished job wrote, from its ``--out`` / ``--out-stem`` arguments."""
    if getattr(args, "out", None):
        return [str(args.out)] if Path(args.out).exists() else []
    stem = getattr(args, "out_stem", None)
    if stem:
        return [f"{stem}{suffix}" for suffix in STEM_SUFFIXES if Path(f"{stem}{suffix}").exists()]
    return []


def seed_outcome(path: str) -> str:
    """How many seeds of a written cell file finished and how many diverged."""
    import numpy as np
    import xarray as xr

    from sciml.training.records import STATUS_DIVERGED, STATUS_OK

    with xr.open_dataset(path, engine="netcdf4") as ds:  # only the small status variable is read
        status = np.asarray(ds["status"].values).ravel()
    ok, diverged = int(np.sum(status == STATUS_OK)), int(np.sum(status == STATUS_DIVERGED))
    return f"{ok} seed{'s' if ok != 1 else ''} ok, {diverged} diverged"


def summary(args: argparse.Namespace, seconds: float) -> str:
    """The final log line of a job that succeeded."""
    files = written(args)
    what = f"wrote {' and '.join(files)}" if files else "done"
    if args.verb in ("train", "retrain") and files and files[0].endswith(".nc"):
        what += f" ({seed_outcome(files[0])})"
    return f"sciml {args.verb}: {what} in {seconds:.1f} s"
