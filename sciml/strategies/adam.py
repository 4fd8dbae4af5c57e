"""Adam on the full-batch objective: constant learning rate, a cosine schedule, or an exponential decay.

``schedule: cosine`` anneals the learning rate from ``lr`` to 0 over the ``steps`` updates,
lr_k = lr·(1 + cos(π k / steps))/2 (the paper's FNO training). ``lr_decay`` below 1 multiplies the learning
rate by it after every update (the paper's neural ODEs). The default keeps ``lr`` throughout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from sciml.strategies.base import OptimizerPhase, Phase, Strategy, at_least, total_loss
from sciml.training.objective import Objective

SCHEDULES = ("constant", "cosine")


class Adam(Strategy):
    method = "adam"
    compile_support = True
    defaults = {
        "lr": 1e-3,
        "schedule": "constant",
        # lr multiplied by this after every step (1: constant). The paper's NODE decays by 0.995 per epoch of
        # 13 mini-batches; full batch, that schedule is 0.995 ** (1 / 13) per step.
        "lr_decay": 1.0,
        "betas": [0.9, 0.999],
        "eps": 1e-8,
        "weight_decay": 0.0,
    }
    rules = {"lr": at_least(0)}

    def __init__(self, settings: Mapping[str, Any]):
        super().__init__(settings)
        s = self.settings
        if s["schedule"] not in SCHEDULES:
            raise ValueError(f"strategy method 'adam': schedule must be one of {list(SCHEDULES)}, got {s['schedule']!r}")
        if not 0 < s["lr_decay"] <= 1:
            raise ValueError(f"strategy method 'adam': lr_decay must be in (0, 1], got {s['lr_decay']!r}")
        if s["schedule"] == "cosine" and s["lr_decay"] != 1:
            raise ValueError("strategy method 'adam': choose either schedule 'cosine' or an lr_decay below 1, not both")

    def phases(self, objective: Objective) -> list[Phase]:
        s = self.settings
        optimizer = torch.optim.Adam(
            objective.parameters(), lr=s["lr"], betas=tuple(s["betas"]), eps=s["eps"], weight_decay=s["weight_decay"]
        )
        scheduler = None
        if s["schedule"] == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=int(s["steps"]))
        elif s["lr_decay"] != 1:
            scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=s["lr_decay"])
        return [OptimizerPhase(optimizer, total_loss(objective, s["compile"]), scheduler)]
