"""Speed and memory of the consensus clustering (issues 5 and 21).

Targets (issue 21): the fast mode runs 10,000 resamplings of n = 1,682 items x 10 features,
k = 2..10, p_item = 0.8, in <= 120 s wall on 2 cores; n = 10,000 items, k = 2..10 fits in 4 GB.

    python benchmarks/consensus_bench.py [--reps 10000] [--n 1682] [--jobs 2]
    python benchmarks/consensus_bench.py --memory-n 10000 [--memory-reps 8]

The first form prints the wall and CPU time of the whole fit, of its resampling loop (timed
through the progress callback) and of the fixed part (distances, final clustering, statistics),
plus the peak resident memory.  ``--memory-n`` runs one fit of that size in a child process and
prints its peak resident memory (``ru_maxrss`` of the child) with the size of the compact counts.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "PanCancerSubtype"))


def make_data(n: int, p: int = 10, n_clusters: int = 6, seed: int = 1) -> np.ndarray:
    """Gaussian clusters of unequal sizes with overlap (a stand-in for 10 autoencoder features)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=1.5, size=(n_clusters, p))
    sizes = rng.multinomial(n, np.linspace(1, 2, n_clusters) / np.linspace(1, 2, n_clusters).sum())
    X = np.vstack([centres[c] + rng.normal(size=(s, p)) for c, s in enumerate(sizes)])
    return X[rng.permutation(n)]


def loop_timing(X, reps: int, k_max: int = 10, seed: int = 42, jobs: int = 1,
                r_compatible: bool = False, keep_matrices=None) -> dict:
    """Fit once; CPU / wall seconds of the whole fit and of its resampling loop."""
    from PanCancerSubtypeLib.consensus import ConsensusClustering

    marks = {}

    def progress(done, total):
        marks[done] = (time.process_time(), time.perf_counter())

    c0, t0 = time.process_time(), time.perf_counter()
    cc = ConsensusClustering(k_min=2, k_max=k_max, reps=reps, p_item=0.8, seed=seed,
                             n_jobs=jobs, r_compatible=r_compatible,
                             keep_matrices=keep_matrices).fit(X, progress=progress)
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    (lc0, lt0), (lc1, lt1) = marks[0], marks[reps]
    return {"reps": reps, "jobs": jobs, "r_compatible": r_compatible, "cpu": cpu, "wall": wall,
            "loop_cpu": lc1 - lc0, "loop_wall": lt1 - lt0,
            "loop_cpu_per_resampling": (lc1 - lc0) / reps,
            "loop_wall_per_resampling": (lt1 - lt0) / reps,
            "fixed_cpu": cpu - (lc1 - lc0), "counts_mib": cc.counts_.nbytes / 2 ** 20,
            "model": cc}


def speed(n: int = 1682, p: int = 10, reps: int = 10000, k_max: int = 10, jobs: int = 2,
          verbose: bool = True) -> dict:
    from PanCancerSubtypeLib.consensus import ConsensusClustering

    X = make_data(n, p)
    load0 = os.getloadavg()
    t = time.perf_counter()
    ConsensusClustering(k_max=k_max, reps=4, seed=0, n_jobs=jobs).fit(X[:200])
    warm = time.perf_counter() - t
    res = loop_timing(X, reps, k_max, 42, jobs)
    cc = res.pop("model")
    res.update(n=n, p=p, warm_up_s=warm, load_before=load0, load_after=os.getloadavg(),
               peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
    if verbose:
        print(f"fast mode, n={n} p={p} reps={reps} k=2..{k_max} jobs={jobs} (warm-up "
              f"{warm:.1f} s): wall {res['wall']:.1f} s, CPU {res['cpu']:.1f} s; resampling "
              f"loop {res['loop_wall']:.1f} s wall, {res['loop_cpu']:.1f} CPU-s "
              f"({res['loop_cpu_per_resampling'] * 1000:.2f} ms CPU per resampling); fixed "
              f"part {res['fixed_cpu']:.1f} CPU-s; peak RSS {res['peak_rss_mib']:.0f} MiB; load "
              f"{tuple(round(x, 1) for x in load0)} -> "
              f"{tuple(round(x, 1) for x in res['load_after'])} on {os.cpu_count()} cores",
              flush=True)
        print(cc.per_k_.to_string(index=False))
        print(cc.k_rule_)
    return res


def memory(n: int = 10000, reps: int = 8, k_max: int = 10, jobs: int = 2,
           verbose: bool = True) -> dict:
    """One fit of n items in a child process: its peak resident memory."""
    code = ("import sys, json, resource; sys.path[:0] = %r; "
            "from consensus_bench import loop_timing, make_data; "
            "r = loop_timing(make_data(%d), %d, %d, 1, %d); r.pop('model'); "
            "r['peak_rss_mib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0; "
            "print(json.dumps(r))" % ([str(Path(__file__).resolve().parent),
                                       str(Path(__file__).resolve().parents[1] /
                                           "PanCancerSubtype")], n, reps, k_max, jobs))
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout.strip().splitlines()[-1]
    res = json.loads(out)
    res["n"] = n
    if verbose:
        print(f"memory: n={n}, k=2..{k_max}, reps={reps}, jobs={jobs}: peak resident memory "
              f"{res['peak_rss_mib']:.0f} MiB (compact counts {res['counts_mib']:.0f} MiB; "
              f"dense int32 counts of all k would take {k_max * n * n * 4 / 2 ** 20:.0f} MiB); fit "
              f"{res['wall']:.0f} s wall, {res['cpu']:.0f} CPU-s", flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1682)
    ap.add_argument("--p", type=int, default=10)
    ap.add_argument("--reps", type=int, default=10000)
    ap.add_argument("--k-max", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--memory-n", type=int, default=0,
                    help="run the memory check at this n instead of the speed run")
    ap.add_argument("--memory-reps", type=int, default=8)
    args = ap.parse_args()
    if args.memory_n:
        memory(args.memory_n, args.memory_reps, args.k_max, args.jobs)
    else:
        speed(args.n, args.p, args.reps, args.k_max, args.jobs)


if __name__ == "__main__":
    main()
