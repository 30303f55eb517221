"""Steps 11 and 12 of the click method (:mod:`.click`): the enhancing foci inside the box that
join a mask, and a mask grown through the thick enhancing tissue going on past it (the rest of
a large glioblastoma's rim beyond a star-shaped surface)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Tuple

import numpy as np

from ._appearance import (ball, closing, dilate, enhancement_beyond_share, enhancing_foci,
                          fill_enclosed)

if TYPE_CHECKING:
    from ._click_types import Attempt

__all__ = ["add_foci", "shown_enhancing", "thick_continuation", "thick_growth", "with_foci"]


def shown_enhancing(res: Dict[str, Any]) -> np.ndarray:
    """Steps 9 and 11's enhancing voxels of a run's result ``res``: with a second channel,
    those it shows."""
    return res["enhancing"] if res["shown"] is None else res["enhancing"] & res["shown"]


def add_foci(mask: np.ndarray, a: "Attempt") -> Tuple[np.ndarray, int, float]:
    """Step 11: ``mask`` (attempt ``a``'s, or what steps 9-10 made of it) with the enhancing
    foci wholly inside ``a``'s crop (the box, and the rays' reach) that
    ``_appearance.enhancing_foci`` finds (at least ``box_focus_min_ml``), their number and mL;
    ``mask`` itself and none unless ``a`` is an enhancing attempt with a box and the step is
    on.  Step 7's box fill and span count them (:func:`with_foci`)."""
    r, q = a.res, a.p
    if a.prob.box is None or r["model"] != "bright" or q.box_focus_min_ml is None:
        return mask, 0, 0.0
    crop = tuple(slice(int(i), int(j)) for i, j in zip(r["lo"], r["hi"]))
    foci, n = enhancing_foci(mask[crop], shown_enhancing(r), a.prob.sp, q.box_focus_min_ml)
    if not n:
        return mask, 0, 0.0
    out = mask.copy()
    out[crop] |= foci
    return out, n, float(foci.sum()) * float(np.prod(a.prob.sp)) / 1000.0


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


def with_foci(a: "Attempt") -> np.ndarray:
    """What step 7 judges of attempt ``a`` against the box: its mask with step 11's foci
    (:func:`add_foci`: the box says they are the tumour's) when they add at most
    ``max_box_foci`` (1) times its volume; else its mask alone (foci larger than the lesion
    itself are more likely the bright tissue around it: a T1 sarcoma's fat)."""
    m, n, _ = add_foci(a.mask, a)
    if n and float((m & ~a.mask).sum()) > a.p.max_box_foci * float(a.mask.sum()):
        return a.mask
    return m
