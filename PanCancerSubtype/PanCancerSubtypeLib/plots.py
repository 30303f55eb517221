"""Plots of consensus clustering results (matplotlib, no display needed).

Every function builds a :class:`matplotlib.figure.Figure` directly (no ``pyplot``, so no GUI
backend is touched and the functions are safe in scripts, threads and Slicer), returns it, and
writes a PNG when ``path`` is given.

* :func:`consensus_heatmap`: the consensus matrix of one k, items ordered by final class and,
  within a class, by the average-linkage dendrogram of ``1 - consensus`` (as ConsensusClusterPlus
  draws it), with a class colour bar.
* :func:`cdf_plot`: the consensus CDF of every k.
* :func:`delta_area_plot`: relative change in area under the CDF against k.

And one for a segmentation's quality check:

* :func:`mask_snapshot`: the axial, coronal and sagittal slices through a mask's centre, around
  it, with its outline and the seeds (``cohort-segment --snapshots``, ``segment --snapshot``).
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd


def _figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=100, layout="constrained")


def _save(fig, path: Optional[str], dpi: int = 120):
    if path:
        from .files import save_figure

        save_figure(fig, path, dpi=dpi)     # the whole PNG or none; umask permissions
    return fig


def _palette(k: int):
    from matplotlib import colormaps

    cmap = colormaps["tab10" if k <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(k)]


def consensus_order(consensus: np.ndarray, classes: Sequence) -> np.ndarray:
    """Item order for display: by class (ascending), within a class by the leaf order of the
    average-linkage dendrogram of ``1 - consensus``."""
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    C = np.asarray(consensus, dtype=float)
    n = C.shape[0]
    if n < 3:
        leaves = np.arange(n)
    else:
        D = 1.0 - C
        D = (D + D.T) / 2.0
        np.fill_diagonal(D, 0.0)
        leaves = leaves_list(linkage(squareform(np.clip(D, 0, None), checks=False), "average"))
    rank = np.empty(n, dtype=int)
    rank[leaves] = np.arange(n)
    cls = np.asarray(classes)
    return np.lexsort((rank, cls))


def consensus_heatmap(consensus: np.ndarray, classes: Sequence, k: Optional[int] = None,
                      path: Optional[str] = None, title: Optional[str] = None,
                      figsize=(6.0, 6.4)):
    """Heatmap of a consensus matrix (white 0 -> dark blue 1), items ordered by class."""
    from matplotlib.colors import ListedColormap

    C = np.asarray(consensus, dtype=float)
    cls = np.asarray(classes)
    order = consensus_order(C, cls)
    u = np.unique(cls)
    k = k if k is not None else len(u)
    fig = _figure(figsize)
    gs = fig.add_gridspec(2, 2, height_ratios=[0.04, 1], width_ratios=[1, 0.04])
    axb = fig.add_subplot(gs[0, 0])
    ax = fig.add_subplot(gs[1, 0], sharex=axb)
    cax = fig.add_subplot(gs[1, 1])
    im = ax.imshow(C[np.ix_(order, order)], cmap="Blues", vmin=0, vmax=1,
                   interpolation="nearest", aspect="auto")
    code = np.searchsorted(u, cls[order])
    axb.imshow(code[None, :], cmap=ListedColormap(_palette(len(u))), aspect="auto",
               interpolation="nearest", vmin=-0.5, vmax=len(u) - 0.5)
    axb.set_yticks([])
    axb.tick_params(labelbottom=False, bottom=False)
    axb.set_title(title or f"Consensus matrix, k = {k}")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(f"{C.shape[0]} items (ordered by class, then dendrogram)")
    fig.colorbar(im, cax=cax, label="consensus")
    return _save(fig, path)


def cdf_plot(cdfs: Mapping[int, Sequence[float]], path: Optional[str] = None,
             figsize=(6.0, 4.5)):
    """Consensus CDF curves, one per k: ``cdfs[k]`` = CDF at 0.01, 0.02, ..., 1.00 (100 values,
    as ConsensusClusterPlus' histogram with 0.01 bins) or the consensus matrix
    (:func:`~PanCancerSubtypeLib.consensus.consensus_cdf_xy`)."""
    from .consensus import consensus_cdf_xy

    ks = sorted(cdfs)
    fig = _figure(figsize)
    ax = fig.add_subplot(1, 1, 1)
    cols = _palette(max(len(ks), 1))
    for i, k in enumerate(ks):
        x, y = consensus_cdf_xy(cdfs[k])
        # value j holds on the right-closed bin ((j-1)/100, j/100], hence steps "pre"
        ax.step(np.r_[0.0, x], np.r_[y[0], y], where="pre", color=cols[i], label=f"k={k}")
    ax.set_xlabel("consensus index")
    ax.set_ylabel("CDF")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title("Consensus CDF")
    ax.legend(fontsize=8, ncol=2, loc="lower right")
    return _save(fig, path)


def delta_area_plot(per_k: pd.DataFrame, suggested_k: Optional[int] = None,
                    path: Optional[str] = None, figsize=(6.0, 4.0)):
    """Relative change in area under the CDF (``delta_area`` of ``per_k``) against k; the
    suggested k is marked."""
    df = per_k.sort_values("k")
    fig = _figure(figsize)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(df["k"], df["delta_area"], "o-", color="tab:blue")
    if suggested_k is not None and suggested_k in set(df["k"]):
        y = float(df.loc[df["k"] == suggested_k, "delta_area"].iloc[0])
        ax.plot([suggested_k], [y], "o", ms=12, mfc="none", mec="tab:red",
                label=f"suggested k = {suggested_k}")
        ax.legend()
    ax.set_xlabel("k")
    ax.set_ylabel("relative change in CDF area")
    ax.set_xticks(list(df["k"]))
    ax.set_title("Delta area")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def snapshot_centre(m: np.ndarray, spacing_zyx) -> np.ndarray:
    """The voxel (z, y, x) the snapshot's three views go through: the mask's centre of mass,
    or the mask's voxel nearest to it when it lies outside the mask (two lesions: the views
    through the point between them showed neither)."""
    idx = np.argwhere(m)
    centre = np.round(idx.mean(0)).astype(int)
    if m[tuple(centre)]:
        return centre
    return idx[np.argmin((((idx - idx.mean(0)) * np.asarray(spacing_zyx, float)) ** 2).sum(1))]


def mask_snapshot(image, mask, seeds_lps=(), path: Optional[str] = None, title: str = "",
                  margin_mm: float = 30.0):
    """Axial, coronal and sagittal slices (SimpleITK ``image`` and its 0/1 ``mask`` on the same
    grid, both shown in LPS order: patient left on the right of the axial view, as radiologists
    read it) through the mask's centre of mass (the mask's voxel nearest to it when it lies
    outside the mask, as between two lesions; the first seed's voxel for an empty mask),
    cropped to the mask's extent + ``margin_mm``, in physical proportions, grey levels from the
    crop's 1st to 99.5th percentile; the mask's outline in red, the seeds (LPS mm) on the slices
    through them as yellow crosses."""
    import SimpleITK as sitk

    img = sitk.DICOMOrient(image, "LPS")
    msk = sitk.DICOMOrient(mask, "LPS")
    a = sitk.GetArrayFromImage(img).astype(np.float32)
    m = sitk.GetArrayFromImage(msk) > 0
    sp = np.array(img.GetSpacing()[::-1], float)                         # z, y, x
    pts = [np.round(img.TransformPhysicalPointToContinuousIndex([float(v) for v in q])[::-1])
           .astype(int) for q in seeds_lps]
    if m.any():
        idx = np.argwhere(m)
        centre = snapshot_centre(m, sp)
        lo, hi = idx.min(0), idx.max(0)
    else:
        centre = pts[0] if pts else np.array(a.shape) // 2
        lo = hi = centre
    pad = np.ceil(margin_mm / sp).astype(int)
    lo = np.maximum(lo - pad, 0)
    hi = np.minimum(hi + pad + 1, a.shape)
    crop = a[tuple(slice(i, j) for i, j in zip(lo, hi))]
    vmin, vmax = (float(v) for v in np.percentile(crop, [1.0, 99.5]))
    fig = _figure((12, 4.4))
    axes = fig.subplots(1, 3)
    views = (("axial", 0, (1, 2)), ("coronal", 1, (0, 2)), ("sagittal", 2, (0, 1)))
    for ax, (name, axis, (r, c)) in zip(axes, views):
        k = int(np.clip(centre[axis], 0, a.shape[axis] - 1))
        sl = [slice(i, j) for i, j in zip(lo, hi)]
        sl[axis] = k
        im2, m2 = a[tuple(sl)], m[tuple(sl)]
        if name != "axial":       # superior up
            im2, m2 = im2[::-1], m2[::-1]
        ax.imshow(im2, cmap="gray", vmin=vmin, vmax=vmax, aspect=sp[r] / sp[c],
                  interpolation="nearest")
        if m2.any():
            ax.contour(m2.astype(float), [0.5], colors="red", linewidths=1.0)
        for q in pts:
            if q[axis] == k and all(lo[d] <= q[d] < hi[d] for d in (r, c)):
                y = q[r] - lo[r] if name == "axial" else hi[r] - 1 - q[r]
                ax.plot([q[c] - lo[c]], [y], "+", color="yellow", markersize=12, mew=2)
        ax.set_title(f"{name} {'z' if axis == 0 else 'y' if axis == 1 else 'x'} = {k}",
                     fontsize=9)
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path, dpi=80)
