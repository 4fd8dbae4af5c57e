"""``sciml profile install NAME``: make ``snakemake --profile NAME`` find one of the workflow's profiles.

Snakemake looks a profile name up as a folder of the working directory, then under
``$XDG_CONFIG_HOME/snakemake/`` (default ``~/.config/snakemake/``) and ``/etc/xdg/snakemake/``. The workflow's
profiles live in ``profiles/`` of the checkout, so the install is a symbolic link from the user's
configuration folder to that profile: an edit or a ``git pull`` of the profile needs no second install.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from sciml.errors import ConfigError

#: profile name -> (the Python module its executor needs, what to install to get it)
EXECUTOR_PLUGINS = {"slurm": ("snakemake_executor_plugin_slurm", "pip install -e '.[slurm]'")}


def profiles_root() -> Path:
    """``profiles/`` of the checkout this package runs from (the README installs it editable)."""
    return Path(__file__).resolve().parents[2] / "profiles"


def config_home() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def install_profile(name: str, source: Path | None = None, force: bool = False) -> Path:
    """Link ``profiles/NAME`` to ``$XDG_CONFIG_HOME/snakemake/NAME``; return the link.

    Refuses, naming what to do, when the profile's executor plugin is missing (Snakemake would otherwise
    answer ``--profile NAME`` with a usage message of a hundred lines) or another profile of that name exists.
    """
    source = (source or profiles_root() / name).resolve()
    if not (source / "config.yaml").is_file():
        known = sorted(p.name for p in profiles_root().iterdir() if (p / "config.yaml").is_file())
        raise ConfigError(f"{source}: no profile there (profiles of this workflow: {known})")
    module, install = EXECUTOR_PLUGINS.get(name, (None, None))
    if module and importlib.util.find_spec(module) is None:
        raise ConfigError(f"the {name} profile needs Snakemake's {name} executor plugin: run `{install}` "
                          "from the repository root, then this command again")
    target = config_home() / "snakemake" / name
    if target.is_symlink() and target.resolve() == source:
        return target
    if target.exists() or target.is_symlink():
        if not force:
            raise ConfigError(f"{target} exists already; pass --force to replace it with a link to {source}")
        if target.is_dir() and not target.is_symlink():
            raise ConfigError(f"{target} is a folder of its own; move it away first (it may hold a profile you wrote)")
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(source, target_is_directory=True)
    return target

