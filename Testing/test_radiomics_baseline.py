"""PyRadiomics wrapper against PyRadiomics' published baseline values.

Each column of ``pyradiomics_baseline/baseline_<class>.csv`` is one test configuration (case +
settings in its ``diagnostics_Configuration_*`` rows).  We run our wrapper with exactly those
settings on the same image and mask and compare every feature.

Tolerance: relative 1e-6 for all features except mesh-based shape features (1e-3: the marching-cubes
mesh differs across builds, see spec/dependencies.md).  PyRadiomics' own tests accept 3%.
"""
from __future__ import annotations

import ast

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.shared_data

CLASSES = ["shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm", "shape2D"]
RTOL = 1e-6
RTOL_SHAPE = 1e-3


def _configs(base):
    """config column -> (case, settings dict, image types, {class: Series of expected values})"""
    out = {}
    for cls in CLASSES:
        f = base / f"baseline_{cls}.csv"
        if not f.is_file():
            continue
        df = pd.read_csv(f, index_col=0)
        for col in df.columns:
            settings = ast.literal_eval(df.loc["diagnostics_Configuration_Settings", col])
            types = ast.literal_eval(df.loc["diagnostics_Configuration_EnabledImageTypes", col])
            case = df.loc["diagnostics_Configuration_TestCase", col]
            key = (col, repr(sorted(settings.items())))
            entry = out.setdefault(key, {"case": case, "settings": settings, "types": types,
                                         "expected": {}})
            feats = df[col][[i for i in df.index if not i.startswith("diagnostics_")]]
            entry["expected"][cls] = feats.astype(float)
    return out


def _all_configs():
    import os
    from pathlib import Path

    d = Path(os.environ.get("PANCANCER_SHARED_DATA",
                            Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    base = d / "pyradiomics_baseline"
    return base, (_configs(base) if base.is_dir() else {})


_BASE, _CONFIGS = _all_configs()


@pytest.mark.parametrize("key", sorted(_CONFIGS) or [None], ids=lambda k: k[0] if k else "none")
def test_baseline(key, shared_data):
    if key is None:
        pytest.skip("no baseline found")
    from PanCancerSubtypeLib.io import load_case
    from PanCancerSubtypeLib.radiomics import RadiomicsFeatures

    cfg = _CONFIGS[key]
    case = cfg["case"]
    img = shared_data / f"pyradiomics_{case}" / f"{case}_image.nrrd"
    msk = shared_data / f"pyradiomics_{case}" / f"{case}_label.nrrd"
    if not img.is_file():  # the shape2D baselines use 2D test images that are not shared
        pytest.skip(f"baseline test image {img.name} is not in the shared data")
    c = load_case(img, msk, label=cfg["settings"].get("label", 1), modality="CT")
    params = {"setting": dict(cfg["settings"]), "imageType": cfg["types"],
              "featureClass": {cls: [] for cls in cfg["expected"]}}
    group = RadiomicsFeatures(params)
    got = group.compute(c)
    n = 0
    failures = []
    for cls, exp in cfg["expected"].items():
        for name, val in exp.items():
            if not np.isfinite(val):
                continue
            assert name in got, f"{key[0]}: feature {name} missing"
            rtol = RTOL_SHAPE if cls.startswith("shape") else RTOL
            if not np.isclose(got[name], val, rtol=rtol, atol=1e-12):
                failures.append(f"{name}: got {got[name]!r}, baseline {val!r}")
            n += 1
    assert n > 10
    assert not failures, f"{key[0]}: {len(failures)} of {n} differ: " + "; ".join(failures[:10])
