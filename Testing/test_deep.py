"""Deep image features: configuration, network shapes, crops against an analytic image, noise,
CPU determinism, the safetensors + JSON model (checksums), the feature group and the commands."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

torch = pytest.importorskip("torch")

from PanCancerSubtypeLib.deep import (DeepEncoder, DeepEncoderConfig, DeepFeatures,  # noqa: E402
                                      build_autoencoder, corrupt, crop_geometry,
                                      deep_feature_names, train_deep_encoder, tumour_crops)
from PanCancerSubtypeLib.errors import ModelBundleError  # noqa: E402
from PanCancerSubtypeLib.io import load_case  # noqa: E402

TINY = dict(crop=16, channels=(4, 8), code_size=64, epochs=3, batch_size=8, n_slices=3,
            num_threads=1, device="cpu")


def test_config_validation():
    DeepEncoderConfig().validate()
    assert DeepEncoderConfig().code_size == 4096 and DeepEncoderConfig().code_channels == 64
    with pytest.raises(ValueError, match="multiple of the code grid's 64 cells"):
        DeepEncoderConfig(code_size=1000).validate()
    with pytest.raises(ValueError, match="multiple of 2\\^3"):
        DeepEncoderConfig(crop=60).validate()
    with pytest.raises(ValueError, match="unknown deep encoder setting"):
        DeepEncoderConfig.from_dict({"crop": 32, "colour": 1})
    cfg = DeepEncoderConfig.from_dict(DeepEncoderConfig(dims=3, crop=32).to_dict())
    assert cfg.channels == (16, 32, 64) and cfg.grid == 4


@pytest.mark.parametrize("kw,shape", [({}, (2, 1, 64, 64)),
                                      ({"dims": 3, "crop": 32}, (2, 1, 32, 32, 32)),
                                      ({"code_size": 128, "mask_channel": True},
                                       (2, 2, 64, 64))])
def test_network_shapes(kw, shape):
    cfg = DeepEncoderConfig(**kw)
    net = build_autoencoder(cfg)
    x = torch.zeros(shape)
    assert net.encode(x).shape == (2, cfg.code_size)
    assert net(x).shape == shape


def _ramp_case(modality="CT"):
    """Image value = x coordinate in mm (x spacing 0.8 mm); a box tumour."""
    nz, ny, nx = 12, 50, 60
    sx, sy, sz = 0.8, 1.0, 2.5
    x = (np.arange(nx) * sx)[None, None, :].repeat(ny, 1).repeat(nz, 0)
    img = sitk.GetImageFromArray(x.astype(np.float32))
    img.SetSpacing((sx, sy, sz))
    m = np.zeros((nz, ny, nx), np.uint8)
    m[4:8, 20:30, 25:35] = 1
    m[5, 19:31, 24:36] = 1                    # slice 5 has the largest area
    mk = sitk.GetImageFromArray(m)
    mk.CopyInformation(img)
    return load_case(img, mk, modality=modality, case_id="ramp")


def test_crops_of_an_analytic_image():
    case = _ramp_case()
    cfg = DeepEncoderConfig(crop=16, channels=(4, 8), code_size=64, field_mm=12.8, n_slices=2,
                            ct_window=(0.0, 100.0), mask_channel=True)
    centre, field, slices = crop_geometry(case, cfg)
    np.testing.assert_allclose(centre, [5.5, 24.5, 29.5])
    assert field == 12.8 and list(slices) == [4, 5]        # the two largest cross-sections
    crops = tumour_crops(case, cfg)
    assert crops.shape == (2, 2, 16, 16) and crops.dtype == np.float32
    # pixel j of the crop is at x = (29.5 + (j - 7.5) * 0.8 / 0.8) voxels = that * 0.8 mm
    x_mm = (29.5 + (np.arange(16) - 7.5) * (12.8 / 16) / 0.8) * 0.8
    np.testing.assert_allclose(crops[0, 0], np.tile(x_mm / 100.0, (16, 1)), atol=1e-6)
    # mask channel: slice 5 box spans y 19..30, x 24..35 -> pixel rows/cols where it is inside
    ys = 24.5 + (np.arange(16) - 7.5) * (12.8 / 16) / 1.0
    xs = 29.5 + (np.arange(16) - 7.5) * (12.8 / 16) / 0.8
    near_y, near_x = np.floor(ys + 0.5), np.floor(xs + 0.5)     # nearest voxel, halves up
    inside = (near_y[:, None] >= 19) & (near_y[:, None] <= 30) & \
        (near_x[None, :] >= 24) & (near_x[None, :] <= 35)
    np.testing.assert_array_equal(crops[1, 1] > 0.5, inside)
    # adaptive field: context x the largest in-plane extent (12 voxels of 1 mm in y, 12 of 0.8 mm)
    cfg2 = DeepEncoderConfig(crop=16, channels=(4, 8), code_size=64, context=2.0,
                             min_field_mm=1.0)
    assert crop_geometry(case, cfg2)[1] == pytest.approx(24.0)
    cube = tumour_crops(case, DeepEncoderConfig(dims=3, crop=16, channels=(4, 8), code_size=64))
    assert cube.shape == (1, 1, 16, 16, 16)


def test_mr_normalisation_is_the_segmentation_rule():
    from PanCancerSubtypeLib.segmentation import normalise

    case = _ramp_case("MR")
    cfg = DeepEncoderConfig(crop=16, channels=(4, 8), code_size=64, field_mm=10.0, n_slices=1)
    crops = tumour_crops(case, cfg)
    norm = normalise(sitk.GetArrayFromImage(case.image), "MR", cfg)
    assert crops.max() <= 1.0 and crops.min() >= 0.0
    # the central pixel pair straddles x = 29.5 voxels: the mean of two normalised columns
    assert crops[0, 0, 8, 7:9].mean() == pytest.approx(norm[5, 24:26, 29:31].mean(), abs=1e-5)


def test_corruption():
    cfg = DeepEncoderConfig(noise_std=0.2, mask_noise=0.25)
    x = torch.ones((64, 2, 16, 16))
    g = torch.Generator().manual_seed(0)
    y = corrupt(x, cfg, g)
    assert torch.equal(y[:, 1], x[:, 1])                     # the mask channel stays clean
    zero = (y[:, 0] == 0).float().mean().item()
    assert zero == pytest.approx(0.25, abs=0.02)
    kept = y[:, 0][y[:, 0] != 0] - 1.0
    assert kept.std().item() == pytest.approx(0.2, rel=0.05)
    y2 = corrupt(x, cfg, torch.Generator().manual_seed(0))
    assert torch.equal(y, y2)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    from PanCancerSubtypeLib.synthetic import write_phantom_cohort

    d = tmp_path_factory.mktemp("deep")
    return write_phantom_cohort(d, n=5, seed=3, modality="MR", size_xyz=(40, 40, 16))


@pytest.fixture(scope="module")
def trained(cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("enc")
    enc = train_deep_encoder(cohort, out / "a", DeepEncoderConfig(**TINY, seed=1))
    return enc, out


def test_training_is_deterministic_on_the_cpu(trained, cohort):
    from PanCancerSubtypeLib.files import read_json, sha256_file

    enc, out = trained
    again = train_deep_encoder(cohort, out / "b", DeepEncoderConfig(**TINY, seed=1))
    a, b = read_json(out / "a" / "deep_encoder.json"), read_json(out / "b" / "deep_encoder.json")
    assert a["weights_sha256"] == b["weights_sha256"] == sha256_file(
        out / "a" / "deep_encoder.safetensors")
    assert a["history"] == b["history"]
    other = train_deep_encoder(cohort, out / "c", DeepEncoderConfig(**TINY, seed=2))
    assert other.meta["weights_sha256"] != a["weights_sha256"]
    assert len(a["cases"]) == 5 and len(a["validation_cases"]) == 0     # round(0.5) = 0
    assert a["code"] == {"layer": "code", "size": 64, "channels": 4, "grid": 4,
                         "order": "channel, then grid position (z, y, x)"}
    assert a["n_training_crops"] == 15 and len(a["history"]) == 3
    assert torch.get_num_threads() >= 1 and not torch.are_deterministic_algorithms_enabled()


def test_save_load_and_checksum(trained, cohort, tmp_path):
    import shutil

    enc, out = trained
    loaded = DeepEncoder.load(out / "a")
    man = pd.read_csv(cohort)
    case = load_case(cohort.parent / man.loc[0, "Image"], cohort.parent / man.loc[0, "Mask"],
                     modality="MR")
    np.testing.assert_array_equal(loaded.case_features(case), enc.case_features(case))
    assert loaded.unit_layout(17) == {"layer": "code", "channel": 1, "position": (0, 1)}
    bad = tmp_path / "bad"
    shutil.copytree(out / "a", bad)
    w = bytearray((bad / "deep_encoder.safetensors").read_bytes())
    w[-1] ^= 1
    (bad / "deep_encoder.safetensors").write_bytes(bytes(w))
    with pytest.raises(ModelBundleError, match="checksum"):
        DeepEncoder.load(bad)
    (bad / "deep_encoder.safetensors").unlink()
    with pytest.raises(ModelBundleError, match="missing deep_encoder.safetensors"):
        DeepEncoder.load(bad)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            DeepEncoder.load(out / "a", device="cuda")


def test_feature_group(trained, cohort):
    from PanCancerSubtypeLib.features import extract_features

    enc, out = trained
    g = DeepFeatures(model=str(out / "a"))
    assert [s.name for s in g.specs()] == deep_feature_names(64) == \
        [f"deep_{u:04d}" for u in range(64)]
    assert g.specs()[5].extra == {"layer": "code", "unit": "5"}
    assert g.options()["weights_sha256"] == enc.meta["weights_sha256"]
    man = pd.read_csv(cohort)
    case = load_case(cohort.parent / man.loc[1, "Image"], cohort.parent / man.loc[1, "Mask"],
                     modality="MR")
    row = extract_features(case, instances=[g])
    crops = tumour_crops(case, enc.config)
    with torch.no_grad():
        want = enc.network.encode(torch.as_tensor(crops)).numpy().mean(axis=0)
    got = np.array([row[n] for n in deep_feature_names(64)])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    with pytest.raises(ModelBundleError, match="needs a trained encoder"):
        DeepFeatures().compute(case)
    with pytest.raises(ModelBundleError, match="not a deep encoder folder"):
        DeepFeatures(model=str(cohort.parent))


def test_registry_reports_deep_unavailable_without_torch(monkeypatch):
    import importlib.util

    from PanCancerSubtypeLib import registry

    assert registry.group_status()["deep"] == "available"
    assert len(registry.all_specs("deep")) == 4096
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    with pytest.raises(registry.GroupUnavailableError, match="needs torch"):
        registry.get_group_class("deep")


def test_commands(cohort, tmp_path, capsys):
    from PanCancerSubtypeLib.cli import main
    from PanCancerSubtypeLib.files import read_json

    rc = main(["train-deep-encoder", "--manifest", str(cohort), "--out", str(tmp_path / "m"),
               "--crop", "16", "--channels", "4,8", "--code-size", "64", "--epochs", "2",
               "--device", "cpu", "--threads", "1", "--quiet"])
    assert rc == 0
    meta = read_json(tmp_path / "m" / "deep_encoder.json")
    assert meta["config"]["code_size"] == 64 and meta["config"]["epochs"] == 2
    assert meta["torch_threads"] == 1          # what the CPU weights depend on
    out = tmp_path / "f.csv"
    rc = main(["cohort-features", "--manifest", str(cohort), "--out", str(out), "--groups",
               "deep", "--deep-model", str(tmp_path / "m"), "--no-progress"])
    assert rc == 0
    tab = pd.read_csv(out)
    assert len(tab) == 5 and (tab["error"].isna() | (tab["error"] == "")).all()
    assert [c for c in tab.columns if c.startswith("deep_")] == deep_feature_names(64)
    prov = json.loads((tmp_path / "f.csv.provenance.json").read_text())
    assert prov["parameters"]["group_options"]["deep"]["weights_sha256"] == \
        meta["weights_sha256"]
    man = pd.read_csv(cohort)
    rc = main(["features", "--image", str(cohort.parent / man.loc[2, "Image"]), "--mask",
               str(cohort.parent / man.loc[2, "Mask"]), "--modality", "MR", "--groups", "deep",
               "--deep-model", str(tmp_path / "m"), "--out", str(tmp_path / "one.csv")])
    assert rc == 0
    one = pd.read_csv(tmp_path / "one.csv")
    np.testing.assert_allclose(one[deep_feature_names(64)].to_numpy()[0],
                               tab.loc[2, deep_feature_names(64)].to_numpy(float), rtol=1e-6)
    capsys.readouterr()
    assert main(["cohort-features", "--manifest", str(cohort), "--out", str(out), "--groups",
                 "deep"]) == 2                       # a usage error, before any work
    assert "--deep-model" in capsys.readouterr().err


def test_report_section(tmp_path):
    """Small and large tumours in a fixed field of view: the deep features tell them apart."""
    from PanCancerSubtypeLib.deep.report import report_section
    from PanCancerSubtypeLib.report import Report
    from PanCancerSubtypeLib.synthetic import make_phantom

    rows, labels = [], {}
    for i in range(10):
        r = 4.5 if i % 2 else 10.0
        im, mk, _ = make_phantom("MR", size_xyz=(40, 40, 14), spacing_xyz=(1.0, 1.0, 2.0),
                                 radius_mm=r, seed=200 + i)
        sitk.WriteImage(im, str(tmp_path / f"c{i}.nrrd"))
        sitk.WriteImage(mk, str(tmp_path / f"c{i}_m.nrrd"))
        rows.append({"ID": f"c{i}", "Image": str(tmp_path / f"c{i}.nrrd"),
                     "Mask": str(tmp_path / f"c{i}_m.nrrd"), "Modality": "MR"})
        labels[f"c{i}"] = "small" if r < 5 else "large"
    rep = Report("t")
    out = report_section(rep, pd.DataFrame(rows), pd.Series(labels, name="size"),
                         tmp_path / "enc", settings=dict(crop=16, channels=(4, 8), code_size=64,
                                                         epochs=2, field_mm=36.0,
                                                         num_threads=1))
    assert out["code_size"] == 64 and out["n_cases"] == 10
    assert [a["label"] for a in out["auc"]] == ["large", "small"]
    assert out["mean_auc"] > 0.8
    assert (tmp_path / "enc" / "deep_encoder.safetensors").is_file()
    assert rep.sections[-1][0] == "deep"
