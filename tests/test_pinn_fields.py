"""The PINN residuals' input derivatives (sciml.problems.pinn.input_fields) against the textbook's, in float64.

The objective takes every first derivative from one backward pass; the textbook differentiates once per input.
Both must give the same residual terms, loss gradient and Hessian-vector products on all four PINN problems,
for a plain and a seed-stacked network.
"""

from __future__ import annotations

import pytest
import torch

from sciml.problems.pinn import _predict, derivative, input_fields
from sciml.training.batched.stacked import ParameterLayout, StackedModel, stack_parameters

from support import small_pinn_objective

F64 = torch.float64
PROBLEMS = ["convection", "reaction", "wave", "reaction_diffusion"]


def textbook_fields(model, x, t, names):
    """One autograd call per derivative, as the PINN literature writes it."""
    x, t = x.detach().requires_grad_(True), t.detach().requires_grad_(True)
    u = _predict(model, x, t)
    fields = {"u": u}
    for axis, leaf in (("x", x), ("t", t)):
        if f"u_{axis}" in names or f"u_{axis}{axis}" in names:
            fields[f"u_{axis}"] = derivative(u, leaf)
            fields[f"u_{axis}{axis}"] = derivative(fields[f"u_{axis}"], leaf)
    return {name: fields[name] for name in ("u", *names)}


def loss_grad_hvp(obj):
    total, _ = obj.loss()
    params = list(obj.parameters())
    grad = torch.cat([g.reshape(-1) for g in torch.autograd.grad(total, params, create_graph=True)])
    direction = torch.linspace(-1.0, 1.0, grad.numel(), dtype=F64)
    hvp = torch.cat([h.reshape(-1) for h in torch.autograd.grad(grad @ direction, params)])
    return {name: value.detach() for name, value in obj.residuals().items()}, total.detach(), grad.detach(), hvp


@pytest.mark.parametrize("name", PROBLEMS)
def test_residuals_gradient_and_hessian_equal_the_textbook(name, monkeypatch):
    import sciml.problems.pinn as pinn

    ours = loss_grad_hvp(small_pinn_objective(name))
    monkeypatch.setattr(pinn, "input_fields", textbook_fields)
    textbook = loss_grad_hvp(small_pinn_objective(name))
    assert ours[0].keys() == textbook[0].keys()
    for term in ours[0]:
        torch.testing.assert_close(ours[0][term], textbook[0][term], rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(ours[1], textbook[1], rtol=1e-13, atol=0)
    torch.testing.assert_close(ours[2], textbook[2], rtol=1e-11, atol=1e-13)
    torch.testing.assert_close(ours[3], textbook[3], rtol=1e-10, atol=1e-12)


def test_a_seed_stacked_network_gets_each_rows_own_derivatives():
    objs = [small_pinn_objective("wave", seed) for seed in (0, 1, 2)]
    stacked = StackedModel(objs[0].model, ParameterLayout(objs[0].model), stack_parameters([o.model for o in objs]))
    x, t = objs[0].collocation
    names = ("u_t", "u_x", "u_xx", "u_tt")
    together = input_fields(stacked, x.expand(3, -1).clone(), t.expand(3, -1).clone(), names)
    for row, o in enumerate(objs):
        alone = textbook_fields(o.model, x, t, names)
        for field in ("u", *names):
            torch.testing.assert_close(together[field][row], alone[field], rtol=1e-12, atol=1e-12)


def test_only_known_fields_are_computed():
    obj = small_pinn_objective("reaction")
    x, t = obj.collocation
    assert set(input_fields(obj.model, x, t, ("u_t",))) == {"u", "u_t"}
    assert set(input_fields(obj.model, x, t, ())) == {"u"}
    with pytest.raises(KeyError, match="unknown PINN fields"):
        input_fields(obj.model, x, t, ("u_xt",))
