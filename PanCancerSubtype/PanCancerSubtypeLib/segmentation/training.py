"""Training loop of the segmentation networks: data split, loss, optimiser, validation, early
stopping and checkpoints.

Cases (:func:`load_training_cases`) come from a manifest, a DataFrame, manifest rows or
``Case`` objects; manifests, images, masks and labels are read by
:mod:`PanCancerSubtypeLib.cohort` and :mod:`PanCancerSubtypeLib.io`.

Training (:func:`train_segmenter`): the cases are split by case (``val_fraction``); patches are
sampled and augmented by :mod:`.transforms`; loss ``monai.losses.DiceCELoss`` (softmax,
one-hot); Adam; after each epoch the validation Dice on the held-out cases, computed on the
tumour's bounding box widened by ``val_margin`` voxels (2D: the tumour's slices +-
``val_margin``, whole slices; ``None``: whole volumes, slow on the CPU); early stopping after
``patience`` epochs without improvement.

Saved model directory: ``config.json`` (the :class:`~.networks.SegmenterConfig` plus training
metadata and the SHA-256 of the weights), ``best.safetensors`` (the epoch of highest validation
Dice), ``last.safetensors``, ``training_log.csv``; :func:`.inference.load_model` reads it back.
"""
from __future__ import annotations

import csv
import logging
import os
import sys
import time
from contextlib import contextmanager
from io import StringIO
from typing import Any, Dict, List, Mapping, Optional

import numpy as np

from ..errors import (EmptyMaskError, GeometryMismatchError, ImageDimensionError,
                      InvalidImageValuesError, LabelNotFoundError, ManifestError,
                      UnreadableFileError, raise_if_diverged)
from ..files import atomic_write_bytes, atomic_write_text, sha256_file, write_json
from .inference import predict_probability
from .metrics import dice_arrays
from .networks import FORMAT_VERSION, SegmenterConfig, build_network, resolve_device
from .transforms import TrainingVolume, augmenter, prepare_volume, sample_patch

log = logging.getLogger(__name__)

__all__ = ["train_segmenter", "load_training_cases", "FORMAT_VERSION"]


@contextmanager
def _naming_case(case_id: str):
    """Re-raise the errors of reading a case's image and mask with the case ID as their source
    (the file stays in the message).  A ``Label`` that selects no voxel is an
    :class:`~PanCancerSubtypeLib.errors.EmptyMaskError` here: the case has no training target."""
    try:
        yield
    except LabelNotFoundError as exc:
        raise EmptyMaskError(f"mask has no foreground voxel for the selected label ({exc})",
                             source=case_id) from None
    except (UnreadableFileError, EmptyMaskError, GeometryMismatchError, ImageDimensionError,
            InvalidImageValuesError) as exc:
        if exc.source == case_id:
            raise
        raise type(exc)(str(exc), source=case_id) from None


def load_training_cases(cases, base_dir=None) -> List[Dict[str, Any]]:
    """Manifest path / DataFrame / list of dict rows / list of ``Case`` -> list of dicts.

    Each dict holds ``id``, ``image`` (SimpleITK float32), ``mask`` (uint8 0/1 on the image grid),
    ``modality`` (``"CT"``, ``"MR"`` or None).  Manifests are read and validated by
    :func:`PanCancerSubtypeLib.cohort.read_manifest` (columns ``Image``, ``Mask``, optional
    ``Label``, ``ID``, ``Modality``, or the aliases of ``shared/data/cases.csv``; relative paths
    are relative to the manifest's folder, or to ``base_dir``; IDs default to the image file name
    and must be unique).  Images and masks are read by :func:`PanCancerSubtypeLib.io.read_image`
    and :func:`~PanCancerSubtypeLib.io.read_mask`, so ``Label`` follows io's rule (a value,
    ``1,3,4``, or a segment name of a ``.seg.nrrd``; empty: the mask's only label, or label 1
    with a warning when it has several) and a mask on another grid is resampled onto the image
    grid when their extents overlap.  Errors name the case.
    """
    import SimpleITK as sitk

    from ..cohort import normalise_manifest, read_manifest
    from ..io import align_to_reference, check_image, read_image, read_mask

    source = None
    if isinstance(cases, (str, os.PathLike)):
        source = str(cases)
        rows: List[Any] = read_manifest(cases, base_dir=base_dir).to_dict("records")
    elif hasattr(cases, "to_dict") and hasattr(cases, "columns"):
        rows = normalise_manifest(cases, base_dir or ".").to_dict("records")
    else:
        rows = list(cases)
        at = [i for i, r in enumerate(rows) if isinstance(r, Mapping)]
        if at:
            import pandas as pd

            table = normalise_manifest(pd.DataFrame([dict(rows[i]) for i in at]), base_dir or ".",
                                       source="cases")
            for i, r in zip(at, table.to_dict("records")):
                rows[i] = r
    out = []
    seen = set()
    for row in rows:
        if isinstance(row, Mapping):
            cid = str(row["ID"])
            with _naming_case(cid):
                img = sitk.Cast(read_image(row["Image"], check=False), sitk.sitkFloat32)
                check_image(img, source=str(row["Image"]))
                m = read_mask(row["Mask"], label=row["Label"] or None, reference=img)
            mod = row["Modality"] or None
        elif hasattr(row, "image") and hasattr(row, "mask"):
            cid, mod = str(row.case_id), row.modality
            img = sitk.Cast(row.image, sitk.sitkFloat32)
            check_image(img, source=cid)
            m = align_to_reference(sitk.Cast(row.mask > 0, sitk.sitkUInt8), img, source=cid)
        else:
            raise TypeError(f"a training case is a manifest row (dict) or a Case, not "
                            f"{type(row).__name__}")
        if cid in seen:
            raise ManifestError(f"duplicate case ID {cid!r}", source=source)
        seen.add(cid)
        if not sitk.GetArrayViewFromImage(m).any():
            raise EmptyMaskError("mask has no foreground voxel (for the selected label)",
                                 source=cid)
        out.append({"id": cid, "image": img, "mask": m,
                    "modality": (str(mod).upper() if mod else None)})
    if not out:
        raise ManifestError("no training cases", source=source)
    return out


def _validation_region(v: "TrainingVolume", cfg: SegmenterConfig):
    """Validation region: the tumour's bounding box widened by ``val_margin`` voxels (2D: only
    along z, whole slices), or the whole volume when ``val_margin`` is None."""
    if cfg.val_margin is None or v.fg is None or not len(v.fg):
        return tuple(slice(None) for _ in v.image.shape)
    m = int(cfg.val_margin)
    lo = v.fg.min(0) - m
    hi = v.fg.max(0) + m + 1
    if cfg.dims == 2:
        return (slice(max(int(lo[0]), 0), int(hi[0])), slice(None), slice(None))
    return tuple(slice(max(int(a), 0), int(b)) for a, b in zip(lo, hi))


def train_segmenter(cases, out_dir, config: Optional[SegmenterConfig] = None,
                    progress: Optional[bool] = None, base_dir=None, **overrides) -> Dict[str, Any]:
    """Train a segmentation network; write ``out_dir`` (config.json, best/last weights, log).

    ``cases``: manifest CSV path, DataFrame, list of manifest rows (dicts with Image, Mask,
    optional Label, ID, Modality) or list of :class:`~PanCancerSubtypeLib.features.Case`.
    ``overrides`` replace fields of ``config``.  Returns a summary dict (best epoch, best
    validation Dice, device, seconds per epoch, split).

    Determinism: with the same seed on the same CPU build, two runs give bit-identical weights
    (``torch.manual_seed``, NumPy generator, MONAI ``set_random_state``,
    ``torch.use_deterministic_algorithms(True)``, no worker processes).  On CUDA the run is
    seeded but deterministic algorithms are only requested (``warn_only``).
    """
    import torch
    from monai.losses import DiceCELoss

    # a copy: the caller's config is not written to (its modality would carry over to the
    # next cohort trained with it)
    cfg = SegmenterConfig.from_dict({**(config or SegmenterConfig()).to_dict(),
                                     **(overrides or {})})
    cfg.validate()
    device = resolve_device(cfg.device)
    raw = load_training_cases(cases, base_dir=base_dir)
    if cfg.modality is None:
        mods = [c["modality"] for c in raw if c["modality"]]
        cfg.modality = max(set(mods), key=mods.count) if mods else "CT"
    for c in raw:
        c["modality"] = c["modality"] or cfg.modality

    # split by case
    rng_split = np.random.default_rng(cfg.seed)
    order = rng_split.permutation(len(raw))
    n_val = int(round(cfg.val_fraction * len(raw))) if len(raw) > 1 else 0
    if cfg.val_fraction > 0 and len(raw) > 1:
        n_val = max(n_val, 1)
    val_idx = sorted(order[:n_val].tolist())
    train_idx = sorted(order[n_val:].tolist())
    train = [prepare_volume(raw[i], cfg) for i in train_idx]
    val = [prepare_volume(raw[i], cfg) for i in val_idx]
    for c in raw:            # the prepared copies are what training reads: free the originals
        c.pop("image", None)
        c.pop("mask", None)

    os.makedirs(out_dir, exist_ok=True)
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_threads = torch.get_num_threads()
    prev_rng = torch.get_rng_state()        # the caller's random state is given back after
    prev_cuda_rng = torch.cuda.get_rng_state_all() if device.type == "cuda" else None
    if cfg.num_threads:
        torch.set_num_threads(int(cfg.num_threads))
    torch.manual_seed(cfg.seed)
    threads_used = torch.get_num_threads()     # CPU weights depend on it: recorded
    if device.type == "cuda":
        torch.cuda.manual_seed_all(cfg.seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.use_deterministic_algorithms(True)
    try:
        model = build_network(cfg).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate,
                               weight_decay=cfg.weight_decay)
        loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
        rng = np.random.default_rng(cfg.seed + 1)
        aug = augmenter(cfg, cfg.seed + 2) if cfg.augment else None
        from safetensors.torch import save as safetensors_bytes

        best_path = os.path.join(out_dir, "best.safetensors")
        last_path = os.path.join(out_dir, "last.safetensors")
        log_path = os.path.join(out_dir, "training_log.csv")
        best, best_epoch, bad = -np.inf, -1, 0
        rows = []
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover
            tqdm = None
        bar = tqdm(range(cfg.epochs), desc="train-segmenter", unit="epoch",
                   disable=(not progress) if progress is not None else None) \
            if tqdm is not None else range(cfg.epochs)
        t_start = time.perf_counter()
        for epoch in bar:
            t0 = time.perf_counter()
            model.train()
            losses = []
            for _ in range(cfg.iterations_per_epoch):
                xs, ys = [], []
                for _ in range(cfg.batch_size):
                    x, y = sample_patch(train, cfg, rng)
                    if aug is not None:
                        d = aug({"image": x, "label": y.astype(np.float32)})
                        x = np.asarray(d["image"], np.float32)
                        y = np.asarray(d["label"])
                    xs.append(x)
                    ys.append(np.rint(y).astype(np.int64))
                xb = torch.from_numpy(np.stack(xs)).to(device)
                yb = torch.from_numpy(np.stack(ys)).to(device)
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
            train_loss = float(np.mean(losses))
            raise_if_diverged(train_loss, epoch, "U-Net training")
            if val:
                dices = []
                for v in val:
                    sl = _validation_region(v, cfg)
                    pred = predict_probability(model, v.image[sl], cfg, device) >= cfg.threshold
                    dices.append(dice_arrays(pred, v.mask[sl] > 0))
                score = float(np.mean(dices))
            else:
                score = -train_loss          # no validation case: track the training loss
            sd_cpu = {k: t.detach().cpu().contiguous() for k, t in model.state_dict().items()}
            weights = safetensors_bytes(sd_cpu)
            atomic_write_bytes(last_path, weights)
            improved = score > best + 1e-6
            if improved:
                best, best_epoch, bad = score, epoch, 0
                atomic_write_bytes(best_path, weights)
            else:
                bad += 1
            dt = time.perf_counter() - t0
            rows.append({"epoch": epoch, "train_loss": round(train_loss, 6),
                         "val_dice": round(score, 6) if val else "",
                         "best": int(improved), "seconds": round(dt, 3)})
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{train_loss:.3f}",
                                val_dice=f"{score:.3f}" if val else "-")
            if progress is not False and getattr(bar, "disable", True):
                # no bar (output to a log file, nohup, a Slicer job): a line per epoch
                print(f"train-segmenter: epoch {epoch + 1}/{cfg.epochs}: loss {train_loss:.4f}"
                      + (f", validation Dice {score:.4f}" if val else "")
                      + f" ({dt:.1f} s)", file=sys.stderr, flush=True)
            text = StringIO(newline="")
            w = csv.DictWriter(text, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
            atomic_write_text(log_path, text.getvalue())
            if bad >= cfg.patience:
                log.info("early stopping at epoch %d (best %d)", epoch, best_epoch)
                break
        total = time.perf_counter() - t_start
    finally:
        torch.use_deterministic_algorithms(prev_det)
        torch.set_num_threads(prev_threads)
        torch.set_rng_state(prev_rng)
        if prev_cuda_rng is not None:
            torch.cuda.set_rng_state_all(prev_cuda_rng)
    summary = {
        "format_version": FORMAT_VERSION,
        "config": cfg.to_dict(),
        "best_epoch": best_epoch,
        "best_val_dice": float(best) if val else None,
        "epochs_run": len(rows),
        "seconds_total": round(total, 3),
        "seconds_per_epoch": round(total / max(len(rows), 1), 3),
        "device": str(device),
        "train_cases": [raw[i]["id"] for i in train_idx],
        "val_cases": [raw[i]["id"] for i in val_idx],
        "weights_sha256": {"best.safetensors": sha256_file(best_path),
                           "last.safetensors": sha256_file(last_path)},
        "torch_version": torch.__version__,
        "torch_threads": int(threads_used),
        "note": "research model; not validated for clinical use",
    }
    write_json(os.path.join(out_dir, "config.json"), summary, indent=2)
    return summary
