"""The compiled loss (``compile: true``, sciml.training.compiled) and the functional PINN loss it is built on.

The functional fields and loss must equal the autograd ones on all four PINN problems; the compiled loss must
give the gradient of each objective it was built for, and a cell trained with it must follow the cell trained
without it (float64, where the two differ only in rounding the compiler's fused loops order differently).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.func import grad_and_value

from sciml.problems.pinn import FIELDS, functional_fields, input_fields
from sciml.strategies import build_strategy
from sciml.strategies.base import total_loss
from sciml.training.objective import Unsupported
from sciml.training.train import train_cell

from support import Quadratic, cell_spec, convection_data, small_pinn_objective

PROBLEMS = ["convection", "reaction", "wave", "reaction_diffusion"]
needs_compiler = pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                                    reason="torch.compile's CPU code needs a C++ compiler")


def parameters_of(objective) -> tuple[torch.Tensor, ...]:
    return tuple(p.detach() for p in objective.parameters())


@pytest.mark.parametrize("name", PROBLEMS)
def test_functional_fields_equal_the_autograd_fields(name):
    obj = small_pinn_objective(name)
    x, t = obj.collocation
    derivatives = FIELDS[1:]
    autograd = input_fields(obj.model, x, t, derivatives)
    functional = functional_fields(lambda points: obj.model(points).squeeze(-1), x, t, derivatives)
    assert functional.keys() == autograd.keys()
    for field in autograd:
        torch.testing.assert_close(functional[field], autograd[field], rtol=1e-13, atol=1e-13)
    only_u = functional_fields(lambda points: obj.model(points).squeeze(-1), x, t, ())
    assert set(only_u) == {"u"}
    with pytest.raises(KeyError, match="unknown PINN fields"):
        functional_fields(lambda points: obj.model(points).squeeze(-1), x, t, ("u_xt",))


@pytest.mark.parametrize("name", PROBLEMS)
def test_functional_loss_gives_the_objectives_loss_terms_and_gradient(name):
    obj = small_pinn_objective(name)
    total, components = obj.loss()
    gradient = torch.autograd.grad(total, obj.parameters())
    functional_gradient, (functional_total, functional_components) = grad_and_value(
        obj.functional_loss(), has_aux=True)(parameters_of(obj))
    torch.testing.assert_close(functional_total, total.detach(), rtol=1e-13, atol=0)
    assert functional_components.keys() == components.keys()
    for term in components:
        torch.testing.assert_close(functional_components[term], components[term].detach(), rtol=1e-13, atol=0)
    for ours, theirs in zip(functional_gradient, gradient):
        torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-14)


def test_objectives_without_a_functional_loss_say_so():
    with pytest.raises(Unsupported, match="Quadratic does not support functional evaluation"):
        Quadratic(np.eye(21)).functional_loss()
    with pytest.raises(Unsupported, match="functional evaluation"):
        total_loss(Quadratic(np.eye(21)), compiled=True)


@pytest.mark.parametrize("settings, message", [
    ({"method": "alm", "compile": True}, "supported by the methods adam, lbfgs and adam_lbfgs only"),
    ({"method": "lbfgs", "compile": "yes"}, "setting 'compile' must be a boolean"),
])
def test_compile_settings_are_checked(settings, message):
    with pytest.raises((ValueError, TypeError), match=message):
        build_strategy(settings)


@needs_compiler
def test_compiled_loss_gives_each_objectives_own_loss_and_gradient():
    """Two problems and two coefficients in one process: the compiled code reads each objective's own data and
    coefficient, and one objective compiles once for all its phases."""
    for name, coefficient in (("wave", 2.0), ("wave", 3.0), ("reaction", 4.0)):
        obj = small_pinn_objective(name, coefficient)
        compiled = total_loss(obj, compiled=True)
        assert total_loss(obj, compiled=True) is compiled
        value = compiled()
        value.backward()
        gradient = [p.grad.clone() for p in obj.parameters()]
        for p in obj.parameters():
            p.grad = None
        total, _ = obj.loss()
        torch.testing.assert_close(value.detach(), total.detach(), rtol=1e-12, atol=0)
        for ours, theirs in zip(gradient, torch.autograd.grad(total, obj.parameters())):
            torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-13)


@needs_compiler
@pytest.mark.parametrize("batch_seeds", [False, True], ids=["one by one", "seeds together"])
def test_a_cell_trained_compiled_follows_the_cell_trained_without(batch_seeds):
    """Adam then L-BFGS with its line search, in float64: the compiled cell records what the uncompiled one does.
    Seeds together, the line searches evaluate changing subsets of the seeds (the compiled rows' dynamic shape)."""
    data = convection_data(5.0, 48)[1]
    strategy = {"method": "adam_lbfgs", "adam_steps": 4, "lbfgs_steps": 3, "max_iter": 10, "batch_seeds": batch_seeds}

    def train(compile_loss: bool):
        spec = {**cell_spec(5.0, 48, {**strategy, "compile": compile_loss}, seeds=(0, 1, 2)),
                "model_settings": {"architecture": "mlp", "hidden": [20, 20], "activation": "tanh", "dtype": "float64"}}
        return train_cell(spec, data, torch.device("cpu"))

    compiled, uncompiled = train(True), train(False)
    assert compiled.attrs["seed_batching"] == ("together" if batch_seeds else "one by one")
    np.testing.assert_array_equal(compiled["status"].values, uncompiled["status"].values)
    for name, variable in uncompiled.data_vars.items():
        if name != "wall_time" and variable.dtype.kind == "f":
            np.testing.assert_allclose(compiled[name].values, variable.values, rtol=1e-8, atol=1e-12, err_msg=name)


def test_without_a_cpp_compiler_the_error_says_what_to_do(tmp_path):
    """A machine without a C++ compiler (here: CXX names none, and torch's compile cache is empty, so nothing
    compiled earlier is reused) gets one message naming the objective, the cause and compile: false."""
    script = ("from support import small_pinn_objective\n"
              "from sciml.strategies.base import total_loss\n"
              "total_loss(small_pinn_objective('reaction'), compiled=True)()\n")
    env = {**os.environ, "CXX": str(tmp_path / "no-such-c++"), "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode != 0
    assert "CompiledLossError: compile: true could not compile the loss of PINNObjective" in run.stderr
    assert "No working C++ compiler" in run.stderr and "set compile: false" in run.stderr
