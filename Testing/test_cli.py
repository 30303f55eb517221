"""Command line: help lists the commands; `features` on a phantom writes one documented row."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import SimpleITK as sitk

from PanCancerSubtypeLib.cli import build_parser, main
from PanCancerSubtypeLib.synthetic import make_phantom


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for cmd in ("features", "cohort-features", "registry"):
        assert cmd in out


def _phantom_files(tmp_path, modality):
    """A phantom's image and mask written as im.nii.gz / m.nii.gz: (image, paths, info)."""
    im, mk, info = make_phantom(modality, size_xyz=(48, 48, 24), radius_mm=8, seed=1)
    ip, mp = tmp_path / "im.nii.gz", tmp_path / "m.nii.gz"
    sitk.WriteImage(im, str(ip))
    sitk.WriteImage(mk, str(mp))
    return im, (ip, mp), info


def test_features_one_row(tmp_path, capsys):
    im, (ip, mp), info = _phantom_files(tmp_path, "CT")
    out = tmp_path / "f.csv"
    rc = main(["features", "--image", str(ip), "--mask", str(mp), "--groups", "radiomics",
               "--set", 'radiomics.params={"featureClass": {"shape": []}}', "--out", str(out)])
    assert rc == 0
    df = pd.read_csv(out)
    assert len(df) == 1 and df.loc[0, "ID"] == "im" and df.loc[0, "Modality"] == "CT"
    vox = im.GetSpacing()[0] * im.GetSpacing()[1] * im.GetSpacing()[2]
    assert df.loc[0, "original_shape_VoxelVolume"] == pytest.approx(info["volume_mm3"], rel=1e-6)  # NIfTI stores float32 spacing
    assert df.loc[0, "diag_radiomics_VoxelNum"] * vox == pytest.approx(info["volume_mm3"], rel=1e-6)
    prov = json.loads((tmp_path / "f.csv.provenance.json").read_text(encoding="utf-8"))
    assert len(prov["inputs"]["image_sha256"]) == 64 and prov["version"]
    # the modality was guessed: said, as segment says it (audit: only the provenance had it)
    assert "modality: CT (guessed from the image" in capsys.readouterr().err
    assert main(["features", "--image", str(ip), "--mask", str(mp), "--groups", "radiomics",
                 "--modality", "CT", "--set", 'radiomics.params={"featureClass": {"shape": []}}',
                 "--out", str(out)]) == 0
    assert "guessed" not in capsys.readouterr().err


def test_features_shape_interpolation_option(tmp_path):
    im, mk, info = make_phantom("MR", size_xyz=(48, 48, 16), spacing_xyz=(0.8, 0.8, 4.0),
                                radius_mm=9, seed=2)
    ip, mp = tmp_path / "im.nii.gz", tmp_path / "m.nii.gz"
    sitk.WriteImage(im, str(ip))
    sitk.WriteImage(mk, str(mp))
    rows = {}
    for interp in ("linear", "shape"):
        out = tmp_path / f"{interp}.csv"
        assert main(["features", "--image", str(ip), "--mask", str(mp), "--groups", "shape",
                     "--shape-interpolation", interp, "--out", str(out)]) == 0
        rows[interp] = pd.read_csv(out).iloc[0]
        assert rows[interp]["diag_shape_interpolation"] == interp
        prov = json.loads((tmp_path / f"{interp}.csv.provenance.json").read_text("utf-8"))
        assert prov["parameters"]["group_options"]["shape"]["interpolation"] == interp
    # same tumour, different surface: the descriptors differ, the volume does not
    assert rows["linear"]["shape_volume_mm3"] == rows["shape"]["shape_volume_mm3"]
    assert rows["linear"]["shape_energy_l4"] != rows["shape"]["shape_energy_l4"]


def test_features_bad_input_exit_code(tmp_path, capsys):
    rc = main(["features", "--image", str(tmp_path / "missing.nrrd"), "--mask", "x.nrrd",
               "--out", str(tmp_path / "f.csv")])
    assert rc == 1
    err = capsys.readouterr().err
    assert "UnreadableFileError" in err and "missing.nrrd" in err


def test_registry_command(tmp_path):
    out = tmp_path / "reg.csv"
    assert main(["registry", "--group", "radiomics", "--out", str(out)]) == 0
    reg = pd.read_csv(out)
    assert {"name", "group", "description", "formula"} <= set(reg.columns)
    assert "original_firstorder_Mean" in set(reg["name"])
    assert build_parser().prog == "pancancer-subtype"


def test_library_value_errors_give_a_message_not_a_traceback(tmp_path, capsys):
    bad = tmp_path / "f.csv"
    bad.write_text("ID,a,b\nx,1,2\ny,3,4\n")
    # k_max larger than the number of items is a ValueError inside consensus clustering
    rc = main(["discover", "--features", str(bad), "--out", str(tmp_path / "o"), "--k-max", "9",
               "--reps", "2"])
    assert rc == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err


def test_python39_syntax_of_the_core():
    """The core library must parse as Python 3.9 (Slicer 5.8 ships 3.9)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "PanCancerSubtype" / "PanCancerSubtypeLib"
    files = sorted(root.rglob("*.py"))
    assert len(files) > 20
    for f in files:
        ast.parse(f.read_text(encoding="utf-8"), filename=str(f), feature_version=(3, 9))


def test_every_source_compiles_without_warnings():
    """No source of the package or of the Slicer modules warns when compiled (an invalid escape
    sequence in a docstring is a DeprecationWarning, a SyntaxWarning from Python 3.12, and
    will be an error): compiled with warnings as errors."""
    import warnings
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "PanCancerSubtype"
    files = sorted(root.rglob("*.py"))
    assert len(files) > 30
    for f in files:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            compile(f.read_text(encoding="utf-8"), str(f), "exec")


def test_low_resolution_tumours_are_named_on_stderr(tmp_path, capsys):
    """`features` and `shape-reconstruct` name a tumour only 3 slices thick (and say how thick);
    a well-resolved one gets no note."""
    import numpy as np

    from PanCancerSubtypeLib.shape import low_resolution_note

    zz, yy, xx = np.mgrid[-8:9, -12:13, -12:13]
    for name, sz, thick in (("thin", 5.0, True), ("thick", 1.0, False)):
        # a disc 3 slices thick on 5 mm slices, or a ball 15 voxels across on 1 mm voxels
        ball = (xx ** 2 + yy ** 2 + (zz * sz) ** 2) <= 7.5 ** 2
        mk = sitk.GetImageFromArray(ball.astype(np.uint8))
        mk.SetSpacing((1.0, 1.0, sz))
        im = sitk.Cast(mk, sitk.sitkFloat32) * 100.0
        ip, mp = tmp_path / f"{name}_im.nii.gz", tmp_path / f"{name}.nii.gz"
        sitk.WriteImage(im, str(ip))
        sitk.WriteImage(mk, str(mp))
        nz = int(np.count_nonzero(ball.any(axis=(1, 2))))
        capsys.readouterr()
        assert main(["features", "--image", str(ip), "--mask", str(mp), "--groups", "shape",
                     "--modality", "MR", "--out", str(tmp_path / f"{name}.csv")]) == 0
        err = capsys.readouterr().err
        row = pd.read_csv(tmp_path / f"{name}.csv").iloc[0]
        assert bool(row["diag_shape_low_resolution"]) is thick
        assert ("note:" in err) is thick
        if thick:
            assert nz == 3 and f"{name}_im (3)" in err and "1 tumour(s)" in err
            assert main(["shape-reconstruct", "--mask", str(mp), "--out",
                         str(tmp_path / "rec"), "--degrees", "1"]) == 0
            assert "note:" in capsys.readouterr().err
    # the helper reads feature rows after a CSV round trip (strings) and SPHARM diagnostics
    assert low_resolution_note([("a", {"diag_shape_low_resolution": "False"}),
                                ("b", {"low_resolution": False})]) is None
    note = low_resolution_note([("a", {"diag_shape_low_resolution": "True",
                                       "diag_shape_min_extent_voxels": "3.0"}),
                                ("b", {"low_resolution": True, "min_extent_voxels": 4}),
                                ("c", {"diag_shape_low_resolution": float("nan")})])
    assert note.startswith("2 tumour(s)")
    assert note.split("brackets): ")[1].split(". ")[0] == "a (3), b (4)"


def test_evaluate_segmentation_writes_strict_json_and_names_the_files(tmp_path, capsys):
    """An empty prediction has no surface distances: they are written as null (the file is
    strict JSON that other programs read), not NaN; masks on different grids are named by their
    files, not as "prediction" / "reference"."""
    import json

    import numpy as np
    import SimpleITK as sitk

    ref = np.zeros((8, 10, 12), np.uint8)
    ref[2:6, 3:7, 4:8] = 1
    for name, arr, spacing in (("ref", ref, (1.0, 1.0, 2.0)), ("empty", 0 * ref, (1.0, 1.0, 2.0)),
                               ("other", ref, (1.1, 1.0, 2.0))):
        img = sitk.GetImageFromArray(arr)
        img.SetSpacing(spacing)
        sitk.WriteImage(img, str(tmp_path / f"{name}.nii.gz"))
    out = tmp_path / "m.json"
    assert main(["evaluate-segmentation", "--pred", str(tmp_path / "empty.nii.gz"), "--ref",
                     str(tmp_path / "ref.nii.gz"), "--out", str(out)]) == 0

    def no_constants(c):
        raise ValueError(f"non-standard JSON constant {c}")

    m = json.loads(out.read_text(), parse_constant=no_constants)
    assert m["dice"] == 0.0 and m["hd95_mm"] is None and m["n_pred"] == 0
    capsys.readouterr()
    assert main(["evaluate-segmentation", "--pred", str(tmp_path / "other.nii.gz"), "--ref",
                     str(tmp_path / "ref.nii.gz")]) == 1
    err = capsys.readouterr().err
    assert "other.nii.gz" in err and "ref.nii.gz" in err and "spacing" in err


def test_evaluate_segmentation_reads_references_as_the_other_commands_do(tmp_path, capsys,
                                                                           caplog):
    """A multi-label reference counts every label (as documented) with a warning naming them; a
    Slicer .seg.nrrd is read by segment name (layers too); the same grid stored in another
    voxel order is reordered, not refused (an audit found the first silent, the second refused
    or merged, the third refused)."""
    import json

    import numpy as np
    import SimpleITK as sitk
    import slicerio

    pred = np.zeros((8, 10, 12), np.uint8)
    pred[2:6, 3:7, 4:8] = 1
    lab = pred.copy()
    lab[2:6, 3:7, 8:10] = 2                                 # a neighbour, not the tumour
    img = sitk.GetImageFromArray(pred)
    img.SetSpacing((1.0, 1.0, 2.0))
    sitk.WriteImage(img, str(tmp_path / "pred.nii.gz"))
    multi = sitk.GetImageFromArray(lab)
    multi.CopyInformation(img)
    sitk.WriteImage(multi, str(tmp_path / "multi.nii.gz"))
    sitk.WriteImage(sitk.DICOMOrient(img, "RAS"), str(tmp_path / "ras.nii.gz"))
    ijk = np.eye(4)
    ijk[:3, :3] = np.diag(img.GetSpacing())
    seg = slicerio.create_segmentation(pred.transpose(2, 1, 0).shape, ijk)
    slicerio.add_segment(seg, (lab > 0).transpose(2, 1, 0), {"id": "S1", "name": "organ"})
    slicerio.add_segment(seg, (lab == 1).transpose(2, 1, 0), {"id": "S2", "name": "GTV"})
    slicerio.write_segmentation(str(tmp_path / "ref.seg.nrrd"), seg)

    def dice(*args):
        out = tmp_path / "m.json"
        assert main(["evaluate-segmentation", "--pred", str(tmp_path / "pred.nii.gz"),
                     "--out", str(out), *args]) == 0
        return json.loads(out.read_text())["dice"]

    with caplog.at_level("WARNING"):
        assert dice("--ref", str(tmp_path / "multi.nii.gz")) == pytest.approx(2 * 64 / (64 + 96))
    assert any("multi.nii.gz holds labels [1, 2]: every non-zero voxel counts" in r.getMessage()
               for r in caplog.records)
    assert dice("--ref", str(tmp_path / "multi.nii.gz"), "--ref-label", "1") == 1.0
    assert dice("--ref", str(tmp_path / "ref.seg.nrrd"), "--ref-label", "GTV") == 1.0
    assert dice("--ref", str(tmp_path / "ras.nii.gz")) == 1.0
    capsys.readouterr()
    assert main(["evaluate-segmentation", "--pred", str(tmp_path / "pred.nii.gz"), "--ref",
                 str(tmp_path / "ref.seg.nrrd")]) == 1
    assert "no segment was chosen (present: ['organ', 'GTV'])" in capsys.readouterr().err


def test_ctrl_c_while_the_commands_are_imported_is_one_line(monkeypatch, capsys):
    """A Ctrl-C in the first fraction of a second (the command modules being imported) gives the
    documented 'interrupted' and exit 130, not a traceback (cohort audit, pass 49)."""
    import PanCancerSubtypeLib.cli as cli

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["features", "--help"]) == 130
    assert capsys.readouterr().err.strip() == "interrupted"


def test_the_label_setting_of_a_radiomics_params_file_chooses_the_label(tmp_path, capsys):
    """A PyRadiomics parameter file's 'label: 2' is used where no --label is given, as
    PyRadiomics itself does (audit: it was dropped and label 1 measured: 143 voxels where
    PyRadiomics with the same file measures label 2's 144); a --label given wins."""
    from PanCancerSubtypeLib.cohort import run_cohort

    im, mk, info = make_phantom("CT", size_xyz=(48, 48, 24), radius_mm=6, seed=1)
    arr = sitk.GetArrayFromImage(mk).astype("uint8")
    arr[arr > 0] = 1
    lab2 = arr.copy() * 0
    lab2[2:8, 2:10, 2:10] = 1               # a 6 x 8 x 8 block far from the sphere
    arr[lab2 > 0] = 2
    m2 = sitk.GetImageFromArray(arr)
    m2.CopyInformation(mk)
    ip, mp = tmp_path / "im.nii.gz", tmp_path / "m.nii.gz"
    sitk.WriteImage(im, str(ip))
    sitk.WriteImage(m2, str(mp))
    params = tmp_path / "p.yaml"
    params.write_text("setting:\n  label: 2\nfeatureClass:\n  shape: [VoxelVolume]\n")
    out = tmp_path / "f.csv"
    assert main(["features", "--image", str(ip), "--mask", str(mp), "--groups", "radiomics",
                 "--radiomics-params", str(params), "--out", str(out)]) == 0
    assert "label: 2 (the 'label' setting of" in capsys.readouterr().err
    assert pd.read_csv(out).loc[0, "diag_radiomics_VoxelNum"] == 6 * 8 * 8
    assert main(["features", "--image", str(ip), "--mask", str(mp), "--groups", "radiomics",
                 "--radiomics-params", str(params), "--label", "1", "--out", str(out)]) == 0
    assert pd.read_csv(out).loc[0, "diag_radiomics_VoxelNum"] == (arr == 1).sum()
    pd.DataFrame({"ID": ["a", "b"], "Image": [str(ip)] * 2, "Mask": [str(mp)] * 2,
                  "Label": ["", "1"]}).to_csv(tmp_path / "man.csv", index=False)
    t = run_cohort(tmp_path / "man.csv", tmp_path / "c.csv", groups="radiomics",
                   group_options={"radiomics": {"params": str(params)}}, workers=1,
                   progress=False)
    assert t["diag_radiomics_VoxelNum"].tolist() == [6 * 8 * 8, (arr == 1).sum()]


def test_features_with_a_failed_group_says_how_many_were_computed(tmp_path, capsys):
    """An MR case without an organ: the regional group cannot choose its parenchyma.  The row
    is written with its error and exit 1, and the line says "293 of 313 features" (it said
    313) and how to choose the parenchyma on the command line (it named an API argument)."""
    _, (ip, mp), _ = _phantom_files(tmp_path, "MR")
    out = tmp_path / "f.csv"
    rc = main(["features", "--image", str(ip), "--mask", str(mp), "--modality", "MR",
               "--groups", "shape,regional", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and out.is_file()
    assert "im: 293 of 313 features ->" in err
    assert "--set regional.parenchyma=none" in err and "--organ" in err
    assert main(["features", "--image", str(ip), "--mask", str(mp), "--modality", "MR",
                 "--groups", "regional", "--set", "regional.parenchyma=none",
                 "--out", str(out)]) == 0
    assert "im: 20 features ->" in capsys.readouterr().err
