"""The README's commands, verbatim, from the root of a fresh copy of the repository, as a new user runs them.

Every ``snakemake`` and ``sciml`` command in the README's bash blocks runs: the smoke study's for real, those of
the default and paper studies as dry runs (``--dry-run`` appended; they take an hour and days). ``pip install``
steps are what ``.ci/run`` does in a new virtualenv before this suite, and ``python -m pytest`` is this suite.
The smoke study's results are then checked end to end.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr

from conftest import REPO

pytestmark = pytest.mark.workflow

SMOKE_RUN = "snakemake --cores 2 figures --configfile config/smoke.yaml"
#: the test command of the README (after its two installs), which .ci/run runs too
TEST_RUN = "python -m pytest -ra -n 2 --dist loadfile"


def readme_commands() -> list[str]:
    """Each command of the README's bash blocks, in order, without its comment; ``a && b`` gives two."""
    blocks = re.findall(r"^```bash\n(.*?)^```", (REPO / "README.md").read_text(), re.M | re.S)
    commands = []
    for line in "\n".join(blocks).splitlines():
        line = re.sub(r"\s+#\s.*$", "", line).strip()
        commands += [part.strip() for part in line.split(" && ") if part.strip()]
    return commands


def runnable(command: str) -> bool:
    return command.split()[0] in ("snakemake", "sciml")


def as_run(command: str) -> str:
    """The smoke study's commands as written; the others' snakemake runs as dry runs."""
    if command.startswith("snakemake") and "config/smoke.yaml" not in command:
        return command + " --dry-run"
    return command


def test_the_readme_commands_are_what_this_suite_runs():
    commands = readme_commands()
    assert SMOKE_RUN in commands
    assert "snakemake --cores 8 figures" in commands and "snakemake --profile slurm figures" in commands
    # the two set-up commands install the tested versions, torch's CPU build first
    installs = [c for c in commands if c.startswith("pip install")]
    assert installs[:2] == ["pip install torch==2.13.0 -c envs/constraints.txt", "pip install -e . -c envs/constraints.txt"]
    assert all("-c envs/constraints.txt" in c for c in installs)
    # .ci/run runs the README's test command
    test_command = next(line for line in (REPO / "README.md").read_text().splitlines() if line.endswith(TEST_RUN))
    assert test_command in (REPO / ".ci" / "run").read_text()
    # anything else would run unchecked here
    assert all(runnable(c) or c.startswith("pip install") or c == TEST_RUN for c in commands), commands


class Checkout:
    """A copy of the repository's files (tracked and new, not ignored), run from its root like a fresh clone."""

    def __init__(self, root: Path):
        self.root = root / "sciml-regimes"
        listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                                capture_output=True).stdout.decode().split("\0")
        for name in filter(None, listed):
            source, target = REPO / name, self.root / name
            if source.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(source.read_bytes())
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = str(self.root)  # the copy's package, for the Snakefile and every job
        self.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{self.env['PATH']}"
        self.env["XDG_CONFIG_HOME"] = str(root / "config-home")  # `sciml profile install` links its profile here

    def run(self, command: str, timeout: int = 600) -> str:
        result = subprocess.run(shlex.split(command), cwd=self.root, env=self.env, capture_output=True, text=True,
                                timeout=timeout)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"`{command}` failed ({result.returncode}):\n{output[-5000:]}"
        assert "Traceback" not in output, f"`{command}`:\n{output[-5000:]}"
        return output


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> tuple[Checkout, dict[str, str]]:
    """The copy after the README's commands ran, with each command's output."""
    checkout = Checkout(tmp_path_factory.mktemp("readme"))
    commands = [c for c in readme_commands() if runnable(c)]
    commands.remove(SMOKE_RUN)
    outputs = {SMOKE_RUN: checkout.run(SMOKE_RUN, timeout=1800)}  # first: the others read its results
    for command in commands:
        outputs[command] = checkout.run(as_run(command))
    return checkout, outputs


def test_readme_commands_run_from_the_repository_root(checkout):
    checkout, outputs = checkout
    for command, output in outputs.items():
        if as_run(command).endswith("--dry-run"):
            assert "This was a dry-run" in output, f"`{command}`:\n{output[-3000:]}"
    assert "config/config.yaml + config/smoke.yaml: valid" in outputs["sciml check config/smoke.yaml"]
    assert "2651 training cells" in outputs["sciml check config/paper.yaml"]
    retrain = next(output for command, output in outputs.items() if command.startswith("sciml retrain"))
    assert "identical" in retrain and "DIFFERENT" not in retrain
    assert (checkout.root / "report.html").stat().st_size > 100_000
    link = Path(checkout.env["XDG_CONFIG_HOME"]) / "snakemake" / "slurm"
    assert link.resolve() == (checkout.root / "profiles" / "slurm").resolve()
    # a rerun of the smoke study finds everything done, and the files are readable as the umask allows
    assert "Nothing to be done" in checkout.run(SMOKE_RUN)
    cell = checkout.root / "results/cells/pinn/convection/lbfgs/beta=5__n_f=100.nc"
    assert cell.stat().st_mode & 0o777 == 0o666 & ~_umask()


def test_snakemake_lint_is_clean(tmp_path):
    output = Checkout(tmp_path).run("snakemake --lint")
    assert "Congratulations, your workflow is in a good condition!" in output


def test_snakemake_files_are_formatted(tmp_path):
    """snakefmt, with the line length of pyproject.toml, would change nothing."""
    output = Checkout(tmp_path).run("snakefmt --check Snakefile workflow/rules")
    assert "would be changed" not in output


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_smoke_study_end_to_end(checkout):
    checkout, outputs = checkout
    results = checkout.root / "results"
    assert (results / "figures" / "comparisons" / "pinn_convection_adam_vs_lbfgs.png").stat().st_size > 10_000
    comparison = xr.load_dataset(results / "comparisons" / "pinn" / "convection" / "adam_vs_lbfgs.nc")
    assert comparison["n_pairs"].values.tolist() == [[2, 2], [2, 2]]
    assert (results / "figures" / "across_strategies" / "pinn_convection.png").stat().st_size > 10_000
    for strategy in ("lbfgs", "adam", "adam_lbfgs", "nncg", "alm", "curriculum", "ropinn"):
        assert (results / "figures" / "regimes" / f"pinn_convection_{strategy}.png").stat().st_size > 10_000
        assert (results / "figures" / "regimes" / f"pinn_convection_{strategy}.pdf").exists()
        ds = xr.load_dataset(results / "regimes" / "pinn" / "convection" / f"{strategy}.nc")
        assert ds["regime"].shape == (2, 2) and ds.sizes["seed"] == 2
        assert int(ds["n_seeds"].min()) == 2
        if strategy in ("lbfgs", "adam"):
            assert int(ds["n_seeds_ok"].min()) == 2
        if strategy != "lbfgs":
            assert (results / "comparisons" / "pinn" / "convection" / f"{strategy}_vs_lbfgs.nc").exists()
    lbfgs = xr.load_dataset(results / "regimes" / "pinn" / "convection" / "lbfgs.nc")
    # even 15 L-BFGS steps separate the easy cell from the hard one
    assert lbfgs["regime"].sel(beta=5, n_f=300).item() == 1
    assert lbfgs["regime"].sel(beta=30, n_f=300).item() == 2
    assert len(list((results / "cells").rglob("*.nc"))) == 28
    assert not list(results.rglob("*.tmp"))
    # every training job logged its start
    for log in (results / "logs" / "cells").rglob("*.log"):
        assert "sciml.training.train: training pinn/convection/" in log.read_text(), log
    report = (checkout.root / "report.html").read_text()
    assert "pinn_convection_adam.png" in report and "Regime map of one model" in report
    assert_analysis(results, report, outputs)


def assert_analysis(results: Path, report: str, outputs: dict[str, str]) -> None:
    """The analysis jobs of the smoke study (tests/test_analysis.py tests their numbers), and the commands."""
    import pandas as pd

    robust = xr.load_dataset(results / "analysis" / "robustness" / "pinn" / "convection" / "lbfgs.nc")
    assert robust.attrs["bootstrap_exact"] == 1 and robust.attrs["bootstrap_resamples"] == 4  # 2 seeds: 2**2 draws
    assert ((robust["confidence"] >= 0) & (robust["confidence"] <= 1)).all()
    table = pd.read_csv(results / "analysis" / "guidance.csv")
    # strategies besides the baseline x regimes x metrics, per problem only: one problem has no pooled rows
    assert len(table) == 6 * 3 * 2 and set(table["family"]) == {"problem"}
    for name in ("pinn_convection_nncg.png", "guidance.png", "guidance.csv", "Robustness of one regime map",
                 "Regime-aware guidance across every study"):
        assert name in report
    show = outputs["sciml show results/regimes/pinn/convection/lbfgs.nc"]
    assert "(label confidence)" in show
    advice = outputs["sciml advise --model pinn --problem convection --cell beta=30 n_f=300"]
    assert "cell beta=30 n_f=300: regime II" in advice and "evidence on pinn / convection" in advice
    measured = outputs["sciml advise --model pinn --problem convection --loss 2.0e-3 --error 0.6"]
    assert "regime III (over-trained)" in measured
    # every training job left its Snakemake benchmark file; `sciml costs` sums them per strategy
    assert len(list((results / "benchmarks" / "cells").rglob("*.tsv"))) == 28
    costs = outputs["sciml costs --cores 8"]
    assert "| cells/pinn/convection/lbfgs | 4 |" in costs and "| **total** | 28 |" in costs
