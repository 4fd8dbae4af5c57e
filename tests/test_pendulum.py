"""The damped pendulum for neural ODEs: data against independent integrations, the loss terms against the true
vector field, the rollout's order, curriculum and the cell pipeline."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import torch
import xarray as xr
import yaml

from sciml.models.build import build_model
from sciml.models.neural_ode import NeuralODE, rollout
from sciml.problems import get_problem
from sciml.problems.pendulum import trajectory
from sciml.strategies import build_strategy
from sciml.training.monitor import Monitor
from sciml.training.train import train_cell
from sciml.workflow.config import ConfigError, validate

from conftest import REPO, tiny_config
from support import Quadratic

pytestmark = pytest.mark.usefixtures("one_thread")

PENDULUM = get_problem("pendulum")
NODE = {"architecture": "neural_ode", "hidden": [16, 16, 16], "activation": "tanh"}


def rk4_reference(initial, b: float, dt: float, steps: int, substeps: int) -> np.ndarray:
    """Independent reference: fixed-step RK4 in float64 with ``substeps`` steps per sample, written out here."""
    f = lambda x: np.array([x[1], -np.sin(x[0]) - b * x[1]])  # noqa: E731
    h, x, states = dt / substeps, np.asarray(initial, float), [np.asarray(initial, float)]
    for _ in range(steps):
        for _ in range(substeps):
            k1 = f(x)
            k2 = f(x + h / 2 * k1)
            k3 = f(x + h / 2 * k2)
            k4 = f(x + h * k3)
            x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        states.append(x)
    return np.array(states)


def test_trajectory_product_matches_an_independent_integration():
    settings = PENDULUM.settings()
    ds = PENDULUM.generate("trajectory", settings, 4.0)
    assert ds["train_state"].shape == (401, 2) and ds["test_state"].shape == (401, 2)
    np.testing.assert_allclose(ds["train_time"].values, 0.05 * np.arange(401), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ds["train_state"].values[0], [1.7, 0.0])
    np.testing.assert_array_equal(ds["test_state"].values[0], [2.8, 0.0])
    # fixed-step RK4, h = 0.05 / 40: its own error is ~1e-11, far below what the data must reach
    for variable, initial in (("train_state", [1.7, 0.0]), ("test_state", [2.8, 0.0])):
        reference = rk4_reference(initial, 0.25, 0.05, 400, substeps=40)
        assert np.abs(ds[variable].values - reference).max() < 1e-9, variable
    # scipy's default tolerances (the paper's data) are off by orders of magnitude more
    loose = trajectory([2.8, 0.0], 0.25, ds["test_time"].values, {**settings, "rtol": 1e-3, "atol": 1e-6})
    assert np.abs(loose - ds["test_state"].values).max() > 1e-4


def test_undamped_pendulum_conserves_energy():
    times = 0.05 * np.arange(401)
    for initial in ([1.7, 0.0], [2.8, 0.0]):
        x = trajectory(initial, 0.0, times, PENDULUM.settings())
        energy = 0.5 * x[:, 1] ** 2 - np.cos(x[:, 0])
        assert np.abs(energy - energy[0]).max() < 1e-10
    # and damping dissipates it, monotonically: dE/dt = -b w^2
    x = trajectory([2.8, 0.0], 0.5, times, PENDULUM.settings())
    energy = 0.5 * x[:, 1] ** 2 - np.cos(x[:, 0])
    assert np.all(np.diff(energy) <= 1e-12) and energy[-1] < energy[0] - 1


class TrueField(torch.nn.Module):
    """The pendulum's own vector field in place of the MLP: every physics residual must vanish."""

    def __init__(self, b: float):
        super().__init__()
        self.b = b
        self.unused = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))  # objectives need parameters

    def forward(self, x):
        theta, omega = x[..., 0], x[..., 1]
        return torch.stack([omega, -torch.sin(theta) - self.b * omega], dim=-1) + 0 * self.unused


def true_field_model(b: float, step: str = "euler") -> NeuralODE:
    model = NeuralODE(2, 2, hidden=[2], step=step, physics_informed=True)
    model.net = TrueField(b)  # the MLP's layers, whose output is the field
    return model


def objective_for(model, inv_damping: float, t_train: float, **settings):
    s = PENDULUM.settings(settings)
    data = {"trajectory": PENDULUM.generate("trajectory", s, inv_damping)}
    return PENDULUM.objective(s, {"inv_damping": inv_damping, "t_train": t_train}, data, model, torch.device("cpu"))


def test_physics_residual_vanishes_for_the_true_field_only():
    objective = objective_for(true_field_model(0.25), 4.0, 5.0)
    terms = objective.residuals()
    assert set(terms) == {"data", "physics"}
    assert terms["physics"].shape == (2 * 100,)  # (theta, omega) at the 100 states that start a pair
    assert terms["physics"].abs().max().item() < 1e-14
    # the data term of the true field is Euler's local error, O(dt^2) per step, not zero
    assert 1e-5 < terms["data"].abs().max().item() < 0.05**2
    # a wrong damping leaves a physics residual dt * (b' - b) * omega
    objective.inv_damping = 2.0
    omega = objective.train[:-1, 1]
    np.testing.assert_allclose(objective.residuals()["physics"].reshape(-1, 2)[:, 1].detach(), 0.05 * 0.25 * omega,
                               rtol=1e-12, atol=1e-15)


def test_node_has_only_the_data_term_and_pinode_weights_physics_by_dt_squared():
    torch.manual_seed(0)
    node = build_model(NODE, 2, 2)
    torch.manual_seed(0)
    pinode = build_model({**NODE, "physics_informed": True}, 2, 2)
    node_terms = objective_for(node, 4.0, 2.0).components()
    pinode_objective = objective_for(pinode, 4.0, 2.0)
    total, terms = pinode_objective.loss()
    assert set(node_terms) == {"data"} and set(terms) == {"data", "physics"}
    assert torch.equal(node_terms["data"], terms["data"])  # same network, same data term
    x = pinode_objective.train[:-1]
    with torch.no_grad():
        f = pinode(x)
        r = torch.stack([f[:, 0] - x[:, 1], f[:, 1] + 0.25 * x[:, 1] + torch.sin(x[:, 0])], dim=1)
        data = (x + 0.05 * f - pinode_objective.train[1:]).square().mean()
    torch.testing.assert_close(terms["physics"], 0.05**2 * r.square().mean())
    torch.testing.assert_close(terms["data"], data)
    torch.testing.assert_close(total, terms["data"] + terms["physics"])


@pytest.mark.parametrize(("step", "ratio"), [("euler", 2.0), ("rk4", 16.0)])
def test_rollout_of_the_true_field_converges_at_the_rules_order(step, ratio):
    """The test error of the true field is the step rule's global error: halving dt divides it by 2^order."""
    errors = []
    for dt in (0.05, 0.025):
        objective = objective_for(true_field_model(0.25, step), 4.0, 1.0, dt=dt)
        assert objective.predict_test().shape == (round(20 / dt) + 1, 2)
        errors.append(objective.test_error())
    assert errors[0] < (0.1 if step == "euler" else 1e-5)
    assert 0.85 * ratio < errors[0] / errors[1] < 1.15 * ratio


def test_rollout_steps_autoregressively():
    field = lambda x: -x  # noqa: E731  x' = -x: Euler multiplies by (1 - dt) per step
    states = rollout(field, torch.tensor([1.0, 2.0], dtype=torch.float64), 0.1, 3)
    np.testing.assert_allclose(states.numpy(), np.outer(0.9 ** np.arange(4), [1.0, 2.0]), rtol=1e-14)


def test_curriculum_trains_on_the_stage_damping_and_returns_to_the_cell():
    objective = objective_for(true_field_model(0.25), 4.0, 2.0)
    cell_train, error = objective.train, objective.test_error()
    assert objective.difficulty == 4.0
    objective.set_difficulty(1.0, resample_seed=3)
    # the stage's data: the trajectory at b = 1 from the same start, over the same horizon
    np.testing.assert_allclose(objective.train.numpy(), trajectory([1.7, 0.0], 1.0, 0.05 * np.arange(41),
                                                                   PENDULUM.settings()), rtol=0, atol=1e-15)
    assert objective.residuals()["physics"].abs().max().item() > 1e-3  # the true field at b = 1/4 is wrong at b = 1
    assert objective.test_error() == error and objective.difficulty == 4.0  # the test keeps the cell's damping
    objective.reset_difficulty()
    assert objective.train is cell_train and objective.inv_damping == 4.0


@pytest.mark.parametrize(("axis", "value", "match"), [
    ("t_train", 0.07, "multiple"), ("t_train", 0.0, "multiple"), ("t_train", 25.0, "t_train_max"),
    ("inv_damping", 0.0, "positive"),
])
def test_bad_axis_values_are_rejected(axis, value, match):
    with pytest.raises(ValueError, match=match):
        PENDULUM.validate_axis_value(axis, value, PENDULUM.settings())


@pytest.mark.parametrize(("settings", "match"), [
    ({"dt": 0.03}, "t_test"), ({"train_initial": [1.7]}, "train_initial"),
])
def test_bad_problem_settings_are_rejected(settings, match):
    with pytest.raises(ValueError, match=match):
        PENDULUM.validate_axis_value("inv_damping", 1.0, PENDULUM.settings(settings))


def test_a_pinn_model_is_rejected_for_the_pendulum():
    config = {"models": {"pinn": {"architecture": "mlp", "hidden": [4]}},
              "strategies": {"adam": {"method": "adam"}},
              "studies": [{"model": "pinn", "problem": "pendulum", "strategies": ["adam"],
                           "axes": {"inv_damping": [1], "t_train": [1]},
                           "thresholds": {"default": {"train_loss": 1.0e-6, "test_error": 0.3}}}]}
    with pytest.raises(ConfigError, match="neural_ode"):
        validate(config)


@pytest.mark.parametrize("strategy", [
    {"method": "adam", "steps": 30, "lr_decay": 0.99, "log_every": 10},
    {"method": "lbfgs", "steps": 3},
    {"method": "alm", "pretrain_steps": 2, "outer_steps": 2, "hard": ["physics"], "soft_weight": 1.0},
    {"method": "nncg", "adam_steps": 5, "lbfgs_steps": 2, "nncg_steps": 2, "rank": 5, "precond_refresh": 2},
    {"method": "curriculum", "stages": 2, "stage_steps": 2, "final_steps": 2},
])
def test_every_strategy_trains_a_pinode_cell(strategy):
    data = {"trajectory": PENDULUM.generate("trajectory", PENDULUM.settings(), 4.0)}
    spec = {"model": "pinode", "problem": "pendulum", "problem_settings": {}, "strategy": strategy["method"],
            "model_settings": {**NODE, "physics_informed": True}, "strategy_settings": strategy,
            "axes": {"inv_damping": 4.0, "t_train": 2.0}, "seeds": [0]}
    ds = train_cell(spec, data, torch.device("cpu"))
    history = ds["history_train_loss"].squeeze().values
    assert np.isfinite(history).all() and history[-1] < history[0]
    assert {"loss_data", "loss_physics"} <= set(ds) and ds.sizes["param"] == 626
    assert ds["inv_damping"].values.tolist() == [4.0] and ds["t_train"].values.tolist() == [2.0]


def test_lr_decay_is_exponential_per_step():
    """On a linear loss Adam moves each parameter by lr_t per step (m/sqrt(v) = sign of the gradient), so
    three steps at lr 0.1 decaying by 0.5 move it by 0.1 + 0.05 + 0.025."""
    objective = Quadratic(np.zeros((21, 21)))
    start = torch.cat([p.detach().reshape(-1) for p in objective.parameters()]).clone()
    strategy = build_strategy({"method": "adam", "steps": 3, "lr": 0.1, "lr_decay": 0.5})
    strategy.run(objective, Monitor(objective, strategy.schedule()))
    moved = torch.cat([p.detach().reshape(-1) for p in objective.parameters()]) - start
    np.testing.assert_allclose(moved.numpy(), 0.175 * np.sign(objective.linear), rtol=1e-6)
    with pytest.raises(ValueError, match="lr_decay"):
        build_strategy({"method": "adam", "lr_decay": 1.5})


def test_energy_of_the_data_decays_with_the_damping():
    """Sanity of the difficulty axis: more inverse damping keeps more of the energy over the horizon."""
    settings = PENDULUM.settings()
    kept = []
    for inv_damping in (1.0, 4.0, 15.0):
        x = PENDULUM.generate("trajectory", settings, inv_damping)["train_state"].values
        energy = 0.5 * x[:, 1] ** 2 - np.cos(x[:, 0])
        kept.append((energy[-1] + 1) / (energy[0] + 1))
    assert all(a < b for a, b in pairwise(kept))


@pytest.mark.workflow
def test_tiny_pendulum_study_through_snakemake(workflow):
    """The NODE and PINODE studies of config/config.yaml cut to two cells, one seed and a few steps."""
    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config = tiny_config()
    config["models"].update({name: default["models"][name] for name in ("node", "pinode")})
    studies = [study for study in default["studies"] if study["problem"] == "pendulum"]
    for study in studies:
        study["axes"] = {"inv_damping": [1, 15], "t_train": [2]}
        study["strategies"] = ["adam"]
        study["overrides"] = {"adam": {"steps": 20, "log_every": 10, "lr_decay": 0.99}}
        study.pop("baseline", None)
    config["studies"] = studies  # the pendulum only: no PINN jobs
    workflow.write_config(config)
    workflow.snakemake("figures", timeout=1800)  # ten jobs, ~2-3 s of CPU each (mostly imports)
    results = workflow.workdir / "results"
    # one trajectory file per 1/b, shared by both models; a cell per model and grid point
    assert sorted(p.name for p in (results / "data" / "pendulum" / "trajectory").iterdir()) == [
        "inv_damping=1.nc", "inv_damping=15.nc"]
    assert len(workflow.files("results/cells/**/*.nc")) == 4
    for model in ("node", "pinode"):
        assert (results / "figures" / "regimes" / f"{model}_pendulum_adam.png").stat().st_size > 10_000
        ds = xr.load_dataset(results / "regimes" / model / "pendulum" / "adam.nc")
        assert ds["regime"].dims == ("inv_damping", "t_train") and ds["regime"].shape == (2, 1)
        assert set(ds["regime"].values.ravel()) <= {1, 2, 3} and int(ds["n_seeds_ok"].min()) == 1
        assert ("loss_physics" in ds) == (model == "pinode")
