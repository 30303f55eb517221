"""A meningioma on contrast-enhanced T1 MR outside the shared data, rebuilt from a public git
repository as ``CASE/image.nii.gz`` (int16, the scanner's values) and ``CASE/mask.nii.gz``
(uint8, 1 = the tumour, same grid), listed in ``cases.csv`` (the columns of the shared data's
cases.csv, with the case's licence; paths relative to the csv's folder).

    git clone https://github.com/theMIDAgroup/GUI-Meningioma gui-meningioma
    python benchmarks/external_meningioma.py --gui-meningioma gui-meningioma \
        --out external_meningioma
    python benchmarks/segmentation_bench.py --only semi --cases-csv external_meningioma/cases.csv

The files are read from the repository's history (``git show COMMIT:PATH``; the clone must not
be shallow: the data folder was deleted after the commit below), into a temporary folder;
nothing is copied into this project.

- ``men_gui_M025`` (theMIDAgroup/GUI-Meningioma, ``DATA/M025/GroundTruth``): an intracranial
  meningioma on a post-gadolinium 3D T1 (MPRAGE, axial, 1 mm isotropic, 192 x 256 x 160, not
  skull-stripped) and the mask of the repository's ``GroundTruth`` folder (8.6 mL, one piece),
  beside which the repository keeps its tool's ``Automatic`` mask (not used).  The series'
  ImagePositionPatient is the same on every slice, so the slices are ordered by SliceLocation
  (even 1 mm steps) and the geometry rebuilt from it; the mask, stored with its y axis flipped
  against the image, is resampled onto the image by its own geometry (nearest neighbour); the
  enhancing lesion's mean inside it is at the head's 99th percentile, and the mask mirrored in
  x or y falls to half of that (checked when the case was built).  Licence: the repository's
  GPL-3.0, no separate licence for the images: internal evaluation only, never redistribute.
  Found by a helper session that ran no segmentation (pass 48, 2026-12-07); first run with the
  method frozen at version 40.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk

from external_ct import COLUMNS, git_dir, write_cases_csv     # (benchmarks/: this folder)
from external_gliomas import git_file

GUI_MENINGIOMA_COMMIT = "b188ed21a26e95ae3aa7dfed35061aa3b6285d14"
LICENCE = (f"GPL-3.0 of the repository, no licence stated for the images (via "
           f"theMIDAgroup/GUI-Meningioma@{GUI_MENINGIOMA_COMMIT[:8]}) - internal evaluation only")


def read_by_slice_location(folder: Path) -> sitk.Image:
    """An axial DICOM series whose ImagePositionPatient is the same on every slice: the slices
    sorted by SliceLocation (evenly spaced, else an error), the geometry rebuilt from the first
    slice's position in-plane, SliceLocation and PixelSpacing."""
    files = sorted(folder.glob("*.dcm"))
    heads = sorted(((float(pydicom.dcmread(f, stop_before_pixels=True).SliceLocation), f)
                    for f in files))
    first = pydicom.dcmread(heads[0][1], stop_before_pixels=True)
    iop = np.array([float(v) for v in first.ImageOrientationPatient])
    if not np.allclose(iop, [1, 0, 0, 0, 1, 0], atol=1e-3):
        raise SystemExit(f"{folder}: not an axial series ({iop})")
    z = np.array([loc for loc, _ in heads])
    dz = np.diff(z)
    if not np.allclose(dz, dz[0], atol=1e-3):
        raise SystemExit(f"{folder}: uneven slice spacing or missing slices")
    arr = np.stack([sitk.GetArrayFromImage(sitk.ReadImage(str(f)))[0] for _, f in heads])
    img = sitk.GetImageFromArray(arr.astype(np.int16))
    row, col = (float(v) for v in first.PixelSpacing)
    img.SetSpacing((col, row, float(dz[0])))
    ipp = [float(v) for v in first.ImagePositionPatient]
    img.SetOrigin((ipp[0], ipp[1], float(z[0])))
    return img


def men_gui_m025(repo: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    root = "DATA/M025/GroundTruth"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        img = read_by_slice_location(git_dir(repo, GUI_MENINGIOMA_COMMIT, f"{root}/T1",
                                             tmp / "T1"))
        mask = sitk.ReadImage(str(git_file(repo, GUI_MENINGIOMA_COMMIT,
                                           f"{root}/OUTPUT_MASKS/MASK_District1/T1_mask.nii.gz",
                                           tmp / "mask.nii.gz")))
    binary = sitk.Cast(sitk.GetImageFromArray((sitk.GetArrayViewFromImage(mask) > 0)
                                              .astype(np.uint8)), sitk.sitkUInt8)
    binary.CopyInformation(mask)
    on_image = sitk.Resample(binary, img, sitk.Transform(), sitk.sitkNearestNeighbor, 0,
                             sitk.sitkUInt8)
    if not sitk.GetArrayViewFromImage(on_image).any():
        raise SystemExit("men_gui_M025: the mask is empty on the image's grid")
    sitk.WriteImage(img, str(out / "image.nii.gz"), True)
    sitk.WriteImage(on_image, str(out / "mask.nii.gz"), True)


CASES = [("men_gui_M025", "gui_meningioma", men_gui_m025)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gui-meningioma", type=Path, help="a clone of theMIDAgroup/GUI-Meningioma")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.gui_meningioma is None:
        ap.error("give --gui-meningioma")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for case_id, option, build in CASES:
        build(getattr(args, option), args.out / case_id)
        print(f"{case_id}: written to {args.out / case_id} ({LICENCE})")
        rows.append([case_id, "meningioma", "MR", f"{case_id}/image.nii.gz",
                     f"{case_id}/mask.nii.gz", "", "", LICENCE])
    write_cases_csv(args.out, COLUMNS, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
