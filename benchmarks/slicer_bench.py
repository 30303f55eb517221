"""Timings of the MRML adapter layer (slicer-core, no GUI) on a shared case and a large table.

    PYTHONPATH=PanCancerSubtype python benchmarks/slicer_bench.py [--case lung1] [--repeat 3]

Prints the best of ``--repeat`` runs for: SimpleITK image -> volume node, volume node -> SimpleITK,
mask -> segment, segment -> mask, .seg.nrrd write, a 1000 x 400 features DataFrame -> table node,
table node -> DataFrame, and the exact CSV write.
"""
from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def best(fn, repeat):
    ts = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return min(ts), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", default="lung1")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", default=os.environ.get(
        "PANCANCER_SHARED_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data")))
    args = ap.parse_args()

    import pandas as pd
    import SimpleITK as sitk
    import slicer

    from PanCancerSubtypeSlicerLib import mrml

    with open(Path(args.data) / "cases.csv", newline="") as fh:
        row = {r["case_id"]: r for r in csv.DictReader(fh)}[args.case]
    img = sitk.ReadImage(str(Path(args.data) / row["image"]))
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(Path(args.data) / row["mask"]))) > 0
    scene = slicer.vtkMRMLScene()
    print(f"case {args.case}: {img.GetSize()} voxels {np.prod(img.GetSize()):,}, "
          f"tumour {int(mask.sum()):,} voxels")

    t, vol = best(lambda: mrml.volume_node_from_sitk(img, scene=scene), args.repeat)
    print(f"  image -> volume node        {t * 1e3:8.1f} ms")
    t, _ = best(lambda: mrml.sitk_from_volume_node(vol), args.repeat)
    print(f"  volume node -> image        {t * 1e3:8.1f} ms")
    seg = mrml.new_segmentation_node(vol, scene=scene)
    t, _ = best(lambda: mrml.set_segment_from_mask(seg, mask, vol, "tumour"), args.repeat)
    print(f"  mask -> segment             {t * 1e3:8.1f} ms")
    t, _ = best(lambda: mrml.mask_from_segment(seg, "tumour", vol), args.repeat)
    print(f"  segment -> mask             {t * 1e3:8.1f} ms")
    tmp = tempfile.mkdtemp()
    t, _ = best(lambda: mrml.save_segmentation(seg, os.path.join(tmp, "s.seg.nrrd")), args.repeat)
    print(f"  .seg.nrrd write             {t * 1e3:8.1f} ms")

    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(1000, 400)), columns=[f"f{i}" for i in range(400)])
    df.insert(0, "ID", [f"case{i}" for i in range(1000)])
    t, tab = best(lambda: mrml.table_node_from_dataframe(df, scene=scene, use_registry=False),
                  args.repeat)
    print(f"  1000x401 DataFrame -> table {t * 1e3:8.1f} ms")
    t, _ = best(lambda: mrml.dataframe_from_table_node(tab), args.repeat)
    print(f"  table -> DataFrame          {t * 1e3:8.1f} ms")
    t, _ = best(lambda: mrml.save_table(tab, os.path.join(tmp, "t.csv")), args.repeat)
    print(f"  exact CSV + schema write    {t * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
