"""Segmentation benchmarks: U-Net inference time on a 512x512x100 CT-like volume (target <= 60 s
on CPU), semi-automatic segmentation time per real case, training time per epoch.

    python benchmarks/segmentation_bench.py [--threads N] [--device auto|cpu|cuda] [--quick]
        [--only inference|semi|train] [--refine none|watershed ...]

Prints one line per figure.  Timings depend on the machine and its load (``os.getloadavg`` is
printed); the network's weights do not matter for timing, so an untrained network is used.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "PanCancerSubtype"))


def ct_volume(shape=(100, 512, 512), seed=0):
    import SimpleITK as sitk

    rng = np.random.default_rng(seed)
    z, y, x = np.ogrid[:shape[0], :shape[1], :shape[2]]
    body = ((y - 256) / 230.0) ** 2 + ((x - 256) / 250.0) ** 2 <= 1
    lungs = (((y - 250) / 150.0) ** 2 + ((x - 160) / 80.0) ** 2 <= 1) | \
            (((y - 250) / 150.0) ** 2 + ((x - 352) / 80.0) ** 2 <= 1)
    arr = np.full(shape, -1000.0, np.float32)
    arr[:, body[0]] = 40.0
    arr[:, lungs[0]] = -850.0
    tumour = ((z - shape[0] // 2) / 8.0) ** 2 + ((y - 230) / 20.0) ** 2 + ((x - 150) / 20.0) ** 2 <= 1
    arr[tumour] = 30.0
    arr += rng.normal(0, 20, shape).astype(np.float32)
    im = sitk.GetImageFromArray(arr)
    im.SetSpacing((0.7, 0.7, 2.5))
    return im, np.argwhere(tumour).mean(0)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--quick", action="store_true", help="20 slices instead of 100")
    ap.add_argument("--only", choices=("inference", "semi", "train"), default=None)
    ap.add_argument("--refine", action="append", choices=("none", "watershed"), default=None,
                    help="semi-automatic variant(s) to measure (repeatable; default both)")
    args = ap.parse_args(argv)

    import torch

    from PanCancerSubtypeLib import segmentation as seg

    if args.threads:
        torch.set_num_threads(args.threads)
    dev = seg.resolve_device(args.device)
    print(f"load average {os.getloadavg()}, cpu_count {os.cpu_count()}, torch threads "
          f"{torch.get_num_threads()}, device {dev}")

    # 1. inference, default 2D dilated U-Net (8-16-32-64-128, dilations 1-2-4-8)
    nz = 20 if args.quick else 100
    im, _ = ct_volume((nz, 512, 512))
    cfg = seg.SegmenterConfig(modality="CT", device=args.device)
    net = seg.build_network(cfg).to(dev).eval()
    nparam = sum(p.numel() for p in net.parameters())
    if args.only in (None, "inference"):
        t0, c0 = time.perf_counter(), time.process_time()
        mask = seg.segment_image(im, None, model=(net, cfg, {}))
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"inference 2D dilated U-Net ({nparam} parameters) on 512x512x{nz}: {dt:.1f} s wall, "
              f"{cpu:.1f} s CPU ({dt / nz:.2f} s/slice wall; for 100 slices {dt * 100 / nz:.1f} s)")
        assert mask.GetSize() == im.GetSize()

    # 2. semi-automatic, real cases
    sys.path.insert(0, str(ROOT / "Testing"))
    data = Path(os.environ.get("PANCANCER_SHARED_DATA", ROOT.parent / "shared" / "data"))
    if args.only not in (None, "semi"):
        pass
    elif (data / "cases.csv").is_file():
        import csv

        import SimpleITK as sitk
        from scipy import ndimage as ndi

        with open(data / "cases.csv") as fh:
            rows = list(csv.DictReader(fh))
        print("semi-automatic, one seed: the tumour voxel nearest to the centroid ('centroid'), "
              "5 random seeds in the inner half of the tumour (depth >= half the maximal depth, "
              "rng 0; mean / min Dice), each without and with a box (reference extent + 5 mm)")
        variants = [None if v == "none" else v for v in (args.refine or ["none", "watershed"])]
        for r, refine in [(r, v) for v in variants for r in rows]:
            img = sitk.ReadImage(str(data / r["image"]), sitk.sitkFloat32)
            lab = sitk.GetArrayFromImage(sitk.ReadImage(str(data / r["mask"])))
            ref = np.isin(lab, [float(v) for v in r["tumour_labels"].split(",")])
            com = np.array(ndi.center_of_mass(ref))
            pts = np.argwhere(ref)
            sp = np.array(img.GetSpacing()[::-1])
            s = pts[(((pts - com) * sp) ** 2).sum(1).argmin()]
            seeds = [img.TransformIndexToPhysicalPoint([int(v) for v in s[::-1]])]
            edt = ndi.distance_transform_edt(ref, sampling=sp)
            inner = np.argwhere(edt >= 0.5 * edt.max())
            for i in np.random.default_rng(0).choice(len(inner), 5, replace=len(inner) < 5):
                seeds.append(img.TransformIndexToPhysicalPoint([int(v) for v in inner[i][::-1]]))
            lo_i, hi_i = pts.min(0)[::-1], pts.max(0)[::-1]
            c = np.array([img.TransformIndexToPhysicalPoint([int(a), int(b), int(d)])
                          for a in (lo_i[0], hi_i[0]) for b in (lo_i[1], hi_i[1])
                          for d in (lo_i[2], hi_i[2])])
            bbox = list(c.min(0) - 5.0) + list(c.max(0) + 5.0)
            refimg = sitk.GetImageFromArray(ref.astype(np.uint8))
            refimg.CopyInformation(img)
            times, res = [], {}
            for name, box in (("seed", None), ("box", bbox)):
                dices = []
                for k, pt in enumerate(seeds):
                    t0 = time.perf_counter()
                    out = seg.segment_from_seeds(img, [pt], bbox=box, modality=r["modality"],
                                                 refine=refine)
                    times.append(time.perf_counter() - t0)
                    dices.append(seg.dice(out, refimg))
                    if k == 0:
                        m = seg.evaluate_segmentation(out, refimg)
                        res[name + "_hd95"] = m["hd95_mm"]
                res[name] = dices
            print(f"semi-automatic refine={refine} {r['case_id']:>14s} {img.GetSize()}: "
                  f"centroid Dice {res['seed'][0]:.3f} (HD95 {res['seed_hd95']:.1f} mm), "
                  f"perturbed {np.mean(res['seed'][1:]):.3f} / {np.min(res['seed'][1:]):.3f}; "
                  f"with box: centroid {res['box'][0]:.3f}, perturbed "
                  f"{np.mean(res['box'][1:]):.3f} / {np.min(res['box'][1:]):.3f}; "
                  f"time {np.mean(times):.2f} s mean, {np.max(times):.2f} s max")
    else:
        print(f"semi-automatic: shared data not found at {data}; skipped")

    # 3. training time per epoch
    if args.only not in (None, "train"):
        return
    from test_segmentation import _phantom, _tiny_cfg
    from PanCancerSubtypeLib.case import Case

    cases = [Case(case_id=f"p{i}", image=_phantom(i)[0], mask=_phantom(i)[1], modality="CT")
             for i in range(6)]
    with tempfile.TemporaryDirectory() as tmp:
        s = seg.train_segmenter(cases, tmp, _tiny_cfg(epochs=3, num_threads=args.threads,
                                                      device=args.device), progress=False)
        print(f"training, CI-sized model (8-16-32, 10 x 8 patches of 48^2 per epoch, "
              f"validation on 1 phantom): {s['seconds_per_epoch']:.2f} s/epoch on {s['device']}")
        big = [Case(case_id=f"q{i}", image=_phantom(i, shape=(24, 160, 160))[0],
                    mask=_phantom(i, shape=(24, 160, 160))[1], modality="CT") for i in range(5)]
        s = seg.train_segmenter(big, tmp + "/d", seg.SegmenterConfig(
            epochs=1, iterations_per_epoch=10, num_threads=args.threads, device=args.device),
            progress=False)
        print(f"training, default model (8-16-32-64-128, 10 x 8 patches of 96^2): "
              f"{s['seconds_per_epoch']:.2f} s per 10 iterations (default epoch = 50 "
              f"iterations ~ {5 * s['seconds_per_epoch']:.0f} s + validation)")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
