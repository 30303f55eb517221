"""Benchmark: cross-modality agreement of the features on the shared CT / MR sarcoma pairs.

Issue 22's targets on the ten pairs: median ICC(3,1) >= 0.75 over the 20 regional features, none
below 0.5, shape >= 0.95, between-patient spread kept.

    cd <repo> && PYTHONPATH=PanCancerSubtype python benchmarks/agreement_bench.py \
        [--data ../shared/data] [--out DIR] [--workers 2] [--n-boot 2000] [--lopo | --lopo-only]

1. ``pancancer-subtype agreement`` (:func:`agreement.run_agreement`) in four configurations:
   the reference definition with no parenchyma (what the issue measured) and with the
   soft-tissue parenchyma, the ``3d`` definition, and the ``cross-modality`` definition (with the
   293 shape features).  Prints, per regional feature, ICC(3,1) [95% CI] and Spearman's rho
   for the reference and the cross-modality definitions side by side, the between-patient SD,
   and per configuration the median ICC with its patient-bootstrap interval.
2. ``--lopo``: the protocol for the cross-modality definition's tunable settings.  Every
   combination of TIM width (3, 5, 8 mm), pseudo-count (0.003, 0.01, 0.03) and parenchyma
   (none, soft-tissue) is computed; then, leaving one pair out at a time, the combination with
   the best median ICC (ties: best minimum) on the other nine is chosen and the left-out pair
   is scored with it (:func:`cv_icc`: a leave-one-pair-out ICC).  Printed next to the same
   cross-validated ICC of the default setting (no tuning): the estimate of "tune on the data,
   apply to new pairs" that the in-sample figures overstate.
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "PanCancerSubtype"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from PanCancerSubtypeLib.agreement import read_paired_manifest, run_agreement  # noqa: E402
from PanCancerSubtypeLib.heterogeneity import FEATURE_NAMES  # noqa: E402
from PanCancerSubtypeLib.reliability import icc  # noqa: E402

CONFIGS = (  # name, groups, regional options
    ("reference, parenchyma none", "regional", {"definition": "reference", "parenchyma": "none"}),
    ("reference, soft-tissue", "regional", {"definition": "reference"}),
    ("3d, soft-tissue", "regional", {"definition": "3d"}),
    ("cross-modality", "cross", {"definition": "cross-modality"}),
)


def agreement_runs(pairs: Path, out: Path, workers: int, n_boot: int):
    res = {}
    for name, groups, opts in CONFIGS:
        t0 = time.perf_counter()
        res[name] = run_agreement(pairs, out / name.replace(", ", "_").replace(" ", "-"),
                                  groups=groups, group_options={"regional": opts},
                                  organ="soft-tissue", workers=workers, n_boot=n_boot,
                                  progress=False)
        print(f"[{name}: {time.perf_counter() - t0:.0f} s]", file=sys.stderr)
    return res


def print_tables(res) -> None:
    ref, cross = res["reference, parenchyma none"], res["cross-modality"]
    a = ref.table.set_index("feature")
    b = cross.table.set_index("feature")
    print("\nRegional features, ICC(3,1) [95% CI] and Spearman rho between CT and MR "
          f"({cross.n_pairs} pairs)")
    print(f"{'feature':<24} {'reference (parenchyma none)':>34} {'cross-modality':>34}"
          f" {'SD ref':>7} {'SD cross':>8}")
    for f in FEATURE_NAMES:
        r, c = a.loc[f], b.loc[f]
        print(f"{f[9:]:<24} {r['icc']:6.2f} [{r['ci_low']:5.2f}, {r['ci_high']:4.2f}] "
              f"rho {r['spearman_rho']:5.2f}   {c['icc']:6.2f} [{c['ci_low']:5.2f}, "
              f"{c['ci_high']:4.2f}] rho {c['spearman_rho']:5.2f}  {r['spread_sd']:7.3f}"
              f" {c['spread_sd']:8.3f}")
    print("\nSummary (median ICC with the patient-bootstrap 95% interval of the median)")
    for name, r in res.items():
        for row in r.summary.to_dict("records"):
            ci = (f"[{row['median_icc_ci_low']:.2f}, {row['median_icc_ci_high']:.2f}]"
                  if "median_icc_ci_low" in row else "")
            print(f"  {name:<28} {row['group']:<9} {row['features']:>3} features: median "
                  f"{row['median_icc']:.3f} {ci}, min {row['min_icc']:.3f}, "
                  f"{row['n_below_0.5']} below 0.5, {row['n_at_least_0.75']} >= 0.75, "
                  f"median rho {row['median_spearman']:.2f}")


# ------------------------------------------------------------------------------------------
def lopo(pairs: Path) -> None:
    from PanCancerSubtypeLib.heterogeneity import cross_modality_case_features
    from PanCancerSubtypeLib.io import load_case
    from PanCancerSubtypeLib.regions import parenchyma_mask, tumour_regions

    man = read_paired_manifest(pairs)
    patients = list(dict.fromkeys(man["Patient"]))
    rims, eps_list, pars = (3.0, 5.0, 8.0), (0.003, 0.01, 0.03), ("none", "soft-tissue")
    combos = list(itertools.product(rims, eps_list, pars))
    vals = {c: {} for c in combos}  # combo -> (patient, rater) -> features
    t0 = time.perf_counter()
    for row in man.to_dict("records"):
        case = load_case(row["Image"], row["Mask"], modality=row["Modality"],
                         organ="soft-tissue", case_id=row["ID"])
        t = case.mask_array()
        for par in pars:
            pm = None if par == "none" else parenchyma_mask(case, method=par)
            for rim in rims:
                reg = tumour_regions(t, pm, case.spacing, "cross-modality", rim_mm=rim)
                for eps in eps_list:
                    f, _ = cross_modality_case_features(case, reg, pseudo_count=eps)
                    vals[(rim, eps, par)][(row["Patient"], row["Rater"])] = f
    print(f"\n[LOPO features: {len(combos)} settings x {len(man)} images, "
          f"{time.perf_counter() - t0:.0f} s]", file=sys.stderr)

    def table(c, name, pats):
        return np.array([[vals[c][(p, "CT")][name], vals[c][(p, "MR")][name]] for p in pats])

    def score(c, pats):
        v = np.array([icc(table(c, n, pats)) for n in FEATURE_NAMES])
        return float(np.nanmedian(v)), float(np.nanmin(v))

    print("\nCross-modality settings, in-sample on all pairs (median ICC, min ICC):")
    for c in combos:
        m, mn = score(c, patients)
        print(f"  TIM {c[0]:g} mm, pseudo-count {c[1]:g}, parenchyma {c[2]:<12} "
              f"median {m:.3f} min {mn:.3f}")
    chosen = []
    for i, p in enumerate(patients):
        rest = [q for q in patients if q != p]
        chosen.append(max(combos, key=lambda c: score(c, rest)))
    print("\nLeave-one-pair-out choice of the setting (chosen per fold):")
    for c, k in Counter(chosen).most_common():
        print(f"  TIM {c[0]:g} mm, pseudo-count {c[1]:g}, parenchyma {c[2]}: {k} of "
              f"{len(patients)} folds")
    default = (5.0, 0.01, "soft-tissue")
    for label, per_fold in (("default setting, no tuning", [default] * len(patients)),
                            ("setting tuned on the other nine pairs", chosen)):
        v = np.array([cv_icc([table(c, n, patients) for c in per_fold]) for n in FEATURE_NAMES])
        print(f"cross-validated ICC(3,1), {label}: median {np.median(v):.3f}, min "
              f"{v.min():.3f}, {(v < 0.5).sum()} below 0.5")
    m, mn = score(default, patients)
    print(f"(default, in-sample ICC(3,1): median {m:.3f}, min {mn:.3f})")


def cv_icc(tables) -> float:
    """Leave-one-pair-out ICC(3,1) of one feature for two raters.

    ``tables[i]`` is the patients x 2 table of the setting used for fold i (patient i held
    out).  Per fold, the held-out pair's error mean square, (d_i - mean d_train)^2 / 2 with d the
    rater difference, is divided by the training pairs' between-patient mean square (2 x the
    variance of their patient means), both on the fold's own scale; with r the mean of these
    ratios over the folds, ICC = (1 - r) / (1 + r), the ICC(3,1) formula (BMS - EMS) /
    (BMS + EMS) with EMS / BMS = r.  For one fixed setting it estimates the same quantity as the
    in-sample ICC, a little lower (the held-out mean difference is estimated without the pair).
    """
    ratios = []
    for i, x in enumerate(tables):
        train = np.delete(x, i, axis=0)
        d = train[:, 1] - train[:, 0]
        bms = 2 * np.var(train.mean(axis=1), ddof=1)
        e = (x[i, 1] - x[i, 0] - d.mean()) ** 2 / 2
        ratios.append(e / bms if bms > 0 else np.inf)
    r = float(np.mean(ratios))
    return (1 - r) / (1 + r)


def main(argv=None) -> int:
    here = Path(__file__).resolve().parents[1]
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.environ.get("PANCANCER_SHARED_DATA",
                                                    str(here.parent / "shared" / "data")))
    p.add_argument("--out", default=None, help="output folder (default: a temporary folder)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--lopo", action="store_true", help="also the leave-one-pair-out protocol")
    p.add_argument("--lopo-only", action="store_true", help="only the leave-one-pair-out protocol")
    args = p.parse_args(argv)
    pairs = Path(args.data) / "IBSI_soft_tissue_sarcoma_CT_MR" / "pairs.csv"
    if not pairs.is_file():
        print(f"no paired data at {pairs}", file=sys.stderr)
        return 2
    if not args.lopo_only:
        out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="agreement_bench_"))
        res = agreement_runs(pairs, out, args.workers, args.n_boot)
        print_tables(res)
        print(f"\n(outputs in {out})")
    if args.lopo or args.lopo_only:
        lopo(pairs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
