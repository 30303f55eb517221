"""The manifests of a cohort run, read and checked before any work: a manifest of cases with
their masks (:func:`read_manifest`) and a manifest of clicks (:func:`read_click_manifest`);
the columns are described in :mod:`PanCancerSubtypeLib.cohort`."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Dict, List, Mapping, Optional

import pandas as pd

from ..errors import ManifestError, format_numbers

log = logging.getLogger(__name__)
_WARNED_ENCODING: set = set()     # (a manifest is read more than once per run: one warning)

_ALIASES = {
    "id": "ID", "case_id": "ID", "case": "ID", "patientid": "ID",
    "image": "Image", "mask": "Mask", "label": "Label", "tumour_labels": "Label",
    "tumor_labels": "Label", "organ": "Organ", "cancertype": "CancerType", "cancer_type": "CancerType",
    "modality": "Modality", "organmask": "OrganMask", "organ_mask": "OrganMask",
    "organlabel": "OrganLabel", "organ_label": "OrganLabel",
}
_ORGAN_BY_CANCER = {"lung": "lung", "nsclc": "lung", "breast": "breast", "brain": "brain",
                    "gbm": "brain", "glioblastoma": "brain", "glioma": "brain"}


def read_manifest_csv(path, what: str = "manifest") -> pd.DataFrame:
    """A manifest file as a table of strings (empty cells ``""``), unvalidated: the one reading
    rule of every manifest (cohort, paired, multi-image).  A missing, binary or unparsable file
    raises :class:`~.errors.ManifestError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{what} file does not exist", source=path)
    try:
        try:
            return _without_blank_rows(pd.read_csv(path, dtype=str, keep_default_na=False,
                                                   skip_blank_lines=False))
        except UnicodeDecodeError:
            # a text file in another encoding (Excel's "CSV (Comma delimited)" on Windows writes
            # Windows-1252), not a binary one (NUL bytes)
            with open(path, "rb") as fh:
                head = fh.read(65536)
            if b"\0" in head:
                raise ManifestError("is not a text (CSV) file", source=path) from None
            try:
                df = _without_blank_rows(pd.read_csv(path, dtype=str, keep_default_na=False,
                                                     encoding="cp1252", skip_blank_lines=False))
            except UnicodeDecodeError:
                raise ManifestError("is not a text (CSV) file: neither UTF-8 nor Windows-1252 "
                                    "text", source=path) from None
            if str(path) not in _WARNED_ENCODING:
                _WARNED_ENCODING.add(str(path))
                log.warning("%s: not UTF-8 text; read as Windows-1252 (Excel's CSV on Windows): "
                            "save it as \"CSV UTF-8\" to be sure of its accents", path)
            return df
    except (ValueError, OSError) as exc:  # pandas parser errors, an empty file
        raise ManifestError(f"cannot be read as a CSV table "
                            f"({' '.join(str(exc).split())[:200]})", source=path) from None


def _without_blank_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The table without its empty lines, each row keeping its index: row ``i`` is line
    ``i + 2`` of the file, which the messages name (pandas' own skipping renumbered the rows
    after a blank line: 'row 3' for line 5)."""
    df = df.fillna("")
    blank = df.apply(lambda c: c.astype(str).str.strip() == "").all(axis=1)
    return df[~blank]


def read_manifest(path, base_dir: Optional[str] = None) -> pd.DataFrame:
    """Read and validate a manifest (see module doc); returns columns ID, Image, Mask, Label,
    Organ, CancerType, Modality, OrganMask, OrganLabel with absolute paths."""
    path = Path(path)
    df = read_manifest_csv(path)
    return normalise_manifest(df, base_dir or path.parent, source=str(path))


def canonical_column(name: str) -> str:
    """The manifest column a header names (``case_id``, ``Case``, ``PatientID`` -> ``ID``;
    ``organ mask`` -> ``OrganMask``; others as written, stripped)."""
    key = str(name).strip()
    return _ALIASES.get(key.lower().replace(" ", ""), key)


def normalise_manifest(df: pd.DataFrame, base_dir=".", source: str = "manifest") -> pd.DataFrame:
    ren = {c: canonical_column(c) for c in df.columns}
    named = [c for c in df.columns if ren[c] == "ID"]
    if len(named) > 1:
        raise ManifestError(f"columns {named} all name the case ID: keep one", source=source)
    df = df.rename(columns=ren)
    missing = [c for c in ("Image", "Mask") if c not in df.columns]
    if missing:
        raise ManifestError(f"missing required column(s) {missing} (have {list(df.columns)})",
                            source=source)
    if len(df) == 0:
        raise ManifestError("has no cases (a header but no rows)", source=source)
    df = df.copy()
    for c in ("ID", "Label", "Organ", "CancerType", "Modality", "OrganMask", "OrganLabel"):
        if c not in df.columns:
            df[c] = ""
    df = df.fillna("")
    for c in ("ID", "Image", "Mask", "Label", "Organ", "CancerType", "Modality", "OrganMask",
              "OrganLabel"):
        df[c] = [str(v).strip() for v in df[c]]      # (", x.nii.gz" typed after a comma)
    base = Path(base_dir)
    for c in ("Image", "Mask", "OrganMask"):
        df[c] = [str((base / v).resolve()) if v and not os.path.isabs(v) else v for v in df[c]]
    empty = df.index[(df["Image"] == "") | (df["Mask"] == "")].tolist()
    if empty:
        raise ManifestError(f"rows {[i + 2 for i in empty]} have an empty Image or Mask", source=source)
    from ..io import case_id_from_path

    df["ID"] = [i if i else case_id_from_path(im) for i, im in zip(df["ID"], df["Image"])]
    dup = df["ID"][df["ID"].duplicated()].unique().tolist()
    if dup:
        raise ManifestError(f"duplicate IDs {dup[:10]}; give each case a unique ID", source=source)
    df["Organ"] = [o if o else _ORGAN_BY_CANCER.get(ct.lower(), "") for o, ct in
                   zip(df["Organ"], df["CancerType"])]
    return df.reset_index(drop=True)


_CLICK_ALIASES = {"seed": "Seed", "seeds": "Seed", "box": "Box", "bbox": "Box",
                  "background": "Background", "secondchannel": "SecondChannel",
                  "second_channel": "SecondChannel", "appearance": "Appearance"}
#: the click manifest's own columns (beside ``ID``, ``Image`` and the feature manifest's)
CLICK_COLUMNS = ("Seed", "Box", "Background", "SecondChannel", "Appearance")
#: the columns of ``segmentation.csv``, in order
SEGMENTATION_COLUMNS = ("ID", "Image", "Mask", "Label", "Modality", "CancerType", "Organ",
                        "OrganMask", "OrganLabel") + CLICK_COLUMNS + (
    "model", "confidence", "needs_check", "volume_ml", "warnings", "snapshot", "error")


def _click_column(name: str) -> str:
    """A click manifest's column name as read (the feature manifest's aliases and its own)."""
    return {**_ALIASES, **_CLICK_ALIASES}.get(name.strip().lower().replace(" ", ""), name.strip())


def cases_to_check(table: pd.DataFrame) -> List[str]:
    """The IDs of ``segmentation.csv``'s cases whose result needs checking (``needs_check``)."""
    return table["ID"][table["needs_check"] == "True"].tolist()


def parse_points(text: str, n: int = 3) -> List[tuple]:
    """Points written ``x,y,z`` (``n`` numbers each), several separated by ``;``: a list of
    tuples of floats; ValueError saying what is wrong."""
    import math

    out = []
    for part in [t for t in str(text).split(";") if t.strip()]:
        try:
            vals = tuple(float(v) for v in part.split(","))
        except ValueError:
            raise ValueError(f"{part.strip()!r} is not {n} comma-separated numbers") from None
        if len(vals) != n or not all(math.isfinite(v) for v in vals):
            raise ValueError(f"{part.strip()!r} is not {n} comma-separated finite numbers")
        out.append(vals)
    return out


def click_inputs(row: Mapping[str, str]):
    """Seeds, box and background points of a click-manifest row (:func:`parse_points`).  (This
    module imports segmentation's modules, not its package, whose training imports this one.)"""
    box = parse_points(row.get("Box", ""), 6)
    return (parse_points(row["Seed"]), box[0] if box else None,
            parse_points(row.get("Background", "")))


def read_click_manifest(path, base_dir: Optional[str] = None) -> pd.DataFrame:
    """Read and check a click manifest (see the module doc): every value that needs no image,
    before any work; a :class:`~.errors.ManifestError` names the file, the row (its line in the
    file) and the column.  Returns the columns of :data:`SEGMENTATION_COLUMNS` up to
    ``Appearance`` (``Mask`` empty, paths absolute) as strings."""
    from ..io import case_id_from_path
    from ..segmentation.click import MODELS   # (the modules, not the package: see click_inputs)

    path = Path(path)
    df = read_manifest_csv(path, "click manifest")
    df = df.rename(columns={c: _click_column(c) for c in df.columns})
    missing = [c for c in ("Image", "Seed") if c not in df.columns]
    if missing:
        raise ManifestError(f"missing required column(s) {missing} (have {list(df.columns)}); a "
                            f"click manifest needs Image and Seed (x,y,z in LPS mm)", source=path)
    if len(df) == 0:
        raise ManifestError("has no cases (a header but no rows)", source=path)
    df = df.fillna("").copy()
    for c in SEGMENTATION_COLUMNS[:SEGMENTATION_COLUMNS.index("Appearance") + 1]:
        if c not in df.columns:
            df[c] = ""
    for i, row in zip(df.index, df.to_dict("records")):     # (i + 2: the file's line)
        def bad(column, problem):
            return ManifestError(f"row {i + 2}, column {column}: {problem}", source=path)

        if not row["Image"].strip():
            raise bad("Image", "empty")
        try:
            seeds = parse_points(row["Seed"])
        except ValueError as exc:
            raise bad("Seed", f"{exc} (x,y,z in LPS mm; several seeds separated by ';')") from None
        if not seeds:
            raise bad("Seed", "empty: give at least one point x,y,z inside the tumour (LPS mm)")
        try:
            box = parse_points(row["Box"], 6)
        except ValueError as exc:
            raise bad("Box", f"{exc} (x0,y0,z0,x1,y1,z1: two opposite corners, LPS mm)") from None
        if len(box) > 1:
            raise bad("Box", "one box per case")
        if box and not all(box[0][k] < box[0][k + 3] for k in range(3)):
            raise bad("Box", f"expected x0,y0,z0,x1,y1,z1 with x0 < x1, y0 < y1 and z0 < z1, got "
                             f"{row['Box']!r}")
        for k, pt in enumerate(seeds):
            if box and any(not box[0][j] <= pt[j] <= box[0][j + 3] for j in range(3)):
                raise bad("Box", f"seed number {k + 1} {format_numbers(pt)} lies outside the "
                                 f"box")
        try:
            parse_points(row["Background"])
        except ValueError as exc:
            raise bad("Background", f"{exc} (points x,y,z separated by ';')") from None
        modality = row["Modality"].strip().upper()
        if modality not in ("", "CT", "MR"):
            raise bad("Modality", f"{row['Modality']!r} is not CT or MR (empty: guessed)")
        appearance = row["Appearance"].strip().lower()
        if appearance not in ("",) + MODELS:
            raise bad("Appearance", f"{row['Appearance']!r} is not one of {', '.join(MODELS)}")
        if appearance == "lung" and modality == "MR":
            raise bad("Appearance", "the lung model reads CT numbers; the row's Modality is MR")
        df.loc[i, "Modality"], df.loc[i, "Appearance"] = modality, appearance
    base = Path(base_dir or path.parent)
    for c in ("Image", "SecondChannel", "OrganMask"):
        df[c] = [str((base / v).resolve()) if v and not os.path.isabs(v) else v for v in df[c]]
    df["ID"] = [i.strip() or case_id_from_path(im) for i, im in zip(df["ID"], df["Image"])]
    dup = df["ID"][df["ID"].duplicated()].unique().tolist()
    if dup:
        raise ManifestError(f"duplicate IDs {dup[:10]}; give each case a unique ID", source=path)
    names: Dict[str, str] = {}
    for cid in df["ID"]:
        other = names.setdefault(mask_file_name(cid).lower(), cid)
        if other != cid:
            raise ManifestError(f"IDs {other!r} and {cid!r} give the same mask file name "
                                f"{mask_file_name(cid)!r}; give each case an ID of its own",
                                source=path)
    df["Organ"] = [o if o else _ORGAN_BY_CANCER.get(ct.lower(), "") for o, ct in
                   zip(df["Organ"], df["CancerType"])]
    return df[list(SEGMENTATION_COLUMNS[:SEGMENTATION_COLUMNS.index("Appearance") + 1])]


def is_click_manifest(path) -> bool:
    """Whether the manifest at ``path`` is a manifest of clicks (a ``Seed`` column and no
    ``Mask`` column, names as :func:`read_click_manifest` reads them); False for a file that
    cannot be read (the manifest's own reader then says why)."""
    try:
        columns = read_manifest_csv(path).columns
    except ManifestError:
        return False
    names = {_click_column(c) for c in columns}
    return "Seed" in names and "Mask" not in names


def mask_file_name(case_id: str, suffix: str = ".nii.gz") -> str:
    """The file name of a case's mask in ``masks/`` (or, with another ``suffix``, its other
    files): its ID, characters other than letters, digits, ``.``, ``_`` and ``-`` replaced by
    ``_``, leading dots dropped (``_`` if nothing is left: no hidden file), then ``suffix``."""
    import re

    return (re.sub(r"[^A-Za-z0-9._-]", "_", case_id).lstrip(".") or "_") + suffix
