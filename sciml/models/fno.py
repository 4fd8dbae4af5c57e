"""Fourier neural operator (Li et al., ICLR 2021) as the paper uses it (docs/PAPER.md §3), and the PINO variant.

Input (sample, channel, x, y) -> output (sample, out channel, x, y): a pointwise lift to ``width`` channels,
``layers`` Fourier layers (spectral convolution + pointwise skip, GELU between layers), a pointwise projection
width -> 2·width -> out with GELU. The spectral weights act on the lowest ``modes`` x ``modes`` frequencies of
both signs of kx (a real field's spectrum is symmetric, so ky >= 0 only) and are held as real tensors with a
trailing (real, imag) axis: every parameter is real, as the Hessian tools need, and the model can be built on
the meta device.

The network computes in real arithmetic, channel first, with matrix products only (docs/BENCHMARKS.md, "FNO"):

* a spectral convolution takes the few Fourier coefficients it keeps by products with the discrete Fourier
  basis of those frequencies (:func:`fourier_bases`), mixes channels, and sums the basis back: the numbers of
  ``irfft2(W · rfft2(x))`` on the kept modes, to float rounding. Through FFTs, each layer's backward pass
  transformed the whole zero-padded spectrum and every layer copied fields between channel-last and
  channel-first order; at the default study's sizes (32², 8 modes) the products take a fraction of that time;
* a pointwise layer is one batched matrix product over the channel axis (:func:`pointwise`), whose gradients
  keep the same memory order, so GELU's backward pass runs on contiguous fields.

PINO: the same network with its output multiplied by 16·x(1−x)·y(1−y) on the unit square's nodes
(x_i = i/(n−1)), which vanishes on the boundary: u = 0 there is built in, and scaled to 1 at the centre.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import nn


@functools.lru_cache(maxsize=32)
def fourier_bases(nx: int, ny: int, modes: int, dtype: torch.dtype, device: torch.device
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The discrete Fourier transforms onto the kept frequencies of an nx x ny grid and back, as real matrices.

    Kept: ky = 0 .. modes−1 and kx = 0 .. modes−1, nx−modes .. nx−1 (both signs). With angles
    a(k, n, N) = 2π k n / N, cosines C and sines S of them, and complex numbers as [real; imaginary] blocks:

    * ``forward_y`` (ny, 2·modes) = [C | −S]ᵀ: ``field @ forward_y`` is [re | im] of Σ_y field e^{−i a};
    * ``forward_x`` (2·2·modes, 2·nx) = [[C, S], [−S, C]]: Σ_x e^{−i a} g of a complex g given as [re; im] rows;
    * ``inverse_x`` (2·nx, 2·2·modes) = ``forward_x``ᵀ / nx: Σ_kx e^{+i a} c / nx, the inverse along x;
    * ``inverse_y`` (2·modes, ny) = [w C; −w S] / ny: the real inverse along y, Σ_ky w (re C − im S) / ny, with
      w = 1 for ky = 0 and the Nyquist frequency ny/2 (whose imaginary part a real inverse ignores) and 2 for
      the others (each stands for itself and its conjugate).

    Angles are reduced exactly (k·n mod N, in integers) and evaluated in float64, then cast.
    """
    def angles(frequencies: torch.Tensor, n: int) -> torch.Tensor:
        points = torch.arange(n, dtype=torch.int64)
        return 2 * math.pi * ((frequencies[:, None] * points[None, :]) % n).double() / n  # (frequency, point)

    ky = torch.arange(modes, dtype=torch.int64)
    kx = torch.cat([torch.arange(modes, dtype=torch.int64), torch.arange(nx - modes, nx, dtype=torch.int64)])
    along_y, along_x = angles(ky, ny), angles(kx, nx)
    cos_x, sin_x = along_x.cos(), along_x.sin()
    transform_y = torch.cat([along_y.cos(), -along_y.sin()])  # (2·modes, ny): [C; −S]
    weight_y = torch.where((ky == 0) | (2 * ky == ny), 1.0, 2.0).double().repeat(2)[:, None]
    forward_x = torch.cat([torch.cat([cos_x, sin_x], dim=1), torch.cat([-sin_x, cos_x], dim=1)])
    bases = (transform_y.T, forward_x, forward_x.T / nx, transform_y * weight_y / ny)
    return tuple(basis.to(dtype=dtype, device=device).contiguous() for basis in bases)


def pointwise(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """``layer`` applied to the channels of every grid point: (sample, in, x, y) -> (sample, out, x, y)."""
    batch, _, nx, ny = x.shape
    out_channels = layer.weight.shape[0]
    out = torch.baddbmm(layer.bias[None, :, None].expand(batch, out_channels, nx * ny),
                        layer.weight.expand(batch, *layer.weight.shape), x.reshape(batch, -1, nx * ny))
    return out.reshape(batch, out_channels, nx, ny)


class SpectralConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, modes: int):
        super().__init__()
        self.modes = modes
        scale = 1.0 / (in_channels * out_channels)
        # [kx block (non-negative, negative), kx, ky, in, out, (real, imag)]
        self.weight = nn.Parameter(scale * torch.rand(2, modes, modes, in_channels, out_channels, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(sample, in channel, x, y) -> (sample, out channel, x, y): ``irfft2(W · rfft2(x))`` on the kept modes."""
        batch, channels, nx, ny = x.shape
        m = self.modes
        if m > nx // 2 or m > ny // 2 + 1:
            raise ValueError(f"spectral convolution with {m} modes needs a grid of at least {2 * m} x {2 * m - 2} "
                             f"points, got {nx} x {ny}")
        forward_y, forward_x, inverse_x, inverse_y = fourier_bases(nx, ny, m, x.dtype, x.device)
        # Every transform is one matrix product over the whole batch: the axis it sums over leads (x, with the
        # real and imaginary parts it combines) or trails (y); the rest is one long axis. Permutations between them
        # copy fields of 2·modes (not ny) values per row.
        along_y = x.reshape(-1, ny) @ forward_y  # (sample·channel·x, [re | im] of ky)
        along_y = along_y.reshape(batch, channels, nx, 2, m).permute(3, 2, 0, 1, 4).reshape(2 * nx, -1)
        spectrum = forward_x @ along_y  # ([re; im] of kx, sample·channel·ky)
        # channel mixing per mode, as one real product: [re, im] (in) x [[Wr, Wi], [-Wi, Wr]] -> [re, im] (out)
        coefficients = spectrum.reshape(2, 2 * m, batch, channels, m).permute(1, 4, 2, 0, 3).reshape(2 * m * m, batch, -1)
        w_real, w_imag = self.weight[..., 0], self.weight[..., 1]
        mixing = torch.cat([torch.cat([w_real, w_imag], dim=-1), torch.cat([-w_imag, w_real], dim=-1)], dim=-2)
        mixed = torch.bmm(coefficients, mixing.reshape(2 * m * m, 2 * channels, -1))  # (mode, sample, [re, im] out)
        out_channels = mixed.shape[-1] // 2
        mixed = mixed.reshape(2 * m, m, batch, 2, out_channels).permute(3, 0, 2, 4, 1).reshape(4 * m, -1)
        along_x = inverse_x @ mixed  # ([re; im] of x, sample·channel·ky)
        along_x = along_x.reshape(2, nx, batch, out_channels, m).permute(2, 3, 1, 0, 4).reshape(-1, 2 * m)
        return (along_x @ inverse_y).reshape(batch, out_channels, nx, ny)


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
        x = pointwise(self.lift, x)
        for i, (spectral, skip) in enumerate(zip(self.spectral, self.skip)):
            x = spectral(x) + pointwise(skip, x)
            if i < len(self.spectral) - 1:
                x = nn.functional.gelu(x)
        first, activation, last = self.project
        return pointwise(last, activation(pointwise(first, x)))


class PINO(FNO):
    """FNO whose output vanishes on the boundary of the unit square (zero Dirichlet data built in)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nx, ny = x.shape[-2:]
        gx = torch.linspace(0.0, 1.0, nx, dtype=x.dtype, device=x.device)
        gy = torch.linspace(0.0, 1.0, ny, dtype=x.dtype, device=x.device)
        vanishing = 16 * (gx * (1 - gx))[:, None] * (gy * (1 - gy))[None, :]
        return super().forward(x) * vanishing
