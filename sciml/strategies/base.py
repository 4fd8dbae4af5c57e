"""The strategy interface: minimise an objective, reporting each step to a monitor."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from sciml.monitor import Monitor, Plan
from sciml.objective import Objective
from sciml.settings import merge_settings

#: settings every strategy understands: how long it runs and what the monitor keeps
COMMON_DEFAULTS: Mapping[str, Any] = {
    "steps": 1000,  # outer steps (L-BFGS .step calls, Adam updates)
    "log_every": 1,  # evaluate loss terms and test error every this many steps
    "snapshots": 5,  # parameter snapshots kept, evenly spaced from init to the last step
    "stop_when_stalled": 5,  # end once the parameters stop changing for this many steps (0: never)
    "batch_seeds": True,  # train a cell's seeds together where the method and objective allow (sciml/batched)
}


class Strategy(ABC):
    method: str
    defaults: Mapping[str, Any] = {}

    def __init__(self, settings: Mapping[str, Any]):
        settings = {key: value for key, value in settings.items() if key != "method"}
        self.settings = merge_settings(f"strategy method {self.method!r}", {**COMMON_DEFAULTS, **self.defaults}, settings)

    def plan(self) -> Plan:
        s = self.settings
        return Plan(
            steps=int(s["steps"]),
            log_every=int(s["log_every"]),
            snapshots=int(s["snapshots"]),
            stop_when_stalled=int(s["stop_when_stalled"]),
        )

    @abstractmethod
    def run(self, objective: Objective, monitor: Monitor) -> None:
        """Train ``objective`` in place, calling ``monitor.after_step`` after every step."""


def closure_for(objective: Objective, optimizer):
    """The loss-and-gradient closure torch optimizers expect."""

    def closure():
        optimizer.zero_grad(set_to_none=True)
        total, _ = objective.loss()
        total.backward()
        return total

    return closure
