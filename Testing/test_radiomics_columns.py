"""The radiomics group's columns (``RadiomicsFeatures.specs``: what ``features`` counts, the
registry documents and a failed case gets as empty cells) are exactly what PyRadiomics computes,
in its order (audit: 9 ``original_shape2D_*`` columns that are never computed without force2D,
shape columns on every filtered image, which PyRadiomics computes on the original only, wavelet
bands in another order and multi-level wavelet names PyRadiomics does not use)."""
from __future__ import annotations

import importlib.util

import pytest

pytest.importorskip("radiomics")

from PanCancerSubtypeLib.errors import MissingDependencyError  # noqa: E402
from PanCancerSubtypeLib.radiomics import RadiomicsFeatures  # noqa: E402
from PanCancerSubtypeLib.synthetic import make_phantom  # noqa: E402

CONFIGS = {
    "default": None,
    "wavelet-log": {"imageType": {"Original": {}, "Wavelet": {}, "LoG": {"sigma": [1.0, 2.0]}},
                    "featureClass": {"shape": ["VoxelVolume", "Sphericity"], "firstorder": [],
                                     "glcm": ["Idm"]}},
    "wavelet-2-levels": {"imageType": {"Wavelet": {"level": 2}},
                         "featureClass": {"firstorder": ["Mean"]}},
    "wavelet-start-level": {"imageType": {"Wavelet": {"start_level": 1, "level": 2}},
                            "featureClass": {"firstorder": ["Mean"], "shape": ["Sphericity"]}},
    "square": {"imageType": {"Original": {}, "Square": {}},
               "featureClass": {"firstorder": ["Mean"], "glszm": []}},
}


@pytest.fixture(scope="module")
def phantom():
    im, mk, _ = make_phantom("CT", size_xyz=(40, 40, 20), radius_mm=6, seed=1)
    return im, mk


@pytest.mark.parametrize("name", list(CONFIGS))
def test_the_columns_are_what_pyradiomics_computes_in_its_order(phantom, name):
    group = RadiomicsFeatures(CONFIGS[name])
    got = [k for k in group.execute(*phantom, "phantom") if not k.startswith("diag_")]
    assert [s.name for s in group.specs()] == got
    assert len(got) == {"default": 107, "wavelet-log": 2 + 11 * (18 + 1),
                        "wavelet-2-levels": 15, "wavelet-start-level": 1 + 15,
                        "square": 2 * (1 + 16)}[name]


@pytest.mark.skipif(importlib.util.find_spec("trimesh") is not None,
                    reason="trimesh is installed: LBP3D works")
def test_lbp3d_without_trimesh_is_refused_not_left_empty():
    with pytest.raises(MissingDependencyError, match="LBP3D image type needs the trimesh"):
        RadiomicsFeatures({"imageType": {"LBP3D": {}}}).specs()
