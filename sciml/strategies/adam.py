"""Adam on the full-batch objective."""

from __future__ import annotations

import torch

from sciml.monitor import Monitor
from sciml.objective import Objective
from sciml.strategies.base import Strategy, closure_for


class Adam(Strategy):
    method = "adam"
    defaults = {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0}

    def run(self, objective: Objective, monitor: Monitor) -> None:
        s = self.settings
        optimizer = torch.optim.Adam(
            objective.parameters(), lr=s["lr"], betas=tuple(s["betas"]), eps=s["eps"], weight_decay=s["weight_decay"]
        )
        closure = closure_for(objective, optimizer)
        for step in range(1, s["steps"] + 1):
            loss = optimizer.step(closure)
            if monitor.after_step(step, loss.item()):
                return
