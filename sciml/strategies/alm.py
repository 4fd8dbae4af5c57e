"""Augmented Lagrangian method (docs/PAPER.md §4): the ``hard`` terms become equality constraints r_i(θ) = 0.

Pretraining: ``pretrain_steps`` L-BFGS steps on the objective's loss, with the ``pde`` term's weight
multiplied by ``pretrain_pde_weight``. Then pointwise multipliers λ_i = 0 (one per entry of each hard term's
residual vector) and penalty μ = ``mu0``; each outer iteration, in this order:

1. λ_i ← λ_i + μ r_i(θ), at the current θ and detached (so the first iteration already sets λ_i = μ0 r_i);
2. μ ← ``beta_mu`` · μ;
3. one L-BFGS step on  Σ_hard [mean(λ_i r_i) + (μ/2) mean(r_i²)] + Σ_soft w mean(r_i²),  w = ``soft_weight``.

This is the textbook method (minimise, then λ ← λ + μ r with the μ just minimised with), started from
λ = μ0 r(θ_pretrained). The means make λ_i / m_i the textbook multiplier of constraint i of a hard term with
m_i points, for the problem  min Σ_soft w mean(r²)  s.t.  r_hard = 0. The objective's own term weights play
no part in the Lagrangian (constraints and w replace them).

Each outer iteration gets a fresh L-BFGS: its curvature pairs would otherwise mix gradients of two different
Lagrangians. The monitor records the objective's own loss; the value handed to it for the divergence check
is the Lagrangian's. Pretraining and the outer iterations share one step counter (see ``adam_lbfgs``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from sciml.strategies.base import FunctionPhase, OptimizerPhase, Phase
from sciml.strategies.phases import LBFGS_DEFAULTS, PhasedStrategy, lbfgs_optimizer
from sciml.training.objective import Objective


class ALM(PhasedStrategy):
    method = "alm"
    phase_steps = ("pretrain_steps", "outer_steps")
    # the paper's convection settings (reaction: w 100, β_μ 1.1, 100 iterations; wave: w 100, β_μ 2, 10)
    defaults = {
        "pretrain_steps": 1000,
        "pretrain_pde_weight": 1.0,  # the paper pretrains convection with 50
        "outer_steps": 50,
        "hard": ["ic", "bc"],
        "soft_weight": 500.0,
        "mu0": 2.0,
        "beta_mu": 1.2,
        "max_iter": 20,  # L-BFGS, for pretraining and each outer iteration
        **LBFGS_DEFAULTS,
    }

    def __init__(self, settings: Mapping[str, Any]):
        super().__init__(settings)
        s = self.settings
        if not all(isinstance(name, str) for name in s["hard"]):
            raise TypeError(f"strategy method 'alm': 'hard' must be a list of term names, got {s['hard']!r}")
        if s["mu0"] <= 0 or s["beta_mu"] < 1 or s["soft_weight"] < 0:
            raise ValueError("strategy method 'alm': need mu0 > 0, beta_mu >= 1 and soft_weight >= 0, got "
                             f"mu0={s['mu0']}, beta_mu={s['beta_mu']}, soft_weight={s['soft_weight']}")
        #: pointwise multipliers of each hard term and the penalty, as of the latest outer iteration
        self.multipliers: dict[str, torch.Tensor] = {}
        self.penalty = float(s["mu0"])

    def state_dict(self) -> dict[str, Any]:
        return {"multipliers": dict(self.multipliers), "penalty": self.penalty}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.multipliers, self.penalty = dict(state["multipliers"]), float(state["penalty"])

    def phases(self, objective: Objective) -> list[Phase]:
        s = self.settings
        with torch.enable_grad():  # PINN residuals differentiate with respect to their inputs
            terms = list(objective.residuals())
        unknown = [name for name in s["hard"] if name not in terms]
        if unknown:
            raise ValueError(f"strategy method 'alm': hard term(s) {unknown} are not terms of this objective; "
                             f"its terms: {terms}")
        if s["pretrain_pde_weight"] != 1 and "pde" not in terms:
            raise ValueError(f"strategy method 'alm': pretrain_pde_weight applies to a 'pde' term, but this "
                             f"objective's terms are {terms}")
        hard = set(s["hard"])
        self.multipliers, self.penalty = {}, float(s["mu0"])

        def pretraining_loss() -> torch.Tensor:
            components = objective.components()
            return sum(
                (s["pretrain_pde_weight"] if name == "pde" else 1.0) * objective.weights.get(name, 1.0) * value
                for name, value in components.items()
            )

        def lagrangian() -> torch.Tensor:
            total = 0.0
            for name, r in objective.residuals().items():
                if name in hard:
                    total = total + (self.multipliers[name] * r).mean() + self.penalty / 2 * r.square().mean()
                else:
                    total = total + s["soft_weight"] * r.square().mean()
            return total

        def outer_iteration() -> float:
            with torch.enable_grad():
                residuals = objective.residuals()
            for name in hard:
                r = residuals[name].detach()
                self.multipliers[name] = self.multipliers.get(name, torch.zeros_like(r)) + self.penalty * r
            self.penalty *= s["beta_mu"]
            return OptimizerPhase(lbfgs_optimizer(objective.parameters(), s), lagrangian)()

        return [OptimizerPhase(lbfgs_optimizer(objective.parameters(), s), pretraining_loss),
                FunctionPhase(outer_iteration)]
