"""Seed points, background points and boxes in physical LPS mm -> voxel indices, a second
channel on the image's grid, the part of an image a method works on (its blocks on a grid
finer than half a millimetre: :func:`block_mean`, and the mask's way back:
:func:`mask_from_blocks`), and points inside a mask (its deepest voxel, its inner half)
(private to segmentation; :func:`seeds_to_indices` is public through :mod:`.semiauto`)."""
from __future__ import annotations

import logging
from typing import List, Optional

import numpy as np

from ..errors import GeometryMismatchError, format_numbers
from ..regions import mask_bounds

log = logging.getLogger(__name__)

__all__ = ["seeds_to_indices", "bbox_to_slices", "check_scalar_3d", "deepest_point",
           "inner_half_points", "inner_half_points_per_seed", "second_channel_fit",
           "second_channel_on_grid", "resampled_onto", "work_region", "holds", "check_seeds_in_box", "lps_box",
           "block_factors", "block_mean", "mask_from_blocks", "block_aligned", "BLOCK_RADII",
           "small_for_blocks", "clipped_to_box"]


def check_scalar_3d(image, source: Optional[str] = None) -> None:
    """TypeError unless ``image`` is a SimpleITK image; ImageDimensionError unless it is a 3D
    scalar volume of more than one voxel along each axis (:func:`..io.check_volume`, the image
    reader's rule: a single slice is 2D, and the click method's 3D surface would shrink to the
    click)."""
    import SimpleITK as sitk

    from ..io import check_volume

    if not isinstance(image, sitk.Image):
        raise TypeError("image must be a SimpleITK image")
    check_volume(image, source)


def second_channel_fit(ch2, image):
    """How the second channel ``ch2`` fits the image's grid (the one rule, for the method and
    the ``segment`` command): ``(channel, how)`` with ``how`` "same" (``ch2`` itself, on the
    grid), "reordered" (the same grid with the voxels stored in another order:
    :func:`..voxel_order.reordered_onto`, ``ch2`` reordered onto it), "resample" (another grid
    overlapping the image physically: ``ch2`` itself, to be resampled, :func:`resampled_onto`)
    or "apart" (no physical overlap: ``ch2`` itself)."""
    from ..io import physical_bounds, same_geometry
    from ..voxel_order import reordered_onto

    if same_geometry(ch2, image):
        return ch2, "same"
    reordered = reordered_onto(ch2, image)
    if reordered is not None:
        return reordered, "reordered"
    lo1, hi1 = physical_bounds(ch2)
    lo2, hi2 = physical_bounds(image)
    overlap = bool(np.all(np.minimum(hi1, hi2) > np.maximum(lo1, lo2)))
    return ch2, "resample" if overlap else "apart"


def second_channel_on_grid(ch2, image, source: Optional[str] = None):
    """The second channel on the image's grid (:func:`second_channel_fit`): as it is, or
    reordered; on another grid overlapping the image, as it is, to be resampled part by part
    (:func:`resampled_onto` the part of the image a method works on: the whole image's grid is
    never made).  Returns ``(channel, resample)``, ``resample`` True in the last case; a
    channel that does not overlap the image is refused."""
    from ..io import describe_geometry

    check_scalar_3d(ch2, f"{source}: second channel" if source else "second channel")
    out, how = second_channel_fit(ch2, image)
    if how == "apart":
        raise GeometryMismatchError(
            "the second channel and the image do not overlap physically; second channel grid: "
            f"{describe_geometry(ch2)}; image grid: {describe_geometry(image)}",
            source=f"{source}: second channel" if source else "second channel")
    if how == "resample":
        log.warning("%s: second channel resampled (linear) onto the image grid",
                    source or "image")
    return out, how == "resample"


def resampled_onto(ch2, grid):
    """``ch2`` resampled linearly onto ``grid``'s grid (float32, 0 outside ``ch2``).  Each
    voxel is interpolated at its own physical point, so on a part of an image's grid (e.g.
    ``voxel_order.LPSOrder.part``) this is that part of what resampling onto the whole grid
    gives."""
    import SimpleITK as sitk

    return sitk.Resample(ch2, grid, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)


def block_factors(spacing_zyx, finest_mm: Optional[float]) -> tuple:
    """Per axis (z, y, x), the whole number of voxels that :func:`block_mean` averages so that
    a method works on no grid finer than ``finest_mm``: ``floor(finest_mm / spacing)`` where
    that is at least 2 (an axis sampled at half of ``finest_mm`` or finer), else 1; all 1
    for ``finest_mm`` None."""
    if finest_mm is None:
        return (1, 1, 1)
    return tuple(max(1, int(np.floor(float(finest_mm) / float(s) + 1e-9)))
                 for s in spacing_zyx)


def block_mean(image, factors_zyx):
    """``image`` (SimpleITK, 3D) on a grid ``factors_zyx`` times coarser: each voxel the mean
    of a block of ``factors_zyx`` voxels (what a scanner with voxels that large records: the
    partial volume), the last block along an axis the mean of the voxels it has; its centre
    at the block's centre, the same direction.  Float32 (float64 stays float64); the sums in
    float64.  The image itself when every factor is 1."""
    import SimpleITK as sitk

    f = np.asarray(factors_zyx, int)
    if np.all(f == 1):
        return image
    arr = sitk.GetArrayViewFromImage(image)
    dtype = np.float64 if arr.dtype == np.float64 else np.float32
    total = arr
    count = np.ones(1)
    for ax in np.argsort(-f, kind="stable"):        # (the largest reduction first)
        k, n = int(f[ax]), total.shape[ax]
        if k == 1:
            continue
        whole = n // k * k

        def along(lo, hi):      # (the voxels lo:hi along this axis: a view)
            return total[tuple(slice(lo, hi) if j == ax else slice(None) for j in range(3))]
        head = along(0, whole)
        shape = list(head.shape)
        shape[ax:ax + 1] = [whole // k, k]
        sums = [head.reshape(shape).sum(axis=ax + 1, dtype=np.float64)]
        c = [float(k)] * (whole // k)
        if whole < n:                               # the last block, short
            sums.append(along(whole, n).sum(axis=ax, keepdims=True, dtype=np.float64))
            c.append(float(n - whole))
        total = np.concatenate(sums, axis=ax) if len(sums) > 1 else sums[0]
        count = count * np.array(c).reshape([-1 if j == ax else 1 for j in range(3)])
    np.divide(total, count, out=total)             # (a new float64 array: some factor > 1)
    out = sitk.GetImageFromArray(total.astype(dtype, copy=False))
    out.SetSpacing(tuple(float(s) * float(k) for s, k in zip(image.GetSpacing(), f[::-1])))
    out.SetDirection(image.GetDirection())
    out.SetOrigin(image.TransformContinuousIndexToPhysicalPoint(
        tuple((float(k) - 1.0) / 2.0 for k in f[::-1])))
    return out


def block_aligned(region, shape_zyx, factors_zyx):
    """The part ``region`` (index slices z, y, x of an image of ``shape_zyx``) grown to a whole
    number of ``factors_zyx`` blocks per axis where the image has the voxels (at its end, then
    at its start), so that :func:`block_mean` averages whole blocks (a last short block is left
    only where the image itself has fewer voxels)."""
    out = []
    for r, n, f in zip(region, shape_zyx, factors_zyx):
        lo, hi = int(r.start), int(r.stop)
        short = (-(hi - lo)) % int(f)
        more = min(short, int(n) - hi)
        hi += more
        lo -= min(short - more, lo)
        out.append(slice(lo, hi))
    return tuple(out)


def mask_from_blocks(mask: np.ndarray, shape_zyx, factors_zyx) -> np.ndarray:
    """A mask on the grid :func:`block_mean` coarsened by ``factors_zyx`` back on the fine grid
    of ``shape_zyx``: the coarse mask interpolated linearly at each fine voxel's centre (the
    coarse voxel i's centre is the fine index ``i f + (f - 1) / 2``; beyond the first and last
    centres the nearest), kept where >= 0.5 (worked out within the mask's bounds grown by a
    block: 0 beyond).  The mask itself when every factor is 1."""
    f = np.asarray(factors_zyx, int)
    m = np.asarray(mask, bool)
    if np.all(f == 1):
        return m
    shape = np.asarray(shape_zyx, int)
    out = np.zeros(tuple(shape), bool)
    if not m.any():
        return out
    lo_c, hi_c = mask_bounds(m)
    lo_c, hi_c = np.maximum(lo_c - 1, 0), np.minimum(hi_c + 1, m.shape)
    lo_f = np.where(f > 1, np.maximum(lo_c * f - f, 0), lo_c)
    hi_f = np.where(f > 1, np.minimum(hi_c * f + f, shape), hi_c)
    vals = m[tuple(slice(a, b) for a, b in zip(lo_c, hi_c))].astype(np.float32)
    for ax in range(3):
        if f[ax] == 1:
            continue
        # (the window's ends are the nearest's within it: its outer layer is 0, or the mask's end)
        x = np.clip((np.arange(lo_f[ax], hi_f[ax]) - (f[ax] - 1) / 2.0) / f[ax] - lo_c[ax], 0,
                    vals.shape[ax] - 1)
        i0 = np.floor(x).astype(int)
        i1 = np.minimum(i0 + 1, vals.shape[ax] - 1)
        w = (x - i0).astype(np.float32).reshape([-1 if k == ax else 1 for k in range(3)])
        vals = np.take(vals, i0, axis=ax) * (1 - w) + np.take(vals, i1, axis=ax) * w
    out[tuple(slice(a, b) for a, b in zip(lo_f, hi_f))] = vals >= 0.5
    return out


def _ras_hint(image, p) -> str:
    """For a 3D point outside the image: a hint when the point with x and y negated (RAS, as 3D
    Slicer shows coordinates, read as LPS) lies inside it."""
    if len(p) != 3:
        return ""
    q = [-float(p[0]), -float(p[1]), float(p[2])]
    idx = np.round(image.TransformPhysicalPointToContinuousIndex(q)).astype(int)
    if np.any(idx < 0) or np.any(idx >= np.array(image.GetSize())):
        return ""
    return (f"; {format_numbers(q, 2)} lies inside it: were these RAS coordinates (as 3D Slicer "
            f"shows them)? Points are LPS: negate x and y")


def seeds_to_indices(image, seeds_lps_mm, source: Optional[str] = None, what: str = "seed point"):
    """Physical LPS seed points (mm) -> voxel indices (x, y, z); error if outside the image."""
    pts = np.atleast_2d(np.asarray(seeds_lps_mm, dtype=float))
    if pts.size == 0:
        raise ValueError(f"at least one {what} is needed")
    if pts.shape[1] != image.GetDimension():
        raise ValueError(f"{what}s must have {image.GetDimension()} coordinates (x, y, z in "
                         f"LPS mm), got {pts.shape[1]}")
    if not np.all(np.isfinite(pts)):
        raise ValueError(f"{what}s must be finite numbers")
    size = np.array(image.GetSize())
    out = []
    for p in pts:
        cidx = np.array(image.TransformPhysicalPointToContinuousIndex([float(v) for v in p]))
        idx = np.round(cidx).astype(int)
        if np.any(idx < 0) or np.any(idx >= size):
            lo = image.TransformIndexToPhysicalPoint([0] * image.GetDimension())
            hi = image.TransformIndexToPhysicalPoint([int(s) - 1 for s in size])
            raise ValueError(
                f"{source + ': ' if source else ''}{what} {format_numbers(p, 2)} (LPS mm) "
                f"lies outside the image (voxel index {format_numbers(idx)}, image size "
                f"{format_numbers(size)}, physical extent from {format_numbers(lo, 1)} to "
                f"{format_numbers(hi, 1)})" + _ras_hint(image, p))
        out.append(tuple(int(v) for v in idx))
    return out


def bbox_to_slices(image, bbox, source: Optional[str] = None):
    """bbox (x0,y0,z0,x1,y1,z1) in LPS mm -> index slices (z, y, x) clipped to the image (the
    index-space box holding the physical box's eight corners; a corner within 1e-6 voxel of a
    voxel's centre lies on it)."""
    b = np.asarray(bbox, dtype=float).ravel()
    if b.size != 6:
        raise ValueError("bbox must have 6 numbers x0,y0,z0,x1,y1,z1 (LPS mm)")
    if not np.all(np.isfinite(b)):
        raise ValueError("bbox must be finite numbers")
    corners = []
    for x in (b[0], b[3]):
        for y in (b[1], b[4]):
            for z in (b[2], b[5]):
                corners.append(image.TransformPhysicalPointToContinuousIndex((x, y, z)))
    # a corner on a voxel's centre, up to rounding error (a box drawn on the voxels; the same
    # box on the same scan stored in another voxel order): that voxel, not one beyond
    corners = np.array(corners)
    centres = np.round(corners)
    corners = np.where(np.abs(corners - centres) < 1e-6, centres, corners)
    lo = np.floor(corners.min(0)).astype(int)
    hi = np.ceil(corners.max(0)).astype(int) + 1
    size = np.array(image.GetSize())
    lo = np.clip(lo, 0, size)
    hi = np.clip(hi, 0, size)
    if np.any(hi <= lo):
        raise ValueError(f"{source + ': ' if source else ''}bounding box {format_numbers(b)} "
                         f"does not overlap the image")
    return tuple(slice(int(lo[d]), int(hi[d])) for d in (2, 1, 0))


def check_seeds_in_box(seeds_zyx, box, point_of, source: Optional[str] = None) -> None:
    """ValueError naming the first seed (voxel index z, y, x) outside ``box`` (index slices z, y,
    x, or None: no test) by its point in LPS mm, ``point_of(seed)``."""
    for s in seeds_zyx if box is not None else []:
        if not all(b.start <= int(v) < b.stop for b, v in zip(box, s)):
            raise ValueError(f"{source + ': ' if source else ''}seed "
                             f"{format_numbers(point_of(s), 2)} (LPS mm) lies outside the "
                             f"bounding box")


def lps_box(order, image, bbox, seeds_zyx, source: Optional[str] = None):
    """``bbox`` (LPS mm corners, or None) as index slices (z, y, x) of the LPS order ``order``
    (``voxel_order.LPSOrder``) of ``image``, checked on the image as given
    (:func:`bbox_to_slices`), a seed (LPS indices z, y, x) outside it refused by its point in
    LPS mm (:func:`check_seeds_in_box`)."""
    box = None if bbox is None else order.lps_slices(bbox_to_slices(image, bbox, source))
    check_seeds_in_box(seeds_zyx, box, lambda s: image.TransformIndexToPhysicalPoint(
        order.to_stored(s)), source)
    return box


def work_region(shape_zyx, spacing_zyx, seeds_zyx, box, margin_mm: Optional[float]):
    """Index slices (z, y, x) of the part of an image of ``shape_zyx`` that a segmentation
    from seeds ``seeds_zyx`` works on: the box of the seeds and of ``box`` (index slices, or
    None) grown by ``margin_mm`` along each axis, clipped to the image; None when that is the
    whole image (or ``margin_mm`` is None)."""
    if margin_mm is None:
        return None
    shape = np.asarray(shape_zyx, int)
    pts = np.asarray(seeds_zyx, int).reshape(-1, 3)
    lo, hi = pts.min(0), pts.max(0) + 1
    if box is not None:
        lo = np.minimum(lo, [b.start for b in box])
        hi = np.maximum(hi, [b.stop for b in box])
    grow = np.ceil(float(margin_mm) / np.asarray(spacing_zyx, float)).astype(int)
    lo, hi = np.maximum(lo - grow, 0), np.minimum(hi + grow, shape)
    if np.all(lo == 0) and np.all(hi == shape):
        return None
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))


def holds(region, shape_zyx, lo, hi) -> bool:
    """Whether the part ``region`` (index slices z, y, x) of an image of ``shape_zyx`` holds
    the voxels ``lo:hi`` (the part's own indices, exclusive, not clipped) with a voxel to
    spare on each side where the part is cut out of the image (not where it ends with it)."""
    shape = np.asarray(shape_zyx, int)
    start = np.array([r.start for r in region])
    stop = np.array([r.stop for r in region])
    size = stop - start
    lo, hi = np.asarray(lo, int), np.asarray(hi, int)
    ok_lo = (start == 0) | (lo >= 1)
    ok_hi = (stop == shape) | (hi <= size - 1)
    return bool(np.all(ok_lo) and np.all(ok_hi))


def box_fill(mask: np.ndarray, box) -> Optional[float]:
    """The share of the box that ``mask`` fills (its voxels / the box's; ``box``: index slices
    z, y, x, the mask lying inside it), or None without a box."""
    return None if box is None else float(mask.sum()) / np.prod([b.stop - b.start for b in box])


def box_span(mask: np.ndarray, box) -> Optional[float]:
    """The smallest extent of ``mask`` along an axis as a share of the box's (``box``: index
    slices z, y, x, as ``bbox_to_slices`` gives them; the mask lies inside it); None without a
    box or for an empty mask."""
    if box is None:
        return None
    sub = np.asarray(mask)[tuple(box)]
    if not sub.any():
        return None
    lo, hi = mask_bounds(sub)
    return float(np.min((hi - lo) / np.array(sub.shape)))


def short_of_box(mask: np.ndarray, box, min_fill: float, min_span: float) -> bool:
    """With a box, ``mask`` fills less than ``min_fill`` of it (:func:`box_fill`) or spans less
    than ``min_span`` of it along an axis (:func:`box_span`); False without a box."""
    fill, span = box_fill(mask, box), box_span(mask, box)
    return (fill is not None and fill < min_fill) or (span is not None and span < min_span)


def _depth(mask: np.ndarray, spacing_zyx):
    """Distance (mm) of every voxel of ``mask``'s bounding box to the mask's surface, and the
    box's first corner (z, y, x)."""
    from scipy import ndimage as ndi

    lo, hi = mask_bounds(mask)
    sub = mask[tuple(slice(a, b) for a, b in zip(lo, hi))]
    return ndi.distance_transform_edt(np.pad(sub, 1), sampling=spacing_zyx)[1:-1, 1:-1, 1:-1], lo


def deepest_point(mask: np.ndarray, spacing_zyx) -> np.ndarray:
    """Voxel (z, y, x) of ``mask`` farthest from its surface."""
    depth, lo = _depth(mask, spacing_zyx)
    return np.array(np.unravel_index(int(np.argmax(depth)), depth.shape)) + lo


def inner_half_points(mask: np.ndarray, spacing_zyx, n: int, start=None) -> List[np.ndarray]:
    """``n`` voxels (z, y, x) of the inner half of ``mask`` (depth >= half the maximal depth),
    by farthest-point sampling from ``start`` (default: the deepest voxel)."""
    if n <= 0 or not mask.any():
        return []
    depth, lo = _depth(mask, spacing_zyx)
    inner = np.argwhere(depth >= 0.5 * depth.max()) + lo
    first = np.asarray(start) if start is not None else \
        np.array(np.unravel_index(int(np.argmax(depth)), depth.shape)) + lo
    sp = np.asarray(spacing_zyx, float)
    d2 = (((inner - first) * sp) ** 2).sum(1)
    out = []
    for _ in range(n):
        k = int(np.argmax(d2))
        out.append(inner[k])
        d2 = np.minimum(d2, (((inner - inner[k]) * sp) ** 2).sum(1))
    return out


def inner_half_points_per_seed(mask: np.ndarray, seeds_zyx, spacing_zyx,
                               n: int) -> List[List[np.ndarray]]:
    """``n`` sets of seeds, each moving every seed of ``seeds_zyx`` (voxel indices z, y, x) to
    another voxel of the inner half of its own part of ``mask``: the mask's voxels nearer (in
    mm) to it than to any other seed (one lesion or lobe per seed).  Each part's points come
    from :func:`inner_half_points` (farthest-point sampling from the part's deepest voxel); a
    seed whose part is empty stays where it is."""
    idx = np.argwhere(mask)
    if n <= 0 or idx.size == 0:
        return []
    lo, hi = idx.min(0), idx.max(0) + 1
    sp = np.asarray(spacing_zyx, float)
    seeds = [np.asarray(s) for s in seeds_zyx]
    owner = np.zeros(len(idx), int)
    best = np.full(len(idx), np.inf)
    for i, s in enumerate(seeds):
        d2 = (((idx - s) * sp) ** 2).sum(1)
        nearer = d2 < best
        owner[nearer], best[nearer] = i, d2[nearer]
    per = []
    for i, s in enumerate(seeds):
        sel = idx[owner == i] - lo
        part = np.zeros(tuple(hi - lo), bool)
        part[tuple(sel.T)] = True
        pts = [q + lo for q in inner_half_points(part, sp, n)] if len(sel) else []
        per.append(pts + [s] * (n - len(pts)))
    return [[per[i][j] for i in range(len(seeds))] for j in range(n)]


def float32_exact(arr: np.ndarray) -> bool:
    """Whether float32 holds every value of the integer array ``arr`` exactly (a type it casts
    to safely, or values within +-2**24: CT's HU stored as int32), so that casting the part the
    method works on gives what casting the whole image would."""
    if np.can_cast(arr.dtype, np.float32):
        return True
    return bool(np.issubdtype(arr.dtype, np.integer) and arr.size > 0
                and -2 ** 24 <= int(arr.min()) and int(arr.max()) <= 2 ** 24)


#: a mask on blocks (``ClickParameters.finest_mm``) smaller than a ball of this many blocks' radius
#: is made again on the image's grid: the blocks' surface is a block's width coarser (a sharp
#: ball taken to blocks of 0.9 mm by their partial volume and back: Dice 0.925 at 3 mm radius,
#: 0.954 at 5 mm, 0.977 at 10 mm); a larger mask is not (made again, a small lesion took the
#: blocks' time and the grid's: ``benchmarks/segmentation_history.md``, version 31)
BLOCK_RADII = 6.0


def small_for_blocks(mask: np.ndarray, voxel_mm3: float, edge_mm: float) -> bool:
    """Whether ``mask`` (on a grid of blocks of ``voxel_mm3``) is smaller than a ball of
    ``BLOCK_RADII`` blocks' radius (``edge_mm``: the longest edge of a block along an axis
    that was blocked)."""
    return float(mask.sum()) * voxel_mm3 < 4.0 / 3.0 * np.pi * (BLOCK_RADII * edge_mm) ** 3


def clipped_to_box(mask, bbox, volume_ml: float):
    """``(mask, volume_ml)``: on an oblique grid, ``mask`` without the voxels whose centre lies
    outside the physical box ``bbox`` (x0, y0, z0, x1, y1, z1, LPS mm; None: no box) and its
    volume; unchanged on a grid along the axes (its index box is the box) or when every voxel
    is inside.  (On an oblique grid the method's index box encloses the user's box: a mask
    reached 5 mm beyond it at 40 degrees.)"""
    import SimpleITK as sitk

    if bbox is None:
        return mask, volume_ml
    d = np.asarray(mask.GetDirection(), float).reshape(3, 3)
    if np.allclose(np.abs(d), np.round(np.abs(d)), atol=1e-6):
        return mask, volume_ml
    kji = np.argwhere(sitk.GetArrayViewFromImage(mask) != 0)
    if not len(kji):
        return mask, volume_ml
    pts = (kji[:, ::-1].astype(float) * np.asarray(mask.GetSpacing(), float)) @ d.T \
        + np.asarray(mask.GetOrigin(), float)
    b = np.asarray(bbox, float).reshape(2, 3)
    outside = ~np.all((pts >= b.min(axis=0) - 1e-6) & (pts <= b.max(axis=0) + 1e-6), axis=1)
    if not outside.any():
        return mask, volume_ml
    arr = sitk.GetArrayFromImage(mask)
    k, j, i = kji[outside].T
    arr[k, j, i] = 0
    cut = sitk.GetImageFromArray(arr)
    cut.CopyInformation(mask)
    kept = int(len(kji) - outside.sum())
    return cut, kept * float(np.prod(mask.GetSpacing())) / 1000.0
