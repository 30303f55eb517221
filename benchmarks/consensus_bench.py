"""Speed / memory benchmark of the fast consensus clustering (issue 5, item 3).

Target: n = 1,682 items, 10 features, 10,000 resamplings, k = 2..10, p_item = 0.8, in <= 300 s on
a 2-core machine.  Usage:
    nice /work/venv/bin/python benchmarks/consensus_bench.py [--reps 10000] [--n 1682] [--jobs 2]

Prints the wall time (after a small warm-up that compiles the numba kernels), the time per
resampling, the extrapolation to 10,000 resamplings, the peak resident memory of the process
(``ru_maxrss``) and the machine load.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "PanCancerSubtype"))

from PanCancerSubtypeLib.consensus import ConsensusClustering  # noqa: E402


def make_data(n: int, p: int = 10, n_clusters: int = 6, seed: int = 1) -> np.ndarray:
    """Gaussian clusters of unequal sizes with overlap (a stand-in for 10 autoencoder features)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=1.5, size=(n_clusters, p))
    sizes = rng.multinomial(n, np.linspace(1, 2, n_clusters) / np.linspace(1, 2, n_clusters).sum())
    X = np.vstack([centres[c] + rng.normal(size=(s, p)) for c, s in enumerate(sizes)])
    return X[rng.permutation(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1682)
    ap.add_argument("--p", type=int, default=10)
    ap.add_argument("--reps", type=int, default=10000)
    ap.add_argument("--k-max", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()

    X = make_data(args.n, args.p)
    print(f"load before: {os.getloadavg()}  cores: {os.cpu_count()}")
    t = time.perf_counter()
    ConsensusClustering(k_max=args.k_max, reps=4, seed=0, n_jobs=args.jobs).fit(X[:200])
    print(f"warm-up (numba compile / cache load): {time.perf_counter() - t:.1f} s")

    cc = ConsensusClustering(k_min=2, k_max=args.k_max, reps=args.reps, p_item=0.8, seed=42,
                             n_jobs=args.jobs, batch_size=args.batch_size)
    t = time.perf_counter()
    cpu0 = time.process_time()
    cc.fit(X)
    wall = time.perf_counter() - t
    cpu = time.process_time() - cpu0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"n={args.n} p={args.p} reps={args.reps} k=2..{args.k_max} jobs={args.jobs}")
    print(f"wall {wall:.1f} s, cpu {cpu:.1f} s, {1000 * wall / args.reps:.2f} ms wall per "
          f"resampling -> {wall / args.reps * 10000:.0f} s extrapolated to 10,000 resamplings")
    print(f"peak resident memory (ru_maxrss): {peak_mb:.0f} MiB")
    print(f"load after: {os.getloadavg()}")
    print(cc.per_k_.to_string(index=False))
    print(cc.k_rule_)


if __name__ == "__main__":
    main()
