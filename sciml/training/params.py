"""Parameters as one flat vector: how trained models are stored and rebuilt."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def flatten(parameters: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in parameters])


@torch.no_grad()
def assign(parameters: Sequence[torch.Tensor], flat: torch.Tensor) -> None:
    """Copy a flat vector into the parameters, in place."""
    total = sum(p.numel() for p in parameters)
    if flat.numel() != total:
        raise ValueError(f"flat vector has {flat.numel()} entries, the parameters {total}")
    offset = 0
    for p in parameters:
        p.copy_(flat[offset : offset + p.numel()].view_as(p))
        offset += p.numel()
