"""Render the extension's index screenshots from what the core library computes.

No Slicer application runs on the machines this project is built on, so these are not screenshots
of the panels: they are the results the panels show, computed by the same core calls on a shared
case and drawn with matplotlib.

* ``Screenshots/segmentation.png`` -- PyRadiomics' lung1 CT, axial slice through the tumour: the
  seed-point segmentation from one seed at the tumour centre (what *Segment from seeds* adds) and
  the TC / TIM / PM5 / PM10 regions (*Add TC / TIM / PM5 / PM10 segments*).
* ``Screenshots/features.png`` -- the SPHARM reconstruction of the same tumour at degrees 1, 3, 8
  and 15 (*SPHARM reconstruction*).
* ``Screenshots/subtype.png`` -- the consensus matrix of subtype discovery on a synthetic cohort
  with three groups (*Run consensus clustering*).

Run from the repository root (needs the shared data)::

    PANCANCER_SHARED_DATA=../shared/data PYTHONPATH=PanCancerSubtype python Resources/make_screenshots.py
"""
import csv
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import SimpleITK as sitk  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Resources", "Screenshots")
DATA = os.environ.get("PANCANCER_SHARED_DATA", os.path.join(os.path.dirname(ROOT), "shared",
                                                            "data"))
COLOURS = {"tumour": "#e03c3c", "TIM": "#ffd166", "PM5 ring": "#06d6a0", "PM10 ring": "#118ab2"}


def lung1():
    with open(os.path.join(DATA, "cases.csv"), newline="") as fh:
        row = {r["case_id"]: r for r in csv.DictReader(fh)}["lung1"]
    img = sitk.ReadImage(os.path.join(DATA, row["image"]))
    mask = sitk.ReadImage(os.path.join(DATA, row["mask"]))
    return img, mask


def segmentation_figure(img, mask, path):
    from PanCancerSubtypeLib.io import load_case
    from PanCancerSubtypeLib.segmentation import segment_from_seeds
    from PanCancerSubtypeSlicerLib.jobs import region_labels

    truth = sitk.GetArrayFromImage(mask) == 1
    kji = np.argwhere(truth).mean(axis=0)
    seed = img.TransformContinuousIndexToPhysicalPoint(tuple(float(v) for v in kji[::-1]))
    seg = sitk.GetArrayFromImage(segment_from_seeds(sitk.Cast(img, sitk.sitkFloat32), [seed],
                                                    modality="CT")) != 0
    case = load_case(img, mask, modality="CT", case_id="lung1")
    case.organ = "lung"
    regions = region_labels(case)
    k = int(round(kji[0]))
    ct = sitk.GetArrayFromImage(img)[k].astype(float)
    cy, cx = (int(round(v)) for v in kji[1:])
    half = 70
    win = (slice(max(cy - half, 0), cy + half), slice(max(cx - half, 0), cx + half))
    fig, axes = plt.subplots(1, 2, figsize=(10, 5.2), dpi=100)
    for ax in axes:
        ax.imshow(ct[win], cmap="gray", vmin=-1000, vmax=400, interpolation="nearest")
        ax.axis("off")
    axes[0].contour(seg[k][win], [0.5], colors=[COLOURS["tumour"]], linewidths=2)
    sy, sx = cy - win[0].start, cx - win[1].start
    axes[0].plot([sx], [sy], "+", color="#00e5ff", ms=14, mew=2)
    axes[0].set_title("Segment from seeds (one seed, +)")
    for value, name in ((4, "PM10 ring"), (3, "PM5 ring"), (2, "TIM"), (1, "tumour")):
        axes[1].contour((regions[k] == value)[win], [0.5], colors=[COLOURS[name]],
                        linewidths=1.8)
    axes[1].set_title("TC / TIM / PM5 / PM10 segments")
    handles = [plt.Line2D([], [], color=c, lw=2, label=n if n != "tumour" else "TC")
               for n, c in COLOURS.items()]
    axes[1].legend(handles=handles, loc="lower right", fontsize=9, framealpha=0.8)
    fig.suptitle("PanCancer Segmentation on PyRadiomics' lung1 CT (computed by the core library)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def features_figure(img, mask, path):
    from PanCancerSubtypeSlicerLib.jobs import spharm_mesh_lps

    truth = sitk.GetArrayFromImage(mask) == 1
    fig = plt.figure(figsize=(10, 3.4), dpi=100)
    for i, degree in enumerate((1, 3, 8, 15)):
        v, f = spharm_mesh_lps(truth, img, degree, "robust")
        v = v - v.mean(axis=0)
        ax = fig.add_subplot(1, 4, i + 1, projection="3d")
        ax.plot_trisurf(v[:, 0], v[:, 1], v[:, 2], triangles=f, color=COLOURS["tumour"],
                        linewidth=0, antialiased=True, shade=True)
        lim = np.abs(v).max()
        for set_lim in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
            set_lim(-lim, lim)
        ax.set_box_aspect((1, 1, 1))
        ax.set_axis_off()
        ax.set_title(f"degree {degree}")
    fig.suptitle("PanCancer Features: SPHARM reconstruction of the lung1 tumour")
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def subtype_figure(path):
    import pandas as pd

    from PanCancerSubtypeLib.discovery import discover
    from PanCancerSubtypeLib.plots import consensus_heatmap

    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, (3, 12))
    x = np.vstack([c + rng.normal(0, 2.5, (40, 12)) for c in centres])
    df = pd.DataFrame(x, columns=[f"f{i}" for i in range(12)])
    df.insert(0, "ID", [f"case{i:03d}" for i in range(len(df))])
    res = discover(df, k_max=5, reps=200, seed=1)
    k = int(res.suggested_k)
    matrix = res.consensus.results_[k].consensus
    classes = res.classes[f"k{k}"].to_numpy()
    fig = consensus_heatmap(matrix, classes, k=k, figsize=(6.0, 6.4),
                            title=f"Consensus matrix, suggested k = {k} (synthetic cohort)")
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    img, mask = lung1()
    segmentation_figure(img, mask, os.path.join(OUT, "segmentation.png"))
    features_figure(img, mask, os.path.join(OUT, "features.png"))
    subtype_figure(os.path.join(OUT, "subtype.png"))
    for name in ("segmentation", "features", "subtype"):
        print("wrote", os.path.join(OUT, name + ".png"))
