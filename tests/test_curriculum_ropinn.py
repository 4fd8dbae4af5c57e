"""Curriculum learning and RoPINN: their definitions, the objective capabilities they use, and the wiring.

The capabilities (difficulty and residual points of an objective) are checked on the PINN objective against
hand computations; the strategies' pieces (stage coefficients, perturbation law, trust-region calibration) on
their formulas; the runs on a tiny PINN convection objective.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sciml.problems import get_problem
from sciml.problems.pinn import derivative
from sciml.strategies import build_strategy
from sciml.strategies.curriculum import stage_coefficients
from sciml.strategies.ropinn import TrustRegion, calibrate, perturbation, region
from sciml.training.monitor import Diverged, Monitor
from sciml.training.objective import Objective, Unsupported, relative_l2
from sciml.training.params import flatten
from sciml.training.train import train_seed

from support import convection_data, convection_objective

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"architecture": "mlp", "hidden": [8, 8], "activation": "tanh"}
BETA, N_F = 5.0, 64


@pytest.fixture(scope="module")
def pinn_data():
    return convection_data(BETA, N_F)[1]


def pinn(data, seed=0):
    return convection_objective(data=data, beta=BETA, n_f=N_F, hidden=TINY["hidden"], seed=seed)


def stream_points(stream, n=N_F):
    """Stream ``stream`` of the default sampling seed, as the float32 tensors of the objective."""
    problem = get_problem("convection")
    return tuple(torch.as_tensor(a, dtype=torch.float32)
                 for a in problem.sample_collocation(problem.settings(), n, stream=stream))


class Vector(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.theta = torch.nn.Parameter(torch.zeros(3))


class Plain(Objective):
    """An objective with neither capability."""

    def __init__(self):
        super().__init__(Vector())

    def residuals(self):
        return {"fit": self.model.theta - 1}

    def test_error(self):
        return 0.0


class Recording(Monitor):
    """Keeps, at every step, the problem the objective was trained on and both views of the test error."""

    def __init__(self, objective, plan, reference):
        super().__init__(objective, plan)
        self.reference = reference
        self.calls = []

    def after_step(self, step, loss=None):
        o = self.objective
        self.calls.append({
            "step": step, "coefficient": o.coefficient, "difficulty": o.difficulty,
            "collocation": tuple(a.clone() for a in o.collocation),
            "test_error": o.test_error(), "target_error": relative_l2(o.predict_test(), self.reference),
        })
        return super().after_step(step, loss)


def run(objective, settings, monitor=Monitor, **monitor_args):
    strategy = build_strategy(settings)
    m = monitor(objective, strategy.schedule(), **monitor_args)
    strategy.run(objective, m)
    return strategy, m


# -- collocation streams and the curriculum capability --------------------------------------------------------


def test_the_cells_own_draw_is_unchanged_and_streams_are_children_of_the_sampling_seed():
    problem = get_problem("convection")
    settings = problem.settings({"sampling_seed": 7})
    x, t = problem.grid(settings)
    xx, tt = (a.reshape(-1) for a in np.meshgrid(x[1:-1], t[1:], indexing="xy"))
    chosen = np.random.default_rng(7).choice(xx.size, size=300, replace=False)
    own = problem.sample_collocation(settings, 300)
    np.testing.assert_array_equal(own[0], xx[chosen])
    np.testing.assert_array_equal(own[1], tt[chosen])
    children = np.random.SeedSequence(7).spawn(3)
    draws = []
    for k in range(3):
        cx, ct = problem.sample_collocation(settings, 300, stream=k)
        chosen = np.random.default_rng(children[k]).choice(xx.size, size=300, replace=False)
        np.testing.assert_array_equal(cx, xx[chosen])
        np.testing.assert_array_equal(ct, tt[chosen])
        draws.append(cx)
    assert not any(np.array_equal(a, b) for a, b in [(own[0], draws[0]), (draws[0], draws[1]), (draws[1], draws[2])])


def test_set_difficulty_changes_the_residual_and_points_but_not_the_test(pinn_data):
    problem = get_problem("convection")
    objective = pinn(pinn_data)
    own = objective.collocation
    before = objective.residuals()
    error = objective.test_error()
    assert objective.difficulty == BETA and objective.coefficient == BETA

    objective.set_difficulty(2.0)
    assert objective.coefficient == 2.0 and objective.difficulty == BETA and objective.collocation is own
    x, t = (a.detach().requires_grad_(True) for a in own)
    u = objective.predict(x, t)
    by_hand = derivative(u, t) + 2.0 * derivative(u, x)  # autograd; the objective propagates forwards
    torch.testing.assert_close(objective.residuals()["pde"], by_hand)

    objective.set_difficulty(2.0, resample_seed=3)
    drawn = objective.collocation
    expected = stream_points(3)
    assert all(torch.equal(a, b) and a.dtype == b.dtype for a, b in zip(drawn, expected))
    pairs = set(zip(drawn[0].tolist(), drawn[1].tolist()))
    grid_x, grid_t = (torch.as_tensor(a, dtype=torch.float32) for a in problem.grid(problem.settings()))
    assert len(pairs) == N_F  # the cell's size, without replacement
    assert set(drawn[0].tolist()) <= set(grid_x[1:-1].tolist()) and set(drawn[1].tolist()) <= set(grid_t[1:].tolist())
    assert not torch.equal(drawn[0], own[0])
    objective.set_difficulty(2.0, resample_seed=3)
    assert all(torch.equal(a, b) for a, b in zip(objective.collocation, drawn))  # reproducible
    objective.set_difficulty(2.0, resample_seed=4)
    assert not torch.equal(objective.collocation[0], drawn[0])

    after = objective.residuals()
    assert torch.equal(after["ic"], before["ic"]) and torch.equal(after["bc"], before["bc"])
    assert objective.test_error() == error  # same parameters, same target reference

    objective.reset_difficulty()
    assert objective.coefficient == BETA and objective.collocation is own
    assert torch.equal(objective.residuals()["pde"], before["pde"])


def test_stage_coefficients():
    assert stage_coefficients(7.3, 4) == pytest.approx([1.825, 3.65, 5.475, 7.3], rel=1e-15)
    assert stage_coefficients(7.3, 4)[-1] == 7.3
    # c·k/K at k = K rounds to 0.10000000000000002 here; the last stage is the target itself
    assert 0.1 * 3 / 3 != 0.1 and stage_coefficients(0.1, 3)[-1] == 0.1
    assert stage_coefficients(5.0, 1) == [5.0]
    paper = stage_coefficients(70.0, 1400)  # the paper's step 0.05 at β = 70
    np.testing.assert_allclose(paper, 0.05 * np.arange(1, 1401), rtol=1e-14)
    assert np.all(np.diff(paper) > 0)


def test_curriculum_stages_on_one_step_counter(pinn_data):
    objective = pinn(pinn_data)
    own = objective.collocation
    reference = torch.as_tensor(pinn_data["reference"]["u"].values, dtype=torch.float32)
    settings = {"method": "curriculum", "stages": 3, "stage_steps": 2, "final_steps": 2, "max_iter": 5,
                "stop_when_stalled": 0, "snapshots": 3}
    strategy, monitor = run(objective, settings, Recording, reference=reference)
    c = stage_coefficients(BETA, 3)
    assert strategy.coefficients == c and c[-1] == BETA

    calls = monitor.calls
    assert strategy.schedule().steps == 8 and monitor.steps_run == 8
    assert [call["step"] for call in calls] == list(range(1, 9))
    assert len(monitor.history.record_steps) == 9 and np.isfinite(monitor.history.train_loss).all()
    assert [call["coefficient"] for call in calls] == [c[0], c[0], c[1], c[1], c[2], c[2], BETA, BETA]
    for k in (1, 2, 3):  # stage k trains on stream k of the sampling seed
        for call in calls[2 * k - 2: 2 * k]:
            assert all(torch.equal(a, b) for a, b in zip(call["collocation"], stream_points(k)))
    for call in calls[6:]:  # the final phase on the cell's own points
        assert all(torch.equal(a, b) for a, b in zip(call["collocation"], own))
    assert all(call["difficulty"] == BETA and call["test_error"] == call["target_error"] for call in calls)
    assert monitor.history.test_error[1:].tolist() == [call["test_error"] for call in calls]

    assert objective.coefficient == BETA and objective.collocation is own
    assert all(torch.equal(a, b) for a, b in zip(objective.collocation, pinn(pinn_data).collocation))


def test_curriculum_restores_the_cell_when_training_fails(pinn_data):
    class FailsAtStep3(Monitor):
        def after_step(self, step, loss=None):
            if step == 3:
                raise Diverged(step, float("nan"))
            return super().after_step(step, loss)

    objective = pinn(pinn_data)
    own = objective.collocation
    with pytest.raises(Diverged):
        run(objective, {"method": "curriculum", "stages": 2, "stage_steps": 2, "final_steps": 1, "max_iter": 3},
            FailsAtStep3)
    assert objective.coefficient == BETA and objective.collocation is own


def test_strategies_name_the_missing_capability():
    for method, capability in [("curriculum", "curriculum learning"), ("ropinn", "residual-point perturbation")]:
        objective = Plain()
        with pytest.raises(Unsupported, match=f"objective of type Plain does not support {capability}"):
            run(objective, {"method": method})
        assert torch.equal(objective.model.theta, torch.zeros(3))  # nothing ran
    assert issubclass(Unsupported, NotImplementedError)


@pytest.mark.parametrize(("settings", "match"), [
    ({"stages": 0}, "stages"),
    ({"stages": 2.5}, "stages"),
    ({"final_steps": 0}, "final_steps"),
    ({"optimizer": "sgd"}, "optimizer"),
    ({"stages": 2, "stage_steps": 3, "final_steps": 4, "steps": 7}, "sum of"),
])
def test_invalid_curriculum_settings(settings, match):
    with pytest.raises(ValueError, match=match):
        build_strategy({"method": "curriculum", **settings})


def test_curriculum_plan_is_stages_times_stage_steps_plus_final_steps():
    assert build_strategy({"method": "curriculum"}).schedule().steps == 10 * 50 + 1000
    assert build_strategy({"method": "curriculum", "stages": 4, "stage_steps": 3, "final_steps": 5}).schedule().steps == 17


# -- RoPINN ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_perturbation_is_uniform_on_zero_to_the_region_per_coordinate(dtype):
    n, size = 200_000, 0.004
    points = torch.zeros(n, 2, dtype=dtype)
    xi = perturbation(points, size, torch.Generator().manual_seed(0))
    assert xi.shape == (n, 2) and xi.dtype == dtype
    xi = xi.double()
    assert xi.min() >= 0 and xi.max() <= size  # one-sided: never below the point
    assert xi.min() < 1e-3 * size and xi.max() > (1 - 1e-3) * size  # and the whole support is used
    mean_se = size / np.sqrt(12 * n)
    torch.testing.assert_close(xi.mean(dim=0), torch.full((2,), size / 2, dtype=torch.float64), rtol=0,
                               atol=5 * mean_se)
    torch.testing.assert_close(xi.var(dim=0), torch.full((2,), size**2 / 12, dtype=torch.float64), rtol=0.02, atol=0)
    quartiles = torch.quantile(xi[:, 0], torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))
    torch.testing.assert_close(quartiles / size, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64), rtol=0,
                               atol=0.01)
    correlation = torch.corrcoef(xi.T)[0, 1]
    assert abs(correlation) < 5 / np.sqrt(n)  # independent coordinates
    assert not torch.equal(xi[:, 0], xi[:, 1])


def test_region_is_r_over_sigma_clipped():
    assert region(1e-4, 1.0, 0.01) == 1e-4  # σ₀ = 1
    assert region(1e-4, 0.5, 0.01) == 2e-4
    assert region(1e-4, 1e-3, 0.01) == 0.01  # r/σ = 0.1 clipped
    assert region(1e-4, 0.0, 0.01) == 0.01  # gradients that never vary: the largest region
    assert region(0.0, 2.0, 0.01) == 0.0


def test_calibration_formula_on_a_hand_made_history():
    # per parameter: std (ddof 0) over steps / (mean |g| + 1e-6), then the mean over parameters
    history = torch.tensor([[1.0, 2.0, 0.0], [-1.0, 2.0, 0.0], [1.0, 2.0, 0.0], [-1.0, 2.0, 0.0], [0.0, 2.0, 0.0]])
    # column 0: mean 0, variance 4/5, mean |g| 4/5 (|mean g| would be 0); column 1 constant; column 2 zero
    expected = (np.sqrt(0.8) / (0.8 + 1e-6) + 0.0 + 0.0) / 3
    assert calibrate(history) == pytest.approx(expected, rel=1e-12)

    trust = TrustRegion(radius=1e-4, max_size=0.01, window=5)
    for g in history[:4]:
        trust.record(g)
        assert trust.sigma == 1.0 and trust.size == 1e-4  # σ₀ until T0 gradients exist
    trust.record(history[4])
    assert trust.sigma == pytest.approx(expected, rel=1e-12)
    assert trust.size == pytest.approx(1e-4 / expected, rel=1e-12)
    trust.record(torch.tensor([3.0, 2.0, 0.0]))  # the window slides: the first gradient drops out
    assert trust.sigma == calibrate(torch.cat([history[1:], torch.tensor([[3.0, 2.0, 0.0]])]))


def test_perturbation_moves_only_the_pde_residual(pinn_data):
    problem = get_problem("convection")
    objective = pinn(pinn_data)
    points = objective.collocation_points()
    assert points.shape == (N_F, 2)  # (x, t): input dimension d + 1 = 2
    assert torch.equal(points[:, 0], objective.collocation[0]) and torch.equal(points[:, 1], objective.collocation[1])
    before = objective.residuals()
    offsets = perturbation(points, 0.01, torch.Generator().manual_seed(1))
    with objective.perturbed_collocation(offsets):
        moved = objective.residuals()
    assert torch.equal(moved["ic"], before["ic"]) and torch.equal(moved["bc"], before["bc"])
    x, t = ((a + offsets[:, i]).detach().requires_grad_(True) for i, a in enumerate(objective.collocation))
    u = objective.predict(x, t)
    by_hand = problem.pde_residual({"u": u, "u_t": derivative(u, t), "u_x": derivative(u, x)}, BETA)
    torch.testing.assert_close(moved["pde"], by_hand)
    assert not torch.equal(moved["pde"], before["pde"])
    assert torch.equal(objective.residuals()["pde"], before["pde"])  # restored on leaving
    with pytest.raises(ValueError, match=r"shape \(64, 2\)"):
        with objective.perturbed_collocation(offsets[:10]):
            pass


def test_ropinn_steps_on_the_perturbed_loss_with_a_calibrated_region(pinn_data, monkeypatch):
    recorded = []
    record = TrustRegion.record
    monkeypatch.setattr(TrustRegion, "record", lambda self, g: (recorded.append(g), record(self, g))[1])
    objective = pinn(pinn_data)
    start = [p.detach().clone() for p in objective.parameters()]
    torch.manual_seed(11)
    strategy, monitor = run(objective, {"method": "ropinn", "steps": 8, "adam_lr": 0.01, "stop_when_stalled": 0})
    sizes = strategy.region_sizes
    assert len(sizes) == 8 and monitor.steps_run == 8
    assert sizes[:5] == [1e-4] * 5  # σ₀ = 1 for the first T0 = 5 steps
    for step in (5, 6, 7):  # then r/σ of the last five gradients
        assert sizes[step] == region(1e-4, calibrate(torch.stack(recorded[step - 5: step])), 0.01)
    assert len(set(sizes[5:])) == 3

    # step 1's gradient is that of the loss at x + ξ, ξ ~ U[0, r]: redo it from the same generator seed
    torch.manual_seed(11)
    generator = torch.Generator().manual_seed(int(torch.randint(2**62, ())))
    again = pinn(pinn_data)
    assert all(torch.equal(a, b) for a, b in zip(again.parameters(), start))
    with again.perturbed_collocation(perturbation(again.collocation_points(), 1e-4, generator)):
        again.loss()[0].backward()
    assert torch.equal(recorded[0], flatten([p.grad for p in again.parameters()]))


# -- the wiring -----------------------------------------------------------------------------------------------

REPRODUCED = {
    "curriculum": {"stages": 2, "stage_steps": 1, "final_steps": 2, "max_iter": 5},
    "ropinn": {"steps": 6},
}


@pytest.mark.parametrize("method", list(REPRODUCED))
def test_same_seed_bit_identical_parameters(pinn_data, method):
    spec = {"problem": "convection", "problem_settings": {}, "model_settings": {**TINY, "dtype": "float32"},
            "axes": {"beta": BETA, "n_f": N_F}, "strategy_settings": {"method": method, **REPRODUCED[method]}}
    runs = [train_seed(spec, pinn_data, seed, torch.device("cpu")) for seed in (3, 3, 4)]
    np.testing.assert_array_equal(runs[0].final_params, runs[1].final_params)
    np.testing.assert_array_equal(runs[0].history.train_loss, runs[1].history.train_loss)
    assert not np.array_equal(runs[0].final_params, runs[2].final_params)


@pytest.mark.parametrize("settings", [
    {"method": "curriculum", "stages": 3, "stage_steps": 2, "final_steps": 4, "max_iter": 10},
    {"method": "curriculum", "stages": 2, "stage_steps": 5, "final_steps": 10, "optimizer": "adam", "adam_lr": 0.01},
    {"method": "ropinn", "steps": 20, "adam_lr": 0.01},
    {"method": "ropinn", "steps": 4, "optimizer": "lbfgs", "max_iter": 10},
], ids=lambda s: f"{s['method']}-{s.get('optimizer', 'default')}")
def test_each_method_trains_a_pinn_through_the_monitor(pinn_data, settings):
    objective = pinn(pinn_data)
    strategy, monitor = run(objective, {**settings, "snapshots": 3, "stop_when_stalled": 0})
    history = monitor.history
    steps = strategy.schedule().steps
    assert monitor.steps_run == steps and list(history.record_steps) == list(range(steps + 1))
    assert np.isfinite(history.train_loss).all() and np.isfinite(history.test_error).all()
    assert set(history.terms) == {"pde", "ic", "bc"} and np.isfinite(history.snapshots).all()
    assert history.train_loss[-1] < history.train_loss[0]  # both at the target, on the cell's own points
