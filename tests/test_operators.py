"""Operator learning: every spectral solution satisfies its discrete PDE, pools are reproducible, the FNO's
layers and loss are what the paper describes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import xarray as xr

from sciml.models.build import build_model
from sciml.models.fno import SpectralConv2d
from sciml.problems import get_problem, spectral
from sciml.strategies import build_strategy
from sciml.training.monitor import Monitor
from sciml.training.objective import Objective

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = {"resolution": 32, "pool_size": 6, "n_test": 3}


def derivative(u: np.ndarray, axis: int, order: int) -> np.ndarray:
    """Spectral derivative along one axis by 1D FFTs (independent of the 2D symbols under test)."""
    n = u.shape[axis]
    k = np.fft.fftfreq(n, d=1.0 / n)
    if order % 2 == 1 and n % 2 == 0:
        k[n // 2] = 0.0
    shape = [1, 1]
    shape[axis] = n
    return np.fft.ifft((2j * math.pi * k.reshape(shape)) ** order * np.fft.fft(u, axis=axis), axis=axis).real


def diffusion_term(u: np.ndarray, tensor: np.ndarray, scale: float) -> np.ndarray:
    """−s ∇·(K∇u) from 1D derivatives."""
    u_xy = derivative(derivative(u, 0, 1), 1, 1)
    return -scale * (tensor[0, 0] * derivative(u, 0, 2) + 2 * tensor[0, 1] * u_xy + tensor[1, 1] * derivative(u, 1, 2))


def test_single_fourier_mode_has_the_closed_form_solution():
    n = 16
    x = np.arange(n) / n
    k = np.array([2.0, -3.0])
    f = np.cos(2 * math.pi * (k[0] * x[:, None] + k[1] * x[None, :]))
    tensor = spectral.diffusion_tensor(0.7, 20.0)
    np.testing.assert_allclose(np.linalg.eigvalsh(tensor), [1.0, 20.0])
    u = spectral.solve(f, spectral.diffusion_symbol(n, tensor, 0.01))
    np.testing.assert_allclose(u, f / (0.01 * 4 * math.pi**2 * (k @ tensor @ k)), atol=1e-14)


def test_poisson_pool_satisfies_its_discrete_pde_to_round_off():
    problem = get_problem("poisson")
    settings = problem.settings(SMALL)
    pool = problem.generate("pool", settings, 10.0)
    assert pool.sizes == {"sample": 9, "x": 32, "y": 32}
    assert list(pool["split"].values) == ["train"] * 6 + ["test"] * 3
    for i in range(pool.sizes["sample"]):
        sample = pool.isel(sample=i)
        f, u = sample["f"].values, sample["u"].values
        tensor = spectral.diffusion_tensor(float(sample["angle"]), float(sample["eigenvalue"]))
        assert abs(f.mean()) < 1e-14 and abs(u.mean()) < 1e-14
        np.testing.assert_allclose(diffusion_term(u, tensor, 0.01), f, atol=1e-12 * np.abs(f).max())
        assert 10.0 <= float(sample["eigenvalue"]) <= 20.0  # the range [e1, 2 e1]
        assert 1 - 1e-12 <= np.ptp(f) <= 2 + 1e-12  # max |f| = 1 before the mean was removed
    assert problem.input_channels(pool, settings).shape == (9, 4, 32, 32)


def test_advection_diffusion_pool_satisfies_its_pde_and_hits_the_target_ratio():
    problem = get_problem("advection_diffusion")
    settings = problem.settings(SMALL)
    pool = problem.generate("pool", settings, 0.5)
    for i in range(pool.sizes["sample"]):
        sample = pool.isel(sample=i)
        f, u = sample["f"].values, sample["u"].values
        weight, phi = float(sample["advection_weight"]), float(sample["velocity_angle"])
        tensor = spectral.diffusion_tensor(float(sample["angle"]), float(sample["eigenvalue"]))
        diffusion = (1 - weight) * diffusion_term(u, tensor, 0.01)
        advection = weight * (math.cos(phi) * derivative(u, 0, 1) + math.sin(phi) * derivative(u, 1, 1))
        np.testing.assert_allclose(diffusion + advection, f, atol=1e-12 * np.abs(f).max())
        ratio = np.linalg.norm(advection) / np.linalg.norm(diffusion)
        assert ratio == pytest.approx(float(sample["advection_ratio"]), rel=1e-9)
        assert 0.5 <= ratio <= 1.0 and 0 < weight <= 0.95 and 1 <= float(sample["eigenvalue"]) <= 5
    assert problem.input_channels(pool, settings).shape == (9, 7, 32, 32)


def test_advection_diffusion_draws_again_where_the_target_needs_near_pure_advection():
    """As the advection weight nears 1 the solution blows up; such sources are replaced by new draws."""
    problem = get_problem("advection_diffusion")
    uncapped = problem.generate("pool", problem.settings({**SMALL, "max_advection_weight": 0.999999}), 2.0)
    capped = problem.generate("pool", problem.settings({**SMALL, "max_advection_weight": 0.8}), 2.0)
    redrawn = capped["draws"].values > 1
    assert redrawn.any() and (uncapped["advection_weight"].values > 0.8).sum() == redrawn.sum()
    assert (capped["advection_weight"].values <= 0.8).all()
    kept = ~redrawn  # a sample drawn once is the very sample the uncapped pool holds
    np.testing.assert_array_equal(capped["u"].values[kept], uncapped["u"].values[kept])
    with pytest.raises(ValueError, match="no source in 2 draws"):
        problem.generate("pool", problem.settings({**SMALL, "max_advection_weight": 0.01, "max_draws": 2}), 2.0)


def test_advection_ratio_grows_with_the_advection_weight():
    problem = get_problem("advection_diffusion")
    settings = problem.settings(SMALL)
    f = spectral.gaussian_bump_source(np.random.default_rng(3), 32, settings)
    diffusion = spectral.diffusion_symbol(32, spectral.diffusion_tensor(0.3, 2.0), 0.01)
    advection = spectral.advection_symbol(32, np.array([0.6, 0.8]))
    f_hat = np.fft.fft2(f)
    ratios = [spectral.advection_diffusion_ratio(f_hat, diffusion, advection, odds) for odds in np.logspace(-3, 3, 13)]
    assert all(a < b for a, b in zip(ratios, ratios[1:]))


@pytest.mark.parametrize("name, value", [("poisson", 4.0), ("advection_diffusion", 1.0), ("darcy", 4.0)])
def test_pools_are_prefix_stable_and_share_draws_across_difficulty(name, value):
    """The first n samples do not depend on pool_size, the test set on neither size; rows share sources."""
    problem = get_problem(name)
    small = problem.generate("pool", problem.settings({**SMALL, "pool_size": 3}), value)
    large = problem.generate("pool", problem.settings(SMALL), value)
    for split in ("train", "test"):
        first = problem.split(large, split, problem.split(small, split).sizes["sample"])
        np.testing.assert_array_equal(problem.split(small, split)["u"].values, first["u"].values)
    other = problem.generate("pool", problem.settings(SMALL), 2 * value)
    source = "grf" if name == "darcy" else "f"
    once = (other["draws"].values == 1) & (large["draws"].values == 1) if "draws" in other else slice(None)
    np.testing.assert_array_equal(other[source].values[once], large[source].values[once])
    assert not np.allclose(other["u"].values, large["u"].values)
    assert float(large[problem.difficulty_axis]) == value


def test_n_train_must_fit_in_the_pool():
    problem = get_problem("poisson")
    settings = problem.settings({"pool_size": 64})
    problem.validate_axis_value("n_train", 64, settings)
    for bad in (65, 0, 2.5):
        with pytest.raises(ValueError, match="pool_size = 64"):
            problem.validate_axis_value("n_train", bad, settings)
    with pytest.raises(ValueError, match="eig_ratio"):
        problem.validate_axis_value("eig_ratio", 0.5, settings)


# -- the FNO --------------------------------------------------------------------------------------------

def band_limited(n: int, channels: int) -> torch.Tensor:
    """A few Fourier modes with |k| <= 3, sampled on an n x n periodic grid: (1, channels, n, n)."""
    x = torch.arange(n, dtype=torch.float64) / n
    X, Y = torch.meshgrid(x, x, indexing="ij")
    fields = [torch.cos(2 * math.pi * (c + 1) * X) + torch.sin(2 * math.pi * (2 * X - 3 * Y + c / 7))
              for c in range(channels)]
    return torch.stack(fields)[None]


def fno(seed: int = 0, architecture: str = "fno", input_dim: int = 3, **settings) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model({"architecture": architecture, "width": 6, "modes": 4, **settings}, input_dim, 1)
    return model.double()


def test_fno_parameters_are_real_and_counted():
    model = fno(layers=2)
    assert all(not p.is_complex() for p in model.parameters())
    spectral_weights = 2 * 2 * 4 * 4 * 6 * 6 * 2  # layers x kx blocks x modes² x width² x (re, im)
    linear = (3 * 6 + 6) + 2 * (6 * 6 + 6) + (6 * 12 + 12) + (12 * 1 + 1)  # lift, skips, projection
    assert sum(p.numel() for p in model.parameters()) == spectral_weights + linear
    with torch.device("meta"):  # config validation builds models there
        build_model({"architecture": "pino", "width": 6, "modes": 4}, 3, 1)


def test_fno_is_translation_equivariant_on_the_periodic_grid():
    model, x = fno(), torch.randn(2, 3, 16, 16, dtype=torch.float64)
    shifted = model(torch.roll(x, shifts=(3, -5), dims=(2, 3)))
    torch.testing.assert_close(shifted, torch.roll(model(x), shifts=(3, -5), dims=(2, 3)))
    assert model(x).shape == (2, 1, 16, 16)


def test_fno_is_resolution_consistent_on_band_limited_inputs():
    """The spectral layers see the same Fourier coefficients at 16² and 32²: the learned operator is one
    function of the input function, so the coarse output is the fine output at the shared points."""
    model = fno(layers=1)
    spectral = model.spectral[0]
    coarse, fine = band_limited(16, 6), band_limited(32, 6)
    torch.testing.assert_close(spectral(coarse), spectral(fine)[:, :, ::2, ::2], atol=1e-12, rtol=0)


def test_spectral_convolution_ignores_modes_above_its_cutoff():
    model = fno()
    n = 16
    x = torch.arange(n, dtype=torch.float64) / n
    high = torch.cos(2 * math.pi * 5 * x)[:, None] * torch.ones(n, dtype=torch.float64)  # kx = 5 > 4 modes
    out = model.spectral[0](high[None, None].expand(1, 6, n, n))
    assert out.abs().max() < 1e-13
    with pytest.raises(ValueError, match="4 modes needs a grid"):
        model(torch.randn(1, 3, 6, 6, dtype=torch.float64))


def spectral_convolution_by_fft(conv: SpectralConv2d, x: torch.Tensor) -> torch.Tensor:
    """The layer's definition: rfft2, each kept mode's coefficients times its complex weight, irfft2."""
    nx, ny, m = x.shape[-2], x.shape[-1], conv.modes
    x_hat = torch.fft.rfft2(x)
    weight = torch.complex(conv.weight[..., 0], conv.weight[..., 1])
    out = torch.zeros(x.shape[0], weight.shape[-1], nx, ny // 2 + 1, dtype=x_hat.dtype)
    out[:, :, :m, :m] = torch.einsum("bixy,xyio->boxy", x_hat[:, :, :m, :m], weight[0])
    out[:, :, -m:, :m] = torch.einsum("bixy,xyio->boxy", x_hat[:, :, -m:, :m], weight[1])
    return torch.fft.irfft2(out, s=(nx, ny))


@pytest.mark.parametrize("nx, ny, modes", [(16, 16, 4), (16, 14, 8), (18, 16, 9), (15, 17, 7), (12, 9, 5)])
def test_spectral_convolution_is_its_fourier_definition(nx, ny, modes):
    """The layer's products with the Fourier bases give the FFT definition's numbers and gradients, also where
    it keeps the Nyquist frequency (ny/2 along y, nx/2 along x) and on odd grids."""
    torch.manual_seed(1)
    conv = SpectralConv2d(3, 5, modes).double()
    x = torch.randn(2, 3, nx, ny, dtype=torch.float64, requires_grad=True)
    out, expected = conv(x), spectral_convolution_by_fft(conv, x)
    torch.testing.assert_close(out, expected, atol=1e-14, rtol=0)
    direction = torch.randn_like(out)
    grads = torch.autograd.grad((out * direction).sum(), [x, conv.weight])
    expected_grads = torch.autograd.grad((expected * direction).sum(), [x, conv.weight])
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad, atol=1e-13, rtol=0)


def test_pino_output_vanishes_on_the_boundary():
    model = fno(architecture="pino")
    u = model(torch.randn(2, 3, 17, 17, dtype=torch.float64))[:, 0]
    for edge in (u[:, 0], u[:, -1], u[:, :, 0], u[:, :, -1]):
        assert edge.abs().max() == 0
    assert u[:, 1:-1, 1:-1].abs().min() > 0


def test_fno_loss_is_the_squared_error_summed_over_the_grid_per_sample():
    problem = get_problem("poisson")
    settings = problem.settings(SMALL)
    pool = problem.generate("pool", settings, 2.0)
    objective = problem.objective(settings, {"eig_ratio": 2.0, "n_train": 4}, {"pool": pool},
                                  fno(input_dim=4), torch.device("cpu"))
    train = problem.split(pool, "train", 4)
    with torch.no_grad():
        inputs = torch.as_tensor(problem.input_channels(train, settings))
        error = objective.model(inputs)[:, 0].numpy() - train["u"].values
        total, terms = objective.loss()
    assert set(terms) == {"data"}
    assert total.item() == pytest.approx((error**2).sum() / 4, rel=1e-12)
    test = problem.split(pool, "test")
    with torch.no_grad():
        prediction = objective.model(torch.as_tensor(problem.input_channels(test, settings)))[:, 0].numpy()
    errors = [np.linalg.norm(p - u) / np.linalg.norm(u) for p, u in zip(prediction, test["u"].values)]
    assert objective.test_error() == pytest.approx(np.mean(errors), rel=1e-12)


def test_adam_cosine_schedule_halves_the_second_step():
    """Adam's first updates have length ≈ lr; on a cosine schedule over 2 steps the second uses lr/2."""
    objective = Line()
    strategy = build_strategy({"method": "adam", "lr": 0.1, "steps": 2, "schedule": "cosine", "snapshots": 2})
    monitor = Monitor(objective, strategy.schedule())
    positions = []
    original = monitor.after_step
    monitor.after_step = lambda step, loss=None: positions.append(objective.model.theta.item()) or original(step, loss)
    strategy.run(objective, monitor)
    first, second = 5.0 - positions[0], positions[0] - positions[1]
    assert first == pytest.approx(0.1, rel=1e-6) and second == pytest.approx(0.05, rel=1e-3)
    with pytest.raises(ValueError, match="schedule"):
        build_strategy({"method": "adam", "schedule": "step"})


class Line(Objective):
    """loss = θ, θ0 = 5: a constant gradient, so Adam's step is its learning rate."""

    def __init__(self):
        model = torch.nn.Module()
        model.theta = torch.nn.Parameter(torch.tensor(5.0, dtype=torch.float64))
        super().__init__(model)

    def residuals(self):
        raise NotImplementedError("a linear loss is not a sum of squares")

    def loss(self):
        return self.model.theta * 1.0, {}

    def test_error(self) -> float:
        return 0.0


def test_fno_cell_trains_through_the_pipeline():
    from sciml.training.train import train_cell

    problem = get_problem("advection_diffusion")
    settings = {"resolution": 16, "pool_size": 8, "n_test": 4}
    pool = problem.generate("pool", problem.settings(settings), 0.5)
    spec = {"model": "fno", "problem": problem.name, "problem_settings": settings, "strategy": "adam",
            "model_settings": {"architecture": "fno", "width": 4, "modes": 3, "layers": 2},
            "strategy_settings": {"method": "adam", "lr": 0.01, "steps": 20, "snapshots": 2, "schedule": "cosine"},
            "axes": {"adv_ratio": 0.5, "n_train": 8}, "seeds": [0, 1]}
    ds = train_cell(spec, {"pool": pool}, torch.device("cpu"))
    history = ds["history_train_loss"].squeeze().values
    assert np.isfinite(history).all() and (history[:, -1] < 0.5 * history[:, 0]).all()
    assert ds["test_error"].shape == (1, 1, 2) and (ds["wall_time"] > 0).all()
    assert "loss_data" in ds


@pytest.mark.workflow
def test_fno_and_pino_studies_run_through_snakemake(workflow):
    """A tiny FNO study on two problems and a PINO study with two strategies, end to end."""
    adam = {"method": "adam", "lr": 0.01, "schedule": "cosine", "steps": 4, "snapshots": 2}
    tiny = {"resolution": 8, "pool_size": 4, "n_test": 2}
    thresholds = {"default": {"train_loss": 1.0, "test_error": 0.5}}
    workflow.write_config({
        "seeds": [0],
        "threads": 1,
        "models": {"fno": {"architecture": "fno", "width": 4, "modes": 3, "layers": 1},
                   "pino": {"architecture": "pino", "width": 4, "modes": 3, "layers": 1}},
        "problems": {"poisson": tiny, "advection_diffusion": tiny, "darcy": tiny},
        "strategies": {"adam": adam, "lbfgs": {"method": "lbfgs", "steps": 2, "max_iter": 3, "snapshots": 2},
                       "curriculum": {"method": "curriculum", "stages": 2, "stage_steps": 1, "final_steps": 1,
                                      "max_iter": 3, "snapshots": 2}},
        "studies": [
            {"model": "fno", "problem": "poisson", "strategies": ["adam"], "thresholds": thresholds,
             "axes": {"eig_ratio": [10], "n_train": [4]}},
            {"model": "fno", "problem": "advection_diffusion", "strategies": ["adam"], "thresholds": thresholds,
             "axes": {"adv_ratio": [0.5], "n_train": [4]}},
            {"model": "pino", "problem": "darcy", "strategies": ["lbfgs", "curriculum"], "thresholds": thresholds,
             "axes": {"contrast": [4], "n_train": [4]}},
        ],
    })
    workflow.snakemake("figures", timeout=1800)  # about a minute on 2 idle cores
    results = workflow.workdir / "results"
    for name in ("fno_poisson_adam", "fno_advection_diffusion_adam", "pino_darcy_lbfgs", "pino_darcy_curriculum"):
        assert (results / "figures" / "regimes" / f"{name}.png").stat().st_size > 10_000
    assert (results / "figures" / "across_problems" / "fno_adam.png").exists()
    pool = xr.load_dataset(results / "data" / "poisson" / "pool" / "eig_ratio=10.nc")
    assert pool.sizes["sample"] == 6 and pool.attrs["product"] == "pool"
    ds = xr.load_dataset(results / "regimes" / "pino" / "darcy" / "curriculum.nc")
    assert ds["regime"].shape == (1, 1) and int(ds["n_seeds_ok"].min()) == 1
    assert set(ds.data_vars) >= {"loss_data", "loss_pde", "wall_time"}
