"""The whole image's Gaussian smoothing, read crop by crop (private to segmentation).

The click method smooths the crop of every run: the click's, its jittered clicks', the
retries' (:mod:`.click`).  These crops overlap almost entirely.  :class:`SmoothedImage` smooths
a region once, the crop grown by ``slack`` voxels or ``slack_fraction`` of its extent per axis
(whichever is more: a jittered click moves its crop by a few millimetres), and serves every
crop inside it; a crop reaching beyond it smooths the union of both again.  A crop equals the
same crop of ``scipy.ndimage.gaussian_filter(volume, sigma, mode="nearest")`` of the whole
volume, bit for bit: the region is smoothed with a margin of the kernel's radius (SciPy's
``int(4 sigma + 0.5)`` voxels per axis), so each pass of the separable filter sees, at the
region's voxels, the same inputs in the same order as on the whole volume; at the volume's
border the margin is cut and ``"nearest"`` repeats the same border voxels.  (A crop smoothed on
its own repeats its own border instead, within the kernel's radius of it.)  The regions live as
long as the store that :func:`smoothed_crop` is given (one segmentation's).
"""
from __future__ import annotations

import threading
from typing import Dict, Optional

import numpy as np

__all__ = ["SmoothedImage", "finite", "kernel_radius", "smoothed_crop", "store_lock"]


def finite(volume: np.ndarray) -> bool:
    """Whether every value of ``volume`` is finite (its minimum and maximum are: a NaN makes
    them NaN); the test by which :func:`smoothed_crop` smooths a crop as part of the whole."""
    return bool(np.isfinite(np.min(volume)) and np.isfinite(np.max(volume)))


def kernel_radius(sigma_vox, ndim: int = 3) -> np.ndarray:
    """Per axis, the voxels a Gaussian of ``sigma_vox`` reads on either side of a voxel
    (SciPy's ``int(4 sigma + 0.5)``; 0 for no smoothing): a crop of the smoothing depends only
    on the volume within this radius of it."""
    return np.array([int(4.0 * s + 0.5) if s > 1e-15 else 0
                     for s in np.broadcast_to(np.asarray(sigma_vox, float), (ndim,))])


def _slices(lo, hi):
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))


class SmoothedImage:
    """``gaussian_filter(volume, sigma_vox, mode="nearest")`` (float32), smoothed where crops
    ask for it (see the module docstring)."""

    def __init__(self, volume: np.ndarray, sigma_vox, slack: int = 8,
                 slack_fraction: float = 0.15):
        self.volume = volume
        self.sigma = tuple(float(s) for s in np.broadcast_to(sigma_vox, (volume.ndim,)))
        self.radius = kernel_radius(self.sigma, volume.ndim)
        self.slack = int(slack)
        self.slack_fraction = float(slack_fraction)
        self.lo: Optional[np.ndarray] = None
        self.hi: Optional[np.ndarray] = None
        self.values: Optional[np.ndarray] = None

    def crop(self, lo, hi) -> np.ndarray:
        """The smoothed volume's crop ``lo:hi`` (voxel indices per axis; a new array)."""
        from scipy import ndimage as ndi

        lo, hi = np.asarray(lo, int), np.asarray(hi, int)
        if self.values is None or np.any(lo < self.lo) or np.any(hi > self.hi):
            shape = np.asarray(self.volume.shape)
            grow = np.maximum(self.slack, np.ceil(self.slack_fraction * (hi - lo)).astype(int))
            new_lo, new_hi = np.maximum(lo - grow, 0), np.minimum(hi + grow, shape)
            if self.values is not None:
                new_lo, new_hi = np.minimum(new_lo, self.lo), np.maximum(new_hi, self.hi)
            m_lo = np.maximum(new_lo - self.radius, 0)
            m_hi = np.minimum(new_hi + self.radius, shape)
            sm = ndi.gaussian_filter(np.asarray(self.volume[_slices(m_lo, m_hi)], np.float32),
                                     self.sigma, mode="nearest")
            self.values = np.ascontiguousarray(sm[_slices(new_lo - m_lo, new_hi - m_lo)])
            self.lo, self.hi = new_lo, new_hi
        return self.values[_slices(lo - self.lo, hi - self.lo)].copy()


def smoothed_crop(store: Dict, volume: np.ndarray, name: str, sigma_vox, lo, shape
                  ) -> np.ndarray:
    """``volume``'s crop of ``shape`` at ``lo``, smoothed (float32) as part of the whole
    ``volume``, through ``store``'s :class:`SmoothedImage` of ``(name, sigma)`` (made on first
    use).  A volume holding NaN or infinite values anywhere (its minimum or maximum is not
    finite) gets the crop's own smoothing, as their spreading into the crop is not wanted.
    Safe on threads that share ``store`` (:func:`store_lock`)."""
    with store_lock(store):
        return _smoothed_crop(store, volume, name, sigma_vox, lo, shape)


def store_lock(store: Dict):
    """The lock of ``store`` (made on first use): the runs of one segmentation that share it
    on several threads (``click``'s jittered runs) take it to read and update it."""
    lock = store.get("lock")
    if lock is None:
        lock = store.setdefault("lock", threading.RLock())     # (atomic: one lock per store)
    return lock


def _smoothed_crop(store: Dict, volume: np.ndarray, name: str, sigma_vox, lo, shape
                   ) -> np.ndarray:
    from scipy import ndimage as ndi

    if ("finite", name) not in store:
        store[("finite", name)] = finite(volume)
    lo = np.asarray(lo, int)
    if not store[("finite", name)]:
        crop = np.asarray(volume[_slices(lo, lo + np.asarray(shape))], np.float32)
        return ndi.gaussian_filter(crop, sigma_vox, mode="nearest")
    key = (name, tuple(float(s) for s in np.broadcast_to(sigma_vox, (volume.ndim,))))
    if key not in store:
        store[key] = SmoothedImage(volume, sigma_vox)
    return store[key].crop(lo, lo + np.asarray(shape))
