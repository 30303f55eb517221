"""Draw the extension and module icons (128x128 PNG); the screenshots come from make_screenshots.py.

Run from the repository root: ``python Resources/make_icons.py`` (needs matplotlib).
The PNGs are committed; rerun only to change the artwork.
"""
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Circle, Ellipse, FancyBboxPatch, Polygon  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUMOUR = "#e03c3c"
ORGAN = "#f3c9a5"


def canvas(size=128, dpi=64):
    fig = plt.figure(figsize=(size / dpi, size / dpi), dpi=dpi)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def blob(ax, cx, cy, r, color, seed=0, z=2, alpha=1.0):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, 200)
    rr = r * (1 + 0.12 * np.sin(3 * t + rng.uniform(0, 6)) + 0.07 * np.sin(5 * t + rng.uniform(0, 6)))
    ax.add_patch(Polygon(np.c_[cx + rr * np.cos(t), cy + rr * np.sin(t)], closed=True,
                         fc=color, ec="#7a1010", lw=2, zorder=z, alpha=alpha))


def save(fig, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=64, transparent=True)
    plt.close(fig)
    print("wrote", path)


def extension_icon(path):
    fig, ax = canvas()
    ax.add_patch(FancyBboxPatch((0.04, 0.04), 0.92, 0.92, boxstyle="round,pad=0,rounding_size=0.15",
                                fc="#1d3557", ec="none"))
    colors = ["#e63946", "#f4a261", "#2a9d8f"]
    for (x, y), c, s in zip([(0.32, 0.62), (0.66, 0.66), (0.5, 0.3)], colors, range(3)):
        blob(ax, x, y, 0.17, c, seed=s)
    save(fig, path)


def segmentation_icon(path):
    fig, ax = canvas()
    ax.add_patch(Ellipse((0.5, 0.5), 0.9, 0.7, fc=ORGAN, ec="#9c6b43", lw=2))
    blob(ax, 0.55, 0.52, 0.2, TUMOUR, seed=1)
    for x, y in [(0.55, 0.52)]:
        ax.plot([x - 0.08, x + 0.08], [y, y], color="white", lw=3, zorder=5)
        ax.plot([x, x], [y - 0.08, y + 0.08], color="white", lw=3, zorder=5)
    save(fig, path)


def features_icon(path):
    fig, ax = canvas()
    blob(ax, 0.3, 0.66, 0.2, TUMOUR, seed=2)
    vals = [0.25, 0.5, 0.35, 0.7]
    for i, v in enumerate(vals):
        ax.add_patch(FancyBboxPatch((0.5 + i * 0.11, 0.08), 0.08, v * 0.8,
                                    boxstyle="square,pad=0", fc="#457b9d", ec="none"))
    ax.add_patch(Circle((0.3, 0.66), 0.27, fc="none", ec="#1d3557", lw=2, ls="--"))
    save(fig, path)


def subtype_icon(path):
    fig, ax = canvas()
    rng = np.random.default_rng(3)
    for c, (cx, cy) in zip(["#e63946", "#2a9d8f", "#f4a261"], [(0.28, 0.7), (0.72, 0.68), (0.5, 0.27)]):
        pts = rng.normal([cx, cy], 0.07, size=(14, 2))
        ax.scatter(pts[:, 0], pts[:, 1], s=40, c=c, edgecolors="white", linewidths=0.8, zorder=3)
    save(fig, path)


if __name__ == "__main__":
    extension_icon(os.path.join(ROOT, "Resources", "PanCancerSubtype.png"))
    mods = os.path.join(ROOT, "PanCancerSubtype")
    segmentation_icon(os.path.join(mods, "PanCancerSegmentation", "Resources", "Icons",
                                   "PanCancerSegmentation.png"))
    features_icon(os.path.join(mods, "PanCancerFeatures", "Resources", "Icons", "PanCancerFeatures.png"))
    subtype_icon(os.path.join(mods, "PanCancerSubtype", "Resources", "Icons", "PanCancerSubtype.png"))
