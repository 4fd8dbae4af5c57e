"""RoPINN (Wu et al., NeurIPS 2024; docs/PAPER.md §4): region optimization by perturbing the residual points.

Each outer step draws one offset per residual point, ξ_i ~ U[0, r/σ]^(d+1) (one-sided, independent
coordinates; d + 1 = 2 for (x, t) PINNs), and steps on the loss whose residual term is evaluated at x_i + ξ_i;
the other terms (IC, BC) are unchanged. Points near the upper ends of the domain may be pushed just past
it, by at most ``max_region_size``; the residual is defined there too, so nothing is clipped.

Trust-region calibration: σ = mean over parameters j of std_t(g_tj) / (mean_t |g_tj| + 1e-6), over the
gradients g_t of the last T0 = ``calibration_window`` steps (std with ddof 0; the paper uses T0 = 10 for
reaction). Until T0 gradients exist σ = σ₀ = 1. The region r/σ (r = ``region_size``) is clipped to
[0, ``max_region_size``]; σ = 0 (gradients that do not vary) gives the largest region.

Inner optimizer: Adam by default (as the paper trains). With ``optimizer: lbfgs`` the offsets are drawn once
per outer step, so every closure evaluation in that step (line search included) sees one fixed loss; the
L-BFGS memory carries over steps, so the first curvature pair of a step mixes gradients of two perturbed
losses (offsets differ by at most ``max_region_size``; torch drops pairs without positive curvature). The
gradient a step records for σ is the one at its start, the only one with Adam.

Offsets come from a generator of their own, seeded by one draw from torch's global generator when the run
starts, so a run is reproducible per seed. The monitor records the unperturbed loss; the loss handed to it
for the divergence check is the perturbed one the optimizer saw.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import torch

from sciml.strategies.base import Phase, Strategy
from sciml.strategies.phases import ADAM_DEFAULTS, LBFGS_DEFAULTS, lbfgs_optimizer
from sciml.training.objective import Objective
from sciml.training.params import flatten

#: guards the calibration ratio against parameters whose gradient is always zero
CALIBRATION_EPS = 1e-6


def calibrate(gradients: torch.Tensor) -> float:
    """σ of a (T0, n_parameters) window of gradients, accumulated in float64."""
    g = gradients.double()
    return float((g.std(dim=0, correction=0) / (g.abs().mean(dim=0) + CALIBRATION_EPS)).mean())


def region(radius: float, sigma: float, max_size: float) -> float:
    """r/σ clipped to [0, max_size]."""
    if sigma == 0:
        return max_size
    return min(max(radius / sigma, 0.0), max_size)


def perturbation(points: torch.Tensor, size: float, generator: torch.Generator) -> torch.Tensor:
    """One ξ ~ U[0, size]^(d+1) per row of ``points`` (N, d+1), in their dtype and on their device."""
    return size * torch.rand(points.shape, generator=generator, dtype=points.dtype, device=points.device)


class TrustRegion:
    """The last ``window`` gradients and the region size r/σ they give."""

    def __init__(self, radius: float, max_size: float, window: int):
        self.radius = radius
        self.max_size = max_size
        self.window = window
        self.gradients: deque[torch.Tensor] = deque(maxlen=window)

    def record(self, gradient: torch.Tensor) -> None:
        self.gradients.append(gradient)

    @property
    def sigma(self) -> float:
        if len(self.gradients) < self.window:
            return 1.0
        return calibrate(torch.stack(list(self.gradients)))

    @property
    def size(self) -> float:
        return region(self.radius, self.sigma, self.max_size)


class RoPINN(Strategy):
    method = "ropinn"
    defaults = {
        "optimizer": "adam",  # or "lbfgs" (offsets drawn once per outer step)
        "region_size": 1e-4,  # r
        "max_region_size": 0.01,  # r/σ is clipped to [0, this]
        "calibration_window": 5,  # T0; the paper uses 10 for reaction
        **ADAM_DEFAULTS,
        "max_iter": 20,
        **LBFGS_DEFAULTS,
    }

    def __init__(self, settings: Mapping[str, Any]):
        super().__init__(settings)
        s = self.settings
        if s["optimizer"] not in ("adam", "lbfgs"):
            raise ValueError(f"strategy method 'ropinn': optimizer must be 'adam' or 'lbfgs', got {s['optimizer']!r}")
        if s["region_size"] < 0 or s["max_region_size"] < 0:
            raise ValueError("strategy method 'ropinn': region_size and max_region_size must be >= 0")
        window = s["calibration_window"]
        if window != int(window) or window < 1:
            raise ValueError(f"strategy method 'ropinn': calibration_window must be a whole number >= 1, "
                             f"got {window!r}")
        #: the trust region and the region size r/σ each step used, as of the latest run
        self.trust_region = TrustRegion(s["region_size"], s["max_region_size"], int(window))
        self.region_sizes: list[float] = []

    def phases(self, objective: Objective) -> list[Phase]:
        s = self.settings
        points = objective.collocation_points()  # fails on an objective without the capability, before a step
        generator = torch.Generator(device=points.device)
        generator.manual_seed(int(torch.randint(2**62, ())))
        parameters = objective.parameters()
        if s["optimizer"] == "adam":
            optimizer = torch.optim.Adam(parameters, lr=s["adam_lr"], betas=tuple(s["adam_betas"]), eps=s["adam_eps"])
        else:
            optimizer = lbfgs_optimizer(parameters, s)
        self.trust_region = TrustRegion(s["region_size"], s["max_region_size"], int(s["calibration_window"]))
        self.region_sizes = []
        return [RegionPhase(objective, optimizer, generator, self.trust_region, self.region_sizes)]


class RegionPhase(Phase):
    """Steps at perturbed residual points, the region size calibrated from the recent gradients."""

    def __init__(self, objective: Objective, optimizer: torch.optim.Optimizer, generator: torch.Generator,
                 trust_region: TrustRegion, region_sizes: list[float]):
        self.objective = objective
        self.points = objective.collocation_points()
        self.optimizer = optimizer
        self.generator = generator
        self.trust_region = trust_region
        self.region_sizes = region_sizes

    def __call__(self) -> float:
        size = self.trust_region.size
        loss, gradient = perturbed_step(self.objective, self.optimizer, perturbation(self.points, size, self.generator))
        self.trust_region.record(gradient)
        self.region_sizes.append(size)
        return loss

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state().numpy(),  # bytes: no device to map
            "gradients": list(self.trust_region.gradients),
            "region_sizes": list(self.region_sizes),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(torch.from_numpy(state["generator"]))
        self.trust_region.gradients.clear()
        self.trust_region.gradients.extend(state["gradients"])
        self.region_sizes[:] = state["region_sizes"]


def perturbed_step(objective: Objective, optimizer: torch.optim.Optimizer, offsets: torch.Tensor):
    """One ``optimizer.step`` on the loss at the perturbed residual points; the loss it returns and the
    gradient of the first closure evaluation (at the step's starting parameters)."""
    gradients: list[torch.Tensor] = []

    def closure():
        optimizer.zero_grad(set_to_none=True)
        with objective.perturbed_collocation(offsets):
            total, _ = objective.loss()
        total.backward()
        if not gradients:
            gradients.append(flatten([p.grad for p in objective.parameters()]))
        return total

    loss = optimizer.step(closure)
    return loss.item(), gradients[0]
