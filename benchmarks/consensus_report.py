"""Issue 21 in one run: R vs our consensus clustering, its memory, and the features vs PyRadiomics.

    python benchmarks/consensus_report.py [--quick] [--skip-r] [--skip-features]

Runs, one after the other in this process (children for R and the memory check):

1. ``consensus_vs_r.run``: R ConsensusClusterPlus's CPU seconds per resampling (marginal, two
   runs), the command line ``discover --r-compatible --preprocess none`` on the same CSV against
   R (consensus matrices and classes identical?), our exact and fast modes' CPU seconds per
   resampling (one thread) and the ratios;
2. ``consensus_bench.speed``: the fast mode's 10,000 resamplings at n = 1,682 on 2 cores (wall);
3. ``consensus_bench.memory``: peak resident memory of a fit at n = 10,000, k = 2..10;
4. ``features_bench.run``: the 313 features against PyRadiomics' default extraction per case.

Then prints the summary table.  The machine load is printed with each part: on a shared machine
compare the ratios (measured in the same run), not the absolute times.  ``--quick`` uses fewer
resamplings / repeats (a smoke test of the script, not figures to report).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "PanCancerSubtype"))
sys.path.insert(0, str(HERE))


def _features_in_child(data: str, repeat: int):
    """``features_bench.run`` in a child process: it limits BLAS / numba to one thread, which
    numba refuses once this process has started its threads (parts 1-3).  Prints its table and
    returns its summary."""
    import json
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import features_bench as f; "
                "df, s = f.run(sys.argv[2], repeat=int(sys.argv[3])); f.print_table(df, s); "
                "json.dump(s, open(sys.argv[4], 'w'), default=str)")
        dst = os.path.join(tmp, "summary.json")
        subprocess.run([sys.executable, "-c", code, str(HERE), data, str(repeat), dst],
                       check=True)
        with open(dst) as fh:
            return json.load(fh)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-r", action="store_true")
    ap.add_argument("--skip-features", action="store_true")
    ap.add_argument("--data", default=os.environ.get(
        "PANCANCER_SHARED_DATA", str(HERE.parents[1] / "shared" / "data")))
    args = ap.parse_args()
    q = args.quick
    out = {}
    print(f"== issue 21 report; load {tuple(round(x, 1) for x in os.getloadavg())} on "
          f"{os.cpu_count()} cores", flush=True)
    if not args.skip_r:
        import consensus_vs_r

        print("\n== 1. R ConsensusClusterPlus vs ours (n = 1,682, k = 2..10)", flush=True)
        out["r"] = consensus_vs_r.run(n=400 if q else 1682, r_reps=(1, 2) if q else (2, 6),
                                      exact_reps=4 if q else 24, fast_reps=50 if q else 1000)
    import consensus_bench

    print("\n== 2. fast mode, 10,000 resamplings, 2 cores", flush=True)
    out["speed"] = consensus_bench.speed(reps=200 if q else 10000, jobs=2)
    print("\n== 3. memory at n = 10,000", flush=True)
    out["memory"] = consensus_bench.memory(n=2000 if q else 10000, reps=2 if q else 8)
    if not args.skip_features:
        print("\n== 4. the 313 features vs PyRadiomics (one thread)", flush=True)
        out["features"] = _features_in_child(args.data, repeat=1 if q else 3)

    print("\n== summary" + (" (--quick: not figures to report)" if q else ""))
    if "r" in out:
        r = out["r"]
        print(f"R ConsensusClusterPlus ({r['r_versions']}): {r['r_cpu_per_resampling']:.2f} "
              f"CPU-s per resampling (marginal), {r['r_fixed_cpu']:.0f} CPU-s fixed")
        print(f"exact (r_compatible): {r['exact']['loop_cpu_per_resampling'] * 1000:.1f} ms CPU "
              f"per resampling -> {r['ratio_exact']:.0f}x R (target >= 20x); discover "
              f"--r-compatible --preprocess none identical to R on the same CSV: "
              f"{r['cli_identical_to_r']}")
        print(f"fast: {r['fast']['loop_cpu_per_resampling'] * 1000:.2f} ms CPU per resampling "
              f"-> {r['ratio_fast']:.0f}x R (target >= 400x)")
    s = out["speed"]
    print(f"fast, {s['reps']} resamplings, n={s['n']}, 2 cores: {s['wall']:.0f} s wall "
          f"(target <= 120 s), {s['cpu']:.0f} CPU-s")
    m = out["memory"]
    print(f"memory, n={m['n']}, k=2..10: peak {m['peak_rss_mib'] / 1024:.2f} GiB (target <= 4 GB)")
    if "features" in out:
        for name, f in out["features"].items():
            if name in ("slowest", "load_after"):
                continue
            print(f"features ({name}, {f['cases']} cases): median 313 features "
                  f"{f['median_f313_cpu_s']:.2f} CPU-s vs PyRadiomics "
                  f"{f['median_pyradiomics_cpu_s']:.2f} CPU-s: {f['ratio_of_medians']:.2f}x "
                  f"(target <= 0.5)")
        w = out["features"]["slowest"]
        print(f"slowest case: {w['case']} {w['f313_cpu_s']:.2f} CPU-s, {w['f313_wall_s']:.2f} s "
              f"wall (target <= 2 s)")
    print(f"load at the end: {tuple(round(x, 1) for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
