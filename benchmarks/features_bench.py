"""Time `features` (our wrapper, per feature group) against plain PyRadiomics on the shared cases.

Same process, same run: for each case, plain PyRadiomics' `RadiomicsFeatureExtractor.execute` on
the file paths, then our radiomics group on the same case, then the cross-modality groups that are
installed; prints per-case times and the ratio ours / PyRadiomics.

    python benchmarks/features_bench.py [--data ../shared/data] [--repeat 3]
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "PanCancerSubtype"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get(
        "PANCANCER_SHARED_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data")))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import pandas as pd
    import radiomics
    from radiomics import featureextractor

    from PanCancerSubtypeLib.cohort import read_manifest
    from PanCancerSubtypeLib.features import available_groups, get_group_class
    from PanCancerSubtypeLib.io import load_case

    radiomics.setVerbosity(logging.ERROR)
    man = read_manifest(Path(args.data) / "cases.csv")
    groups = available_groups()
    print(f"groups available: {groups}; repeat={args.repeat}; load: {os.getloadavg()}")
    rows = []
    for r in man.to_dict("records"):
        case = load_case(r["Image"], r["Mask"], label=r["Label"] or None,
                         organ_mask=r["OrganMask"] or None, modality=r["Modality"] or None,
                         organ=r["Organ"] or None, case_id=r["ID"])
        n_vox = int(case.mask_array().sum())
        # plain PyRadiomics on the files (label 1, or the case's first label: PyRadiomics takes one)
        lab = int(str(r["Label"] or "1").split(",")[0])
        plain = featureextractor.RadiomicsFeatureExtractor()
        t_plain = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            plain.execute(r["Image"], r["Mask"], label=lab)
            t_plain.append(time.perf_counter() - t0)
        rec = {"case": r["ID"], "tumour_voxels": n_vox, "pyradiomics_s": min(t_plain)}
        for g in groups:
            inst = get_group_class(g)()
            ts = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                try:
                    inst.compute(case)
                except Exception as exc:  # report, keep timing the others
                    rec[f"{g}_error"] = type(exc).__name__
                ts.append(time.perf_counter() - t0)
            rec[f"{g}_s"] = min(ts)
        rec["ratio_radiomics_vs_plain"] = rec.get("radiomics_s", float("nan")) / rec["pyradiomics_s"]
        rows.append(rec)
        print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in rec.items()}, flush=True)
    df = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(df.round(3).to_string(index=False))
    print("median times (s):", {c: round(statistics.median(df[c]), 3) for c in df.columns
                                if c.endswith("_s")})
    print("median ratio ours/plain PyRadiomics:",
          round(statistics.median(df["ratio_radiomics_vs_plain"]), 3))


if __name__ == "__main__":
    main()
