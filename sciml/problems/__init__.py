"""Problem registry: the names configs may use."""

from __future__ import annotations

from sciml.problems.base import Problem
from sciml.problems.convection import Convection

PROBLEMS: dict[str, Problem] = {problem.name: problem for problem in (Convection(),)}


def get_problem(name: str) -> Problem:
    try:
        return PROBLEMS[name]
    except KeyError:
        raise KeyError(f"unknown problem {name!r}; known problems: {sorted(PROBLEMS)}") from None
