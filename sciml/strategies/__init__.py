"""Strategy registry: the ``method`` names configs may use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sciml.strategies.adam import Adam
from sciml.strategies.adam_lbfgs import AdamLBFGS
from sciml.strategies.alm import ALM
from sciml.strategies.base import Strategy
from sciml.strategies.curriculum import Curriculum
from sciml.strategies.lbfgs import LBFGS
from sciml.strategies.nncg import NNCG
from sciml.strategies.ropinn import RoPINN

METHODS: dict[str, type[Strategy]] = {
    cls.method: cls for cls in (LBFGS, Adam, AdamLBFGS, NNCG, ALM, Curriculum, RoPINN)
}


def build_strategy(settings: Mapping[str, Any]) -> Strategy:
    method = settings.get("method")
    try:
        cls = METHODS[method]
    except KeyError:
        raise KeyError(f"unknown strategy method {method!r}; known methods: {sorted(METHODS)}") from None
    return cls(settings)
