"""Neural ODE: a vector-field MLP dx/dt = f(x) and the explicit step rule that turns it into a discrete map.

The step rule belongs to the model: the same field stepped by Euler or by RK4 is a different discrete model
(a different one-step map x_n -> x_{n+1} is fitted to the data, and a different rollout is tested). The
paper steps by explicit Euler; RK4 is the option. ``physics_informed`` marks a PINODE: the objective of an
ODE problem then adds the physics residual of the known equations at the training states (see
:mod:`sciml.problems.pendulum`). It changes the loss, not the network, so a NODE and a PINODE are two
model blocks of a config with the same architecture.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from sciml.models.mlp import MLP

Field = Callable[[torch.Tensor], torch.Tensor]


def euler_step(field: Field, x: torch.Tensor, dt: float, slope: torch.Tensor | None = None) -> torch.Tensor:
    """x + dt f(x); ``slope`` is f(x) when the caller has it already."""
    return x + dt * (field(x) if slope is None else slope)


def rk4_step(field: Field, x: torch.Tensor, dt: float, slope: torch.Tensor | None = None) -> torch.Tensor:
    """Classical fourth-order Runge-Kutta; ``slope`` is f(x) (the first stage) when the caller has it."""
    k1 = field(x) if slope is None else slope
    k2 = field(x + dt / 2 * k1)
    k3 = field(x + dt / 2 * k2)
    k4 = field(x + dt * k3)
    return x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


STEP_RULES = {"euler": euler_step, "rk4": rk4_step}


def rollout(field: Field, x0: torch.Tensor, dt: float, steps: int, rule: str = "euler") -> torch.Tensor:
    """States x_0 .. x_steps of the autoregressive rollout from ``x0``; shape (steps + 1, *x0.shape)."""
    step = STEP_RULES[rule]
    states = [x0]
    for _ in range(steps):
        states.append(step(field, states[-1], dt))
    return torch.stack(states)


class NeuralODE(MLP):
    """dx/dt = MLP(x) (Xavier-normal weights, zero biases), with its step rule: an MLP used as a vector field."""

    def __init__(self, input_dim: int, output_dim: int, hidden: Sequence[int], activation: str = "tanh",
                 step: str = "euler", physics_informed: bool = False):
        if input_dim != output_dim:
            raise ValueError(f"a neural ODE's field maps a state to its time derivative, so the problem's input "
                             f"and output sizes must agree, got {input_dim} and {output_dim}")
        if step not in STEP_RULES:
            raise KeyError(f"unknown step rule {step!r}; known: {sorted(STEP_RULES)}")
        if not isinstance(physics_informed, bool):
            raise TypeError(f"physics_informed must be true or false, got {physics_informed!r}")
        super().__init__(input_dim, output_dim, hidden, activation)
        self.step_rule = step
        self.physics_informed = physics_informed

    def step(self, x: torch.Tensor, dt: float, slope: torch.Tensor | None = None) -> torch.Tensor:
        """One step of the model's rule from x; ``slope`` = f(x) = self(x) if already computed."""
        return STEP_RULES[self.step_rule](self, x, dt, slope)

    def rollout(self, x0: torch.Tensor, dt: float, steps: int) -> torch.Tensor:
        return rollout(self, x0, dt, steps, self.step_rule)
