"""Provenance: what produced a file (its configuration, code, package versions, commit and device)."""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import json
import platform
import subprocess
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

PACKAGE_ROOT = Path(__file__).resolve().parent
#: modules every training job runs through, whatever the problem, model or strategy (checkpoint.py among them:
#: a checkpoint's identity holds this hash, so a checkpoint saved by other checkpoint code is never read)
TRAINING_CORE = ("objective.py", "params.py", "monitor.py", "train.py", "checkpoint.py", "batched/runners.py")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def config_hash(spec: Mapping[str, Any]) -> str:
    """Hash of a job's resolved configuration."""
    return hashlib.sha256(canonical_json(spec).encode()).hexdigest()[:16]


def _module_files(classes: Iterable[type]) -> set[Path]:
    files = set()
    for cls in classes:
        for base in inspect.getmro(cls):
            if base.__module__.split(".")[0] == "sciml":
                files.add(Path(inspect.getfile(base)).resolve())
    return files


def code_hash(classes: Iterable[type], extra: Iterable[str] = ()) -> str:
    """Hash of the syntax trees of the modules defining ``classes`` (and their bases) plus ``extra`` files.

    Comments, docstrings and formatting do not change the hash; any change to code does. Snakemake's own ``code``
    trigger cannot see imported modules, so this hash goes into each job's params instead.
    """
    files = _module_files(classes) | {PACKAGE_ROOT / name for name in extra}
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.relative_to(PACKAGE_ROOT).as_posix().encode())
        digest.update(_syntax_tree(path.read_text(), str(path)))
    return digest.hexdigest()[:16]


@functools.cache
def _syntax_tree(source: str, filename: str) -> bytes:
    """A module's syntax tree without its docstrings, dumped. A plan hashes the same few modules for every
    study and strategy: each text is parsed once, which takes a quarter off a dry run of the default study."""
    tree = ast.parse(source, filename=filename)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and _docstring(node):
            node.body = node.body[1:]
    return ast.dump(tree).encode()


def _docstring(node: ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether the body starts with a docstring (a bare string constant), which documents but computes nothing."""
    first = node.body[0] if node.body else None
    return (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str))


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
        attrs["device"] = device_description(device)
        # CPU reductions depend on the thread count: reproducing a number needs the same count
        attrs["torch_threads"] = str(torch.get_num_threads())
    return attrs
