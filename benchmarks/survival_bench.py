"""Timings of the survival / signature / cross-cancer code at the paper's cohort size.

    nice python benchmarks/survival_bench.py [--n 1682] [--p 313]

Synthetic data: n patients x p features (3 true prognostic features), 4 subtypes, 3 cancer
types.  Prints wall-clock seconds per step; run once (heavy), on an idle machine if possible.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "PanCancerSubtype"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1682)
    ap.add_argument("--p", type=int, default=313)
    ap.add_argument("--cross-cancer-features", type=int, default=60,
                    help="features in the cross-cancer run (univariable Cox is ~n_features x "
                         "n_types lifelines fits)")
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    from PanCancerSubtypeLib import survival as S, signatures as G, crosscancer as CC

    rng = np.random.default_rng(0)
    n, p = a.n, a.p
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"f{i}" for i in range(p)])
    sub = rng.integers(0, 4, n)
    lp = 0.8 * X["f0"] - 0.6 * X["f1"] + 0.4 * X["f2"] + 0.3 * sub
    T = rng.exponential(24 * np.exp(-lp))
    C = rng.uniform(6, 72, n)
    t, e = np.minimum(T, C), (T <= C).astype(int)
    df = pd.DataFrame({"time": t, "event": e, "subtype": [f"S{k}" for k in sub],
                       "age": rng.normal(60, 10, n), "ct": rng.choice(["lung", "breast", "brain"], n)})
    res = {}

    def tick(name, fn):
        t0 = time.perf_counter()
        out = fn()
        res[name] = time.perf_counter() - t0
        print(f"{name:55s} {res[name]:8.2f} s", flush=True)
        return out

    print(f"n={n} p={p} events={e.sum()}  (load: {os.getloadavg()})")
    tick("import lifelines + sksurv", lambda: (__import__("lifelines"), __import__("sksurv.linear_model")))
    tick("survival_summary (KM, log-rank, Cox, PH, C-index 200 boot)",
         lambda: S.survival_summary(df, "time", "event", "subtype", ["age"], n_boot=200))
    cox = S.cox_ph(df, "time", "event", "subtype", ["age"])
    lpv = cox.linear_predictor()
    tick("c_index n_boot=1000", lambda: S.c_index(t, e, lpv, n_boot=1000))
    m = tick(f"LassoCoxSignature fit ({n}x{p}, 5-fold, 50 alphas)",
             lambda: G.LassoCoxSignature().fit(X, t, e))
    print("    selected:", m.selected_features_[:10], "alpha", round(m.alpha_, 4),
          "cv C", round(m.cv_c_index_, 3))
    s = m.predict(X)
    tick("optimal_cutoff (81 cutoffs, 1000 permutations)",
         lambda: G.optimal_cutoff(s, t, e, n_perm=1000))
    tick("time_dependent_auc (3 times)", lambda: G.time_dependent_auc(t, e, s, [12, 24, 48]))
    y = (lp + rng.logistic(size=n) > lp.median()).astype(int)
    tick(f"LassoLogisticSignature ({n}x{p}, 20 Cs, 5x5 nested CV)",
         lambda: G.LassoLogisticSignature().fit(X, y))
    tick("delong_test", lambda: G.delong_test(y, s, X["f0"]))
    k = a.cross_cancer_features
    dd = pd.concat([df, X.iloc[:, :k]], axis=1)
    tick(f"cross_cancer survival ({k} features x 3 types, Cox)",
         lambda: CC.cross_cancer_comparison(dd, list(X.columns[:k]), "ct", time="time",
                                            event="event"))
    dd["y"] = y
    tick(f"cross_cancer binary ({p} features x 3 types, Mann-Whitney)",
         lambda: CC.cross_cancer_comparison(pd.concat([df, X, dd[["y"]]], axis=1),
                                            list(X.columns), "ct", outcome="y"))


if __name__ == "__main__":
    main()
