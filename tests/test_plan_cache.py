"""Stored plans (sciml/workflow/plan_cache.py): a Snakemake start that finds the plan of its configuration and code
stored loads it, imports no torch, and gets exactly the plan planning gives; anything that could change the plan
plans afresh."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
from dataclasses import replace

import pytest

from sciml.errors import ConfigError
from sciml.workflow import plan_cache
from sciml.workflow.config import validate
from sciml.workflow.config_files import load_study_config
from sciml.workflow.plan import build_plan
from sciml.workflow.plan_cache import PACKAGE, load_plan, plan_key

from conftest import REPO, tiny_config

DEFAULT = REPO / "config" / "config.yaml"
SMOKE = REPO / "config" / "smoke.yaml"


def smoke_config() -> tuple[dict, str]:
    return load_study_config(DEFAULT, [SMOKE])


def stored(directory) -> list:
    return sorted(directory.glob("*.pickle"))


def test_a_stored_plan_is_the_plan_planning_gives_and_is_read_back(tmp_path):
    config, source = smoke_config()
    study, plan = load_plan(config, source, tmp_path)
    assert study == validate(config, source=source) and plan == build_plan(study)
    assert plan.captions and set(plan.figures) <= set(plan.captions)
    [path] = stored(tmp_path)
    assert path.stem == plan_key(config)

    # the second start reads the file: what it holds is what it returns
    marked = (study, replace(plan, results="read-from-the-store"))
    path.write_bytes(pickle.dumps(marked))
    assert load_plan(config, source, tmp_path)[1].results == "read-from-the-store"


def test_a_changed_configuration_plans_afresh(tmp_path):
    config, source = smoke_config()
    first = load_plan(config, source, tmp_path)[1]
    config["seeds"] = [0, 1, 2]
    study, plan = load_plan(config, source, tmp_path)
    assert len(stored(tmp_path)) == 2
    assert plan != first and {tuple(job.spec["seeds"]) for job in plan.cells.values()} == {(0, 1, 2)}


def test_the_key_follows_every_package_file_and_nothing_else(tmp_path):
    config, _ = smoke_config()
    package = tmp_path / "sciml"
    shutil.copytree(PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    key = plan_key(config, package)
    assert plan_key(config, package) == key

    (package / "problems" / "__pycache__").mkdir(exist_ok=True)
    (package / "problems" / "__pycache__" / "convection.cpython.pyc").write_bytes(b"compiled")
    assert plan_key(config, package) == key, "compiled files are not the package's source"

    schema = package / "workflow" / "schema.yaml"
    schema.write_text(schema.read_text() + "\n# a comment\n")
    assert plan_key(config, package) != key, "the packaged schema decides what validation accepts"
    shutil.copy2(PACKAGE / "workflow" / "schema.yaml", schema)
    assert plan_key(config, package) == key

    convection = package / "problems" / "convection.py"
    convection.write_text(convection.read_text() + "\n# a comment\n")
    assert plan_key(config, package) != key, "a code change can change a job's code hash"


def test_a_damaged_store_is_planned_afresh_and_replaced(tmp_path):
    config, source = smoke_config()
    plan = load_plan(config, source, tmp_path)[1]
    [path] = stored(tmp_path)
    path.write_bytes(b"not a pickle")
    assert load_plan(config, source, tmp_path)[1] == plan
    assert pickle.loads(path.read_bytes())[1] == plan


def test_an_invalid_configuration_is_refused_and_stores_nothing(tmp_path):
    config, source = smoke_config()
    config["strategies"]["lbfgs"]["steps"] = "many"
    with pytest.raises(ConfigError, match=r"smoke\.yaml.*strategies\.lbfgs"):
        load_plan(config, source, tmp_path)
    assert stored(tmp_path) == []


def test_only_the_plans_used_last_are_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(plan_cache, "KEEP", 3)
    for age in range(5):  # plans stored by earlier starts, the first the oldest
        path = tmp_path / f"old{age}.pickle"
        path.write_bytes(b"")
        os.utime(path, (1000 + age, 1000 + age))
    config, source = smoke_config()
    load_plan(config, source, tmp_path)
    assert [path.stem for path in stored(tmp_path)] == sorted([plan_key(config), "old3", "old4"])


def test_a_second_snakemake_start_imports_no_torch_until_the_code_changes(workflow):
    """Real Snakemake dry runs of one study, with Python reporting every import of the process."""
    workflow.write_config(tiny_config())

    def imports_torch() -> bool:
        command = workflow.command("-n", "figures")
        command[1:1] = ["-X", "importtime"]
        result = subprocess.run(command, cwd=workflow.workdir, env=workflow.env(), capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, result.stderr
        assert "train" in result.stdout  # a dry run of the whole study
        return any(line.rsplit("|", 1)[-1].strip() == "torch" for line in result.stderr.splitlines())

    assert imports_torch(), "the first start validates and plans"
    assert not imports_torch(), "the second loads the stored plan"
    convection = workflow.repo / "sciml" / "problems" / "convection.py"
    convection.write_text(convection.read_text() + "\n# a comment\n")
    assert imports_torch(), "changed code is planned afresh"
    assert len(list((workflow.workdir / ".snakemake" / "sciml-plans").glob("*.pickle"))) == 2
