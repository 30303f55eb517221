"""Benchmark: time of the 20 regional-variation features per case, parenchyma mask included.

Target (issue 4): median <= 2 s per case on one core over the shared cases.

    cd <repo> && OMP_NUM_THREADS=1 PYTHONPATH=PanCancerSubtype python benchmarks/regional_bench.py \
        [--data ../shared/data] [--repeats 3] [--definition reference|3d]

Prints, per case: voxels, parenchyma method, parenchyma time, total wall time and CPU time
(process time; on a shared, loaded machine CPU time is the better measure of the work done).
Case loading (reading files) is not timed.
"""
from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "PanCancerSubtype"))

import numpy as np  # noqa: E402
import SimpleITK as sitk  # noqa: E402

from PanCancerSubtypeLib.case import Case  # noqa: E402
from PanCancerSubtypeLib.heterogeneity import RegionalFeatures  # noqa: E402


def load(row, data: Path) -> Case:
    image = sitk.Cast(sitk.ReadImage(str(data / row["image"])), sitk.sitkFloat32)
    labels = [float(x) for x in row["tumour_labels"].split(",")]
    t = np.isin(sitk.GetArrayFromImage(sitk.ReadImage(str(data / row["mask"]))), labels)
    mask = sitk.GetImageFromArray(t.astype(np.uint8))
    mask.CopyInformation(image)
    organ = None
    if row.get("organ_mask"):
        o = sitk.GetArrayFromImage(sitk.ReadImage(str(data / row["organ_mask"]))) > 0
        organ = sitk.GetImageFromArray(o.astype(np.uint8))
        organ.CopyInformation(image)
    organ_name = {"lung": "lung", "breast": "breast"}.get(row["cancer_type"], "brain")
    return Case(case_id=row["case_id"], image=image, mask=mask, organ_mask=organ,
                modality=row["modality"], organ=organ_name, cancer_type=row["cancer_type"])


def main(argv=None) -> int:
    here = Path(__file__).resolve().parents[1]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.environ.get("PANCANCER_SHARED_DATA", str(here.parent / "shared" / "data")))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--definition", default="reference", choices=["reference", "3d"])
    p.add_argument("--parenchyma", default="auto", choices=["auto", "automatic", "supplied", "none"])
    args = p.parse_args(argv)
    data = Path(args.data)
    if not (data / "cases.csv").is_file():
        print(f"no cases.csv under {data}", file=sys.stderr)
        return 2
    group = RegionalFeatures(definition=args.definition, parenchyma=args.parenchyma)
    print(f"load average: {os.getloadavg()}  cpus: {os.cpu_count()}  definition={args.definition} "
          f"parenchyma={args.parenchyma} repeats={args.repeats}")
    print(f"{'case':15s} {'voxels':>10s} {'parenchyma':>10s} {'par_s':>6s} {'wall_s':>7s} {'cpu_s':>7s}  status")
    walls, cpus = [], []
    with open(data / "cases.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        case = load(row, data)
        w, c, status, par, pars = [], [], "ok", "-", float("nan")
        for _ in range(args.repeats):
            case._cache.clear()
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                f = group.compute(case)
                par, pars = f["diag_regional_parenchyma"], f["diag_regional_parenchyma_s"]
            except Exception as exc:  # report and go on
                status = f"{type(exc).__name__}: {exc}"
            w.append(time.perf_counter() - t0)
            c.append(time.process_time() - c0)
        wm, cm = statistics.median(w), statistics.median(c)
        walls.append(wm)
        cpus.append(cm)
        nvox = int(np.prod(case.image.GetSize()))
        print(f"{row['case_id']:15s} {nvox:10d} {par:>10s} {pars:6.2f} {wm:7.2f} {cm:7.2f}  {status}")
    print(f"median over {len(rows)} cases: wall {statistics.median(walls):.2f} s, "
          f"CPU {statistics.median(cpus):.2f} s; max wall {max(walls):.2f} s, max CPU {max(cpus):.2f} s")
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
