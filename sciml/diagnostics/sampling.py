"""Seeded random probe vectors, so every stochastic estimate can be reproduced from one integer."""

from __future__ import annotations

import torch

#: an integer seed, or a generator the caller already owns (its state advances)
Seed = int | torch.Generator


def make_generator(seed: Seed) -> torch.Generator:
    """A CPU generator: probes are drawn on the CPU so results do not depend on the device's RNG."""
    if isinstance(seed, torch.Generator):
        return seed
    return torch.Generator().manual_seed(int(seed))


def rademacher(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Independent ±1 entries, float64."""
    signs = torch.randint(0, 2, shape, generator=generator, dtype=torch.int64)
    return (2 * signs - 1).to(device=device, dtype=torch.float64)
