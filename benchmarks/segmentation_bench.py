"""Segmentation benchmarks: the click method on every shared case with an expert mask (Dice,
seed robustness, confidence, time per case), U-Net inference time on a 512x512x100 CT-like volume
(target <= 60 s on CPU), training time per epoch.

    python benchmarks/segmentation_bench.py --only semi [--held-out | --brats-dir DIR |
        --cases-csv FILE]
        [--method click|region_growing|random_walker|grow_from_seeds] [--corrective N]
        [--cases lung2,brats_pat0001] [--second-channel] [--no-confidence] [--rng N]
    python benchmarks/segmentation_bench.py [--threads N] [--device auto|cpu|cuda] [--quick]
        [--only inference|semi|train]

Semi-automatic protocol (issue 17): for each case, one seed at the tumour voxel nearest the
tumour's centroid ("centroid-nearest", not the exact centroid, which may lie outside the tumour)
and 5 random seeds in the inner half of the tumour (voxels whose distance to the reference surface
is at least half the maximal one; ``numpy.random.default_rng(0)`` per case; ``--rng N`` draws other
clicks, with the same centroid-nearest seed and box: fresh clicks on the same tumours), each
without and with a box (the reference's extent + 5 mm), all with ``--modality`` as in
``cases.csv``.  Printed per case: Dice of the centroid-nearest seed, mean / min over the 5 random
seeds, the confidence the method reports for each result, and the time of one segmentation on one
CPU core (the benchmark runs single-threaded).  The target summary is over the six target cases
(lung2, ibsi_nsclc, brats_pat0001/0002/0005/0006; tumour core = labels 1,3,4 on T1c), the
centroid-nearest seed plus the first two random seeds of each: median and minimum Dice, median with
a box.  ``--held-out`` runs the same protocol on the soft-tissue sarcomas (CT and T1 MR of
``IBSI_soft_tissue_sarcoma_CT_MR/pairs.csv``).  They were held out once, with the parameters of the
first version frozen; the second version's changes (box model, fallback, confidence 0 for a mask
smaller than the click's ball) were chosen on STS_001-005 only and checked once on STS_006-014
(``--cases``); the third (a repeated re-centring retry for unreliable lung and generic results) was
found on ibsi_nsclc and an analytic phantom, after every sarcoma had been seen; the fourth (a
coarse-scale retry for unreliable generic results without a box) was found on STS_005_CT and
STS_001_CT and an analytic phantom; the fifth (the lung choice's fat test, the point-like rule, the
box-span flag) on the sarcomas; the sixth (gaps in the enhancing rim, the rim retry) on
brats_pat0005's own confidence clicks; with a box, the model and its statistics from the click's
surroundings, on the sarcomas' box results: ``segmentation_history.md``.  The last summary line
counts how many results the method flags (``needs_check``) among the failures (Dice < 0.6) and the
others.  ``--brats-dir DIR`` runs the protocol on BRATS cases outside the shared data (deepmedic's
layout; ``brats_cases``): deepmedic's two validation cases were run once with the method frozen at
commit 55c49de (``segmentation_results.md``, "Tumours it was not tuned on").  ``--cases-csv FILE``
runs it on the cases of a table in the shared data's ``cases.csv`` layout (``case_id``,
``modality``, ``image``, ``mask``, ``tumour_labels``; paths relative to the table's folder;
``csv_cases``): tumours from outside the shared data, e.g. the CT lung nodules, lung cancers
and liver tumours that ``benchmarks/external_ct.py`` writes from public repositories
(segmentation_history.md).

``--corrective N``: what more input gives, as interactive segmentation is evaluated (a
simulated user, ``corrective_click``): from the same three starts per case, up to N clicks, each
after the first a seed at the deepest voxel of the largest missed region or a background point
at that of the largest false region, whichever region is larger; Dice after each click.

Baselines of the field on the same clicks and boxes: ``--method random_walker`` (scikit-image,
box only) and ``--method grow_from_seeds`` (3D Slicer's Grow from seeds; without a box its
background seeds are the faces of the +-60 mm cube around the click).

Timings depend on the machine and its load (``os.getloadavg`` is printed); the network's weights
do not matter for timing, so an untrained network is used.
"""
from __future__ import annotations

import argparse
import json
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


#: the issue-17 target cases (tumour core of the BRATS cases = labels 1,3,4 on T1c)
TARGET_CASES = ("lung2", "ibsi_nsclc", "brats_pat0001", "brats_pat0002", "brats_pat0005",
                "brats_pat0006")
#: shared cases whose masks are tumour outlines but which are not among the targets (brain1 and
#: brain2: T1c brains that are not skull-stripped, unlike the BRATS cases)
OTHER_CASES = ("lung1", "breast1", "brain1", "brain2")


def shared_data() -> Path:
    return Path(os.environ.get("PANCANCER_SHARED_DATA", ROOT.parent / "shared" / "data"))


def benchmark_seeds(img, ref: np.ndarray, n_random: int = 5, rng_seed: int = 0):
    """The protocol's seeds (LPS mm): the reference voxel nearest its centroid, then ``n_random``
    random voxels of its inner half; and the box (reference extent + 5 mm)."""
    from scipy import ndimage as ndi

    sp = np.array(img.GetSpacing()[::-1])
    com = np.array(ndi.center_of_mass(ref))
    pts = np.argwhere(ref)
    s = pts[(((pts - com) * sp) ** 2).sum(1).argmin()]
    seeds = [img.TransformIndexToPhysicalPoint([int(v) for v in s[::-1]])]
    edt = ndi.distance_transform_edt(np.pad(ref, 1), sampling=sp)[1:-1, 1:-1, 1:-1]
    inner = np.argwhere(edt >= 0.5 * edt.max())
    rng = np.random.default_rng(rng_seed)
    for i in rng.choice(len(inner), n_random, replace=len(inner) < n_random):
        seeds.append(img.TransformIndexToPhysicalPoint([int(v) for v in inner[i][::-1]]))
    lo_i, hi_i = pts.min(0)[::-1], pts.max(0)[::-1]
    c = np.array([img.TransformIndexToPhysicalPoint([int(a), int(b), int(d)])
                  for a in (lo_i[0], hi_i[0]) for b in (lo_i[1], hi_i[1])
                  for d in (lo_i[2], hi_i[2])])
    bbox = list(c.min(0) - 5.0) + list(c.max(0) + 5.0)
    return seeds, bbox


BRATS_FILES = ("T1c_subtrMeanDivStd.nii.gz", "OTMultiClass.nii.gz", "Flair_subtrMeanDivStd.nii.gz")


def brats_cases(root: Path, only=None):
    """Cases outside the shared data in the layout of deepmedic's BRATS examples: every folder
    under ``root`` that holds ``T1c_subtrMeanDivStd.nii.gz`` and ``OTMultiClass.nii.gz`` (and
    perhaps ``Flair_subtrMeanDivStd.nii.gz``) is an MR case, tumour core = labels 1, 3, 4 on T1c.
    The case id is the folder's name."""
    root = Path(root)
    if not root.is_dir():
        raise SystemExit(f"--brats-dir: {root} is not a folder")
    t1c, labels, flair = BRATS_FILES
    out = []
    for d in sorted(root.rglob(t1c)):
        d = d.parent
        if (d / labels).is_file():
            out.append((d.name, "MR", d / t1c, d / labels, [1.0, 3.0, 4.0],
                        d / flair if (d / flair).is_file() else None))
    if only:
        out = [c for c in out if c[0] in only]
    if not out:
        raise SystemExit(f"--brats-dir: no folder under {root} holds {t1c} and {labels}")
    return out


def csv_cases(path: Path, only=None):
    """Cases listed in a table of the shared ``cases.csv`` layout (``case_id``, ``modality``,
    ``image``, ``mask``, ``tumour_labels``: a comma-separated list, empty for every label; paths
    relative to the table's folder), read as the cohort reads a manifest
    (``cohort.read_manifest``)."""
    from PanCancerSubtypeLib.cohort import read_manifest
    from PanCancerSubtypeLib.errors import ManifestError

    try:
        df = read_manifest(path)
    except ManifestError as exc:
        raise SystemExit(f"--cases-csv: {exc}") from None
    out = [(r.ID, r.Modality.strip().upper(), Path(r.Image), Path(r.Mask),
            [float(v) for v in r.Label.split(",") if v.strip()] or None, None)
           for r in df.itertuples() if not only or r.ID in only]
    if not out:
        raise SystemExit(f"--cases-csv: no case in {path}")
    return out


def bench_cases(data: Path, held_out: bool, only=None):
    """(case id, modality, image path, mask path, labels, second channel path or None)."""
    import csv

    out = []
    if held_out:
        root = data / "IBSI_soft_tissue_sarcoma_CT_MR"
        with open(root / "pairs.csv", newline="") as fh:
            for r in csv.DictReader(fh):
                out.append((f"{r['patient_id']}_{r['modality']}", r["modality"],
                            root / r["image"], root / r["mask"], None, None))
    else:
        rows = {c[0]: c for c in csv_cases(data / "cases.csv")}
        for cid in TARGET_CASES + OTHER_CASES:
            if cid in rows:
                flair = rows[cid][2].parent / "Flair_subtrMeanDivStd.nii.gz"
                out.append(rows[cid][:5] + (flair if flair.is_file() else None,))
    if only:
        out = [c for c in out if c[0] in only]
    return out


def baseline_crop(img, pt, bbox, seed_radius_mm, reach_mm=60.0):
    """The two baselines' problem: the crop (the box or, without one, the cube of +-``reach_mm``
    around the click, clipped to the image), as float64, its slices, the voxel spacing (z, y, x)
    and the seed labels: 1 in the ball of ``seed_radius_mm`` around the click, 2 on the crop's
    faces (background) outside it."""
    import SimpleITK as sitk

    from PanCancerSubtypeLib.segmentation._points import bbox_to_slices

    arr = sitk.GetArrayViewFromImage(img)
    sp = np.array(img.GetSpacing()[::-1], float)
    c_full = np.array(img.TransformPhysicalPointToIndex(pt)[::-1])
    if bbox is not None:
        sl = bbox_to_slices(img, bbox)
    else:
        r = np.ceil(reach_mm / sp).astype(int)
        sl = tuple(slice(int(max(ci - ri, 0)), int(min(ci + ri + 1, n)))
                   for ci, ri, n in zip(c_full, r, arr.shape))
    crop = np.asarray(arr[sl], np.float64)
    c = c_full - [s.start for s in sl]
    labels = np.zeros(crop.shape, np.int32)
    g = np.ogrid[tuple(slice(0, n) for n in crop.shape)]
    labels[sum(((gi - ci) * h) ** 2 for gi, ci, h in zip(g, c, sp)) <= seed_radius_mm ** 2] = 1
    for ax in range(3):
        for end in (0, -1):
            face = [slice(None)] * 3
            face[ax] = end
            labels[tuple(face)] = np.where(labels[tuple(face)] == 1, 1, 2)
    return crop, sl, sp, labels


def mask_on_image(img, sl, foreground: np.ndarray):
    """A baseline's foreground on the crop ``sl`` as a uint8 mask on the image's grid."""
    import SimpleITK as sitk

    out = np.zeros(img.GetSize()[::-1], np.uint8)
    out[sl] = foreground.astype(np.uint8)
    m = sitk.GetImageFromArray(out)
    m.CopyInformation(img)
    return m


def box_ellipsoid_dice(img, ref: np.ndarray, bbox) -> float:
    """Dice of the ellipsoid inscribed in the box (the box's voxels, as the click method takes
    them) against the reference: what the box alone says, whatever the image; a reference for
    any method given the box."""
    from PanCancerSubtypeLib.segmentation._points import bbox_to_slices
    from PanCancerSubtypeLib.segmentation._surface import box_ellipsoid_mask
    from PanCancerSubtypeLib.segmentation.metrics import dice_arrays

    ell = box_ellipsoid_mask(ref.shape, bbox_to_slices(img, bbox), img.GetSpacing()[::-1])
    return dice_arrays(ell, ref)


def random_walker_box(img, pt, bbox, seed_radius_mm=2.5, beta=130.0):
    """The field's standard baseline for a box and a click (Grady, IEEE TPAMI 28:1768, 2006;
    scikit-image ``random_walker``, mode ``cg_j``, tol 1e-5, default beta): foreground seeds in the 2.5 mm ball around the
    click, background seeds on the box's faces, on the box's crop, voxel spacing given.  For
    comparison only (``--method random_walker``): it needs the box."""
    from skimage.segmentation import random_walker

    crop, sl, sp, labels = baseline_crop(img, pt, bbox, seed_radius_mm)
    seg_ = random_walker(crop, labels, beta=beta, mode="cg_j", tol=1e-5, spacing=sp)
    return mask_on_image(img, sl, seg_ == 1)


def grow_from_seeds(img, pt, bbox, seed_radius_mm=2.5, reach_mm=60.0):
    """3D Slicer's "Grow from seeds" (FastGrowCut: Zhu et al., MICCAI 2014; Slicer's
    ``vtkImageGrowCutSegment``, without its later spatial-regularisation option): every voxel
    takes the label of the seed it reaches by the cheapest path, a path costing the sum of the
    absolute intensity differences between 26-neighbours (scipy's Dijkstra from all seeds at
    once, ``min_only``; a 1e-6 floor per step because a sparse graph drops zero weights).
    Foreground seeds: the 2.5 mm ball around the click; background seeds: the faces of the box
    or, without one, automatically those of the cube of +-``reach_mm`` around the click (the
    click method's default reach), clipped to the image.  For comparison only
    (``--method grow_from_seeds``)."""
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import dijkstra

    crop, sl, _, labels = baseline_crop(img, pt, bbox, seed_radius_mm, reach_mm)
    shape = crop.shape
    idx = np.arange(crop.size).reshape(shape)
    rows, cols, wts = [], [], []
    for dz in (0, 1):
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if (dz, dy, dx) <= (0, 0, 0):      # each of the 13 half-neighbourhood offsets
                    continue
                a = tuple(slice(max(-d, 0), n - max(d, 0)) for d, n in zip((dz, dy, dx), shape))
                b = tuple(slice(max(d, 0), n - max(-d, 0)) for d, n in zip((dz, dy, dx), shape))
                rows.append(idx[a].ravel())
                cols.append(idx[b].ravel())
                wts.append(np.abs(crop[a] - crop[b]).ravel() + 1e-6)
    graph = coo_array((np.concatenate(wts), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(crop.size, crop.size)).tocsr()
    sources = np.flatnonzero(labels.ravel())
    _, _, nearest = dijkstra(graph, directed=False, indices=sources, min_only=True,
                             return_predecessors=True)
    grown = np.where(nearest >= 0, labels.ravel()[np.maximum(nearest, 0)], 2).reshape(shape)
    return mask_on_image(img, sl, grown == 1)


def below(results, limit: float = 0.6) -> str:
    """The results below ``limit`` by case, for a summary line: `` (case: Dice, Dice; ...)``
    in the order given, or nothing when none is below.  ``results``: (case id, Dice) pairs."""
    by_case = {}
    for cid, v in results:
        if np.isfinite(v) and v < limit:
            by_case.setdefault(cid, []).append(f"{v:.3f}")
    if not by_case:
        return ""
    return " (" + "; ".join(f"{c}: {', '.join(v)}" for c, v in by_case.items()) + ")"


def load_case(case, second_channel: bool):
    """The image (float32), the reference mask (the case's labels, else every label) and, when
    ``second_channel`` and the case has one, the second channel of a ``bench_cases`` /
    ``brats_cases`` row."""
    import SimpleITK as sitk

    _, _, ipath, mpath, labels, ch2path = case
    img = sitk.ReadImage(str(ipath), sitk.sitkFloat32)
    lab = sitk.GetArrayFromImage(sitk.ReadImage(str(mpath)))
    ref = np.isin(lab, labels) if labels else lab > 0
    ch2 = sitk.ReadImage(str(ch2path), sitk.sitkFloat32) if (
        second_channel and ch2path is not None) else None
    return img, ref, ch2


def is_target(args, cid: str) -> bool:
    """Whether a case's results count in the summaries: every held-out or external case, else
    issue 17's target cases."""
    return bool(args.held_out or args.brats_dir is not None or args.cases_csv is not None
                or cid in TARGET_CASES)


def corrective_click(ref: np.ndarray, mask: np.ndarray, spacing_zyx):
    """The next click of a simulated user (the standard protocol of interactive segmentation,
    e.g. Xu et al., CVPR 2016; Sofiiuk et al., ICIP 2022): the largest connected error region
    (missed tumour or false positive, whichever is larger) and its voxel farthest from the
    region's boundary (z, y, x).  Returns ("seed" | "background", voxel), or None when the mask
    equals the reference."""
    from scipy import ndimage as ndi

    best = None
    for kind, err in (("seed", ref & ~mask), ("background", mask & ~ref)):
        lab, n = ndi.label(err)
        if n == 0:
            continue
        sizes = ndi.sum(err, lab, np.arange(1, n + 1))
        i = int(np.argmax(sizes))
        if best is None or sizes[i] > best[0]:
            best = (sizes[i], kind, lab == i + 1)
    if best is None:
        return None
    depth = ndi.distance_transform_edt(np.pad(best[2], 1), sampling=spacing_zyx)[1:-1, 1:-1, 1:-1]
    return best[1], np.array(np.unravel_index(int(np.argmax(depth)), depth.shape))


def corrective_run(seg, img, ref, modality, pt, n_clicks, ch2=None):
    """Dice, confidence and CPU seconds after each of ``n_clicks`` clicks: the first at ``pt``
    (LPS mm), each next one a :func:`corrective_click` (a seed or a background point) added
    to the earlier ones; no box."""
    import SimpleITK as sitk

    from PanCancerSubtypeLib.segmentation.metrics import dice_arrays

    sp = np.array(img.GetSpacing()[::-1], float)
    seeds, background, rows = [tuple(pt)], [], []
    for k in range(n_clicks):
        c0 = time.process_time()
        r = seg.segment_click(img, seeds, background_lps_mm=background or None,
                              modality=modality, second_channel=ch2)
        cpu = time.process_time() - c0
        m = sitk.GetArrayFromImage(r.mask) > 0
        rows.append((dice_arrays(m, ref), r.confidence, cpu))
        nxt = corrective_click(ref, m, sp) if k < n_clicks - 1 else None
        if nxt is None:
            break
        p = img.TransformIndexToPhysicalPoint([int(v) for v in nxt[1][::-1]])
        (seeds if nxt[0] == "seed" else background).append(tuple(p))
    return rows


def corrective_benchmark(args, seg, cases) -> None:
    """``--corrective N``: the centroid-nearest and the first two random seeds of each case,
    then up to N-1 corrective clicks each (no box)."""
    n = int(args.corrective)
    print(f"corrective clicks: the centroid-nearest seed and the first 2 random inner-half "
          f"seeds of each case, then a simulated user's clicks (the deepest voxel of the "
          f"largest missed or false region: a seed or a background point) up to {n} clicks, "
          f"no box; Dice after each click (conf), CPU seconds of each segmentation")
    after = [[] for _ in range(n)]
    worse, total, cpu_all = 0, 0, []
    for case in cases:
        cid, modality = case[:2]
        img, ref, ch2 = load_case(case, args.second_channel)
        seeds, _ = benchmark_seeds(img, ref, max(args.n_random, 2), args.rng)
        target = is_target(args, cid)
        for k, pt in enumerate(seeds[:3]):
            rows = corrective_run(seg, img, ref, modality, pt, n, ch2)
            rows += [rows[-1]] * (n - len(rows))      # a perfect mask needs no more clicks
            cpu_all += [r[2] for r in rows]
            if target:
                for i, r in enumerate(rows):
                    after[i].append(r[0])
                worse += sum(b[0] < a[0] - 0.01 for a, b in zip(rows, rows[1:]))
                total += len(rows) - 1
            print(f"{cid:>14s} {modality} {'target' if target else 'other ':6s} seed {k}: "
                  + " -> ".join(f"{r[0]:.3f} ({r[1] if r[1] is None else round(r[1], 2)})"
                                for r in rows)
                  + f"   CPU {' / '.join(f'{r[2]:.1f}' for r in rows)} s", flush=True)
    if after[0]:
        print("SUMMARY corrective clicks, target results: median Dice after "
              + ", ".join(f"{i + 1} click{'s' if i else ''} {np.median(a):.3f}"
                          for i, a in enumerate(after))
              + f"; below 0.6 after {n}: {int((np.array(after[-1]) < 0.6).sum())} of "
              f"{len(after[-1])}; corrective clicks that lowered Dice by more than 0.01: "
              f"{worse} of {total}")
    if cpu_all:
        print(f"SUMMARY CPU time per segmentation: median {np.median(cpu_all):.2f} s, "
              f"max {np.max(cpu_all):.2f} s")


def run_case(seg, img, ref, modality, seeds, bbox, ch2, method, confidence, records=None):
    """Dice, confidence and seconds of each seed, without and with the box; with ``records``
    (a list), the click method's every result is appended to it as a dict (``box``: "seed" or
    "box", ``k``: the seed's number, 0 the centroid-nearest; ``dice``, ``conf``,
    ``needs_check``, ``volume_ml``, ``model``, ``cpu_s``, ``warnings``, ``boundary_fraction``)."""
    import SimpleITK as sitk

    from PanCancerSubtypeLib.segmentation.metrics import dice_arrays

    res = {}
    for name, box in (("seed", None), ("box", bbox)):
        rows = []
        for k, pt in enumerate(seeds):
            t0, c0 = time.perf_counter(), time.process_time()
            if method == "random_walker":
                if box is None:              # needs the box's faces as background seeds
                    rows.append((float("nan"), None, 0.0, 0.0, None))
                    continue
                mask = random_walker_box(img, pt, box)
                conf, check = None, None
            elif method == "grow_from_seeds":
                mask = grow_from_seeds(img, pt, box)
                conf, check = None, None
            elif method == "click":
                r = seg.segment_click(img, [pt], bbox=box, modality=modality, second_channel=ch2,
                                      confidence=confidence)
                mask, conf, check = r.mask, r.confidence, r.needs_check
            else:
                mask = seg.segment_from_seeds(img, [pt], bbox=box, modality=modality,
                                              method=method)
                conf, check = None, None
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
            m = sitk.GetArrayViewFromImage(mask) > 0
            rows.append((dice_arrays(m, ref), conf, dt, cpu, check))
            if records is not None and method == "click":
                records.append({"box": name, "k": k, "dice": round(rows[-1][0], 4),
                                "conf": None if conf is None else round(conf, 4),
                                "needs_check": bool(check), "volume_ml": round(r.volume_ml, 3),
                                "model": r.model, "cpu_s": round(cpu, 2),
                                "warnings": list(r.warnings),
                                "boundary_fraction": round(r.boundary_fraction, 4)})
        res[name] = rows
    return res


def semi_benchmark(args) -> None:
    import SimpleITK as sitk

    from PanCancerSubtypeLib import segmentation as seg

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    only = set(args.cases.split(",")) if args.cases else None
    external = args.brats_dir is not None or args.cases_csv is not None
    if args.cases_csv is not None:
        cases = csv_cases(Path(args.cases_csv), only)
        what = f"cases of {args.cases_csv} (outside the shared data)"
    elif external:
        cases = brats_cases(Path(args.brats_dir), only)
        what = f"BRATS cases under {args.brats_dir} (outside the shared data)"
    else:
        data = shared_data()
        if not (data / "cases.csv").is_file():
            print(f"semi-automatic: shared data not found at {data}; skipped")
            return
        cases = bench_cases(data, args.held_out, only)
        what = "HELD-OUT soft-tissue sarcomas" if args.held_out else "shared cases"
    if args.corrective:
        corrective_benchmark(args, seg, cases)
        return
    print(f"semi-automatic, method={args.method}{' + second channel (FLAIR)' if args.second_channel else ''}"
          f", {what}: "
          f"Dice of the centroid-nearest seed, mean / min of {args.n_random} random inner-half "
          f"seeds (rng {args.rng}), without and with a box (reference extent + 5 mm); conf = the "
          f"method's confidence (mean, min over the seeds); time per segmentation: wall time as "
          f"run (the confidence's jittered runs on the machine's cores) and CPU time (all "
          f"threads together: what one core takes)"
          + (" (with the confidence's extra runs)" if not args.no_confidence else ""))
    summary = {"seed": [], "box": []}
    ellipsoids = []     # the box's ellipsoid alone, per target case
    flags = []          # (Dice, needs_check) of every click result
    table = []
    target_cpu = []     # (case, CPU s of the targets' three results without a box)
    for case in cases:
        cid, modality = case[:2]
        img, ref, ch2 = load_case(case, args.second_channel)
        seeds, bbox = benchmark_seeds(img, ref, args.n_random, args.rng)
        recs = [] if args.records else None
        res = run_case(seg, img, ref, modality, seeds, bbox, ch2, args.method,
                       not args.no_confidence, recs)
        if recs:
            with open(args.records, "a") as f:     # (a line per result, as each case ends)
                f.writelines(json.dumps({"case": cid, **x}) + "\n" for x in recs)
        target = is_target(args, cid)
        ell = box_ellipsoid_dice(img, ref, bbox)
        if target:
            ellipsoids.append(ell)
        for name in ("seed", "box"):
            if target:
                summary[name] += [(cid, r[0]) for r in res[name][:3]]
        flags += [(r[0], r[4]) for name in ("seed", "box") for r in res[name]
                  if r[4] is not None]
        times = [r[2] for name in ("seed", "box") for r in res[name] if np.isfinite(r[0])]
        cpus = [r[3] for name in ("seed", "box") for r in res[name] if np.isfinite(r[0])]

        def fmt(rows):
            d = [r[0] for r in rows]
            c = [r[1] for r in rows if r[1] is not None]
            cs = f" conf {np.mean(c):.2f}/{np.min(c):.2f}" if c else ""
            return f"{d[0]:.3f} | {np.mean(d[1:]):.3f} / {np.min(d[1:]):.3f}{cs}"

        line = (f"{cid:>14s} {modality} {'target' if target else 'other ':6s} "
                f"seed: {fmt(res['seed'])}   box: {fmt(res['box'])}   box's ellipsoid {ell:.3f}   "
                f"time {np.median(times):.2f} s median, {np.max(times):.2f} s max (CPU "
                f"{np.median(cpus):.2f} / {np.max(cpus):.2f} s)")
        print(line, flush=True)
        table.append((cid, res, cpus, times))
        if target:
            target_cpu.append((cid, [r[3] for r in res["seed"][:3] if np.isfinite(r[0])]))
    for name, label in (("seed", "without box"), ("box", "with box")):
        d = np.array([v for _, v in summary[name]], float)
        d = d[np.isfinite(d)]
        if d.size:
            print(f"SUMMARY {label}: centroid-nearest + 2 random inner-half seeds per "
                  f"{'held-out' if args.held_out or external else 'target'} case "
                  f"({d.size} results): "
                  f"median Dice {np.median(d):.3f}, min {d.min():.3f}, mean {d.mean():.3f}, "
                  f"results < 0.6: {int((d < 0.6).sum())}{below(summary[name])}")
    if ellipsoids:
        print(f"SUMMARY the box's inscribed ellipsoid alone (no image), per "
              f"{'held-out' if args.held_out or external else 'target'} case "
              f"({len(ellipsoids)}): median Dice {np.median(ellipsoids):.3f}, "
              f"min {np.min(ellipsoids):.3f}")
    if flags:
        bad = [c for d, c in flags if d < 0.6]
        good = [c for d, c in flags if d >= 0.6]
        print(f"SUMMARY flag (needs_check: confidence < 0.8, a mask smaller than the click's "
              f"ball, hardly filling or filling up the box or spanning under a third of it "
              f"along an axis, the box's ellipsoid where no ray showed a boundary, enhancement "
              f"beyond it over a third of it, a ground-glass lesion, a point-like mask), "
              f"all {len(flags)} results: Dice < 0.6 flagged "
              f"{sum(bad)}/{len(bad)}, Dice >= 0.6 flagged {sum(good)}/{len(good)}")
    all_t = [t for _, _, ts, _ in table for t in ts]
    if all_t:
        print(f"SUMMARY CPU time per segmentation (all threads: one core's): median "
              f"{np.median(all_t):.2f} s, max {np.max(all_t):.2f} s; per-case medians: "
              + ", ".join(f"{c} {np.median(ts):.1f}" for c, _, ts, _ in table))
        all_w = [t for _, _, _, ws in table for t in ws]
        print(f"SUMMARY wall time per segmentation as run ({_cores()} cores): median "
              f"{np.median(all_w):.2f} s, max {np.max(all_w):.2f} s; per-case medians: "
              + ", ".join(f"{c} {np.median(ws):.1f}" for c, _, _, ws in table))
    if any(ts for _, ts in target_cpu):
        print("SUMMARY CPU time per segmentation, the targets' protocol (the centroid-nearest "
              "and the first 2 random seeds without a box, per target case): median / max: "
              + ", ".join(f"{c} {np.median(ts):.1f} / {np.max(ts):.1f}"
                          for c, ts in target_cpu if ts))


def _cores() -> int:
    """The cores this process may use (what the click method's threads default to)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--quick", action="store_true", help="20 slices instead of 100")
    ap.add_argument("--only", choices=("inference", "semi", "train"), default=None)
    ap.add_argument("--method", choices=("click", "region_growing", "random_walker",
                                        "grow_from_seeds"),
                    default="click", help="semi-automatic method (default click; random_walker: "
                    "the scikit-image baseline, with a box only; grow_from_seeds: 3D Slicer's "
                    "Grow from seeds)")
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--held-out", action="store_true",
                       help="semi-automatic: the held-out soft-tissue sarcomas (CT and MR)")
    which.add_argument("--brats-dir", default=None,
                       help="semi-automatic: BRATS cases outside the shared data, in the layout "
                       "of deepmedic's examples (folders with T1c_subtrMeanDivStd.nii.gz and "
                       "OTMultiClass.nii.gz), e.g. examples/dataForExamples/brats2015Training"
                       "Data/validation of a clone of github.com/deepmedic/deepmedic")
    which.add_argument("--cases-csv", default=None, metavar="FILE",
                       help="semi-automatic: cases outside the shared data, listed in a table of "
                       "the shared cases.csv layout (case_id, modality, image, mask, "
                       "tumour_labels; paths relative to the table's folder)")
    ap.add_argument("--cases", default=None, help="semi-automatic: comma-separated case ids")
    ap.add_argument("--records", default=None, metavar="FILE",
                    help="semi-automatic, click method: append every result (case, box or "
                         "not, seed number, Dice, confidence, needs_check, mL, model, CPU s, "
                         "warnings) to FILE as a JSON line; compare two runs' files with "
                         "benchmarks/compare_records.py")
    ap.add_argument("--n-random", type=int, default=5, help="random inner-half seeds per case")
    ap.add_argument("--rng", type=int, default=0, metavar="N",
                    help="semi-automatic: seed of the random inner-half clicks' generator "
                    "(default 0, the reported protocol; another N gives fresh clicks on the "
                    "same tumours)")
    ap.add_argument("--second-channel", action="store_true",
                    help="semi-automatic: give the BRATS cases' FLAIR as second channel")
    ap.add_argument("--corrective", type=int, default=0, metavar="N",
                    help="semi-automatic: the corrective-click protocol (a simulated user "
                    "adds a seed or a background point where the mask is most wrong) up to N "
                    "clicks per start, no box")
    ap.add_argument("--no-confidence", action="store_true",
                    help="semi-automatic: skip the confidence (the jittered-seed runs)")
    args = ap.parse_args(argv)
    if args.corrective < 0:
        ap.error(f"--corrective: the number of clicks must be >= 1, got {args.corrective}")
    if args.corrective and args.method != "click":
        ap.error("--corrective measures the click method (--method click)")

    if args.only == "semi":
        print(f"load average {os.getloadavg()}, cpu_count {os.cpu_count()}")
        semi_benchmark(args)
        print(f"load average after: {os.getloadavg()}")
        return

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
    if args.only in (None, "semi"):
        semi_benchmark(args)

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
