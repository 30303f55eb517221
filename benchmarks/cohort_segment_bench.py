"""``cohort-segment`` on real cases, as a user types it, beside the same cases one ``segment``
command after another.

A click manifest is written from a table of cases with expert masks (the shared data's
``cases.csv`` by default, or any table of that layout: ``--cases-csv``): one click per case at
the reference voxel nearest the reference's centroid (``segmentation_bench.benchmark_seeds``,
issue 17's protocol), ``Modality`` from the table.  Then, in one run:

* ``pancancer-subtype cohort-segment --manifest clicks.csv --out-dir DIR`` (the defaults: worker
  processes on the machine's cores, the confidence);
* for each case ``pancancer-subtype segment --image ... --seed=... --modality ... --out ...``,
  one after another (the defaults: the confidence's runs on the machine's cores);

and it prints the wall time of each, whether every mask is the same bit for bit, and each case's
Dice against its reference (the click method's result: ``segmentation_bench.py`` gives its
protocol figures).

    python benchmarks/cohort_segment_bench.py [--cases-csv FILE | --brats-dir DIR | --held-out] \
        [--second-channel] [--box] [--only lung2,brats_pat0001]

``--brats-dir`` takes BRATS cases in deepmedic's layout (``segmentation_bench.brats_cases``;
tumour core = labels 1, 3, 4 on T1c), and ``--second-channel`` gives each its FLAIR in the
manifest's ``SecondChannel`` column (``segment --second-channel`` one after another).
``--held-out`` takes the soft-tissue sarcomas (CT and MR), ``--box`` gives every case the
protocol's box (the reference's extent + 5 mm) in ``Box`` (``segment --bbox``).
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
import pandas as pd
import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).resolve().parent))
from segmentation_bench import (TARGET_CASES, OTHER_CASES, bench_cases,  # noqa: E402
                                benchmark_seeds, brats_cases, csv_cases, load_case, shared_data)

CLI = [sys.executable, "-m", "PanCancerSubtypeLib"]


def click_manifest(cases, path: Path, second_channel: bool, box: bool) -> None:
    rows = []
    for case in cases:
        img, ref, _ = load_case(case, False)
        seeds, bbox = benchmark_seeds(img, ref, n_random=0)
        rows.append({"ID": case[0], "Image": str(case[2]), "Modality": case[1],
                     "Seed": ",".join(repr(float(v)) for v in seeds[0]),
                     "Box": ",".join(repr(float(v)) for v in bbox) if box else "",
                     "SecondChannel": str(case[5]) if second_channel and case[5] else ""})
    pd.DataFrame(rows).to_csv(path, index=False)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases-csv", type=Path, default=None,
                    help="cases with expert masks (default: the shared data's cases.csv)")
    ap.add_argument("--brats-dir", type=Path, default=None,
                    help="BRATS cases in deepmedic's layout instead")
    ap.add_argument("--held-out", action="store_true",
                    help="the soft-tissue sarcomas (CT and MR) instead")
    ap.add_argument("--second-channel", action="store_true",
                    help="the BRATS cases' FLAIR as SecondChannel")
    ap.add_argument("--box", action="store_true",
                    help="the protocol's box (reference extent + 5 mm) for every case")
    ap.add_argument("--only", default=None, help="comma-separated case IDs")
    args = ap.parse_args(argv)
    table = args.brats_dir or args.cases_csv or shared_data() / "cases.csv"
    only = args.only.split(",") if args.only else (
        None if args.cases_csv or args.brats_dir or args.held_out else
        list(TARGET_CASES + OTHER_CASES))
    if args.held_out:
        table = shared_data() / "IBSI_soft_tissue_sarcoma_CT_MR"
        cases = bench_cases(shared_data(), True, only)
    else:
        cases = brats_cases(table, only) if args.brats_dir else csv_cases(table, only)
    print(f"{len(cases)} cases of {table}; {os.cpu_count()} cores; load average "
          f"{os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        click_manifest(cases, tmp / "clicks.csv", args.second_channel, args.box)
        t0 = time.perf_counter()
        cohort = subprocess.run(CLI + ["cohort-segment", "--manifest", str(tmp / "clicks.csv"),
                                       "--out-dir", str(tmp / "cohort"), "--no-progress"],
                                capture_output=True, text=True)
        t_cohort = time.perf_counter() - t0
        print(cohort.stderr.strip())
        seg = pd.read_csv(tmp / "cohort" / "segmentation.csv", dtype=str, keep_default_na=False)
        clicks = pd.read_csv(tmp / "clicks.csv", dtype=str, keep_default_na=False)
        t_single, same = 0.0, []
        for r in clicks.itertuples():
            t0 = time.perf_counter()
            ch2 = ["--second-channel", r.SecondChannel] if r.SecondChannel else []
            ch2 += [f"--bbox={r.Box}"] if r.Box else []
            subprocess.run(CLI + ["segment", "--image", r.Image, f"--seed={r.Seed}",
                                  "--modality", r.Modality, "--out",
                                  str(tmp / f"{r.ID}.nii.gz")] + ch2, capture_output=True,
                           check=True)
            t_single += time.perf_counter() - t0
            a = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp / f"{r.ID}.nii.gz")))
            b = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp / "cohort" / "masks" /
                                                          f"{r.ID}.nii.gz")))
            same.append(bool(np.array_equal(a, b)))
        print(f"cohort-segment (default workers): {t_cohort:.1f} s wall; the same cases one "
              f"`segment` after another: {t_single:.1f} s wall; masks identical: "
              f"{sum(same)} of {len(same)}")
        for case, row in zip(cases, seg.to_dict("records")):
            _, ref, _ = load_case(case, False)
            m = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp / "cohort" / row["Mask"]))) > 0
            dice = 2.0 * float((m & ref).sum()) / float(m.sum() + ref.sum())
            print(f"  {row['ID']:>14s} {row['Modality']} model {row['model']:>7s} Dice "
                  f"{dice:.3f} confidence {row['confidence']} needs_check {row['needs_check']}")
    return 0 if cohort.returncode == 0 and all(same) else 1


if __name__ == "__main__":
    raise SystemExit(main())
