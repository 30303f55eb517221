"""Bad input never gives a silent wrong answer or a traceback (issue 18).

A corpus of bad or hostile inputs, generated here in code (no stored binaries), goes through every
reader and every command.  For each: the exit code of the table in ``errors.py`` (1 bad data,
2 usage), one ``error:`` line naming the file / case / option and the problem, no traceback, no
"internal error", and nothing half-written in the output folder.  Checks of options happen before
any heavy work: for those cases the heavy entry points are replaced by a function that fails the
test if it is called.
"""
from __future__ import annotations

import gzip
import json
import os
import pickle
import re
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from PanCancerSubtypeLib import io
from PanCancerSubtypeLib.cli import main
from PanCancerSubtypeLib.errors import (EXIT_FAILED, EXIT_USAGE, EmptyMaskError,
                                        GeometryMismatchError, ImageDimensionError,
                                        InvalidGeometryError, InvalidImageValuesError,
                                        LabelNotFoundError, ManifestError, MissingDependencyError,
                                        ModelBundleError, UnreadableFileError, UsageError,
                                        exit_code)
from PanCancerSubtypeLib.synthetic import make_phantom

FAST_RADIOMICS = 'radiomics.params={"featureClass": {"firstorder": ["Mean"], "shape": []}}'


# --------------------------------------------------------------------------------------------
# the corpus, generated once per module
# --------------------------------------------------------------------------------------------
def _truncate(src: Path, dst: Path, keep: float = 0.5) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


def _nifti_with_sheared_sform(path: Path) -> Path:
    """A valid NIfTI-1 whose sform has a shear (SimpleITK itself never writes one)."""
    img = sitk.GetImageFromArray(np.ones((6, 7, 8), np.int16))
    sitk.WriteImage(img, str(path))
    b = bytearray(path.read_bytes())
    srow = np.array(struct.unpack("<12f", b[280:328])).reshape(3, 4)
    srow[0, 1] = 0.3
    b[280:328] = struct.pack("<12f", *srow.ravel())
    path.write_bytes(bytes(b))
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    c = {"dir": d}
    im, mk, info = make_phantom("CT", size_xyz=(32, 32, 16), spacing_xyz=(1.0, 1.0, 2.0),
                                radius_mm=6, seed=4)
    c["volume_mm3"] = info["volume_mm3"]
    for name, img in (("im", im), ("m", mk)):
        for ext in (".nii", ".nii.gz", ".nrrd", ".mha"):
            sitk.WriteImage(img, str(d / f"{name}{ext}"), ext != ".nii")
    c["image"], c["mask"] = d / "im.nii.gz", d / "m.nii.gz"
    # truncated files of every single-file format (random voxels: gzip cannot shrink them away)
    noisy = sitk.GetImageFromArray(np.random.default_rng(0).integers(-1000, 1000, (16, 32, 32))
                                   .astype(np.int16))
    noisy.CopyInformation(im)
    for ext in (".nii", ".nii.gz", ".nrrd", ".mha"):
        sitk.WriteImage(noisy, str(d / f"noisy{ext}"), ext != ".nii")
        c["truncated" + ext.replace(".", "_")] = _truncate(d / f"noisy{ext}", d / f"truncated{ext}")
    c["truncated_mask"] = _truncate(d / "m.nii.gz", d / "truncated_mask.nii.gz", 0.6)
    # a sheared grid: NRRD keeps it (its direction is not orthonormal), NIfTI's sform has it
    sheared = sitk.Image(im)
    sheared.SetDirection((1, 0.2, 0, 0, 0.98, 0, 0, 0, 1))
    sitk.WriteImage(sheared, str(d / "sheared.nrrd"))
    c["sheared"] = d / "sheared.nrrd"
    c["sheared_nii"] = _nifti_with_sheared_sform(d / "sheared_sform.nii")
    sm = sitk.Image(mk)
    sm.SetDirection((1, 0.2, 0, 0, 0.98, 0, 0, 0, 1))
    sitk.WriteImage(sm, str(d / "sheared_mask.nrrd"))
    c["sheared_mask"] = d / "sheared_mask.nrrd"
    # not a 3D scalar volume
    sitk.WriteImage(sitk.Compose(im, im), str(d / "vector.nrrd"))
    c["vector"] = d / "vector.nrrd"
    vol4 = sitk.JoinSeries([sitk.Cast(im, sitk.sitkFloat32)] * 2)
    sitk.WriteImage(vol4, str(d / "fourd.nii.gz"))
    c["fourd"] = d / "fourd.nii.gz"
    sitk.WriteImage(im[:, :, 5], str(d / "slice.nrrd"))
    c["slice"] = d / "slice.nrrd"
    arr = sitk.GetArrayFromImage(sitk.Cast(im, sitk.sitkFloat32))
    arr[3, 4, 5] = np.nan
    nan = sitk.GetImageFromArray(arr)
    nan.CopyInformation(im)
    sitk.WriteImage(nan, str(d / "nan.nrrd"))
    c["nan"] = d / "nan.nrrd"
    const = sitk.GetImageFromArray(np.full(arr.shape, 40, np.int16))
    const.CopyInformation(im)
    sitk.WriteImage(const, str(d / "constant.nii.gz"))
    c["constant"] = d / "constant.nii.gz"
    # the first four slices padding (the minimum, over 1 % of the image), a seed inside them
    padded = sitk.GetArrayFromImage(im).astype(np.int16)
    padded[:4] = padded.min() - 100
    pad_img = sitk.GetImageFromArray(padded)
    pad_img.CopyInformation(im)
    sitk.WriteImage(pad_img, str(d / "padded.nii.gz"))
    c["padded"] = d / "padded.nii.gz"
    c["padded_seed"] = ",".join(f"{v:g}" for v in im.TransformIndexToPhysicalPoint((16, 16, 1)))
    # files that are no image at all
    c["garbage"] = d / "garbage.nrrd"
    c["garbage"].write_bytes(os.urandom(2000))
    c["empty"] = d / "empty.nii.gz"
    c["empty"].write_bytes(b"")
    c["text_image"] = d / "text.nii"
    c["text_image"].write_text("not an image\n" * 50)
    c["missing"] = d / "missing.nii.gz"
    # masks: labels {2, 5}, empty, partly outside, outside
    m = sitk.GetArrayFromImage(mk)
    lab = np.where(m > 0, 2, 0).astype(np.uint8)
    lab[8:][m[8:] > 0] = 5
    lab25 = sitk.GetImageFromArray(lab)
    lab25.CopyInformation(mk)
    sitk.WriteImage(lab25, str(d / "labels25.nii.gz"))
    c["labels25"] = d / "labels25.nii.gz"
    empty = sitk.GetImageFromArray(np.zeros_like(m))
    empty.CopyInformation(mk)
    sitk.WriteImage(empty, str(d / "empty_mask.nii.gz"))
    c["empty_mask"] = d / "empty_mask.nii.gz"
    shifted = sitk.Image(mk)
    idx = np.argwhere(m > 0)
    cx = float(idx[:, 2].mean())  # the tumour's x centre (index); move it onto the image's edge
    shifted.SetOrigin(tuple(np.add(mk.GetOrigin(), (31.5 - cx, 0, 0))))
    sitk.WriteImage(shifted, str(d / "partly_outside.nii.gz"))
    c["partly_outside"] = d / "partly_outside.nii.gz"
    far = sitk.Image(mk)
    far.SetOrigin((500.0, 500.0, 500.0))
    sitk.WriteImage(far, str(d / "outside.nii.gz"))
    c["outside"] = d / "outside.nii.gz"
    # tables
    c["binary_csv"] = d / "binary.csv"
    c["binary_csv"].write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(500))
    c["empty_csv"] = d / "empty.csv"
    c["empty_csv"].write_text("")
    c["header_only"] = d / "header_only.csv"
    c["header_only"].write_text("ID,Image,Mask\n")
    c["click_header_only"] = d / "click_header_only.csv"
    c["click_header_only"].write_text("ID,Image,Seed\n")
    c["bad_click"] = d / "bad_click.csv"
    (d / "seg_out").mkdir()
    c["seg_out"] = d / "seg_out"
    c["click_in_out_dir"] = d / "seg_out" / "manifest.csv"     # where cohort-segment writes
    c["click_in_out_dir"].write_text(f"ID,Image,Seed\nx,{c['image']},\"1,2,3\"\n")
    c["bad_click"].write_text(f"ID,Image,Seed\nx,{c['image']},\"1,2,3;4\"\n")
    c["no_mask_col"] = d / "no_mask_col.csv"
    c["no_mask_col"].write_text(f"ID,Image\nx,{c['image']}\n")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 4))
    X[:15] += 3
    feats = pd.DataFrame(X, columns=[f"f{i}" for i in range(4)])
    feats.insert(0, "ID", [f"c{i:02d}" for i in range(30)])
    feats.to_csv(d / "features.csv", index=False)
    c["features"] = d / "features.csv"
    feats.drop(columns="ID").to_csv(d / "features_no_id.csv", index=False)
    c["features_no_id"] = d / "features_no_id.csv"
    feats[["ID", "f0"]].to_csv(d / "one_feature.csv", index=False)
    c["one_feature"] = d / "one_feature.csv"
    pd.concat([feats, feats.iloc[:1]]).to_csv(d / "features_dup_id.csv", index=False)
    feats.assign(f1=[*feats["f1"].round(4).astype(str)[:7], "n/a?",
                     *feats["f1"].round(4).astype(str)[8:]]).to_csv(d / "features_typo.csv",
                                                                   index=False)
    c["features_typo"] = d / "features_typo.csv"
    c["features_dup_id"] = d / "features_dup_id.csv"
    pd.DataFrame({"ID": feats["ID"], "subtype": ["A"] * 15 + ["B"] * 15}).to_csv(
        d / "labels.csv", index=False)
    c["labels"] = d / "labels.csv"
    pd.DataFrame({"ID": feats["ID"], "v1": 3.0}).to_csv(d / "constant_variable.csv",
                                                        index=False)
    c["constant_variable"] = d / "constant_variable.csv"
    surv = pd.DataFrame({"ID": feats["ID"], "time": rng.uniform(1, 50, 30).round(1),
                         "event": rng.integers(0, 2, 30), "g": ["a", "b", "c"] * 10})
    surv.to_csv(d / "survival.csv", index=False)
    c["survival"] = d / "survival.csv"
    surv.assign(event=[1, 1, 1] + [0] * 27).to_csv(d / "few_events.csv", index=False)
    c["few_events"] = d / "few_events.csv"
    surv.assign(ID=[*feats["ID"][:29], feats["ID"][0]]).to_csv(d / "survival_dup_id.csv",
                                                               index=False)
    c["survival_dup_id"] = d / "survival_dup_id.csv"
    pd.DataFrame({"ID": ["a", "b"], "f1": [1.0, 2.0], "f2": [3.0, 1.0]}).to_csv(
        d / "two_rows.csv", index=False)
    c["two_rows"] = d / "two_rows.csv"
    # a classifier bundle, and two hostile copies of it
    from PanCancerSubtypeLib.classifier import SubtypeClassifier, save_bundle

    clf = SubtypeClassifier(n_estimators=5, cv_folds=0, random_state=0)
    clf.fit(feats.set_index("ID"), np.array(["A"] * 15 + ["B"] * 15))
    save_bundle(clf, d / "bundle")
    c["bundle"] = d / "bundle"
    for name in ("bundle_pickle", "bundle_tampered"):
        save_bundle(clf, d / name)
    (d / "bundle_pickle" / "model.json").write_bytes(pickle.dumps({"a": 1}))
    from PanCancerSubtypeLib.files import sha256_file, write_json

    ck = json.loads((d / "bundle_pickle" / "checksums.json").read_text())
    ck["files"]["model.json"] = sha256_file(d / "bundle_pickle" / "model.json")
    write_json(d / "bundle_pickle" / "checksums.json", ck)
    c["bundle_pickle"] = d / "bundle_pickle"
    mj = d / "bundle_tampered" / "model.json"
    mj.write_text(mj.read_text().replace("}", " }", 1))
    c["bundle_tampered"] = d / "bundle_tampered"
    # segmentation model folders: no weights checksum; weights that are not safetensors
    from PanCancerSubtypeLib.segmentation import SegmenterConfig

    for name, sums in (("seg_nochecksum", False), ("seg_notsafetensors", True)):
        md = d / name
        md.mkdir()
        (md / "best.safetensors").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
        cfg = {"config": SegmenterConfig().to_dict()}
        if sums:
            cfg["weights_sha256"] = {"best.safetensors": sha256_file(md / "best.safetensors")}
        write_json(md / "config.json", cfg)
        c[name] = md
    return c


# --------------------------------------------------------------------------------------------
# readers
# --------------------------------------------------------------------------------------------
READER_CASES = [
    ("truncated_nii", UnreadableFileError, "truncated"),
    ("truncated_nii_gz", UnreadableFileError, "truncated"),
    ("truncated_nrrd", UnreadableFileError, "expected 32768 bytes"),
    ("truncated_mha", UnreadableFileError, "cannot be read"),
    ("sheared", InvalidGeometryError, "not orthonormal"),
    ("sheared_nii", InvalidGeometryError, "sform"),
    ("vector", ImageDimensionError, "2 components"),
    ("fourd", ImageDimensionError, "4D"),
    ("slice", ImageDimensionError, "2D"),
    ("nan", InvalidImageValuesError, "NaN"),
    ("garbage", UnreadableFileError, "cannot be read"),
    ("empty", UnreadableFileError, "truncated: 0 bytes"),
    ("text_image", UnreadableFileError, "cannot be read"),
    ("missing", UnreadableFileError, "does not exist"),
]


@pytest.mark.parametrize("key,error,needle", READER_CASES, ids=[c[0] for c in READER_CASES])
def test_image_reader_rejects(corpus, key, error, needle):
    path = corpus[key]
    with pytest.raises(error, match=needle) as ei:
        io.read_image(path)
    assert str(path) in str(ei.value)  # names the file
    assert exit_code(ei.value) == EXIT_FAILED


def test_truncated_nifti_was_read_as_zeros_by_itk(corpus):
    """Why the NIfTI header is checked here: ITK fills the missing half with zeros, silently."""
    arr = sitk.GetArrayFromImage(sitk.ReadImage(str(corpus["truncated_nii_gz"])))
    ref = sitk.GetArrayFromImage(sitk.ReadImage(str(corpus["dir"] / "noisy.nii.gz")))
    assert arr.shape == ref.shape and (arr == 0).mean() > 0.3 > (ref == 0).mean()


def test_intact_files_of_every_format_still_read(corpus):
    ref = sitk.GetArrayFromImage(sitk.ReadImage(str(corpus["dir"] / "im.nrrd")))
    for ext in (".nii", ".nii.gz", ".nrrd", ".mha"):
        np.testing.assert_array_equal(
            sitk.GetArrayFromImage(io.read_image(corpus["dir"] / f"im{ext}")), ref)


MASK_CASES = [
    ("labels25", None, LabelNotFoundError, r"present: \[2, 5\].*--label 2"),
    ("empty_mask", None, EmptyMaskError, "no foreground"),
    ("partly_outside", None, GeometryMismatchError, "outside the image"),
    ("outside", None, GeometryMismatchError, "do not overlap"),
    ("sheared_mask", None, InvalidGeometryError, "not orthonormal"),
    ("truncated_mask", None, UnreadableFileError, "truncated"),
    ("mask", "9", LabelNotFoundError, r"\[9\]"),
    ("mask", "GTV", LabelNotFoundError, "GTV"),
]


@pytest.mark.parametrize("key,label,error,needle", MASK_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in MASK_CASES])
def test_mask_reader_rejects(corpus, key, label, error, needle):
    ref = io.read_image(corpus["image"])
    with pytest.raises(error, match=needle) as ei:
        io.read_mask(corpus[key], label, reference=ref)
    assert Path(corpus[key]).name in str(ei.value)


def test_mask_partly_outside_the_image_is_not_cut_silently(corpus):
    """The tumour that sticks out of the image is counted and named; an organ mask is cut with
    a warning (outside="warn") since only its part near the tumour matters."""
    ref = io.read_image(corpus["image"])
    mk = io.read_image(corpus["partly_outside"], check=False)
    n_out, n_all = io.voxels_outside(mk, ref)
    assert n_all == int(sitk.GetArrayViewFromImage(mk).sum()) and 0 < n_out < n_all
    with pytest.raises(GeometryMismatchError, match=f"{n_out} of the mask's {n_all}"):
        io.read_mask(corpus["partly_outside"], reference=ref)
    cut = io.read_mask(corpus["partly_outside"], reference=ref, outside="warn")
    assert int(sitk.GetArrayViewFromImage(cut).sum()) < n_all
    # a mask on a larger grid whose tumour lies inside the image is fine
    big = sitk.ConstantPad(io.read_image(corpus["mask"], check=False), [4, 4, 2], [4, 4, 2], 0)
    assert io.voxels_outside(big, ref)[0] == 0
    same = io.align_to_reference(big, ref)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(same),
                                  sitk.GetArrayFromImage(io.read_image(corpus["mask"])))


def test_manifest_and_table_readers(corpus):
    from PanCancerSubtypeLib.cohort import read_manifest
    from PanCancerSubtypeLib.tables import read_feature_table, read_table

    for key, needle in (("binary_csv", "not a text"), ("empty_csv", "cannot be read"),
                        ("header_only", "no cases"), ("no_mask_col", "Mask")):
        with pytest.raises(ManifestError, match=needle) as ei:
            read_manifest(corpus[key])
        assert corpus[key].name in str(ei.value)
    for reader in (read_table, read_feature_table):
        for key in ("binary_csv", "empty_csv"):
            with pytest.raises(UnreadableFileError, match=corpus[key].name):
                reader(corpus[key])


def test_model_readers(corpus):
    from PanCancerSubtypeLib.classifier import load_bundle
    from PanCancerSubtypeLib.segmentation import load_model

    with pytest.raises(ModelBundleError, match="never a pickle"):
        load_bundle(corpus["bundle_pickle"])
    with pytest.raises(ModelBundleError, match="checksum mismatch"):
        load_bundle(corpus["bundle_tampered"])
    with pytest.raises(ModelBundleError, match="no SHA-256 checksum"):
        load_model(corpus["seg_nochecksum"], device="cpu")
    with pytest.raises(ModelBundleError, match="not a safetensors"):
        load_model(corpus["seg_notsafetensors"], device="cpu")


def test_model_files_of_a_newer_version_or_another_structure_are_refused(corpus, tmp_path):
    """Audit: a newer format_version, unknown U-Net settings and an autoencoder without its
    weights checksum were loaded silently; a JSON list or a string checksum table ended in an
    AttributeError ('internal error')."""
    import shutil

    from PanCancerSubtypeLib.encoder import Autoencoder
    from PanCancerSubtypeLib.files import read_json, write_json
    from PanCancerSubtypeLib.segmentation import load_model

    def edited(src, name, change):
        d = tmp_path / f"{src.name}-{len(list(tmp_path.iterdir()))}"
        shutil.copytree(src, d)
        doc = read_json(d / name)
        write_json(d / name, change(doc))
        return d

    seg = corpus["seg_notsafetensors"]
    for change, needle in (
            (lambda c: {**c, "format_version": 99}, "format_version 99 is newer"),
            (lambda c: {**c, "config": {**c["config"], "in_channels": 2}},
             r"settings this version does not know: \['in_channels'\]"),
            (lambda c: {**c, "weights_sha256": "abc"}, "weights_sha256 is not a mapping"),
            (lambda c: [c], "config.json is invalid")):
        with pytest.raises(ModelBundleError, match=needle):
            load_model(edited(seg, "config.json", change), device="cpu")
    rng = np.random.default_rng(0)
    ae = Autoencoder(n_components=2, max_epochs=2).fit(rng.normal(size=(30, 5)))
    ae.save(str(tmp_path / "ae"))
    assert Autoencoder.load(str(tmp_path / "ae")).n_features_in_ == 5
    for change, needle in (
            (lambda c: {**c, "format_version": 99}, "format_version 99 is newer"),
            (lambda c: {k: v for k, v in c.items() if k != "weights_sha256"},
             "no SHA-256 checksum"),
            (lambda c: {**c, "params": {**c["params"], "n_components": "x"}},
             "invalid autoencoder configuration"),
            (lambda c: [c], "invalid autoencoder configuration")):
        with pytest.raises(ModelBundleError, match=needle):
            Autoencoder.load(str(edited(tmp_path / "ae", "autoencoder.json", change)))


# --------------------------------------------------------------------------------------------
# every command
# --------------------------------------------------------------------------------------------
HEAVY = [  # (module, attribute): the work a command must not start before its checks pass
    ("PanCancerSubtypeLib.features", "extract_features"),
    ("PanCancerSubtypeLib.cohort", "run_cohort"),
    ("PanCancerSubtypeLib.cohort", "run_segmentation_cohort"),
    ("PanCancerSubtypeLib.regions", "case_regions"),
    ("PanCancerSubtypeLib.segmentation", "segment_from_seeds"),
    ("PanCancerSubtypeLib.segmentation", "segment_click"),
    ("PanCancerSubtypeLib.segmentation", "segment_image"),
    ("PanCancerSubtypeLib.segmentation", "train_segmenter"),
    ("PanCancerSubtypeLib.segmentation", "evaluate_segmentation"),
    ("PanCancerSubtypeLib.shape", "spharm_decompose"),
    ("PanCancerSubtypeLib.discovery", "discover"),
    ("PanCancerSubtypeLib.survival", "survival_summary"),
    ("PanCancerSubtypeLib.demo", "run_demo"),
    ("PanCancerSubtypeLib.agreement", "run_agreement"),
    ("PanCancerSubtypeLib.classifier.SubtypeClassifier", "fit"),
    ("PanCancerSubtypeLib.association", "associate"),
    ("PanCancerSubtypeLib.survival_eval", "compare_cox_models"),
    ("PanCancerSubtypeLib.multisignature.CombinedSignature", "fit"),
    ("PanCancerSubtypeLib.deep.training", "train_deep_encoder"),
]


def _forbid_heavy_work(monkeypatch):
    import importlib

    def boom(*a, **k):
        raise AssertionError("heavy work started before the options / inputs were checked")

    # every module imported first: a module first imported while another's function is
    # replaced would keep the replacement (``from ..features import extract_features``) for
    # the rest of the session
    for mod, _ in HEAVY:
        importlib.import_module(mod.rsplit(".", 1)[0] if mod.endswith(("SubtypeClassifier",
                                                                      "CombinedSignature"))
                                else mod)
    import PanCancerSubtypeLib.cohort  # noqa: F401  (imports extract_features by name)
    for mod, attr in HEAVY:
        if mod.endswith("SubtypeClassifier"):
            from PanCancerSubtypeLib.classifier import SubtypeClassifier

            monkeypatch.setattr(SubtypeClassifier, attr, boom)
        elif mod.endswith("CombinedSignature"):
            from PanCancerSubtypeLib.multisignature import CombinedSignature

            monkeypatch.setattr(CombinedSignature, attr, boom)
        else:
            monkeypatch.setattr(importlib.import_module(mod), attr, boom)


def run_cli(argv, capsys):
    capsys.readouterr()
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own usage errors
        rc = exc.code
    err = capsys.readouterr().err
    return rc, err


#: (id, argv with {c[key]} / {out} placeholders, expected exit code, words of the message,
#:  whether the heavy work must not have started)
CLI_CASES = [
    # features
    ("features-unknown-set-key", ["features", "--image", "{image}", "--mask", "{mask}",
                                  "--groups", "shape", "--set", "shape.nosuchkey=1",
                                  "--out", "{out}.csv"], 2, ["--set", "shape.nosuchkey"], True),
    ("features-set-wrong-type", ["features", "--image", "{image}", "--mask", "{mask}",
                                 "--groups", "shape", "--set", "shape.max_degree=abc",
                                 "--out", "{out}.csv"], 2, ["max_degree", "'abc'"], True),
    ("features-set-malformed", ["features", "--image", "{image}", "--mask", "{mask}", "--set",
                                "shapemode", "--out", "{out}.csv"], 2, ["GROUP.KEY=VALUE"], True),
    ("features-set-bad-value", ["features", "--image", "{image}", "--mask", "{mask}",
                                "--groups", "shape", "--set", "shape.mode=fast",
                                "--out", "{out}.csv"], 2, ["--set", "fast"], True),
    ("features-radiomics-unknown-setting", ["features", "--image", "{image}", "--mask", "{mask}",
                                            "--groups", "radiomics", "--set", "radiomics.nosuch=1",
                                            "--out", "{out}.csv"], 2, ["nosuch"], True),
    ("features-unknown-group", ["features", "--image", "{image}", "--mask", "{mask}", "--groups",
                                "texture", "--out", "{out}.csv"], 2, ["--groups", "texture"], True),
    ("features-missing-params-file", ["features", "--image", "{image}", "--mask", "{mask}",
                                      "--radiomics-params", "{missing}", "--out", "{out}.csv"],
     1, ["missing.nii.gz", "--radiomics-params"], True),
    ("features-out-is-a-folder", ["features", "--image", "{image}", "--mask", "{mask}", "--out",
                                  "{dir}"], 2, ["--out", "folder"], True),
    ("features-truncated-image", ["features", "--image", "{truncated_nii_gz}", "--mask", "{mask}",
                                  "--out", "{out}.csv"], 1, ["truncated.nii.gz", "truncated"],
     True),
    ("features-sheared-image", ["features", "--image", "{sheared}", "--mask", "{mask}",
                                "--out", "{out}.csv"], 1, ["sheared.nrrd", "orthonormal"], True),
    ("features-mask-partly-outside", ["features", "--image", "{image}", "--mask",
                                      "{partly_outside}", "--out", "{out}.csv"], 1,
     ["partly_outside", "outside the image"], True),
    ("features-labels-2-5", ["features", "--image", "{image}", "--mask", "{labels25}",
                             "--out", "{out}.csv"], 1, ["labels25", "--label"], True),
    ("features-4d-image", ["features", "--image", "{fourd}", "--mask", "{mask}", "--out",
                           "{out}.csv"], 1, ["fourd", "4D"], True),
    # agreement
    ("agreement-missing-manifest", ["agreement", "--manifest", "{missing}", "--out", "{out}"], 1,
     ["missing.nii.gz", "--manifest"], True),
    ("agreement-binary-manifest", ["agreement", "--manifest", "{binary_csv}", "--out", "{out}"],
     1, ["binary.csv", "not a text"], True),
    ("agreement-no-patient-column", ["agreement", "--manifest", "{header_only}", "--out",
                                     "{out}"], 1, ["header_only.csv", "patient column"], True),
    ("agreement-one-rater", ["agreement", "--manifest", "{header_only}", "--out", "{out}",
                             "--raters", "CT,CT"], 2, ["--raters", "two different"], True),
    ("agreement-workers-0", ["agreement", "--manifest", "{header_only}", "--out", "{out}",
                             "--workers", "0"], 2, ["--workers"], True),
    ("agreement-bad-set", ["agreement", "--manifest", "{header_only}", "--out", "{out}",
                           "--set", "shape.nosuchkey=1"], 2, ["--set", "shape.nosuchkey"], True),
    # cohort-features
    ("cohort-workers-0", ["cohort-features", "--manifest", "{header_only}", "--out", "{out}.csv",
                          "--workers", "0"], 2, ["--workers", ">= 1"], True),
    ("cohort-workers-negative", ["cohort-features", "--manifest", "{header_only}", "--out",
                                 "{out}.csv", "--workers", "-3"], 2, ["--workers"], True),
    ("cohort-binary-manifest", ["cohort-features", "--manifest", "{binary_csv}", "--out",
                                "{out}.csv"], 1, ["binary.csv", "not a text"], True),
    ("cohort-empty-manifest", ["cohort-features", "--manifest", "{empty_csv}", "--out",
                               "{out}.csv"], 1, ["empty.csv"], True),
    ("cohort-header-only", ["cohort-features", "--manifest", "{header_only}", "--out",
                            "{out}.csv"], 1, ["header_only.csv", "no cases"], True),
    ("cohort-no-mask-column", ["cohort-features", "--manifest", "{no_mask_col}", "--out",
                               "{out}.csv"], 1, ["no_mask_col.csv", "Mask"], True),
    ("cohort-unknown-set-key", ["cohort-features", "--manifest", "{header_only}", "--out",
                                "{out}.csv", "--set", "regional.nosuch=1", "--groups", "regional"],
     2, ["regional.nosuch"], True),
    ("cohort-out-is-the-manifest", ["cohort-features", "--manifest", "{header_only}", "--out",
                                    "{header_only}"], 2, ["--out", "over the manifest"], True),
    # cohort-segment
    ("cohort-segment-manifest-in-the-out-dir", ["cohort-segment", "--manifest",
                                                "{click_in_out_dir}", "--out-dir", "{seg_out}"],
     2, ["--out-dir", "over the manifest"], True),
    ("cohort-segment-workers-0", ["cohort-segment", "--manifest", "{bad_click}", "--out-dir",
                                  "{out}", "--workers", "0"], 2, ["--workers", ">= 1"], True),
    ("cohort-segment-bad-appearance", ["cohort-segment", "--manifest", "{bad_click}",
                                       "--out-dir", "{out}", "--appearance", "fancy"], 2,
     ["--appearance", "fancy"], True),
    ("cohort-segment-out-dir-is-a-file", ["cohort-segment", "--manifest", "{bad_click}",
                                          "--out-dir", "{image}"], 2,
     ["--out-dir", "not a folder"], True),
    ("cohort-segment-binary-manifest", ["cohort-segment", "--manifest", "{binary_csv}",
                                        "--out-dir", "{out}"], 1, ["binary.csv", "not a text"],
     True),
    ("cohort-segment-missing-manifest", ["cohort-segment", "--manifest", "{missing}",
                                         "--out-dir", "{out}"], 1,
     ["missing.nii.gz", "does not exist"], True),
    ("cohort-segment-no-seed-column", ["cohort-segment", "--manifest", "{header_only}",
                                       "--out-dir", "{out}"], 1, ["header_only.csv", "Seed"],
     True),
    ("cohort-segment-no-rows", ["cohort-segment", "--manifest", "{click_header_only}",
                                "--out-dir", "{out}"], 1, ["click_header_only.csv", "no cases"],
     True),
    ("cohort-segment-bad-seed", ["cohort-segment", "--manifest", "{bad_click}", "--out-dir",
                                 "{out}"], 1, ["bad_click.csv", "row 2, column Seed", "'4'"],
     True),
    # regions
    ("regions-unknown-extension", ["regions", "--image", "{image}", "--mask", "{mask}", "--out",
                                   "{out}.xyz"], 2, ["--out", ".nii.gz"], True),
    ("regions-parenchyma-out-extension", ["regions", "--image", "{image}", "--mask", "{mask}",
                                          "--out", "{out}.nrrd", "--parenchyma-out", "{out}.txt"],
     2, ["--parenchyma-out"], True),
    ("regions-labels-2-5", ["regions", "--image", "{image}", "--mask", "{labels25}", "--out",
                            "{out}.nrrd"], 1, ["labels25", "--label"], True),
    # segment
    ("segment-snapshot-not-png", ["segment", "--image", "{image}", "--seed", "0,0,0", "--out",
                                  "{out}.nii.gz", "--snapshot", "{out}.jpg"], 2,
     ["--snapshot", ".png"], True),
    ("segment-vector-image", ["segment", "--image", "{vector}", "--seed", "0,0,0", "--out",
                              "{out}.nii.gz"], 1, ["vector.nrrd", "components"], True),
    ("segment-4d-image", ["segment", "--image", "{fourd}", "--seed", "0,0,0", "--out",
                          "{out}.nii.gz"], 1, ["fourd", "4D"], True),
    ("segment-constant-image", ["segment", "--image", "{constant}", "--seed", "0,0,0", "--out",
                                "{out}.nii.gz"], 1, ["constant.nii.gz", "constant"], True),
    ("segment-seed-two-numbers", ["segment", "--image", "{image}", "--seed=-3,5", "--out",
                                  "{out}.nii.gz"], 2, ["--seed", "3 comma-separated"], True),
    ("segment-no-seed-no-model", ["segment", "--image", "{image}", "--out", "{out}.nii.gz"], 2,
     ["--model", "--seed"], True),
    ("segment-box-without-seed", ["segment", "--image", "{image}", "--bbox=-4,-2,0,6,8,3",
                                  "--out", "{out}.nii.gz"], 2,
     ["--seed", "a box alone is not enough", "--seed=1,3,1.5"], True),
    ("segment-unknown-extension", ["segment", "--image", "{image}", "--seed", "0,0,0", "--out",
                                   "{out}.png"], 2, ["--out"], True),
    ("segment-out-folder-is-a-file", ["segment", "--image", "{image}", "--seed", "0,0,0", "--out",
                                      "{image}/x.nii.gz"], 2, ["--out", "not a folder"], True),
    ("segment-seed-outside-image", ["segment", "--image", "{image}", "--seed", "0,0,0",
                                    "--seed=-500,3,2", "--out", "{out}.nii.gz"], 2,
     ["--seed number 2", "outside the image"], True),
    ("segment-background-on-the-seed", ["segment", "--image", "{image}", "--seed", "0,0,0",
                                        "--background", "0,0,0", "--out", "{out}.nii.gz"], 2,
     ["--background number 1 is on seed number 1"], True),
    ("segment-seed-in-padding", ["segment", "--image", "{padded}", "--seed=0,0,0",
                                 "--seed={padded_seed}", "--out", "{out}.nii.gz"], 2,
     ["--seed number 2", "padding", "click inside the tumour"], True),
    ("segment-box-corners-swapped", ["segment", "--image", "{image}", "--seed", "0,0,0",
                                     "--bbox", "5,5,5,-5,-5,-5", "--out", "{out}.nii.gz"], 2,
     ["--bbox", "x0 < x1"], True),
    ("segment-box-five-numbers", ["segment", "--image", "{image}", "--seed", "0,0,0",
                                  "--box=-5,-5,-5,5,5", "--out", "{out}.nii.gz"], 2,
     ["--bbox", "6 comma-separated"], True),
    ("segment-box-outside-image", ["segment", "--image", "{image}", "--seed", "0,0,0",
                                   "--bbox", "100,100,100,120,120,120", "--out", "{out}.nii.gz"],
     2, ["--bbox", "does not overlap"], True),
    ("segment-seed-outside-box", ["segment", "--image", "{image}", "--seed", "0,0,0",
                                  "--bbox", "2,2,2,10,10,10", "--out", "{out}.nii.gz"], 2,
     ["--bbox", "outside the box"], True),
    ("segment-background-outside-image", ["segment", "--image", "{image}", "--seed", "0,0,0",
                                          "--background", "0,0,400", "--out", "{out}.nii.gz"],
     2, ["--background number 1", "outside the image"], True),
    ("segment-background-not-numbers", ["segment", "--image", "{image}", "--seed", "0,0,0",
                                        "--background", "a,b,c", "--out", "{out}.nii.gz"], 2,
     ["--background", "numbers"], True),
    ("segment-second-channel-other-grid", ["segment", "--image", "{image}", "--seed", "0,0,0",
                                           "--second-channel", "{partly_outside}", "--out",
                                           "{out}.nii.gz"], 1,
     ["partly_outside", "another grid", "--resample-second-channel"], True),
    ("segment-second-channel-no-overlap", ["segment", "--image", "{image}", "--seed", "0,0,0",
                                           "--second-channel", "{outside}",
                                           "--resample-second-channel", "--out",
                                           "{out}.nii.gz"], 1,
     ["outside.nii.gz", "another grid", "do not even overlap"], True),
    ("segment-second-channel-missing", ["segment", "--image", "{image}", "--seed", "0,0,0",
                                        "--second-channel", "{missing}", "--out",
                                        "{out}.nii.gz"], 1, ["missing.nii.gz", "not found"],
     True),
    ("segment-second-channel-4d", ["segment", "--image", "{image}", "--seed", "0,0,0",
                                   "--second-channel", "{fourd}", "--out", "{out}.nii.gz"], 1,
     ["fourd", "4D"], True),
    ("segment-background-with-region-growing", ["segment", "--image", "{image}", "--seed",
                                                "0,0,0", "--background", "5,5,5", "--method",
                                                "region_growing", "--out", "{out}.nii.gz"], 2,
     ["--background", "click method"], True),
    ("segment-refine-with-click", ["segment", "--image", "{image}", "--seed", "0,0,0",
                                   "--refine", "watershed", "--out", "{out}.nii.gz"], 2,
     ["--refine", "region_growing"], True),
    ("segment-unknown-method", ["segment", "--image", "{image}", "--seed", "0,0,0", "--method",
                                "grabcut", "--out", "{out}.nii.gz"], 2, ["--method", "grabcut"],
     True),
    ("segment-appearance-lung-on-mr", ["segment", "--image", "{image}", "--seed", "0,0,0",
                                       "--modality", "MR", "--appearance", "lung", "--out",
                                       "{out}.nii.gz"], 2, ["--appearance", "CT numbers", "MR"],
     True),
    ("segment-appearance-with-region-growing", ["segment", "--image", "{image}", "--seed",
                                                "0,0,0", "--appearance", "generic", "--method",
                                                "region_growing", "--out", "{out}.nii.gz"], 2,
     ["--appearance", "click method"], True),
    ("segment-unknown-appearance", ["segment", "--image", "{image}", "--seed", "0,0,0",
                                    "--appearance", "grabcut", "--out", "{out}.nii.gz"], 2,
     ["--appearance", "grabcut"], True),
    ("segment-warn-below-2", ["segment", "--image", "{image}", "--seed", "0,0,0",
                              "--warn-below", "2", "--out", "{out}.nii.gz"], 2,
     ["--warn-below"], True),
    ("segment-report-not-json", ["segment", "--image", "{image}", "--seed", "0,0,0",
                                 "--report", "{out}.txt", "--out", "{out}.nii.gz"], 2,
     ["--report"], True),
    ("segment-model-without-checksum", ["segment", "--image", "{image}", "--model",
                                        "{seg_nochecksum}", "--device", "cpu", "--out",
                                        "{out}.nii.gz"], 1, ["config.json", "checksum"], False),
    ("segment-model-not-safetensors", ["segment", "--image", "{image}", "--model",
                                       "{seg_notsafetensors}", "--device", "cpu", "--out",
                                       "{out}.nii.gz"], 1, ["best.safetensors", "safetensors"],
     False),
    ("evaluate-bad-label", ["evaluate-segmentation", "--pred", "{mask}", "--ref", "{mask}",
                            "--label", "one", "--out", "{out}.json"], 2, ["--label"], True),
    ("evaluate-missing-pred", ["evaluate-segmentation", "--pred", "{missing}", "--ref", "{mask}",
                               "--out", "{out}.json"], 1, ["missing.nii.gz"], True),
    ("train-segmenter-epochs-0", ["train-segmenter", "--manifest", "{header_only}", "--out",
                                  "{out}", "--epochs", "0"], 2, ["--epochs"], True),
    ("train-segmenter-val-fraction", ["train-segmenter", "--manifest", "{header_only}", "--out",
                                      "{out}", "--val-fraction", "1.5"], 2, ["--val-fraction"],
     True),
    # shape-reconstruct
    ("shape-id-escapes-out", ["shape-reconstruct", "--mask", "{mask}", "--id", "../escape",
                              "--out", "{out}"], 2, ["--id", "'../escape'"], True),
    ("shape-id-absolute", ["shape-reconstruct", "--mask", "{mask}", "--id", "/tmp/x",
                           "--out", "{out}"], 2, ["--id"], True),
    ("shape-degrees-not-numbers", ["shape-reconstruct", "--mask", "{mask}", "--degrees", "a,b",
                                   "--out", "{out}"], 2, ["--degrees"], True),
    ("shape-degree-too-high", ["shape-reconstruct", "--mask", "{mask}", "--degrees", "20",
                               "--out", "{out}"], 2, ["--degrees", "0..15"], True),
    ("shape-subdiv-too-high", ["shape-reconstruct", "--mask", "{mask}", "--subdiv", "12",
                               "--out", "{out}"], 2, ["--subdiv"], True),
    ("shape-max-degree-beyond-the-surface", ["shape-reconstruct", "--mask", "{mask}",
                                             "--max-degree", "99", "--out", "{out}"], 1,
     ["coefficients of degree 99", "--max-degree", "allows degree"], False),
    ("shape-max-degree-0", ["shape-reconstruct", "--mask", "{mask}", "--max-degree", "0",
                            "--out", "{out}"], 2, ["--max-degree"], True),
    ("shape-labels-2-5", ["shape-reconstruct", "--mask", "{labels25}", "--out", "{out}"], 1,
     ["labels25", "--label"], True),
    ("shape-truncated-mask", ["shape-reconstruct", "--mask", "{truncated_mask}", "--out",
                              "{out}"], 1, ["truncated_mask", "truncated"], True),
    # discover
    ("discover-binary-table", ["discover", "--features", "{binary_csv}", "--out", "{out}"], 1,
     ["binary.csv"], False),
    ("discover-missing-table", ["discover", "--features", "{missing}", "--out", "{out}"], 1,
     ["missing.nii.gz", "--features"], True),
    ("discover-k-outside-range", ["discover", "--features", "{features}", "--out", "{out}",
                                  "--k", "9", "--k-max", "5"], 2, ["k=9"], True),
    ("discover-max-missing-negative", ["discover", "--features", "{features}", "--out",
                                       "{out}", "--max-missing", "-1"], 2, ["--max-missing"],
     True),
    ("discover-one-feature", ["discover", "--features", "{one_feature}", "--out", "{out}",
                              "--reps", "5", "--no-progress"], 1,
     ["one_feature.csv", "2 features"], False),
    ("discover-reps-0", ["discover", "--features", "{features}", "--out", "{out}", "--reps", "0"],
     2, ["reps"], True),
    ("discover-k-max-over-items", ["discover", "--features", "{two_rows}", "--out", "{out}",
                                   "--reps", "2"], 1, ["k_max"], False),
    # classifier
    ("classify-empty-table", ["classify", "--model", "{bundle}", "--features", "{empty_csv}",
                              "--out", "{out}.csv"], 1, ["empty.csv"], True),
    ("classify-no-id-column", ["classify", "--model", "{bundle}", "--features",
                               "{features_no_id}", "--out", "{out}.csv"], 1,
     ["features_no_id.csv", "'ID'", "--id-column"], True),
    ("classify-duplicate-ids", ["classify", "--model", "{bundle}", "--features",
                                "{features_dup_id}", "--out", "{out}.csv"], 1,
     ["features_dup_id.csv", "duplicated", "c00"], True),
    ("classify-header-only", ["classify", "--model", "{bundle}", "--features", "{header_only}",
                              "--out", "{out}.csv"], 1, ["header_only.csv", "no row"], True),
    ("classify-pickle-model", ["classify", "--model", "{bundle_pickle}", "--features",
                               "{features}", "--out", "{out}.csv"], 1, ["model.json", "pickle"],
     True),
    ("classify-tampered-model", ["classify", "--model", "{bundle_tampered}", "--features",
                                 "{features}", "--out", "{out}.csv"], 1,
     ["model.json", "checksum"], True),
    ("classify-missing-model", ["classify", "--model", "{missing}", "--features", "{features}",
                                "--out", "{out}.csv"], 1, ["missing.nii.gz"], True),
    ("train-classifier-existing-bundle", ["train-classifier", "--features", "{features}",
                                          "--labels", "{labels}", "--out", "{bundle}"], 1,
     ["bundle", "--overwrite"], True),
    ("train-classifier-binary-labels", ["train-classifier", "--features", "{features}",
                                        "--labels", "{binary_csv}", "--out", "{out}"], 1,
     ["binary.csv"], True),
    ("train-classifier-typo-in-a-feature", ["train-classifier", "--features", "{features_typo}",
                                            "--labels", "{labels}", "--out", "{out}"], 1,
     ["features_typo.csv", "'f1'", "n/a?", "ID c07"], True),
    ("train-classifier-cv-folds-1", ["train-classifier", "--features", "{features}",
                                     "--labels", "{labels}", "--cv-folds", "1", "--out",
                                     "{out}"], 2, ["--cv-folds"], True),
    ("train-classifier-depth-0", ["train-classifier", "--features", "{features}", "--labels",
                                  "{labels}", "--out", "{out}", "--max-depth", "0"], 2,
     ["--max-depth"], True),
    # survival, signature, cross-cancer
    ("survival-times-not-numbers", ["survival", "--table", "{survival}", "--time", "time",
                                    "--event", "event", "--group", "g", "--out", "{out}",
                                    "--times", "abc"], 2, ["--times", "abc"], True),
    ("survival-negative-times", ["survival", "--table", "{survival}", "--time", "time",
                                 "--event", "event", "--group", "g", "--out", "{out}",
                                 "--times=-1,5"], 2, ["--times"], True),
    ("survival-alpha-2", ["survival", "--table", "{survival}", "--time", "time", "--event",
                          "event", "--group", "g", "--out", "{out}", "--alpha", "2"], 2,
     ["--alpha"], True),
    ("survival-missing-column", ["survival", "--table", "{survival}", "--time", "time",
                                 "--event", "event", "--group", "nosuch", "--out", "{out}"], 1,
     ["survival.csv", "nosuch"], False),
    ("survival-binary-table", ["survival", "--table", "{binary_csv}", "--time", "t", "--event",
                               "e", "--group", "g", "--out", "{out}"], 1, ["binary.csv"], True),
    ("signature-missing-features", ["signature", "--features", "{missing}", "--table",
                                    "{survival}", "--time", "time", "--event", "event", "--out",
                                    "{out}"], 1, ["missing.nii.gz", "--features"], True),
    ("signature-cv-1", ["signature", "--features", "{features}", "--table", "{survival}",
                        "--time", "time", "--event", "event", "--cv", "1", "--out", "{out}"], 2,
     ["--cv"], True),
    ("signature-cv-over-rows", ["signature", "--features", "{features}", "--table",
                                "{survival}", "--time", "time", "--event", "event", "--cv",
                                "100", "--n-perm", "5", "--out", "{out}"], 2,
     ["--cv", "100 folds"], True),
    ("cross-cancer-cv-1", ["cross-cancer", "--table", "{survival}", "--cancer-type", "g",
                           "--cv", "1", "--out", "{out}"], 2, ["--cv"], True),
    ("cross-cancer-missing-table", ["cross-cancer", "--table", "{missing}", "--cancer-type",
                                    "g", "--out", "{out}"], 1, ["missing.nii.gz"], True),
    # associate
    ("associate-missing-features", ["associate", "--features", "{missing}", "--variables",
                                    "{labels}", "--out", "{out}"], 1, ["missing.nii.gz",
                                                                       "--features"], True),
    ("associate-duplicate-feature-ids", ["associate", "--features", "{features_dup_id}",
                                         "--variables", "{labels}", "--out", "{out}"], 1,
     ["features_dup_id.csv", "duplicated"], False),
    ("associate-fdr-2", ["associate", "--features", "{features}", "--variables", "{labels}",
                         "--fdr", "2", "--out", "{out}"], 2, ["--fdr"], True),
    ("associate-unknown-group", ["associate", "--features", "{features}", "--variables",
                                 "{labels}", "--group", "site", "--out", "{out}"], 2,
     ["--group", "'site'", "labels.csv"], True),
    ("associate-only-a-constant-variable", ["associate", "--features", "{features}",
                                            "--variables", "{constant_variable}", "--out",
                                            "{out}"], 1,
     ["constant_variable.csv", "no feature-variable pair could be tested"], False),
    ("associate-out-is-a-file", ["associate", "--features", "{features}", "--variables",
                                 "{labels}", "--out", "{labels}"], 2, ["--out", "not a folder"],
     True),
    # cox-compare
    ("cox-compare-bad-model", ["cox-compare", "--table", "{survival}", "--time", "time",
                               "--event", "event", "--model", "clinical", "--t", "10", "--out",
                               "{out}"], 2, ["--model", "NAME=COLUMN"], True),
    ("cox-compare-unknown-column", ["cox-compare", "--table", "{survival}", "--time", "time",
                                    "--event", "event", "--model", "clinical=age", "--t", "10",
                                    "--out", "{out}"], 2, ["--model clinical", "'age'"], True),
    ("cox-compare-negative-t", ["cox-compare", "--table", "{survival}", "--time", "time",
                                "--event", "event", "--model", "m=g", "--t", "-1", "--out",
                                "{out}"], 2, ["--t"], True),
    ("cox-compare-times-not-numbers", ["cox-compare", "--table", "{survival}", "--time", "time",
                                       "--event", "event", "--model", "m=g", "--t", "10",
                                       "--times", "5,x", "--out", "{out}"], 2, ["--times"], True),
    ("cox-compare-t-beyond-follow-up", ["cox-compare", "--table", "{survival}", "--time",
                                        "time", "--event", "event", "--model", "m=g", "--t",
                                        "1000", "--B", "5", "--n-boot", "5", "--out", "{out}"],
     2, ["survival.csv", "--t 1000", "follow-up"], True),
    ("cox-compare-three-events", ["cox-compare", "--table", "{few_events}", "--time", "time",
                                  "--event", "event", "--model", "m=g", "--t", "20", "--B", "5",
                                  "--n-boot", "5", "--out", "{out}"], 1,
     ["few_events.csv", "--t 20", "5 events"], False),      # (found after the fits: none left)
    ("cox-compare-missing-table", ["cox-compare", "--table", "{missing}", "--time", "time",
                                   "--event", "event", "--model", "m=g", "--t", "10", "--out",
                                   "{out}"], 1, ["missing.nii.gz", "--table"], True),
    # roi-signature
    ("roi-signature-cv-1", ["roi-signature", "--features", "{features}", "--table", "{survival}",
                            "--time", "time", "--event", "event", "--cv", "1", "--out", "{out}"],
     2, ["--cv"], True),
    ("roi-signature-missing-table", ["roi-signature", "--features", "{features}", "--table",
                                     "{missing}", "--time", "time", "--event", "event", "--out",
                                     "{out}"], 1, ["missing.nii.gz", "--table"], True),
    ("roi-signature-duplicate-clinical-id", ["roi-signature", "--features", "{features}",
                                             "--table", "{survival_dup_id}", "--time", "time",
                                             "--event", "event", "--out", "{out}"], 1,
     ["survival_dup_id.csv", "duplicated ID", "c00"], True),
    ("roi-signature-unknown-time", ["roi-signature", "--features", "{features}", "--table",
                                    "{labels}", "--time", "os", "--event", "dead", "--out",
                                    "{out}"], 2, ["--time", "'os'"], True),
    # train-deep-encoder
    ("train-deep-epochs-0", ["train-deep-encoder", "--manifest", "{header_only}", "--out", "{out}",
                             "--epochs", "0"], 2, ["--epochs"], True),
    ("train-deep-bad-crop", ["train-deep-encoder", "--manifest", "{header_only}", "--out",
                             "{out}", "--crop", "30"], 2, ["crop", "multiple"], True),
    ("train-deep-header-only", ["train-deep-encoder", "--manifest", "{header_only}", "--out",
                                "{out}"], 1, ["header_only.csv", "no cases"], True),
    ("train-deep-missing-manifest", ["train-deep-encoder", "--manifest", "{missing}", "--out",
                                     "{out}"], 1, ["missing.nii.gz", "--manifest"], True),
    # the deep and peri-tumoural feature options
    ("features-deep-without-model", ["features", "--image", "{image}", "--mask", "{mask}",
                                     "--groups", "deep", "--out", "{out}.csv"], 2,
     ["--groups", "--deep-model"], True),
    ("features-peri-mm-negative", ["features", "--image", "{image}", "--mask", "{mask}",
                                   "--groups", "shape", "--peri-mm", "-2", "--out", "{out}.csv"],
     2, ["--peri-mm"], True),
    # registry, demo
    ("registry-unknown-group", ["registry", "--group", "texture", "--out", "{out}.csv"], 2,
     ["--group", "texture"], True),
    ("demo-n-0", ["demo", "--n", "0", "--out", "{out}"], 2, ["--n"], True),
    ("demo-workers-0", ["demo", "--workers", "0", "--out", "{out}"], 2, ["--workers"], True),
    ("demo-n-too-small", ["demo", "--n", "12", "--k-max", "3", "--out", "{out}"], 2,
     ["--n", "at least 20"], True),
    ("demo-k-max-over-cases", ["demo", "--n", "10", "--k-max", "9", "--out", "{out}"], 2,
     ["--k-max"], True),
]


def _fill(argv, corpus, out):
    vals = {k: str(v) for k, v in corpus.items() if isinstance(v, (Path, str))}
    vals["out"] = str(out)
    return [a.format(**vals) if "{" in a else a for a in argv]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_command_rejects_bad_input(case, corpus, tmp_path, capsys, monkeypatch):
    name, argv, code, needles, guard = case
    if guard:
        _forbid_heavy_work(monkeypatch)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    rc, err = run_cli(_fill(argv, corpus, work / "out" / "result"), capsys)
    assert rc == code, err
    assert "Traceback" not in err and "internal error" not in err, err
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(lines) == 1, err                                # one line says what is wrong
    for word in needles:
        assert word in lines[0], (word, lines[0])
    assert not re.search(r"np\.(float|int|uint|bool)\w*\(", lines[0]), lines[0]  # plain numbers
    left = [p for p in work.rglob("*")]
    assert left == [], f"{name} left files behind: {left}"   # nothing half-written


def test_every_command_is_in_the_corpus():
    from PanCancerSubtypeLib.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    covered = {c[1][0] for c in CLI_CASES}
    assert set(sub.choices) - {"demo"} <= covered | {"demo"}
    assert "demo" in covered


def test_help_documents_the_exit_codes(capsys):
    for argv in (["--help"], ["features", "--help"], ["survival", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        out = capsys.readouterr().out
        assert "exit codes" in out and "2    usage error" in out and "1    failed" in out


def test_exit_code_mapping(monkeypatch):
    from PanCancerSubtypeLib import extras

    assert exit_code(UsageError("bad", source="--x")) == EXIT_USAGE
    monkeypatch.setattr(extras, "module_available", lambda name: False)
    with pytest.raises(MissingDependencyError) as info:
        extras.require("radiomics", "PyRadiomics features")
    dep = info.value
    assert exit_code(dep) == EXIT_USAGE and isinstance(dep, ImportError)
    assert dep.extra == "radiomics"
    assert "pip install" in str(dep) and '"pancancer-subtype[radiomics]"' in str(dep)
    assert exit_code(UnreadableFileError("x", source="f")) == EXIT_FAILED


def test_missing_dependency_exits_2(monkeypatch, capsys):
    """The mechanism other code uses for "install the extra X": MissingDependencyError -> 2."""
    from PanCancerSubtypeLib.commands import registry as reg_cmd

    def needs_extra(args):
        raise MissingDependencyError("PyRadiomics features need radiomics; install "
                                     '"pancancer-subtype[radiomics]"', extra="radiomics")

    monkeypatch.setattr(reg_cmd, "run", needs_extra)
    rc, err = run_cli(["registry"], capsys)
    assert rc == EXIT_USAGE and "pancancer-subtype[radiomics]" in err


def test_cohort_with_a_failing_case_exits_1_and_keeps_the_others(corpus, tmp_path, capsys):
    man = tmp_path / "m.csv"
    pd.DataFrame({"ID": ["good", "bad"], "Image": [corpus["image"], corpus["truncated_nii_gz"]],
                  "Mask": [corpus["mask"], corpus["mask"]]}).to_csv(man, index=False)
    out = tmp_path / "f.csv"
    rc, err = run_cli(["cohort-features", "--manifest", man, "--out", out, "--groups",
                       "radiomics", "--set", FAST_RADIOMICS, "--no-progress"], capsys)
    assert rc == EXIT_FAILED
    t = pd.read_csv(out, keep_default_na=False)
    assert list(t["ID"]) == ["good", "bad"] and t.loc[0, "error"] == ""
    assert "truncated" in t.loc[1, "error"] and "1 with errors" in err
    assert float(t.loc[0, "original_shape_VoxelVolume"]) == pytest.approx(
        corpus["volume_mm3"], rel=1e-6)


def test_one_label_rule_for_every_command(corpus, tmp_path, capsys):
    """Labels {2, 5}: every command refuses the same way without --label and takes --label 2,5;
    a single-label mask needs no --label anywhere."""
    for argv in (["features", "--image", corpus["image"], "--mask", corpus["labels25"],
                  "--groups", "radiomics", "--set", FAST_RADIOMICS, "--out", tmp_path / "f.csv"],
                 ["regions", "--image", corpus["image"], "--mask", corpus["labels25"],
                  "--parenchyma", "none", "--out", tmp_path / "r.nrrd"],
                 ["shape-reconstruct", "--mask", corpus["labels25"], "--degrees", "1",
                  "--out", tmp_path / "s"]):
        rc, err = run_cli(argv, capsys)
        assert rc == 1 and "present: [2, 5]" in err and "--label 2,5" in err
        rc, err = run_cli(argv[:3] + ["--label", "2,5"] + argv[3:], capsys)
        assert rc == 0, err
    f = pd.read_csv(tmp_path / "f.csv")
    assert f.loc[0, "original_shape_VoxelVolume"] == pytest.approx(corpus["volume_mm3"], rel=1e-6)
    regions = sitk.ReadImage(str(tmp_path / "r.nrrd"))
    assert int((sitk.GetArrayViewFromImage(regions) == 1).sum()) > 0
    doc = json.loads((tmp_path / "s" / "labels25_spharm.json").read_text())
    assert doc["label"] == "2,5"


def test_whole_image_mask_in_pyradiomics(tmp_path, capsys):
    """A mask covering every voxel: PyRadiomics alone says "No labels found"; here the
    features are those of the whole image."""
    arr = np.random.default_rng(3).normal(100, 20, (8, 10, 12)).astype(np.float32)
    im = sitk.GetImageFromArray(arr)
    im.SetSpacing((0.5, 0.7, 2.0))
    mk = sitk.GetImageFromArray(np.ones(arr.shape, np.uint8))
    mk.CopyInformation(im)
    sitk.WriteImage(im, str(tmp_path / "im.nrrd"))
    sitk.WriteImage(mk, str(tmp_path / "m.nrrd"))
    rc, err = run_cli(["features", "--image", tmp_path / "im.nrrd", "--mask", tmp_path / "m.nrrd",
                       "--modality", "MR", "--groups", "radiomics", "--set",
                       'radiomics.params={"featureClass": {"firstorder": ["Mean", "Maximum"], '
                       '"shape": ["VoxelVolume"]}, "setting": {"normalize": false}}',
                       "--out", tmp_path / "f.csv"], capsys)
    assert rc == 0, err
    row = pd.read_csv(tmp_path / "f.csv").iloc[0]
    assert row["original_firstorder_Mean"] == pytest.approx(float(arr.astype(np.float64).mean()),
                                                            rel=1e-5)
    assert row["original_firstorder_Maximum"] == pytest.approx(float(arr.max()), rel=1e-6)
    assert row["original_shape_VoxelVolume"] == pytest.approx(arr.size * 0.5 * 0.7 * 2.0)
    assert row["diag_radiomics_VoxelNum"] == arr.size


def test_output_files_get_the_umask_permissions(corpus, tmp_path, capsys):
    """CSV, provenance, image and plot files: 0o666 minus the umask (never the temporary file's
    0o600), whichever writer made them."""
    from PanCancerSubtypeLib.files import atomic_path, atomic_write_text
    from PanCancerSubtypeLib.plots import cdf_plot

    old = os.umask(0o027)
    try:
        out = tmp_path / "f.csv"
        rc, err = run_cli(["features", "--image", corpus["image"], "--mask", corpus["mask"],
                           "--groups", "radiomics", "--set", FAST_RADIOMICS, "--out", out], capsys)
        assert rc == 0, err
        io.write_image(io.read_image(corpus["mask"]), tmp_path / "m.seg.nrrd")
        cdf_plot({2: np.linspace(0, 1, 100)}, path=str(tmp_path / "cdf.png"))
        atomic_write_text(tmp_path / "t.txt", "x")
        with atomic_path(tmp_path / "p.bin") as tmp:
            tmp.write_bytes(b"1")
        for name in ("f.csv", "f.csv.provenance.json", "m.seg.nrrd", "cdf.png", "t.txt", "p.bin"):
            assert (tmp_path / name).stat().st_mode & 0o777 == 0o640, name
    finally:
        os.umask(old)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files


def test_failed_write_leaves_no_temporary_file(tmp_path):
    from PanCancerSubtypeLib.files import atomic_path

    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "x.nii.gz") as tmp:
            assert tmp.name.endswith(".nii.gz")
            raise RuntimeError("writer failed")
    assert list(tmp_path.iterdir()) == []


def test_gzip_of_a_truncated_file_is_counted_not_trusted(tmp_path):
    """A valid gzip stream that holds too few bytes (its trailer says so) is refused; a cut
    stream is decompressed and counted (see the corpus)."""
    img = sitk.GetImageFromArray(np.random.default_rng(0).integers(0, 99, (5, 6, 7))
                                 .astype(np.int16))
    p = tmp_path / "a.nii.gz"
    sitk.WriteImage(img, str(p), True)
    raw = gzip.decompress(p.read_bytes())
    # a valid gzip file of a NIfTI whose last slice is missing
    q = tmp_path / "short.nii.gz"
    q.write_bytes(gzip.compress(raw[:-2 * 6 * 7]))
    with pytest.raises(UnreadableFileError, match="truncated"):
        io.read_image(q)
    io.read_image(p)
