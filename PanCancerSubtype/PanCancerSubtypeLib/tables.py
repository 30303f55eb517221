"""Feature tables: which columns are features, reading tables, joining labels.

A *feature table* has one row per tumour (or patient) and one column per feature, as written by
``features`` / ``cohort-features`` (:mod:`.cohort`), by the Slicer Features panel, or by hand.
Every stage that reads one (discovery, the classifier, survival signatures, the Slicer panels)
uses the rules of this module, so a column is a feature for all of them or for none:

* **metadata** columns (:data:`METADATA_COLUMNS`: ``ID``, ``Image``, ``Mask``, ``Label``,
  ``Organ``, ``CancerType``, ``Modality``, ``OrganMask``, ``Segment``, ``case_id``) and the
  ``error`` column are never features;
* **diagnostic** columns (``diag_*``: timings, map quality, versions) are never features;
  those ending in ``_s`` are wall-clock **timings** in seconds (:func:`is_timing_column`): they
  change from run to run, so the feature CSVs leave them out and the provenance files keep them
  (a CSV is then byte-identical across workers, schedulers, reruns and resumes);
* every other **numeric** column is a feature; a text column that is not numbers is not.

A row whose ``error`` column is non-empty is a case whose extraction failed; readers exclude it
and report it.

Feature *families* (:func:`feature_family`) group the columns that measure one kind of thing:
the 255 SPHARM coefficient magnitudes, the 15 per-degree energies, the 15 entropies, the 3
normalised FOE scales, the 5 burden features (volume, radius, FOE scales in mm), the 20 regional
features, and for other tables the PyRadiomics class of a column (``original_glcm``) or its own
name.  Discovery gives every family the same total weight (:mod:`.preprocessing`), so a family
with many correlated columns does not outvote one with few.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from .errors import LabelTableError, ManifestError, UnreadableFileError

log = logging.getLogger(__name__)

#: metadata columns written before the features by the feature extraction, in this order
META_COLUMNS = ("ID", "Image", "Mask", "Label", "Organ", "CancerType", "Modality")
#: the column that records a failed extraction (empty when the case succeeded)
ERROR_COLUMN = "error"
#: columns that are never features even when numeric
METADATA_COLUMNS = META_COLUMNS + ("OrganMask", "Segment", "case_id", ERROR_COLUMN, "Error")
#: column-name prefixes that are never features (diagnostics)
DIAGNOSTIC_PREFIXES = ("diag_",)


#: (column-name prefix or exact name, family) for the feature groups of this package
FAMILY_RULES = (
    ("shape_coef_", "shape_coefficients"),
    ("shape_energy_", "shape_energy"),
    ("shape_entropy_", "shape_entropy"),
    ("shape_scale_norm_", "shape_scale"),
    ("shape_volume_mm3", "shape_burden"),
    ("shape_radius_mm", "shape_burden"),
    ("shape_scale_mm_", "shape_burden"),
    ("regional_", "regional"),
    ("deep_", "deep"),
)


def feature_family(name: Any) -> str:
    """The family of a feature column (see the module docstring): by :data:`FAMILY_RULES`, else
    the first two ``_``-separated parts of a name with at least three (PyRadiomics:
    ``original_glcm_Contrast`` -> ``original_glcm``; with an ROI / image prefix such as
    ``peri5mm_T1c_original_glcm_Contrast`` the class stays in the family name), else the name."""
    name = str(name)
    for prefix, family in FAMILY_RULES:
        if name.startswith(prefix):
            return family
    parts = name.split("_")
    for i, p in enumerate(parts[:-1]):
        if p in ("original", "wavelet", "log", "square", "squareroot", "logarithm",
                 "exponential", "gradient", "lbp") or p.startswith(("wavelet-", "log-sigma",
                                                                   "lbp-")):
            return "_".join(parts[: i + 2])
    return "_".join(parts[:2]) if len(parts) >= 3 else name


#: suffix of the diagnostic columns that hold wall-clock timings (seconds)
TIMING_SUFFIX = "_s"


def is_timing_column(name: Any) -> bool:
    """True for a diagnostic column holding a wall-clock timing (``diag_*_s``), e.g.
    ``diag_time_shape_s``, ``diag_shape_time_fit_s``, ``diag_regional_parenchyma_s``."""
    name = str(name)
    return name.startswith(DIAGNOSTIC_PREFIXES) and name.endswith(TIMING_SUFFIX)


def pop_timings(row: Dict[str, Any]) -> Dict[str, Any]:
    """Remove the timing columns from a feature row (in place); return them."""
    return {k: row.pop(k) for k in [k for k in row if is_timing_column(k)]}


def is_metadata_column(name: Any) -> bool:
    """True for metadata, error and diagnostic columns (never features, whatever their type)."""
    name = str(name)
    return name in METADATA_COLUMNS or name.startswith(DIAGNOSTIC_PREFIXES)


def is_numeric_column(s: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))


def is_feature_column(df: pd.DataFrame, name: Any, ignore: Iterable[str] = ()) -> bool:
    """True if column ``name`` of ``df`` is a feature: not metadata / diagnostic / ignored, and
    numeric (an all-missing column counts as numeric)."""
    if is_metadata_column(name) or str(name) in set(ignore):
        return False
    s = df[name]
    return is_numeric_column(s) or bool(s.isna().all())


def feature_columns(df: pd.DataFrame, ignore: Iterable[str] = ()) -> List[str]:
    """The feature columns of ``df``, in table order (see the module docstring)."""
    ignore = set(ignore)
    return [c for c in df.columns if is_feature_column(df, c, ignore)]


def failed_rows(df: pd.DataFrame) -> Dict[str, str]:
    """``{ID (or row number): error text}`` of the rows whose ``error`` column is non-empty."""
    out: Dict[str, str] = {}
    for ecol in (ERROR_COLUMN, "Error"):
        if ecol in df.columns:
            e = df[ecol]
            bad = e.notna() & (e.astype(str).str.strip() != "")
            for i, msg in e[bad].items():
                out[str(i)] = str(msg)
    return out


def row_label(s: pd.Series, position: int, row_name: str = "row") -> str:
    """Where a value of ``s`` is, for a message: ``"ID P007"`` when the series is indexed by
    its rows' IDs (``row_name``), else the row of the file as the manifests count them
    (``"row 9"``: the header is row 1) for a table read from a file (its integer index, rows
    dropped since or not)."""
    label = s.index[position]
    if row_name == "row" and pd.api.types.is_integer_dtype(s.index):
        return f"row {int(label) + 2}"
    return f"{row_name} {label}"


def to_float(s: pd.Series, source: Optional[str] = None, row_name: str = "row") -> np.ndarray:
    """A column as float64; text that is not a number raises
    :class:`~.errors.FeatureValueError` naming the column, the value and its row."""
    from .errors import FeatureValueError

    if is_numeric_column(s):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    conv = pd.to_numeric(s, errors="coerce")
    bad = conv.isna() & s.notna() & (s.astype(str).str.strip() != "")
    if bad.any():
        pos = int(bad.to_numpy().argmax())
        raise FeatureValueError(
            f"column {s.name!r} holds {int(bad.sum())} non-numeric value(s), e.g. "
            f"{s.iloc[pos]!r} ({row_label(s, pos, row_name)})", source=source)
    return conv.to_numpy(dtype=np.float64, na_value=np.nan)


def check_stray_text(s: pd.Series, source: Optional[str] = None, what: str = "column",
                     row_name: str = "row") -> None:
    """A text column whose values are numbers but for a few (at most half of its non-empty
    values are not numbers) is a numeric column with a typo ("n/a?", "unknown", "12,5"): raise
    :class:`~.errors.FeatureValueError` naming the column, the first such value and its row,
    rather than treat the column as text (left out of the features, or dummy-coded).  A column
    of text (no value a number) passes."""
    from .errors import FeatureValueError

    if is_numeric_column(s) or s.isna().all():
        return
    text = s.astype(str).str.strip()
    filled = s.notna() & (text != "")
    conv = pd.to_numeric(s.where(filled), errors="coerce")
    bad = filled & conv.isna()
    if bad.any() and int((filled & conv.notna()).sum()) >= int(bad.sum()):
        pos = int(bad.to_numpy().argmax())
        raise FeatureValueError(
            f"{what} {s.name!r} holds numbers and {int(bad.sum())} value(s) that are not, e.g. "
            f"{s.iloc[pos]!r} ({row_label(s, pos, row_name)}); correct or blank them",
            source=source)


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------
def read_table(path: Any, id_column: str = "ID") -> pd.DataFrame:
    """Read a CSV (or TSV: ``.tsv`` / ``.tab``) with the ID column as text, so ``007`` stays
    ``007``.  A missing file or one that is not a table raises
    :class:`~.errors.UnreadableFileError` naming it."""
    p = Path(path)
    if not p.is_file():
        raise UnreadableFileError("file not found", source=p)
    sep = "\t" if p.suffix.lower() in (".tsv", ".tab") else ","
    try:
        return pd.read_csv(p, sep=sep, dtype={id_column: str}, keep_default_na=True,
                           float_precision="round_trip")
    except (ValueError, UnicodeDecodeError) as exc:  # pandas parser errors, binary files
        raise UnreadableFileError(f"cannot be read as a table ({str(exc).splitlines()[0]})",
                                  source=p) from None


def read_feature_table(path: str, id_column: str = "ID",
                       ignore: Sequence[str] = ()) -> Tuple[pd.DataFrame, pd.DataFrame, Dict]:
    """Read an items x features CSV and split it into features and metadata.

    * ``id_column`` (default ``ID``) identifies the items (must exist and be unique);
    * rows with a non-empty ``error`` column (a failed case of the cohort runner) are excluded;
    * metadata / diagnostic columns, ``ignore`` and non-numeric columns are not features.

    Returns ``(features, meta, notes)``: ``features`` numeric DataFrame indexed by ID, ``meta``
    the other columns of the kept rows (same index), ``notes`` a dict with ``excluded``
    (ID -> error text), ``ignored_columns`` (column -> why).
    """
    if not Path(path).is_file():
        raise UnreadableFileError("feature table not found", source=path)
    try:
        # round_trip: each number is the correctly rounded double of its decimal text, as R's
        # read.csv gives it (pandas' default parser is off by one unit in the last place for
        # about half of 17-digit numbers, which breaks exact agreement with R)
        df = pd.read_csv(path, float_precision="round_trip")
    except (ValueError, UnicodeDecodeError) as exc:  # pandas parser errors, binary files
        raise UnreadableFileError(f"cannot read as CSV ({str(exc).splitlines()[0]})",
                                  source=path) from None
    return split_feature_table(df, id_column=id_column, ignore=ignore, source=str(path))


def split_feature_table(df: pd.DataFrame, id_column: str = "ID", ignore: Sequence[str] = (),
                        source: Optional[str] = None
                        ) -> Tuple[pd.DataFrame, pd.DataFrame, Dict]:
    """:func:`read_feature_table` for a DataFrame already in memory."""
    if id_column not in df.columns:
        raise ManifestError(f"no {id_column!r} column (columns: {list(df.columns)[:10]})",
                            source=source)
    ids = df[id_column].astype(str)
    dup = sorted(set(ids[ids.duplicated()]))
    if dup:
        raise ManifestError(f"duplicated {id_column} value(s): {dup[:10]}", source=source)
    df = df.copy()
    df.index = pd.Index(ids, name=id_column)
    excluded = failed_rows(df)
    df = df.loc[[i for i in df.index if i not in excluded]]
    ignored: Dict[str, str] = {}
    feats = []
    skip = set(ignore)
    for c in df.columns:
        name = str(c)
        if name == id_column:
            continue
        if name in skip or name in METADATA_COLUMNS:
            ignored[name] = "metadata"
        elif name.startswith(DIAGNOSTIC_PREFIXES):
            ignored[name] = "diagnostic"
        elif is_feature_column(df, c):
            feats.append(c)
        else:
            check_stray_text(df[c], source, row_name=id_column)
            ignored[name] = "non-numeric"
    if not feats:
        raise ManifestError("no numeric feature column", source=source)
    features = df[feats].astype(float)
    # a row without any feature value is left out as a failed case is (it was imputed
    # with the medians and given a subtype)
    empty = features.isna().all(axis=1).to_numpy()
    if empty.any():
        for i in features.index[empty]:
            excluded[str(i)] = "no feature value (every feature column is empty)"
        log.warning("%d row(s) without any feature value left out: %s", int(empty.sum()),
                    ", ".join(map(str, list(features.index[empty])[:10])))
        features, df = features[~empty], df[~empty]
    meta = df[[c for c in df.columns if c not in feats and c != id_column]]
    if features.shape[0] == 0:
        raise ManifestError("no row left after excluding failed cases", source=source)
    return features, meta, {"excluded": excluded, "ignored_columns": ignored}


# --------------------------------------------------------------------------------------------
# labels
# --------------------------------------------------------------------------------------------
def choose_label_column(labels: pd.DataFrame, label_column: Optional[str] = None,
                        id_column: str = "ID", source: Optional[str] = None) -> str:
    """The label column: as given, else the only non-ID column, else ``subtype``, else ``class``."""
    if label_column:
        if label_column not in labels.columns:
            raise LabelTableError(f"no column {label_column!r} (columns: "
                                  f"{list(labels.columns)})", source=source)
        return label_column
    others = [c for c in labels.columns if c != id_column]
    if len(others) == 1:
        return others[0]
    for c in ("subtype", "class"):
        if c in labels.columns:
            return c
    raise LabelTableError(f"cannot tell which column holds the labels among {others}; "
                          f"use --label-column", source=source)


def join_features_labels(features: pd.DataFrame, labels: pd.DataFrame,
                         label_column: Optional[str] = None, id_column: str = "ID",
                         features_source: Optional[str] = None,
                         labels_source: Optional[str] = None
                         ) -> Tuple[pd.DataFrame, pd.Series, Dict[str, Any]]:
    """Join a feature table and a labels table on the ID column.

    Returns ``(X, y, report)``: X the feature rows (ID kept, ignored as a feature), y the
    labels, and a report of IDs missing on either side, rows skipped for a feature-extraction
    ``error``, and rows without a label.
    """
    for tab, src in ((features, features_source), (labels, labels_source)):
        if id_column not in tab.columns:
            raise LabelTableError(f"no {id_column!r} column", source=src)
        ids = tab[id_column].astype(str)
        dup = sorted(set(ids[ids.duplicated()]))
        if dup:
            raise LabelTableError(f"duplicate IDs: {dup[:10]}", source=src)
    lab = choose_label_column(labels, label_column, id_column, labels_source)
    f = features.copy()
    f[id_column] = f[id_column].astype(str)
    la = labels[[id_column, lab]].copy()
    la[id_column] = la[id_column].astype(str)
    unlabelled = sorted(la.loc[la[lab].isna(), id_column])
    la = la[la[lab].notna()]
    if pd.api.types.is_float_dtype(la[lab]) and np.all(np.mod(la[lab], 1) == 0):
        la[lab] = la[lab].astype(np.int64)      # 1.0, 2.0 (a column with blanks) -> 1, 2
    if lab in f.columns and lab != id_column:
        log.warning("the feature table has a %r column; it is not used as a feature", lab)
        f = f.drop(columns=[lab])
    fid, lid = set(f[id_column]), set(la[id_column])
    only_features = sorted(fid - lid)
    only_labels = sorted(lid - fid)
    merged = f.merge(la.rename(columns={lab: "__label__"}), on=id_column, how="inner",
                     validate="one_to_one")
    errored: List[str] = []
    if ERROR_COLUMN in merged.columns:
        e = merged[ERROR_COLUMN].fillna("").astype(str).str.strip() != ""
        errored = sorted(merged.loc[e, id_column])
        merged = merged[~e]
    for what, ids in (("in the features but not in the labels (not used)", only_features),
                      ("in the labels but not in the features (not used)", only_labels),
                      ("without a label (not used)", unlabelled)):
        if ids:
            log.warning("%d ID(s) %s: %s", len(ids), what, ", ".join(ids[:10]))
    if errored:
        log.warning("%d row(s) skipped because feature extraction failed (error column): %s",
                    len(errored), ", ".join(errored[:10]))
    if merged.empty:
        raise LabelTableError("no ID is both in the features and (with a label, without an "
                              "error) in the labels", source=labels_source)
    y = merged.pop("__label__").reset_index(drop=True)
    X = merged.reset_index(drop=True)
    report = {"label_column": lab, "n_joined": int(len(X)),
              "ids_only_in_features": only_features, "ids_only_in_labels": only_labels,
              "ids_without_label": unlabelled, "ids_skipped_error": errored}
    return X, y, report
