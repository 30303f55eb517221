"""Feature registry: one documented entry per output column.

Every feature group (``shape``, ``regional``, ``radiomics``, ...) describes each column it writes
with a :class:`FeatureSpec`.  The registry is what the ``features`` command, the Slicer table's
column descriptions and the model bundles (which record ``REGISTRY_VERSION`` and the exact column
list) rely on.

``pancancer-subtype registry`` prints it as CSV.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, Iterable, List, Optional

#: Bump when a column's name or meaning changes.  Model bundles record it.
REGISTRY_VERSION = "1.0"


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


_REGISTRY: Dict[str, FeatureSpec] = {}


def register(specs: Iterable[FeatureSpec]) -> None:
    """Add specs to the global registry (idempotent for identical specs)."""
    for s in specs:
        old = _REGISTRY.get(s.name)
        if old is not None and old != s:
            raise ValueError(f"feature {s.name!r} registered twice with different specs")
        _REGISTRY[s.name] = s


def get(name: str) -> Optional[FeatureSpec]:
    _load_groups()
    return _REGISTRY.get(name)


def all_specs(group: Optional[str] = None) -> List[FeatureSpec]:
    _load_groups()
    return [s for s in _REGISTRY.values() if group is None or s.group == group]


def to_frame(group: Optional[str] = None):
    import pandas as pd

    return pd.DataFrame([s.as_row() for s in all_specs(group)])


def _load_groups() -> None:
    # Importing the feature-group table registers every group's specs.
    from . import features  # noqa: F401  (side effect: registration)

    features.available_groups()
