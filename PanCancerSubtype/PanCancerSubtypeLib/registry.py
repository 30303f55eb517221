"""Feature registry: the feature groups, and one documented entry per output column.

Feature groups
--------------
A *feature group* is a subclass of :class:`FeatureGroup` in its own module (pyradiomics' feature
classes are the model): it names itself (``name``, column ``prefix``), takes its options in
``__init__``, documents every column it writes (``specs()`` -> :class:`FeatureSpec`), and computes
them for one :class:`~PanCancerSubtypeLib.case.Case` (``compute``).  :data:`GROUPS` maps each group
name to its ``module:Class``; modules are imported when a group is first used, so importing the
registry stays cheap.  A group whose module cannot be imported because an optional dependency is
missing (PyRadiomics for ``radiomics``) is *unavailable*: :func:`group_status` says why and which
extra installs it, the ``registry`` command prints that, and asking for the group raises an error
that says so.  Any other failure while loading a group is a bug and is raised, never skipped.

Columns
-------
Every column is described by a :class:`FeatureSpec`.  The registry is what the ``features``
command, the Slicer table's column descriptions and the model bundles (which record
``REGISTRY_VERSION`` and the exact column list) rely on; ``pancancer-subtype registry`` prints it.
"""
from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Tuple

from .errors import MissingDependencyError
from .extras import install_command, module_available

#: Bump when a column's name or meaning changes.  Model bundles record it.
REGISTRY_VERSION = "1.0"

#: group name -> "module:Class" (module relative to this package)
GROUPS: Dict[str, str] = {
    "shape": "shape:ShapeFeatures",
    "regional": "heterogeneity:RegionalFeatures",
    "radiomics": "radiomics:RadiomicsFeatures",
    "peritumoural": "radiomics:PeritumouralFeatures",
    "deep": "deep.features:DeepFeatures",
}
#: groups computed when none are named: the paper's 313 cross-modality features + PyRadiomics
DEFAULT_GROUPS = ("shape", "regional", "radiomics")
#: the paper's cross-modality feature set (293 shape + 20 regional)
CROSS_MODALITY_GROUPS = ("shape", "regional")


@dataclass(frozen=True)
class FeatureSpec:
    name: str                      #: column name, e.g. ``shape_energy_l3``
    group: str                     #: feature group, e.g. ``shape``
    description: str               #: one line, for people
    formula: str = ""              #: how it is computed (plain text / LaTeX-ish)
    unit: str = ""                 #: ``mm``, ``mm3``, ``""`` for dimensionless
    invariances: str = ""          #: e.g. ``translation, rotation, scale``
    extra: Dict[str, str] = field(default_factory=dict)

    def as_row(self) -> Dict[str, str]:
        row = asdict(self)
        row.pop("extra")
        row.update(self.extra)
        return row


class FeatureGroup:
    """Base class of the feature groups.

    Subclasses set ``name`` and ``prefix`` and implement :meth:`specs` and :meth:`compute`
    (and :meth:`options` when they take options).  ``compute`` returns the values keyed by the
    ``specs()`` names; it may add diagnostic columns ``diag_<group>_*`` that are not features.
    """

    #: group name used on the command line (``--groups``)
    name: str = ""
    #: prefix of every feature column the group writes
    prefix: str = ""
    #: top-level modules of optional dependencies the group needs (checked before it is used)
    requires: Tuple[str, ...] = ()

    def options(self) -> Dict[str, Any]:
        """The effective options, recorded in output files."""
        return {}

    def specs(self) -> List[FeatureSpec]:  # pragma: no cover - abstract
        raise NotImplementedError

    def compute(self, case) -> Dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def feature_names(self) -> List[str]:
        return [s.name for s in self.specs()]


class GroupUnavailableError(MissingDependencyError):
    """A feature group needs an optional dependency that is not installed (an ``ImportError``;
    the command line prints it in one line and exits with 2)."""


#: which pip extra installs the dependency of a group
GROUP_EXTRAS = {"radiomics": "radiomics", "peritumoural": "radiomics", "deep": "deep"}


def get_group_class(name: str):
    """Return the class of feature group ``name`` (imports its module).

    Raises ``ValueError`` for an unknown name and :class:`GroupUnavailableError` when the group's
    optional dependency is missing (the message names the extra that installs it).
    """
    try:
        target = GROUPS[name]
    except KeyError:
        raise ValueError(f"unknown feature group {name!r}; known: {sorted(GROUPS)}") from None
    mod_name, cls_name = target.split(":")
    extra = GROUP_EXTRAS.get(name)
    hint = f"; install the '{extra}' extra: {install_command(extra)}" if extra else ""
    try:
        mod = importlib.import_module(f"{__package__}.{mod_name}")
    except ImportError as exc:
        raise GroupUnavailableError(f"feature group {name!r} is unavailable: {exc}{hint}",
                                    extra=extra) from exc
    cls = getattr(mod, cls_name)
    if not (isinstance(cls, type) and issubclass(cls, FeatureGroup)):
        raise TypeError(f"{target} is not a FeatureGroup subclass")
    missing = [m for m in cls.requires if not module_available(m)]
    if missing:
        raise GroupUnavailableError(f"feature group {name!r} is unavailable: it needs "
                                    f"{', '.join(missing)}, which "
                                    f"{'is' if len(missing) == 1 else 'are'} not installed{hint}",
                                    extra=extra)
    return cls


def group_status() -> Dict[str, str]:
    """``{group: "available" | reason it is unavailable}`` for every group of :data:`GROUPS`."""
    out = {}
    for name in GROUPS:
        try:
            _register_group(name)
            out[name] = "available"
        except GroupUnavailableError as exc:
            out[name] = str(exc)
    return out


def available_groups() -> List[str]:
    """Groups whose implementation (and optional dependency) is installed."""
    return [g for g, st in group_status().items() if st == "available"]


# --------------------------------------------------------------------------------------------
# column registry
# --------------------------------------------------------------------------------------------
_REGISTRY: Dict[str, FeatureSpec] = {}
_REGISTERED_GROUPS: set = set()


def register(specs: Iterable[FeatureSpec]) -> None:
    """Add specs to the registry (idempotent for identical specs)."""
    for s in specs:
        old = _REGISTRY.get(s.name)
        if old is not None and old != s:
            raise ValueError(f"feature {s.name!r} registered twice with different specs")
        _REGISTRY[s.name] = s


def _register_group(name: str) -> None:
    if name in _REGISTERED_GROUPS:
        return
    register(get_group_class(name)().specs())
    _REGISTERED_GROUPS.add(name)


def _load_groups() -> None:
    for name in GROUPS:
        try:
            _register_group(name)
        except GroupUnavailableError:
            continue  # reported by group_status() / the registry command


def get(name: str) -> Optional[FeatureSpec]:
    _load_groups()
    return _REGISTRY.get(name)


def all_specs(group: Optional[str] = None) -> List[FeatureSpec]:
    if group is not None and group in GROUPS:
        _register_group(group)        # an unavailable group raises, saying why
    else:
        _load_groups()
    return [s for s in _REGISTRY.values() if group is None or s.group == group]


def to_frame(group: Optional[str] = None):
    import pandas as pd

    return pd.DataFrame([s.as_row() for s in all_specs(group)])
