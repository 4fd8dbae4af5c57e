"""Adam on the full-batch objective, with an optional exponential learning-rate decay."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from sciml.objective import Objective
from sciml.strategies.base import OptimizerPhase, Phase, Strategy, total_loss


class Adam(Strategy):
    method = "adam"
    defaults = {
        "lr": 1e-3,
        "betas": [0.9, 0.999],
        "eps": 1e-8,
        "weight_decay": 0.0,
        # lr multiplied by this after every step (1: constant). The paper's NODE decays by 0.995 per epoch of
        # 13 mini-batches; full batch, that schedule is 0.995 ** (1 / 13) per step.
        "lr_decay": 1.0,
    }

    def __init__(self, settings: Mapping[str, Any]):
        super().__init__(settings)
        if not 0 < self.settings["lr_decay"] <= 1:
            raise ValueError(f"strategy method 'adam': lr_decay must be in (0, 1], got {self.settings['lr_decay']!r}")

    def phases(self, objective: Objective) -> list[Phase]:
        s = self.settings
        optimizer = torch.optim.Adam(
            objective.parameters(), lr=s["lr"], betas=tuple(s["betas"]), eps=s["eps"], weight_decay=s["weight_decay"]
        )
        decay = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=s["lr_decay"]) if s["lr_decay"] != 1 else None
        return [OptimizerPhase(optimizer, total_loss(objective), decay)]
