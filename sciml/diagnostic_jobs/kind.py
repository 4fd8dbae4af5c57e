"""A diagnostic kind: its name in configs and the module whose ``run`` probes one cell (or a pair)."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Kind:
    name: str
    module: ModuleType
    #: whether a job compares two strategies' cells (selections then name a ``versus`` strategy)
    pairs: bool = False
