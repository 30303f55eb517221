"""Side-by-side check of our consensus clustering against R's ConsensusClusterPlus (not run in CI).

Needs ``Rscript`` with ConsensusClusterPlus and cluster (Debian: ``apt-get install -y r-base-core
r-bioc-consensusclusterplus``).  Usage:
    nice /work/venv/bin/python benchmarks/consensus_vs_r.py [--n 1682] [--r-reps 10] [--fast-reps 200]

1. Runs ConsensusClusterPlus (pam, pearson, pItem 0.8, maxK, seed) on synthetic data (the data of
   ``consensus_bench.py``), via ``benchmarks/r/consensus_fixture.R`` with ``CC_ONLY=1``.
2. Runs ``ConsensusClustering(r_compatible=True)`` with the same data, seed and settings and compares
   every consensus matrix (exact equality expected), the classes and the CDF areas.
3. Runs the fast mode with ``--fast-reps`` resamplings and prints the time per resampling of R
   (CPU seconds) against ours (CPU and wall seconds), i.e. the speed-up factor.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "PanCancerSubtype"))
sys.path.insert(0, str(HERE))

from consensus_bench import make_data  # noqa: E402
from PanCancerSubtypeLib.consensus import ConsensusClustering  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1682)
    ap.add_argument("--p", type=int, default=10)
    ap.add_argument("--k-max", type=int, default=10)
    ap.add_argument("--r-reps", type=int, default=10)
    ap.add_argument("--fast-reps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=2021)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    X = make_data(args.n, args.p)
    n = args.n
    print(f"load: {os.getloadavg()}  cores: {os.cpu_count()}")

    with tempfile.TemporaryDirectory() as wd:
        w = Path(wd)
        X.astype("<f8").tofile(w / "data.bin")
        env = dict(os.environ, CC_ONLY="1")
        t = time.perf_counter()
        subprocess.run(["Rscript", str(HERE / "r" / "consensus_fixture.R"), wd, str(n), str(args.p),
                        str(args.r_reps), str(args.k_max), str(args.seed)], check=True, env=env)
        r_wall_total = time.perf_counter() - t
        r_elapsed, r_cpu = (float(v) for v in (w / "r_seconds.txt").read_text().split())
        r_cons = {k: np.fromfile(w / f"cons_{k}.bin", "<f8").reshape(n, n)
                  for k in range(2, args.k_max + 1)}
        r_class = {k: np.fromfile(w / f"class_{k}.bin", "<i4") for k in range(2, args.k_max + 1)}
        r_area = np.fromfile(w / "areas.bin", "<f8")
    print(f"R ConsensusClusterPlus: n={n}, reps={args.r_reps}, k=2..{args.k_max}: "
          f"{r_elapsed:.1f} s elapsed, {r_cpu:.1f} s CPU (Rscript total {r_wall_total:.1f} s)")

    t = time.perf_counter()
    c0 = time.process_time()
    ours = ConsensusClustering(k_max=args.k_max, reps=args.r_reps, seed=args.seed,
                               r_compatible=True, n_jobs=args.jobs).fit(X)
    rc_wall, rc_cpu = time.perf_counter() - t, time.process_time() - c0
    print(f"ours r_compatible: {rc_wall:.1f} s wall, {rc_cpu:.1f} s CPU")
    all_equal = True
    for k in range(2, args.k_max + 1):
        res = ours.results_[k]
        eq = np.array_equal(res.consensus, r_cons[k])
        maxdiff = float(np.abs(res.consensus - r_cons[k]).max())
        cls = np.array_equal(res.classes, r_class[k])
        da = abs(res.cdf_area - r_area[k - 2])
        all_equal &= eq and cls and da <= 1e-12
        print(f"  k={k:2d}: consensus identical {eq} (max |diff| {maxdiff:.1e}), classes identical "
              f"{cls}, |CDF area diff| {da:.1e}")
    print(f"R-compatible mode reproduces ConsensusClusterPlus exactly: {all_equal}")

    t = time.perf_counter()
    c0 = time.process_time()
    fast = ConsensusClustering(k_max=args.k_max, reps=args.fast_reps, seed=args.seed,
                               n_jobs=args.jobs).fit(X)
    f_wall, f_cpu = time.perf_counter() - t, time.process_time() - c0
    r_per = r_cpu / args.r_reps
    print(f"ours fast: reps={args.fast_reps}: {f_wall:.1f} s wall, {f_cpu:.1f} s CPU "
          f"(incl. final hclust / statistics)")
    print(f"per resampling: R {r_per * 1000:.0f} ms CPU; ours fast {f_cpu / args.fast_reps * 1000:.1f} ms "
          f"CPU, {f_wall / args.fast_reps * 1000:.1f} ms wall; ours r_compatible "
          f"{rc_cpu / args.r_reps * 1000:.0f} ms CPU")
    print(f"speed-up fast vs R (CPU per resampling): {r_per / (f_cpu / args.fast_reps):.0f}x")
    from sklearn.metrics import adjusted_rand_score
    for k in (3, ours.suggested_k_):
        print(f"  k={k}: ARI(classes fast, classes R) = "
              f"{adjusted_rand_score(fast.results_[k].classes, r_class[k]):.3f}; CDF area fast "
              f"{fast.results_[k].cdf_area:.4f} vs R {r_area[k - 2]:.4f}")
    print(f"load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
