"""Background jobs that have no command of their own in the core CLI, run as
``PythonSlicer -m PanCancerSubtypeSlicerLib.jobs <job> ...``.

Files in, files out, so the Slicer GUI stays responsive while the core computes (the panels write
the nodes with :func:`.logic.write_case_inputs` and read the results back).  This module imports
neither ``slicer`` nor Qt: only the core library, SimpleITK and NumPy.

Jobs
----
``parenchyma --image I --mask M [--organ O] [--modality CT|MR] --out P.nrrd``
    organ parenchyma mask (``regions.case_parenchyma``)
``regions --image I --mask M [--organ-mask O] [--organ O] [--modality CT|MR] [--definition D] --out R.nrrd``
    TC=1 / TIM=2 / PM5 ring=3 / PM10 ring=4 label map (``regions.case_regions``)
``spharm --image I --mask M --degree D [--mode robust|reference] --out S.npz``
    SPHARM reconstruction: ``vertices`` (N x 3, LPS mm) and ``faces`` (M x 3)
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

import numpy as np


def _make_case(image_path: str, mask_path: str, organ_mask_path: Optional[str], modality,
               organ=None):
    """A core ``Case`` from the files the panel wrote (validated by ``io.load_case``)."""
    from PanCancerSubtypeLib.io import load_case

    case = load_case(image_path, mask_path, organ_mask=organ_mask_path, modality=modality,
                     case_id=mask_path)
    if organ:
        case.organ = organ
    return case, case.image


def _write_like(arr, reference, path: str) -> None:
    import SimpleITK as sitk

    if not isinstance(arr, np.ndarray):
        sitk.WriteImage(arr, path, True)
        return
    img = sitk.GetImageFromArray(np.ascontiguousarray(arr).astype(np.uint8))
    img.CopyInformation(reference)
    sitk.WriteImage(img, path, True)


def spharm_mesh_lps(mask_zyx: np.ndarray, image, degree: int, mode: str = "robust"):
    """SPHARM reconstruction of a mask up to ``degree`` in patient space (LPS mm).

    The core decomposes the mask with the image's origin and direction, so the reconstructed
    vertices are physical LPS coordinates; returns ``(vertices N x 3, faces M x 3)``.
    """
    from PanCancerSubtypeLib import shape

    result = shape.spharm_decompose(np.asarray(mask_zyx) != 0, tuple(image.GetSpacing()), mode,
                                    origin=tuple(image.GetOrigin()),
                                    direction=tuple(image.GetDirection()))
    vertices, faces = shape.reconstruct(result, int(degree))
    return np.asarray(vertices, dtype=float), np.asarray(faces, dtype=np.int64)


def region_labels(case, definition: str = "reference") -> np.ndarray:
    """TC=1 / TIM=2 / PM5 ring=3 / PM10 ring=4 label map (z, y, x, the case's stored voxel
    order) of a case: the core's ``regions.case_regions``, the regions its regional features
    use (computed in LPS order whatever order the volume is stored in).

    The parenchyma is the case's organ mask when it has one, else found by the core; the rings
    are the 0-5 mm and 5-10 mm peritumoural parenchyma.
    """
    import SimpleITK as sitk

    from PanCancerSubtypeLib import regions

    return sitk.GetArrayFromImage(regions.case_regions(case, definition)["labelmap"])


def parenchyma(case) -> np.ndarray:
    """The organ parenchyma (z, y, x, the case's stored voxel order) the core's regional
    features use (``regions.case_parenchyma``)."""
    from PanCancerSubtypeLib import regions

    return regions.case_parenchyma(case)[0]


def build_parser() -> argparse.ArgumentParser:
    """The jobs' argument parser (the panels' command lines are tested against it)."""
    p = argparse.ArgumentParser(prog="python -m PanCancerSubtypeSlicerLib.jobs",
                                allow_abbrev=False)
    sub = p.add_subparsers(dest="job", required=True)
    for name in ("parenchyma", "regions", "spharm"):
        s = sub.add_parser(name, allow_abbrev=False)
        s.add_argument("--image", required=True)
        s.add_argument("--mask", required=True)
        s.add_argument("--out", required=True)
        s.add_argument("--modality", choices=["CT", "MR"])
        s.add_argument("--organ", help="lung, brain or breast (parenchyma search)")
        if name == "regions":
            s.add_argument("--organ-mask")
            s.add_argument("--definition", default="reference",
                           choices=["reference", "3d", "cross-modality"])
        if name == "spharm":
            s.add_argument("--degree", type=int, default=15)
            s.add_argument("--mode", default="robust", choices=["robust", "reference"])
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)

    import SimpleITK as sitk

    from PanCancerSubtypeLib.errors import PanCancerSubtypeError

    try:
        if args.job == "spharm":
            image = sitk.ReadImage(args.image)
            mask = sitk.GetArrayFromImage(sitk.ReadImage(args.mask)) != 0
            v, f = spharm_mesh_lps(mask, image, args.degree, args.mode)
            np.savez(args.out, vertices=v, faces=f)
        else:
            case, image = _make_case(args.image, args.mask, getattr(args, "organ_mask", None),
                                     args.modality, getattr(args, "organ", None))
            if args.job == "parenchyma":
                out = parenchyma(case)
            else:
                out = region_labels(case, args.definition)
            _write_like(out, image, args.out)
    except PanCancerSubtypeError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"1/1 {args.job} done: {args.out}", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
