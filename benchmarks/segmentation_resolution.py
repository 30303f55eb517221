"""The click method on the same image sampled twice as finely: Dice and CPU time of the
protocol's clicks on each case as stored, on the case resampled to half its spacing as the
method runs it (an axis sampled at half of ``ClickParameters.finest_mm`` or finer is averaged
in blocks: version 31), and on that finer grid itself (``finest_mm=None``, as before version
31), side by side.

    python benchmarks/segmentation_resolution.py [--axes inplane|z] [--clicks 3]
        [--brats-dir DIR] [--cases-csv FILE] [--only CASE,CASE]

The cases: the shared cases with an expert mask and the cases of ``--brats-dir`` /
``--cases-csv`` (``segmentation_bench``'s layouts): with ``--axes inplane`` those of 1 mm or
finer in-plane, x and y halved; with ``--axes z`` those with slices thicker than 0.5 mm,
resampled to 0.5 mm slices.  The finer image is the
case resampled linearly (a voxel's centre a quarter of the old spacing from the old centre, so
that 2 x 2 blocks fall back on the old voxels), its reference by the nearest voxel; the clicks
are ``segmentation_bench.benchmark_seeds``'s first ones (the centroid-nearest voxel, then
random inner-half voxels, rng 0), the same points (LPS mm) on every grid.  CPU time is the
call's, all threads (what one core takes); each call runs as a user's does (the machine's
threads, the confidence).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "PanCancerSubtype"))

COLUMNS = ("as stored", "finer, on blocks", "finer, own grid")


def finer(img, ref: np.ndarray, axes: str):
    """``img`` resampled linearly to half its spacing along ``axes`` ("inplane": x and y, each
    voxel's centre a quarter of the old spacing from an old centre; "z": 0.5 mm slices from the
    first slice), and ``ref`` onto it by the nearest voxel."""
    import SimpleITK as sitk

    sp, size = np.array(img.GetSpacing()), np.array(img.GetSize())
    direction = np.array(img.GetDirection()).reshape(3, 3)
    origin = np.array(img.GetOrigin())
    if axes == "inplane":
        new_sp = sp * [0.5, 0.5, 1.0]
        new_size = size * [2, 2, 1]
        origin = origin - direction @ (sp * [0.25, 0.25, 0.0])
    else:
        new_sp = np.array([sp[0], sp[1], 0.5])
        new_size = np.array([size[0], size[1], int(round((size[2] - 1) * sp[2] / 0.5)) + 1])
    arr = sitk.GetArrayViewFromImage(img)
    out = sitk.Resample(img, [int(v) for v in new_size], sitk.Transform(), sitk.sitkLinear,
                        tuple(origin), tuple(float(v) for v in new_sp), img.GetDirection(),
                        float(np.min(arr)), sitk.sitkFloat32)
    r = sitk.GetImageFromArray(ref.astype(np.uint8))
    r.CopyInformation(img)
    ref_f = sitk.GetArrayFromImage(sitk.Resample(r, out, sitk.Transform(),
                                                 sitk.sitkNearestNeighbor)) > 0
    return out, ref_f


def run(img, ref, seed, modality, params):
    """(Dice, mL, CPU s) of one click."""
    import SimpleITK as sitk

    from PanCancerSubtypeLib import segmentation as seg
    from PanCancerSubtypeLib.segmentation.metrics import dice_arrays

    c = time.process_time()
    r = seg.segment_click(img, [seed], modality=modality, params=params)
    cpu = time.process_time() - c
    return dice_arrays(sitk.GetArrayFromImage(r.mask) > 0, ref), r.volume_ml, cpu


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--axes", choices=("inplane", "z"), default="inplane")
    p.add_argument("--clicks", type=int, default=3, help="at most 6")
    p.add_argument("--brats-dir", type=Path)
    p.add_argument("--cases-csv", type=Path)
    p.add_argument("--only", help="comma-separated case ids")
    args = p.parse_args()
    import segmentation_bench as sb
    from PanCancerSubtypeLib import segmentation as seg

    only = args.only.split(",") if args.only else None
    cases = list(sb.bench_cases(sb.shared_data(), False, only))
    if args.brats_dir:
        cases += sb.brats_cases(args.brats_dir, only)
    if args.cases_csv:
        cases += sb.csv_cases(args.cases_csv, only)
    own_grid = seg.ClickParameters(finest_mm=None)

    def used(sp) -> bool:
        return max(sp[0], sp[1]) <= 1.0 + 1e-6 if args.axes == "inplane" else sp[2] > 0.5 + 1e-6
    print(f"click segmentation, each case as stored and resampled to half its spacing "
          f"({'in-plane' if args.axes == 'inplane' else 'z, 0.5 mm slices'}): Dice, volume, "
          f"CPU s of the call (all threads), first {args.clicks} protocol clicks (rng 0)")
    print(f"{'case':>22} {'click':>5}  " + "  ".join(f"{c:>24}" for c in COLUMNS))
    dice = {c: [] for c in COLUMNS}
    cpu = {c: [] for c in COLUMNS}
    for case in cases:
        img, ref, _ = sb.load_case(case, False)
        if not used(img.GetSpacing()):
            continue
        fine, ref_f = finer(img, ref, args.axes)
        seeds, _ = sb.benchmark_seeds(img, ref, 5, 0)     # (the benchmark's 5 random)
        for i, pt in enumerate(seeds[:args.clicks]):
            cells = []
            for col, (im, rf, params) in zip(COLUMNS, ((img, ref, None), (fine, ref_f, None),
                                                      (fine, ref_f, own_grid))):
                d, ml, c = run(im, rf, pt, case[1], params)
                dice[col].append(d)
                cpu[col].append(c)
                cells.append(f"{d:.3f} {ml:7.1f} mL {c:5.1f} s")
            print(f"{case[0]:>22} {i:>5}  " + "  ".join(f"{c:>24}" for c in cells), flush=True)
    if not dice[COLUMNS[0]]:
        print("no case to resample along those axes")
        return
    for col in COLUMNS:
        print(f"SUMMARY {col} ({len(dice[col])} clicks): Dice mean {np.mean(dice[col]):.3f}, "
              f"median {statistics.median(dice[col]):.3f}, min {min(dice[col]):.3f}; CPU s "
              f"median {statistics.median(cpu[col]):.1f}, max {max(cpu[col]):.1f}")
    diff = np.array(dice[COLUMNS[1]]) - np.array(dice[COLUMNS[2]])
    print(f"SUMMARY finer: on blocks against its own grid, better by more than 0.01: "
          f"{int((diff > 0.01).sum())}, worse: {int((diff < -0.01).sum())}")


if __name__ == "__main__":
    main()
