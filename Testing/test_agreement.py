"""Tests of the agreement statistics and the ``agreement`` command (issue 22).

Independent references: an ICC computed by hand (exact fractions) for a 3 x 2 table; values of
``pingouin.intraclass_corr`` (pingouin 0.7.0, rounding switched off) for two published-style
tables; the coverage of the 95% interval on simulated data with a known population ICC; synthetic
paired data whose agreement is known by construction (identical, shifted, reversed, noisy); a
synthetic CT / MR phantom pair whose tissue composition is identical by construction.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from PanCancerSubtypeLib import cli
from PanCancerSubtypeLib.agreement import (agreement_table, cross_modality_section,
                                           find_paired_data, read_paired_manifest,
                                           report_section, run_agreement, summarise)
from PanCancerSubtypeLib.errors import ManifestError
from PanCancerSubtypeLib.reliability import (ICCResult, bland_altman, bootstrap_icc_summary,
                                             icc)
from PanCancerSubtypeLib.report import Report

# ------------------------------------------------------------------------------------------ ICC
HAND = np.array([[1.0, 2.0], [3.0, 3.0], [5.0, 6.0]])


def test_icc_hand_computed():
    # grand mean 10/3; row means 1.5, 3, 5.5; column means 3, 11/3
    # SS rows = 2 * (49/36 * ... ) -> BMS = 49/6, JMS = 2/3, EMS = 1/6, WMS = 1/3
    assert icc(HAND, "3,1") == pytest.approx((49 / 6 - 1 / 6) / (49 / 6 + 1 / 6))  # 0.96
    assert icc(HAND, "3,1") == pytest.approx(0.96, abs=1e-12)
    assert icc(HAND, "2,1") == pytest.approx(12 / 13, abs=1e-12)
    assert icc(HAND, "1,1") == pytest.approx(47 / 51, abs=1e-12)
    r = icc(HAND, "3,1", ci=True)
    assert isinstance(r, ICCResult) and float(r) == pytest.approx(0.96)
    # F0 = BMS / EMS = 49 with df (2, 2); the F(2, 2) quantile at q is q / (1 - q): 39 at 0.975
    assert (r.f, r.df1, r.df2) == (pytest.approx(49.0), 2.0, 2.0)
    assert r.pvalue == pytest.approx(1 / 50, abs=1e-12)          # P(F(2,2) > 49) = 1 / (1 + 49)
    assert r.ci_low == pytest.approx(5 / 44, abs=1e-10)           # FL = 49/39: (FL-1)/(FL+1)
    assert r.ci_high == pytest.approx(1910 / 1912, abs=1e-10)     # FU = 49*39: (FU-1)/(FU+1)


# pingouin 0.7.0, pg.intraclass_corr with pg.options["round"] = None: (ICC, CI low, CI high, F, p)
PINGOUIN = {
    "shrout_fleiss": {
        "1,1": (0.1657417684054755, -0.13293232487475096, 0.722560062328121, 1.7946784922394683,
                0.16476880834463953),
        "2,1": (0.28976377952755916, 0.018786513374712058, 0.7610843696489527,
                11.027247956403299, 0.000134566516484335),
        "3,1": (0.7148407148407154, 0.34246476503392614, 0.9458582599553597, 11.027247956403299,
                0.000134566516484335)},
    "pairs": {
        "1,1": (0.9667253521126766, 0.8798131290451894, 0.9914997609643804, 59.10582010582078,
                1.7315729851359116e-07),
        "2,1": (0.9667432950191577, 0.8795233113486701, 0.9915107322214414, 61.0867877932624,
                5.399711684634508e-07),
        "3,1": (0.9677870273034639, 0.8763378237692568, 0.9919007042803822, 61.0867877932624,
                5.399711684634508e-07)},
}
TABLES = {
    "shrout_fleiss": np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6],
                               [10, 5, 6, 9], [6, 2, 4, 7]], float),
    "pairs": np.array([[1.2, 1.9], [2.4, 2.2], [3.1, 4.0], [4.8, 4.1], [5.0, 6.2], [6.3, 5.9],
                       [7.7, 8.4], [8.1, 7.2], [9.6, 9.9], [10.2, 11.5]]),
}


@pytest.mark.parametrize("table", sorted(PINGOUIN))
@pytest.mark.parametrize("kind", ["1,1", "2,1", "3,1"])
def test_icc_interval_equals_pingouin(table, kind):
    r = icc(TABLES[table], kind, ci=True)
    got = (r.icc, r.ci_low, r.ci_high, r.f, r.pvalue)
    np.testing.assert_allclose(got, PINGOUIN[table][kind], rtol=1e-9, atol=1e-12)


def test_icc_interval_coverage_on_simulated_pairs():
    # population ICC(3,1) = var(t) / (var(t) + var(e)) = 1 / (1 + 0.5^2) = 0.8 (rater offset 3)
    rng = np.random.default_rng(11)
    hits, n_sim = 0, 400
    for _ in range(n_sim):
        t = rng.normal(0, 1, 20)
        x = np.c_[t + rng.normal(0, 0.5, 20), 3 + t + rng.normal(0, 0.5, 20)]
        r = icc(x, "3,1", ci=True)
        hits += r.ci_low <= 0.8 <= r.ci_high
        assert r.ci_low <= r.icc <= r.ci_high
    assert 0.92 <= hits / n_sim <= 0.98, hits / n_sim


def test_icc_edge_cases():
    assert math.isnan(icc(np.ones((5, 2))))
    r = icc(np.ones((5, 2)), ci=True)
    assert math.isnan(r.icc) and math.isnan(r.ci_low)
    assert math.isnan(icc(np.array([[1.0, 2.0], [np.nan, 3.0]])))  # one complete row
    same = np.c_[np.arange(6.0), np.arange(6.0)]
    r = icc(same, ci=True)
    assert r.icc == r.ci_low == r.ci_high == 1.0
    assert icc(same, "2,1", ci=True).ci_high == 1.0
    with pytest.raises(ValueError):
        icc(HAND, "4,1")
    with pytest.raises(ValueError):
        icc(HAND, confidence=1.5)
    with pytest.raises(ValueError):
        icc(np.arange(5.0))
    # the segmentation stage re-exports the one ICC
    from PanCancerSubtypeLib import segmentation

    assert segmentation.icc is icc


def test_bland_altman_and_bootstrap():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    ba = bland_altman(a, a + np.array([1.0, 1.0, 3.0, 3.0]))
    assert ba["bias"] == pytest.approx(2.0)
    sd = np.std([1, 1, 3, 3], ddof=1)
    assert ba["loa_low"] == pytest.approx(2 - 1.96 * sd) and ba["loa_high"] == pytest.approx(2 + 1.96 * sd)
    assert math.isnan(bland_altman([1.0], [2.0])["sd"])
    rng = np.random.default_rng(0)
    t = rng.normal(0, 1, 30)
    tabs = [np.c_[t + rng.normal(0, s, 30), t + rng.normal(0, s, 30)] for s in (0.2, 0.5, 1.0)]
    b = bootstrap_icc_summary(tabs, n_boot=300, seed=1)
    assert b["estimate"] == pytest.approx(icc(tabs[1]))  # the median of three ICCs
    assert b["ci_low"] < b["estimate"] < b["ci_high"] and b["n_boot"] == 300
    assert bootstrap_icc_summary(tabs, n_boot=300, seed=1) == b  # seeded


def test_icc_of_one_target_drawn_n_times_is_nan_and_the_bootstrap_stays_in_range():
    """A bootstrap resample of 3 patients that draws one patient three times: every row the same
    (here with a rater offset), so there is no between-target variance and ICC(3,1) is undefined
    (NaN), not the ratio of two rounding errors (the interval's low end was -1.67, outside ICC(3,1)'s
    [-1, 1] for 2 raters). Such replicates are left out of the interval."""
    row = np.array([[0.1 + 0.2, 0.7 * 3.0]])            # values that do not round-trip exactly
    assert math.isnan(icc(np.repeat(row, 3, axis=0)))
    assert math.isnan(icc(np.repeat(row, 3, axis=0), ci=True).icc)
    assert math.isnan(icc(np.ones((4, 2))))
    rng = np.random.default_rng(2)
    tabs = [np.c_[v, 1.3 * v + rng.normal(0.0, 0.3, 3)] for v in rng.normal(0.0, 1.0, (40, 3))]
    b = bootstrap_icc_summary(tabs, n_boot=400, seed=3)
    assert -1.0 <= b["ci_low"] <= b["estimate"] <= b["ci_high"] <= 1.0
    assert 300 < b["n_boot"] < 400          # the resamples of one patient (1 in 9) left out


# ----------------------------------------------------------------------- known agreement table
def _synthetic_pairs(n=12, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.normal(0, 1, n)
    man = pd.DataFrame({"Patient": [f"P{i:02d}" for i in range(n) for _ in (0, 1)],
                        "Rater": ["CT", "MR"] * n})
    man["ID"] = man["Patient"] + "_" + man["Rater"]
    ct, mr = t, t.copy()
    feats = pd.DataFrame({"ID": man["ID"], "error": ""})
    both = np.empty(2 * n)

    def put(a, b):
        both[0::2], both[1::2] = a, b
        return both.copy()

    feats["shape_same"] = put(ct, mr)
    feats["shape_offset"] = put(ct, mr + 5.0)
    feats["regional_reversed"] = put(ct, -mr)
    noise = rng.normal(0, 0.5, n)
    feats["regional_noisy"] = put(ct, mr + noise)
    return man, feats, t, noise


def test_agreement_table_known_agreement():
    man, feats, t, noise = _synthetic_pairs()
    tab = agreement_table(feats, man).set_index("feature")
    assert list(tab.index) == ["shape_same", "shape_offset", "regional_reversed", "regional_noisy"]
    assert (tab["n"] == 12).all()
    assert tab.loc["shape_same", "icc"] == pytest.approx(1.0)
    assert tab.loc["shape_same", "spearman_rho"] == pytest.approx(1.0)
    # consistency ignores the offset; absolute agreement and Bland-Altman see it
    assert tab.loc["shape_offset", "icc"] == pytest.approx(1.0)
    assert tab.loc["shape_offset", "icc_agreement"] < 0.2
    assert tab.loc["shape_offset", "bias"] == pytest.approx(5.0)
    assert tab.loc["shape_offset", "loa_low"] == pytest.approx(5.0)
    assert tab.loc["regional_reversed", "icc"] == pytest.approx(-1.0)
    assert tab.loc["regional_reversed", "spearman_rho"] == pytest.approx(-1.0)
    expect = icc(np.c_[t, t + noise], ci=True)
    for key, v in (("icc", expect.icc), ("ci_low", expect.ci_low), ("ci_high", expect.ci_high)):
        assert tab.loc["regional_noisy", key] == pytest.approx(v)
    assert tab.loc["regional_noisy", "spread_sd"] == pytest.approx(np.std(t + noise / 2, ddof=1))
    assert tab.loc["shape_same", "mean_CT"] == pytest.approx(t.mean())
    summ = summarise(tab.reset_index(), feats, man, n_boot=200).set_index("group")
    assert summ.loc["shape", "features"] == 2 and summ.loc["shape", "median_icc"] == pytest.approx(1.0)
    assert summ.loc["regional", "n_below_0.5"] == 1
    assert summ.loc["regional", "median_icc_ci_low"] <= summ.loc["regional", "median_icc"]
    # a failed row and a patient without a pair drop out of the pairs
    feats.loc[feats["ID"] == "P00_MR", "error"] = "regional: TumourTooSmallError"
    man2 = pd.concat([man, pd.DataFrame({"Patient": ["P99"], "Rater": ["CT"], "ID": ["P99_CT"]})])
    feats2 = pd.concat([feats, pd.DataFrame({"ID": ["P99_CT"], "error": [""], "shape_same": [9.0]})])
    assert agreement_table(feats2, man2).set_index("feature").loc["shape_same", "n"] == 11


def test_read_paired_manifest(tmp_path):
    (tmp_path / "a.nii.gz").write_bytes(b"")
    rows = "patient_id,modality,image,mask\nS1,CT,a.nii.gz,a.nii.gz\nS1,MR,a.nii.gz,a.nii.gz\n" \
           "S2,CT,a.nii.gz,a.nii.gz\n"
    p = tmp_path / "pairs.csv"
    p.write_text(rows)
    man = read_paired_manifest(p)
    assert list(man["ID"]) == ["S1_CT", "S1_MR", "S2_CT"]
    assert list(man["Patient"]) == ["S1", "S1", "S2"] and list(man["Modality"]) == ["CT", "MR", "CT"]
    assert man["Image"][0] == str((tmp_path / "a.nii.gz").resolve())
    # PatientID (a cohort alias of ID) is the patient column here, not the row ID
    man = read_paired_manifest(pd.DataFrame({"PatientID": ["A", "A"], "Reader": ["r1", "r2"],
                                             "Image": ["/x", "/x"], "Mask": ["/y", "/y"]}),
                               rater_column="reader")
    assert list(man["ID"]) == ["A_r1", "A_r2"] and list(man["Rater"]) == ["r1", "r2"]
    bad = {"no patient": "modality,image,mask\nCT,a,a\nMR,a,a\n",
           "two rows": "patient,modality,image,mask\nS1,CT,a,a\nS1,CT,a,a\n",
           "one rater": "patient,modality,image,mask\nS1,CT,a,a\nS2,CT,a,a\n",
           "no rater": "patient,image,mask\nS1,a,a\n"}
    for name, text in bad.items():
        q = tmp_path / f"{name}.csv"
        q.write_text(text)
        with pytest.raises(ManifestError, match=str(q).replace("\\", "\\\\")):
            read_paired_manifest(q)
    with pytest.raises(ManifestError, match="does not exist"):
        read_paired_manifest(tmp_path / "missing.csv")


# ---------------------------------------------------------------- synthetic CT / MR phantoms
CT_HU = {"air": -1000.0, "fat": -100.0, "muscle": 50.0, "calcified": 400.0, "bone": 900.0}
MR_T1 = {"air": 5.0, "fat": 1000.0, "muscle": 300.0, "calcified": 30.0, "bone": 20.0}


def _phantom_labels(radius, core, seed):
    """Tissue labels (z, y, x) of a limb: a fat layer, muscle, a bone rod and a spherical tumour
    with a core of radius ``core[1]`` mm of tissue ``core[0]`` (fat or calcified); 2 x 1 x 1 mm
    voxels."""
    shape = (18, 48, 48)
    zz, yy, xx = np.indices(shape)
    z_mm = (zz - 8.5) * 2.0
    r_body = np.hypot(yy - 23.5, xx - 23.5)
    lab = np.full(shape, "air", dtype=object)
    lab[r_body <= 22] = "fat"
    lab[r_body <= 16 + seed % 3] = "muscle"
    lab[np.hypot(yy - 23.5, xx - 8.0) <= 3] = "bone"
    d = np.sqrt(z_mm ** 2 + (yy - 26) ** 2 + (xx - 28) ** 2)
    tumour = d <= radius
    lab[tumour] = "muscle"
    lab[d <= core[1]] = core[0]
    return lab, tumour


def _write_pair(folder, pid, radius, core, seed):
    lab, tumour = _phantom_labels(radius, core, seed)
    rng = np.random.default_rng(seed)
    rows = []
    for mod, table in (("CT", CT_HU), ("MR", MR_T1)):
        arr = np.vectorize(table.get)(lab).astype(np.float32)
        arr += rng.normal(0, 20.0 if mod == "CT" else 30.0, arr.shape).astype(np.float32)
        img = sitk.GetImageFromArray(arr)
        img.SetSpacing((1.0, 1.0, 2.0))
        m = sitk.GetImageFromArray(tumour.astype(np.uint8))
        m.CopyInformation(img)
        ip, mp = folder / f"{pid}_{mod}.nii.gz", folder / f"{pid}_{mod}_mask.nii.gz"
        sitk.WriteImage(img, str(ip))
        sitk.WriteImage(m, str(mp))
        rows.append({"patient_id": pid, "modality": mod, "image": ip.name, "mask": mp.name})
    return rows


@pytest.fixture(scope="module")
def phantom_pairs(tmp_path_factory):
    d = tmp_path_factory.mktemp("pairs")
    rows = []
    cores = [("fat", 0), ("calcified", 4), ("fat", 7), ("calcified", 6), ("fat", 4)]
    for i, (radius, core) in enumerate(zip((9, 11, 12, 10, 13), cores)):
        rows += _write_pair(d, f"P{i}", radius, core, seed=i)
    pd.DataFrame(rows).to_csv(d / "pairs.csv", index=False)
    return d / "pairs.csv"


def test_agreement_command_on_phantom_pairs(phantom_pairs, tmp_path, capsys):
    """Same tissue layout on CT and MR (different intensities, fat dark on one and bright on the
    other, image noise): the cross-modality regional features agree (ICC ~ 1) by construction."""
    out = tmp_path / "cross"
    rc = cli.main(["agreement", "--manifest", str(phantom_pairs), "--out", str(out),
                   "--groups", "regional", "--organ", "soft-tissue", "--regional-definition",
                   "cross-modality", "--bootstrap", "100", "--no-progress"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "5 pairs (CT vs MR), 20 features" in err
    for name in ("features.csv", "agreement.csv", "agreement_summary.csv", "agreement.json",
                 "agreement_scatter.png", "agreement_icc.png", "features.csv.provenance.json"):
        assert (out / name).is_file(), name
    tab = pd.read_csv(out / "agreement.csv").set_index("feature")
    assert len(tab) == 20 and (tab["n"] == 5).all()
    assert tab["icc"].min() > 0.95, tab["icc"].sort_values().head()
    info = json.loads((out / "agreement.json").read_text())
    assert info["complete_pairs"] == 5 and info["options"]["organ"] == "soft-tissue"
    prov = json.loads((out / "features.csv.provenance.json").read_text())
    assert prov["parameters"]["group_options"]["regional"]["definition"] == "cross-modality"
    feats = pd.read_csv(out / "features.csv")
    assert set(feats["diag_regional_parenchyma"]) == {"soft-tissue"}
    # the API, reference definition, no bootstrap or figures; then the report section
    ref = run_agreement(phantom_pairs, tmp_path / "ref", groups="regional", organ="soft-tissue",
                        n_boot=0, figures=False, progress=False)
    assert len(ref.table) == 20 and ref.n_pairs == 5 and "median_icc_ci_low" not in ref.summary
    assert not (tmp_path / "ref" / "agreement_scatter.png").exists()
    assert ref.files["table"] == str(tmp_path / "ref" / "agreement.csv")
    rep = Report("t")
    report_section(rep, {"reference": ref}, figures=False)
    html = rep.render()
    assert "Cross-modality agreement" in html and "regional median ICC (reference)" in html
    assert "TIM_PM10_bhattacharyya" in html and "data:image/png" not in html


def test_agreement_command_bad_input(tmp_path, capsys):
    p = tmp_path / "pairs.csv"
    p.write_text("modality,image,mask\nCT,a,a\nMR,a,a\n")
    assert cli.main(["agreement", "--manifest", str(p), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ManifestError" in err[0] and str(p) in err[0]
    assert "no patient column" in err[0]


def test_find_paired_data(tmp_path):
    assert find_paired_data(None) is None and find_paired_data(tmp_path) is None
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "pairs.csv").write_text("")
    assert find_paired_data(tmp_path) == tmp_path / "x" / "pairs.csv"
    (tmp_path / "IBSI_soft_tissue_sarcoma_CT_MR").mkdir()
    (tmp_path / "IBSI_soft_tissue_sarcoma_CT_MR" / "pairs.csv").write_text("")
    assert find_paired_data(tmp_path).parent.name == "IBSI_soft_tissue_sarcoma_CT_MR"


def test_cross_modality_section_for_the_demo(phantom_pairs, tmp_path):
    rep = Report("demo")
    assert cross_modality_section(rep, tmp_path / "none", data_dir=tmp_path) is None
    assert not rep.sections
    data = phantom_pairs.parent
    res = cross_modality_section(rep, tmp_path / "agr", data_dir=data.parent, n_boot=50,
                                 shape=False, figures=False)
    assert set(res) == {"reference", "cross-modality"}
    assert res["cross-modality"]["regional"]["median_icc"] > 0.95
    assert (tmp_path / "agr" / "reference" / "agreement.csv").is_file()
    assert [a for a, _, _ in rep.sections] == ["crossmodality"]
    assert "regional median ICC (cross-modality)" in rep.render()


def test_agreement_names_each_case_that_failed(phantom_pairs, tmp_path, capsys):
    """A case whose mask is empty fails (its pair is left out) and the command exits 1: it now
    says which case and why, one line each, as cohort-features does (it said nothing)."""
    man = pd.read_csv(phantom_pairs)
    first = phantom_pairs.parent / man.loc[0, "mask"]
    empty = sitk.ReadImage(str(first)) * 0
    sitk.WriteImage(empty, str(tmp_path / "empty.nii.gz"))
    man["image"] = [str(phantom_pairs.parent / v) for v in man["image"]]
    man["mask"] = [str(phantom_pairs.parent / v) for v in man["mask"]]
    man.loc[0, "mask"] = str(tmp_path / "empty.nii.gz")
    bad = tmp_path / "pairs.csv"
    man.to_csv(bad, index=False)
    rc = cli.main(["agreement", "--manifest", str(bad), "--out", str(tmp_path / "o"), "--groups",
                   "regional", "--organ", "soft-tissue", "--bootstrap", "0", "--no-progress",
                   "--no-figures"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "1 case(s) failed:" in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("  ") and "mpty" in ln]
    assert len(lines) == 1, err
    # the failed row's patient has no complete pair: counted and named so (audit: it counted
    # as a complete pair in agreement.json and the command never named it)
    info = json.loads((tmp_path / "o" / "agreement.json").read_text(encoding="utf-8"))
    patient = str(man.loc[0, "patient"]) if "patient" in man.columns else None
    assert len(info["patients_without_pair"]) == 1
    assert info["complete_pairs"] == info["patients"] - 1
    assert "1 patient(s) without a complete pair, left out: " in err
    if patient is not None:
        assert info["patients_without_pair"] == [patient]


def test_manifest_id_columns_raters_and_infinite_values(tmp_path):
    """Audit: a patient column named ID (or an extra Case / PatientID column) crashed; a rater
    given twice was counted twice (ICC 0.69 -> 0.78); an infinite value counted in n but not
    in the ICC; one feature without pairs removed its group's bootstrap interval."""
    from PanCancerSubtypeLib.errors import UsageError

    base = {"Modality": ["CT", "MR"] * 3, "Image": [f"/x/{i}.nii.gz" for i in range(6)],
            "Mask": [f"/x/m{i}.nii.gz" for i in range(6)]}
    for col in ("ID", "case_id"):
        m = read_paired_manifest(pd.DataFrame({col: ["p1", "p1", "p2", "p2", "p3", "p3"],
                                               **base}), patient_column=col)
        assert list(m["ID"]) == ["p1_CT", "p1_MR", "p2_CT", "p2_MR", "p3_CT", "p3_MR"]
    m = read_paired_manifest(pd.DataFrame({"patient": ["p1", "p1", "p2", "p2", "p3", "p3"],
                                           "PatientID": [f"r{i}" for i in range(6)], **base}))
    assert list(m["ID"]) == [f"r{i}" for i in range(6)]
    with pytest.raises(ManifestError, match="all name a row ID"):
        read_paired_manifest(pd.DataFrame({"patient": ["p1", "p1", "p2", "p2", "p3", "p3"],
                                           "Case": ["a"] * 6, "ID": [f"r{i}" for i in range(6)],
                                           **base}))
    man, feats, t, noise = _synthetic_pairs()
    with pytest.raises(UsageError, match=r"rater\(s\) \['CT'\] given more than once"):
        agreement_table(feats, man, raters=["CT", "MR", "CT"])
    feats.loc[feats["ID"] == "P00_MR", "shape_same"] = np.inf
    tab = agreement_table(feats, man).set_index("feature")
    assert tab.loc["shape_same", "n"] == 11 and np.isfinite(tab.loc["shape_same", "mean_CT"])
    feats["shape_empty"] = np.nan
    tab = agreement_table(feats, man)
    summ = summarise(tab, feats, man, n_boot=100).set_index("group")
    assert np.isfinite(summ.loc["shape", "median_icc_ci_low"])
