"""Merge user settings over defaults, rejecting unknown keys and wrong types with a clear message."""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real
from typing import Any


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, Real):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "list"
    return type(value).__name__


def merge_settings(owner: str, defaults: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """``defaults`` updated by ``given``; ``owner`` names what the settings belong to in error messages.

    A value must have the type of its default. This catches YAML's reading of ``1e-3`` as a string.
    """
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise KeyError(f"{owner} has no setting(s) {unknown}; known settings: {sorted(defaults)}")
    for key, value in given.items():
        expected, got = _type_name(defaults[key]), _type_name(value)
        if defaults[key] is not None and expected != got:
            hint = " (YAML reads 1e-3 as a string: write 1.0e-3)" if got == "string" and expected == "number" else ""
            raise TypeError(f"{owner}: setting {key!r} must be a {expected}, got {value!r}{hint}")
    return {**defaults, **given}
