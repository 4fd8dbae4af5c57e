"""Read a study's configuration files and merge them, as one rule for the Snakefile and ``sciml check``.

Reading needs only yaml: every Snakemake start reads the configuration, and a start that finds its plan stored
(:mod:`sciml.workflow.plan_cache`) goes no further, so this module imports neither torch nor the validation.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from sciml.errors import ConfigError


def load_config_file(path: str | Path) -> dict:
    try:
        config = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot read the configuration: {error}") from error
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: a configuration must be a mapping of keys, got {type(config).__name__}")
    return config


def merge_configs(base: dict, update: Mapping[str, Any]) -> dict:
    """Merge ``update`` into ``base`` as Snakemake merges config files: mappings key by key, all else replaced.

    One exception: an update that brings its own ``studies`` replaces ``diagnostics`` whole (by its own, or by
    none). Diagnostics select cells of the studies, so the default study's selections must not outlive them.
    """
    if "studies" in update:
        base["diagnostics"] = {}
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge_configs(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def merge_config_files(paths: Sequence[str | Path]) -> dict:
    """The configuration of several files, later ones merged over earlier ones (:func:`merge_configs`)."""
    config: dict = {}
    for path in paths:
        merge_configs(config, load_config_file(path))
    return config


def study_config_files(default: str | Path, configfiles: Sequence[str | Path], replace_default: bool = False
                       ) -> list[Path]:
    """The files a run reads, in merge order: the default first, then every ``--configfile`` in command-line order.

    The default is recognised by identity (its resolved path), never by its position in a list: Snakemake
    versions differ in where they put the workflow's own ``configfile:`` among the command-line files. Naming
    the default on the command line as well changes nothing; ``replace_default`` (Snakemake's
    ``--replace-workflow-config``) leaves it out.
    """
    default = Path(default).resolve()
    others = [Path(path) for path in configfiles if Path(path).resolve() != default]
    return others if replace_default and others else [default, *others]


def load_study_config(default: str | Path, configfiles: Sequence[str | Path] = (),
                      overrides: Mapping[str, Any] | None = None, replace_default: bool = False) -> tuple[dict, str]:
    """The merged configuration of a run and the name of its source for messages: ``default + file + ...``.

    One rule for the Snakefile and ``sciml check``, so both accept and reject the same runs. ``overrides``
    (Snakemake's ``--config KEY=VALUE``) are merged last.
    """
    paths = study_config_files(default, configfiles, replace_default)
    for path in paths:
        if not path.is_file():
            raise ConfigError(f"{path}: no such configuration file")
    config = merge_config_files(paths)
    source = " + ".join(_relative(path) for path in paths)
    if overrides:
        merge_configs(config, overrides)
        source += " + --config"
    return config, source


def _relative(path: Path) -> str:
    """``path`` as the user wrote it where it lies below the working directory (config/smoke.yaml)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
