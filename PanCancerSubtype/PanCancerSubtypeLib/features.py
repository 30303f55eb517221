"""Feature groups and single-case feature extraction.

A *feature group* is a class with

* ``name`` (``"shape"``, ``"regional"``, ``"radiomics"``) and column ``prefix``;
* ``__init__(**options)`` taking the group's options (e.g. ``mode="robust"``);
* ``specs() -> list[FeatureSpec]``: the columns it writes, documented (see :mod:`.registry`);
* ``compute(case: Case) -> dict[str, float]``: the values for one case, keys = ``specs()`` names
  (a group may add diagnostic columns starting with ``diag_<group>_`` that are not features);
* ``options() -> dict``: the effective options, recorded in output files.

Groups are looked up lazily in :data:`GROUPS` so that importing this module stays cheap.
"""
from __future__ import annotations

import importlib
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

from .errors import PanCancerSubtypeError

#: group name -> "module:Class" (module relative to this package)
GROUPS: Dict[str, str] = {
    "shape": "shape:ShapeFeatures",
    "regional": "heterogeneity:RegionalFeatures",
    "radiomics": "radiomics:RadiomicsFeatures",
}

#: groups computed when none are named: the paper's 313 cross-modality features + PyRadiomics
DEFAULT_GROUPS = ("shape", "regional", "radiomics")
#: the paper's cross-modality feature set (293 shape + 20 regional)
CROSS_MODALITY_GROUPS = ("shape", "regional")

#: metadata columns written before the features, in this order
META_COLUMNS = ("ID", "Image", "Mask", "Label", "Organ", "CancerType", "Modality")


@dataclass
class Case:
    """One tumour: image, binary tumour mask on the image grid, optional parenchyma mask.

    ``image`` is a 3D SimpleITK image (float32), ``mask`` a 3D uint8 SimpleITK image with values
    0/1 on exactly the image's grid, ``organ_mask`` likewise or ``None``.
    """

    case_id: str
    image: Any
    mask: Any
    organ_mask: Any = None
    modality: Optional[str] = None        # "CT" or "MR"
    organ: Optional[str] = None           # "lung", "breast", "brain", ...
    cancer_type: Optional[str] = None
    image_path: Optional[str] = None
    mask_path: Optional[str] = None
    label: Optional[str] = None           # the label selection as given, e.g. "1" or "1,3,4"
    meta: Dict[str, Any] = field(default_factory=dict)
    _cache: Dict[str, Any] = field(default_factory=dict, repr=False)

    # -- convenience accessors (arrays are z, y, x as SimpleITK returns them) --
    @property
    def spacing(self):
        """Voxel spacing (x, y, z) in mm."""
        return tuple(self.image.GetSpacing())

    def image_array(self):
        if "image" not in self._cache:
            import SimpleITK as sitk

            self._cache["image"] = sitk.GetArrayViewFromImage(self.image)
        return self._cache["image"]

    def mask_array(self):
        if "mask" not in self._cache:
            import SimpleITK as sitk

            self._cache["mask"] = sitk.GetArrayViewFromImage(self.mask).astype(bool)
        return self._cache["mask"]

    def organ_mask_array(self):
        if self.organ_mask is None:
            return None
        if "organ" not in self._cache:
            import SimpleITK as sitk

            self._cache["organ"] = sitk.GetArrayViewFromImage(self.organ_mask).astype(bool)
        return self._cache["organ"]


def get_group_class(name: str):
    """Return the class of feature group ``name`` (imports its module)."""
    try:
        target = GROUPS[name]
    except KeyError:
        raise ValueError(f"unknown feature group {name!r}; known: {sorted(GROUPS)}") from None
    mod_name, cls_name = target.split(":")
    mod = importlib.import_module(f"{__package__}.{mod_name}")
    return getattr(mod, cls_name)


def available_groups() -> List[str]:
    """Groups whose implementation is importable in this installation (registers their specs)."""
    from .registry import register

    out = []
    for name in GROUPS:
        try:
            cls = get_group_class(name)
        except (ImportError, AttributeError):
            continue
        try:
            register(cls().specs())
        except Exception:  # a group whose optional dependency is missing
            continue
        out.append(name)
    return out


def parse_groups(groups) -> List[str]:
    """``"shape,regional"`` / ``["shape"]`` / ``"all"`` / ``"cross"`` / None -> list of names."""
    if groups is None:
        return list(DEFAULT_GROUPS)
    if isinstance(groups, str):
        groups = [g.strip() for g in groups.split(",") if g.strip()]
    out: List[str] = []
    for g in groups:
        if g == "all":
            out.extend(DEFAULT_GROUPS)
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
            if on_error == "raise":
                raise
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            errors.append(f"{g.name}: {case.case_id}: {last}")
            values = {s.name: float("nan") for s in g.specs()}
        row.update(values)
        row[f"diag_time_{g.name}_s"] = round(time.perf_counter() - t0, 4)
    row["error"] = " | ".join(errors) if errors else ""
    return row
