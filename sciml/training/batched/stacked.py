"""Several parameter sets of one architecture evaluated at once.

A set of parameters is one flat vector in the order of ``module.parameters()`` (as :func:`sciml.training.params.flatten`
writes it); a stack of sets is a matrix with one row per set. :class:`StackedModel` evaluates the module with
every row at once through ``torch.func.functional_call`` under ``vmap``, so any architecture works without
a batched rewrite, and autograd through it gives each row the gradient of its own outputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.func import functional_call, vmap

from sciml.training.params import flatten


class ParameterLayout:
    """Names and shapes of a module's trainable parameters, in flat-vector order."""

    def __init__(self, module: torch.nn.Module):
        named = [(name, p) for name, p in module.named_parameters() if p.requires_grad]
        self.names = [name for name, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.sizes = [p.numel() for _, p in named]
        self.size = sum(self.sizes)

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """A flat vector (as seen inside ``vmap``: one row) as the module's named parameters (views)."""
        chunks = torch.split(flat, self.sizes)
        return {name: chunk.view(shape) for name, chunk, shape in zip(self.names, chunks, self.shapes)}


def stack_parameters(modules: Sequence[torch.nn.Module]) -> torch.Tensor:
    """One row per module: its flat parameter vector."""
    return torch.stack([flatten([p for p in m.parameters() if p.requires_grad]) for m in modules])


class StackedModel:
    """``module`` evaluated with each row of ``theta`` as its parameters: inputs of shape (rows, ...) give
    outputs of shape (rows, ...), row i computed with parameters ``theta[i]`` on ``inputs[i]``."""

    def __init__(self, module: torch.nn.Module, layout: ParameterLayout, theta: torch.Tensor):
        self.module = module
        self.layout = layout
        self.theta = theta

    def _one(self, row: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        return functional_call(self.module, self.layout.unflatten(row), (inputs,))

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.shape[0] != self.theta.shape[0]:
            raise ValueError(f"inputs have {inputs.shape[0]} rows along their first dimension, the stacked model "
                             f"{self.theta.shape[0]} parameter sets")
        return vmap(self._one)(self.theta, inputs)
