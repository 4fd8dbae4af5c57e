"""Adam, then L-BFGS (docs/PAPER.md §4), and the phase machinery the composite strategies share.

A composite strategy runs its phases on one global step counter: the monitor sees steps 1 .. N with
N = the sum of the phase lengths, which is what ``plan()`` reports (``steps`` is derived, not set). The loop,
its stall rule per phase and resumption from a checkpoint are :meth:`sciml.strategies.base.Strategy.run`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from sciml.objective import Objective
from sciml.strategies.base import LINE_SEARCHES, OptimizerPhase, Phase, Strategy, total_loss

#: torch.optim.LBFGS settings shared by every strategy with an L-BFGS phase (max_iter differs per strategy)
LBFGS_DEFAULTS: Mapping[str, Any] = {
    "lbfgs_lr": 1.0,
    "history_size": 100,
    "line_search": "strong_wolfe",  # or "none" (fixed step lbfgs_lr)
    "tolerance_grad": 1e-7,
    "tolerance_change": 1e-9,
}

ADAM_DEFAULTS: Mapping[str, Any] = {"adam_lr": 1e-3, "adam_betas": [0.9, 0.999], "adam_eps": 1e-8}


def lbfgs_optimizer(parameters: list[torch.Tensor], settings: Mapping[str, Any]) -> torch.optim.LBFGS:
    return torch.optim.LBFGS(
        parameters,
        lr=settings["lbfgs_lr"],
        max_iter=settings["max_iter"],
        history_size=settings["history_size"],
        line_search_fn=LINE_SEARCHES[settings["line_search"]],
        tolerance_grad=settings["tolerance_grad"],
        tolerance_change=settings["tolerance_change"],
    )


def adam_phase(objective: Objective, settings: Mapping[str, Any]) -> OptimizerPhase:
    optimizer = torch.optim.Adam(
        objective.parameters(), lr=settings["adam_lr"], betas=tuple(settings["adam_betas"]), eps=settings["adam_eps"]
    )
    return OptimizerPhase(optimizer, total_loss(objective))


def lbfgs_phase(objective: Objective, settings: Mapping[str, Any]) -> OptimizerPhase:
    return OptimizerPhase(lbfgs_optimizer(objective.parameters(), settings), total_loss(objective))


class PhasedStrategy(Strategy):
    """Consecutive phases on one global step counter; ``steps`` is the sum of the phase lengths."""

    #: the settings holding each phase's length (in steps), in the order the phases run
    phase_steps: tuple[str, ...]

    def __init__(self, settings: Mapping[str, Any]):
        super().__init__(settings)
        s = self.settings
        for key in self.phase_steps:
            if s[key] != int(s[key]) or s[key] < 0:
                raise ValueError(f"strategy method {self.method!r}: {key!r} must be a whole number >= 0, "
                                 f"got {s[key]!r}")
        total = sum(int(s[key]) for key in self.phase_steps)
        if "steps" in settings and settings["steps"] != total:
            raise ValueError(
                f"strategy method {self.method!r}: 'steps' is the sum of {list(self.phase_steps)} = {total}, "
                f"got steps = {settings['steps']!r}; set the phase lengths instead"
            )
        s["steps"] = total

    def phase_lengths(self) -> list[int]:
        return [int(self.settings[key]) for key in self.phase_steps]


class AdamLBFGS(PhasedStrategy):
    method = "adam_lbfgs"
    phase_steps = ("adam_steps", "lbfgs_steps")
    defaults = {
        "adam_steps": 1000,
        "lbfgs_steps": 1000,
        **ADAM_DEFAULTS,
        "max_iter": 50,
        **LBFGS_DEFAULTS,
    }

    def phases(self, objective: Objective) -> list[Phase]:
        return [adam_phase(objective, self.settings), lbfgs_phase(objective, self.settings)]
