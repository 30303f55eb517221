"""End-to-end: the README's main job (``pancancer-subtype demo``) on a small synthetic cohort.

Asserts what the demo is for: the subtypes found by consensus clustering recover the planted
morphological archetypes (ARI >= 0.6), the log-rank test finds the planted survival difference
(p < 0.05), and the report holds every section.
"""
from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow

SECTIONS = ("Cohort", "Example slices with tumour regions", "SPHARM shape reconstructions",
            "Consensus clustering", "Subtypes versus planted archetypes", "Survival by subtype",
            "Subtype classifier", "Real cases")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from PanCancerSubtypeLib.cli import main

    out = tmp_path_factory.mktemp("demo")
    rc = main(["demo", "--n", "96", "--reps", "100", "--k-max", "6", "--out", str(out),
               "--no-real", "--n-boot", "50"])
    assert rc == 0
    return out


def test_subtypes_recover_archetypes(demo):
    s = json.loads((demo / "summary.json").read_text(encoding="utf-8"))
    assert s["n_ok"] == 96 and s["n_features"] == 313
    assert s["ari"] >= 0.6, s


def test_survival_difference_found(demo):
    s = json.loads((demo / "summary.json").read_text(encoding="utf-8"))
    assert s["logrank_p"] < 0.05, s["logrank_p"]
    surv = json.loads((demo / "survival_summary.json").read_text(encoding="utf-8"))
    assert {"logrank_p", "cox", "c_index"} <= set(surv)
    assert any(t["term"] == "age" for t in surv["cox"])


def test_report_has_every_section(demo):
    html = (demo / "report.html").read_text(encoding="utf-8")
    for sec in SECTIONS:
        assert f">{sec}" in html and f"<h2>{sec}" in html, sec
    assert html.count("data:image/png;base64,") >= 7  # slices, SPHARM, 3 consensus, boxes, KM
    for f in ("features.csv", "classes.csv", "per_k.csv", "subtype_model/model.json",
              "encoder"):
        assert (demo / f).exists(), f


def test_report_has_the_related_workflows(demo):
    """Association, Cox model evaluation, intra- / peri-tumoural signatures and deep features
    each have a section, and their results say what the synthetic cohort planted."""
    s = json.loads((demo / "summary.json").read_text(encoding="utf-8"))
    wf = s["workflows"]
    assert set(wf) == {"association", "cox_models", "peritumoural", "deep"}
    assert not [k for k, v in wf.items() if "error" in v], wf
    # the SPHARM / burden volume tracks the planted tumour volume (random intercept per type)
    top = wf["association"]["top"]
    assert top["variable"] == "volume_ml" and top["q"] < 1e-6 and top["coef"] > 0.9, top
    # survival was planted through the archetypes: adding the subtype to age helps
    m = wf["cox_models"]["models"]
    assert m["age + subtype"]["c_index"] > m["age"]["c_index"] + 0.03, m
    assert m["age + subtype"]["AIC"] < m["age"]["AIC"], m
    assert set(wf["peritumoural"]["oof_c_index"]) == {"intra", "peri5mm", "combined"}
    # deep features separate the small, sharp archetype from the others
    auc = {a["label"]: a["cv_auc"] for a in wf["deep"]["auc"]}
    assert auc[1] > 0.8, auc
    html = (demo / "report.html").read_text(encoding="utf-8")
    for title in ("Association of the features with patient variables", "Cox model evaluation",
                  "Intra- and peri-tumoural radiomic signatures",
                  "Deep image features (denoising autoencoder)"):
        assert f"<h2>{title}" in html, title
