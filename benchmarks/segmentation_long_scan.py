"""The click method on a long scan: time and peak memory of one segmentation as the user runs
it (the method works on the part of the image within ``work_margin_mm`` of the seeds) side by
side with the same segmentation on the whole image (``work_margin_mm=None``, as before), and
whether the two masks are the same voxel for voxel.

    python benchmarks/segmentation_long_scan.py [--case lung2] [--slices 900] [--order RAS]

The scan: a shared case's CT (``--case``, default lung2, 512 x 512 voxels), stored as int16 HU
as a CT reader gives it, repeated along z (every other copy mirrored, so that the slices run on
without a seam) to ``--slices`` slices (900: as many voxels as a whole-body series of 2 mm
slices, 1.8 m; the method's cost depends on the voxels, not on the anatomy, and on the margin
in mm, here 150 mm of lung2's 5 mm slices), with the reference in the first copy; the click is
the protocol's centroid-nearest voxel (``segmentation_bench.benchmark_seeds``); ``--order``
stores the scan and its reference in another voxel order (``DICOMOrient``, e.g. RAS as NIfTI
files often are; default LPS, as the case is stored).  Each run is a
fresh process that reads the scan from a file, as a user's does (memory: its peak resident set
during the call minus the one before it, "+ MB"; wall and CPU time of the call; the machine's
threads, as a user runs it).
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "PanCancerSubtype"))


def write_long_scan(case_id: str, n_slices: int, folder: Path, order: str = "LPS") -> None:
    """The long int16 scan (``scan.nrrd``), its reference (``ref.nrrd``) and the click
    (``click.json``: LPS mm, modality) in ``folder``."""
    import SimpleITK as sitk

    import segmentation_bench as sb

    case = {c[0]: c for c in sb.bench_cases(sb.shared_data(), False)}[case_id]
    img, ref, _ = sb.load_case(case, False)
    arr = np.round(sitk.GetArrayFromImage(img)).astype(np.int16)
    reps = -(-n_slices // arr.shape[0])
    big = np.concatenate([arr if k % 2 == 0 else arr[::-1] for k in range(reps)])[:n_slices]
    full_ref = np.zeros(big.shape, np.uint8)
    full_ref[:ref.shape[0]] = ref
    for a, name in ((big, "scan.nrrd"), (full_ref, "ref.nrrd")):
        out = sitk.GetImageFromArray(a)
        out.SetSpacing(img.GetSpacing())
        out.SetOrigin(img.GetOrigin())
        out.SetDirection(img.GetDirection())
        sitk.WriteImage(out if order == "LPS" else sitk.DICOMOrient(out, order),
                        str(folder / name))
    seeds, _ = sb.benchmark_seeds(img, ref, 0, 0)
    (folder / "click.json").write_text(json.dumps({"seed": list(seeds[0]),
                                                   "modality": case[1]}))


def rss_mb(reset_peak: bool = False, peak: bool = False) -> float:
    """This process's resident set (MB) now, or its peak (Linux: ``VmHWM``, which
    ``reset_peak`` restarts from now through ``/proc/self/clear_refs``; elsewhere the peak
    since the process started)."""
    status = Path("/proc/self/status")
    if not status.exists():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    if reset_peak:
        Path("/proc/self/clear_refs").write_text("5")
    key = "VmHWM:" if peak else "VmRSS:"
    line = next(v for v in status.read_text().splitlines() if v.startswith(key))
    return float(line.split()[1]) / 1024.0


def child(mode: str, folder: Path) -> None:
    """One segmentation of the scan in ``folder`` in this process: prints a JSON line of its
    figures (memory: the peak resident set during the call minus the one before it)."""
    import hashlib

    import SimpleITK as sitk

    from PanCancerSubtypeLib import segmentation as seg
    from PanCancerSubtypeLib.segmentation.metrics import dice_arrays

    click = json.loads((folder / "click.json").read_text())
    img = sitk.ReadImage(str(folder / "scan.nrrd"))
    params = seg.ClickParameters() if mode == "part" else seg.ClickParameters(work_margin_mm=None)
    before = rss_mb(reset_peak=True)
    t, c = time.perf_counter(), time.process_time()
    r = seg.segment_click(img, [click["seed"]], modality=click["modality"], params=params)
    t, c = time.perf_counter() - t, time.process_time() - c
    peak = rss_mb(peak=True)
    m = sitk.GetArrayFromImage(r.mask)
    ref = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "ref.nrrd")))
    print(json.dumps({"seconds": t, "cpu": c, "before_mb": before, "peak_mb": peak,
                      "dice": dice_arrays(m > 0, ref > 0), "confidence": r.confidence,
                      "sha": hashlib.sha256(np.ascontiguousarray(m).tobytes()).hexdigest(),
                      "size": list(img.GetSize()), "pixel": img.GetPixelIDTypeAsString()}))


def main() -> None:
    import tempfile

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--case", default="lung2")
    p.add_argument("--slices", type=int, default=900)
    p.add_argument("--order", default="LPS", help="voxel order of the stored scan (e.g. RAS)")
    p.add_argument("--child", nargs=2, metavar=("MODE", "FOLDER"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        write_long_scan(args.case, args.slices, Path(tmp), args.order.upper())
        for mode in ("whole", "part"):
            out = subprocess.run([sys.executable, __file__, "--child", mode, tmp], check=True,
                                 capture_output=True, text=True)
            rows[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    size = rows["part"]["size"]
    print(f"click segmentation of {args.case} in a scan of {size[0]} x {size[1]} x {size[2]} "
          f"voxels ({rows['part']['pixel']}, {np.prod(size) * 2 / 1e6:.0f} MB, stored in "
          f"{args.order.upper()} order), "
          f"os.cpu_count() {os.cpu_count()}")
    print(f"{'':>34} {'wall s':>7} {'CPU s':>7} {'+ MB':>6} {'Dice':>6} {'conf':>5}")
    for mode, label in (("whole", "on the whole image (margin None)"),
                        ("part", "on the part around the click")):
        r = rows[mode]
        print(f"{label:>34} {r['seconds']:7.2f} {r['cpu']:7.2f} "
              f"{r['peak_mb'] - r['before_mb']:6.0f} {r['dice']:6.3f} {r['confidence']:5.2f}")
    same = rows["part"]["sha"] == rows["whole"]["sha"] and \
        rows["part"]["confidence"] == rows["whole"]["confidence"]
    print(f"masks and confidences identical: {'yes' if same else 'NO'}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
