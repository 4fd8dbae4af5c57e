"""Adam, then L-BFGS (docs/PAPER.md §4): two phases on one step counter (sciml.strategies.phases)."""

from __future__ import annotations

from sciml.strategies.base import Phase
from sciml.strategies.phases import ADAM_DEFAULTS, LBFGS_DEFAULTS, PhasedStrategy, adam_phase, lbfgs_phase
from sciml.training.objective import Objective


class AdamLBFGS(PhasedStrategy):
    method = "adam_lbfgs"
    compile_support = True
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
