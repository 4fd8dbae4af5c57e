"""Curriculum learning (Krishnapriyan et al., NeurIPS 2021; docs/PAPER.md §4): warm-start through easier
problems, then train the cell's own problem.

The target difficulty c is the cell's (``objective.difficulty``), never a strategy setting. Stages k = 1 .. K
(K = ``stages``) train at c_k = c·k/K — the last stage at c exactly — each for ``stage_steps`` steps on a
fresh draw of residual points (stream k of the cell's sampling seed: reproducible, the same for every init
seed, different per stage). Then ``final_steps`` steps at c on the cell's own residual points.

The curriculum is set by a stage count, not by the coefficient step the paper uses (0.05, i.e. c / 0.05
stages: 1,400 at β = 70). The run's length, K·stage_steps + final_steps, must be known before training
(``schedule()`` fixes the history and snapshot steps, and has no objective to read c from), and strategy settings
are shared by every cell of a map; a count keeps every cell on the same budget. The paper's step at one
target is ``stages = c / 0.05``.

Each stage and the final phase get a fresh inner optimizer: L-BFGS curvature pairs (and Adam moments) of
one stage's loss do not describe the next one's. All phases share one global step counter and the stall
rule of :class:`~sciml.strategies.phases.PhasedStrategy`. The monitor records the loss being trained
(the stage's coefficient and points) and the test error against the target's reference. However the run
ends, the objective is left at the cell's difficulty and residual points.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sciml.strategies.base import OptimizerPhase, Phase
from sciml.strategies.phases import ADAM_DEFAULTS, LBFGS_DEFAULTS, PhasedStrategy, adam_phase, lbfgs_phase
from sciml.training.monitor import Monitor
from sciml.training.objective import Objective

INNER_OPTIMIZERS = {"lbfgs": lbfgs_phase, "adam": adam_phase}


def stage_coefficients(target: float, stages: int) -> list[float]:
    """c·k/K for k = 1 .. K, the last one exactly the target (not a rounded K·(c/K))."""
    return [target * k / stages for k in range(1, stages)] + [float(target)]


class Curriculum(PhasedStrategy):
    method = "curriculum"
    defaults = {
        "stages": 10,  # K; the paper's step 0.05 means K = target / 0.05
        "stage_steps": 50,
        "final_steps": 1000,
        "optimizer": "lbfgs",  # inner optimizer of every stage and the final phase: "lbfgs" or "adam"
        "max_iter": 20,
        **LBFGS_DEFAULTS,
        **ADAM_DEFAULTS,
    }

    def __init__(self, settings: Mapping[str, Any]):
        super().__init__(settings)
        s = self.settings
        if s["final_steps"] < 1:
            raise ValueError("strategy method 'curriculum': final_steps must be >= 1 (the run ends on the cell's "
                             "own problem, which the final records and the result refer to)")
        if s["optimizer"] not in INNER_OPTIMIZERS:
            raise ValueError(f"strategy method 'curriculum': optimizer must be one of {sorted(INNER_OPTIMIZERS)}, "
                             f"got {s['optimizer']!r}")
        #: the stage coefficients of the latest run
        self.coefficients: list[float] = []

    @property
    def phase_steps(self) -> tuple[str, ...]:
        stages = self.settings["stages"]
        if stages != int(stages) or stages < 1:
            raise ValueError(f"strategy method 'curriculum': stages must be a whole number >= 1, got {stages!r}")
        return ("stage_steps",) * int(stages) + ("final_steps",)

    def run(self, objective: Objective, monitor: Monitor) -> None:
        self.coefficients = stage_coefficients(objective.difficulty, int(self.settings["stages"]))
        try:
            super().run(objective, monitor)
        finally:
            objective.reset_difficulty()

    def phases(self, objective: Objective) -> list[Phase]:
        stages = [StagePhase(objective, self.settings, k, c) for k, c in enumerate(self.coefficients, start=1)]
        return stages + [StagePhase(objective, self.settings, None, None)]


class StagePhase(Phase):
    """Steps of stage ``stage`` (None: the final phase), which enters its problem on its first step: a phase
    may be skipped (zero length) or cut short by a stall, so nothing happens before then."""

    def __init__(self, objective: Objective, settings: Mapping[str, Any], stage: int | None,
                 coefficient: float | None):
        self.objective = objective
        self.settings = settings
        self.stage = stage
        self.coefficient = coefficient
        self.inner: OptimizerPhase | None = None

    def enter(self) -> None:
        if self.stage is None:
            self.objective.reset_difficulty()
        else:
            self.objective.set_difficulty(self.coefficient, resample_seed=self.stage)
        self.inner = INNER_OPTIMIZERS[self.settings["optimizer"]](self.objective, self.settings)

    def __call__(self) -> float:
        if self.inner is None:
            self.enter()
        return self.inner()

    def state_dict(self) -> dict[str, Any]:
        # the stage's problem is a function of the stage number: entering it again rebuilds it exactly
        return {"entered": self.inner is not None, **(self.inner.state_dict() if self.inner else {})}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state["entered"]:
            self.enter()
            self.inner.load_state_dict(state)
