"""A small residual convolutional network for square single-channel images (the CV baseline, paper Figs. 5,
6, 14, 16): a 3x3 stem, ``blocks`` residual blocks (conv-activation-conv plus the identity), global average
pooling to a 2x2 grid (global pooling alone discards where strokes are, which digits need) and a linear
classifier. Inputs arrive flattened (side² pixels) like every model's inputs here."""

from __future__ import annotations

import math

import torch
from torch import nn

from sciml.models.mlp import ACTIVATIONS


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, activation: str):
        super().__init__()
        self.first = nn.Conv2d(channels, channels, 3, padding=1)
        self.second = nn.Conv2d(channels, channels, 3, padding=1)
        self.activation = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(x + self.second(self.activation(self.first(x))))


class ResNet(nn.Module):
    def __init__(self, input_dim: int, output_dim: int, channels: int = 8, blocks: int = 2,
                 activation: str = "relu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise KeyError(f"unknown activation {activation!r}; known: {sorted(ACTIVATIONS)}")
        self.side = math.isqrt(input_dim)
        if self.side**2 != input_dim:
            raise ValueError(f"resnet needs square images: {input_dim} inputs are not side² pixels")
        self.stem = nn.Conv2d(1, channels, 3, padding=1)
        self.activation = ACTIVATIONS[activation]()
        self.blocks = nn.Sequential(*(ResidualBlock(channels, activation) for _ in range(blocks)))
        self.head = nn.Linear(4 * channels, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        images = x.reshape(-1, 1, self.side, self.side)
        features = self.blocks(self.activation(self.stem(images)))
        return self.head(nn.functional.adaptive_avg_pool2d(features, 2).flatten(1))
