"""The phase machinery the composite strategies share: consecutive phases on one global step counter, and the
Adam and L-BFGS phases they are built of.

The monitor sees steps 1 .. N with N = the sum of the phase lengths, which is what ``schedule()`` reports
(``steps`` is derived, not set). The loop, its stall rule per phase and resumption from a checkpoint are
:meth:`sciml.strategies.base.Strategy.run`'s (sciml.training.stepping).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from sciml.strategies.base import LINE_SEARCHES, OptimizerPhase, Strategy, total_loss
from sciml.training.objective import Objective

#: torch.optim.LBFGS settings shared by every strategy with an L-BFGS phase (max_iter differs per strategy)
LBFGS_DEFAULTS: Mapping[str, Any] = {
    "lbfgs_lr": 1.0,
    "history_size": 100,
    "line_search": "strong_wolfe",  # or "none" (fixed step lbfgs_lr)
    "tolerance_grad": 1e-7,
    "tolerance_change": 1e-9,
}

ADAM_DEFAULTS: Mapping[str, Any] = {"adam_lr": 1e-3, "adam_betas": [0.9, 0.999], "adam_eps": 1e-8}


def lbfgs_arguments(settings: Mapping[str, Any], lr_key: str = "lbfgs_lr") -> dict[str, Any]:
    """A strategy's L-BFGS settings as the keyword arguments of torch.optim.LBFGS, which the batched L-BFGS
    (sciml.training.batched.lbfgs) takes too. ``lr_key``: ``lr`` for the plain L-BFGS strategy."""
    return {"lr": settings[lr_key], "max_iter": settings["max_iter"], "history_size": settings["history_size"],
            "line_search_fn": LINE_SEARCHES[settings["line_search"]], "tolerance_grad": settings["tolerance_grad"],
            "tolerance_change": settings["tolerance_change"]}


def lbfgs_optimizer(parameters: list[torch.Tensor], settings: Mapping[str, Any]) -> torch.optim.LBFGS:
    return torch.optim.LBFGS(parameters, **lbfgs_arguments(settings))


def adam_phase(objective: Objective, settings: Mapping[str, Any]) -> OptimizerPhase:
    optimizer = torch.optim.Adam(
        objective.parameters(), lr=settings["adam_lr"], betas=tuple(settings["adam_betas"]), eps=settings["adam_eps"]
    )
    return OptimizerPhase(optimizer, total_loss(objective, settings["compile"]))


def lbfgs_phase(objective: Objective, settings: Mapping[str, Any]) -> OptimizerPhase:
    return OptimizerPhase(lbfgs_optimizer(objective.parameters(), settings), total_loss(objective, settings["compile"]))


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
