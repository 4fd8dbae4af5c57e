"""Damped nonlinear pendulum θ'' = −sin θ − b θ' for neural ODEs (NODE, PINODE; docs/PAPER.md §3).

State x = (θ, ω). Axes: inverse damping 1/b (difficulty: the less damping, the longer and more nonlinear
the motion the field must capture) × training horizon T_train (data: the training trajectory from
(1.7, 0) sampled every dt up to T_train). Test: the trajectory from (2.8, 0) to t = 20.

One data product per 1/b, ``trajectory``: the training trajectory up to the largest horizon
(``t_train_max``) and the test trajectory, integrated by DOP853 at tight tolerances (the paper's code
uses solve_ivp's defaults, errors ~1e-2; docs/DEVIATIONS.md). A cell takes its prefix up to T_train.

Loss terms (means of squares, unit weights):

* ``data``: x_n + step(f)(x_n) − x_{n+1} for the n = T_train/dt training pairs (the model's step rule;
  the paper's is explicit Euler);
* ``physics`` (PINODE only): dt·r(x_n) at the same states x_0 .. x_{n−1}, r = (f₁ − ω, f₂ + bω + sin θ),
  so its mean square is the paper's dt²·mean(r²). The factor dt makes it the mismatch of one Euler
  increment dt·f against the true one, in the units of the data term, for strategies (ALM) that work on
  residuals and ignore term weights.

Test error: relative L2 of the autoregressive rollout x_1 .. x_M (M = t_test/dt = 400 steps) from the test
trajectory's first state against the trajectory, over both components.

Curriculum learning (the optional capability): an easier problem is a more damped one, 1/b stepped up
from a small value to the cell's (the curriculum's stages c·k/K). A stage's data are the training
trajectory at its own damping (same start, horizon and step), integrated when the stage begins; the
trajectory is deterministic, so there is nothing to redraw and ``resample_seed`` changes nothing. The
test error always refers to the cell's own damping.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr

from sciml.models.neural_ode import NeuralODE
from sciml.problems.base import Problem, tensor_converter
from sciml.training.objective import Objective, relative_l2

COMPONENTS = ("theta", "omega")


def vector_field(x: np.ndarray, b: float) -> np.ndarray:
    """d(θ, ω)/dt = (ω, −sin θ − bω); x has the components first."""
    theta, omega = x[0], x[1]
    return np.stack([omega, -np.sin(theta) - b * omega])


def trajectory(initial: Sequence[float], b: float, times: np.ndarray, settings: Mapping[str, Any]) -> np.ndarray:
    """States at ``times`` (from t = times[0] = 0), shape (len(times), 2), by the configured scipy solver."""
    from scipy.integrate import solve_ivp  # here: only data jobs integrate, and scipy is slow to import

    solution = solve_ivp(lambda t, x: vector_field(x, b), (0.0, float(times[-1])), np.asarray(initial, float),
                         method=settings["integrator"], t_eval=times, rtol=settings["rtol"], atol=settings["atol"])
    if not solution.success:
        raise RuntimeError(f"pendulum integration failed at b = {b}: {solution.message}")
    return solution.y.T


def steps_of(duration: float, dt: float, name: str = "duration") -> int:
    """The number of steps of size dt in ``duration`` (called ``name`` in errors), a positive whole number."""
    steps = round(duration / dt)
    if steps < 1 or not math.isclose(steps * dt, duration, rel_tol=1e-9, abs_tol=0.0):
        raise ValueError(f"{name} = {duration:g} is not a positive whole multiple of the time step dt = {dt:g}")
    return steps


class Pendulum(Problem):
    name = "pendulum"
    family = "ode"
    difficulty_axis = "inv_damping"
    data_axis = "t_train"
    input_dim = 2
    output_dim = 2
    architectures = ("neural_ode",)
    defaults: Mapping[str, Any] = {
        "dt": 0.05,  # sampling step of both trajectories and the step of the model's rule
        "t_train_max": 20.0,  # the longest training horizon a grid may use (the product's length)
        "t_test": 20.0,  # test trajectory length: 400 rollout steps at dt = 0.05
        "train_initial": [1.7, 0.0],  # (θ, ω) at t = 0 of the training trajectory
        "test_initial": [2.8, 0.0],  # ... and of the test trajectory
        "integrator": "DOP853",  # scipy.integrate.solve_ivp method
        "rtol": 1e-12,
        "atol": 1e-12,
    }

    def data_products(self) -> dict[str, str]:
        return {"trajectory": self.difficulty_axis}

    def validate_axis_value(self, axis: str, value: float, settings: Mapping[str, Any]) -> None:
        steps_of(settings["t_test"], settings["dt"], "t_test")
        steps_of(settings["t_train_max"], settings["dt"], "t_train_max")
        for key in ("train_initial", "test_initial"):
            if len(settings[key]) != 2:
                raise ValueError(f"setting {key!r} must be a state [theta, omega], got {settings[key]!r}")
        if axis == self.difficulty_axis and not value > 0:
            raise ValueError(f"{axis} (1/b) must be positive, got {value!r}")
        if axis == self.data_axis:
            steps_of(value, settings["dt"], axis)
            if value > settings["t_train_max"]:
                raise ValueError(f"{axis} = {value:g} exceeds the setting t_train_max = {settings['t_train_max']:g} "
                                 "(the length of the generated training trajectory)")

    def times(self, duration: float, settings: Mapping[str, Any]) -> np.ndarray:
        return settings["dt"] * np.arange(steps_of(duration, settings["dt"]) + 1)

    def train_trajectory(self, inv_damping: float, duration: float, settings: Mapping[str, Any]) -> np.ndarray:
        return trajectory(settings["train_initial"], 1.0 / inv_damping, self.times(duration, settings), settings)

    def generate(self, product: str, settings: Mapping[str, Any], value: float) -> xr.Dataset:
        if product != "trajectory":
            raise KeyError(f"problem {self.name!r} has no data product {product!r}")
        b = 1.0 / value
        train_times, test_times = self.times(settings["t_train_max"], settings), self.times(settings["t_test"], settings)
        return xr.Dataset(
            {
                "train_state": (("train_time", "component"), self.train_trajectory(value, settings["t_train_max"], settings),
                                {"long_name": "training trajectory from train_initial"}),
                "test_state": (("test_time", "component"), trajectory(settings["test_initial"], b, test_times, settings),
                               {"long_name": "test trajectory from test_initial"}),
            },
            coords={"train_time": train_times, "test_time": test_times, "component": list(COMPONENTS),
                    self.difficulty_axis: value},
            attrs={"problem": self.name, "product": "trajectory", "damping": b},
        )

    def objective(
        self,
        settings: Mapping[str, Any],
        axes: Mapping[str, float],
        data: Mapping[str, xr.Dataset],
        model: torch.nn.Module,
        device: torch.device,
    ) -> PendulumObjective:
        if not isinstance(model, NeuralODE):
            raise TypeError(f"problem {self.name!r} trains a vector field: its model needs architecture "
                            f"'neural_ode', got {type(model).__name__}")
        as_tensor = tensor_converter(model, device)
        n_train = steps_of(axes[self.data_axis], settings["dt"])
        product = data["trajectory"]
        return PendulumObjective(
            problem=self,
            model=model,
            inv_damping=float(axes[self.difficulty_axis]),
            train=as_tensor(product["train_state"].values[: n_train + 1]),
            test=as_tensor(product["test_state"].values),
            settings=settings,
        )


class PendulumObjective(Objective):
    """Data term (and, for a PINODE, the physics term) on the training pairs; rollout test error."""

    def __init__(self, problem: Pendulum, model: NeuralODE, inv_damping: float, train: torch.Tensor,
                 test: torch.Tensor, settings: Mapping[str, Any]):
        super().__init__(model)
        self.problem = problem
        self.dt = float(settings["dt"])
        self.settings = dict(settings)
        self.inv_damping = inv_damping
        self.train = train
        self.test = test
        self._cell = (inv_damping, train)

    @property
    def damping(self) -> float:
        return 1.0 / self.inv_damping

    def residuals(self) -> dict[str, torch.Tensor]:
        states, targets = self.train[:-1], self.train[1:]
        slope = self.model(states)
        terms = {"data": (self.model.step(states, self.dt, slope) - targets).reshape(-1)}
        if self.model.physics_informed:
            theta, omega = states[:, 0], states[:, 1]
            physics = torch.stack([slope[:, 0] - omega, slope[:, 1] + self.damping * omega + torch.sin(theta)], dim=1)
            terms["physics"] = (self.dt * physics).reshape(-1)
        return terms

    def predict_test(self) -> torch.Tensor:
        """The rollout x_0 .. x_M from the test trajectory's first state."""
        with torch.no_grad():
            return self.model.rollout(self.test[0], self.dt, self.test.shape[0] - 1)

    def test_error(self) -> float:
        return relative_l2(self.predict_test()[1:], self.test[1:])

    # -- curriculum learning ------------------------------------------------------------------------------
    @property
    def difficulty(self) -> float:
        return self._cell[0]

    def set_difficulty(self, value: float, resample_seed: int | None = None) -> None:
        """Train at 1/b = ``value``: its training trajectory (same start and horizon) and its physics."""
        cell_train = self._cell[1]
        duration = (cell_train.shape[0] - 1) * self.dt
        states = self.problem.train_trajectory(float(value), duration, self.settings)
        self.train = torch.as_tensor(states, dtype=cell_train.dtype, device=cell_train.device)
        self.inv_damping = float(value)

    def reset_difficulty(self) -> None:
        self.inv_damping, self.train = self._cell
