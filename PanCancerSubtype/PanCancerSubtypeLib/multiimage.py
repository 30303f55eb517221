"""Several images per patient (MR sequences, CT + MR, ultrasound + MR): one feature row per
patient with each image's features under its own prefix.

Manifest
--------
One row per patient with an ``ID`` column and, for every image name ``X`` (letters, digits and
``-``), the columns ``Image_X`` and ``Mask_X`` (its own tumour mask), optionally ``Label_X``,
``Modality_X``, ``OrganMask_X`` and ``OrganLabel_X``; columns without a suffix (``Label``,
``Modality``, ``OrganMask``, ``OrganLabel``, ``Organ``, ``CancerType``) apply to every image
that has no column of its own.  An empty ``Image_X`` means the patient has no image ``X`` (its
columns stay empty).  For example::

    ID,Image_T1c,Mask_T1c,Image_FLAIR,Mask_FLAIR,Modality,OrganMask
    pat1,p1/t1c.nii.gz,p1/seg.nii.gz,p1/flair.nii.gz,p1/seg.nii.gz,MR,p1/brain.nii.gz

:func:`expand_manifest` turns it into an ordinary manifest with one row per (patient, image),
``ID = <patient>__<image>``, validated by :func:`.cohort.normalise_manifest` (relative paths
are relative to the manifest's folder).  :func:`run_multi_image_cohort` runs the cohort runner on
it (parallel, resumable; the per-image table is kept next to the output as
``<out>.per_image.csv``) and pivots the result to one row per patient: the metadata columns
``ID``, ``Organ``, ``CancerType``, then ``X_<feature>`` for every image, the ``diag_*`` columns
likewise prefixed, and ``error`` (``"X: <message>"`` for each failed image).

Signatures per ROI and image, and their combination, are in :mod:`.multisignature`.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import pandas as pd

from .errors import ManifestError

log = logging.getLogger(__name__)

__all__ = ["image_names", "is_multi_image_manifest", "expand_manifest",
           "run_multi_image_cohort", "widen", "SEPARATOR"]

#: joins the patient ID and the image name in the per-image IDs
SEPARATOR = "__"
_IMAGE_COL = re.compile(r"^Image_([A-Za-z0-9-]+)$")
_PER_IMAGE = ("Mask", "Label", "Modality", "OrganMask", "OrganLabel")
_SHARED = ("Label", "Modality", "OrganMask", "OrganLabel", "Organ", "CancerType")


def image_names(columns: Sequence[str]) -> List[str]:
    """The image names ``X`` of the ``Image_X`` columns, in column order."""
    return [m.group(1) for c in columns if (m := _IMAGE_COL.match(str(c).strip()))]


def is_multi_image_manifest(manifest: Union[str, Path, pd.DataFrame]) -> bool:
    """True when the manifest (path or DataFrame) has ``Image_X`` columns."""
    if isinstance(manifest, pd.DataFrame):
        cols = list(manifest.columns)
    else:
        p = Path(manifest)
        try:
            cols = list(pd.read_csv(p, nrows=0).columns)
        except (OSError, ValueError, UnicodeDecodeError):
            return False      # not a readable table: the manifest reader reports why
    return any(str(c).strip().startswith("Image_") for c in cols)


def expand_manifest(manifest: Union[str, Path, pd.DataFrame], base_dir=None
                    ) -> Tuple[pd.DataFrame, List[str]]:
    """One row per (patient, image) from a multi-image manifest (see the module docstring).

    Returns ``(long manifest, image names)``; the long manifest has the columns of
    :func:`.cohort.normalise_manifest` plus ``Patient`` and ``ImageName``."""
    from .cohort import normalise_manifest, read_manifest_csv

    if isinstance(manifest, pd.DataFrame):
        df, source, base = manifest.copy(), "<DataFrame>", Path(base_dir or ".")
    else:
        p = Path(manifest)
        df = read_manifest_csv(p)
        source, base = str(p), Path(base_dir) if base_dir else p.parent
    df.columns = [str(c).strip() for c in df.columns]
    df = df.fillna("").astype(str)
    names = image_names(df.columns)
    bad = [c for c in df.columns if c.startswith("Image_") and not _IMAGE_COL.match(c)]
    if bad:
        # (an image name with "_" was dropped without a word: its columns would not parse)
        raise ManifestError(f"column(s) {bad}: an image name is letters, digits and '-' (e.g. "
                            f"Image_MR-T1, not Image_MR_T1)", source=source)
    if not names:
        raise ManifestError("no Image_<name> column: not a multi-image manifest", source=source)
    if "ID" not in df.columns:
        raise ManifestError("a multi-image manifest needs an ID column (one row per patient)",
                            source=source)
    missing = [f"Mask_{n}" for n in names if f"Mask_{n}" not in df.columns]
    if missing:
        raise ManifestError(f"column(s) {missing} missing: every Image_<name> needs its own "
                            f"Mask_<name>", source=source)
    ids = df["ID"]
    if (ids == "").any():
        raise ManifestError(f"rows {[i + 2 for i in df.index[ids == ''].tolist()]} have no ID",
                            source=source)
    dup = sorted(set(ids[ids.duplicated()]))
    if dup:
        raise ManifestError(f"duplicate IDs {dup[:10]}", source=source)
    no_image = [f"{i + 2} ({r['ID']})" for i, r in df.iterrows()
                if not any(r[f"Image_{n}"] for n in names)]
    if no_image:       # (such a patient disappeared from the output without a word)
        raise ManifestError(f"row(s) {', '.join(no_image[:10])} have no image in any "
                            f"Image_<name> column", source=source)
    rows: List[Dict[str, Any]] = []
    for _, r in df.iterrows():
        for n in names:
            img = r[f"Image_{n}"]
            if not img:
                continue
            row = {"ID": f"{r['ID']}{SEPARATOR}{n}", "Image": img, "Patient": r["ID"],
                   "ImageName": n}
            for c in _PER_IMAGE:
                own = f"{c}_{n}"
                row[c] = r[own] if own in df.columns and r[own] != "" else r.get(c, "")
            for c in ("Organ", "CancerType"):
                row[c] = r.get(c, "")
            if not row["Mask"]:
                raise ManifestError(f"patient {r['ID']!r} has Image_{n} but no Mask_{n}",
                                    source=source)
            rows.append(row)
    if not rows:
        raise ManifestError("no image in the manifest", source=source)
    long = normalise_manifest(pd.DataFrame(rows), base, source=source)
    return long, names


def widen(per_image: pd.DataFrame, long: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """One row per patient from the per-image feature table: ``X_<column>`` per image ``X``."""
    from .tables import META_COLUMNS

    info = long.set_index("ID")[["Patient", "ImageName"]]
    tab = per_image.join(info, on="ID")
    patients = list(dict.fromkeys(long["Patient"]))
    first = long.drop_duplicates("Patient").set_index("Patient")
    out = pd.DataFrame({"ID": patients,
                        "Organ": [first.at[p, "Organ"] for p in patients],
                        "CancerType": [first.at[p, "CancerType"] for p in patients]})
    value_cols = [c for c in per_image.columns if c not in META_COLUMNS and c != "error"]
    feats, diags = [], []
    errors = {p: [] for p in patients}
    for n in names:
        sub = tab[tab["ImageName"] == n].set_index("Patient").reindex(patients)
        for c in value_cols:
            col = f"{n}_{c}" if not c.startswith("diag_") else f"diag_{n}_{c[5:]}"
            (diags if c.startswith("diag_") else feats).append(
                pd.Series(sub[c].to_numpy(), name=col))
        for p, e in zip(patients, sub["error"].fillna("")):
            if isinstance(e, str) and e:
                errors[p].append(f"{n}: {e}")
    out = pd.concat([out] + feats + diags, axis=1)
    out["error"] = [" | ".join(errors[p]) for p in patients]
    return out


def run_multi_image_cohort(manifest, out_csv, groups=None, group_options=None,
                           workers: Optional[int] = None, scheduler: Optional[str] = None,
                           resume: bool = True, retry_errors: bool = False,
                           progress: bool = True, command: Optional[str] = None
                           ) -> pd.DataFrame:
    """Features of every image of every patient, one row per patient (module docstring).

    The options are those of :func:`.cohort.run_cohort`; the per-image table and its
    provenance are written as ``<out_csv>.per_image.csv`` (resumable as any cohort run)."""
    from .cohort import run_cohort
    from .files import atomic_write_text

    long, names = expand_manifest(manifest)
    out_csv = Path(out_csv)
    per_image_csv = out_csv.with_name(out_csv.name + ".per_image.csv")
    cols = ["ID", "Image", "Mask", "Label", "Organ", "CancerType", "Modality", "OrganMask",
            "OrganLabel"]
    per = run_cohort(long[cols], per_image_csv, groups=groups, group_options=group_options,
                     workers=workers, scheduler=scheduler, resume=resume,
                     retry_errors=retry_errors, progress=progress, command=command)
    wide = widen(per, long, names)
    atomic_write_text(out_csv, wide.to_csv(index=False))
    return wide
