"""Cohort runner: features for every case of a manifest, in parallel, resumable.

Manifest
--------
A CSV with PyRadiomics' batch columns ``Image``, ``Mask`` and optional ``Label``, plus optional ``ID``,
``Organ``, ``CancerType``, ``Modality`` and ``OrganMask`` (a parenchyma mask) and ``OrganLabel``.
The column names of ``shared/data/cases.csv`` (``case_id``, ``image``, ``mask``, ``tumour_labels``,
``organ_mask``, ``modality``, ``cancer_type``) are accepted as aliases.  Relative paths are relative to
the manifest's folder.  IDs default to the image file name and must be unique.

Output
------
``out.csv``: one row per case, in manifest order: metadata columns, the feature groups' columns (in
registry order), ``diag_*`` diagnostics, ``error`` (empty when all went well).  A failing case is
recorded in ``error`` (its features left empty) and the run goes on.  Next to it,
``out.csv.provenance.json`` records the tool version, the parameters, the command, per-case input
checksums (SHA-256) and per-case timings: every timing column (``diag_*_s``,
:func:`.tables.is_timing_column`) is kept out of the CSV, so that the CSV of a cohort is
byte-identical whatever the number of workers, the scheduler, and however often it was rerun or
resumed.

Resume
------
Every finished case is written atomically to ``out.csv.parts/<n>.json`` the moment it finishes; the
CSV is assembled (atomically: temporary file + rename) when the run ends.  Rerunning the same
command after a crash or a kill computes only the cases that have no result yet (a case whose
inputs or parameters changed is recomputed: results are keyed by a fingerprint of the inputs'
checksums and the parameters), and never duplicates a row.  ``retry_errors=True`` recomputes cases
whose row has an error.

Parallelism
-----------
``workers=N`` runs cases in N local processes; ``scheduler="tcp://host:8786"`` sends them to a Dask
distributed cluster.  Both produce the same CSV.

Segmentation from clicks
------------------------
:func:`run_segmentation_cohort`: the click method on every case of a manifest of clicks
(:func:`read_click_manifest`), under the same rules; ``masks/``, ``segmentation.csv`` and a
``manifest.csv`` for :func:`run_cohort`.  README: *A cohort without masks*.
"""
from __future__ import annotations

from .clicks import run_segmentation_cohort, segment_case
from .extraction import process_case, run_cohort
from .manifest import (CLICK_COLUMNS, SEGMENTATION_COLUMNS, canonical_column, cases_to_check,
                       is_click_manifest, mask_file_name, normalise_manifest, parse_points, read_click_manifest,
                       read_manifest, read_manifest_csv)
from .runs import case_fingerprint

__all__ = ["CLICK_COLUMNS", "SEGMENTATION_COLUMNS", "canonical_column", "case_fingerprint",
           "cases_to_check",
           "is_click_manifest", "mask_file_name", "normalise_manifest", "parse_points",
           "process_case", "read_click_manifest", "read_manifest", "read_manifest_csv",
           "run_cohort", "run_segmentation_cohort", "segment_case"]
