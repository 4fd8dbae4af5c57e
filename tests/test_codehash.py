"""Code hashes follow a job's imports: every module a job runs is in its hash, and no other job's code is."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sciml.workflow.codehash import REGISTRIES, code_hash, imports_of, package_modules, reachable
from sciml.workflow.config import validate
from sciml.workflow.config_files import load_config_file
from sciml.workflow.plan import AGGREGATION, BATCHED, TRAINING, batched_internals, build_plan

from support import cell_spec

DEFAULT = Path(__file__).resolve().parents[1] / "config" / "config.yaml"


def package(tmp_path: Path, files: dict[str, str]) -> Path:
    """A throwaway package named like the real one (sciml.*) under ``tmp_path``."""
    for name, source in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    package_modules.cache_clear()
    return tmp_path


def test_a_hash_follows_imports_at_any_depth_and_in_functions_but_not_type_checking(tmp_path):
    root = package(tmp_path, {
        "__init__.py": "",
        "job.py": "from sciml import helper\n\ndef run():\n    from sciml.lazy import f\n    return f()\n",
        "helper.py": "import sciml.deep.leaf\n",
        "lazy.py": "def f():\n    return 1\n",
        "deep/__init__.py": "",
        "deep/leaf.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sciml import typing_only\n",
        "typing_only.py": "X = 1\n",
        "unrelated.py": "Y = 2\n",
    })
    assert reachable(["sciml.job"], root=root) == [
        "sciml", "sciml.deep", "sciml.deep.leaf", "sciml.helper", "sciml.job", "sciml.lazy"]
    before = code_hash(["sciml.job"], root=root)
    (root / "unrelated.py").write_text("Y = 3\n")
    (root / "typing_only.py").write_text("X = 2\n")
    assert code_hash(["sciml.job"], root=root) == before
    (root / "deep" / "leaf.py").write_text("Z = 0\n")
    assert code_hash(["sciml.job"], root=root) != before  # three imports away
    before = code_hash(["sciml.job"], root=root)
    (root / "lazy.py").write_text("def f():\n    return 2\n")
    assert code_hash(["sciml.job"], root=root) != before  # imported inside a function


def test_registries_are_not_followed_and_excluded_modules_are_left_out(tmp_path):
    root = package(tmp_path, {
        "__init__.py": "",
        "job.py": "from sciml.problems import get_problem\nfrom sciml import optional\n",
        "optional.py": "A = 1\n",
        "problems/__init__.py": "from sciml.problems.heat import Heat\nfrom sciml.problems.wave import Wave\n",
        "problems/heat.py": "class Heat:\n    pass\n",
        "problems/wave.py": "class Wave:\n    pass\n",
    })
    assert "sciml.problems" in REGISTRIES
    assert reachable(["sciml.job", "sciml.problems.heat"], root=root) == [
        "sciml", "sciml.job", "sciml.optional", "sciml.problems.heat"]
    assert "sciml.optional" not in reachable(["sciml.job"], exclude=["sciml.optional"], root=root)
    before = code_hash(["sciml.job", "sciml.problems.heat"], root=root)
    (root / "problems" / "wave.py").write_text("class Wave:\n    speed = 2\n")  # another problem's code
    (root / "problems" / "__init__.py").write_text("from sciml.problems.heat import Heat\n")  # the registry
    assert code_hash(["sciml.job", "sciml.problems.heat"], root=root) == before
    (root / "problems" / "heat.py").write_text("class Heat:\n    rate = 1\n")
    assert code_hash(["sciml.job", "sciml.problems.heat"], root=root) != before


def test_comments_and_docstrings_do_not_change_a_hash_and_code_does(tmp_path):
    root = package(tmp_path, {"__init__.py": "", "module.py": ""})

    def hashed(source: str) -> str:
        (root / "module.py").write_text(source)
        return code_hash(["sciml.module"], root=root)

    template = ('"""Module {0}."""\n\nclass A:\n    """Class {0}."""\n\n    def f(self, x):\n        """Method {0}."""\n'
                '        return x + {1}\n\n\nasync def g():\n    """Coroutine {0}."""\n    return "{2}"\n')
    first = hashed(template.format("docs", 1, "text"))
    assert hashed(template.format("other docs,\n    over two lines", 1, "text")) == first
    assert hashed(template.format("docs", 1, "text").replace("+ 1", "+ 1  # a comment")) == first
    assert hashed(template.format("docs", 2, "text")) != first  # a statement
    assert hashed(template.format("docs", 1, "other text")) != first  # a string that is not a docstring
    # a string that is a statement after the first one stays code
    assert hashed('def f():\n    x = 1\n    "not a docstring"\n') != hashed("def f():\n    x = 1\n")


def test_the_package_has_no_import_cycles():
    """Runtime imports only (``if TYPE_CHECKING:`` blocks run nothing): every module can be read top-down."""
    graph = {name: imports_of(name) for name in package_modules()}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            pytest.fail("import cycle: " + " -> ".join((*path[path.index(name):], name)))
        if name in done:
            return
        for imported in graph[name]:
            if not (name.startswith(f"{imported}.")):  # a module's own package runs first, not a cycle
                visit(imported, (*path, name))
        done.add(name)

    for name in graph:
        visit(name, ())


#: the layers, lowest first: a module may import its own layer and those below, never one above
LAYERS = (
    ("sciml.errors", "sciml.atomic", "sciml.settings", "sciml.provenance", "sciml.naming"),
    ("sciml.training", "sciml.models", "sciml.problems", "sciml.strategies"),
    ("sciml.diagnostics",),
    ("sciml.results", "sciml.diagnostic_jobs"),
    ("sciml.figures",),
    ("sciml.workflow",),
    ("sciml.cli", "sciml.__main__"),
)


def layer_of(name: str) -> int:
    for index, members in enumerate(LAYERS):
        if any(name == member or name.startswith(f"{member}.") for member in members):
            return index
    raise AssertionError(f"{name} is in no layer: add it to LAYERS (and to docs/ARCHITECTURE.md)")


def test_each_layer_imports_only_itself_and_the_layers_below():
    upward = sorted(f"{name} imports {imported}" for name in package_modules() if name != "sciml"
                    for imported in imports_of(name) if imported != "sciml" and layer_of(imported) > layer_of(name))
    assert upward == []


def test_a_registry_holds_only_the_name_lookup():
    """A registry is left out of every hash (the module docstring of sciml.workflow.codehash): what it holds must
    not compute a result. Its statements are imports, the mapping, and lookups that only index the mapping."""
    lookups = {"getattr", "get", "iter", "len", "sorted", "KeyError", "import_module", "cls"}
    for registry in REGISTRIES:
        tree = ast.parse(package_modules()[registry].read_text())
        # constructing the implementations it names (a problem instance, a Kind record) is part of the lookup
        named = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                 for alias in node.names} | {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
        for node in ast.walk(tree):
            if isinstance(node, (ast.For, ast.While, ast.With)):
                pytest.fail(f"{registry} computes (a {type(node).__name__} at line {node.lineno})")
            if isinstance(node, ast.Call):
                called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                assert called in lookups | named, f"{registry} line {node.lineno} calls {called}()"


def test_every_module_a_training_job_loads_is_in_its_hash(tmp_path):
    """The modules really imported while a cell trains (and its dataset is built) are all in the cell's hash,
    apart from registries and the implementations only a registry imports."""
    script = (
        "import json, sys, torch\n"
        "from sciml.problems import get_problem\n"
        "from sciml.training.train import train_cell\n"
        "spec = json.loads(sys.argv[1])\n"
        "problem = get_problem(spec['problem'])\n"
        "settings = problem.settings({})\n"
        "data = {product: problem.generate(product, settings, spec['axes'][axis])\n"
        "        for product, axis in problem.data_products().items()}\n"
        "train_cell(spec, data, torch.device('cpu'))\n"
        "print(json.dumps(sorted(name for name in sys.modules if name.split('.')[0] == 'sciml')))\n"
    )
    registry_members = {name for registry in REGISTRIES for name in package_modules()
                        if name.startswith(f"{registry}.")} | set(REGISTRIES)
    for settings in ({"method": "lbfgs", "steps": 2, "batch_seeds": True},
                     {"method": "nncg", "adam_steps": 1, "lbfgs_steps": 1, "nncg_steps": 1}):
        spec = cell_spec(5, 64, settings)
        loaded = json.loads(subprocess.run([sys.executable, "-c", script, json.dumps(spec)], check=True, cwd=tmp_path,
                                           capture_output=True, text=True, env={"PATH": ""}
                                           ).stdout.splitlines()[-1])
        from sciml.problems import get_problem
        from sciml.strategies import METHODS

        entries = [TRAINING, type(get_problem("convection")), METHODS[settings["method"]], "sciml.models.mlp"]
        exclude = () if settings.get("batch_seeds") else batched_internals()
        hashed = set(reachable(entries, exclude))
        unhashed = sorted(set(loaded) - hashed - registry_members)
        assert unhashed == [], f"{settings['method']}: loaded but not hashed: {unhashed}"
        assert (BATCHED in hashed) and (("sciml.training.batched.lbfgs" in hashed) == ("batch_seeds" in settings))


def test_a_change_reruns_exactly_the_jobs_that_run_it(monkeypatch):
    """Editing a module changes the code of the jobs that reach it and of no others (the default study's plan)."""
    import sciml.workflow.codehash as codehash

    config = validate(load_config_file(DEFAULT), source="config.yaml")
    before = {job.output: job.spec["code"] for _, job in build_plan(config).jobs()}
    real = codehash._syntax_tree

    def rerun_after_editing(module: str) -> set[tuple[str, str]]:
        path = str(package_modules()[module])
        monkeypatch.setattr(codehash, "_syntax_tree", lambda source, filename: real(
            source + ("\nEDITED = 1\n" if filename == path else ""), filename))
        plan = build_plan(config)
        monkeypatch.setattr(codehash, "_syntax_tree", real)
        return {(kind, job.spec.get("problem", "")) for kind, job in plan.jobs() if job.spec["code"] != before[job.output]}

    # a shared spectral solver: the data and cells of the two FNO problems using it
    assert {kind for kind, _ in rerun_after_editing("sciml.problems.spectral")} == {"data", "cells"}
    assert {problem for _, problem in rerun_after_editing("sciml.problems.spectral")} == {"poisson", "advection_diffusion"}
    # the regime rules: every aggregate made from regime labels, and the figures drawing them; no training
    assert {kind for kind, _ in rerun_after_editing(AGGREGATION)} == {"regimes", "analyses", "diagnostic_sets", "figures"}
    # the monitor: every cell, and the diagnostics whose SGD runs through the strategies (tail_alpha)
    assert {kind for kind, _ in rerun_after_editing("sciml.training.monitor")} == {"cells", "diagnostics"}
    # one figure module: its figures only
    assert {kind for kind, _ in rerun_after_editing("sciml.figures.comparison")} == {"figures"}
