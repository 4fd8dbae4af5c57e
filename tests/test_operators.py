"""Operator-learning data: every spectral solution satisfies its discrete PDE; pools are reproducible."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sciml.problems import get_problem
from sciml.problems import spectral

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
        assert 0.5 <= ratio <= 1.0 and 0 < weight < 1 and 1 <= float(sample["eigenvalue"]) <= 5
    assert problem.input_channels(pool, settings).shape == (9, 7, 32, 32)


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
    np.testing.assert_array_equal(other[source].values, large[source].values)
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
