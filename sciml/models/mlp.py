"""Fully connected network: Xavier-normal weights, zero biases (the paper's PINN)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

ACTIVATIONS = {"tanh": nn.Tanh, "gelu": nn.GELU, "relu": nn.ReLU}


class MLP(nn.Module):
    def __init__(self, input_dim: int, output_dim: int, hidden: Sequence[int], activation: str = "tanh"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise KeyError(f"unknown activation {activation!r}; known: {sorted(ACTIVATIONS)}")
        if not all(isinstance(width, int) and not isinstance(width, bool) and width >= 1 for width in hidden):
            raise ValueError(f"hidden must be a list of layer widths, whole numbers >= 1; got {list(hidden)!r}")
        widths = [input_dim, *hidden, output_dim]
        layers: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
            linear = nn.Linear(fan_in, fan_out)
            nn.init.xavier_normal_(linear.weight)
            nn.init.zeros_(linear.bias)
            layers.append(linear)
            if i < len(widths) - 2:
                layers.append(ACTIVATIONS[activation]())
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
