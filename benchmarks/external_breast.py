"""Twelve breast cancers on DCE-MRI outside the shared data (I-SPY 1 / ACRIN 6657), rebuilt from a
public git repository as ``CASE/image.nii.gz`` (float32, the intensities as stored) and
``CASE/mask.nii.gz`` (uint8, 1 = the tumour, the image's grid), listed in ``cases.csv`` (the
columns of the shared data's cases.csv; ``tumour_labels`` empty: every label).

    git clone https://github.com/Dduarte5555/Projeto_VisComp viscomp
    python benchmarks/external_breast.py --viscomp viscomp --out external_breast
    python benchmarks/segmentation_bench.py --cases-csv external_breast/cases.csv

The files are read from the repository's history (``git show COMMIT:PATH``, so a bare clone will
do) at the commit below; nothing is copied into this project.

- ``--viscomp`` (Dduarte5555/Projeto_VisComp, a student project training breast-tumour U-Nets;
  no licence of its own): cases of TCIA's ISPY1-Tumor-SEG-Radiomics analysis result (Chitalia et
  al., Sci Data 2022; CC BY 4.0) in its ``Dataset001_BREAST`` folder.  The image is the
  collection's ``DCE_0002_N3_zscored`` volume (the repository's notebooks kept the ``_0002``
  channel of ``ISPY1_*_DCE_000{0,1,2}_N3_zscored``): the *second* (late) post-contrast phase of the
  pre-treatment DCE-MRI, N3 bias-corrected, resampled to 1 mm isotropic and z-scored (so about
  -1.5 to 20, not scanner units).  The mask is that collection's tumour mask on the same grid:
  by its shape the expert-revised structural tumour volume (the whole primary lesion, enhancing or
  not; compact, hole-free), not the thresholded functional tumour volume, though the repository
  does not say which of the collection's mask folders it took.  The twelve: every case of the
  repository's validation split whose image is stored (``ImagesVl``: ISPY1_1003, 1009, 1011,
  1036, 1051, 1064, 1088, 1099) and every sixteenth of the sixty-four stored training cases
  (``imagesTr``: ISPY1_1002, 1061, 1127, 1174).  Tumours of 2.5-84 mL.
- ``--held-out-2026-12-06`` writes sixteen more instead, listed before any was run: ISPY1_1005,
  1016, 1030, 1035, 1069, 1083, 1100, 1123, 1130, 1136, 1148, 1163, 1177, 1199, 1222, 1234
  (meant as every fourth of the sixty-four stored training cases from the third; by a counting
  slip 1069, 1083, 1100 and 1123 are each the case after the one that rule gives).  Held out
  for version 40 of the click method, whose rule was chosen on the twelve above.
- ``--confirm-2026-12-07`` writes twenty-two more instead, never run before version 40 was
  committed and looked at: every other one (the first, third, ...) of the forty-four stored
  training cases in neither list above, in the repository's order, listed by a script:
  ISPY1_1004, 1013, 1017, 1025, 1032, 1056, 1065, 1073, 1087, 1096, 1112, 1128, 1134, 1137,
  1147, 1152, 1168, 1185, 1192, 1209, 1226, 1231.
"""
from __future__ import annotations

import argparse
import csv
import os
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from external_gliomas import git_file       # (benchmarks/, the script's own folder)
from PanCancerSubtypeLib.io import mask_from_array, same_geometry, write_image

VISCOMP_COMMIT = "74938c5a385b6d69d210d8f9875edd1e6a3b32ea"
VISCOMP_DIR = "Dataset001_BREAST"
VISCOMP_CASES = (("ISPY1_1003", "Vl"), ("ISPY1_1009", "Vl"), ("ISPY1_1011", "Vl"),
                 ("ISPY1_1036", "Vl"), ("ISPY1_1051", "Vl"), ("ISPY1_1064", "Vl"),
                 ("ISPY1_1088", "Vl"), ("ISPY1_1099", "Vl"), ("ISPY1_1002", "Tr"),
                 ("ISPY1_1061", "Tr"), ("ISPY1_1127", "Tr"), ("ISPY1_1174", "Tr"))
HELD_OUT_CASES = tuple((f"ISPY1_{n}", "Tr") for n in (
    1005, 1016, 1030, 1035, 1069, 1083, 1100, 1123, 1130, 1136, 1148, 1163, 1177, 1199, 1222,
    1234))
CONFIRM_CASES = tuple((f"ISPY1_{n}", "Tr") for n in (
    1004, 1013, 1017, 1025, 1032, 1056, 1065, 1073, 1087, 1096, 1112, 1128, 1134, 1137, 1147,
    1152, 1168, 1185, 1192, 1209, 1226, 1231))
LICENCE = ("CC BY 4.0 (TCIA ISPY1-Tumor-SEG-Radiomics via Dduarte5555/Projeto_VisComp@"
           f"{VISCOMP_COMMIT[:8]}; DCE_0002 late post-contrast, z-scored)")
COLUMNS = ["case_id", "cancer_type", "modality", "image", "mask", "tumour_labels", "organ_mask",
           "licence"]


def viscomp_case(repo: Path, case: str, split: str, out: Path) -> None:
    """One ISPY1 case of Projeto_VisComp: its image (float32) and its mask (label > 0.5) on the
    image's grid."""
    images = "ImagesVl" if split == "Vl" else "imagesTr"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        image = sitk.ReadImage(str(git_file(repo, VISCOMP_COMMIT,
                                            f"{VISCOMP_DIR}/{images}/{case}.nii.gz",
                                            tmp / "image.nii.gz")), sitk.sitkFloat32)
        label = sitk.ReadImage(str(git_file(repo, VISCOMP_COMMIT,
                                            f"{VISCOMP_DIR}/labels{split}/{case}.nii.gz",
                                            tmp / "label.nii.gz")))
    if not same_geometry(image, label):
        raise SystemExit(f"{repo}: {case}'s label is not on its image's grid")
    mask = sitk.GetArrayFromImage(label) > 0.5
    if not mask.any():
        raise SystemExit(f"{repo}: {case}'s label is empty")
    write_image(image, out / "image.nii.gz")
    write_image(mask_from_array(mask, image), out / "mask.nii.gz")


def shared_twins(folders, shared: Path) -> list:
    """(case folder, shared case id) for each written case whose image has the size and spacing,
    and whose mask the voxel count, of a shared breast case: the same scan (none expected: the
    shared breast1 is a 45 x 120 x 21 crop at 0.66 x 0.66 x 2.1 mm)."""
    table = shared / "cases.csv"
    if not table.is_file():
        print(f"no {table}: the written cases were not compared with the shared ones")
        return []
    refs = []
    with open(table, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("cancer_type") == "breast" and row["modality"] == "MR":
                img = sitk.ReadImage(str(shared / row["image"]))
                count = int((sitk.GetArrayFromImage(sitk.ReadImage(str(shared / row["mask"])))
                             > 0).sum())
                refs.append((row["case_id"], img.GetSize(), img.GetSpacing(), count))
    found = []
    for d in folders:
        img = sitk.ReadImage(str(Path(d) / "image.nii.gz"))
        count = int(sitk.GetArrayFromImage(sitk.ReadImage(str(Path(d) / "mask.nii.gz"))).sum())
        for cid, size, spacing, n in refs:
            if (img.GetSize() == size and np.allclose(img.GetSpacing(), spacing, atol=1e-3)
                    and count == n):
                found.append((Path(d), cid))
    return found


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--viscomp", type=Path, required=True,
                    help="a clone of Dduarte5555/Projeto_VisComp")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get(
        "PANCANCER_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")),
                    help="the shared data folder, whose breast case the written cases are "
                         "compared with (default: $PANCANCER_SHARED_DATA, else ../shared/data)")
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--held-out-2026-12-06", dest="held_out", action="store_true",
                       help="write the sixteen cases held out for version 40 instead of the twelve")
    which.add_argument("--confirm-2026-12-07", dest="confirm", action="store_true",
                       help="write the twenty-two cases of version 40's second check instead")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows, written = [], []
    cases = HELD_OUT_CASES if args.held_out else CONFIRM_CASES if args.confirm else VISCOMP_CASES
    for case, split in cases:
        viscomp_case(args.viscomp, case, split, args.out / case)
        written.append(args.out / case)
        rows.append([case.lower(), "breast", "MR", f"{case}/image.nii.gz", f"{case}/mask.nii.gz",
                     "", "", LICENCE])
        print(f"{case}: written to {args.out / case}")
    with open(args.out / "cases.csv", "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([COLUMNS] + rows)
    print(f"{len(rows)} cases in {args.out / 'cases.csv'}")
    for d, cid in shared_twins(written, args.shared):
        print(f"{d.name} looks like the shared case {cid} (same grid and mask size): it is no case "
              f"of its own")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
