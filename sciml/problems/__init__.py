"""Problem registry: the names configs may use."""

from __future__ import annotations

from sciml.problems.advection_diffusion import AdvectionDiffusion
from sciml.problems.base import Problem
from sciml.problems.convection import Convection
from sciml.problems.darcy import Darcy
from sciml.problems.digits import Digits
from sciml.problems.pendulum import Pendulum
from sciml.problems.poisson import Poisson
from sciml.problems.reaction import Reaction
from sciml.problems.reaction_diffusion import ReactionDiffusion
from sciml.problems.wave import Wave

PROBLEMS: dict[str, Problem] = {
    problem.name: problem
    for problem in (Convection(), Reaction(), Wave(), ReactionDiffusion(), Pendulum(), Poisson(), AdvectionDiffusion(),
                    Darcy(), Digits())
}


def get_problem(name: str) -> Problem:
    try:
        return PROBLEMS[name]
    except KeyError:
        raise KeyError(f"unknown problem {name!r}; known problems: {sorted(PROBLEMS)}") from None
