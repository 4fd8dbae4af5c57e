"""L-BFGS with strong-Wolfe line search (the regime maps' baseline; paper: 1000 outer steps of 20).

``line_search: none`` takes fixed steps of ``lr`` instead."""

from __future__ import annotations

import torch

from sciml.strategies.base import OptimizerPhase, Phase, Strategy, at_least, total_loss
from sciml.strategies.phases import lbfgs_arguments
from sciml.training.objective import Objective


class LBFGS(Strategy):
    method = "lbfgs"
    compile_support = True
    defaults = {
        "lr": 1.0,
        "max_iter": 20,
        "history_size": 100,
        "line_search": "strong_wolfe",
        "tolerance_grad": 1e-7,
        "tolerance_change": 1e-9,
    }
    rules = {"lr": at_least(0, strictly=True)}

    def phases(self, objective: Objective) -> list[Phase]:
        s = self.settings
        optimizer = torch.optim.LBFGS(objective.parameters(), **lbfgs_arguments(s, lr_key="lr"))
        return [OptimizerPhase(optimizer, total_loss(objective, s["compile"]))]
