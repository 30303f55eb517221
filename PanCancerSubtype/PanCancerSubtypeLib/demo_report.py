"""The demo's HTML report: one section per step of :func:`.demo.run_demo` (one file, images
embedded).  :func:`write_report` takes the :class:`~.demo.DemoRun`."""
from __future__ import annotations

import numpy as np
import pandas as pd

REGION_COLOURS = {"TC": "#d62728", "TIM": "#ff7f0e", "PM5": "#17becf", "PM10": "#1f77b4"}


def write_report(path, run) -> None:
    from .report import Report
    from .synthetic import ARCHETYPES

    rep = Report("PanCancerSubtype: end-to-end demo on a synthetic pan-cancer cohort",
                 "Wu et al. (Nat Mach Intell 2021) pipeline: SPHARM shape + regional variation "
                 "-> encoder -> consensus clustering (discovery / validation) -> XGBoost subtype "
                 "classifier -> survival")
    man = run.manifest
    cv = run.classifier.cv_report_
    igp = run.design.igp_at()

    # -- cohort
    rep.section("cohort", "Cohort")
    rep.kpis([("cases", len(man)), ("features per case", len(run.columns)),
              ("feature failures", len(run.failed)), ("subtypes found (k)", run.k),
              ("ARI vs archetypes", f"{run.ari:.2f}"),
              ("supervised ceiling (CV accuracy)", _fmt(run.supervised.get("accuracy"))),
              ("smallest validation IGP", _fmt(igp["igp"].min() if len(igp) else None)),
              ("log-rank p", _p(run.survival["logrank_p"])),
              ("classifier CV accuracy", _fmt(_mean(cv, "accuracy")))])
    ct = pd.crosstab((man["CancerType"] + " (" + man["Modality"] + ")").rename("cancer type"),
                     man["archetype"].map(lambda a: f"A{a}: {ARCHETYPES[a]['name']}"),
                     margins=True, margins_name="total")
    rep.table(ct, caption="Cases by cancer type (modality) and planted morphological archetype")
    rep.text("Each synthetic case has a tumour from one of four archetypes after the paper's "
             "description of the subtypes (1 small, sharp margin; 2 intermediate, moderately defined;"
             " 3 large, ill-defined blurred margin; 4 large, irregular rugged shape), survival "
             "times whose hazard depends on the archetype and on age, and CT slice thicknesses of "
             "1.25-5 mm.", "note")
    if len(run.failed):
        rep.table(run.failed[["ID", "CancerType", "error"]].set_index("ID"),
                  caption="Cases whose features failed (recorded, excluded)")

    # -- illustrations (a failure is shown, not fatal)
    for key, label, title, make, caption in (
            ("regions", "regions", "Example slices with tumour regions", region_figure,
             "Middle tumour slice of one case per cancer type (rows) and archetype (columns); "
             "contours: tumour core TC (red), invasive margin TIM (orange), parenchymal margins "
             "PM5 (cyan) and PM10 (blue), reference definition."),
            ("spharm", "SPHARM", "SPHARM shape reconstructions", spharm_figure,
             "Tumour surfaces rebuilt from their spherical-harmonic coefficients at degrees 1 "
             "(the first-order ellipsoid), 5 and 15, one case per archetype (cf. the paper's "
             "Extended Data Fig. 1).")):
        rep.section(key, title)
        try:
            rep.figure(make(man), caption)
        except Exception as exc:
            rep.text(f"({label} figure unavailable: {type(exc).__name__}: {exc})", "warn")

    _design_section(rep, run, igp)
    _encoder_section(rep, run)
    _k_section(rep, run)
    _subtypes_section(rep, run)
    _survival_section(rep, run)
    _classifier_section(rep, run, cv)
    _real_section(rep, run)
    if run.pairs is not None:
        from .agreement import cross_modality_section

        try:
            # regional features only: the shape descriptors' agreement (ICC 0.999) does not
            # depend on the regional definition and takes minutes (README)
            run.cross_modality = cross_modality_section(
                rep, run.out_dir / "agreement", pairs=run.pairs, workers=run.workers,
                shape=False, progress=False)
        except Exception as exc:  # an illustration: a failure is shown, not fatal
            rep.section("crossmodality", "Cross-modality agreement")
            rep.text(f"(cross-modality agreement unavailable: {type(exc).__name__}: {exc})",
                     "warn")

    # -- provenance
    rep.section("run", "Run")
    from . import __version__

    rep.text(f"pancancer-subtype {__version__}; seed {run.seed}; {run.reps} resamplings; "
             f"encoder: {run.whole.encoder_used}. The same seed gives the same report, byte for "
             f"byte; the time per step ({run.workers} workers) is in summary.json.")
    rep.write(path)


def _design_section(rep, run, igp) -> None:
    d = run.design
    s = d.summary()
    rep.section("design", "Discovery and validation")
    rep.text(f"The cohort is split, stratified by cancer type, into a discovery set "
             f"({s['n_discovery']} tumours) and a validation set ({s['n_validation']}). "
             f"Preparation and the encoder are fitted on the discovery set only. Consensus "
             f"clustering finds k = {s['discovery_k']} in the discovery set and, on its own, "
             f"k = {s['validation_own_k']} in the validation set; the validation set's own "
             f"clusters agree with its nearest-discovery-centroid assignment with ARI "
             f"{s['validation_agreement_ari']:.2f}. The whole population (k = {s['whole_k']}) "
             f"gives the subtypes used below.")
    show = igp.rename(columns={"igp": "IGP", "p_value": "p (permutation)"})
    rep.table(show.set_index("cluster"),
              caption=f"In-group proportion of the validation set against the discovery "
                      f"centroids at k = {d.k} (clusterRepro; 1000 permutations). IGP >= 0.8 "
                      f"means a subtype reproduces.")
    if len(d.purity_by_type):
        rep.table(d.purity_by_type.set_index("cancer_type"),
                  caption="Cluster purity by repeated 5-fold cross-validation of the discovery "
                          "clustering, overall (all) and within each cancer type")


def _encoder_section(rep, run) -> None:
    comp = run.whole.encoder_comparison
    rep.section("encoder", "Encoder: autoencoder versus PCA")
    if comp is None:
        rep.text(f"Encoder: {run.whole.encoder_used} (no comparison was run).", "note")
        return
    rep.table(comp.drop(columns=["fit_seconds"], errors="ignore"),
              caption=f"Reconstruction error (MSE, prepared features) of the autoencoder and "
                            f"of PCA with the same code size, fitted on the same data, on it and "
                            f"on held-out data ({comp.attrs.get('heldout', '')}).")
    ae, pca = comp["heldout_mse"]
    rep.text(f"The {run.whole.encoder_used} was used: it reconstructs held-out tumours "
             f"{'better' if min(ae, pca) < max(ae, pca) else 'as well'} "
             f"(MSE {min(ae, pca):.4g} against {max(ae, pca):.4g}). PCA is the optimal linear "
             f"code of its training data; an autoencoder earns its place only when it does "
             f"better on tumours it was not trained on.")


def _k_section(rep, run) -> None:
    from . import plots
    from .report import fig_to_base64

    whole = run.whole
    cc = whole.consensus
    rep.section("kchoice", "Choice of k")
    rep.text(f"Rule: {whole.k_rule}")
    ev = cc.per_k_[["k", "cdf_area", "delta_area", "pac"]].copy()
    ev["mean cluster consensus"] = [float(np.nanmean(cc.results_[int(k)].cluster_consensus))
                                    for k in ev["k"]]
    ev["ARI vs archetypes"] = ev["k"].map(run.ari_by_k)
    rep.table(ev.set_index("k"), caption="Evidence per k: area under the consensus CDF, its "
                                         "relative increase (delta area), PAC (proportion of "
                                         "ambiguous clustering, lower is better), mean "
                                         "within-cluster consensus (stability)")
    rep.figures([
        (fig_to_base64(plots.cdf_plot({k: r.cdf for k, r in cc.results_.items()})),
         "Consensus CDF for each k"),
        (fig_to_base64(plots.delta_area_plot(cc.per_k_, suggested_k=whole.k)),
         "Relative change in area under the CDF (delta area)")])
    rep.section("consensus", "Consensus clustering")
    res = cc.results_[whole.k]
    rep.figure(plots.consensus_heatmap(res.consensus, res.classes, k=whole.k),
               f"Consensus matrix for k = {whole.k} (items ordered by subtype)")


def _subtypes_section(rep, run) -> None:
    rep.section("subtypes", "Subtypes versus planted archetypes")
    sub = pd.Series([f"S{c}" for c in run.subtype], name="subtype")
    conf = pd.crosstab(sub, pd.Series([f"A{a}" for a in run.archetypes], name="archetype"))
    rep.table(conf, caption=f"Confusion table; adjusted Rand index = {run.ari:.3f}")
    sup = run.supervised
    rep.text(f"Supervised ceiling: a classifier trained on the planted archetypes themselves "
             f"reaches a cross-validated accuracy of {_fmt(sup.get('accuracy'))} (balanced "
             f"{_fmt(sup.get('balanced_accuracy'))}): that much structure the features hold; the "
             f"unsupervised subtypes recover it with ARI {run.ari:.2f}.")
    ctab = pd.crosstab(sub, pd.Series(run.ok["CancerType"].to_numpy(), name="cancer type"))
    rep.table(ctab, caption="Subtypes by cancer type: the subtypes are shared across cancer types "
                            "and modalities")
    try:
        rep.figure(boxplots(run.ok, run.subtype), "Selected features by subtype")
    except Exception as exc:
        rep.text(f"(boxplots unavailable: {exc})", "warn")


def _survival_section(rep, run) -> None:
    from . import survival as sv

    summ = run.survival
    rep.section("survival", "Survival by subtype")
    rep.figure(sv.plot_km(run.km, logrank_p=summ["logrank_p"], title="Kaplan-Meier by subtype",
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


def _classifier_section(rep, run, cv) -> None:
    rep.section("classifier", "Subtype classifier (XGBoost on the 313 features)")
    rows = [{"metric": key, "mean": cv[key].get("mean"), "sd": cv[key].get("sd")}
            for key in ("accuracy", "balanced_accuracy", "macro_auc", "log_loss", "brier")
            if isinstance(cv.get(key), dict)]
    if rows:
        rep.table(pd.DataFrame(rows).set_index("metric"),
                  caption="Cross-validated performance (stratified 5-fold)")
    rel = cv.get("reliability")
    if isinstance(rel, dict) and rel.get("bins"):
        rep.figure(reliability_figure(rel),
                   f"Calibration: reliability diagram of the out-of-fold probabilities (top "
                   f"label); expected calibration error {rel['ece']:.3f}, Brier score "
                   f"{_fmt(_mean(cv, 'brier'))}")
    try:
        imp = run.classifier.feature_importances("gain").head(15)
        rep.table(imp.to_frame("gain importance"), caption="Top features (gain)")
    except Exception:
        pass


def _real_section(rep, run) -> None:
    rep.section("real", "Real cases")
    real = run.real
    if real is None:
        rep.text("No shared data folder found: set PANCANCER_SHARED_DATA to include the real lung CT,"
                 " breast MR and brain MR cases.", "note")
        return
    if "error" in real:
        rep.text(f"Real cases skipped: {real['error']}", "warn")
        return
    rf = real["features"]
    show = rf[["ID", "CancerType", "Modality", "error"]].copy()
    for c in ("shape_volume_mm3", "shape_radius_mm", "regional_TC_TIM_correlation"):
        if c in rf:
            show[c] = rf[c]
    if real["pred"] is not None:
        show = show.merge(real["pred"], on="ID", how="left")
    nov = getattr(run.classifier, "novelty_", None)
    note = ""
    if nov is not None:
        note = (f" Novelty: Mahalanobis distance (Ledoit-Wolf) to the training cohort, scaled so "
                f"a typical training tumour scores about 1; flagged (novel) above "
                f"{nov.threshold_:.3g}, the 97.5th percentile of the training tumours' "
                f"out-of-fold scores. A flagged case lies outside what the classifier was "
                f"trained on: its subtype should not be trusted.")
    rep.table(show.set_index("ID"), caption="Features, assigned subtype and novelty of the real "
                                             "cases (classifier trained on the synthetic cohort: an "
                                             "illustration of the workflow, not a clinical "
                                             "result)." + note)


def _mean(cv, key):
    v = cv.get(key)
    return v.get("mean") if isinstance(v, dict) else v
def _p(p) -> str:
    return "n/a" if p is None else (f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}")


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def _pick_cases(man: pd.DataFrame):
    picks = {}
    for (ct, a), g in man.groupby(["CancerType", "archetype"]):
        picks[(ct, int(a))] = g.iloc[0]
    return picks


def region_figure(man):
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


def spharm_figure(man):
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
            ax.add_collection3d(Poly3DCollection(v[f], facecolors="#8fb3d9",
                                                 edgecolors="#8fb3d9", linewidths=0, shade=True))
            lim = np.abs(v).max()
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_zlim(-lim, lim)
            ax.set_axis_off()
            ax.set_title(f"A{a} ({row['CancerType']}), degree {d}", fontsize=9)
    fig.tight_layout()
    return fig


def boxplots(ok, subtype):
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


def reliability_figure(rel):
    from matplotlib.figure import Figure

    b = pd.DataFrame(rel["bins"])
    fig = Figure(figsize=(4.2, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="perfect calibration")
    ax.plot(b["confidence"], b["accuracy"], marker="o", label="out-of-fold")
    for r in b.itertuples():
        ax.annotate(str(r.n), (r.confidence, r.accuracy), fontsize=7, xytext=(3, -9),
                    textcoords="offset points")
    ax.set_xlabel("predicted probability of the top subtype")
    ax.set_ylabel("observed accuracy")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig
