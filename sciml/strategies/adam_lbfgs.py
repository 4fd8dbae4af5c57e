"""Adam, then L-BFGS (REFERENCE.md §4), and the phase machinery the composite strategies share.

A composite strategy runs its phases on one global step counter: the monitor sees steps 1 .. N with
N = the sum of the phase lengths, which is what ``plan()`` reports (``steps`` is derived, not set).

Stalling. The monitor's rule (end after ``stop_when_stalled`` steps that leave the parameters bit-for-bit
unchanged) is made for an optimizer that stays put once it stops moving. It is applied per phase:

* In the last phase (the last one of nonzero length) a stall ends the run, as for a single-phase strategy.
* In an earlier phase a stall ends only that phase. Its remaining steps would not move the parameters
  either (Adam stalls only when its updates round to nothing, as with a zero gradient or learning rate,
  and they stay so; a converged L-BFGS returns at once), so the monitor's filling of the later records
  with the stalled state is what those steps would have recorded. The next phase starts at the global
  step after the stalled phase's planned end and overwrites the records it reaches, so a step number means
  the same phase in every seed. The monitor's stall count carries over: a next phase that does not move on
  its first step ends the run (it starts where the previous optimizer already stopped, with no better step).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

import torch

from sciml.monitor import Monitor
from sciml.objective import Objective
from sciml.strategies.base import Strategy

#: one step of a phase: move the parameters, return the loss the optimizer saw (for the divergence check)
StepFunction = Callable[[], float]

#: torch.optim.LBFGS settings shared by every strategy with an L-BFGS phase (max_iter differs per strategy)
LBFGS_DEFAULTS: Mapping[str, Any] = {
    "lbfgs_lr": 1.0,
    "history_size": 100,
    "line_search": "strong_wolfe",  # or "none" (fixed step lbfgs_lr)
    "tolerance_grad": 1e-7,
    "tolerance_change": 1e-9,
}
LINE_SEARCHES = {"strong_wolfe": "strong_wolfe", "none": None}

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


def optimizer_step(optimizer: torch.optim.Optimizer, loss: Callable[[], torch.Tensor]) -> StepFunction:
    """One ``optimizer.step`` on ``loss`` (a function of the current parameters) per call."""

    def closure():
        optimizer.zero_grad(set_to_none=True)
        value = loss()
        value.backward()
        return value

    return lambda: optimizer.step(closure).item()


def total_loss(objective: Objective) -> Callable[[], torch.Tensor]:
    return lambda: objective.loss()[0]


def adam_phase(objective: Objective, settings: Mapping[str, Any]) -> StepFunction:
    optimizer = torch.optim.Adam(
        objective.parameters(), lr=settings["adam_lr"], betas=tuple(settings["adam_betas"]), eps=settings["adam_eps"]
    )
    return optimizer_step(optimizer, total_loss(objective))


def lbfgs_phase(objective: Objective, settings: Mapping[str, Any]) -> StepFunction:
    return optimizer_step(lbfgs_optimizer(objective.parameters(), settings), total_loss(objective))


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
        if "line_search" in s and s["line_search"] not in LINE_SEARCHES:
            raise ValueError(f"strategy method {self.method!r}: line_search must be one of {sorted(LINE_SEARCHES)}, "
                             f"got {s['line_search']!r}")

    @abstractmethod
    def phases(self, objective: Objective) -> list[StepFunction]:
        """One step function per entry of ``phase_steps``, built before the first step."""

    def run(self, objective: Objective, monitor: Monitor) -> None:
        lengths = [int(self.settings[key]) for key in self.phase_steps]
        last = max((i for i, n in enumerate(lengths) if n), default=-1)
        start = 0
        for index, (length, take_step) in enumerate(zip(lengths, self.phases(objective))):
            for step in range(start + 1, start + length + 1):
                if monitor.after_step(step, take_step()):
                    if index == last:
                        return
                    break  # a stalled earlier phase ends; the next one goes on (module docstring)
            start += length


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

    def phases(self, objective: Objective) -> list[StepFunction]:
        return [adam_phase(objective, self.settings), lbfgs_phase(objective, self.settings)]
