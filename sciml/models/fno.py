"""Fourier neural operator (Li et al., ICLR 2021) as the paper uses it (docs/PAPER.md §3), and the PINO variant.

Input (sample, channel, x, y) -> output (sample, out channel, x, y): a pointwise lift to ``width`` channels,
``layers`` Fourier layers (spectral convolution + pointwise skip, GELU between layers), a pointwise projection
width -> 2·width -> out with GELU. Inside, fields are channel-last (sample, x, y, channel), so every pointwise
layer is one matrix product (several times faster on CPU than 1x1 convolutions). The spectral weights act on
the lowest ``modes`` x ``modes`` frequencies of both signs of kx (the rfft keeps ky >= 0 only) and are held as
real tensors with a trailing (real, imag) axis: every parameter is real, as the Hessian tools need, and the
model can be built on the meta device.

PINO: the same network with its output multiplied by 16·x(1−x)·y(1−y) on the unit square's nodes
(x_i = i/(n−1)), which vanishes on the boundary: u = 0 there is built in, and scaled to 1 at the centre.
"""

from __future__ import annotations

import torch
from torch import nn


class SpectralConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, modes: int):
        super().__init__()
        self.modes = modes
        scale = 1.0 / (in_channels * out_channels)
        # [kx block (non-negative, negative), kx, ky, in, out, (real, imag)]
        self.weight = nn.Parameter(scale * torch.rand(2, modes, modes, in_channels, out_channels, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(sample, x, y, in channel) -> (sample, x, y, out channel)."""
        batch, nx, ny, _ = x.shape
        m = self.modes
        if m > nx // 2 or m > ny // 2 + 1:
            raise ValueError(f"spectral convolution with {m} modes needs a grid of at least {2 * m} x {2 * m - 2} "
                             f"points, got {nx} x {ny}")
        x_hat = torch.fft.rfft2(x, dim=(1, 2))
        # torch.complex, not view_as_complex: the view's double backward (Hessian-vector products) fails on
        # slices whose storage offset is odd
        weight = torch.complex(self.weight[..., 0], self.weight[..., 1])
        out = torch.zeros(batch, nx, ny // 2 + 1, weight.shape[-1], dtype=x_hat.dtype, device=x.device)
        out[:, :m, :m] = torch.einsum("bxyi,xyio->bxyo", x_hat[:, :m, :m], weight[0])
        out[:, -m:, :m] = torch.einsum("bxyi,xyio->bxyo", x_hat[:, -m:, :m], weight[1])
        return torch.fft.irfft2(out, s=(nx, ny), dim=(1, 2))


class FNO(nn.Module):
    def __init__(self, input_dim: int, output_dim: int, width: int = 16, modes: int = 16, layers: int = 4):
        super().__init__()
        if width < 1 or modes < 1 or layers < 1:
            raise ValueError(f"FNO needs width, modes and layers >= 1, got {width}, {modes}, {layers}")
        self.lift = nn.Linear(input_dim, width)
        self.spectral = nn.ModuleList(SpectralConv2d(width, width, modes) for _ in range(layers))
        self.skip = nn.ModuleList(nn.Linear(width, width) for _ in range(layers))
        self.project = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, output_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lift(x.permute(0, 2, 3, 1))
        for i, (spectral, skip) in enumerate(zip(self.spectral, self.skip)):
            x = spectral(x) + skip(x)
            if i < len(self.spectral) - 1:
                x = nn.functional.gelu(x)
        return self.project(x).permute(0, 3, 1, 2)


class PINO(FNO):
    """FNO whose output vanishes on the boundary of the unit square (zero Dirichlet data built in)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nx, ny = x.shape[-2:]
        gx = torch.linspace(0.0, 1.0, nx, dtype=x.dtype, device=x.device)
        gy = torch.linspace(0.0, 1.0, ny, dtype=x.dtype, device=x.device)
        vanishing = 16 * (gx * (1 - gx))[:, None] * (gy * (1 - gy))[None, :]
        return super().forward(x) * vanishing
