"""Six abdominal CT tumour cases (liver) outside the shared data and external_ct.py's, rebuilt
from public git repositories as ``CASE/image.nii.gz`` (int16, HU) and ``CASE/mask.nii.gz`` (uint8,
1 = the tumour, same grid), listed in ``cases.csv`` (the columns of the shared data's cases.csv,
with each case's licence; paths relative to the csv's folder).

    git clone https://github.com/alireza-da/TraumaDetectionProject trauma
    git clone https://github.com/akbaig/medical-imaging-project akbaig
    git clone https://github.com/ShihaburRahmann/medical-image-processing shihab
    git clone https://github.com/gcriscione/MIP criscione
    git clone https://github.com/IrvingPU/Medical_Images_Project irving
    git clone https://github.com/joyarup/Medical-Imaging-Project joyarup
    python benchmarks/external_abdomen.py --trauma trauma --akbaig akbaig --shihab shihab \
        --criscione criscione --irving irving --joyarup joyarup --out external_abdomen

The files are read from the repositories' history (``git show COMMIT:PATH``, so a bare clone
will do; it must not be shallow: several of the files were deleted after the commits below), at
the commits below, into a temporary folder; nothing is copied into this project.  A repository
not given skips its case.  Each mask is one tumour: where the expert mask has several connected
components (26-connectivity), only the largest is kept.

- ``ircad1_17`` (alireza-da/TraumaDetectionProject, root ``PATIENT_DICOM``, ``MASKS_DICOM``):
  3D-IRCADb-01 patient 17 (DICOM name ``liver_17^patient``; not patient 1 or 7 of
  external_ct.py), contrast CT (stored clipped to [-1024, 1023]) and IRCAD's expert masks (0/255)
  of its two liver tumours, ``livertumor1`` (85.6 mL, kept) and ``livertumor2`` (78.6 mL, dropped),
  plus ``liver.nii.gz``.  As in external_ct.py, origin 0 and identity direction: the geometry is
  not patient-true.  Licence: CC BY-NC-ND 4.0: internal evaluation only, never redistribute them
  or anything derived from them.
- ``hcc_0697``, ``hcc_2022``, ``hcc_1211``, ``hcc_1720``, ``hcc_2144``: "RadCTTACEomics" samples
  (hepatocellular carcinoma, multiphase CT before TACE) that a Medical Image Processing course of
  the Universitat de les Illes Balears handed to its students, each committed by one student with
  its manual liver and tumour DICOM SEGs (``*_ManualROI_Tumor.dcm``, one segment "Tumor"): the
  CT is the series the SEG was drawn on, i.e. the instances its ReferencedSeriesSequence lists
  (a reformatted instance 1 in the same series is left out), read by GDCM (rescale applied).
  Phases: AP arterial, EQP equilibrium (delayed).  hcc_1211 (gcriscione/MIP) is the sample its
  DICOM headers call 1211.  Licence: not stated anywhere (the students' repositories have none;
  the data's origin is not documented): internal evaluation only, never redistribute.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from scipy import ndimage

from external_ct import git_dir, read_series, write_cases_csv     # (benchmarks/, the script's own folder)
from external_gliomas import git_file
from PanCancerSubtypeLib.dicomseg import read_dicom_seg
from PanCancerSubtypeLib.io import mask_from_array, same_geometry, write_image

TRAUMA_COMMIT = "23e58c490f7541af140ea5f51e4b9dc6464d3118"
AKBAIG_COMMIT = "35fe5424b0328ff072000049b2560efd3f1b0920"
SHIHAB_COMMIT = "9e3fc4c89f571b585e1e07d0fe83bcd1ea01139d"
CRISCIONE_COMMIT = "809879e69de523caca5eea2a06c391cc0451d5fa"
IRVING_COMMIT = "09086f6072dbcc3688d25590ccd11e1d847c93e4"
JOYARUP_COMMIT = "07f2bc0b4c4c28de6d21e694325a96b5218ea792"
IRCAD_LICENCE = (f"CC BY-NC-ND 4.0 (3D-IRCADb-01 via alireza-da/TraumaDetectionProject@"
                 f"{TRAUMA_COMMIT[:8]}) - internal evaluation only")
HCC_LICENCE = "not stated (RadCTTACEomics via {}@{}) - internal evaluation only"
COLUMNS = ["case_id", "cancer_type", "modality", "image", "mask", "tumour_labels", "organ_mask",
           "licence"]


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 26-connected component of a boolean volume."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    if n == 0:
        raise SystemExit("empty tumour mask")
    sizes = ndimage.sum(mask, labels, range(1, n + 1))
    return labels == 1 + int(np.argmax(sizes))


def save_case(image, mask: np.ndarray, out: Path) -> None:
    write_image(sitk.Cast(image, sitk.sitkInt16), out / "image.nii.gz")
    write_image(mask_from_array(largest_component(mask), image), out / "mask.nii.gz")


def ircad17_case(repo: Path, out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        image, _ = read_series(git_dir(repo, TRAUMA_COMMIT, "PATIENT_DICOM", tmp / "ct"))
        masks = {}
        for name in ("livertumor1", "livertumor2", "liver"):
            mask, _ = read_series(git_dir(repo, TRAUMA_COMMIT, f"MASKS_DICOM/{name}", tmp / name))
            if not same_geometry(mask, image):
                raise SystemExit(f"{repo}: mask {name} is not on the CT's grid")
            masks[name] = sitk.GetArrayFromImage(mask) > 0
    # the two tumours are apart: the largest component of their union is livertumor1
    save_case(image, masks["livertumor1"] | masks["livertumor2"], out)
    write_image(mask_from_array(masks["liver"], image), out / "liver.nii.gz")


def seg_case(repo: Path, commit: str, series: str, seg: str, out: Path) -> None:
    """The CT instances of ``series`` (a folder) that the DICOM SEG ``seg`` references, and the
    SEG's tumour on their grid (``dicomseg.read_dicom_seg``: its frames must be slices of it)."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        seg_path = git_file(repo, commit, seg, tmp / "seg.dcm")
        ds = pydicom.dcmread(seg_path, stop_before_pixels=True)
        refs = {item.ReferencedSOPInstanceUID for ref in ds.ReferencedSeriesSequence
                for item in ref.ReferencedInstanceSequence}
        uids = {ref.SeriesInstanceUID for ref in ds.ReferencedSeriesSequence}
        git_dir(repo, commit, series, tmp / "ct")
        for f in sorted((tmp / "ct").iterdir()):
            d = pydicom.dcmread(f, stop_before_pixels=True)
            if d.SOPInstanceUID not in refs or d.SeriesInstanceUID not in uids:
                f.unlink()
        image, names = read_series(tmp / "ct", "CT")
        if len(names) != len(refs):
            raise SystemExit(f"{repo}: {len(names)} of the {len(refs)} CT instances {seg} "
                             f"references are in {series} at commit {commit[:12]}")
        mask = read_dicom_seg(seg_path, name="Tumor", reference=image)
    save_case(image, sitk.GetArrayFromImage(mask) > 0, out)


#: the repositories: option -> (GitHub name, commit)
SOURCES = {"trauma": ("alireza-da/TraumaDetectionProject", TRAUMA_COMMIT),
           "akbaig": ("akbaig/medical-imaging-project", AKBAIG_COMMIT),
           "shihab": ("ShihaburRahmann/medical-image-processing", SHIHAB_COMMIT),
           "criscione": ("gcriscione/MIP", CRISCIONE_COMMIT),
           "irving": ("IrvingPU/Medical_Images_Project", IRVING_COMMIT),
           "joyarup": ("joyarup/Medical-Imaging-Project", JOYARUP_COMMIT)}
#: the HCC samples: case id, option, CT series folder, tumour SEG
HCC_SAMPLES = (
    ("hcc_0697", "akbaig", "0697/31_EQP_Ax5.00mm", "0697/31_EQP_Ax5.00mm_ManualROI_Tumor.dcm"),
    ("hcc_2022", "shihab", "2022/11_AP_Ax5.00mm", "2022/11_AP_Ax5.00mm_ManualROI_Tumor.dcm"),
    ("hcc_1211", "criscione", "dataset/10_AP_Ax2.50mm",
     "dataset/10_AP_Ax2.50mm_ManualROI_Tumor.dcm"),
    ("hcc_1720", "irving", "data/raw/1720/DICOM/31_EQP_Ax5.00mm",
     "data/raw/1720/SEGMENTATIONS/31_EQP_Ax5.00mm_ManualROI_Tumor.dcm"),
    ("hcc_2144", "joyarup", "31_EQP_Ax5.00mm", "31_EQP_Ax5.00mm_ManualROI_Tumor.dcm"))


def _hcc_builder(commit: str, series: str, seg: str):
    """``seg_case`` of one HCC sample, called as (repository, output folder)."""
    return lambda repo, out: seg_case(repo, commit, series, seg, out)


# case id, option, builder (the repository, then the output folder), licence
CASES = [("ircad1_17", "trauma", ircad17_case, IRCAD_LICENCE)] + [
    (case_id, option, _hcc_builder(SOURCES[option][1], series, seg),
     HCC_LICENCE.format(SOURCES[option][0], SOURCES[option][1][:8]))
    for case_id, option, series, seg in HCC_SAMPLES]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for option, (name, _) in SOURCES.items():
        ap.add_argument(f"--{option}", type=Path, help=f"a clone of {name}" + (
            " (3D-IRCADb-01 patient 17)" if option == "trauma" else ""))
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if all(getattr(args, case[1]) is None for case in CASES):
        ap.error("give at least one of " + ", ".join("--" + case[1] for case in CASES))
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for case_id, option, build, licence in CASES:
        repo = getattr(args, option)
        if repo is None:
            print(f"{case_id}: skipped (no --{option})")
        else:
            build(repo, args.out / case_id)
            print(f"{case_id}: written to {args.out / case_id} ({licence})")
        if (args.out / case_id / "mask.nii.gz").exists():    # this run's or an earlier one's
            organ = args.out / case_id / "liver.nii.gz"
            rows.append([case_id, "liver", "CT", f"{case_id}/image.nii.gz",
                         f"{case_id}/mask.nii.gz", "", f"{case_id}/liver.nii.gz"
                         if organ.exists() else "", licence])
    write_cases_csv(args.out, COLUMNS, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
