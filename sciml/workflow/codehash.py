"""Code hashes: which package modules decide a job's output, found by following the job's imports.

Snakemake's ``code`` rerun trigger sees only a rule's own code, not the modules it calls, so every job's spec
holds a hash of the modules it runs: change one of them and exactly the jobs that run it are planned again.
No list of files is kept by hand. A job names its *entry* modules (what its verb calls, plus the problem, model
and strategy classes it was configured with) and the hash covers every ``sciml`` module reachable from them by
``import`` statements, function-level ones included (``if TYPE_CHECKING:`` imports run nothing and are skipped),
and the packages those modules live in (importing a module runs its package's ``__init__``).

Registries (the packages mapping config names to problems, models, strategies, figures and diagnostic kinds)
are not followed: each imports every implementation, so following them would put every problem into every
job's hash. A job reaches the implementations it uses through its entry modules instead. A registry therefore
holds nothing but the name lookup (tests/test_codehash.py keeps it so).

Comments, docstrings and formatting do not change a hash; any change to code does. Only the package's own
modules are hashed: an implementation registered from outside it (a test's toy problem) is not followed, so
edits to it do not rerun jobs; add problems, models and strategies inside the package (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import ast
import functools
import hashlib
from collections.abc import Iterable
from pathlib import Path

PACKAGE = "sciml"
PACKAGE_ROOT = Path(__file__).resolve().parents[1]
#: packages whose __init__ maps names to implementations (see the module docstring)
REGISTRIES = frozenset({"sciml.problems", "sciml.models", "sciml.strategies", "sciml.figures",
                        "sciml.diagnostic_jobs"})


@functools.cache
def package_modules(root: Path = PACKAGE_ROOT) -> dict[str, Path]:
    """Every module of the package under ``root``: dotted name -> file (a package's is its __init__.py)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = (PACKAGE, *path.relative_to(root).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def module_of(entry: str | type) -> str:
    """The module an entry names: a dotted module name as given, or the module defining a class."""
    return entry if isinstance(entry, str) else entry.__module__


def imports_of(name: str, root: Path = PACKAGE_ROOT) -> frozenset[str]:
    """The package modules ``name`` imports, and the packages they live in."""
    modules = package_modules(root)
    path = modules[name]
    return _imports(path.read_text(), name, path.name == "__init__.py", frozenset(modules))


@functools.cache
def _imports(source: str, name: str, is_package: bool, known: frozenset[str]) -> frozenset[str]:
    tree = ast.parse(source)
    _drop_type_checking_blocks(tree)
    here = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package ``level - 1`` above this module's own
                anchor = here.split(".")[: len(here.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # a name may be a submodule
    with_packages = {".".join(module.split(".")[:i]) for module in found for i in range(1, module.count(".") + 2)}
    return frozenset(module for module in with_packages if module in known and module != name)


def _drop_type_checking_blocks(tree: ast.Module) -> None:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            node.body = [child for child in body if not _is_type_checking(child)]


def _is_type_checking(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def reachable(entries: Iterable[str | type], exclude: Iterable[str] = (), root: Path = PACKAGE_ROOT) -> list[str]:
    """Every package module a job with these entries runs: the entries, their packages and all they import,
    without following registries or the ``exclude``d modules."""
    skip = REGISTRIES | set(exclude)
    # an implementation defined outside the package (a test's toy problem) has no file here to follow
    start = {module_of(entry) for entry in entries} & set(package_modules(root))
    start |= {".".join(module.split(".")[:i]) for module in start for i in range(1, module.count("."))}
    seen: set[str] = set()
    todo = [module for module in start if module not in skip]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo.extend(m for m in imports_of(module, root) if m not in skip and m not in seen)
    return sorted(seen)


def code_hash(entries: Iterable[str | type], exclude: Iterable[str] = (), root: Path = PACKAGE_ROOT) -> str:
    """Hash of the syntax trees of every module :func:`reachable` from ``entries``."""
    modules = package_modules(root)
    digest = hashlib.sha256()
    for name in reachable(entries, exclude, root):
        path = modules[name]
        digest.update(name.encode())
        digest.update(_syntax_tree(path.read_text(), str(path)))
    return digest.hexdigest()[:16]


@functools.cache
def _syntax_tree(source: str, filename: str) -> bytes:
    """A module's syntax tree without its docstrings, dumped. A plan hashes the same modules for many jobs:
    each text is parsed once."""
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
