"""Synthetic cohort generator: archetypes have the planted properties; survival follows the hazard."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from PanCancerSubtypeLib.synthetic import ARCHETYPES, make_cohort_case, simulate_survival


@pytest.mark.parametrize("cancer", ["lung", "breast", "brain"])
def test_archetype_sizes_and_modalities(cancer):
    vols = {}
    for a in ARCHETYPES:
        c = make_cohort_case(a, cancer, seed=10 + a)
        m = sitk.GetArrayFromImage(c["mask"]).astype(bool)
        org = sitk.GetArrayFromImage(c["organ_mask"]).astype(bool)
        assert m.any() and (m <= org).all()  # the tumour lies in its parenchyma mask
        assert c["modality"] == ("CT" if cancer == "lung" else "MR")
        vols[a] = c["volume_ml"]
        r_lo, r_hi = ARCHETYPES[a]["radius"]
        # volume of a sphere of the nominal radius range, with slack for lobes / voxelisation
        assert 0.4 * 4 / 3 * np.pi * r_lo ** 3 / 1000 < c["volume_ml"] < \
            2.0 * 4 / 3 * np.pi * r_hi ** 3 / 1000
        img = sitk.GetArrayFromImage(c["image"]).astype(float)
        inside, outside = img[m].mean(), img[~m & org].mean()
        assert inside > outside  # tumours are denser / enhance relative to parenchyma
    assert vols[1] < vols[2] < min(vols[3], vols[4])


def test_margin_blur_is_planted():
    """The sharp archetype changes intensity across its rim within ~1 mm, the blurred one over
    several mm: compare the mean intensity 2 mm outside the mask with the parenchyma level."""
    from scipy import ndimage

    def rim_excess(a):
        c = make_cohort_case(a, "brain", seed=5, slice_mm=1.25)
        m = sitk.GetArrayFromImage(c["mask"]).astype(bool)
        img = sitk.GetArrayFromImage(c["image"]).astype(float)
        sp = c["image"].GetSpacing()[::-1]
        d = ndimage.distance_transform_edt(~m, sampling=sp)
        ring = (d > 1.5) & (d <= 2.5)
        far = (d > 15) & (d <= 20)
        return img[ring].mean() - img[far].mean()

    assert rim_excess(3) > 3 * max(rim_excess(1), 1.0)


def test_survival_hazard_follows_archetype():
    rng = np.random.default_rng(0)
    arch = np.repeat([1, 4], 4000)
    t, e = simulate_survival(arch, np.full(8000, 62.0), rng, follow_up=(1e6, 1e6 + 1))
    assert e.all()  # no censoring with this follow-up
    # exponential: mean time = 1 / hazard, so the ratio of means is the hazard ratio
    ratio = t[arch == 1].mean() / t[arch == 4].mean()
    assert ratio == pytest.approx(ARCHETYPES[4]["hr"] / ARCHETYPES[1]["hr"], rel=0.06)
