"""Step 12 of the click method (:mod:`.click`): a mask grown through the thick enhancing tissue
going on past it (the rest of a large glioblastoma's rim beyond a star-shaped surface)."""
from __future__ import annotations

from typing import Tuple

import numpy as np

from ._appearance import ball, closing, dilate, enhancement_beyond_share, fill_enclosed

__all__ = ["thick_continuation", "thick_growth"]


def thick_continuation(mask: np.ndarray, enhancing: np.ndarray, spacing_zyx, r_mm: float
                       ) -> np.ndarray:
    """The ``enhancing`` voxels outside ``mask`` that are left by an opening with a ball of
    ``r_mm`` (``_appearance.ball``; outside the array counts as background) and lie in a piece
    (6-connected) of them face-adjacent to ``mask``: the enhancing tissue going on from the
    mask that is thicker than about ``2 r_mm`` (the rest of a tumour's rim; a vessel or the
    cortex is 1-3 mm thick and goes).  The opening is ``_appearance.dilate`` of the erosion
    (the complement's dilation) of the array padded by more than the ball: SciPy's
    ``binary_opening``, voxel for voxel, in a few passes."""
    from scipy import ndimage as ndi

    b = ball(r_mm, spacing_zyx)
    pad = max(b.shape)
    kept = dilate(~dilate(~np.pad(enhancing & ~mask, pad), b), b)[
        pad:-pad, pad:-pad, pad:-pad]
    lab, n = ndi.label(kept)
    if n == 0:
        return kept
    ids = np.unique(lab[ndi.binary_dilation(mask) & kept])
    return np.isin(lab, ids[ids > 0])


def thick_growth(mask: np.ndarray, shown: np.ndarray, enhancing: np.ndarray, spacing_zyx,
                 r_mm: float, closing_mm: float, max_hole_mm: float, within_mm: float
                 ) -> Tuple[np.ndarray, float, int]:
    """``mask`` grown through the :func:`thick_continuation` of ``shown`` (the enhancing voxels
    it may take), closed (``_appearance.closing``, ``closing_mm``) and its enclosed holes filled
    (``_appearance.fill_enclosed``, ``max_hole_mm``); the share of ``enhancing`` going on past
    the grown mask (``_appearance.enhancement_beyond_share``, ``within_mm``); and the number of
    voxels it added."""
    sp = np.asarray(spacing_zyx, float)
    m = mask | thick_continuation(mask, shown, sp, r_mm)
    m = fill_enclosed(closing(m, closing_mm, sp), sp, max_hole_mm)
    return (m, enhancement_beyond_share(m, enhancing, sp, within_mm),
            int((m & ~mask).sum()))
