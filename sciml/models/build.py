"""Building a cell's network from its model settings: architecture, size, dtype and seeded initialisation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from sciml.models import ARCHITECTURES

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def build_model(settings: Mapping[str, Any], input_dim: int, output_dim: int) -> torch.nn.Module:
    """The network of ``settings`` (its ``architecture`` and that architecture's own settings; no dtype)."""
    settings = dict(settings)
    architecture = settings.pop("architecture")
    try:
        cls = ARCHITECTURES[architecture]
    except KeyError:
        raise KeyError(f"unknown architecture {architecture!r}; known: {sorted(ARCHITECTURES)}") from None
    return cls(input_dim=input_dim, output_dim=output_dim, **settings)


def seeded_model(model_settings: Mapping[str, Any], input_dim: int, output_dim: int, seed: int,
                 device: torch.device) -> torch.nn.Module:
    """A seed's initial network: the global generator seeded, then built, then moved to the device and dtype.
    Every training path builds its networks here, so a seed starts from the same parameters on each."""
    settings = dict(model_settings)
    dtype = DTYPES[settings.pop("dtype", "float32")]
    torch.manual_seed(seed)
    return build_model(settings, input_dim, output_dim).to(device=device, dtype=dtype)
