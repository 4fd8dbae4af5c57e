"""Adam on the full-batch objective."""

from __future__ import annotations

import torch

from sciml.objective import Objective
from sciml.strategies.base import OptimizerPhase, Phase, Strategy, total_loss


class Adam(Strategy):
    method = "adam"
    defaults = {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0}

    def phases(self, objective: Objective) -> list[Phase]:
        s = self.settings
        optimizer = torch.optim.Adam(
            objective.parameters(), lr=s["lr"], betas=tuple(s["betas"]), eps=s["eps"], weight_decay=s["weight_decay"]
        )
        return [OptimizerPhase(optimizer, total_loss(objective))]
