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
"""
from __future__ import annotations

import dataclasses
from typing import Optional

from ._points import second_channel_fit, seeds_to_indices

__all__ = ["segment_from_seeds", "seeds_to_indices", "second_channel_fit", "METHODS"]

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
