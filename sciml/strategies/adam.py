"""Adam on the full-batch objective, at a constant learning rate or on a cosine schedule.

``schedule: cosine`` anneals the learning rate from ``lr`` to 0 over the ``steps`` updates,
lr_k = lr·(1 + cos(π k / steps))/2 (the paper's FNO training uses a cosine schedule); the default,
``constant``, keeps ``lr`` throughout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from sciml.monitor import Monitor
from sciml.objective import Objective
from sciml.strategies.base import Strategy, closure_for

SCHEDULES = ("constant", "cosine")


class Adam(Strategy):
    method = "adam"
    defaults = {"lr": 1e-3, "schedule": "constant", "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0}

    def __init__(self, settings: Mapping[str, Any]):
        super().__init__(settings)
        if self.settings["schedule"] not in SCHEDULES:
            raise ValueError(f"strategy method 'adam': schedule must be one of {list(SCHEDULES)}, "
                             f"got {self.settings['schedule']!r}")

    def run(self, objective: Objective, monitor: Monitor) -> None:
        s = self.settings
        optimizer = torch.optim.Adam(
            objective.parameters(), lr=s["lr"], betas=tuple(s["betas"]), eps=s["eps"], weight_decay=s["weight_decay"]
        )
        scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=int(s["steps"]))
                     if s["schedule"] == "cosine" else None)
        closure = closure_for(objective, optimizer)
        for step in range(1, s["steps"] + 1):
            loss = optimizer.step(closure)
            if scheduler is not None:
                scheduler.step()
            if monitor.after_step(step, loss.item()):
                return
