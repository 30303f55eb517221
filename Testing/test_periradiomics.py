"""Peri-tumoural and multi-image radiomics: the ring against a brute-force distance, PyRadiomics
on the ring against NumPy, prefixed columns, the multi-image manifest (one row per patient equal to
single-image runs), blocks per ROI / image and the combined signature, the commands."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

pytest.importorskip("radiomics")

from PanCancerSubtypeLib.errors import ManifestError, TumourTooSmallError  # noqa: E402
from PanCancerSubtypeLib.io import load_case  # noqa: E402
from PanCancerSubtypeLib.multiimage import expand_manifest, run_multi_image_cohort  # noqa: E402
from PanCancerSubtypeLib.multisignature import CombinedSignature, feature_blocks  # noqa: E402
from PanCancerSubtypeLib.radiomics import (PeritumouralFeatures, RadiomicsFeatures,  # noqa: E402
                                           peritumoural_prefix, peritumoural_ring)
from PanCancerSubtypeLib.synthetic import make_phantom  # noqa: E402

FIRSTORDER = {"setting": {"binWidth": 25}, "imageType": {"Original": {}},
              "featureClass": {"firstorder": []}}


def _ball_case(spacing=(1.0, 1.0, 2.0), organ=None, seed=0):
    rng = np.random.default_rng(seed)
    nz, ny, nx = 20, 40, 40
    z, y, x = np.meshgrid(np.arange(nz) * spacing[2], np.arange(ny) * spacing[1],
                          np.arange(nx) * spacing[0], indexing="ij")
    c = (20.0, 20.0, 20.0)
    t = (x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2 <= 7.0 ** 2
    img = rng.normal(100, 10, t.shape).astype(np.float32)
    im = sitk.GetImageFromArray(img)
    im.SetSpacing(spacing)
    mk = sitk.GetImageFromArray(t.astype(np.uint8))
    mk.CopyInformation(im)
    om = None
    if organ is not None:
        om = sitk.GetImageFromArray(organ(x, y, z).astype(np.uint8))
        om.CopyInformation(im)
    return load_case(im, mk, organ_mask=om, modality="MR", case_id="ball"), (x, y, z), t


def _brute_ring(coords, t, width):
    """Voxels outside the tumour whose nearest tumour voxel centre is within ``width`` mm."""
    from scipy.spatial.distance import cdist

    pts = np.stack([c[t] for c in coords], axis=1)
    cand = np.stack([c[~t] for c in coords], axis=1)
    dmin = np.concatenate([cdist(cand[i:i + 4000], pts).min(axis=1)
                           for i in range(0, len(cand), 4000)])
    out = np.zeros(t.shape, bool)
    out[~t] = dmin <= width + 1e-9
    return out


def test_prefix():
    assert peritumoural_prefix(5) == "peri5mm_"
    assert peritumoural_prefix(2.5) == "peri2p5mm_"


def test_ring_equals_brute_force_distance():
    case, coords, t = _ball_case()
    ring = peritumoural_ring(case, 3.0)
    np.testing.assert_array_equal(ring, _brute_ring(coords, t, 3.0))
    assert not (ring & t).any()


def test_ring_within_organ():
    case, coords, t = _ball_case(organ=lambda x, y, z: x <= 20.0)
    ring = peritumoural_ring(case, 3.0, within_organ=True)
    full = peritumoural_ring(case, 3.0)
    np.testing.assert_array_equal(ring, full & (coords[0] <= 20.0))
    assert 0 < ring.sum() < full.sum()


def test_peritumoural_features_equal_numpy_on_the_ring():
    case, _, _ = _ball_case()
    g = PeritumouralFeatures(FIRSTORDER, width_mm=3.0)
    row = g.compute(case)
    ring = peritumoural_ring(case, 3.0)
    vals = sitk.GetArrayFromImage(case.image)[ring].astype(float)
    assert row["peri3mm_original_firstorder_Mean"] == pytest.approx(vals.mean(), rel=1e-6)
    assert row["peri3mm_original_firstorder_Maximum"] == pytest.approx(vals.max(), rel=1e-6)
    assert row["diag_radiomics_peri3mm_VoxelNum"] == ring.sum()
    names = {s.name for s in g.specs()}
    assert names == {k for k in row if not k.startswith("diag_")}
    assert all(n.startswith("peri3mm_") for n in names)
    assert g.options()["width_mm"] == 3.0
    # the tumour's own features keep PyRadiomics' names
    intra = RadiomicsFeatures(FIRSTORDER).compute(case)
    t_vals = sitk.GetArrayFromImage(case.image)[case.mask_array()].astype(float)
    assert intra["original_firstorder_Mean"] == pytest.approx(t_vals.mean(), rel=1e-6)


def test_empty_ring_is_an_error():
    case, _, _ = _ball_case(organ=lambda x, y, z: (x - 20) ** 2 + (y - 20) ** 2
                            + (z - 20) ** 2 <= 7.0 ** 2)
    with pytest.raises(TumourTooSmallError, match="ring is empty inside the organ mask"):
        PeritumouralFeatures(FIRSTORDER, width_mm=2, within_organ=True).compute(case)
    with pytest.raises(ValueError, match="> 0"):
        PeritumouralFeatures(FIRSTORDER, width_mm=0)


def test_registry_knows_the_group():
    from PanCancerSubtypeLib import registry

    specs = registry.all_specs("peritumoural")
    assert specs and all(s.name.startswith("peri5mm_") for s in specs)
    assert specs[0].extra["roi"] == "peri5mm"


# ------------------------------------------------------------------------------ multi-image
@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    d = tmp_path_factory.mktemp("multi")
    rows = []
    for i in range(3):
        row = {"ID": f"p{i}", "CancerType": "brain", "Modality": "MR"}
        for name, seed, r in (("T1", 10 + i, 7.0), ("T2", 20 + i, 9.0)):
            if name == "T2" and i == 2:
                row.update({"Image_T2": "", "Mask_T2": ""})     # p2 has no T2
                continue
            im, mk, _ = make_phantom("MR", size_xyz=(40, 40, 16), spacing_xyz=(1.0, 1.0, 2.0),
                                     radius_mm=r, seed=seed)
            sitk.WriteImage(im, str(d / f"p{i}_{name}.nrrd"))
            sitk.WriteImage(mk, str(d / f"p{i}_{name}_mask.nrrd"))
            row.update({f"Image_{name}": f"p{i}_{name}.nrrd",
                        f"Mask_{name}": f"p{i}_{name}_mask.nrrd"})
        rows.append(row)
    man = d / "manifest.csv"
    pd.DataFrame(rows).to_csv(man, index=False)
    return d, man


def test_expand_manifest(multi):
    d, man = multi
    long, names = expand_manifest(man)
    assert names == ["T1", "T2"]
    assert list(long["ID"]) == ["p0__T1", "p0__T2", "p1__T1", "p1__T2", "p2__T1"]
    assert long.loc[0, "Image"] == str((d / "p0_T1.nrrd").resolve())
    assert set(long["Modality"]) == {"MR"} and set(long["Organ"]) == {"brain"}


def test_expand_manifest_errors(tmp_path):
    bad = pd.DataFrame({"ID": ["a"], "Image_T1": ["x.nrrd"]})
    with pytest.raises(ManifestError, match=r"Mask_T1"):
        expand_manifest(bad)
    with pytest.raises(ManifestError, match="needs an ID column"):
        expand_manifest(pd.DataFrame({"Image_T1": ["x"], "Mask_T1": ["y"]}))
    with pytest.raises(ManifestError, match="duplicate IDs"):
        expand_manifest(pd.DataFrame({"ID": ["a", "a"], "Image_T1": ["x", "y"],
                                      "Mask_T1": ["m", "n"]}))
    with pytest.raises(ManifestError, match="no Mask_T1"):
        expand_manifest(pd.DataFrame({"ID": ["a"], "Image_T1": ["x"], "Mask_T1": [""]}))
    # audit: an image name with "_" was dropped without a word, and so was a patient without
    # any image
    with pytest.raises(ManifestError, match=r"\['Image_MR_T1'\]: an image name is letters"):
        expand_manifest(pd.DataFrame({"ID": ["a"], "Image_CT": ["x"], "Mask_CT": ["m"],
                                      "Image_MR_T1": ["y"], "Mask_MR_T1": ["n"]}))
    with pytest.raises(ManifestError, match=r"row\(s\) 3 \(b\) have no image"):
        expand_manifest(pd.DataFrame({"ID": ["a", "b"], "Image_T1": ["x", ""],
                                      "Mask_T1": ["m", ""]}))


def test_multi_image_cohort_equals_single_image_runs(multi, tmp_path):
    from PanCancerSubtypeLib.features import extract_features

    d, man = multi
    opts = {"radiomics": {"params": FIRSTORDER},
            "peritumoural": {"params": FIRSTORDER, "width_mm": 3.0}}
    wide = run_multi_image_cohort(man, tmp_path / "wide.csv", groups="radiomics,peritumoural",
                                  group_options=opts, progress=False)
    assert list(wide["ID"]) == ["p0", "p1", "p2"] and (wide["error"] == "").all()
    assert (tmp_path / "wide.csv.per_image.csv").is_file()
    on_disk = pd.read_csv(tmp_path / "wide.csv")
    assert list(on_disk.columns) == list(wide.columns)
    for col in ("T1_original_firstorder_Mean", "T2_original_firstorder_Mean",
                "T1_peri3mm_original_firstorder_Mean", "T2_peri3mm_original_firstorder_Mean"):
        assert col in wide.columns
    case = load_case(d / "p1_T2.nrrd", d / "p1_T2_mask.nrrd", modality="MR")
    single = extract_features(case, groups="radiomics,peritumoural", group_options=opts)
    assert wide.loc[1, "T2_original_firstorder_Mean"] == pytest.approx(
        single["original_firstorder_Mean"], rel=1e-12)
    assert wide.loc[1, "T2_peri3mm_original_firstorder_Median"] == pytest.approx(
        single["peri3mm_original_firstorder_Median"], rel=1e-12)
    assert np.isnan(wide.loc[2, "T2_original_firstorder_Mean"])      # no T2 for p2
    assert not any(c.startswith("T1_diag") for c in wide.columns)
    blocks = feature_blocks([c for c in wide.columns if "firstorder" in c])
    assert set(blocks) == {"T1_intra", "T1_peri3mm", "T2_intra", "T2_peri3mm"}
    assert all(len(v) == 18 for v in blocks.values())


def test_cohort_features_command_reads_a_multi_image_manifest(multi, tmp_path):
    import json

    from PanCancerSubtypeLib.cli import main

    _, man = multi
    params = tmp_path / "p.json"
    params.write_text(json.dumps(FIRSTORDER))
    out = tmp_path / "o.csv"
    rc = main(["cohort-features", "--manifest", str(man), "--out", str(out), "--groups",
               "radiomics,peritumoural", "--radiomics-params", str(params), "--peri-mm", "4",
               "--no-progress"])
    assert rc == 0
    tab = pd.read_csv(out)
    assert len(tab) == 3 and "T2_peri4mm_original_firstorder_Mean" in tab.columns


def test_feature_blocks_single_image():
    cols = ["original_firstorder_Mean", "wavelet-LLH_glcm_Idm", "peri5mm_original_firstorder_Mean",
            "peri10mm_wavelet-HHH_firstorder_Mean", "shape_volume_mm3", "regional_TC_mean"]
    b = feature_blocks(cols)
    assert b == {"intra": ["original_firstorder_Mean", "wavelet-LLH_glcm_Idm", "shape_volume_mm3",
                           "regional_TC_mean"],
                 "peri5mm": ["peri5mm_original_firstorder_Mean"],
                 "peri10mm": ["peri10mm_wavelet-HHH_firstorder_Mean"]}
    assert set(feature_blocks(["US_original_a_b", "MR_peri5mm_original_a_b"], images=["US", "MR"])
               ) == {"US_intra", "MR_peri5mm"}


def test_feature_blocks_of_a_subset_of_the_images(caplog):
    """Columns of images not listed are left out and named (audit: with images=["T1c"],
    FLAIR's tumour and ring features all went into an "intra" block)."""
    cols = ["T1c_original_firstorder_Mean", "T1c_peri5mm_original_firstorder_Mean",
            "FLAIR_original_firstorder_Mean", "FLAIR_peri5mm_original_firstorder_Mean",
            "shape_volume_mm3"]
    with caplog.at_level("WARNING"):
        b = feature_blocks(cols, images=["T1c"])
    assert b == {"T1c_intra": ["T1c_original_firstorder_Mean"],
                 "T1c_peri5mm": ["T1c_peri5mm_original_firstorder_Mean"],
                 "intra": ["shape_volume_mm3"]}
    assert "images not listed left out: FLAIR_ (2)" in caplog.text
    assert set(feature_blocks(cols)) == {"T1c_intra", "T1c_peri5mm", "FLAIR_intra",
                                         "FLAIR_peri5mm", "intra"}


def test_combined_signature_weights_the_informative_block():
    rng = np.random.default_rng(0)
    n = 160
    X = pd.DataFrame(rng.normal(size=(n, 12)),
                     columns=[f"US_original_f{i}" for i in range(6)] +
                             [f"MR_peri5mm_original_f{i}" for i in range(6)])
    risk = 1.0 * X["US_original_f0"] + 0.8 * X["MR_peri5mm_original_f1"]
    t = rng.exponential(np.exp(-risk))
    c = rng.exponential(2.0, n)
    time, event = np.minimum(t, c), (t <= c).astype(int)
    sig = CombinedSignature(n_alphas=20, cv=3, stack_folds=3, random_state=0).fit(X, time, event)
    assert set(sig.weights_.index) == {"US_intra", "MR_peri5mm"}
    assert (sig.weights_ > 0).all()
    assert "US_original_f0" in sig.block_models_["US_intra"].selected_features_
    assert sig.oof_c_index_["combined"] > max(sig.oof_c_index_["US_intra"],
                                              sig.oof_c_index_["MR_peri5mm"]) - 0.01
    assert sig.oof_c_index_["combined"] > 0.7
    np.testing.assert_allclose(sig.predict(X), sig.transform(X).to_numpy() @ sig.weights_)
    s = sig.summary()
    assert list(s["block"]) == ["US_intra", "MR_peri5mm", "combined"]


def test_roi_signature_command(tmp_path):
    from PanCancerSubtypeLib.cli import main

    rng = np.random.default_rng(1)
    n = 120
    X = pd.DataFrame(rng.normal(size=(n, 6)), columns=[f"original_f{i}" for i in range(3)] +
                     [f"peri5mm_original_f{i}" for i in range(3)])
    t = rng.exponential(np.exp(-X["original_f0"]))
    c = rng.exponential(2.0, n)
    X.insert(0, "ID", [f"P{i}" for i in range(n)])
    X.to_csv(tmp_path / "f.csv", index=False)
    pd.DataFrame({"ID": X["ID"], "time": np.minimum(t, c), "event": (t <= c).astype(int)}
                 ).to_csv(tmp_path / "c.csv", index=False)
    rc = main(["roi-signature", "--features", str(tmp_path / "f.csv"), "--table",
               str(tmp_path / "c.csv"), "--time", "time", "--event", "event", "--cv", "3",
               "--stack-folds", "3", "--out", str(tmp_path / "o")])
    assert rc == 0
    s = pd.read_csv(tmp_path / "o" / "blocks.csv")
    assert list(s["block"]) == ["intra", "peri5mm", "combined"]
    sc = pd.read_csv(tmp_path / "o" / "radscores.csv")
    assert list(sc.columns) == ["ID", "intra", "peri5mm", "combined"] and len(sc) == n
    # an --images name no column starts with is named (it renamed the blocks silently, exit 0)
    rc = main(["roi-signature", "--features", str(tmp_path / "f.csv"), "--table",
               str(tmp_path / "c.csv"), "--time", "time", "--event", "event", "--cv", "3",
               "--stack-folds", "3", "--images", "T1", "--out", str(tmp_path / "o2")])
    assert rc == 2 and not (tmp_path / "o2").exists()


@pytest.mark.shared_data
def test_sarcoma_ct_mr_pairs(shared_data, tmp_path):
    """Real paired CT + MR (IBSI soft-tissue sarcoma), each with its own mask."""
    pairs = pd.read_csv(shared_data / "IBSI_soft_tissue_sarcoma_CT_MR" / "pairs.csv")
    base = shared_data / "IBSI_soft_tissue_sarcoma_CT_MR"
    rows = []
    for pid, g in list(pairs.groupby("patient_id", sort=True))[:2]:
        r = {"ID": pid}
        for _, x in g.iterrows():
            r[f"Image_{x['modality']}"] = str(base / x["image"])
            r[f"Mask_{x['modality']}"] = str(base / x["mask"])
            r[f"Modality_{x['modality']}"] = x["modality"]
        rows.append(r)
    man = tmp_path / "m.csv"
    pd.DataFrame(rows).to_csv(man, index=False)
    opts = {"radiomics": {"params": FIRSTORDER}, "peritumoural": {"params": FIRSTORDER}}
    wide = run_multi_image_cohort(man, tmp_path / "w.csv", groups="radiomics,peritumoural",
                                  group_options=opts, progress=False)
    assert (wide["error"] == "").all(), wide["error"].tolist()
    for m in ("CT", "MR"):
        assert wide[f"{m}_original_firstorder_Mean"].notna().all()
        assert wide[f"{m}_peri5mm_original_firstorder_Mean"].notna().all()
    ct = load_case(rows[0]["Image_CT"], rows[0]["Mask_CT"], modality="CT")
    v = sitk.GetArrayFromImage(ct.image)[ct.mask_array()].astype(float)
    assert wide.loc[0, "CT_original_firstorder_Mean"] == pytest.approx(v.mean(), rel=1e-6)


def test_report_section(tmp_path):
    """Survival planted on the tumour size: the intra-tumoural block carries the signal."""
    from PanCancerSubtypeLib.multisignature import report_section
    from PanCancerSubtypeLib.report import Report

    rng = np.random.default_rng(5)
    rows = []
    for i in range(30):
        r = float(rng.uniform(5, 11))
        im, mk, _ = make_phantom("MR", size_xyz=(40, 40, 14), spacing_xyz=(1.0, 1.0, 2.0),
                                 radius_mm=r, seed=100 + i)
        sitk.WriteImage(im, str(tmp_path / f"c{i}.nrrd"))
        sitk.WriteImage(mk, str(tmp_path / f"c{i}_m.nrrd"))
        t = rng.exponential(20 * np.exp(-0.6 * (r - 8)))
        c = rng.uniform(10, 40)
        rows.append({"ID": f"c{i}", "Image": str(tmp_path / f"c{i}.nrrd"),
                     "Mask": str(tmp_path / f"c{i}_m.nrrd"), "Modality": "MR",
                     "time": min(t, c), "event": int(t <= c)})
    man = pd.DataFrame(rows)
    rep = Report("t")
    out = report_section(rep, man, tmp_path, width_mm=3.0)
    assert out["n"] == 30 and out["n_failed"] == 0
    assert set(out["oof_c_index"]) >= {"intra", "combined"}
    assert out["oof_c_index"]["intra"] > 0.6
    assert rep.sections[-1][0] == "peritumoural"
    assert (tmp_path / "peritumoural_features.csv").is_file()
