"""The click method on lesions implanted in real images, where the truth is exact: a way to choose
a parameter without tuning it on a case it is then judged on (``segmentation_history.md``,
pass 41, version 35).

    python benchmarks/implanted_lesions.py ggo   --lung-dir external_ct --images LIDC-IDRI-0001,LIDC-IDRI-0314
    python benchmarks/implanted_lesions.py ggo   --lung-dir external_ct --images LIDC-IDRI-0003
    python benchmarks/implanted_lesions.py solid --lung-dir external_ct
    python benchmarks/implanted_lesions.py brain --brain-dir external5

``--lung-dir``: the output of ``external_ct.py`` (its ``LIDC-IDRI-*/image.nii.gz`` and
``mask.nii.gz``: the lesions go at least 50 mm from the scan's own nodule).  ``brain`` takes the
four BRATS T1c images of the shared data and, with ``--brain-dir``, the skull-stripped BraTS
2018 T1c images in its ``<case>/image.nii.gz`` and ``mask.nii.gz`` (the lesions go at least 30 mm
from the tumour).  Each run draws its places, sizes and clicks from ``--seed`` (the defaults are
those of pass 41's runs, the two ``ggo`` runs above each from seed 5) and prints one line per
click and a summary; ``--out`` writes the lines as JSON.

- ``ggo``: ground-glass nodules (ellipsoids of semi-axes 5-9 mm) added to aerated lung at 2.5, 3
  and 3.5 robust SDs of the smoothed lung around them, blurred by 0.8 mm; each click with
  ``ggo_contrast_sd`` 4 (version 34) and 2.5 (version 35).
- ``solid``: solid spheres (40 HU, noise SD 25 HU; radius 4, 6, 9 mm) in aerated lung, free or
  against the chest wall or mediastinum.
- ``brain``: enhancing spheres (radius 3, 5, 8 mm, +2 or +4 robust SDs of the brain around them)
  and a ring-enhancing 8 mm lesion in normal-appearing brain.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "PanCancerSubtype"))

from PanCancerSubtypeLib import segmentation as seg  # noqa: E402
from PanCancerSubtypeLib.segmentation._appearance import robust_stats  # noqa: E402
from PanCancerSubtypeLib.segmentation.metrics import dice_arrays  # noqa: E402

LIDC = ("LIDC-IDRI-0001", "LIDC-IDRI-0003", "LIDC-IDRI-0314")
BRATS18 = ("brats18_cbica_ame_1", "brats18_cbica_alu_1", "brats18_tcia01_378_1",
           "brats18_tcia10_639_1")


def clicks_in(truth, sp, rng, centre=None):
    """The centre (or the deepest voxel) and 2 random voxels of the truth's inner half."""
    depth = ndi.distance_transform_edt(truth, sampling=sp)
    inner = np.argwhere(depth >= 0.5 * depth.max())
    first = centre if centre is not None else np.argwhere(depth == depth.max())[0]
    return [first] + [inner[i] for i in rng.choice(len(inner), 2, replace=False)]


def run(img, arr, truth, click, modality, params=None):
    im = sitk.GetImageFromArray(arr)
    im.CopyInformation(img)
    pt = img.TransformIndexToPhysicalPoint([int(v) for v in click[::-1]])
    r = seg.segment_click(im, [pt], modality=modality, params=params)
    mk = sitk.GetArrayFromImage(r.mask) > 0
    sp = np.array(img.GetSpacing()[::-1])
    return dict(dice=dice_arrays(mk, truth), model=r.model, ml=r.volume_ml,
                true_ml=float(truth.sum() * sp.prod() / 1e3), conf=r.confidence,
                flag=bool(r.needs_check))


def lung_image(folder: Path, name: str):
    """An LIDC image of external_ct.py's output: the image, its array, spacing (z, y, x), the
    0.7 mm smoothing, and where a lesion may go (at least 50 mm from the scan's own nodule)."""
    img = sitk.ReadImage(str(folder / name / "image.nii.gz"))
    a = sitk.GetArrayFromImage(img).astype(np.float32)
    ref = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / name / "mask.nii.gz"))) > 0
    sp = np.array(img.GetSpacing()[::-1])
    far = ndi.distance_transform_edt(~ref, sampling=sp) > 50
    return img, a, sp, ndi.gaussian_filter(a, 0.7 / sp), far


def ggo(args, rng, emit):
    for name in args.images.split(","):
        img, a, sp, sm, far = lung_image(args.lung_dir, name)
        lungish = ndi.uniform_filter(((sm < -700) & (sm > -950)).astype(np.float32),
                                     np.maximum(1, np.round(20 / sp)).astype(int)) > 0.95
        cand = np.argwhere(lungish & far)
        picks = cand[rng.choice(len(cand), 3, replace=False)]
        zz, yy, xx = np.indices(a.shape, sparse=True)
        for pi, c0 in enumerate(picks):
            ax = rng.uniform(5, 9, 3)
            d = np.sqrt(((zz - c0[0]) * sp[0] / ax[0]) ** 2 + ((yy - c0[1]) * sp[1] / ax[1]) ** 2
                        + ((xx - c0[2]) * sp[2] / ax[2]) ** 2)
            truth = d <= 1.0
            w = ndi.gaussian_filter(truth.astype(np.float32), 0.8 / sp)
            ball = np.sqrt(((zz - c0[0]) * sp[0]) ** 2 + ((yy - c0[1]) * sp[1]) ** 2
                           + ((xx - c0[2]) * sp[2]) ** 2) <= 30
            m, s = robust_stats(sm[ball & (sm < -600)])
            inner = np.argwhere(d <= 0.5)
            clicks = [c0] + [inner[i] for i in rng.choice(len(inner), 2, replace=False)]
            for c in (2.5, 3.0, 3.5):
                # /0.9: the 0.7 mm smoothing of the seed ball's median loses a little
                b = a + (c * s / 0.9) * w
                for ci, cl in enumerate(clicks):
                    for k in (4.0, 2.5):
                        emit(dict(img=name, nodule=pi, C=c, click=ci, K=k, lung_sd=s,
                                  **run(img, b, truth, cl, "CT",
                                        seg.ClickParameters(ggo_contrast_sd=k))),
                             (f"contrast {c} SD", f"ggo_contrast_sd {k}"))


def solid(args, rng, emit):
    for name in args.images.split(","):
        img, a, sp, sm, far = lung_image(args.lung_dir, name)
        lung = ndi.binary_opening((sm < -600) & (sm > -980), iterations=1)
        dense = sm > -300
        rad = np.maximum(1, np.round(4.0 / sp)).astype(int)
        wall = ndi.binary_opening(dense, structure=np.ones(2 * rad + 1, bool))
        d_wall = ndi.distance_transform_edt(~wall, sampling=sp)
        d_dense = ndi.distance_transform_edt(~dense, sampling=sp)
        zz, yy, xx = np.indices(a.shape, sparse=True)
        for where in ("free", "pleura"):
            for r in (4.0, 6.0, 9.0):
                if where == "free":
                    ok = lung & far & (d_dense > r + 3)
                else:
                    ok = lung & far & (d_wall > r - 0.5) & (d_wall < r + 0.5) & (d_dense > r - 1.0)
                cand = np.argwhere(ok)
                if len(cand) == 0:
                    print(f"{name}: no place for a {where} sphere of {r} mm", flush=True)
                    continue
                for li, c0 in enumerate(cand[rng.choice(len(cand), min(2, len(cand)),
                                                        replace=False)]):
                    dist = np.sqrt(((zz - c0[0]) * sp[0]) ** 2 + ((yy - c0[1]) * sp[1]) ** 2
                                   + ((xx - c0[2]) * sp[2]) ** 2)
                    truth = (dist <= r) & ~wall
                    w = ndi.gaussian_filter((dist <= r).astype(np.float32), 0.8 / sp)
                    tissue = 40.0 + rng.normal(0, 25.0, a.shape).astype(np.float32)
                    b = np.where(wall, a, a * (1 - w) + tissue * w)
                    for ci, cl in enumerate(clicks_in(truth, sp, rng)):
                        emit(dict(img=name, where=where, r=r, loc=li, click=ci,
                                  **run(img, b, truth, cl, "CT")), (where, f"radius {r} mm"))


def brain(args, rng, emit):
    shared = Path(os.environ.get("PANCANCER_SHARED_DATA", ROOT.parent / "shared" / "data"))
    d = str(shared / "deepmedic_BRATS2015_brats_2013_pat000{}_1") + "/"
    imgs = [(f"brats_pat000{k}", d.format(k) + "T1c_subtrMeanDivStd.nii.gz",
             d.format(k) + "OTMultiClass.nii.gz") for k in (1, 2, 5, 6)]
    if args.brain_dir is not None:
        imgs += [(n, str(args.brain_dir / n / "image.nii.gz"), str(args.brain_dir / n / "mask.nii.gz"))
                 for n in BRATS18]
    for name, ip, mp in imgs:
        if not Path(ip).is_file():
            raise SystemExit(f"{name}: {ip} is not a file")
        img = sitk.ReadImage(ip)
        a = sitk.GetArrayFromImage(img).astype(np.float32)
        tum = sitk.GetArrayFromImage(sitk.ReadImage(mp)) > 0
        sp = np.array(img.GetSpacing()[::-1])
        brain_ = ndi.binary_fill_holes(ndi.binary_opening(a != a.flat[0], iterations=2))
        deep = ndi.distance_transform_edt(brain_, sampling=sp) > 15
        far = ndi.distance_transform_edt(~tum, sampling=sp) > 30
        sm = ndi.gaussian_filter(a, 1.0 / sp)
        loc_sd = np.sqrt(np.maximum(ndi.uniform_filter(sm ** 2, 7) - ndi.uniform_filter(sm, 7) ** 2, 0))
        cand = np.argwhere(deep & far & (loc_sd < np.percentile(loc_sd[brain_], 30)))
        picks = cand[rng.choice(len(cand), 2, replace=False)]
        zz, yy, xx = np.indices(a.shape, sparse=True)
        for pi, c0 in enumerate(picks):
            dist = np.sqrt(((zz - c0[0]) * sp[0]) ** 2 + ((yy - c0[1]) * sp[1]) ** 2
                           + ((xx - c0[2]) * sp[2]) ** 2)
            m, s = robust_stats(a[brain_ & (dist <= 30) & ~tum])
            for kind, r, e in [("solid", 3, 2), ("solid", 3, 4), ("solid", 5, 2), ("solid", 5, 4),
                               ("solid", 8, 2), ("solid", 8, 4), ("ring", 8, 4)]:
                truth = dist <= r
                if kind == "solid":
                    delta = ndi.gaussian_filter(truth.astype(np.float32), 0.8 / sp) * (e * s)
                else:
                    rim = truth & (dist > r - 2.0)
                    core = dist <= r - 2.0
                    delta = ndi.gaussian_filter(rim.astype(np.float32) * (e * s)
                                                + core.astype(np.float32) * (-2.0 * s), 0.8 / sp)
                for ci, cl in enumerate(clicks_in(truth, sp, rng, c0)):
                    emit(dict(img=name, loc=pi, kind=kind, r=r, E=e, click=ci,
                              **run(img, a + delta, truth, cl, "MR")),
                         (f"{kind} {r} mm", f"+{e} SD"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("experiment", choices=("ggo", "solid", "brain"))
    ap.add_argument("--lung-dir", type=Path, help="external_ct.py's output (ggo, solid)")
    ap.add_argument("--brain-dir", type=Path, help="BraTS 2018 cases (brain; optional)")
    ap.add_argument("--images", default=",".join(LIDC), help="LIDC images (ggo, solid)")
    ap.add_argument("--seed", type=int, default=None,
                    help="random seed (default: pass 41's: ggo 5, solid 21, brain 11)")
    ap.add_argument("--out", type=Path, help="write one JSON line per click")
    args = ap.parse_args(argv)
    if args.experiment in ("ggo", "solid"):
        if args.lung_dir is None or not args.lung_dir.is_dir():
            raise SystemExit(f"--lung-dir: {args.lung_dir} is not a folder (external_ct.py's output)")
        for name in args.images.split(","):
            if not (args.lung_dir / name / "image.nii.gz").is_file():
                raise SystemExit(f"--images: {args.lung_dir / name / 'image.nii.gz'} is not a file")
    seed = args.seed if args.seed is not None else {"ggo": 5, "solid": 21, "brain": 11}[args.experiment]
    rng = np.random.default_rng(seed)
    out = open(args.out, "w") if args.out else None
    groups = defaultdict(list)

    def emit(rec, key):
        groups[key].append(rec)
        line = json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in rec.items()})
        print(line, flush=True)
        if out:
            out.write(line + "\n")
            out.flush()

    {"ggo": ggo, "solid": solid, "brain": brain}[args.experiment](args, rng, emit)
    print("SUMMARY (Dice against the implanted lesion):")
    for key, recs in sorted(groups.items()):
        d = np.array([r["dice"] for r in recs])
        print(f"  {key[0]:>16s}, {key[1]:<20s} n {len(d):3d}  median {np.median(d):.3f}  "
              f"mean {d.mean():.3f}  min {d.min():.3f}  below 0.5: {int((d < 0.5).sum())} "
              f"(flagged {sum(r['flag'] for r in recs if r['dice'] < 0.5)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
