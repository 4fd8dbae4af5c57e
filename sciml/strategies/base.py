"""The strategy interface: minimise an objective in phases, reporting each step to a monitor.

A strategy is a sequence of phases (one for L-BFGS or Adam; Adam then L-BFGS; pretraining then ALM outer
iterations; ...) on one global step counter: the monitor sees steps 1 .. N, N the sum of the phase lengths.
Each phase keeps its own state (an optimizer's, NNCG's preconditioner, ...) and can save and restore it, so
one generic loop runs every strategy and can stop between any two steps and go on from there with the same
numbers (``Monitor.at_boundary`` checkpoints; ``Monitor.resume`` hands the saved state back).

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

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

import torch

from sciml.settings import merge_settings
from sciml.training.monitor import Monitor, Schedule
from sciml.training.objective import Objective
from sciml.training.stepping import run_phases

#: settings every strategy understands: how long it runs and what the monitor keeps
COMMON_DEFAULTS: Mapping[str, Any] = {
    "steps": 1000,  # outer steps (L-BFGS .step calls, Adam updates)
    "log_every": 1,  # evaluate loss terms and test error every this many steps
    "snapshots": 5,  # parameter snapshots kept, evenly spaced from init to the last step
    "stop_when_stalled": 5,  # end once the parameters stop changing for this many steps (0: never)
    # train a cell's seeds together where the method and objective allow (sciml/training/batched): meant for GPUs;
    # on one CPU thread about 1.1x per evaluation at N_f = 1,000 and slower at 10,000 (docs/BENCHMARKS.md)
    "batch_seeds": False,
    # compute loss and gradient with torch.compile (sciml/training/compiled.py): faster per evaluation, but the
    # first one compiles for seconds (docs/BENCHMARKS.md). Strategies with compile_support only; PINN objectives;
    # seeds one by one or together
    "compile": False,
}


#: torch.optim.LBFGS line searches by setting value ("none": fixed steps of the learning rate)
LINE_SEARCHES = {"strong_wolfe": "strong_wolfe", "none": None}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def whole(least: int) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: _number(v) and v == int(v) and v >= least), f"a whole number >= {least}"


def at_least(least: float, strictly: bool = False) -> tuple[Callable[[Any], bool], str]:
    if strictly:
        return (lambda v: _number(v) and v > least), f"a number > {least:g}"
    return (lambda v: _number(v) and v >= least), f"a number >= {least:g}"


_BETAS = ((lambda v: isinstance(v, (list, tuple)) and len(v) == 2 and all(_number(b) and 0 <= b < 1 for b in v)),
          "two numbers in [0, 1)")
#: ranges of the settings strategies share, checked up front for every strategy that has the setting, so a
#: value torch would reject fails config validation naming the key, not a job with a traceback. Adam's
#: learning rates may be 0 (torch's own rule: a frozen phase, which the stall rule then ends); L-BFGS's not.
SETTING_RULES: Mapping[str, tuple[Callable[[Any], bool], str]] = {
    "steps": whole(0), "log_every": whole(1), "snapshots": whole(1), "stop_when_stalled": whole(0),
    "adam_steps": whole(0), "lbfgs_steps": whole(0), "nncg_steps": whole(0), "pretrain_steps": whole(0),
    "outer_steps": whole(0), "stage_steps": whole(0),
    "lbfgs_lr": at_least(0, strictly=True),
    "adam_lr": at_least(0),
    "max_iter": whole(1), "history_size": whole(1),
    "line_search": ((lambda v: v in LINE_SEARCHES), f"one of {sorted(LINE_SEARCHES)}"),
    "tolerance_grad": at_least(0), "tolerance_change": at_least(0),
    "betas": _BETAS, "adam_betas": _BETAS,
    "eps": at_least(0), "adam_eps": at_least(0), "weight_decay": at_least(0),
}


def check_settings(method: str, settings: Mapping[str, Any],
                   rules: Mapping[str, tuple[Callable[[Any], bool], str]]) -> None:
    """Raise ValueError naming each setting out of its range (and what is allowed), for the rules it has."""
    bad = [f"{key!r} must be {says}, got {settings[key]!r}" for key, (ok, says) in rules.items()
           if key in settings and not ok(settings[key])]
    if bad:
        raise ValueError(f"strategy method {method!r}: " + "; ".join(bad))


class Phase(ABC):
    """One stretch of training. A call takes one step and returns the loss the optimizer saw (for the
    monitor's divergence check); the state carried from one step to the next can be saved and restored."""

    @abstractmethod
    def __call__(self) -> float:
        """Take one step."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned; a phase without state between steps has nothing to do."""


class OptimizerPhase(Phase):
    """Steps of one torch optimizer on ``loss``, a function of the current parameters, with an optional
    learning-rate schedule stepped after every optimizer step."""

    def __init__(self, optimizer: torch.optim.Optimizer, loss: Callable[[], torch.Tensor],
                 scheduler: torch.optim.lr_scheduler.LRScheduler | None = None):
        self.optimizer = optimizer
        self.loss = loss
        self.scheduler = scheduler

    def __call__(self) -> float:
        def closure():
            self.optimizer.zero_grad(set_to_none=True)
            value = self.loss()
            value.backward()
            return value

        loss = self.optimizer.step(closure).item()
        if self.scheduler is not None:
            self.scheduler.step()
        return loss

    def state_dict(self) -> dict[str, Any]:
        state = {"optimizer": self.optimizer.state_dict()}
        if self.scheduler is not None:
            state["scheduler"] = self.scheduler.state_dict()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])


class FunctionPhase(Phase):
    """Steps that keep no state of their own (what they need lives in the strategy's state)."""

    def __init__(self, step: Callable[[], float]):
        self.step = step

    def __call__(self) -> float:
        return self.step()


def total_loss(objective: Objective, compiled: bool = False) -> Callable[[], torch.Tensor]:
    """The function an optimizer phase minimises: the objective's total loss, computed by compiled code with
    ``compiled`` (the strategy's ``compile`` setting)."""
    if compiled:
        from sciml.training.compiled import compiled_loss  # torch.compile loads only where a cell compiles

        return compiled_loss(objective)
    return lambda: objective.loss()[0]


class Strategy(ABC):
    method: str
    defaults: Mapping[str, Any] = {}
    #: ranges of this strategy's own settings, or where its meaning of a shared one differs (see SETTING_RULES)
    rules: Mapping[str, tuple[Callable[[Any], bool], str]] = {}
    #: whether the strategy's phases honour ``compile: true`` (all their losses through :func:`total_loss`)
    compile_support = False

    def __init__(self, settings: Mapping[str, Any]):
        settings = {key: value for key, value in settings.items() if key != "method"}
        self.settings = merge_settings(f"strategy method {self.method!r}", {**COMMON_DEFAULTS, **self.defaults}, settings)
        check_settings(self.method, self.settings, {**SETTING_RULES, **self.rules})
        if self.settings["compile"] and not self.compile_support:
            raise ValueError(f"strategy method {self.method!r}: 'compile' is supported by the methods "
                             f"adam, lbfgs and adam_lbfgs only; set compile: false")

    def schedule(self) -> Schedule:
        s = self.settings
        return Schedule(
            steps=int(s["steps"]),
            log_every=int(s["log_every"]),
            snapshots=int(s["snapshots"]),
            stop_when_stalled=int(s["stop_when_stalled"]),
        )

    def phase_lengths(self) -> list[int]:
        """Steps of each phase, in the order they run; they add up to ``steps``."""
        return [int(self.settings["steps"])]

    @abstractmethod
    def phases(self, objective: Objective) -> list[Phase]:
        """One phase per entry of :meth:`phase_lengths`, built before the first step."""

    def state_dict(self) -> dict[str, Any]:
        """State the phases share (e.g. ALM's multipliers), saved with the running phase's own."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""

    def run(self, objective: Objective, monitor: Monitor) -> None:
        """Train ``objective`` in place, calling ``monitor.after_step`` after every step; go on from the
        monitor's checkpoint when it has one."""
        phases = self.phases(objective)
        at = {"phase": 0, "step": 1}  # the phase and the global step to take next
        saved = monitor.resume()  # after the phases are built: it also restores the random generators
        if saved is not None:
            at = {"phase": saved["phase"], "step": saved["step"]}
            self.load_state_dict(saved["strategy"])
            phases[at["phase"]].load_state_dict(saved["phase_state"])

        def state() -> dict[str, Any]:
            # finished phases are never used again, and later ones have not started: only the running one
            return {**at, "strategy": self.state_dict(), "phase_state": phases[at["phase"]].state_dict()}

        def take_step(phase: int, step: int, rows: list[int]) -> tuple[list[int], list[int]]:
            at.update(phase=phase, step=step)
            monitor.at_boundary(state)
            stalled = monitor.after_step(step, phases[phase]())
            return ([], rows) if stalled else (rows, [])

        run_phases(self.phase_lengths(), take_step, [0], at["phase"], at["step"])

    def statistics(self) -> dict[str, float]:
        """Per-seed numbers about the latest run that a strategy wants kept (e.g. NNCG's μ and CG work).

        Stored in the cell file as ``strategy_<name>`` per seed; every run of a strategy reports the same names.
        """
        return {}


def closure_for(objective: Objective, optimizer):
    """The loss-and-gradient closure torch optimizers expect."""

    def closure():
        optimizer.zero_grad(set_to_none=True)
        total, _ = objective.loss()
        total.backward()
        return total

    return closure
