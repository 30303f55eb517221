"""The main job end to end on a synthetic pan-cancer cohort: ``pancancer-subtype demo``.

1. generate a seeded cohort (:func:`.synthetic.make_cohort`: lung CT, breast MR, brain MR; four
   morphological archetypes; survival depending on archetype and age);
2. extract the 313 cross-modality features with the cohort runner (parallel, resumable);
3. the paper's discovery / validation design (:func:`.discovery.discovery_validation`): a split
   stratified by cancer type; preparation (z-scores, every feature family weighted equally) and
   the encoder (autoencoder or PCA, whichever reconstructs held-out data better) fitted on the
   discovery set; consensus clustering of each set; IGP of the validation set against the
   discovery centroids; purity per cancer type; then the whole population, whose subtypes are
   used below; the supervised ceiling (cross-validated accuracy of a classifier trained on the
   planted archetypes) next to the unsupervised result;
4. train the XGBoost subtype classifier on the original features (cross-validated, with a
   reliability diagram and an out-of-distribution detector);
5. survival statistics by subtype (KM, log-rank, Cox with age, C-index);
6. optionally the real shared cases: features, subtype and novelty;
7. one self-contained HTML report (:mod:`.demo_report`) and ``summary.json``.

Every intermediate result is written to the output folder, so a rerun reuses what exists.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class DemoRun:
    """Everything one demo run computed (what the report and ``summary.json`` show)."""

    out_dir: Path
    seed: int
    reps: int
    workers: int
    manifest: pd.DataFrame                 # cohort manifest with the truth columns
    features: pd.DataFrame                 # all cases (failed ones with their error)
    ok: pd.DataFrame                       # cases whose features succeeded
    columns: List[str]                     # the feature columns
    design: Any = None                     # discovery.DesignResult
    subtype: Optional[np.ndarray] = None   # whole-population subtypes (1..k)
    ari: float = float("nan")
    ari_by_k: Dict[int, float] = field(default_factory=dict)
    supervised: Dict[str, Any] = field(default_factory=dict)
    classifier: Any = None
    survival: Dict[str, Any] = field(default_factory=dict)
    km: Any = None
    real: Optional[Dict[str, Any]] = None
    data_dir: Optional[Path] = None        # shared data (real cases, paired CT / MR data)
    pairs: Optional[Path] = None           # a paired manifest for the cross-modality section
    cross_modality: Optional[Dict[str, Any]] = None
    workflows: bool = True                 # the related-workflow sections of the report
    workflow_results: Dict[str, Any] = field(default_factory=dict)
    timings: Dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> pd.DataFrame:
        return self.features[self.features["error"] != ""]

    @property
    def truth(self) -> pd.DataFrame:
        return self.manifest.set_index("ID")

    @property
    def archetypes(self) -> np.ndarray:
        return self.truth.loc[self.ok["ID"], "archetype"].to_numpy()

    @property
    def whole(self):
        return self.design.whole

    @property
    def k(self) -> int:
        return int(self.whole.k)


# --------------------------------------------------------------------------------------------
def run_demo(out: str = "demo_out", n: int = 120, seed: int = 2021, reps: int = 500,
             k_min: int = 2, k_max: int = 8, workers: Optional[int] = None,
             encode: str = "auto",
             data_dir: Optional[str] = None, real_cases: bool = True, n_boot: int = 200,
             pairs: Optional[str] = None, workflows: bool = True) -> Dict[str, Any]:
    """Run the whole pipeline (see module doc); returns the summary dict (also
    ``summary.json``).  ``encode``: ``"auto"`` (autoencoder or PCA, the better on held-out
    data), ``"autoencoder"``, ``"pca"`` or ``"none"``.  ``pairs``: a paired CT / MR manifest for
    the cross-modality section (default: the shared data's, when found and ``real_cases``).
    ``workflows``: add the related workflows to the report (association with patient variables,
    Cox model evaluation, intra- and peri-tumoural signatures, deep features; see
    :func:`.demo_report.workflow_sections`).  ``workers``: processes (default: the machine's
    cores; the results are the same bytes whatever it is)."""
    import matplotlib

    matplotlib.use("Agg")
    workers = int(workers or os.cpu_count() or 1)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    steps = 7

    def step(i, name):
        _say(f"[{i}/{steps}] {name}")
        return time.perf_counter()

    # 1. cohort ------------------------------------------------------------------------------
    t0 = step(1, f"generating a synthetic cohort of {n} cases (seed {seed})")
    from .synthetic import make_cohort

    man = make_cohort(out_dir / "cohort", n, seed, workers=workers, progress=True)
    t_cohort = time.perf_counter() - t0

    # 2. features ----------------------------------------------------------------------------
    t0 = step(2, f"extracting the 313 cross-modality features ({workers} workers)")
    from .cohort import run_cohort
    from .tables import feature_columns

    feats = run_cohort(man[["ID", "Image", "Mask", "Label", "OrganMask", "Modality", "Organ",
                            "CancerType"]], out_dir / "features.csv", groups="cross",
                       workers=workers, command="pancancer-subtype demo")
    cols = feature_columns(feats)
    ok = feats[feats["error"] == ""].reset_index(drop=True)
    run = DemoRun(out_dir=out_dir, seed=seed, reps=reps, workers=workers, manifest=man,
                  features=feats, ok=ok, columns=cols, workflows=workflows)
    run.timings["cohort"] = t_cohort
    run.timings["features"] = time.perf_counter() - t0
    _say(f"      {len(cols)} features, {len(ok)} cases ok, {len(run.failed)} with errors")

    # 3. discovery / validation --------------------------------------------------------------
    t0 = step(3, f"subtype discovery: discovery / validation split, encoder ({encode}), "
                 f"consensus clustering (PAM, Pearson; k={k_min}..{k_max}, {reps} resamplings)")
    _discovery(run, encode, k_min, k_max)
    run.timings["discovery"] = time.perf_counter() - t0

    # 4. classifier --------------------------------------------------------------------------
    t0 = step(4, "training the XGBoost subtype classifier (5-fold CV, calibration, novelty)")
    from .classifier import SubtypeClassifier, save_bundle

    labels = np.asarray([f"S{c}" for c in run.subtype])
    run.classifier = SubtypeClassifier(random_state=seed, cv_folds=5, cv_repeats=1)
    run.classifier.fit(ok[cols], labels)
    save_bundle(run.classifier, out_dir / "subtype_model", overwrite=True)
    run.timings["classifier"] = time.perf_counter() - t0

    # 5. survival ----------------------------------------------------------------------------
    t0 = step(5, "survival statistics by subtype (KM, log-rank, Cox with age, C-index)")
    _survival(run, labels, n_boot)
    run.timings["survival"] = time.perf_counter() - t0

    # 6. real cases --------------------------------------------------------------------------
    t0 = step(6, "real shared cases: features, subtype and novelty")
    ddir = Path(data_dir) if data_dir else _default_data_dir()
    if real_cases and ddir is not None and (ddir / "cases.csv").is_file():
        _real_cases(run, ddir)
    elif real_cases:
        _say(f"      no shared data found (looked in {ddir}); skipped")
    else:
        _say("      skipped (--no-real)")
    run.timings["real_cases"] = time.perf_counter() - t0

    if real_cases:
        from .agreement import find_paired_data

        run.data_dir = ddir
        run.pairs = Path(pairs) if pairs else find_paired_data(ddir)

    # 7. report ------------------------------------------------------------------------------
    extra = [what for what, on in (("the cross-modality agreement of the paired CT / MR data",
                                     run.pairs is not None),
                                    ("the related workflows", workflows)) if on]
    t0 = step(7, "writing the HTML report" + (f" (with {' and '.join(extra)})" if extra else ""))
    from .demo_report import write_report
    from .files import write_json

    report_path = out_dir / "report.html"
    write_report(report_path, run)
    run.timings["report"] = time.perf_counter() - t0
    run.timings["total"] = time.perf_counter() - t_all
    summary = demo_summary(run)
    summary["report"] = str(report_path)
    write_json(out_dir / "summary.json", summary)
    _say(f"done in {run.timings['total']:.0f} s: {report_path}")
    return summary


def _discovery(run: DemoRun, encode: str, k_min: int, k_max: int) -> None:
    from sklearn.metrics import adjusted_rand_score

    from .classifier import SubtypeClassifier
    from .discovery import discovery_validation

    design = discovery_validation(
        run.ok, encode=encode, code_dim=10, k_min=k_min, k_max=k_max, reps=run.reps,
        p_item=0.8, seed=run.seed, split_seed=run.seed, n_jobs=run.workers, purity_repeats=5,
        igp_permutations=1000, progress=lambda m: _say(f"      {m}"))
    design.save(run.out_dir / "discovery")
    run.design = design
    whole = design.whole
    whole.save(run.out_dir, plots=False, summary_name="discovery_summary.json")
    ids = run.ok["ID"].astype(str)
    run.subtype = whole.labels.loc[ids].to_numpy()
    arch = run.archetypes
    run.ari = float(adjusted_rand_score(arch, run.subtype))
    run.ari_by_k = {k: float(adjusted_rand_score(arch, whole.classes.loc[ids, f"k{k}"]))
                    for k in whole.ks}
    # supervised ceiling: how much structure the features hold for the planted archetypes
    sup = SubtypeClassifier(random_state=run.seed, cv_folds=5, cv_repeats=1, novelty=False)
    sup.fit(run.ok[run.columns], np.asarray([f"A{a}" for a in arch]))
    run.supervised = {"accuracy": sup.cv_report_["accuracy"]["mean"],
                      "balanced_accuracy": sup.cv_report_["balanced_accuracy"]["mean"],
                      "macro_auc": sup.cv_report_["macro_auc"]["mean"],
                      "model": "XGBoost on the 313 features, stratified 5-fold CV, labels = "
                               "planted archetypes"}
    igp = design.igp_at()
    _say(f"      suggested k = {whole.k} ({whole.k_rule}); ARI vs archetypes = {run.ari:.3f} "
         f"(supervised ceiling: CV accuracy {run.supervised['accuracy']:.3f}); validation IGP "
         + ", ".join(f"{v:.2f}" for v in igp["igp"]))


def _survival(run: DemoRun, labels: np.ndarray, n_boot: int) -> None:
    from . import survival as sv
    from .files import atomic_write_text, write_json

    truth, ok = run.truth, run.ok
    tab = pd.DataFrame({"ID": ok["ID"], "subtype": labels,
                        "time": truth.loc[ok["ID"], "time"].to_numpy(),
                        "event": truth.loc[ok["ID"], "event"].to_numpy(),
                        "age": truth.loc[ok["ID"], "age"].to_numpy(),
                        "CancerType": ok["CancerType"].to_numpy()})
    atomic_write_text(run.out_dir / "survival_table.csv", tab.to_csv(index=False))
    # reference level: the subtype with the smallest median tumour volume (the "small, sharp" one)
    vol = pd.Series(ok["shape_volume_mm3"].to_numpy(), index=labels)
    reference = str(vol.groupby(level=0).median().idxmin())
    summ = sv.survival_summary(tab, "time", "event", "subtype", covariates=["age"],
                               reference=reference, times=[12, 24, 48, 72], n_boot=n_boot,
                               seed=run.seed)
    run.km = summ.pop("_km")
    summ.pop("_cox")
    summ.pop("_logrank", None)
    write_json(run.out_dir / "survival_summary.json", summ)
    run.survival = summ
    _say(f"      log-rank p = {summ['logrank_p']:.3g}; C-index = {summ['c_index']['value']:.3f}")


def _real_cases(run: DemoRun, ddir: Path) -> None:
    from .cohort import run_cohort
    from .files import atomic_write_text

    try:
        rf = run_cohort(ddir / "cases.csv", run.out_dir / "real_features.csv", groups="cross",
                        workers=run.workers, command="pancancer-subtype demo (real cases)")
        good = rf[rf["error"] == ""]
        pred = (run.classifier.predict_frame(good[["ID"] + run.columns], id_column="ID")
                if len(good) else None)
        run.real = {"features": rf, "pred": pred}
        if pred is not None:
            atomic_write_text(run.out_dir / "real_cases_subtypes.csv", pred.to_csv(index=False))
            if "novel" in pred:
                _say(f"      {int(pred['novel'].sum())} of {len(pred)} real cases lie outside "
                     f"the synthetic training cohort (novelty)")
    except Exception as exc:  # the synthetic part stands on its own
        log.warning("real cases skipped: %s", exc)
        run.real = {"error": f"{type(exc).__name__}: {exc}"}


def _default_data_dir() -> Optional[Path]:
    env = os.environ.get("PANCANCER_SHARED_DATA")
    if env:
        return Path(env)
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        cand = base.parent / "shared" / "data"
        if (cand / "cases.csv").is_file():
            return cand
    return None


def cv_brief(cv: Dict[str, Any]) -> Dict[str, Any]:
    """Mean accuracy, balanced accuracy, macro AUC, Brier score and ECE of a CV report."""
    out = {}
    for key in ("accuracy", "balanced_accuracy", "macro_auc", "brier", "log_loss"):
        v = cv.get(key)
        if isinstance(v, dict):
            out[key] = v.get("mean")
        elif v is not None:
            out[key] = v
    if isinstance(cv.get("reliability"), dict):
        out["ece"] = cv["reliability"].get("ece")
    return out


def demo_summary(run: DemoRun) -> Dict[str, Any]:
    """``summary.json`` (keys documented in the README)."""
    whole, d = run.whole, run.design.summary()
    cc = whole.consensus
    k_evidence = [{"k": int(r.k), "cdf_area": float(r.cdf_area), "delta_area": float(r.delta_area),
                   "pac": float(r.pac),
                   "cluster_consensus": float(np.nanmean(cc.results_[int(r.k)].cluster_consensus)),
                   "ari": run.ari_by_k.get(int(r.k))} for r in cc.per_k_.itertuples()]
    comp = whole.encoder_comparison
    real = None
    if run.real and run.real.get("pred") is not None and "novel" in run.real["pred"]:
        p = run.real["pred"]
        real = {"novelty_threshold": run.classifier.novelty_.threshold_,
                "cases": [{"ID": str(r.ID), "subtype": r.predicted_subtype,
                           "novelty_score": float(r.novelty_score), "novel": bool(r.novel)}
                          for r in p.itertuples()]}
    cv = run.classifier.cv_report_
    return {
        "n_cases": int(len(run.manifest)), "n_ok": int(len(run.ok)),
        "n_failed": int(len(run.failed)), "n_features": len(run.columns), "seed": run.seed,
        "reps": run.reps, "suggested_k": run.k, "k_rule": whole.k_rule, "ari": run.ari,
        "ari_by_k": run.ari_by_k, "supervised_ceiling": run.supervised,
        "k_evidence": k_evidence,
        "encoder": whole.encoder_used,
        "encoder_comparison": None if comp is None else {
            "heldout": comp.attrs.get("heldout"),
            "autoencoder_heldout_mse": float(comp.loc["autoencoder", "heldout_mse"]),
            "pca_heldout_mse": float(comp.loc["pca", "heldout_mse"]),
            "autoencoder_train_mse": float(comp.loc["autoencoder", "train_mse"]),
            "pca_train_mse": float(comp.loc["pca", "train_mse"])},
        "design": {key: d[key] for key in ("n_discovery", "n_validation", "discovery_k",
                                           "validation_own_k", "whole_k",
                                           "validation_agreement_ari")},
        "igp": d["igp"], "igp_min": d["igp_min"], "purity": d["purity"],
        "logrank_p": float(run.survival["logrank_p"]), "c_index": run.survival["c_index"],
        "classifier_cv": cv_brief(cv),
        "calibration": {"brier": cv_brief(cv).get("brier"), "ece": cv_brief(cv).get("ece")},
        "real_cases": real,
        "cross_modality": run.cross_modality,
        "workflows": run.workflow_results or None,
        "timings_s": {k: round(v, 1) for k, v in run.timings.items()},
    }
