"""Inference with a trained segmentation network: model loading, sliding-window prediction and
post-processing, returning a mask on exactly the input image's grid.

:func:`load_model` reads a model directory written by :func:`.training.train_segmenter`
(``config.json``, ``best`` / ``last`` weights) and checks the weights against the SHA-256
recorded in ``config.json``.  :func:`predict_probability` runs MONAI's
``sliding_window_inference`` (Gaussian-weighted overlap ``sw_overlap``; 2D networks slice by
slice, a whole slice per window up to ``inference_roi``).  :func:`postprocess` keeps the largest
26-connected component, or the component(s) containing seed points.  :func:`segment_image`
chains normalisation, optional resampling, prediction, thresholding and post-processing.
"""
from __future__ import annotations

import logging
import os
from typing import Optional, Sequence

import numpy as np

from ..errors import ModelBundleError
from ..files import read_json, sha256_file
from .networks import FORMAT_VERSION, SegmenterConfig, build_network, resolve_device
from .semiauto import seeds_to_indices
from .transforms import normalise, resample

log = logging.getLogger(__name__)

__all__ = ["load_model", "predict_probability", "postprocess", "segment_image"]


def load_model(model_dir, which: str = "best", device: str = "auto"):
    """(torch module in eval mode, SegmenterConfig, metadata) from a model directory."""
    import torch  # noqa: F401  (safetensors.torch needs it; fail here with a clear ImportError)
    from safetensors.torch import load_file

    model_dir = str(model_dir)
    cpath = os.path.join(model_dir, "config.json")
    wpath = os.path.join(model_dir, f"{which}.safetensors")
    if not os.path.isdir(model_dir):
        raise ModelBundleError("model directory does not exist", source=model_dir)
    for p in (cpath, wpath):
        if not os.path.isfile(p):
            raise ModelBundleError(f"model directory lacks {os.path.basename(p)}",
                                   source=model_dir)
    try:
        meta = read_json(cpath)
        if not isinstance(meta, dict):
            raise TypeError("not a JSON object")
        version = int(meta.get("format_version", 0))
        if version > FORMAT_VERSION:
            raise ValueError(f"format_version {version} is newer than this version reads "
                             f"({FORMAT_VERSION})")
        cfg = SegmenterConfig.from_dict(meta["config"], strict=True)
        shas = meta.get("weights_sha256") or {}
        if not isinstance(shas, dict):
            raise TypeError("weights_sha256 is not a mapping of file names to checksums")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelBundleError(f"config.json is invalid: {exc}", source=cpath) from None
    expected = shas.get(os.path.basename(wpath))
    if not expected:
        raise ModelBundleError(f"config.json records no SHA-256 checksum of "
                               f"{os.path.basename(wpath)} (weights_sha256): the weights cannot "
                               f"be checked, so they are not loaded", source=cpath)
    if sha256_file(wpath) != expected:
        raise ModelBundleError(f"{os.path.basename(wpath)} does not match the checksum recorded "
                               f"in config.json (file changed or corrupted)", source=model_dir)
    dev = resolve_device(device)
    model = build_network(cfg)
    try:
        state = load_file(wpath)
    except Exception as exc:  # safetensors' own error type for a file that is not safetensors
        raise ModelBundleError(f"is not a safetensors weights file ({type(exc).__name__}: "
                               f"{' '.join(str(exc).split())[:200]})", source=wpath) from None
    try:
        model.load_state_dict(state)
    except (RuntimeError, OSError) as exc:
        raise ModelBundleError(f"weights do not fit the configured network: {exc}",
                               source=wpath) from None
    model.to(dev).eval()
    return model, cfg, meta


def predict_probability(model, arr: np.ndarray, cfg: SegmenterConfig, device) -> np.ndarray:
    """Tumour probability (z, y, x) of a normalised volume by sliding-window inference."""
    import torch
    from monai.inferers import sliding_window_inference

    roi = cfg.roi(arr.shape)
    model.eval()
    out = np.zeros(arr.shape, np.float32)
    with torch.no_grad():
        if cfg.dims == 2:
            nz = arr.shape[0]
            chunk = max(int(cfg.sw_batch_size), 1)
            for z0 in range(0, nz, chunk):
                x = torch.from_numpy(np.ascontiguousarray(arr[z0:z0 + chunk, None])).to(device)
                logits = sliding_window_inference(x, roi, cfg.sw_batch_size, model,
                                                  overlap=cfg.sw_overlap, mode="gaussian")
                prob = torch.softmax(logits, dim=1)[:, 1]
                out[z0:z0 + chunk] = prob.float().cpu().numpy()
        else:
            x = torch.from_numpy(np.ascontiguousarray(arr[None, None])).to(device)
            logits = sliding_window_inference(x, roi, cfg.sw_batch_size, model,
                                              overlap=cfg.sw_overlap, mode="gaussian")
            out[:] = torch.softmax(logits, dim=1)[0, 1].float().cpu().numpy()
    return out


def postprocess(mask: np.ndarray, mode: Optional[str] = "largest",
                seed_indices_zyx: Optional[Sequence[Sequence[int]]] = None) -> np.ndarray:
    """Keep the largest 26-connected component, or the component(s) containing the seed voxels."""
    from scipy import ndimage as ndi

    if mode is None or mode == "none" or not mask.any():
        return mask
    lab, n = ndi.label(mask, structure=np.ones((3,) * mask.ndim, bool))
    if seed_indices_zyx:
        ids = {int(lab[tuple(s)]) for s in seed_indices_zyx} - {0}
        if ids:
            return np.isin(lab, list(ids))
        log.warning("no predicted component contains a seed point; keeping the largest")
    counts = np.bincount(lab.ravel())
    counts[0] = 0
    return lab == int(counts.argmax())


def segment_image(image, model_dir, modality: Optional[str] = None, seeds_lps_mm=None,
                  postprocessing: Optional[str] = "largest", device: str = "auto",
                  return_probability: bool = False, model=None, source: Optional[str] = None,
                  num_threads: Optional[int] = None):
    """Segment the tumour of ``image`` with a trained model; mask on exactly the input grid.

    ``seeds_lps_mm``: optional seed points (LPS mm); the predicted component(s) containing them
    are kept (instead of the largest component).  ``postprocessing=None`` keeps every component.
    ``model``: an already loaded ``(module, config, meta)`` tuple (from :func:`load_model`), to
    segment many images without reloading.  With ``return_probability`` a float32 probability
    image is returned as well.
    """
    import SimpleITK as sitk
    import torch

    from ..io import check_image

    if not isinstance(image, sitk.Image):
        raise TypeError("image must be a SimpleITK image")
    check_image(image, source=source)
    net, cfg, _ = model if model is not None else load_model(model_dir, device=device)
    dev = next(net.parameters()).device
    img = sitk.Cast(image, sitk.sitkFloat32)
    work = resample(img, cfg.spacing, sitk.sitkLinear) if cfg.spacing else img
    arr = normalise(sitk.GetArrayFromImage(work), modality or cfg.modality, cfg)
    prev_threads = torch.get_num_threads()
    nt = num_threads      # this machine's setting, not the training run's (cfg.num_threads)
    if nt:
        torch.set_num_threads(int(nt))
    try:
        prob = predict_probability(net, arr, cfg, dev)
    finally:
        torch.set_num_threads(prev_threads)
    if cfg.spacing:
        p = sitk.GetImageFromArray(prob)
        p.CopyInformation(work)
        prob = sitk.GetArrayFromImage(resample(p, None, sitk.sitkLinear, ref=img))
    mask = prob >= cfg.threshold
    seeds_zyx = None
    if seeds_lps_mm is not None and len(np.atleast_2d(seeds_lps_mm)[0]):
        seeds_zyx = [s[::-1] for s in seeds_to_indices(image, seeds_lps_mm, source=source)]
    mask = postprocess(mask, postprocessing, seeds_zyx)
    out = sitk.GetImageFromArray(mask.astype(np.uint8))
    out.CopyInformation(image)
    if return_probability:
        pimg = sitk.GetImageFromArray(prob.astype(np.float32))
        pimg.CopyInformation(image)
        return out, pimg
    return out
