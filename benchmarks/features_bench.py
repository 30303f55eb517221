"""Time the 313 cross-modality features against plain PyRadiomics on the shared cases.

Same process, same run, one thread (BLAS / OpenMP / numba / SimpleITK limited to 1): for each
case of ``cases.csv``, PyRadiomics' default ``RadiomicsFeatureExtractor().execute(image, mask)``
on the file paths (reading included, label = the case's first tumour label), then our groups on
the same case: ``shape`` (293 SPHARM) + ``regional`` (20, including finding the parenchyma) =
the 313 features, computed on a case loaded once (``load`` = reading image + mask, reported
apart), and our ``radiomics`` group.  Each timing is the minimum over ``--repeat`` runs, in CPU
seconds of the process (``time.process_time``; on a shared machine wall time measures the
other users) and in wall seconds.

Prints one row per case, the medians, the ratio of the medians (313 features / PyRadiomics) over
all cases and over the cases without ``--exclude`` (default brats_pat0005, brats_pat0006, as in
issue 21), and the slowest case.

    python benchmarks/features_bench.py [--data ../shared/data] [--repeat 3] [--cases lung1,...]
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "PanCancerSubtype"))

DEFAULT_EXCLUDE = "brats_pat0005,brats_pat0006"


def _timed(fn, repeat: int):
    """(result of the last run, min CPU s, min wall s) over ``repeat`` runs."""
    cpu, wall, out = [], [], None
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)
    return out, min(cpu), min(wall)


def run(data: str, repeat: int = 3, cases=None, exclude: str = DEFAULT_EXCLUDE,
        verbose: bool = True):
    """Time every case; returns (DataFrame of per-case rows, dict of summary figures)."""
    import pandas as pd
    import radiomics
    import SimpleITK as sitk
    from radiomics import featureextractor

    from PanCancerSubtypeLib.cohort import read_manifest
    from PanCancerSubtypeLib.features import available_groups, get_group_class
    from PanCancerSubtypeLib.io import load_case

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    radiomics.setVerbosity(logging.ERROR)
    man = read_manifest(Path(data) / "cases.csv")
    groups = [g for g in ("shape", "regional", "radiomics") if g in available_groups()]
    if verbose:
        print(f"groups: {groups}; repeat={repeat}; one thread; load: "
              f"{tuple(round(x, 1) for x in os.getloadavg())} on {os.cpu_count()} cores",
              flush=True)
    rows = []
    for r in man.to_dict("records"):
        if cases and r["ID"] not in cases:
            continue

        def load():
            c = load_case(r["Image"], r["Mask"], label=r["Label"] or None,
                          organ_mask=r["OrganMask"] or None, modality=r["Modality"] or None,
                          organ=r["Organ"] or None, case_id=r["ID"])
            c.image_array()
            c.mask_array()
            if c.organ_mask is not None:
                c.organ_mask_array()
            return c

        lab = int(str(r["Label"] or "1").split(",")[0])
        plain = featureextractor.RadiomicsFeatureExtractor()
        plain.execute(r["Image"], r["Mask"], label=lab)  # warm-up (imports, C extensions)
        _, p_cpu, p_wall = _timed(lambda: plain.execute(r["Image"], r["Mask"], label=lab), repeat)
        _, l_cpu, l_wall = _timed(load, repeat)
        rec = {"case": r["ID"], "tumour_voxels": int(load().mask_array().sum()),
               "pyradiomics_cpu_s": p_cpu, "pyradiomics_wall_s": p_wall, "load_cpu_s": l_cpu}
        insts = {g: get_group_class(g)() for g in groups}
        for g, inst in insts.items():
            warm = load()
            try:
                inst.compute(warm)  # warm-up: numba kernels compiled / loaded from the cache
            except Exception as exc:  # report, keep timing the others
                rec[f"{g}_error"] = type(exc).__name__
            cases_ = [load() for _ in range(repeat)]  # fresh case (no cached parenchyma) each run
            it = iter(cases_)
            _, g_cpu, g_wall = _timed(lambda: inst.compute(next(it)), repeat)
            rec[f"{g}_cpu_s"], rec[f"{g}_wall_s"] = g_cpu, g_wall
        rec["f313_cpu_s"] = rec.get("shape_cpu_s", 0.0) + rec.get("regional_cpu_s", 0.0)
        rec["f313_wall_s"] = rec.get("shape_wall_s", 0.0) + rec.get("regional_wall_s", 0.0)
        rec["ratio_f313"] = rec["f313_cpu_s"] / rec["pyradiomics_cpu_s"]
        rows.append(rec)
        if verbose:
            print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in rec.items()},
                  flush=True)
    df = pd.DataFrame(rows)
    excl = {c for c in exclude.split(",") if c}
    summary = {}
    for name, part in (("all", df), ("without " + ",".join(sorted(excl)),
                                     df[~df["case"].isin(excl)])):
        if part.empty:
            continue
        ours = statistics.median(part["f313_cpu_s"])
        theirs = statistics.median(part["pyradiomics_cpu_s"])
        summary[name] = {"cases": len(part), "median_f313_cpu_s": ours,
                         "median_pyradiomics_cpu_s": theirs, "ratio_of_medians": ours / theirs,
                         "median_ratio": statistics.median(part["ratio_f313"]),
                         "median_f313_wall_s": statistics.median(part["f313_wall_s"]),
                         "median_pyradiomics_wall_s": statistics.median(part["pyradiomics_wall_s"])}
    worst = df.loc[df["f313_cpu_s"].idxmax()]
    summary["slowest"] = {"case": worst["case"], "f313_cpu_s": float(worst["f313_cpu_s"]),
                          "f313_wall_s": float(worst["f313_wall_s"])}
    summary["load_after"] = tuple(round(x, 1) for x in os.getloadavg())
    return df, summary


def print_table(df, summary) -> None:
    import pandas as pd

    pd.set_option("display.width", 220)
    cols = ["case", "tumour_voxels", "pyradiomics_cpu_s", "shape_cpu_s", "regional_cpu_s",
            "f313_cpu_s", "ratio_f313", "radiomics_cpu_s", "load_cpu_s", "pyradiomics_wall_s",
            "f313_wall_s"]
    print(df[[c for c in cols if c in df.columns]].round(3).to_string(index=False))
    for name, s in summary.items():
        if name in ("slowest", "load_after"):
            continue
        print(f"{name} ({s['cases']} cases): median 313 features {s['median_f313_cpu_s']:.3f} "
              f"CPU-s, PyRadiomics {s['median_pyradiomics_cpu_s']:.3f} CPU-s: ratio of medians "
              f"{s['ratio_of_medians']:.2f} (median of per-case ratios "
              f"{s['median_ratio']:.2f}); wall {s['median_f313_wall_s']:.3f} s vs "
              f"{s['median_pyradiomics_wall_s']:.3f} s")
    w = summary["slowest"]
    print(f"slowest case: {w['case']} {w['f313_cpu_s']:.2f} CPU-s ({w['f313_wall_s']:.2f} s wall); "
          f"load after: {summary['load_after']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get(
        "PANCANCER_SHARED_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data")))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cases", default="", help="comma-separated case IDs (default: all)")
    ap.add_argument("--exclude", default=DEFAULT_EXCLUDE,
                    help="cases left out of the second summary line")
    args = ap.parse_args()
    df, summary = run(args.data, args.repeat, [c for c in args.cases.split(",") if c],
                      args.exclude)
    print_table(df, summary)


if __name__ == "__main__":
    main()
