"""Parenchyma masks and the tumour regions TC, TIM, PM5, PM10 (Wu et al. 2021).

Arrays are indexed ``z, y, x`` (as :func:`SimpleITK.GetArrayFromImage` returns them); spacings
are given as ``(x, y, z)`` in mm (as :meth:`SimpleITK.Image.GetSpacing` returns them).

Parenchyma masks (used when no organ mask is supplied)
------------------------------------------------------
``lung_mask_ct``
    1. air = voxels below ``threshold_hu`` (default -400 HU: between aerated lung, about -850 HU,
       and soft tissue, about +40 HU; the usual value of threshold-based lung segmentation);
    2. air is labelled in 3D (face connectivity); components that hold one of the four in-plane
       image corners on at least half of the slices they span are *outside-body air* (room air,
       circular-FOV padding) and are dropped.  Corners rather than "touches the border", and
       "half of the slices" rather than "any slice", keep a lung that a tight crop cuts at the
       image edge or corner (``ibsi_nsclc``);
    3. of the remaining components the two largest *lung-like* ones are kept: a component is
       lung-like when it holds an in-plane disc of radius ``min_radius_mm`` (7.5 mm), which
       rejects the thin air gaps of the table, clothing and skin folds; the second is kept only
       if it holds at least ``min_second_fraction`` of the first's volume (so a single lung in a
       crop is not joined by a gas bubble), and, when it touches the in-plane image border on at
       least half of its slices (the air between the table's plates), only if it holds at least
       25 % of the first's volume; plus any lung-like component of >= 1 cm3 within
       2 voxels of the tumour when a tumour is given.  Both lungs are often one component
       (joined through the trachea and main bronchi, which stay in the mask);
    4. holes are filled slice by slice, so vessels, airway walls and nodules inside the lung are
       inside the mask; an optional in-plane closing (``closing_mm``, default off) also takes in
       juxta-pleural vessels.
    The search runs on an in-plane 2x down-sampled grid when slices are larger than 256 x 256
    (speed); the result is brought back to full resolution as "full-resolution air inside the
    dilated low-resolution lung", then hole-filled at full resolution.
``brain_mask_mr``
    If the image is *background-suppressed* (skull-stripped, e.g. BRATS: its minimum value
    covers >= 20 % of the voxels) the brain is every voxel brighter than that value, largest 3D component, holes filled per slice.  Otherwise (a head with skull and scalp):
    head = voxels above the Otsu threshold of the image; an in-plane opening with an 8 mm disc
    cuts the thin bridges between brain and scalp across the dark skull, the largest 3D component
    is kept, grown back by 3 mm inside the head mask and hole-filled per slice.  This is a
    heuristic: on T1 images with skull it can keep patches of scalp or lose the top slices;
    supply a brain mask (e.g. from a skull-stripping tool) when it matters.  A supplied brain
    mask always takes precedence (:func:`parenchyma_mask`).
``breast_mask_mr``
    Breast tissue around the tumour: a box = the tumour's bounding box grown by ``box_mm``
    (default 20 mm, so PM10 fits), clipped to the image and, for a wide (bilateral) field of view,
    to the tumour's side of the image's x mid-line.  Body = voxels above 10 % of the box's 99th
    intensity percentile (MR air is near 0), holes filled per slice.  With
    ``tissue="fibroglandular"`` (default; the authors used a fibroglandular / background
    parenchymal enhancement mask) the parenchyma is the body voxels above the Otsu threshold of
    the non-tumour body voxels; with ``tissue="body"`` it is the whole body region of the box.

``soft_tissue_mask`` (organ ``soft-tissue``, alias ``body``: sarcomas and any tumour outside lung,
    brain and breast)
    The tissue around the tumour, so that PM5 / PM10 are *tissue* margins: in a box = the
    tumour's bounding box grown by ``box_mm`` (default 50 mm, clipped to the image),
    tissue = on CT ``air_hu <= HU <= bone_hu`` (defaults -190 and 300 HU: -190 HU is the lower
    limit of adipose tissue, so air, lung and air partial-volume voxels are out; above 300 HU is
    cortical and dense trabecular bone, while contrast-enhanced vessels and tissue stay in), on MR
    (no absolute scale) voxels above ``mr_air_fraction`` (10 %) of the box's 99th intensity
    percentile, which leaves out air and background and the signal voids of cortical bone;
    then only the tissue connected (3D, face connectivity) to the tumour is kept, which drops the
    background: the couch, clothing, the other limb, and marrow enclosed by cortical bone.
    CT and MR therefore exclude the same structures as far as their contrast allows (bone marrow
    is tissue on both when it touches the tumour's tissue; on MR only signal voids are removed).

In every automatic method the tumour is added back: the parenchyma never excludes the tumour.

Tumour regions
--------------
``definition="reference"`` reproduces the authors' released code (``margin_3D_histogram``) exactly:
slice by slice, 2D Euclidean distance transforms in *pixels* (scipy semantics: pixels beyond the
image border are not background), TC = ``din > max(din) / 2``, TIM = tumour - TC,
PM(d) = ``dout <= np.round(d / sx)`` (numpy rounding, half to even; ``sx`` = x spacing) on tumour
slices only, then PM(d) restricted to ``parenchyma OR tumour``.  Hence PM(d) contains the tumour
itself and PM5 is inside PM10 (quirks of the released code, kept so published numbers can be
reproduced).  The released code takes ``sx`` from ``img_resolution[0]`` of its own data; here it
is the x spacing (the same for the usual square in-plane pixels).  Reproducing published numbers
also needs the authors' parenchyma masks; the automatic masks here are stand-ins.

``definition="3d"`` is the corrected version: 3D distance transforms with the voxel spacing in mm,
the image outside the grid counting as non-tumour; TC = voxels whose depth exceeds half the
tumour's maximum depth, TIM = the rest of the tumour; PM(d) = non-tumour voxels within ``d`` mm of
the tumour, restricted to the parenchyma (PM5 is still inside PM10: a 10 mm margin).

``definition="cross-modality"`` (the regions of the cross-modality regional features, see
:mod:`.heterogeneity`): bands of fixed width in mm, in 3D, none overlapping (the paper's
"non-overlapping regions"): TIM = tumour voxels within ``rim_mm`` (default 5 mm, the width of
the margin bands and more than the usual slice spacing) of the tumour's border, TC = the deeper
tumour voxels (when no voxel is deeper than ``rim_mm``, TC = voxels deeper than half the maximum
depth, as in ``3d``, so that small tumours keep a core); PM5 = non-tumour voxels within 0-5 mm of
the tumour, PM10 = non-tumour voxels within 5-10 mm (a shell, not the 0-10 mm margin), both
restricted to the parenchyma.  With other ``margins_mm`` the shells run between consecutive
margins.  Fixed widths make TIM an invasive *margin* of the same thickness in every tumour
(in ``reference`` / ``3d`` TIM is half the tumour's depth, centimetres thick in a large tumour).
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
from scipy import ndimage as ndi

from .errors import EmptyMaskError, PanCancerSubtypeError

REGION_NAMES = ("TC", "TIM", "PM5", "PM10")

#: region definitions accepted by :func:`tumour_regions`
DEFINITIONS = ("reference", "3d", "cross-modality")

#: names of the soft-tissue parenchyma (organ, ``--organ``, ``parenchyma=``); the first is canonical
SOFT_TISSUE_NAMES = ("soft-tissue", "soft_tissue", "soft tissue", "body")

#: label values of :func:`regions_labelmap`
LABELS = {"TC": 1, "TIM": 2, "PM5_ring": 3, "PM10_ring": 4}

_FACE = ndi.generate_binary_structure(3, 1)


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------
def _as_array(image, spacing=None) -> Tuple[np.ndarray, Tuple[float, float, float]]:
    """SimpleITK image or (z, y, x) array -> (array, spacing_xyz)."""
    if isinstance(image, np.ndarray):
        if image.ndim != 3:
            raise ValueError(f"expected a 3D (z, y, x) array, got shape {image.shape}")
        sp = (1.0, 1.0, 1.0) if spacing is None else tuple(float(s) for s in spacing)
        return image, sp
    import SimpleITK as sitk

    return sitk.GetArrayViewFromImage(image), tuple(image.GetSpacing())


def mask_bounds(mask: np.ndarray):
    """First and one-past-last index (z, y, x) of the voxels of a non-empty 3D ``mask``: what
    ``np.argwhere(mask).min(0)`` and ``.max(0) + 1`` give, from the mask's projections (one
    pass over the array and one over its z range, not a list of its voxels)."""
    mask = np.asarray(mask)
    z = np.flatnonzero(mask.any(axis=(1, 2)))
    yx = mask[z[0]:z[-1] + 1].any(axis=0)
    y, x = np.flatnonzero(yx.any(axis=1)), np.flatnonzero(yx.any(axis=0))
    return np.array([z[0], y[0], x[0]], np.intp), np.array([z[-1], y[-1], x[-1]], np.intp) + 1


def mask_box(mask: np.ndarray, margin=(0, 0, 0)) -> Tuple[slice, slice, slice]:
    """Bounding box (z, y, x slices) of a non-empty ``mask`` grown by ``margin`` voxels (per
    axis) each way, clipped to the array."""
    lo, hi = mask_bounds(mask)
    return tuple(slice(max(int(a) - m, 0), min(int(b) + m, n))
                 for a, b, m, n in zip(lo, hi, margin, mask.shape))


def slice_background(mask: np.ndarray, axis: int):
    """The background's components in every slice of a 3D ``mask`` across ``axis`` at once
    (face connectivity within the slices; one labelling instead of SciPy's iterated
    dilations): their labels, their number and which labels touch the slices' border (label
    0, the foreground, counts as touching).  A component that does not is a hole of its
    slice."""
    st = ndi.generate_binary_structure(3, 1)
    v = np.moveaxis(st, axis, 0)             # a view: no links between slices
    v[0] = False
    v[2] = False
    lab, n = ndi.label(~mask, structure=st)
    border = np.zeros(n + 1, bool)
    for ax in range(3):
        if ax == axis:
            continue
        for end in (0, -1):
            border[np.take(lab, end, axis=ax)] = True
    border[0] = True
    return lab, n, border


def _fill_holes_2d(mask: np.ndarray) -> np.ndarray:
    """Fill holes slice by slice (z, y, x): background not 4-connected in-plane to the border.

    Same result as :func:`scipy.ndimage.binary_fill_holes` on every slice, in one labelling pass
    (much faster than the iterative reconstruction).
    """
    mask = np.asarray(mask, bool)
    if mask.ndim != 3 or not mask.any():
        return mask.copy()
    # Only the bounding box of the foreground (all slices) grown by one pixel is labelled: the
    # background outside the box is one region touching the image border, the box's one-pixel
    # frame belongs to it, so a background component of the box is a hole exactly when it does
    # not reach the box's border (where the box meets the image border, that is the image's).
    box = (slice(None),) + mask_box(mask, (0, 1, 1))[1:]
    sub = mask[box]
    lab, _, border = slice_background(sub, 0)
    out = mask.copy()
    out[box] = sub | ~border[lab]
    return out


def _ball(radius_vox: Sequence[float]) -> np.ndarray:
    r = [max(int(np.floor(v)), 0) for v in radius_vox]
    zz, yy, xx = np.ogrid[-r[0]:r[0] + 1, -r[1]:r[1] + 1, -r[2]:r[2] + 1]
    rz, ry, rx = [max(v, 1e-9) for v in radius_vox]
    return (zz / rz) ** 2 + (yy / ry) ** 2 + (xx / rx) ** 2 <= 1.0


def _largest_component(mask: np.ndarray, structure=_FACE) -> np.ndarray:
    lab, n = ndi.label(mask, structure=structure)
    if n <= 1:
        return lab > 0
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == int(np.argmax(sizes))


def _otsu(values: np.ndarray, nbins: int = 256) -> float:
    from skimage.filters import threshold_otsu

    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or values.min() == values.max():
        return float(values.min()) if values.size else 0.0
    return float(threshold_otsu(values, nbins=nbins))


# ----------------------------------------------------------------------------------------------
# parenchyma masks
# ----------------------------------------------------------------------------------------------
def lung_mask_ct(image, spacing=None, tumour: Optional[np.ndarray] = None,
                 threshold_hu: float = -400.0, min_second_fraction: float = 0.05,
                 min_radius_mm: float = 7.5,
                 closing_mm: float = 0.0, downsample: Optional[bool] = None,
                 source: Optional[str] = None) -> np.ndarray:
    """Both lungs from a chest CT (HU); bool array (z, y, x).  See the module docstring.

    ``tumour`` (optional bool array) keeps air components next to the tumour even when they are
    not among the two largest; the tumour itself is *not* added here (see
    :func:`parenchyma_mask`).  Raises :class:`EmptyMaskError` when no lung-like air is found.
    """
    arr, sp = _as_array(image, spacing)
    nz, ny, nx = arr.shape
    if downsample is None:
        downsample = ny * nx > 256 * 256
    f = 2 if downsample else 1
    small = np.asarray(arr[:, ::f, ::f])
    air = small < threshold_hu
    lab, n = ndi.label(air, structure=_FACE)
    if n == 0:
        raise EmptyMaskError(f"no air-like voxels (< {threshold_hu:g} HU): no lung found",
                             source=source)
    sizes = np.bincount(lab.ravel(), minlength=n + 1).astype(np.int64)
    sizes[0] = 0
    sizes[_outside_components(lab, n)] = 0
    order = np.argsort(sizes)[::-1]
    objs = ndi.find_objects(lab)
    pix = (sp[1] * f, sp[0] * f)

    def thick(c: int) -> bool:
        # lung-like: holds an in-plane disc of radius >= min_radius_mm somewhere (rejects the
        # thin air gaps of the table, of clothing and between skin folds); slice by slice
        box = objs[c - 1]
        comp = np.pad(lab[box] == c, ((0, 0), (1, 1), (1, 1)))
        for k in range(comp.shape[0]):
            if comp[k].any() and ndi.distance_transform_edt(comp[k], sampling=pix).max() \
                    >= min_radius_mm:
                return True
        return False

    def at_border(c: int) -> bool:
        # touches the in-plane image border on at least half of the slices it spans
        box = objs[c - 1]
        comp = lab[box] == c
        edge = np.zeros(comp.shape[0], bool)
        if box[1].start == 0:
            edge |= comp[:, 0, :].any(1)
        if box[1].stop == lab.shape[1]:
            edge |= comp[:, -1, :].any(1)
        if box[2].start == 0:
            edge |= comp[:, :, 0].any(1)
        if box[2].stop == lab.shape[2]:
            edge |= comp[:, :, -1].any(1)
        return bool(edge.sum() >= 0.5 * comp.any(axis=(1, 2)).sum())

    keep = []
    for c in order[:8]:
        if sizes[c] == 0 or len(keep) == 2:
            break
        if keep and sizes[c] < min_second_fraction * sizes[keep[0]]:
            break
        if not thick(int(c)):
            continue
        if keep and sizes[c] < 0.25 * sizes[keep[0]] and at_border(int(c)):
            continue  # e.g. the air between the table's plates; a true second lung is larger
        keep.append(int(c))
    if tumour is not None and np.asarray(tumour[:, ::f, ::f]).any():
        t_small = np.asarray(tumour[:, ::f, ::f])
        tbox = mask_box(t_small, (2, 2, 2))  # the dilation reaches 2 voxels: no farther
        near = ndi.binary_dilation(t_small[tbox], structure=_FACE, iterations=2)
        # at least ~ 1 cm3 so that bubbles and airways cut by the tumour are not taken in
        min_vox = 1000.0 / (sp[0] * sp[1] * f * f * sp[2])
        for c in np.unique(lab[tbox][near]):
            if c != 0 and sizes[c] >= min_vox and int(c) not in keep and thick(int(c)):
                keep.append(int(c))
    if not keep:
        raise EmptyMaskError("no lung-like air component inside the body (only outside-body air "
                             "or thin air gaps below -%g HU)" % -threshold_hu, source=source)
    lung_small = np.isin(lab, keep)
    if f > 1:
        grown = lung_small.copy()  # in-plane 4-neighbour dilation (ndi.binary_dilation's)
        grown[:, 1:, :] |= lung_small[:, :-1, :]
        grown[:, :-1, :] |= lung_small[:, 1:, :]
        grown[:, :, 1:] |= lung_small[:, :, :-1]
        grown[:, :, :-1] |= lung_small[:, :, 1:]
        up = np.repeat(np.repeat(grown, f, axis=1), f, axis=2)[:, :ny, :nx]
        lung = up & (np.asarray(arr) < threshold_hu)
    else:
        lung = lung_small
    if closing_mm > 0:
        r = (0.0, closing_mm / sp[1], closing_mm / sp[0])
        lung = ndi.binary_closing(lung, structure=_ball(r))
    lung = _fill_holes_2d(lung)
    return lung


def _outside_components(lab: np.ndarray, n: int) -> np.ndarray:
    """Labels of outside-body air: components at an in-plane corner on >= half their slices."""
    corner = np.stack([lab[:, 0, 0], lab[:, 0, -1], lab[:, -1, 0], lab[:, -1, -1]], axis=1)
    at_corner = np.zeros((lab.shape[0], n + 1), bool)
    for k in range(lab.shape[0]):
        at_corner[k, corner[k]] = True
    n_corner = at_corner.sum(axis=0)
    cand = np.nonzero(n_corner)[0]
    cand = cand[cand != 0]
    if cand.size == 0:
        return cand
    # slices each candidate spans
    present = np.zeros((lab.shape[0], n + 1), bool)
    for k in range(lab.shape[0]):
        present[k, np.unique(lab[k])] = True
    n_present = present.sum(axis=0)
    return cand[n_corner[cand] >= 0.5 * n_present[cand]]


def brain_mask_mr(image, spacing=None, source: Optional[str] = None,
                  opening_mm: float = 8.0, regrow_mm: float = 3.0) -> np.ndarray:
    """Brain from a head MR; bool array (z, y, x).  See the module docstring for the method."""
    arr, sp = _as_array(image, spacing)
    a = np.asarray(arr)
    vmin = a.min()
    frac_min = float(np.mean(a == vmin))
    if frac_min >= 0.20:  # background-suppressed (skull-stripped) image
        fg = a > vmin
        if not fg.any():
            raise EmptyMaskError("image is constant: no brain found", source=source)
        brain = _largest_component(fg)
        return _fill_holes_2d(brain)
    thr = _otsu(a[::2, ::2, ::2].ravel())
    head = a > thr
    if not head.any():
        raise EmptyMaskError("no voxel above the Otsu threshold: no brain found", source=source)
    # in-plane opening with a disc of radius opening_mm (exact, via distance transforms):
    # cuts the thin bridges between brain and scalp across the (dark) skull
    inplane = (1e6, sp[1], sp[0])
    core = _edt_inplane(head, inplane) > opening_mm
    core = _edt_inplane(~core, inplane) <= opening_mm
    if not core.any():
        core = head
    core = _largest_component(core)
    brain = (_edt_inplane(~core, inplane) <= regrow_mm) & head
    return _fill_holes_2d(brain)


def _edt_inplane(mask: np.ndarray, sampling) -> np.ndarray:
    """Slice-by-slice Euclidean distance to the nearest zero (mm, in-plane ``sampling[1:]``);
    ``inf`` where a slice has none.

    Computed with one 2D transform per slice (a quarter of the time of the 3D transform of the
    stack with ``sampling[0]`` = 1e6 between slices used before, and the same distances wherever
    a slice has a zero; elsewhere that gave >= 1e6 mm, which every threshold here treats as
    ``inf``)."""
    mask = np.asarray(mask)
    out = np.empty(mask.shape, dtype=np.float64)
    for k in range(mask.shape[0]):
        if mask[k].all():
            out[k] = np.inf
        else:
            out[k] = ndi.distance_transform_edt(mask[k], sampling=tuple(sampling[1:]))
    return out


def breast_mask_mr(image, tumour: np.ndarray, spacing=None, box_mm: float = 20.0,
                   tissue: str = "fibroglandular", source: Optional[str] = None) -> np.ndarray:
    """Breast parenchyma around the tumour; bool array (z, y, x).  See the module docstring."""
    if tissue not in ("fibroglandular", "body"):
        raise ValueError("tissue must be 'fibroglandular' or 'body'")
    arr, sp = _as_array(image, spacing)
    a = np.asarray(arr, dtype=np.float64)
    if not tumour.any():
        raise EmptyMaskError("tumour mask is empty", source=source)
    margin = (int(np.ceil(box_mm / sp[2])), int(np.ceil(box_mm / sp[1])), int(np.ceil(box_mm / sp[0])))
    box = list(mask_box(tumour, margin))
    nx = a.shape[2]
    if nx * sp[0] > 250.0:  # bilateral field of view: stay on the tumour's side
        mid = nx // 2
        cx = np.nonzero(tumour.any(axis=(0, 1)))[0].mean()
        box[2] = slice(box[2].start, min(box[2].stop, mid)) if cx < mid else \
            slice(max(box[2].start, mid), box[2].stop)
    box = tuple(box)
    sub = a[box]
    t_sub = tumour[box]
    air_thr = 0.1 * np.percentile(sub, 99)
    body = _fill_holes_2d(sub > air_thr)
    if tissue == "fibroglandular":
        vals = sub[body & ~t_sub]
        if vals.size == 0:
            raise EmptyMaskError("no breast tissue around the tumour", source=source)
        thr = _otsu(vals)
        par = body & (sub > thr)
    else:
        par = body
    out = np.zeros(a.shape, dtype=bool)
    out[box] = par
    return out


def soft_tissue_mask(image, tumour: np.ndarray, spacing=None, modality: str = "CT",
                     air_hu: float = -190.0, bone_hu: float = 300.0,
                     mr_air_fraction: float = 0.1, box_mm: float = 50.0,
                     source: Optional[str] = None) -> np.ndarray:
    """Soft tissue around the tumour (body without air, background and, on CT, bone); bool array
    (z, y, x), False outside the box.  See the module docstring for the method.

    ``box_mm`` must be at least the largest margin the regions use (10 mm by default).
    """
    arr, sp = _as_array(image, spacing)
    t = np.asarray(tumour, bool)
    if not t.any():
        raise EmptyMaskError("tumour mask is empty", source=source)
    if not air_hu < bone_hu:
        raise ValueError(f"air_hu ({air_hu}) must be below bone_hu ({bone_hu})")
    margin = tuple(int(np.ceil(box_mm / s_)) for s_ in (sp[2], sp[1], sp[0]))
    box = mask_box(t, margin)
    sub = np.asarray(arr[box], dtype=np.float64)
    t_sub = t[box]
    if (modality or "CT").upper() == "CT":
        tissue = (sub >= air_hu) & (sub <= bone_hu)
    else:
        tissue = sub > mr_air_fraction * np.percentile(sub, 99)
    lab, n = ndi.label(tissue | t_sub, structure=_FACE)
    keep = np.unique(lab[t_sub])
    keep = keep[keep != 0]
    out = np.zeros(t.shape, dtype=bool)
    out[box] = np.isin(lab, keep) & tissue
    if not (out & ~t).any():
        is_ct = (modality or "CT").upper() == "CT"
        raise EmptyMaskError(
            f"no soft tissue around the tumour (every neighbouring voxel is air, background or "
            f"bone) read as {'CT' if is_ct else 'MR'}" + (
                f": soft tissue is {air_hu:g} to {bone_hu:g} HU; if the image is not CT, give "
                f"the modality (--modality MR)" if is_ct else ""), source=source)
    return out


def surroundings_values(image, tumour: np.ndarray, spacing=None, box_mm: float = 50.0,
                        body_fraction: float = 0.1) -> np.ndarray:
    """Intensities of the tumour's surroundings: the non-tumour *body* voxels (above
    ``body_fraction`` of the 99th percentile: MR air and background are near 0) in the tumour's
    bounding box grown by ``box_mm``; float64, 1D.  When fewer than 100 such voxels exist (the
    tumour fills the box) the tumour's own body voxels are included.  Used for MR tissue classes
    (:func:`.heterogeneity.tissue_class_thresholds`).
    """
    arr, sp = _as_array(image, spacing)
    t = np.asarray(tumour, bool)
    if not t.any():
        raise EmptyMaskError("tumour mask is empty")
    margin = tuple(int(np.ceil(box_mm / s_)) for s_ in (sp[2], sp[1], sp[0]))
    box = mask_box(t, margin)
    sub = np.asarray(arr[box], dtype=np.float64)
    body = sub > body_fraction * np.percentile(sub, 99)
    vals = sub[body & ~t[box]]
    return vals if vals.size >= 100 else sub[body]


def parenchyma_mask(case, method: str = "auto", return_method: bool = False, **kwargs):
    """Parenchyma mask (bool z, y, x) of a :class:`~PanCancerSubtypeLib.features.Case`.

    ``method``: ``"auto"`` (the supplied organ mask if the case has one, else the automatic method
    for ``case.organ`` / modality: CT -> lung; MR -> brain or breast by ``case.organ``),
    ``"supplied"`` (the organ mask; error if absent), ``"lung"``, ``"brain"``, ``"breast"``,
    ``"soft-tissue"`` (alias ``"body"``) (force an automatic method), ``"none"`` (no
    restriction: every voxel).
    The tumour is always part of the result.  With ``return_method=True`` returns
    ``(mask, method_used)``.
    """
    tumour = case.mask_array()
    src = case.case_id
    used = method
    if method == "none":
        out = np.ones(tumour.shape, dtype=bool)
    elif method == "supplied" or (method == "auto" and case.organ_mask is not None):
        if case.organ_mask is None:
            raise EmptyMaskError("parenchyma='supplied' but the case has no organ mask", source=src)
        out = np.array(case.organ_mask_array(), dtype=bool)
        used = "supplied"
        if not out.any():
            raise EmptyMaskError("the supplied organ mask has no foreground voxel", source=src)
    else:
        if method == "auto":
            used = _auto_method(case)
        if used in SOFT_TISSUE_NAMES:
            used = SOFT_TISSUE_NAMES[0]
        if used == "lung":
            out = lung_mask_ct(case.image, tumour=tumour, source=src, **kwargs)
            # the tumour and the partial-volume rim between it and the lung: fill the holes of
            # (lung OR tumour) on the tumour's slices (a pleural tumour leaves no gap)
            zs = np.nonzero(tumour.any(axis=(1, 2)))[0]
            out[zs] = _fill_holes_2d(out[zs] | tumour[zs])
        elif used == "brain":
            out = brain_mask_mr(case.image, source=src, **kwargs)
        elif used == "breast":
            out = breast_mask_mr(case.image, tumour, source=src, **kwargs)
        elif used == SOFT_TISSUE_NAMES[0]:
            out = soft_tissue_mask(case.image, tumour, modality=case.modality or "CT", source=src,
                                   **kwargs)
        else:
            raise ValueError(f"unknown parenchyma method {method!r}")
    out = out | tumour
    return (out, used) if return_method else out


def _auto_method(case) -> str:
    organ = (case.organ or "").lower()
    for key in ("lung", "brain", "breast"):
        if key in organ:
            return key
    if organ in SOFT_TISSUE_NAMES or "soft" in organ:
        return SOFT_TISSUE_NAMES[0]
    cancer = (case.cancer_type or "").lower()
    if "sarcoma" in cancer:
        return SOFT_TISSUE_NAMES[0]
    if any(k in cancer for k in ("lung", "nsclc", "luad", "lusc")):
        return "lung"
    if any(k in cancer for k in ("brain", "glioma", "gbm", "glioblastoma")):
        return "brain"
    if "breast" in cancer:
        return "breast"
    if (case.modality or "").upper() == "CT":
        return "lung"
    raise PanCancerSubtypeError(
        f"cannot choose a parenchyma method (organ={case.organ!r}, modality={case.modality!r}); "
        f"give the organ (lung, brain, breast, soft-tissue: --organ), an organ mask "
        f"(--organ-mask), or no parenchyma (--set regional.parenchyma=none; API: "
        f"parenchyma='none')",
        source=case.case_id)


# ----------------------------------------------------------------------------------------------
# regions
# ----------------------------------------------------------------------------------------------
def tumour_regions(tumour_zyx: np.ndarray, parenchyma_zyx: Optional[np.ndarray],
                   spacing_xyz: Sequence[float], definition: str = "reference",
                   margins_mm: Sequence[float] = (5, 10),
                   rim_mm: float = 5.0) -> Dict[str, np.ndarray]:
    """Regions TC, TIM and PM<d> (one per margin) as bool arrays on the tumour's grid.

    ``parenchyma_zyx=None`` means no restriction of the margins.  See the module docstring for the
    three definitions (``rim_mm``, the width of TIM, is used by ``"cross-modality"`` only).
    Keys: ``"TC"``, ``"TIM"``, ``"PM5"``, ``"PM10"`` (``f"PM{d:g}"``).
    """
    t = np.asarray(tumour_zyx).astype(bool)
    if t.ndim != 3:
        raise ValueError(f"tumour mask must be 3D (z, y, x), got shape {t.shape}")
    if not t.any():
        raise EmptyMaskError("tumour mask has no foreground voxel")
    if parenchyma_zyx is not None and np.shape(parenchyma_zyx) != t.shape:
        raise ValueError(f"parenchyma shape {np.shape(parenchyma_zyx)} != tumour shape {t.shape}")
    if definition == "reference":
        return _regions_reference(t, parenchyma_zyx, spacing_xyz, margins_mm)
    if definition == "3d":
        return _regions_3d(t, parenchyma_zyx, spacing_xyz, margins_mm)
    if definition == "cross-modality":
        return _regions_bands(t, parenchyma_zyx, spacing_xyz, margins_mm, rim_mm)
    raise ValueError(f"definition must be one of {', '.join(DEFINITIONS)}, got {definition!r}")


def _regions_reference(t, par, spacing_xyz, margins_mm):
    sx = float(spacing_xyz[0])
    radii = [int(np.round(d / sx)) for d in margins_mm]
    rmax = max(radii)
    shape = t.shape
    tc = np.zeros(shape, bool)
    pms = [np.zeros(shape, bool) for _ in margins_mm]
    zs = np.nonzero(t.any(axis=(1, 2)))[0]
    # Crop every slice to the tumour's in-plane bounding box grown by the largest margin + 1
    # pixel (clipped to the image).  This is exact: every pixel within rmax of the tumour is in
    # the crop, and for a tumour pixel the nearest background pixel of the full slice is never
    # nearer than the nearest one inside the crop (the crop's one-pixel frame beyond the bounding
    # box is background, and it is at least as near as anything beyond it; where the crop meets
    # the image border, both the full slice and the crop end there).  Tested against brute force.
    _, ys, xs = mask_box(t, (0, rmax + 1, rmax + 1))
    for k in zs:
        T = t[k, ys, xs]
        din = ndi.distance_transform_edt(T)
        dmax = din.max()
        tc[k, ys, xs] = din > dmax / 2
        dout = ndi.distance_transform_edt(~T)
        for pm, r in zip(pms, radii):
            pm[k, ys, xs] = dout <= r
    tim = t & ~tc
    out = {"TC": tc, "TIM": tim}
    allowed = t if par is None else (np.asarray(par, bool) | t)
    for pm, d in zip(pms, margins_mm):
        out[f"PM{d:g}"] = pm if par is None else (pm & allowed)
    return out


def _regions_3d(t, par, spacing_xyz, margins_mm):
    zyx = (float(spacing_xyz[2]), float(spacing_xyz[1]), float(spacing_xyz[0]))
    dmax_mm = max(margins_mm)
    margin = tuple(int(np.ceil(dmax_mm / s)) + 1 for s in zyx)
    box = mask_box(t, margin)
    T = t[box]
    # pad with background so that the image border counts as "outside the tumour"
    Tp = np.pad(T, 1, constant_values=False)
    din = ndi.distance_transform_edt(Tp, sampling=zyx)[1:-1, 1:-1, 1:-1]
    dmax = din.max()
    tc = np.zeros(t.shape, bool)
    tc[box] = din > dmax / 2
    dout = ndi.distance_transform_edt(~T, sampling=zyx)
    out = {"TC": tc, "TIM": t & ~tc}
    for d in margins_mm:
        pm = np.zeros(t.shape, bool)
        pm[box] = (dout > 0) & (dout <= d)
        if par is not None:
            pm &= np.asarray(par, bool)
        out[f"PM{d:g}"] = pm
    return out


def _regions_bands(t, par, spacing_xyz, margins_mm, rim_mm):
    """Fixed-width bands (``definition="cross-modality"``; see the module docstring)."""
    if not rim_mm > 0:
        raise ValueError(f"rim_mm must be > 0, got {rim_mm}")
    zyx = (float(spacing_xyz[2]), float(spacing_xyz[1]), float(spacing_xyz[0]))
    margins = sorted(float(d) for d in margins_mm)
    margin = tuple(int(np.ceil(margins[-1] / s)) + 1 for s in zyx)
    box = mask_box(t, margin)
    T = t[box]
    din = ndi.distance_transform_edt(np.pad(T, 1, constant_values=False),
                                     sampling=zyx)[1:-1, 1:-1, 1:-1]
    dmax = din.max()
    # depth of a voxel = distance from its centre to the nearest non-tumour voxel centre; the
    # border voxels have depth >= one spacing, so "within rim_mm of the border" = depth <= rim_mm
    core = din > (rim_mm if dmax > rim_mm else dmax / 2)
    tc = np.zeros(t.shape, bool)
    tc[box] = core
    dout = ndi.distance_transform_edt(~T, sampling=zyx)
    out = {"TC": tc, "TIM": t & ~tc}
    inner = 0.0
    for d in margins:
        pm = np.zeros(t.shape, bool)
        pm[box] = (dout > inner) & (dout <= d)
        if par is not None:
            pm &= np.asarray(par, bool)
        out[f"PM{d:g}"] = pm
        inner = d
    return out


def regions_labelmap(regions: Dict[str, np.ndarray], reference_image: Any = None,
                     margins_mm: Sequence[float] = (5, 10)):
    """Lossless single-label encoding of the regions (uint8, z, y, x).

    1 = TC, 2 = TIM, 3 = PM5 ring (PM5 minus tumour), 4 = PM10 ring (PM10 minus PM5 minus tumour).
    PM5 = labels {3} plus the tumour voxels that PM5 holds (in the reference definition every
    tumour voxel, i.e. PM5 = {1, 2, 3}; in the 3d and cross-modality definitions none, PM5 = {3});
    PM10 likewise {1, 2, 3, 4} (reference), {3, 4} (3d) or {4} (cross-modality: the 5-10 mm shell).  With a SimpleITK ``reference_image`` a SimpleITK
    image on its grid is returned.
    """
    d1, d2 = sorted(margins_mm)[:2]
    tc, tim = regions["TC"], regions["TIM"]
    tum = tc | tim
    pm1, pm2 = regions[f"PM{d1:g}"], regions[f"PM{d2:g}"]
    lab = np.zeros(tc.shape, np.uint8)
    lab[pm2 & ~tum] = LABELS["PM10_ring"]
    lab[pm1 & ~tum] = LABELS["PM5_ring"]
    lab[tim] = LABELS["TIM"]
    lab[tc] = LABELS["TC"]
    if reference_image is None:
        return lab
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(lab)
    img.CopyInformation(reference_image)
    return img


def regions_from_labelmap(labelmap: np.ndarray, definition: str = "reference") -> Dict[str, np.ndarray]:
    """Inverse of :func:`regions_labelmap` (for the default margins 5 and 10 mm)."""
    lab = np.asarray(labelmap)
    tc, tim = lab == 1, lab == 2
    tum = tc | tim
    ring5, ring10 = lab == 3, lab == 4
    if definition == "reference":
        return {"TC": tc, "TIM": tim, "PM5": ring5 | tum, "PM10": ring5 | ring10 | tum}
    if definition == "cross-modality":
        return {"TC": tc, "TIM": tim, "PM5": ring5, "PM10": ring10}
    return {"TC": tc, "TIM": tim, "PM5": ring5, "PM10": ring5 | ring10}


def case_parenchyma(case, method: str = "auto") -> Tuple[np.ndarray, str]:
    """``(organ parenchyma of ``case``, method used)``: the bool array (z, y, x) in the case's
    stored voxel order, computed on its voxels in LPS order (axial slices), as the regional
    features, the regions and the peritumoural ring use it (:func:`parenchyma_mask`)."""
    from .voxel_order import case_in_lps_order

    lps, order = case_in_lps_order(case)
    par, used = parenchyma_mask(lps, method=method, return_method=True)
    return np.ascontiguousarray(order.to_stored_array(par)), used


def case_regions(case, definition: str = "reference", parenchyma: str = "auto",
                 margins_mm: Sequence[float] = (5, 10)) -> Dict[str, Any]:
    """Everything a viewer needs for one case (used by the ``regions`` command and Slicer).

    ``parenchyma``: ``"auto"`` (supplied organ mask, else automatic), ``"supplied"``,
    ``"automatic"`` (ignore a supplied mask), ``"none"`` or an organ name (``"lung"``,
    ``"brain"``, ``"breast"``, ``"soft-tissue"``) to force that automatic method.
    Returns ``{"regions": {name: bool array}, "labelmap": SimpleITK uint8 image (see
    :func:`regions_labelmap`), "parenchyma": SimpleITK uint8 image, "parenchyma_method": str,
    "voxels": {name: int}}``.
    """
    import copy

    import SimpleITK as sitk

    from .voxel_order import case_in_lps_order

    method = parenchyma
    if parenchyma == "automatic":
        case = copy.copy(case)
        case.organ_mask = None
        case._cache = {k: v for k, v in case._cache.items() if k != "organ"}
        method = "auto"
    stored = case.image
    case, order = case_in_lps_order(case)   # axial slices, whatever order the file stores
    par, used = parenchyma_mask(case, method=method, return_method=True)
    regs = tumour_regions(case.mask_array(), None if used == "none" else par, case.spacing,
                          definition=definition, margins_mm=margins_mm)
    regs = {k: np.ascontiguousarray(order.to_stored_array(v)) for k, v in regs.items()}
    lab = regions_labelmap(regs, reference_image=stored, margins_mm=margins_mm)
    pim = sitk.GetImageFromArray(np.ascontiguousarray(order.to_stored_array(par))
                                 .astype(np.uint8))
    pim.CopyInformation(stored)
    return {"regions": regs, "labelmap": lab, "parenchyma": pim, "parenchyma_method": used,
            "voxels": {k: int(v.sum()) for k, v in regs.items()}}
