"""Provenance: what produced a file (its configuration, package versions, commit and device).

The code a job ran is identified by the code hash in its spec (:mod:`sciml.workflow.codehash`)."""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


#: the package's folder, whose git state is recorded
PACKAGE_ROOT = Path(__file__).resolve().parent


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def config_hash(spec: Mapping[str, Any]) -> str:
    """Hash of a job's resolved configuration."""
    return hashlib.sha256(canonical_json(spec).encode()).hexdigest()[:16]


@functools.cache
def package_versions() -> str:
    versions = {"python": platform.python_version()}
    for dist in ("sciml-regimes", "torch", "numpy", "scipy", "xarray", "netCDF4", "snakemake"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return canonical_json(versions)


@functools.cache
def git_commit() -> str:
    """Commit of the checkout the package runs from, with '+dirty' for uncommitted changes."""
    try:
        run = functools.partial(
            subprocess.run, cwd=PACKAGE_ROOT, capture_output=True, text=True, check=True, timeout=10
        )
        commit = run(["git", "rev-parse", "HEAD"]).stdout.strip()
        dirty = run(["git", "status", "--porcelain", "--", str(PACKAGE_ROOT)]).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def device_description(device: torch.device) -> str:
    import torch  # only jobs that train or diagnose load torch: the others record no device

    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{platform.machine()}:{torch.get_num_threads()}threads"


def provenance_attrs(spec: Mapping[str, Any], device: torch.device | None = None) -> dict[str, str]:
    attrs = {
        "config_hash": config_hash(spec),
        "config": canonical_json(spec),
        "package_versions": package_versions(),
        "git_commit": git_commit(),
    }
    if device is not None:
        import torch

        attrs["device"] = device_description(device)
        # CPU reductions depend on the thread count: reproducing a number needs the same count
        attrs["torch_threads"] = str(torch.get_num_threads())
    return attrs
