"""Gliomas outside the shared data, written in the layout ``segmentation_bench.py
--brats-dir`` reads (deepmedic's: ``T1c_subtrMeanDivStd.nii.gz``, ``OTMultiClass.nii.gz`` with
BRATS 2015 labels 1 necrosis / non-enhancing, 2 oedema, 4 enhancing, perhaps
``Flair_subtrMeanDivStd.nii.gz``; the intensities need not be normalised).

    git clone https://github.com/BrainLesion/BraTS brainlesion-brats
    git clone https://github.com/neuronflow/BraTS-Toolkit brats-toolkit
    git clone https://github.com/koriavinash1/DeepBrainSeg deepbrainseg
    python benchmarks/external_gliomas.py --brainlesion brainlesion-brats \
        --toolkit brats-toolkit --out external
    python benchmarks/external_gliomas.py --deepbrainseg deepbrainseg --out brats18 \
        [--held-out-2026-12-06]
    git clone https://github.com/koriavinash1/BioExp bioexp
    git clone https://github.com/1brahimmohamed/Brain-Tumor-Segmentation-GP gp
    python benchmarks/external_gliomas.py --bioexp bioexp --gp gp --out brats_new
    python benchmarks/segmentation_bench.py --only semi --brats-dir external [--second-channel]

The files are read from the repositories' history (``git show COMMIT:PATH``, so a bare clone
will do), at the commits below; nothing is copied into this project.

- ``brainlesion_case``: the preprocessed case of BrainLesion/BraTS (T1c and FLAIR in the
  SRI24 atlas, 1 mm) and, as reference, ``outputs/segmentation.nii.gz``: the output of that
  package's glioma segmentation algorithm on it (BraTS 2023 labels 1 necrosis, 2 oedema,
  3 enhancing; 3 is written as 4). An algorithm's mask, not an expert's.
- ``TCGA-DU-7294``: a TCGA glioma of neuronflow/BraTS-Toolkit's examples: its brain-extracted
  T1c in its native space (0.47 x 0.47 x 2.5 mm) and, as reference, the toolkit's SIMPLE
  fusion of several BraTS algorithms' masks (``output_fusionator``, labels 1, 2, 4), taken
  from the atlas to the T1c through the toolkit's own affine registrations (T1c -> T1 -> atlas,
  ANTs convention: each maps points of its fixed space into its moving space); its FLAIR is
  taken to the T1c's grid the same way (FLAIR -> T1 -> T1c, linear interpolation).
- ``--deepbrainseg``: the twenty BraTS 2018 training cases of koriavinash1/DeepBrainSeg's
  ``sample_volume/brats`` (skull-stripped, 1 mm, 240 x 240 x 155, the SRI24 atlas): T1c
  (``*_t1ce``), FLAIR and the challenge's expert labels (``*_seg``: 1 necrosis and non-enhancing
  tumour, 2 oedema, 4 enhancing), one folder per case, its name lower-cased
  (``brats18_cbica_ame_1``).  Four of them (CBICA_AME_1, CBICA_ALU_1, TCIA01_378_1,
  TCIA10_639_1) were pass 40's "ext5"; the other sixteen were first run on 2026-12-06 (pass
  43), with the method frozen at commit 03a170e (``--held-out-2026-12-06`` writes only those
  sixteen).  One of them, Brats18_2013_20_1, is the shared brats_pat0006 (BraTS 2015's
  brats_2013_pat0006_1 in BraTS 2018's release: the same expert labels, voxel for voxel, on the
  same grid; found in pass 44), so fifteen are cases of their own.  BraTS's data-use terms
  apply: never redistribute them.
- ``--bioexp``: the twenty-two BraTS 2018 training cases of koriavinash1/BioExp's
  ``sample_vol/brats`` (all CBICA glioblastomas, graded HGG in BraTS 2020's name mapping; the
  same layout and labels as DeepBrainSeg's, none of them one of DeepBrainSeg's twenty); and
  ``--gp``: BraTS2021_00006 of 1brahimmohamed/Brain-Tumor-Segmentation-GP (BraTS 2021
  training data, labels 1, 2, 4 as above).  None of them is a shared case or one of those
  above: their tumour cores overlap those of the shared BRATS cases at Dice 0.50 at most and
  those of the cases above at 0.65 at most (tumours at the same place of the atlas; a patient
  in two releases: 1.0), and their T1c inside the brain correlates with those at 0.37 at most
  (a patient in two copies of one release: 1.0).  The twenty-three were first run on
  2026-12-06 (pass 44) with the method frozen at commit 4682725 (version 38).  BraTS's
  data-use terms apply.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

BRAINLESION_COMMIT = "528ab54e0599e30b831c759fa001eb95c2b053d9"
TOOLKIT_COMMIT = "ec93d958b5ce5a5cd68330005580f45a2ad720fc"
TCGA = "example_data/output_preprocessor_single/TCGA-DU-7294"
DEEPBRAINSEG_COMMIT = "5d4f3810f1c776050b6937b6db5b7afa17527efd"
BRATS18 = ("Brats18_2013_11_1", "Brats18_2013_20_1", "Brats18_2013_23_1", "Brats18_2013_3_1",
           "Brats18_CBICA_ABM_1", "Brats18_CBICA_ALU_1", "Brats18_CBICA_AME_1",
           "Brats18_CBICA_AQN_1", "Brats18_TCIA01_201_1", "Brats18_TCIA01_378_1",
           "Brats18_TCIA01_425_1", "Brats18_TCIA01_499_1", "Brats18_TCIA02_135_1",
           "Brats18_TCIA02_370_1", "Brats18_TCIA02_606_1", "Brats18_TCIA03_265_1",
           "Brats18_TCIA10_628_1", "Brats18_TCIA10_637_1", "Brats18_TCIA10_639_1",
           "Brats18_TCIA13_623_1")
BIOEXP_COMMIT = "c0a88e70e26d857720a23238a0e875d360974654"
BIOEXP = tuple(f"Brats18_CBICA_{c}_1" for c in (
    "AMH", "AOP", "AOZ", "APR", "APY", "APZ", "AQO", "AQP", "AQQ", "AQR", "AQT", "ARW", "ARZ",
    "ASA", "ASE", "ASG", "ASV", "ASW", "ASY", "ATB", "ATD", "AVG"))
GP_COMMIT = "e96dd3bec302e1088033d56c072aa927f3f3aa4a"
GP_CASE = "BraTS2021_00006"
GP_DIR = "Research/Slicer Extension/nvidia-Segmentation/Seg/BraTS2021_train"
BRATS18_SEEN = ("Brats18_CBICA_AME_1", "Brats18_CBICA_ALU_1", "Brats18_TCIA01_378_1",
                "Brats18_TCIA10_639_1")     # pass 40's ext5


def git_file(repo: Path, commit: str, path: str, out: Path) -> Path:
    """Write ``path`` at ``commit`` of the git repository ``repo`` to ``out``."""
    run = subprocess.run(["git", "-C", str(repo), "show", f"{commit}:{path}"],
                         capture_output=True)
    if run.returncode != 0:
        raise SystemExit(f"{repo}: no {path} at commit {commit[:12]} (a full clone of the "
                         f"repository is needed): {run.stderr.decode(errors='replace').strip()}")
    out.write_bytes(run.stdout)
    return out


def brainlesion_case(repo: Path, out: Path) -> None:
    import SimpleITK as sitk

    out.mkdir(parents=True, exist_ok=True)
    git_file(repo, BRAINLESION_COMMIT, "data/preprocessed_case/t1c.nii.gz",
             out / "T1c_subtrMeanDivStd.nii.gz")
    git_file(repo, BRAINLESION_COMMIT, "data/preprocessed_case/t2f.nii.gz",
             out / "Flair_subtrMeanDivStd.nii.gz")
    with tempfile.TemporaryDirectory() as tmp:
        seg = sitk.ReadImage(str(git_file(repo, BRAINLESION_COMMIT, "outputs/segmentation.nii.gz",
                                          Path(tmp) / "seg.nii.gz")))
    lab = sitk.ChangeLabel(seg, changeMap={3: 4})          # enhancing: 3 (2023) -> 4 (2015)
    sitk.WriteImage(sitk.Cast(lab, sitk.sitkUInt8), str(out / "OTMultiClass.nii.gz"))


def tcga_case(repo: Path, out: Path) -> None:
    import SimpleITK as sitk

    out.mkdir(parents=True, exist_ok=True)
    t1c_path = git_file(repo, TOOLKIT_COMMIT, f"{TCGA}/hdbet_native-space/"
                        "TCGA-DU-7294_hdbet_native_t1c.nii.gz", out / "T1c_subtrMeanDivStd.nii.gz")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        seg = sitk.ReadImage(str(git_file(
            repo, TOOLKIT_COMMIT, "example_data/output_fusionator/TCGA-DU-7294/simple.nii.gz",
            tmp / "simple.nii.gz")))
        t1_to_atlas = sitk.ReadTransform(str(git_file(
            repo, TOOLKIT_COMMIT, f"{TCGA}/registrations/"
            "TCGA-DU-7294_native_t1_to_brats_0GenericAffine.mat", tmp / "a.mat")))
        t1c_to_t1 = sitk.ReadTransform(str(git_file(
            repo, TOOLKIT_COMMIT, f"{TCGA}/registrations/TCGA-DU-7294_t1c_to_t1_0GenericAffine.mat",
            tmp / "b.mat")))
        fla = sitk.ReadImage(str(git_file(
            repo, TOOLKIT_COMMIT, f"{TCGA}/hdbet_native-space/TCGA-DU-7294_hdbet_native_fla.nii.gz",
            tmp / "fla.nii.gz")), sitk.sitkFloat32)
        fla_to_t1 = sitk.ReadTransform(str(git_file(
            repo, TOOLKIT_COMMIT, f"{TCGA}/registrations/TCGA-DU-7294_fla_to_t1_0GenericAffine.mat",
            tmp / "c.mat")))
    t1c = sitk.ReadImage(str(t1c_path))
    lab = atlas_labels_on(seg, t1c, t1_to_atlas, t1c_to_t1)
    sitk.WriteImage(lab, str(out / "OTMultiClass.nii.gz"))
    # the FLAIR on the T1c's grid: a T1c point q lies at t1c_to_t1^-1(q) in the T1 and at
    # fla_to_t1 of that in the FLAIR
    sitk.WriteImage(through(fla, t1c, [t1c_to_t1.GetInverse(), fla_to_t1], sitk.sitkLinear,
                            sitk.sitkFloat32), str(out / "Flair_subtrMeanDivStd.nii.gz"))


def brats_case(repo: Path, commit: str, base: str, out: Path) -> Path:
    """One BraTS case (``base``: its files' path but the ``_t1ce.nii.gz``, ``_seg.nii.gz``,
    ``_flair.nii.gz`` endings) written under ``out`` in the ``--brats-dir`` layout."""
    out.mkdir(parents=True, exist_ok=True)
    for suffix, name in (("t1ce", "T1c_subtrMeanDivStd.nii.gz"),
                         ("seg", "OTMultiClass.nii.gz"),
                         ("flair", "Flair_subtrMeanDivStd.nii.gz")):
        git_file(repo, commit, f"{base}_{suffix}.nii.gz", out / name)
    return out


def brats18_cases(repo: Path, out: Path, held_out_only: bool = False) -> list:
    """The BraTS 2018 cases of DeepBrainSeg (module docstring) under ``out``; returns their
    folders."""
    return [brats_case(repo, DEEPBRAINSEG_COMMIT, f"sample_volume/brats/{case}/{case}",
                       out / case.lower())
            for case in BRATS18 if not (held_out_only and case in BRATS18_SEEN)]


def bioexp_cases(repo: Path, out: Path) -> list:
    """The BraTS 2018 cases of BioExp (module docstring) under ``out``; their folders."""
    return [brats_case(repo, BIOEXP_COMMIT, f"sample_vol/brats/{case}/{case}",
                       out / case.lower()) for case in BIOEXP]


def same_patients(folders, shared: Path) -> list:
    """(case folder, shared case id, Dice) for each written case whose tumour core (labels 1, 3,
    4) lies on the grid of a shared case's with the same voxels at Dice 0.9 or more: the same
    patient in another release (BraTS 2018 re-issued BraTS 2013-2015's cases under new names,
    with the same expert labels; their T1c are normalised differently, so only the labels tell).
    The shared cases are the rows of ``shared``/cases.csv whose image is a BRATS T1c."""
    import csv

    import numpy as np
    import SimpleITK as sitk

    from PanCancerSubtypeLib.segmentation.metrics import dice_arrays

    table = shared / "cases.csv"
    if not table.is_file():
        print(f"no {table}: the written cases were not compared with the shared ones")
        return []

    def core(path):
        return np.isin(sitk.GetArrayFromImage(sitk.ReadImage(str(path))), (1, 3, 4))
    refs = {}
    with open(table, newline="") as f:
        for row in csv.DictReader(f):
            if row["modality"] == "MR" and row["image"].endswith("T1c_subtrMeanDivStd.nii.gz"):
                refs[row["case_id"]] = core(shared / row["mask"])
    found = []
    for d in folders:
        mine = core(Path(d) / "OTMultiClass.nii.gz")
        for cid, ref in refs.items():
            if ref.shape == mine.shape and mine.any():
                dice = dice_arrays(ref, mine)
                if dice >= 0.9:
                    found.append((Path(d), cid, dice))
    return found


def through(moving, image, transforms, interpolator, pixel_type):
    """``moving`` resampled onto ``image``'s grid, a point of the image mapped into
    ``moving`` by ``transforms`` in the order given (a composite transform applies the
    transform added last first, so they are added in reverse)."""
    import SimpleITK as sitk

    composite = sitk.CompositeTransform(3)
    for t in reversed(transforms):
        composite.AddTransform(t)
    return sitk.Resample(moving, image, composite, interpolator, 0, pixel_type)


def atlas_labels_on(labels, image, t1_to_atlas, image_to_t1):
    """``labels`` (atlas space) resampled onto ``image``'s grid through two ANTs affines: each
    ``a_to_b`` maps points of its fixed space b into its moving space a, so a point q of the
    image lies at ``image_to_t1``^-1(q) in the T1 and at ``t1_to_atlas``^-1 of that in the
    atlas."""
    import SimpleITK as sitk

    return through(labels, image, [image_to_t1.GetInverse(), t1_to_atlas.GetInverse()],
                   sitk.sitkNearestNeighbor, sitk.sitkUInt8)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brainlesion", type=Path, help="a clone of BrainLesion/BraTS")
    ap.add_argument("--toolkit", type=Path, help="a clone of neuronflow/BraTS-Toolkit")
    ap.add_argument("--deepbrainseg", type=Path, help="a clone of koriavinash1/DeepBrainSeg")
    ap.add_argument("--bioexp", type=Path, help="a clone of koriavinash1/BioExp")
    ap.add_argument("--gp", type=Path,
                    help="a clone of 1brahimmohamed/Brain-Tumor-Segmentation-GP")
    ap.add_argument("--held-out-2026-12-06", dest="held_out", action="store_true",
                    help="--deepbrainseg: only the sixteen cases first run on 2026-12-06")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get(
        "PANCANCER_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")),
                    help="the shared data folder, whose BRATS cases the written BraTS cases "
                         "are compared with (default: $PANCANCER_SHARED_DATA, else "
                         "../shared/data)")
    args = ap.parse_args(argv)
    if all(getattr(args, a) is None for a in ("brainlesion", "toolkit", "deepbrainseg",
                                              "bioexp", "gp")):
        ap.error("give --brainlesion, --toolkit, --deepbrainseg, --bioexp and/or --gp")
    if args.brainlesion is not None:
        brainlesion_case(args.brainlesion, args.out / "brainlesion_case")
    if args.toolkit is not None:
        tcga_case(args.toolkit, args.out / "TCGA-DU-7294")
    written = []
    if args.deepbrainseg is not None:
        written += brats18_cases(args.deepbrainseg, args.out, args.held_out)
    if args.bioexp is not None:
        written += bioexp_cases(args.bioexp, args.out)
    if args.gp is not None:
        written.append(brats_case(args.gp, GP_COMMIT, f"{GP_DIR}/{GP_CASE}/{GP_CASE}",
                                  args.out / GP_CASE.lower()))
    print(f"written under {args.out}")
    for d, cid, dice in same_patients(written, args.shared):
        print(f"{d.name} is the shared case {cid} (tumour-core labels Dice {dice:.3f}): it is "
              f"no case of its own")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
