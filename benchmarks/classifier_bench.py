"""Benchmark of the subtype classifier at the paper's scale: 1,682 patients x 313 features, 4 classes.

Prints training time (with the default stratified 5-fold CV, i.e. 6 model fits), prediction time
(whole cohort and one patient), SHAP time and bundle save / load times.

    PYTHONPATH=PanCancerSubtype python benchmarks/classifier_bench.py [--cv-repeats 1]
        [--calibration sigmoid] [--n-jobs 1] [--max-bin 64]

The data are synthetic: Gaussian features, 12 of them shifted by class (effects 0-1.5 SD),
so that the trees are as deep as on real, partly separable data (pure noise labels would be the
worst case, perfectly separable data the best).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "PanCancerSubtype"))


def make(n=1682, p=313, k=4, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    X = rng.normal(size=(n, p))
    eff = rng.uniform(0.0, 1.5, size=(12, k))
    for j in range(12):
        X[:, j * 7] += eff[j, y]
    X[rng.random(X.shape) < 0.01] = np.nan            # 1 % missing, handled natively
    df = pd.DataFrame(X, columns=[f"feat_{j:03d}" for j in range(p)])
    df.insert(0, "ID", [f"P{i:05d}" for i in range(n)])
    return df, np.array(["C1", "C2", "C3", "C4"])[y]


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1682)
    ap.add_argument("--p", type=int, default=313)
    ap.add_argument("--cv-folds", type=int, default=5)
    ap.add_argument("--cv-repeats", type=int, default=1)
    ap.add_argument("--calibration", default=None)
    ap.add_argument("--n-jobs", type=int, default=1)
    ap.add_argument("--max-bin", type=int, default=64)
    args = ap.parse_args(argv)

    import xgboost
    from PanCancerSubtypeLib.classifier import SubtypeClassifier, load_bundle, save_bundle

    df, y = make(args.n, args.p)
    print(f"data: {args.n} x {args.p}, 4 classes; xgboost {xgboost.__version__}, "
          f"python {platform.python_version()}, n_jobs {args.n_jobs}, max_bin {args.max_bin}")
    try:
        print(f"load average: {os.getloadavg()}, cpus: {os.cpu_count()}")
    except OSError:
        pass
    m = SubtypeClassifier(cv_folds=args.cv_folds, cv_repeats=args.cv_repeats,
                          calibration=args.calibration, n_jobs=args.n_jobs,
                          max_bin=args.max_bin)
    t, c = time.perf_counter(), time.process_time()
    m.fit(df, y)
    t_fit, c_fit = time.perf_counter() - t, time.process_time() - c
    n_fits = (args.cv_folds * args.cv_repeats + 1) * (1 if args.calibration is None else 6)
    print(f"fit with CV ({m.cv_report_.get('scheme', 'none')}, calibration "
          f"{args.calibration}): wall {t_fit:.2f} s, CPU {c_fit:.2f} s  ({n_fits} XGBoost fits, "
          f"CPU {c_fit / n_fits:.2f} s per fit)")
    print(f"  CV accuracy {m.cv_report_['accuracy']['mean']:.3f}, macro AUC "
          f"{m.cv_report_['macro_auc']['mean']:.3f}")
    t, c = time.perf_counter(), time.process_time()
    P = m.predict_proba(df)
    t_pred, c_pred = time.perf_counter() - t, time.process_time() - c
    print(f"predict_proba, {len(df)} rows: wall {t_pred * 1000:.1f} ms, CPU {c_pred * 1000:.1f} ms")
    one = df.iloc[[0]]
    m.predict_proba(one)
    reps = 20
    t, c = time.perf_counter(), time.process_time()
    for _ in range(reps):
        m.predict_proba(one)
    print(f"predict_proba, 1 row: wall {(time.perf_counter() - t) / reps * 1000:.2f} ms, "
          f"CPU {(time.process_time() - c) / reps * 1000:.2f} ms")
    t, c = time.perf_counter(), time.process_time()
    m.shap_values(df)
    print(f"SHAP contributions, {len(df)} rows: wall {time.perf_counter() - t:.2f} s, "
          f"CPU {time.process_time() - c:.2f} s")
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        save_bundle(m, d, overwrite=True)
        t_save = time.perf_counter() - t
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        t = time.perf_counter()
        m2 = load_bundle(d)
        t_load = time.perf_counter() - t
        same = np.array_equal(m2.predict_proba(df), P)
    print(f"bundle: save {t_save * 1000:.0f} ms, load (checksums + parse) {t_load * 1000:.0f} ms, "
          f"{size / 1e6:.2f} MB, identical predictions after reload: {same}")


if __name__ == "__main__":
    main()
