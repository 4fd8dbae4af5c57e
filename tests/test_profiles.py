"""`sciml profile install`: `snakemake --profile slurm` finds the workflow's profile; clear refusals otherwise."""

from __future__ import annotations

import pytest

from sciml.cli import main
from sciml.errors import ConfigError
from sciml.workflow import profiles

from conftest import REPO


@pytest.fixture
def config_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    return tmp_path


def test_install_links_the_profile_where_snakemake_looks(config_home, capsys):
    assert main(["profile", "install", "slurm"]) == 0
    link = config_home / "snakemake" / "slurm"
    assert link.is_symlink() and link.resolve() == (REPO / "profiles" / "slurm").resolve()
    assert (link / "config.yaml").read_text().startswith("# Run the workflow through SLURM")
    assert main(["profile", "install", "slurm"]) == 0  # again: nothing to change
    assert "`snakemake --profile slurm` now finds it" in capsys.readouterr().out


def test_an_existing_profile_is_replaced_only_when_asked(config_home, capsys):
    mine = config_home / "snakemake" / "slurm"
    mine.mkdir(parents=True)
    (mine / "config.yaml").write_text("executor: slurm\n")
    assert main(["profile", "install", "slurm"]) == 2
    assert "exists already; pass --force" in capsys.readouterr().err
    assert main(["profile", "install", "slurm", "--force"]) == 2  # a folder of the user's own is never deleted
    assert "is a folder of its own" in capsys.readouterr().err and (mine / "config.yaml").exists()
    (mine / "config.yaml").unlink()
    mine.rmdir()
    mine.symlink_to(config_home)
    assert main(["profile", "install", "slurm", "--force"]) == 0 and mine.resolve() == (REPO / "profiles/slurm").resolve()


def test_a_missing_executor_plugin_or_profile_is_named(config_home, monkeypatch):
    monkeypatch.setitem(profiles.EXECUTOR_PLUGINS, "slurm", ("no_such_plugin_module", "pip install -e '.[slurm]'"))
    with pytest.raises(ConfigError, match=r"needs Snakemake's slurm executor plugin: run `pip install -e '.\[slurm\]'`"):
        profiles.install_profile("slurm")
    assert not (config_home / "snakemake").exists()
    with pytest.raises(ConfigError, match=r"no profile there \(profiles of this workflow: \['default', 'slurm'\]\)"):
        profiles.install_profile("pbs")
