"""A training whose loss becomes NaN or infinite stops with TrainingDivergedError, naming the
epoch (audit: the autoencoder, the U-Net and the deep encoder each finished without a word and
kept or saved NaN weights: NaN codes, empty masks, NaN deep features; the U-Net without a
validation split ended in FileNotFoundError for best.safetensors)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

torch = pytest.importorskip("torch")

from PanCancerSubtypeLib.case import Case  # noqa: E402
from PanCancerSubtypeLib.errors import TrainingDivergedError  # noqa: E402


def test_autoencoder_on_an_unscaled_column():
    from PanCancerSubtypeLib.encoder import Autoencoder

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(40, 8)), columns=[f"f{i}" for i in range(8)])
    X["f0"] *= 1e20                        # finite, but the float32 loss overflows
    with pytest.raises(TrainingDivergedError, match=r"autoencoder training diverged at epoch 1 "
                                                    r".*standardise the features"):
        Autoencoder(n_components=3, max_epochs=5).fit(X)


def _phantom(s, shape=(8, 48, 48)):
    r = np.random.default_rng(s)
    z, y, x = np.mgrid[:shape[0], :shape[1], :shape[2]].astype(float)
    m = ((z - 4) / 3) ** 2 + ((y - 24) / 8) ** 2 + ((x - 24) / 8) ** 2 <= 1
    a = (-700 + m * 760 + r.normal(0, 60, shape)).astype(np.float32)
    return sitk.GetImageFromArray(a), sitk.GetImageFromArray(m.astype(np.uint8))


@pytest.mark.parametrize("val_fraction", [0.5, 0.0])
def test_unet_with_a_learning_rate_that_diverges(tmp_path, val_fraction):
    import PanCancerSubtypeLib.segmentation as seg

    cases = [Case(case_id=f"p{i}", image=_phantom(i)[0], mask=_phantom(i)[1], modality="CT")
             for i in range(2)]
    cfg = seg.SegmenterConfig(channels=(4, 8, 16), bottleneck_dilations=(1,), patch=32,
                              batch_size=2, iterations_per_epoch=3, epochs=3, num_threads=1,
                              device="cpu", learning_rate=1e12, val_fraction=val_fraction)
    with pytest.raises(TrainingDivergedError, match="U-Net training diverged at epoch"):
        seg.train_segmenter(cases, tmp_path / "unet", cfg, progress=False)


def test_deep_encoder_with_a_learning_rate_that_diverges(tmp_path):
    from PanCancerSubtypeLib.deep import DeepEncoderConfig, train_deep_encoder
    from PanCancerSubtypeLib.synthetic import write_phantom_cohort

    man = write_phantom_cohort(tmp_path / "coh", n=4, seed=3, modality="MR",
                               size_xyz=(40, 40, 12))
    cfg = DeepEncoderConfig(crop=16, channels=(4, 8), code_size=64, epochs=3, batch_size=8,
                            n_slices=2, device="cpu", num_threads=1, learning_rate=1e12,
                            val_fraction=0.5)
    with pytest.raises(TrainingDivergedError, match="deep encoder training.* diverged at epoch"):
        train_deep_encoder(man, tmp_path / "deep", cfg)
