"""One FNO/PINO training step (loss and gradient), the package's layers against the same network through FFTs.

    python benchmarks/fno_layers.py                 # the default study's shapes and paper scale, 7 steps each
    python benchmarks/fno_layers.py --repeats 15 --threads 2

The reference is the textbook FNO layer, written here: fields channel-last, ``rfft2``, the kept modes times
their complex weights, ``irfft2``, pointwise layers as ``nn.Linear`` (the package's layer until 2026-12-06).
Both run the same module's parameters on the same batch, alternating step for step in one process; reported
are median CPU milliseconds per step (``time.process_time``), their ratio, and the largest difference of the
outputs relative to their size.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sciml.models.fno import FNO, PINO  # noqa: E402

#: (label, class, width, modes, grid points per side, batch): the default study's operator cells (config/config.yaml:
#: FNO Poisson and advection-diffusion on 32², n_train 8 to 128; PINO Darcy on 32 nodes, n_train 4 to 64) and
#: the paper's FNO at 128² with 16 modes (config/paper.yaml)
CASES = [
    ("FNO, default study", FNO, 16, 8, 32, 8),
    ("FNO, default study", FNO, 16, 8, 32, 32),
    ("FNO, default study", FNO, 16, 8, 32, 128),
    ("PINO, default study", PINO, 8, 6, 32, 4),
    ("PINO, default study", PINO, 8, 6, 32, 16),
    ("PINO, default study", PINO, 8, 6, 32, 64),
    ("FNO, paper scale", FNO, 16, 16, 128, 8),
]


def spectral_by_fft(conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(sample, x, y, channel) -> (sample, x, y, channel) through rfft2 / irfft2."""
    _, nx, ny, _ = x.shape
    m = conv.modes
    x_hat = torch.fft.rfft2(x, dim=(1, 2))
    weight = torch.complex(conv.weight[..., 0], conv.weight[..., 1])
    out = torch.zeros(x.shape[0], nx, ny // 2 + 1, weight.shape[-1], dtype=x_hat.dtype)
    out[:, :m, :m] = torch.einsum("bxyi,xyio->bxyo", x_hat[:, :m, :m], weight[0])
    out[:, -m:, :m] = torch.einsum("bxyi,xyio->bxyo", x_hat[:, -m:, :m], weight[1])
    return torch.fft.irfft2(out, s=(nx, ny), dim=(1, 2))


def forward_by_fft(model: FNO, x: torch.Tensor) -> torch.Tensor:
    h = model.lift(x.permute(0, 2, 3, 1))
    for i, (spectral, skip) in enumerate(zip(model.spectral, model.skip)):
        h = spectral_by_fft(spectral, h) + skip(h)
        if i < len(model.spectral) - 1:
            h = nn.functional.gelu(h)
    out = model.project(h).permute(0, 3, 1, 2)
    if isinstance(model, PINO):
        n = x.shape[-1]
        grid = torch.linspace(0.0, 1.0, n, dtype=x.dtype)
        out = out * 16 * (grid * (1 - grid))[:, None] * (grid * (1 - grid))[None, :]
    return out


def step(model: FNO, forward, x: torch.Tensor, target: torch.Tensor) -> float:
    began = time.process_time()
    model.zero_grad()
    ((forward(x) - target) ** 2).sum().backward()
    return time.process_time() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{platform.node()}, {platform.machine()}, torch {torch.__version__}, {args.threads} thread(s), "
          f"float32, median of {args.repeats} steps")
    print("| network | width, modes | grid | batch | through FFTs (CPU ms) | package (CPU ms) | ratio | output difference |")
    print("|---|---|---|---:|---:|---:|---:|---|")
    for label, cls, width, modes, n, batch in CASES:
        torch.manual_seed(0)
        model = cls(3, 1, width=width, modes=modes, layers=4)
        x, target = torch.randn(batch, 3, n, n), torch.randn(batch, 1, n, n)
        with torch.no_grad():
            reference = forward_by_fft(model, x)
            difference = ((model(x) - reference).abs().max() / reference.abs().max()).item()
        variants = {"fft": lambda z: forward_by_fft(model, z), "package": model}
        for forward in variants.values():
            step(model, forward, x, target)  # first calls allocate
        times = {name: [] for name in variants}
        for _ in range(args.repeats):
            for name, forward in variants.items():
                times[name].append(step(model, forward, x, target))
        fft, package = (statistics.median(times[name]) * 1e3 for name in variants)
        print(f"| {label} | {width}, {modes} | {n}² | {batch} | {fft:.1f} | {package:.1f} | {fft / package:.2f} "
              f"| {difference:.1e} |")


if __name__ == "__main__":
    main()
