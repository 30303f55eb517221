"""Feature extraction for one case: the facade every caller uses.

:func:`extract_features` computes the named feature groups (see :mod:`.registry` for what a group
is and which exist) on one :class:`~PanCancerSubtypeLib.case.Case` and returns one table row:
the metadata columns (:data:`PanCancerSubtypeLib.tables.META_COLUMNS`), each group's features,
a ``diag_time_<group>_s`` timing per group and an ``error`` column.  :func:`parse_groups` reads
``--groups`` (``"shape,regional"``, ``"cross"`` = the paper's 313 features, ``"all"``).

``"all"`` (and ``None``) means every *installed* group: a group whose optional dependency is
missing (``radiomics`` without PyRadiomics) is left out and reported through ``skipped``, so that
the base install computes the 313 cross-modality features; a group named explicitly must be
installed (:class:`~.registry.GroupUnavailableError` names the extra otherwise).
"""
from __future__ import annotations

import time
import traceback
from typing import Any, Dict, List, Mapping, MutableMapping, Optional, Sequence

from .case import Case
from .errors import PanCancerSubtypeError, raise_if_interrupted
from .registry import (CROSS_MODALITY_GROUPS, DEFAULT_GROUPS, GROUPS,  # noqa: F401  (public here)
                       GroupUnavailableError, available_groups, get_group_class)


def parse_groups(groups, skipped: Optional[MutableMapping[str, str]] = None) -> List[str]:
    """``"shape,regional"`` / ``["shape"]`` / ``"all"`` / ``"cross"`` / None -> list of names.

    ``"all"`` / None: the installed groups of :data:`DEFAULT_GROUPS`; each one left out is added
    to ``skipped`` (when given) as ``{name: why}``.
    """
    if groups is None:
        groups = ["all"]
    if isinstance(groups, str):
        groups = [g.strip() for g in groups.split(",") if g.strip()]
    out: List[str] = []
    for g in groups:
        if g == "all":
            for name in DEFAULT_GROUPS:
                try:
                    get_group_class(name)
                except GroupUnavailableError as exc:
                    if skipped is not None:
                        skipped[name] = str(exc)
                    continue
                out.append(name)
        elif g in ("cross", "cross-modality", "paper"):
            out.extend(CROSS_MODALITY_GROUPS)
        elif g in GROUPS:
            out.append(g)
        else:
            raise ValueError(f"unknown feature group {g!r}; known: {sorted(GROUPS)} (or all, cross)")
    return list(dict.fromkeys(out))


def make_groups(groups=None, group_options: Optional[Mapping[str, Mapping[str, Any]]] = None):
    """Instantiate the named groups with their options."""
    group_options = group_options or {}
    return [get_group_class(g)(**dict(group_options.get(g, {}))) for g in parse_groups(groups)]


def extract_features(case: Case, groups=None, group_options=None, on_error: str = "raise",
                     instances: Optional[Sequence[Any]] = None) -> Dict[str, Any]:
    """Compute the feature groups for one case.

    Returns an ordered dict: metadata columns, then each group's features.  With
    ``on_error="record"`` a failing group leaves its columns empty and its message is appended to
    the ``error`` column (the other groups' values are kept); with ``"raise"`` the error propagates.
    Timing per group is recorded in ``diag_time_<group>_s``.
    """
    if on_error not in ("raise", "record"):
        raise ValueError("on_error must be 'raise' or 'record'")
    insts = list(instances) if instances is not None else make_groups(groups, group_options)
    row: Dict[str, Any] = {
        "ID": case.case_id,
        "Image": case.image_path,
        "Mask": case.mask_path,
        "Label": case.label,
        "Organ": case.organ,
        "CancerType": case.cancer_type,
        "Modality": case.modality,
    }
    errors: List[str] = []
    for g in insts:
        t0 = time.perf_counter()
        try:
            values = g.compute(case)
        except PanCancerSubtypeError as exc:
            if on_error == "raise":
                raise
            errors.append(f"{g.name}: {type(exc).__name__}: {exc}")
            values = {s.name: float("nan") for s in g.specs()}
        except Exception as exc:  # unexpected: keep the traceback's last line for the record
            raise_if_interrupted(exc)
            if on_error == "raise":
                raise
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            errors.append(f"{g.name}: {case.case_id}: {last}")
            values = {s.name: float("nan") for s in g.specs()}
        row.update(values)
        row[f"diag_time_{g.name}_s"] = round(time.perf_counter() - t0, 4)
    row["error"] = " | ".join(errors) if errors else ""
    return row
