"""Agreement of features between modalities (or any raters) on paired data.

The paper's claim is that its features mean the same thing on any modality.  Paired data test
it: the same tumour imaged by two modalities (CT and MR), by two scanners or contoured by two
readers.  For every feature this module asks whether the two values rank the patients the same
way.

Input: a *paired manifest*, a cohort manifest (:func:`.cohort.read_manifest` columns: ``Image``,
``Mask``, optional ``Label``, ``Organ``, ``OrganMask``...) with a **patient** column (``Patient``,
``patient_id``, ``PatientID``, ``subject``, ``pair``, or named with ``patient_column``) and one row
per rater, the rater named by the ``Modality`` column (or ``rater_column``).  Row IDs default to
``<patient>_<rater>``.

Per feature (:func:`agreement_table`), over the patients that have a value for both raters:

* ICC(3,1) (two-way mixed, consistency; :func:`.reliability.icc`) with its 95% confidence
  interval and F-test p-value: does the feature rank the patients the same way on both
  modalities (a constant offset or scale between modalities does not matter for the ranking
  part, as for the subtypes, which are found on z-scored features);
* ICC(2,1) (absolute agreement) for reference;
* Spearman's rho (rank correlation) and its p-value;
* Bland & Altman bias and 95% limits of agreement of ``second - first`` rater (in the feature's
  unit);
* the between-patient spread: SD and IQR of the patients' mean values (a feature that barely
  varies between patients is useless even when it agrees).

:func:`summarise` gives per feature group the median ICC with a patient-resampling bootstrap
interval, the minimum and the counts below 0.5 / at least 0.75.  :func:`run_agreement` does it
all from a manifest (features through :func:`.cohort.run_cohort`, so a run resumes and records
provenance) and writes ``features.csv``, ``agreement.csv``, ``agreement_summary.csv``,
``agreement.json`` and two figures: a scatter plot per feature (first vs second rater, one point
per patient) and the ICCs with their intervals.  :func:`report_section` adds the result to an
HTML :class:`~.report.Report` (:func:`cross_modality_section` is the demo's hook: it finds the
paired data, runs both regional definitions and adds the section), :func:`find_paired_data`
finds the shared paired data set.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from .errors import ManifestError
from .files import save_figure
from .reliability import bland_altman, bootstrap_icc_summary, icc

__all__ = ["read_paired_manifest", "paired_values", "agreement_table", "summarise",
           "AgreementResult", "run_agreement", "scatter_figure", "icc_figure",
           "find_paired_data", "report_section", "cross_modality_section", "PATIENT_COLUMNS"]

#: accepted names of the patient column (case-insensitive)
PATIENT_COLUMNS = ("patient", "patient_id", "patientid", "subject", "subject_id", "pair",
                   "pair_id")
#: feature groups' column prefixes, for the summary by group
_GROUP_PREFIXES = (("shape_", "shape"), ("regional_", "regional"), ("original_", "radiomics"),
                   ("wavelet", "radiomics"), ("log-sigma", "radiomics"))


def _group_of(feature: str) -> str:
    for prefix, group in _GROUP_PREFIXES:
        if feature.startswith(prefix):
            return group
    return "other"


# --------------------------------------------------------------------------------------------
# manifest
# --------------------------------------------------------------------------------------------
def read_paired_manifest(manifest, patient_column: Optional[str] = None,
                         rater_column: str = "Modality", base_dir=None) -> pd.DataFrame:
    """Read and check a paired manifest (a CSV path or a DataFrame); see the module docstring.

    Returns the normalised cohort manifest (absolute paths, :func:`.cohort.normalise_manifest`)
    with two more columns, ``Patient`` and ``Rater``.  Raises :class:`~.errors.ManifestError`
    naming the file when the patient or rater column is missing or a patient has two rows for one
    rater.  Patients without every rater are kept (they have no pair; :func:`paired_values` drops
    them and the summary counts them).
    """
    from .cohort import canonical_column, normalise_manifest, read_manifest_csv

    if isinstance(manifest, pd.DataFrame):
        df, source, base = manifest.copy(), "<DataFrame>", Path(base_dir or ".")
    else:
        path = Path(manifest)
        df = read_manifest_csv(path, "paired manifest")
        source, base = str(path), Path(base_dir) if base_dir else path.parent
    lower = {c.strip().lower().replace(" ", "_"): c for c in df.columns}
    if patient_column is not None:
        pcol = lower.get(patient_column.strip().lower().replace(" ", "_"))
        if pcol is None:
            raise ManifestError(f"no patient column {patient_column!r} (columns: "
                                f"{list(df.columns)})", source=source)
    else:
        pcol = next((lower[c] for c in PATIENT_COLUMNS if c in lower), None)
        if pcol is None:
            raise ManifestError(f"no patient column (one of {', '.join(PATIENT_COLUMNS)}, or name "
                                f"it with --patient-column); columns: {list(df.columns)}",
                                source=source)
    rcol = lower.get(rater_column.strip().lower().replace(" ", "_"))
    if rcol is None:
        raise ManifestError(f"no rater column {rater_column!r} (the column that tells the rows of "
                            f"a patient apart, e.g. Modality); columns: {list(df.columns)}",
                            source=source)
    df = df.rename(columns={pcol: "Patient"})
    rcol = "Patient" if rcol == pcol else rcol
    df["Patient"] = df["Patient"].astype(str).str.strip()
    df["Rater"] = df[rcol].astype(str).str.strip()
    if (df["Patient"] == "").any() or (df["Rater"] == "").any():
        rows = df.index[(df["Patient"] == "") | (df["Rater"] == "")].tolist()
        raise ManifestError(f"rows {[i + 2 for i in rows]} have an empty patient or rater",
                            source=source)
    dup = df[df.duplicated(["Patient", "Rater"], keep=False)]
    if len(dup):
        first = dup.iloc[0]
        raise ManifestError(f"patient {first['Patient']!r} has {int((dup['Patient'] == first['Patient']).sum())} "
                            f"rows for rater {first['Rater']!r}; give one row per patient and "
                            f"rater", source=source)
    if df["Rater"].nunique() < 2:
        raise ManifestError(f"only one rater ({df['Rater'].iloc[0]!r}) in column {rcol!r}: "
                            "agreement needs two or more per patient", source=source)
    # the rows' own ID column, looked up after the patient column was renamed (a patient
    # column named ID, or an extra Case / PatientID column, crashed): at most one
    id_cols = [c for c in df.columns if c not in ("Patient", rcol)
               and canonical_column(c) == "ID"]
    if len(id_cols) > 1:
        raise ManifestError(f"columns {id_cols} all name a row ID: keep one", source=source)
    if not id_cols or (df[id_cols[0]].astype(str).str.strip() == "").any():
        df = df.drop(columns=id_cols)
        df["ID"] = df["Patient"] + "_" + df["Rater"]
    return normalise_manifest(df, base, source=source)


def _rater_order(manifest: pd.DataFrame, raters: Optional[Sequence[str]]) -> List[str]:
    present = list(dict.fromkeys(manifest["Rater"]))
    if raters is None:
        return present
    missing = [r for r in raters if r not in present]
    if missing:
        raise ManifestError(f"rater(s) {missing} not in the manifest (raters: {present})")
    twice = sorted({r for r in raters if list(raters).count(r) > 1})
    if twice:      # (a rater counted twice changed the ICC: 0.69 became 0.78)
        from .errors import UsageError

        raise UsageError(f"rater(s) {twice} given more than once", source="raters")
    if len(raters) < 2:
        raise ValueError("agreement needs at least two raters")
    return list(raters)


def paired_values(features: pd.DataFrame, manifest: pd.DataFrame, feature: str,
                  raters: Sequence[str]) -> pd.DataFrame:
    """Patients x raters table of one feature (complete rows only; failed rows are missing)."""
    ok = features
    if "error" in ok.columns:
        ok = ok[ok["error"].fillna("").astype(str).str.strip() == ""]
    vals = pd.to_numeric(ok.set_index("ID")[feature], errors="coerce")
    vals = vals.where(np.isfinite(vals))        # +-inf is no value either (n said 6, ICC used 5)
    m = manifest.set_index("ID")
    long = pd.DataFrame({"Patient": m["Patient"], "Rater": m["Rater"],
                         "value": vals.reindex(m.index)})
    wide = long.pivot(index="Patient", columns="Rater", values="value")
    wide = wide.reindex(columns=list(raters))
    return wide.dropna()


# --------------------------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------------------------
def agreement_table(features: pd.DataFrame, manifest: pd.DataFrame,
                    raters: Optional[Sequence[str]] = None, confidence: float = 0.95,
                    feature_names: Optional[Sequence[str]] = None) -> pd.DataFrame:
    """One row per feature: ICC(3,1) with its interval, ICC(2,1), Spearman, Bland-Altman,
    between-patient spread (see the module docstring).  ``manifest`` is
    :func:`read_paired_manifest`'s table; ``features`` has an ``ID`` column."""
    from scipy import stats

    from .tables import feature_columns

    raters = _rater_order(manifest, raters)
    names = list(feature_names) if feature_names is not None else \
        [c for c in feature_columns(features) if c != "Patient"]
    rows = []
    for f in names:
        x = paired_values(features, manifest, f, raters)
        a = x.to_numpy(dtype=float)
        r3 = icc(a, "3,1", ci=True, confidence=confidence)
        row: Dict[str, Any] = {"feature": f, "group": _group_of(f), "n": int(len(x)),
                               "icc": r3.icc, "ci_low": r3.ci_low, "ci_high": r3.ci_high,
                               "pvalue": r3.pvalue, "icc_agreement": icc(a, "2,1")}
        if len(raters) == 2 and len(x) >= 3 and np.ptp(a[:, 0]) > 0 and np.ptp(a[:, 1]) > 0:
            rho, p = stats.spearmanr(a[:, 0], a[:, 1])
            row.update(spearman_rho=float(rho), spearman_p=float(p))
        else:
            row.update(spearman_rho=float("nan"), spearman_p=float("nan"))
        ba = bland_altman(a[:, 0], a[:, 1]) if len(raters) == 2 else {}
        row.update(bias=ba.get("bias", float("nan")), loa_low=ba.get("loa_low", float("nan")),
                   loa_high=ba.get("loa_high", float("nan")))
        for i, r in enumerate(raters):
            row[f"mean_{r}"] = float(np.mean(a[:, i])) if len(x) else float("nan")
        means = a.mean(axis=1) if len(x) else np.array([])
        row["spread_sd"] = float(np.std(means, ddof=1)) if len(means) > 1 else float("nan")
        row["spread_iqr"] = float(np.subtract(*np.percentile(means, [75, 25]))) \
            if len(means) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def summarise(table: pd.DataFrame, features: Optional[pd.DataFrame] = None,
              manifest: Optional[pd.DataFrame] = None, raters: Optional[Sequence[str]] = None,
              n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per feature group: number of features, median ICC(3,1) (with a bootstrap interval over
    patients when ``features`` and ``manifest`` are given and ``n_boot`` > 0), min, counts below
    0.5 and at least 0.75, median Spearman rho."""
    rows = []
    for group, t in table.groupby("group", sort=False):
        v = t["icc"].to_numpy(dtype=float)
        row: Dict[str, Any] = {"group": group, "features": int(len(t)),
                               "median_icc": float(np.nanmedian(v)) if len(v) else float("nan"),
                               "min_icc": float(np.nanmin(v)) if len(v) else float("nan"),
                               "n_below_0.5": int(np.sum(v < 0.5)),
                               "n_at_least_0.75": int(np.sum(v >= 0.75)),
                               "median_spearman": float(np.nanmedian(t["spearman_rho"]))}
        if features is not None and manifest is not None and n_boot > 0:
            rs = _rater_order(manifest, raters)
            tabs = [paired_values(features, manifest, f, rs) for f in t["feature"]]
            # a feature with fewer than 3 pairs (undefined for the tumours) has no ICC: left
            # out of the bootstrap, which otherwise had no patient in common and no interval
            tabs = [x for x in tabs if len(x) >= 3]
            common = sorted(set.intersection(*[set(x.index) for x in tabs])) if tabs else []
            if len(common) >= 3:
                b = bootstrap_icc_summary([x.loc[common].to_numpy(float) for x in tabs],
                                          n_boot=n_boot, seed=seed)
                row.update(median_icc_ci_low=b["ci_low"], median_icc_ci_high=b["ci_high"])
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# the whole run
# --------------------------------------------------------------------------------------------
@dataclass
class AgreementResult:
    """What :func:`run_agreement` computed (and wrote to ``out_dir``)."""

    features: pd.DataFrame
    manifest: pd.DataFrame
    table: pd.DataFrame
    summary: pd.DataFrame
    raters: List[str]
    options: Dict[str, Any]
    files: Dict[str, str] = field(default_factory=dict)
    unpaired: List[str] = field(default_factory=list)   # patients without a complete pair

    @property
    def n_pairs(self) -> int:
        return int(self.table["n"].max()) if len(self.table) else 0

    def group_summary(self, group: str) -> Dict[str, Any]:
        s = self.summary.set_index("group")
        return s.loc[group].to_dict() if group in s.index else {}


def run_agreement(manifest, out_dir, groups="cross", group_options=None,
                  organ: Optional[str] = None, patient_column: Optional[str] = None,
                  rater_column: str = "Modality", raters: Optional[Sequence[str]] = None,
                  workers: Optional[int] = None, resume: bool = True, n_boot: int = 2000, seed: int = 0,
                  figures: bool = True, progress: bool = True,
                  command: Optional[str] = None) -> AgreementResult:
    """Features of every row of a paired manifest, then their agreement (module docstring).

    ``organ`` fills the ``Organ`` of rows that have none (e.g. ``"soft-tissue"`` for sarcomas:
    the parenchyma of the regional features).  ``group_options`` as for
    :func:`.cohort.run_cohort` (e.g. ``{"regional": {"definition": "cross-modality"}}``).
    """
    from .cohort import run_cohort
    from .files import atomic_write_text, json_default

    man = read_paired_manifest(manifest, patient_column, rater_column)
    if organ:
        man["Organ"] = [o if o else organ for o in man["Organ"]]
    rs = _rater_order(man, raters)
    if not (man.groupby("Patient")["Rater"].apply(lambda r: set(rs) <= set(r))).any():
        raise ManifestError(f"no patient has a row for every rater {rs}: nothing to compare",
                            source=str(manifest) if not isinstance(manifest, pd.DataFrame)
                            else "<DataFrame>")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    feats = run_cohort(man.drop(columns=["Patient", "Rater"]), out / "features.csv",
                       groups=groups, group_options=group_options, workers=workers,
                       resume=resume, progress=progress, command=command)
    table = agreement_table(feats, man, rs)
    summ = summarise(table, feats, man, rs, n_boot=n_boot, seed=seed)
    failed = {str(i): str(e) for i, e in zip(feats["ID"], feats["error"]) if str(e).strip()}
    # a pair is complete when every rater's row was computed (a failed row does not count)
    done = man[~man["ID"].astype(str).isin(set(failed))]
    complete = done.groupby("Patient")["Rater"].apply(lambda r: set(rs) <= set(r)).reindex(
        list(dict.fromkeys(man["Patient"])), fill_value=False).astype(bool)
    options = {"groups": groups, "group_options": group_options or {}, "organ": organ,
               "raters": rs, "icc": "ICC(3,1) consistency, 95% CI (Shrout & Fleiss / McGraw & "
                                    "Wong)", "n_boot": n_boot, "seed": seed}
    res = AgreementResult(feats, man, table, summ, rs, options,
                          unpaired=sorted(complete.index[~complete].tolist()))
    files = {"features": str(out / "features.csv"), "table": str(out / "agreement.csv"),
             "summary": str(out / "agreement_summary.csv"), "json": str(out / "agreement.json")}
    atomic_write_text(out / "agreement.csv", table.to_csv(index=False))
    atomic_write_text(out / "agreement_summary.csv", summ.to_csv(index=False))
    info = {"options": options, "patients": int(len(complete)),
            "complete_pairs": int(complete.sum()),
            "patients_without_pair": sorted(complete.index[~complete].tolist()),
            "failed_rows": failed, "summary": summ.to_dict("records")}
    atomic_write_text(out / "agreement.json", json.dumps(info, indent=1, default=json_default))
    if figures:
        scatter_figure(res, path=out / "agreement_scatter.png")
        icc_figure(res.table, path=out / "agreement_icc.png")
        files.update(scatter=str(out / "agreement_scatter.png"), icc=str(out / "agreement_icc.png"))
    res.files = files
    if failed and progress:
        print(f"{len(failed)} row(s) failed: " + "; ".join(f"{k}: {v}" for k, v in failed.items()),
              file=sys.stderr)
    return res


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------
def _figure(figsize, layout: Optional[str] = "constrained"):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=100, layout=layout)


def scatter_figure(result: AgreementResult, feature_names: Optional[Sequence[str]] = None,
                   path=None, max_panels: int = 20):
    """One panel per feature: first rater's value (x) against the second's (y), one point per
    patient, with the ICC(3,1) in the title.  Default features: the regional group if present,
    else the ``max_panels`` with the lowest ICC."""
    t = result.table.set_index("feature")
    if feature_names is None:
        reg = [f for f in t.index if t.loc[f, "group"] == "regional"]
        feature_names = reg if reg else list(t["icc"].sort_values().index)
    names = list(feature_names)[:max_panels]
    ncol = 4 if len(names) > 4 else max(len(names), 1)
    nrow = max(int(np.ceil(len(names) / ncol)), 1)
    # a fixed grid: the constrained layout of 20 panels costs seconds per figure
    fig = _figure((3.0 * ncol, 2.7 * nrow), layout=None)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.06 / nrow ** 0.5, top=1 - 0.1 / nrow ** 0.5,
                        hspace=0.6, wspace=0.3)
    a, b = result.raters[0], result.raters[1]
    for i, f in enumerate(names):
        ax = fig.add_subplot(nrow, ncol, i + 1)
        x = paired_values(result.features, result.manifest, f, result.raters)
        ax.scatter(x[a], x[b], s=18, color="#1f3a5f")
        if len(x):
            lo = float(np.nanmin(x[[a, b]].to_numpy()))
            hi = float(np.nanmax(x[[a, b]].to_numpy()))
            ax.plot([lo, hi], [lo, hi], color="#bbb", lw=0.8, zorder=0)
        short = f.replace("regional_", "").replace("shape_", "")
        ax.set_title(f"{short}\nICC {t.loc[f, 'icc']:.2f}", fontsize=8)
        ax.tick_params(labelsize=7)
        if i % ncol == 0:
            ax.set_ylabel(b, fontsize=8)
        if i >= len(names) - ncol:
            ax.set_xlabel(a, fontsize=8)
    if path:
        save_figure(fig, path, dpi=110)
    return fig


def icc_figure(table: pd.DataFrame, path=None, groups: Sequence[str] = ("regional",)):
    """ICC(3,1) with its 95% interval per feature of ``groups`` (one row each), and for every
    other group its features' ICC distribution as one box; lines at 0.5 and 0.75."""
    rows = table[table["group"].isin(groups)]
    others = [(g, t["icc"].dropna().to_numpy()) for g, t in table.groupby("group", sort=False)
              if g not in groups]
    n = len(rows) + len(others)
    fig = _figure((6.5, 0.28 * n + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    labels = []
    for i, (_, r) in enumerate(rows.iterrows()):
        ax.errorbar(r["icc"], i, xerr=[[r["icc"] - r["ci_low"]], [r["ci_high"] - r["icc"]]],
                    fmt="o", ms=4, color="#1f3a5f", ecolor="#8aa", capsize=2)
        labels.append(r["feature"].replace("regional_", ""))
    for j, (g, v) in enumerate(others):
        y = len(rows) + j
        if v.size:
            ax.boxplot([v], positions=[y], vert=False, widths=0.6, showfliers=True)
        labels.append(f"{g} ({v.size} features)")
    ax.set_yticks(range(n))
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_ylim(n - 0.5, -0.5)
    for xv, style in ((0.5, ":"), (0.75, "--")):
        ax.axvline(xv, color="#a4461a", ls=style, lw=0.8)
    ax.set_xlim(min(-0.2, float(np.nanmin(table["ci_low"])) if len(table) else -0.2), 1.02)
    ax.set_xlabel("ICC(3,1) with 95% CI")
    if path:
        save_figure(fig, path, dpi=110)
    return fig


# --------------------------------------------------------------------------------------------
# for the demo report
# --------------------------------------------------------------------------------------------
def find_paired_data(data_dir) -> Optional[Path]:
    """The paired manifest of a shared-data folder: ``IBSI_soft_tissue_sarcoma_CT_MR/pairs.csv``
    if present, else the first ``*/pairs.csv``; ``None`` when there is none."""
    if data_dir is None:
        return None
    d = Path(data_dir)
    cand = d / "IBSI_soft_tissue_sarcoma_CT_MR" / "pairs.csv"
    if cand.is_file():
        return cand
    found = sorted(d.glob("*/pairs.csv"))
    return found[0] if found else None


def report_section(report, results: Dict[str, AgreementResult], anchor: str = "crossmodality",
                   title: str = "Cross-modality agreement (paired CT / MR)",
                   figures: bool = True) -> None:
    """Add a section to a :class:`~.report.Report`: per regional definition (``results`` keys,
    e.g. ``{"reference": ..., "cross-modality": ...}``) the group summary, the regional table
    and (``figures``) the two figures.  Typical use::

        pairs = find_paired_data(data_dir)
        res = {d: run_agreement(pairs, out / d, organ="soft-tissue",
                                group_options={"regional": {"definition": d}})
               for d in ("reference", "cross-modality")}
        report_section(rep, res)
    """
    from .report import fig_to_base64

    report.section(anchor, title)
    if not results:
        report.text("No paired data found.", "note")
        return
    first = next(iter(results.values()))
    report.text(f"{first.n_pairs} patients imaged by {' and '.join(first.raters)}; per feature "
                "the ICC(3,1) between the two modalities' values across patients (consistency: "
                "does the feature rank the patients the same way on both).", "note")
    kpis = []
    for name, res in results.items():
        for g in ("shape", "regional"):
            s = res.group_summary(g)
            if s:
                kpis.append((f"{g} median ICC ({name})", f"{s['median_icc']:.2f}"))
    report.kpis(kpis)
    for name, res in results.items():
        summ = res.summary.set_index("group")
        report.table(summ, caption=f"Regional definition '{name}': ICC(3,1) by feature group "
                                   "(bootstrap interval of the median over patients)")
        reg = res.table[res.table["group"] == "regional"]
        if len(reg):
            show = reg.set_index("feature")[["icc", "ci_low", "ci_high", "spearman_rho",
                                             "spread_sd"]]
            show.index = [i.replace("regional_", "") for i in show.index]
            report.table(show, caption=f"Regional features, definition '{name}'",
                         float_format="{:.2f}")
        if len(reg) and figures:
            report.figures([(fig_to_base64(scatter_figure(res)),
                             f"'{name}': each regional feature, {res.raters[0]} (x) vs "
                             f"{res.raters[1]} (y), one point per patient"),
                            (fig_to_base64(icc_figure(res.table)),
                             f"'{name}': ICC(3,1) with 95% interval; dotted 0.5, dashed 0.75")])


def cross_modality_section(report, out_dir, data_dir=None, pairs=None, workers: Optional[int] = None,
                           n_boot: int = 1000,
                           definitions: Sequence[str] = ("reference", "cross-modality"),
                           organ: str = "soft-tissue", shape: bool = True,
                           figures: bool = True,
                           progress: bool = False) -> Optional[Dict[str, Dict[str, Any]]]:
    """The demo's hook: when paired data are found (``pairs``, else :func:`find_paired_data` of
    ``data_dir``), run the agreement once per regional definition into ``out_dir/<definition>``
    (with ``shape``, the shape group with the last definition only: it does not depend on it),
    add :func:`report_section` to ``report`` and return ``{definition: {group: summary}}`` for
    the demo's summary; ``None`` (and no section) when there are no paired data.
    """
    pairs = Path(pairs) if pairs else find_paired_data(data_dir)
    if pairs is None or not Path(pairs).is_file():
        return None
    results: Dict[str, AgreementResult] = {}
    for i, d in enumerate(definitions):
        groups = "cross" if shape and i == len(definitions) - 1 else "regional"
        results[d] = run_agreement(pairs, Path(out_dir) / d, groups=groups,
                                   group_options={"regional": {"definition": d}}, organ=organ,
                                   workers=workers, n_boot=n_boot, figures=figures,
                                   progress=progress)
    report_section(report, results, figures=figures)
    return {d: {g: r.group_summary(g) for g in r.summary["group"]} for d, r in results.items()}
