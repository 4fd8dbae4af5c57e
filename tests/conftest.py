"""Shared fixtures: tiny data products and a copy of the workflow to run real snakemake in."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def tiny_config() -> dict:
    """The smoke study cut to one seed and a few steps: a workflow test spends seconds per job."""
    config = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    config["seeds"] = [0]
    config["strategies"]["lbfgs"]["steps"] = 3
    config["strategies"]["adam"]["steps"] = 10
    config["studies"][0]["axes"] = {"beta": [5, 30], "n_f": [100]}
    config["studies"][0]["strategies"] = ["lbfgs", "adam"]
    return config


def training_process(out) -> int:
    """The pid of the running ``sciml train`` job that writes ``out``."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as file:
                    arguments = file.read().split(b"\0")
            except OSError:
                continue
            if b"sciml" in arguments and b"train" in arguments and str(out).encode() in arguments:
                return int(entry.name)
    raise AssertionError(f"no training process writes {out}")


class Workflow:
    """A private copy of the workflow and package, so tests can edit code and configs freely."""

    def __init__(self, root: Path):
        self.root = root
        self.repo = root / "repo"
        self.workdir = root / "work"
        for part in ("Snakefile", "workflow", "sciml", "config", "profiles", "envs"):
            source = REPO / part
            if source.is_dir():
                shutil.copytree(source, self.repo / part, symlinks=True,
                                ignore=shutil.ignore_patterns("__pycache__"))
            else:
                self.repo.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, self.repo / part)
        self.workdir.mkdir()
        self.configfile = self.root / "study.yaml"

    def write_config(self, config: dict) -> None:
        self.configfile.write_text(yaml.safe_dump(copy.deepcopy(config), sort_keys=False))

    def env(self) -> dict:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(self.repo)  # the copy's package, for the Snakefile and for every job
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "snakemake", "-s", str(self.repo / "Snakefile"),
                "--configfile", str(self.configfile), "--cores", "2", *args]

    def snakemake(self, *args: str, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
        result = subprocess.run(self.command(*args), cwd=self.workdir, env=self.env(), capture_output=True, text=True,
                                timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"snakemake failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def start_snakemake(self, *args: str, **streams) -> subprocess.Popen:
        """Snakemake running in the background, in a session of its own: a test can signal it and its jobs
        together (as a terminal's Ctrl-C does) or kill Snakemake alone."""
        return subprocess.Popen(self.command(*args), cwd=self.workdir, env=self.env(), start_new_session=True,
                                **streams)

    def files(self, pattern: str) -> dict[str, int]:
        """Relative path -> modification time (ns) of the results matching ``pattern``."""
        return {str(p.relative_to(self.workdir)): p.stat().st_mtime_ns for p in self.workdir.glob(pattern)}


@pytest.fixture(scope="module")
def one_thread():
    """Tiny operators: a second intra-op thread only fights over the cores (the workflow's jobs use one)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def workflow(tmp_path) -> Workflow:
    return Workflow(tmp_path)
