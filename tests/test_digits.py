"""The CV baseline: scikit-learn's digits split, label noise, the small ResNet and its objective."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sciml.models.build import build_model
from sciml.problems import get_problem

pytestmark = pytest.mark.usefixtures("one_thread")

PROBLEM = get_problem("digits")
SETTINGS = PROBLEM.settings({})


def test_split_is_nested_disjoint_and_reproducible():
    small, large = (PROBLEM.generate("train", SETTINGS, n) for n in (50, 300))
    test = PROBLEM.generate("test", SETTINGS, 0.2)
    np.testing.assert_array_equal(small["image"].values, large["image"].values[:50])  # larger sets contain smaller
    assert test.sizes["sample"] == 1797 - SETTINGS["pool"]
    # pool and test set partition the dataset: together they are every image exactly once
    from sklearn.datasets import load_digits

    pool = PROBLEM.generate("train", SETTINGS, SETTINGS["pool"])["image"].values
    together = np.concatenate([pool, test["image"].values])
    np.testing.assert_array_equal(np.unique(together, axis=0, return_counts=True)[1],
                                  np.unique(load_digits().data / 16.0, axis=0, return_counts=True)[1])
    assert 0 <= large["image"].values.min() and large["image"].values.max() <= 1
    np.testing.assert_array_equal(PROBLEM.generate("test", SETTINGS, 0.4)["label"], test["label"])


def test_label_noise_flips_the_stated_share_to_other_classes():
    labels = PROBLEM.generate("train", SETTINGS, 400)["label"].values
    noisy = PROBLEM.noisy_labels(labels, 0.25, SETTINGS)
    assert (noisy != labels).sum() == 100
    assert noisy.min() >= 0 and noisy.max() <= 9
    np.testing.assert_array_equal(PROBLEM.noisy_labels(labels, 0.0, SETTINGS), labels)
    np.testing.assert_array_equal(PROBLEM.noisy_labels(labels, 0.25, SETTINGS), noisy)


def test_objective_is_cross_entropy_and_error_rate_and_batches():
    data = {"train": PROBLEM.generate("train", SETTINGS, 64), "test": PROBLEM.generate("test", SETTINGS, 0.5)}
    torch.manual_seed(0)
    model = build_model({"architecture": "resnet", "channels": 4, "blocks": 1}, 64, 10).double()
    objective = PROBLEM.objective(SETTINGS, {"label_noise": 0.5, "n_train": 64}, data, model, torch.device("cpu"))
    images = torch.as_tensor(data["train"]["image"].values)
    labels = PROBLEM.noisy_labels(data["train"]["label"].values, 0.5, SETTINGS)
    logits = model(images)
    expected = -torch.log_softmax(logits, 1)[torch.arange(64), torch.as_tensor(labels)].mean()
    assert float(objective.loss()[0].detach()) == pytest.approx(float(expected.detach()), rel=1e-12)
    with objective.minibatch(torch.tensor([3, 3, 7])):
        part = -torch.log_softmax(logits, 1)[[3, 3, 7], torch.as_tensor(labels)[[3, 3, 7]]].mean()
        assert float(objective.loss()[0].detach()) == pytest.approx(float(part.detach()), rel=1e-12)
    assert float(objective.loss()[0].detach()) == pytest.approx(float(expected.detach()), rel=1e-12)  # the batch is undone
    predicted = model(torch.as_tensor(data["test"]["image"].values)).argmax(1).numpy()
    assert objective.test_error() == pytest.approx(np.mean(predicted != data["test"]["label"].values))


def test_resnet_refuses_non_square_inputs():
    with pytest.raises(ValueError, match="square"):
        build_model({"architecture": "resnet"}, 60, 10)


def test_cv_cells_go_through_regimes_diagnostics_and_figures(tmp_path):
    """Train two tiny CV cells, label them, run curvature on them and draw both maps (files only)."""
    from sciml.diagnostic_jobs.combine import combine_diagnostic
    from sciml.diagnostic_jobs.run import run_diagnostic
    from sciml.figures import FIGURES
    from sciml.results.regimes import build_regime_dataset
    from sciml.results.store import write_netcdf
    from sciml.training.train import train_cell

    cells, diagnostics = [], []
    settings = {"snapshots": "last", "seeds": [], "lanczos_steps": 5, "power_iterations": 5, "trace_samples": 3,
                "tol": 1e-3, "probe_seed": 0, "trace_target_rel_error": None}
    for noise in (0.0, 0.5):
        axes = {"label_noise": noise, "n_train": 40}
        data = {"train": PROBLEM.generate("train", SETTINGS, 40), "test": PROBLEM.generate("test", SETTINGS, noise)}
        spec = {"model": "cnn", "model_settings": {"architecture": "resnet", "channels": 2, "blocks": 1},
                "problem": "digits", "problem_settings": {}, "strategy": "adam",
                "strategy_settings": {"method": "adam", "lr": 1e-2, "steps": 5, "snapshots": 2},
                "axes": axes, "seeds": [0]}
        cell = train_cell(spec, data, torch.device("cpu"))
        cells.append(tmp_path / f"cell{noise}.nc")
        write_netcdf(cell, cells[-1])
        job = {"diagnostic": "c", "kind": "curvature", "settings": settings, "axes": axes}
        diagnostics.append(tmp_path / f"curv{noise}.nc")
        write_netcdf(run_diagnostic(job, [("cell", cell)], data, torch.device("cpu")), diagnostics[-1])
    regimes = build_regime_dataset(cells, {"model": "cnn", "problem": "digits", "strategy": "adam",
                                           "axes": ["label_noise", "n_train"], "smoothing_sigma": 0.7,
                                           "thresholds": {"train_loss": 0.05, "test_error": 0.1}})
    combined = combine_diagnostic(diagnostics, regimes, {"diagnostic": "c", "kind": "curvature", "model": "cnn",
                                                         "problem": "digits", "strategy": "adam",
                                                         "axes": ["label_noise", "n_train"],
                                                         "flags": {"low_quantile": 0.25, "high_quantile": 0.75}})
    assert np.isfinite(combined["lambda_max_mean"]).all()
    FIGURES["regime_map"]([regimes], {}, tmp_path / "regimes")
    FIGURES["curvature_map"]([combined], {}, tmp_path / "curvature")
    assert (tmp_path / "regimes.png").stat().st_size > 0 and (tmp_path / "curvature.pdf").stat().st_size > 0
