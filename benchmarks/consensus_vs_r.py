"""Our consensus clustering side by side with R's ConsensusClusterPlus, on the same CSV (not in CI).

Needs ``Rscript`` with ConsensusClusterPlus and cluster (Debian: ``apt-get install -y
r-base-core r-bioc-consensusclusterplus``).  Usage:

    python benchmarks/consensus_vs_r.py [--n 1682] [--r-reps 2,6] [--exact-reps 24]
                                        [--fast-reps 1000]

1. Writes the data of ``consensus_bench.py`` (n items x 10 features, 17 significant digits) as
   a features CSV with an ID column.
2. R: ``ConsensusClusterPlus(t(X), pItem = 0.8, clusterAlg = "pam", distance = "pearson",
   maxK, reps, seed)`` on that CSV (``benchmarks/r/consensus_side_by_side.R``), once per
   ``--r-reps``; R's CPU seconds per resampling are the *marginal* cost,
   ``(CPU(r2) - CPU(r1)) / (r2 - r1)`` (the rest, about 40 s at n = 1,682, is fixed: distances,
   final clustering, plots).
3. The command line: ``pancancer-subtype discover --r-compatible --preprocess none`` on the same
   CSV with the largest ``--r-reps`` and the same seed; every consensus matrix
   (``consensus_k{K}.npz``) and every class vector (``classes.csv``) is compared with R's
   (exact equality expected).
4. Our per-resampling CPU seconds: the resampling loop of ``ConsensusClustering`` (timed through
   its progress callback, one thread) with ``--exact-reps`` resamplings in the R-compatible mode
   and ``--fast-reps`` in the fast mode; the fixed part (distances, final clustering,
   statistics) is reported apart.  Ratios R / ours are of numbers measured in this run.
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

from consensus_bench import loop_timing, make_data  # noqa: E402


def write_csv(X, path) -> list:
    import pandas as pd

    ids = [f"item{i + 1}" for i in range(X.shape[0])]
    df = pd.DataFrame(X, columns=[f"f{j + 1}" for j in range(X.shape[1])])
    df.insert(0, "ID", ids)
    df.to_csv(path, index=False, float_format="%.17g")
    return ids


def run_r(csv, reps: int, k_max: int, seed: int, out: Path):
    """ConsensusClusterPlus on ``csv``: (elapsed s, CPU s, {k: C}, {k: classes}, versions)."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(["Rscript", str(HERE / "r" / "consensus_side_by_side.R"), str(csv), str(out),
                    str(reps), str(k_max), str(seed)], check=True)
    elapsed, cpu = (float(v) for v in (out / "r_seconds.txt").read_text().split())
    cons, cls = {}, {}
    for k in range(2, k_max + 1):
        C = np.fromfile(out / f"cons_{k}.bin", "<f8")
        n = int(round(np.sqrt(C.size)))
        cons[k] = C.reshape(n, n).T  # column-major in R
        cls[k] = np.fromfile(out / f"class_{k}.bin", "<i4")
    return elapsed, cpu, cons, cls, (out / "versions.txt").read_text().strip().replace("\n", "; ")


def run(n: int = 1682, p: int = 10, k_max: int = 10, r_reps=(2, 6), exact_reps: int = 24,
        fast_reps: int = 1000, seed: int = 2021, verbose: bool = True) -> dict:
    import pandas as pd

    from PanCancerSubtypeLib.cli import main as cli_main

    say = print if verbose else (lambda *a, **k: None)
    X = make_data(n, p)
    res = {"n": n, "p": p, "k_max": k_max, "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as wd:
        w = Path(wd)
        csv = w / "features.csv"
        write_csv(X, csv)
        r_runs = {}
        for reps in r_reps:
            t = time.perf_counter()
            r_runs[reps] = run_r(csv, reps, k_max, seed, w / f"r{reps}")
            say(f"R ConsensusClusterPlus, reps={reps}: {r_runs[reps][1]:.1f} CPU-s "
                f"({r_runs[reps][0]:.1f} s elapsed; Rscript {time.perf_counter() - t:.1f} s)",
                flush=True)
        r1, r2 = sorted(r_reps)[0], sorted(r_reps)[-1]
        r_per = (r_runs[r2][1] - r_runs[r1][1]) / (r2 - r1)
        res.update(r_versions=r_runs[r2][4], r_cpu={k: v[1] for k, v in r_runs.items()},
                   r_cpu_per_resampling=r_per,
                   r_fixed_cpu=r_runs[r1][1] - r1 * r_per)
        say(f"R: {r_per:.2f} CPU-s per resampling (marginal, {r1} vs {r2} resamplings), fixed "
            f"{res['r_fixed_cpu']:.1f} CPU-s; {res['r_versions']}", flush=True)

        # the command line on the same CSV
        out = w / "ours"
        t = time.perf_counter()
        rc = cli_main(["discover", "--features", str(csv), "--out", str(out), "--r-compatible",
                       "--preprocess", "none", "--reps", str(r2), "--k-max", str(k_max),
                       "--seed", str(seed), "--purity-repeats", "0", "--igp-permutations", "1",
                       "--no-plots", "--no-progress", "--n-jobs", "2"])
        assert rc == 0, rc
        classes = pd.read_csv(out / "classes.csv", index_col=0)
        _, _, r_cons, r_cls, _ = r_runs[r2]
        identical, lines = True, []
        for k in range(2, k_max + 1):
            with np.load(out / f"consensus_k{k}.npz") as z:
                C = z["consensus"]
            eq = np.array_equal(C, r_cons[k])
            ceq = np.array_equal(classes[f"k{k}"].to_numpy(), r_cls[k])
            identical &= eq and ceq
            lines.append(f"  k={k:2d}: consensus matrix identical {eq} (max |diff| "
                         f"{np.abs(C - r_cons[k]).max():.1e}), classes identical {ceq}")
        res["cli_identical_to_r"] = bool(identical)
        say(f"pancancer-subtype discover --r-compatible --preprocess none, same CSV, reps={r2} "
            f"({time.perf_counter() - t:.1f} s):\n" + "\n".join(lines) +
            f"\n  -> identical to ConsensusClusterPlus: {identical}", flush=True)
    from PanCancerSubtypeLib.consensus import ConsensusClustering

    ConsensusClustering(k_max=k_max, reps=2, seed=0, r_compatible=True).fit(X[:100])  # compile
    ConsensusClustering(k_max=k_max, reps=2, seed=0).fit(X[:100])
    ex = loop_timing(X, exact_reps, k_max, seed, jobs=1, r_compatible=True)
    fa = loop_timing(X, fast_reps, k_max, seed, jobs=1)
    res.update(exact=ex, fast=fa, load_after=os.getloadavg())
    res["ratio_exact"] = r_per / ex["loop_cpu_per_resampling"]
    res["ratio_fast"] = r_per / fa["loop_cpu_per_resampling"]
    say(f"per resampling (CPU, one thread, n={n}, k=2..{k_max}): R {r_per * 1000:.0f} ms; "
        f"ours exact {ex['loop_cpu_per_resampling'] * 1000:.1f} ms ({res['ratio_exact']:.0f}x); "
        f"ours fast {fa['loop_cpu_per_resampling'] * 1000:.2f} ms ({res['ratio_fast']:.0f}x); "
        f"fixed part ours: exact {ex['fixed_cpu']:.1f} CPU-s, fast {fa['fixed_cpu']:.1f} CPU-s",
        flush=True)
    say(f"load before {tuple(round(x, 1) for x in res['load_before'])}, after "
        f"{tuple(round(x, 1) for x in res['load_after'])} on {os.cpu_count()} cores")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1682)
    ap.add_argument("--p", type=int, default=10)
    ap.add_argument("--k-max", type=int, default=10)
    ap.add_argument("--r-reps", default="2,6", help="two resampling counts for R's marginal cost")
    ap.add_argument("--exact-reps", type=int, default=24)
    ap.add_argument("--fast-reps", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=2021)
    args = ap.parse_args()
    run(args.n, args.p, args.k_max, tuple(int(x) for x in args.r_reps.split(",")),
        args.exact_reps, args.fast_reps, args.seed)


if __name__ == "__main__":
    main()
