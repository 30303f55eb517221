"""The main job end to end on a synthetic pan-cancer cohort: ``pancancer-subtype demo``.

1. generate a seeded cohort (:func:`.synthetic.make_cohort`: lung CT, breast MR, brain MR; four
   morphological archetypes; survival depending on archetype and age);
2. extract the 313 cross-modality features with the cohort runner (parallel, resumable);
3. subtype discovery (:func:`.discovery.discover`): standardise, encode (autoencoder,
   313 -> 10), consensus clustering (PAM, Pearson), k = 2..8, suggested k;
4. train the XGBoost subtype classifier on the original features (cross-validated);
5. survival statistics by subtype (KM, log-rank, Cox with age, C-index);
6. optionally the real shared cases: features and subtype assignment;
7. one self-contained HTML report.

Every intermediate result is written to the output folder, so a rerun reuses what exists.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

REGION_COLOURS = {"TC": "#d62728", "TIM": "#ff7f0e", "PM5": "#17becf", "PM10": "#1f77b4"}


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
def run_demo(out: str = "demo_out", n: int = 120, seed: int = 2021, reps: int = 500,
             k_min: int = 2, k_max: int = 8, workers: int = 2, encode: bool = True,
             data_dir: Optional[str] = None, real_cases: bool = True, n_boot: int = 200,
             ) -> Dict[str, Any]:
    """Run the whole pipeline (see module doc); returns a summary dict (also ``summary.json``)."""
    import matplotlib

    from .files import atomic_write_text, write_json

    matplotlib.use("Agg")
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    timings: Dict[str, float] = {}
    steps = 7

    def step(i, name):
        _say(f"[{i}/{steps}] {name}")
        return time.perf_counter()

    # 1. cohort ------------------------------------------------------------------------------
    t0 = step(1, f"generating a synthetic cohort of {n} cases (seed {seed})")
    from .synthetic import make_cohort

    man = make_cohort(out_dir / "cohort", n, seed, workers=workers, progress=True)
    timings["cohort"] = time.perf_counter() - t0

    # 2. features ----------------------------------------------------------------------------
    t0 = step(2, f"extracting the 313 cross-modality features ({workers} workers)")
    from .cohort import run_cohort

    feats = run_cohort(man[["ID", "Image", "Mask", "Label", "OrganMask", "Modality", "Organ",
                            "CancerType"]], out_dir / "features.csv", groups="cross",
                       workers=workers, command="pancancer-subtype demo")
    timings["features"] = time.perf_counter() - t0
    from .tables import feature_columns

    cols = feature_columns(feats)
    failed = feats[feats["error"] != ""]
    ok = feats[feats["error"] == ""].reset_index(drop=True)
    _say(f"      {len(cols)} features, {len(ok)} cases ok, {len(failed)} with errors")
    truth = man.set_index("ID")

    # 3-4. discovery: preparation, encoding, consensus clustering ---------------------------
    t0 = step(3, "subtype discovery: standardising, encoding (autoencoder 313 -> 10), consensus "
                 f"clustering (PAM, Pearson; k={k_min}..{k_max}, {reps} resamplings)" if encode
              else f"subtype discovery: standardising, consensus clustering (k={k_min}..{k_max})")
    from sklearn.metrics import adjusted_rand_score

    from .discovery import discover

    disc = discover(ok, encode="autoencoder" if encode else "none", code_dim=10, k_min=k_min,
                    k_max=k_max, reps=reps, p_item=0.8, seed=seed, n_jobs=workers,
                    purity_repeats=0, progress=lambda m: _say(f"      {m}"))
    disc.save(out_dir, plots=False, summary_name="discovery_summary.json")
    cc = disc.consensus
    k = int(disc.k)
    ae_report = disc.reconstruction
    encoder_note = ("none (standardised features clustered)" if not encode else
                    "autoencoder 313 -> 10 (ReLU code)" if disc.encoder_refit is None else
                    "autoencoder 313 -> 10 (linear code: the ReLU code was all zero for some "
                    "items)")
    subtype = np.asarray(cc.results_[k].classes)
    arch = truth.loc[ok["ID"], "archetype"].to_numpy()
    ari = float(adjusted_rand_score(arch, subtype))
    ari_by_k = {int(kk): float(adjusted_rand_score(arch, cc.results_[kk].classes))
                for kk in cc.results_}
    timings["discovery"] = time.perf_counter() - t0
    _say(f"      suggested k = {k} ({cc.k_rule_}); ARI vs archetypes = {ari:.3f}")

    # 5. classifier --------------------------------------------------------------------------
    t0 = step(4, "training the XGBoost subtype classifier (5-fold CV)")
    from .classifier import SubtypeClassifier, save_bundle

    labels = pd.Series([f"S{c}" for c in subtype], name="subtype")
    clf = SubtypeClassifier(random_state=seed, cv_folds=5, cv_repeats=1)
    clf.fit(ok[cols], labels.to_numpy())
    model_dir = out_dir / "subtype_model"
    save_bundle(clf, model_dir, overwrite=True)
    cv = clf.cv_report_
    timings["classifier"] = time.perf_counter() - t0

    # 6. survival ----------------------------------------------------------------------------
    t0 = step(5, "survival statistics by subtype (KM, log-rank, Cox with age, C-index)")
    from . import survival as sv

    surv_tab = pd.DataFrame({"ID": ok["ID"], "subtype": labels,
                             "time": truth.loc[ok["ID"], "time"].to_numpy(),
                             "event": truth.loc[ok["ID"], "event"].to_numpy(),
                             "age": truth.loc[ok["ID"], "age"].to_numpy(),
                             "CancerType": ok["CancerType"].to_numpy()})
    atomic_write_text(out_dir / "survival_table.csv", surv_tab.to_csv(index=False))
    # reference level: the subtype with the smallest median tumour volume (the "small, sharp" one)
    vol = pd.Series(ok["shape_volume_mm3"].to_numpy(), index=labels.to_numpy())
    reference = str(vol.groupby(level=0).median().idxmin())
    summ = sv.survival_summary(surv_tab, "time", "event", "subtype", covariates=["age"],
                               reference=reference, times=[12, 24, 48, 72], n_boot=n_boot,
                               seed=seed)
    km, cox = summ.pop("_km"), summ.pop("_cox")
    summ.pop("_logrank", None)
    write_json(out_dir / "survival_summary.json", summ)
    timings["survival"] = time.perf_counter() - t0
    _say(f"      log-rank p = {summ['logrank_p']:.3g}; C-index = {summ['c_index']['value']:.3f}")

    # 7. real cases --------------------------------------------------------------------------
    real = None
    t0 = step(6, "real shared cases: features and subtype assignment")
    ddir = Path(data_dir) if data_dir else _default_data_dir()
    if real_cases and ddir is not None and (ddir / "cases.csv").is_file():
        try:
            rf = run_cohort(ddir / "cases.csv", out_dir / "real_features.csv", groups="cross",
                            workers=workers, command="pancancer-subtype demo (real cases)")
            good = rf[rf["error"] == ""]
            pred = clf.predict_frame(good[["ID"] + cols], id_column="ID") if len(good) else None
            real = {"features": rf, "pred": pred}
            if pred is not None:
                atomic_write_text(out_dir / "real_cases_subtypes.csv", pred.to_csv(index=False))
        except Exception as exc:  # the synthetic part stands on its own
            log.warning("real cases skipped: %s", exc)
            real = {"error": f"{type(exc).__name__}: {exc}"}
    elif real_cases:
        _say(f"      no shared data found (looked in {ddir}); skipped")
    else:
        _say("      skipped (--no-real)")
    timings["real_cases"] = time.perf_counter() - t0

    # 8. report ------------------------------------------------------------------------------
    t0 = step(7, "writing the HTML report")
    summary = {
        "n_cases": int(len(man)), "n_ok": int(len(ok)), "n_failed": int(len(failed)),
        "n_features": len(cols), "suggested_k": k, "k_rule": cc.k_rule_, "ari": ari,
        "ari_by_k": ari_by_k, "logrank_p": float(summ["logrank_p"]),
        "c_index": summ["c_index"], "classifier_cv": _cv_brief(cv), "reps": reps,
        "encode": encode, "encoder": encoder_note, "seed": seed,
    }
    report_path = out_dir / "report.html"
    write_report(report_path, man, ok, failed, cols, cc, k, subtype, ari, ari_by_k, summ, km, cox,
                 clf, cv, real, timings, summary, ae_report, workers)
    timings["report"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_all
    summary["timings_s"] = {k_: round(v, 1) for k_, v in timings.items()}
    summary["report"] = str(report_path)
    write_json(out_dir / "summary.json", summary)
    _say(f"done in {timings['total']:.0f} s: {report_path}")
    return summary


def _default_data_dir() -> Optional[Path]:
    env = os.environ.get("PANCANCER_SHARED_DATA")
    if env:
        return Path(env)
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        cand = base.parent / "shared" / "data"
        if (cand / "cases.csv").is_file():
            return cand
    return None


def _cv_brief(cv: Dict[str, Any]) -> Dict[str, Any]:
    out = {}
    for key in ("accuracy", "balanced_accuracy", "macro_auc"):
        v = cv.get(key)
        if isinstance(v, dict):
            out[key] = v.get("mean")
        elif v is not None:
            out[key] = v
    return out


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------
def write_report(path, man, ok, failed, cols, cc, k, subtype, ari, ari_by_k, summ, km, cox, clf,
                 cv, real, timings, summary, ae_report, workers):
    from . import plots
    from . import survival as sv
    from .report import Report, fig_to_base64
    from .synthetic import ARCHETYPES

    rep = Report("PanCancerSubtype: end-to-end demo on a synthetic pan-cancer cohort",
                 "Wu et al. (Nat Mach Intell 2021) pipeline: SPHARM shape + regional variation "
                 "-> autoencoder -> consensus clustering -> XGBoost subtype classifier -> survival")
    truth = man.set_index("ID")

    # -- cohort
    rep.section("cohort", "Cohort")
    rep.kpis([("cases", len(man)), ("features per case", len(cols)),
              ("feature failures", len(failed)), ("subtypes found (k)", k),
              ("ARI vs archetypes", f"{ari:.2f}"), ("log-rank p", _p(summ["logrank_p"])),
              ("classifier CV accuracy", _fmt(_cv_brief(cv).get("accuracy")))])
    ct = pd.crosstab((man["CancerType"] + " (" + man["Modality"] + ")").rename("cancer type"),
                     man["archetype"].map(lambda a: f"A{a}: {ARCHETYPES[a]['name']}"),
                     margins=True, margins_name="total")
    rep.table(ct, caption="Cases by cancer type (modality) and planted morphological archetype")
    rep.text("Each synthetic case has a tumour from one of four archetypes after the paper's "
             "description of the subtypes (1 small, sharp margin; 2 intermediate, moderately defined;"
             " 3 large, ill-defined blurred margin; 4 large, irregular rugged shape), survival "
             "times whose hazard depends on the archetype and on age, and CT slice thicknesses of "
             "1.25-5 mm.", "note")
    if len(failed):
        rep.table(failed[["ID", "CancerType", "error"]].set_index("ID"),
                  caption="Cases whose features failed (recorded, excluded)")

    # -- example slices with regions; SPHARM reconstructions (illustrations: a failure is shown,
    # not fatal)
    for key, label, title, make, caption in (
            ("regions", "regions", "Example slices with tumour regions", _region_figure,
             "Middle tumour slice of one case per cancer type (rows) and archetype (columns); "
             "contours: tumour core TC (red), invasive margin TIM (orange), parenchymal margins "
             "PM5 (cyan) and PM10 (blue), reference definition."),
            ("spharm", "SPHARM", "SPHARM shape reconstructions", _spharm_figure,
             "Tumour surfaces rebuilt from their spherical-harmonic coefficients at degrees 1 "
             "(the first-order ellipsoid), 5 and 15, one case per archetype (cf. the paper's "
             "Extended Data Fig. 1).")):
        rep.section(key, title)
        try:
            rep.figure(make(man), caption)
        except Exception as exc:
            rep.text(f"({label} figure unavailable: {type(exc).__name__}: {exc})", "warn")

    # -- consensus
    rep.section("consensus", "Consensus clustering")
    rep.text(f"Suggested k = {k}: {cc.k_rule_}")
    res = cc.results_[k]
    figs = [
        (fig_to_base64(plots.consensus_heatmap(res.consensus, res.classes, k=k)),
         f"Consensus matrix for k = {k} (items ordered by subtype)"),
        (fig_to_base64(plots.cdf_plot({kk: r.cdf for kk, r in cc.results_.items()})),
         "Consensus CDF for each k"),
        (fig_to_base64(plots.delta_area_plot(cc.per_k_, suggested_k=k)),
         "Relative change in area under the CDF (delta area)"),
    ]
    rep.figures(figs)
    pk = cc.per_k_.copy()
    pk["ARI vs archetypes"] = pk["k"].map(ari_by_k)
    rep.table(pk.set_index("k"), caption="Per-k statistics (PAC: proportion of ambiguous "
                                         "clustering, lower is better)")

    # -- subtypes vs archetypes
    rep.section("subtypes", "Subtypes versus planted archetypes")
    arch = truth.loc[ok["ID"], "archetype"].to_numpy()
    conf = pd.crosstab(pd.Series([f"S{c}" for c in subtype], name="subtype"),
                       pd.Series([f"A{a}" for a in arch], name="archetype"))
    rep.table(conf, caption=f"Confusion table; adjusted Rand index = {ari:.3f}")
    ctab = pd.crosstab(pd.Series([f"S{c}" for c in subtype], name="subtype"),
                       pd.Series(ok["CancerType"].to_numpy(), name="cancer type"))
    rep.table(ctab, caption="Subtypes by cancer type: the subtypes are shared across cancer types "
                            "and modalities")
    try:
        rep.figure(_boxplots(ok, subtype), "Selected features by subtype")
    except Exception as exc:
        rep.text(f"(boxplots unavailable: {exc})", "warn")
    if ae_report is not None:
        rep.table(ae_report if isinstance(ae_report, pd.DataFrame) else pd.DataFrame(ae_report),
                  caption="Autoencoder vs PCA reconstruction error (standardised features)")

    # -- survival
    rep.section("survival", "Survival by subtype")
    rep.figure(sv.plot_km(km, logrank_p=summ["logrank_p"], title="Kaplan-Meier by subtype",
                          xlabel="months"),
               f"Kaplan-Meier curves with 95% bands and numbers at risk; log-rank p = "
               f"{_p(summ['logrank_p'])}")
    ctab = pd.DataFrame(summ["cox"])
    if len(ctab):
        rep.table(ctab.set_index("term"), caption=f"Multivariable Cox model (reference subtype "
                                                 f"{summ['reference']}; covariate age)")
    ci = summ["c_index"]
    rep.text(f"Harrell's C-index of the Cox model: {ci['value']:.3f} (95% bootstrap CI "
             f"{ci['ci_low']:.3f}-{ci['ci_high']:.3f}).")

    # -- classifier
    rep.section("classifier", "Subtype classifier (XGBoost on the 313 features)")
    rows = []
    for key in ("accuracy", "balanced_accuracy", "macro_auc"):
        v = cv.get(key)
        if isinstance(v, dict):
            rows.append({"metric": key, "mean": v.get("mean"), "sd": v.get("sd")})
    if rows:
        rep.table(pd.DataFrame(rows).set_index("metric"),
                  caption="Cross-validated performance (stratified 5-fold)")
    try:
        imp = clf.feature_importances("gain").head(15)
        rep.table(imp.to_frame("gain importance"), caption="Top features (gain)")
    except Exception:
        pass

    # -- real cases
    rep.section("real", "Real cases")
    if real is None:
        rep.text("No shared data folder found: set PANCANCER_SHARED_DATA to include the real lung CT,"
                 " breast MR and brain MR cases.", "note")
    elif "error" in real:
        rep.text(f"Real cases skipped: {real['error']}", "warn")
    else:
        rf = real["features"]
        show = rf[["ID", "CancerType", "Modality", "error"]].copy()
        for c in ("shape_volume_mm3", "shape_radius_mm", "regional_TC_TIM_correlation"):
            if c in rf:
                show[c] = rf[c]
        if real["pred"] is not None:
            show = show.merge(real["pred"], on="ID", how="left")
        rep.table(show.set_index("ID"), caption="Features and assigned subtype of the real cases "
                                                 "(classifier trained on the synthetic cohort: an "
                                                 "illustration of the workflow, not a clinical "
                                                 "result)")

    # -- provenance
    rep.section("run", "Run")
    from . import __version__

    rep.text(f"pancancer-subtype {__version__}; seed {summary['seed']}; {summary['reps']} "
             f"resamplings; encoder: {summary['encoder']}. The same seed gives the same report, "
             f"byte for byte; the time per step ({workers} workers) is in summary.json.")
    rep.write(path)


def _p(p) -> str:
    return "n/a" if p is None else (f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}")


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def _pick_cases(man: pd.DataFrame):
    picks = {}
    for (ct, a), g in man.groupby(["CancerType", "archetype"]):
        picks[(ct, int(a))] = g.iloc[0]
    return picks


def _region_figure(man):
    import SimpleITK as sitk
    from matplotlib.figure import Figure

    from .regions import tumour_regions

    picks = _pick_cases(man)
    cts = sorted({c for c, _ in picks})
    fig = Figure(figsize=(3.0 * 4, 3.0 * len(cts)))
    for r, ct in enumerate(cts):
        for a in range(1, 5):
            ax = fig.add_subplot(len(cts), 4, r * 4 + a)
            ax.set_xticks([])
            ax.set_yticks([])
            row = picks.get((ct, a))
            if row is None:
                continue
            img = sitk.ReadImage(row["Image"])
            arr = sitk.GetArrayFromImage(img).astype(float)
            m = sitk.GetArrayFromImage(sitk.ReadImage(row["Mask"])).astype(bool)
            org = sitk.GetArrayFromImage(sitk.ReadImage(row["OrganMask"])).astype(bool)
            reg = tumour_regions(m, org, img.GetSpacing(), definition="reference")
            z = int(np.argmax(m.sum(axis=(1, 2))))
            zz, yy, xx = np.nonzero(m)
            cy, cx = int(yy.mean()), int(xx.mean())
            half = int(max(np.ptp(yy), np.ptp(xx)) / 2 + 25 / img.GetSpacing()[0])
            ys = slice(max(cy - half, 0), cy + half)
            xs = slice(max(cx - half, 0), cx + half)
            lo, hi = (-1000, 300) if row["Modality"] == "CT" else np.percentile(arr, [1, 99.5])
            ax.imshow(arr[z, ys, xs], cmap="gray", vmin=lo, vmax=hi, origin="upper")
            for name, colour in REGION_COLOURS.items():
                if name not in reg:
                    continue
                sl = reg[name][z, ys, xs].astype(float)
                if name.startswith("PM"):
                    sl = (reg[name][z, ys, xs] & ~m[z, ys, xs]).astype(float)
                if sl.any():
                    ax.contour(sl, levels=[0.5], colors=[colour], linewidths=1.0)
            if r == 0:
                ax.set_title(f"archetype {a}", fontsize=10)
            if a == 1:
                ax.set_ylabel(f"{ct} ({row['Modality']})", fontsize=10)
    fig.tight_layout()
    return fig


def _spharm_figure(man):
    import SimpleITK as sitk
    from matplotlib.figure import Figure
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection  # noqa: F401  (3D projection)

    from .shape import reconstruct, spharm_decompose

    picks = _pick_cases(man)
    degrees = (1, 5, 15)
    fig = Figure(figsize=(2.6 * len(degrees) + 0.5, 2.6 * 4))
    for a in range(1, 5):
        row = next((picks[(ct, a)] for ct in ("lung", "brain", "breast") if (ct, a) in picks), None)
        if row is None:
            continue
        m = sitk.ReadImage(row["Mask"])
        res = spharm_decompose(sitk.GetArrayFromImage(m).astype(bool), m.GetSpacing())
        for j, d in enumerate(degrees):
            ax = fig.add_subplot(4, len(degrees), (a - 1) * len(degrees) + j + 1, projection="3d")
            v, f = reconstruct(res, d, aligned=True)
            ax.add_collection3d(Poly3DCollection(v[f], facecolors="#8fb3d9", edgecolors="#8fb3d9", linewidths=0,
                                                 shade=True))
            lim = np.abs(v).max()
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_zlim(-lim, lim)
            ax.set_axis_off()
            ax.set_title(f"A{a} ({row['CancerType']}), degree {d}", fontsize=9)
    fig.tight_layout()
    return fig


def _boxplots(ok, subtype):
    from matplotlib.figure import Figure

    wanted = [("shape_volume_mm3", "tumour volume (mm³, log)", True),
              ("shape_energy_l2", "SPHARM energy, degree 2", False),
              ("shape_energy_l8", "SPHARM energy, degree 8 (irregularity)", False),
              ("shape_entropy_l8", "energy entropy, degree 8 (symmetry)", False),
              ("regional_TIM_PM5_correlation", "TIM vs PM5 histogram correlation", False),
              ("regional_TC_PM10_bhattacharyya", "TC vs PM10 Bhattacharyya distance", False)]
    wanted = [w for w in wanted if w[0] in ok.columns]
    labs = sorted(set(subtype))
    fig = Figure(figsize=(4.0 * 3, 3.2 * ((len(wanted) + 2) // 3)))
    for i, (c, title, logy) in enumerate(wanted):
        ax = fig.add_subplot((len(wanted) + 2) // 3, 3, i + 1)
        data = [ok.loc[np.asarray(subtype) == s, c].dropna().to_numpy() for s in labs]
        ax.boxplot(data, tick_labels=[f"S{s}" for s in labs])
        if logy:
            ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
