"""Validation of the ``diagnostics:`` section: kinds, selections that name existing studies and grid cells,
settings over each kind's defaults. Every error names the key (see :func:`sciml.workflow.config.validate`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from numbers import Real
from typing import Any

from sciml.naming import canonical_number, format_number
from sciml.settings import merge_settings

FLAG_DEFAULTS = {"low_quantile": 0.25, "high_quantile": 0.75}
#: settings whose value must be one of a kind module's declared choices
CHOICES = {"snapshots": "SNAPSHOT_CHOICES", "optimizer": "OPTIMIZER_CHOICES"}
#: a kind module's settings (by name) that are off (null) or a fraction strictly between 0 and 1
FRACTIONS = "OPTIONAL_FRACTIONS"


def validate_diagnostics(config: dict, fail: Callable[[str, str], None]) -> None:
    """Fill in each diagnostic's settings and flags, and make its selections canonical, in place."""
    from sciml.diagnostic_jobs import KINDS

    studies = {(s["model"], s["problem"]): s for s in config["studies"]}
    for name, diagnostic in config.get("diagnostics", {}).items():
        key = f"diagnostics.{name}"
        kind = KINDS.get(diagnostic["kind"])
        if kind is None:
            fail(f"{key}.kind", f"unknown kind {diagnostic['kind']!r}; known kinds: {sorted(KINDS)}")
        try:
            settings = merge_settings(f"diagnostic {name!r}", kind.module.DEFAULTS, diagnostic.get("settings", {}))
        except (KeyError, TypeError) as error:
            fail(f"{key}.settings", error.args[0])
        _check_choices(settings, kind.module, f"{key}.settings", fail)
        diagnostic["settings"] = settings
        flags = {**FLAG_DEFAULTS, **diagnostic.get("flags", {})}
        if flags["low_quantile"] > flags["high_quantile"]:
            fail(f"{key}.flags", "low_quantile must not exceed high_quantile")
        diagnostic["flags"] = flags
        for i, selection in enumerate(diagnostic["select"]):
            _validate_selection(selection, kind.pairs, studies, f"{key}.select[{i}]", fail)


def _check_choices(settings: Mapping[str, Any], module, key: str, fail) -> None:
    for setting, attribute in CHOICES.items():
        allowed = getattr(module, attribute, None)
        if allowed is not None and settings[setting] not in allowed:
            fail(f"{key}.{setting}", f"must be one of {list(allowed)}, got {settings[setting]!r}")
    for setting in getattr(module, FRACTIONS, ()):
        value = settings[setting]
        # merge_settings checks no type against a None default, so the number check is here
        if value is not None and (isinstance(value, bool) or not isinstance(value, Real) or not 0 < value < 1):
            fail(f"{key}.{setting}", f"must be null (off) or a number strictly between 0 and 1, got {value!r}")
    allowed = getattr(module, "DIRECTION_CHOICES", None)
    if allowed is not None:
        unknown = [d for d in settings["directions"] if d not in allowed]
        if unknown or not settings["directions"]:
            fail(f"{key}.directions", f"must be a non-empty list of {list(allowed)}, got {settings['directions']!r}")


def _validate_selection(selection: dict, pairs: bool, studies: Mapping, key: str, fail) -> None:
    study = studies.get((selection["model"], selection["problem"]))
    if study is None:
        fail(key, f"no study trains model {selection['model']!r} on problem {selection['problem']!r}")
    for field in ("strategy", "versus"):
        if field in selection and selection[field] not in study["strategies"]:
            fail(f"{key}.{field}", f"{selection[field]!r} is not one of the study's strategies {study['strategies']}")
    if pairs and "versus" not in selection:
        fail(key, "this kind compares two strategies: name the second one with 'versus'")
    if not pairs and "versus" in selection:
        fail(f"{key}.versus", "only connectivity compares two strategies")
    if pairs and selection["versus"] == selection["strategy"]:
        fail(f"{key}.versus", "must differ from 'strategy'")
    axes = study["axes"]
    cells = []
    for j, cell in enumerate(selection.get("cells", [])):
        if set(cell) != set(axes):
            fail(f"{key}.cells[{j}]", f"must give exactly the study's axes {list(axes)}, got {sorted(cell)}")
        canonical = {axis: canonical_number(cell[axis]) for axis in axes}
        for axis, value in canonical.items():
            if value not in axes[axis]:
                fail(f"{key}.cells[{j}].{axis}", f"{format_number(value)} is not on the study's grid "
                     f"{[format_number(v) for v in axes[axis]]}")
        cells.append(canonical)
    selection["cells"] = cells
