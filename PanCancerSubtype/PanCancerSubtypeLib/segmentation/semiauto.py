"""Semi-automatic tumour segmentation from seed points (no trained model): the entry point.

:func:`segment_from_seeds` returns a mask from one of two methods:

``method="click"`` (default)
    :func:`.click.segment_click`: a star-shaped optimal surface around the click(s), on a
    tumour likelihood from a lung / enhancing-tumour / generic appearance model, re-centred on
    the deepest point of the first result; optional box, background points and second channel.
    For the confidence (agreement of the masks from other clicks) and the model used, call
    :func:`.click.segment_click`, which returns a :class:`.click.ClickResult`.

``method="region_growing"``
    :func:`.growing.segment_by_region_growing`: the package's first method (confidence-
    connected region growing with leak control, an enhancing-rim rule, optional watershed
    refinement), kept as an option.

Seeds, boxes and background points are physical LPS coordinates in mm.

The checks of a click's inputs that need the image, before any work (``segment`` and
``cohort-segment`` call the same ones): :func:`check_not_constant`, :func:`check_click_points`
and :func:`read_second_channel`.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from ._points import second_channel_fit, seeds_to_indices

__all__ = ["segment_from_seeds", "seeds_to_indices", "second_channel_fit", "METHODS",
           "check_not_constant", "check_click_points", "read_second_channel"]

#: methods of :func:`segment_from_seeds`
METHODS = ("click", "region_growing")


def segment_from_seeds(image, seeds_lps_mm, bbox=None, modality: Optional[str] = None,
                       method: str = "click", background_lps_mm=None, second_channel=None,
                       source: Optional[str] = None, **options):
    """Mask (uint8 SimpleITK image on ``image``'s grid) of the tumour holding the seeds.

    ``options`` are the method's own: for ``"click"``, ``model`` and the fields of
    :class:`.click.ClickParameters` (e.g. ``ray_length_mm=80``); for ``"region_growing"``, the
    keyword arguments of :func:`.growing.segment_by_region_growing` (``multiplier``,
    ``refine="watershed"``, ...).  ``modality`` (CT / MR) is guessed from the image by the
    click method when not given.  The click method's mask is the one of
    :func:`.click.segment_click` with its confidence (which also decides whether a longer reach
    is kept); call that for the confidence itself.
    """
    if method == "click":
        from .click import ClickParameters, segment_click

        fields = {f.name for f in dataclasses.fields(ClickParameters)}
        model = options.pop("model", "auto")
        unknown = sorted(set(options) - fields)
        if unknown:
            raise ValueError(f"unknown option(s) for method='click': {', '.join(unknown)} "
                             f"(options of method='region_growing'?)")
        res = segment_click(image, seeds_lps_mm, bbox=bbox, background_lps_mm=background_lps_mm,
                            second_channel=second_channel, modality=modality, model=model,
                            params=ClickParameters(**options), confidence=True, source=source)
        return res.mask
    if method == "region_growing":
        from .growing import segment_by_region_growing

        if background_lps_mm is not None or second_channel is not None:
            raise ValueError("background points and a second channel are inputs of "
                             "method='click', not of method='region_growing'")
        return segment_by_region_growing(image, seeds_lps_mm, bbox=bbox, modality=modality,
                                         source=source, **options)
    raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")


def check_not_constant(image, source) -> None:
    """A constant image holds no tumour boundary: refuse it (:class:`~..errors.
    InvalidImageValuesError` naming ``source``) rather than return a mask of every voxel around
    the seed."""
    import numpy as np
    import SimpleITK as sitk

    from ..errors import InvalidImageValuesError

    arr = sitk.GetArrayViewFromImage(image)
    lo, hi = float(np.min(arr)), float(np.max(arr))
    if lo == hi:
        raise InvalidImageValuesError(f"image is constant (every voxel is {lo:g}): there is no "
                                      f"tumour boundary to segment", source=source)


def check_click_points(image, seeds, background=(), bbox=None,
                       names=("--seed", "--background", "--bbox")) -> None:
    """Seeds and background points (LPS mm) inside the image, the box (x0, y0, z0, x1, y1, z1)
    overlapping it and holding every seed, and no seed in the image's padding (every voxel
    around it, 3 x 3 x 3, at the padding value of ``_problem.padding_value``: the minimum where
    it fills at least 1 % of the image, outside a skull-stripped brain or the field of view:
    no tumour is there, and the method would return the seed's voxel); else
    :class:`~..errors.UsageError` naming the input at fault (``names``: the options, as its
    source, or the manifest columns they came from)."""
    from ..errors import UsageError

    def src(name):
        return name if name.startswith("--") else None

    box_name = "" if names[2].startswith("--") else f"{names[2]}: "

    def inside(points, name, what):
        for i, pt in enumerate(points):
            try:
                seeds_to_indices(image, [pt], what=what)
            except ValueError as exc:
                raise UsageError(f"{name} number {i + 1}: {exc}", source=src(name)) from None

    inside(seeds, names[0], "seed point")
    inside(background or (), names[1], "background point")
    # a background point on a seed's voxel or next to it (an empty mask and warnings about
    # the click, which did not name the point)
    if background is not None and len(background) and len(seeds):
        s_idx = np.array(seeds_to_indices(image, seeds), float)
        for i, b in enumerate(seeds_to_indices(image, background, what="background point")):
            near = np.abs(s_idx - np.asarray(b, float)).max(axis=1) <= 1
            if near.any():
                k = int(np.argmax(near))
                raise UsageError(f"{names[1]} number {i + 1} is on seed number {k + 1} (its "
                                 f"voxel or a neighbour): a background point lies outside the "
                                 f"tumour, a seed inside it", source=src(names[1]))
    if bbox is not None:
        _check_box(image, seeds, bbox, names[2], box_name, src(names[2]))
    _check_not_in_padding(image, seeds, names[0], src(names[0]))


def _check_box(image, seeds, bbox, name, box_name, source) -> None:
    import numpy as np

    from ..errors import UsageError, format_numbers
    from ..io import physical_bounds

    lo, hi = physical_bounds(image)
    b = np.asarray(bbox, float)
    if np.any(b[3:] <= lo) or np.any(b[:3] >= hi):
        raise UsageError(f"{box_name}the box {format_numbers(bbox)} does not overlap the image "
                         f"(physical extent {format_numbers(lo, 1)} to {format_numbers(hi, 1)}, "
                         f"LPS mm)", source=source)
    for i, pt in enumerate(seeds):
        if np.any(np.asarray(pt) < b[:3]) or np.any(np.asarray(pt) > b[3:]):
            raise UsageError(f"{box_name}seed number {i + 1} {format_numbers(pt)} lies outside "
                             f"the box {format_numbers(bbox)}", source=source)


def _check_not_in_padding(image, seeds, name, source) -> None:
    import numpy as np
    import SimpleITK as sitk

    from ..errors import UsageError, format_numbers
    from ._problem import minimum_share, padding_value

    arr = sitk.GetArrayViewFromImage(image)
    pad: list = []          # (the whole image's padding, looked for only when needed)
    for i, pt in enumerate(seeds):
        x, y, z = seeds_to_indices(image, [pt])[0]
        around = arr[max(z - 1, 0):z + 2, max(y - 1, 0):y + 2, max(x - 1, 0):x + 2]
        if not np.all(around == around.flat[0]):
            continue
        if not pad:
            pad.append(padding_value(arr))
        if pad[0] is not None and around.flat[0] == pad[0]:
            share = minimum_share(arr)[1]
            raise UsageError(
                f"{name} number {i + 1} {format_numbers(pt)} (LPS mm) lies in the image's "
                f"padding: every voxel around it is {pad[0]:g}, the image's minimum, which fills "
                f"{100 * share:.0f} % of it (outside a skull-stripped brain or the field of "
                f"view); click inside the tumour", source=source)


def read_second_channel(path, image, resample: bool,
                        resample_hint: str = "give --resample-second-channel"):
    """The second channel at ``path``, checked: an existing file, readable, 3D scalar, not
    constant, on the image's grid (the same grid in another voxel order is reordered onto it;
    or overlapping it physically when ``resample``: :func:`second_channel_fit`, the method's
    rule); else an error naming the file (``resample_hint``: how the caller asks for the
    resampling)."""
    import os

    from ..errors import GeometryMismatchError, UnreadableFileError
    from ..io import describe_geometry, read_image

    if not os.path.isfile(path):
        raise UnreadableFileError("second channel: file not found", source=path)
    ch2 = read_image(path)
    check_not_constant(ch2, path)
    out, how = second_channel_fit(ch2, image)
    if how == "apart" or (how == "resample" and not resample):
        hint = (f"{resample_hint} to resample it onto the image's grid" if how == "resample"
                else "the two do not even overlap physically")
        raise GeometryMismatchError(f"the second channel is on another grid than the image "
                                    f"({describe_geometry(ch2)} vs {describe_geometry(image)}); "
                                    f"{hint}", source=path)
    return out
