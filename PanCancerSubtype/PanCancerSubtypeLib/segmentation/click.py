"""Tumour segmentation from one click: a star-shaped optimal surface around the seed.

One seed point inside the tumour (LPS mm) is enough; more seeds, a bounding box, background
points and a second image channel (e.g. FLAIR next to T1c) are optional and each constrains the
result further.  No trained model is involved.

Method
------
1. **Tumour likelihood** ``T`` in [0, 1] on a crop of ``ray_length_mm`` around the seeds, after a
   Gaussian smoothing of ``smoothing_mm``, from one of three appearance models
   (:mod:`._appearance`): ``lung`` (CT, a solid or ground-glass seed in aerated lung: tissue
   against air; bone above ``bone_hu`` and contrast-filled blood pool, tissue above
   ``blood_pool_hu`` where a ball of ``blood_pool_radius_mm`` fits in it (aorta, heart, main
   pulmonary arteries; ``_appearance.thick_region``), stop the rays; not when a seed's own tissue
   is that bright), ``bright`` (an enhancing or hyper-intense tumour, its enclosed necrotic /
   cystic core filled in: the rim-and-fill model of a glioblastoma's tumour core) or ``generic``
   (the seed's class of a three-class Otsu split of its surroundings, re-estimated from the fitted
   surface).  The model follows from the modality and the seed (``choose_model``): CT -> ``lung``
   when the seed is not air (> -500 HU, or ground glass ``ggo_contrast_sd`` robust SDs above the
   lung: ``lung_level``) and at least 10 % of the 30 mm around it is air (< -600 HU), or 5 % of the
   ``lung_reach_mm`` (60 mm) around it while the 30 mm are homogeneous, unless the air is outside
   the body: 80 % of the rays reaching it pass through fat just before
   (``_appearance.in_aerated_lung``, ``air_beyond_fat``), else ``generic``; this reach stays fixed
   when the rays lengthen (step 8): the air around a limb does not turn a sarcoma into a lung
   tumour; MR -> ``bright`` when the seed is brighter than the enhancement threshold, or when at
   least half of the rays from it meet enhancing tissue within ``enclosure_mm`` and that enhancing
   layer is at most ``rim_max_mm`` thick (a dark core inside an enhancing rim, not a dark lesion
   inside thick fat), else ``generic`` (a third of the rays where a skull-stripped brain's edge
   cuts the rim open: ``edge_rim_min_hits``).  An enhancing rim ends within the rays; a layer of
   fat around a limb's muscles often goes on to their end. So when the bright layer goes on to the
   rays' end on more than ``open_rim_max`` (15 %) of the first seed's rays that meet it, or is
   ``thick_layer_mm`` (20 mm) thick or more (median of those rays: enhancing breast parenchyma
   around a breast cancer, not a rim), and the result (steps 2-8) is ``bright``, the ``generic``
   model's result, with its own retries, is made too and the higher in step 8's rank is kept.
   In the ``bright`` model the dark interior between the seed and the first enhancing voxel of
   each ray (within ``enclosure_mm``) counts as tumour too.  A box says where the tumour is, not
   what the tissue around it looks like: the model, its statistics and its likelihood come from
   the ``ray_length_mm`` around the seeds as without a box, and the box limits the rays (step 2).
   With a box, the ``generic`` likelihood comes from the box itself, as in GrabCut: the values of
   its core against those of a ``box_band_mm`` band outside it (``box_likelihood``).
   When the chosen model delimits nothing around the click (a mask smaller than the seed's
   ``seed_radius_mm`` ball; with further seeds, the first seed's own region, whatever the others
   add) or, with a box, a mask filling less than ``min_box_fill`` or more than ``max_box_fill``
   of it or spanning less than ``min_box_span`` of it along an axis (step 7), even with the
   longer reach of step 8, the next model is run and the first plausible result kept:
   ``lung`` / ``bright`` -> ``generic`` (from the box when there is one) -> with a box,
   ``generic`` from the seed's own tissue (the Otsu class of the box) -> the same at the coarse
   scale of step 8 -> the click's surroundings at that scale.
2. **Rays**: ``n_rays`` directions (a Fibonacci sphere) from the seed, sampled every
   ``ray_step_mm`` up to ``ray_length_mm``, on a physical (mm) grid, so anisotropic voxels and
   oblique image directions are handled.  Rays stop at the bounding box, the image border and
   ``background_radius_mm`` before any background point (at most half its distance to the
   nearest seed).  The image border, a background point and the edge of the body are
   boundaries; the box's walls are not (a box's corners lie far outside a rounded tumour: a
   ray stopped there is interpolated as in step 4).
3. **Surface**: the radius r_d on every ray d minimises

       sum_d [ sum_{j <= r_d} (1 - T_dj) + sum_{r_d < j <= r_d + w} T_dj + eps j ] * step

   (tumour-unlike samples inside, tumour-like samples in the ``exit_window_mm`` w just outside,
   and a weak preference ``size_prior`` eps for the smaller surface; with ``inside_reward`` b,
   the inside term is 1 - (1 + b) T_dj: step 8's optional band retry), subject to
   ``|r_d - r_e| <= max_slope_mm`` between neighbouring rays: the optimal-surface graph search
   of Li et al. (IEEE TPAMI 28:119, 2006), solved exactly as a minimum s-t cut
   (:mod:`._surface`).  The surface is star-shaped from the seed, which is what keeps it from
   following vessels, bronchi or a bright structure next to the tumour.
4. **Where the image shows no boundary** (tumour-like tissue continues past the surface, e.g. a
   lung tumour against the chest wall or the diaphragm), the radius is interpolated from the rays
   that do show one (harmonic interpolation over the ray neighbourhood graph) and the surface is
   fitted again with ``|r_d - r_interp,d|`` as the cost of those rays.  In the ``bright``
   model so are the rays from a dark seed that meet nothing enhancing within ``enclosure_mm``
   (a gap in the rim, when at most half the rays: the model's own test of a rim).
   With a box and the ``generic`` model those radii stay within the ellipsoid inscribed in
   the box (``_surface.box_ellipsoid_radii``), and are its radii when no ray shows a boundary:
   the box's shape, not the image's (unreliable; a fallback of step 1 ranking higher wins).
   With the ``generic`` model the surface is then moved, ray by ray, to where the image
   crosses half-way between the tumour and the tissue beyond it (``halfway_edge``,
   ``_surface.halfway_radii``): a class boundary set by histograms sits inside a blurred edge.
   With the ``lung`` model each ray's radius is moved from its last sample on the tissue's
   side of the model's level to the level's crossing, interpolated between the samples
   (``lung_crossing``, ``_surface.level_crossing_radii``): on the last sample the surface lies
   on average half a sample (0.25 mm) inside it, 17 % of a 4 mm nodule's volume.
5. **Re-centring** (``recentre``): the point deepest inside the first mask (maximal distance to
   its surface; with further seeds, inside the first seed's own region) is added as a seed, the
   surface fitted again from both (their regions' union), ``recentre_iterations`` (1) times.
   A click near the edge of a tumour then gives nearly the mask of a click at its centre.
6. **Confidence** (``n_jitter`` > 0): the whole method is run again from ``n_jitter`` other
   points of the inner half of the result (voxels at least half the maximal depth inside it,
   chosen by farthest-point sampling from the centre: the clicks that differ most from one
   another), and the confidence is the mean Dice coefficient between the result and those
   masks.  With several seeds each run moves every seed to such a point of its own part of the
   mask (the voxels nearer to it than to any other seed: its lesion or lobe), so a mask of two
   lesions is not judged by a click that gives one.  The jittered runs are independent and run
   side by side on ``threads`` threads (None: the machine's cores, at most ``n_jitter``; NumPy
   and SciPy work outside Python's lock): the wall time falls, the result stays the same, bit
   for bit (the runs share the smoothed image and the record of what they read, whose values
   do not depend on the order of the runs), and the CPU time rises a little.  A low value
   (< ``warn_below``, 0.8) means that the mask depends on where one clicks: check it, add
   seeds, a box or background points.
   A mask smaller than the seed's ball gets confidence 0 and its own warning: the clicks of its
   inner half would all fall on the same few voxels and agree.  A point-like mask (smaller
   than a ball of twice the seed's radius per seed, 0.52 mL for one seed) keeps its confidence
   but gets a warning and ``needs_check``: its inner half lies within the click's own ball,
   whose tissue sets the model, so its clicks agree whatever the mask is worth (a small dark
   pocket inside a thick enhancing tumour taken as the tumour: Dice 0.04 at confidence 0.87).
7. **A box that the mask hardly fills, or fills up** (with ``bbox``): a mask filling less than
   ``min_box_fill`` (2 %) of the box gets a warning.  A box drawn around a tumour, even twice its
   extent each way, holds an ellipsoidal tumour at about 6 %; a tiny mask inside a large
   homogeneous tumour agrees with the masks of clicks inside it, so the confidence cannot tell.
   So does a mask spanning less than ``min_box_span`` (a third) of the box along an axis, and
   one filling more than ``max_box_fill`` (70 %) of it: an ellipsoid fills 52 % of its tightest
   box, so such a mask has leaked up to the box's walls.  A mask filling too little or too much
   of the box, or spanning too little of it, is implausible (step 1; an enhancing mask with
   step 11's foci, which the box says are the tumour's, when they add at most ``max_box_foci``
   (1) times its volume: a result kept only for them is flagged); step 8 keeps a retry that
   does not fill up the box over one that does.  When the mask kept after every retry and
   fallback still fills less than ``min_box_fill`` of the box, the mask returned is the
   ellipsoid inscribed in the box (``_surface.box_ellipsoid_mask``): the box's shape, not the
   image's, with confidence 0, ``needs_check`` and a warning saying so.  The user said the
   tumour is about the box's size, and whatever the image delimits around the click (a blob
   of a large heterogeneous tumour's texture, a model that found nothing) says it is not
   (how it was found: ``benchmarks/segmentation_history.md``, pass 39).
8. **A longer reach when unreliable**: when the confidence is below ``warn_below``, steps 1-6
   are run again with rays of ``wide_ray_length_mm`` (90 mm), sampled every ``wide_ray_step_mm``
   (1 mm), and an ``enclosure_mm`` of at least ``wide_enclosure_mm`` (60 mm), for tumours larger
   than the default reach (a large glioblastoma with a wide necrotic core, a large lung mass),
   and the result with the higher confidence is kept: the method's own stability decides.
   A mask smaller than a ball of twice ``seed_radius_mm`` per seed is *point-like*: its
   inner-half clicks lie within the seeds' own balls, so its confidence tests nothing, and in
   every retry of this step a result that is not point-like is kept over a point-like one.
   When a ``bright`` result from a click on enhancing tissue is unreliable, the click may lie
   on the rim of a necrotic core that the rim does not close (so it was not filled in): the
   method is run again with a second seed deepest in the dark tissue next to the mask
   (``_appearance.dark_core_point``), and that result is kept only when it is reliable.
   When a ``bright`` result of ``auto`` is still unreliable and the image showed its boundary
   on fewer than ``unbounded_bright`` (a quarter) of the rays of the seeds that chose the model
   (the first and its re-centring; the rest interpolated: the enhancement threshold delimits
   little there, as for a click in a T1 sarcoma taken for enhancing tissue), the ``generic``
   model is run, and its result kept when reliable, not point-like and not filling up the box.
   (A further seed's own rays do not count: on tissue the model does not call tumour they
   meet a boundary at once.)
   When a ``lung`` or ``generic`` result is still unreliable, but plausible (step 1's
   fallback handles an implausible one), the method is run once more with the longer reach
   and the re-centring of step 5 repeated up to ``retry_recentre_iterations`` (3) times (each
   time from the deepest point of the union so far, until it lies within twice
   ``seed_radius_mm`` of a seed already used): from a click near one end of a large tumour
   whose boundary the image hides in places (a lung mass on the chest wall or the
   mediastinum), the rays near the click decide the hidden part and the first deepest point
   is still near the click; again the result with the higher confidence is kept.  Not for
   the ``bright`` model (its boundary is the enhancing tissue the image shows;
   ``benchmarks/segmentation_history.md``).
   When a ``generic`` result without a box is still unreliable, the method is run once more
   with the longer reach (sampled every ``ray_step_mm``) at a coarser scale:
   ``coarse_smoothing_mm`` (4 mm) instead of ``generic_smoothing_mm`` and the three classes
   taken within ``coarse_radius_mm`` (45 mm) instead of ``generic_radius_mm``; again the more
   confident result is kept, and here a mask below a ball of 4 seed radii per seed is point-like
   (its inner-half clicks' balls overlap the click's).  In a large tumour on a noisy image, the
   25 mm around the click hold only tumour and, at 1.5 mm smoothing, their classes split the
   noise: a small blob.  When such a result (or a ``bright`` blob of ``auto``, below 4 seed
   radii per seed) is still unreliable and the click's surroundings are all tissue like its
   own (``own_band_share``, 90 %, of the values within ``generic_radius_mm`` lie within
   ``own_band_k``, 3, robust SDs of the click's level, the SD taken within
   ``own_band_radius_mm``, 10 mm: ``_problem.Problem.own_band_share``), the method is run once
   more with the longer reach, that band as the tumour (soft steps; ``generic_own_band``), not a
   class, no re-estimation and an exit window of ``own_band_exit_window_mm`` (12 mm); kept as
   the coarse scale's retry (point-like at 2 seed radii after a ``bright`` blob).  Step 3's
   inside term grows with R and its exit term is bounded by the window w, so a surface survives
   only while the mean 1 - T inside stays below w / R - eps: a large tumour (R 40-50 mm) with a
   noisy ``T`` collapses at w = 4 mm.  An option, off by default: with ``own_band_reward`` b
   > 0, when the band's result is still unreliable the band is run once more with its
   tumour-like samples inside counting for the surface (the run's ``inside_reward``: the inside
   term 1 - (1 + b) T; at b = 1 a sample lowers it when T > 1/2, so no window has to pay for a
   large radius), kept only when reliable, not point-like and not filling up the box.  It
   finds a large noisy mass whose band surface collapses, but also draws the surface into
   neighbouring tissue of the band's level with a confidence that does not tell
   (``benchmarks/segmentation_history.md``, version 26).  Last, on MR without a box, a
   ``generic`` result whose volume is at most ``texture_part_max`` (a third) of the coarse
   scale's result, which holds at least ``texture_contain_min`` (90 %) of it, and whose tone
   recurs in the rest of it (``texture_recur_min``, 5 %, of those voxels within its 10th-90th
   percentiles at the generic scale: ``_appearance.tone_recurrence``; a lesion in an organ: 0)
   is a patch of a mottled tumour (a T1 sarcoma: the fine scale's classes split the tumour
   itself, and the patch's jittered clicks agree on it); the coarse result (run now if it was
   not) is kept when its confidence is at least ``texture_conf_min`` (0.5), even when the
   patch's is higher.  Not on CT (calibrated units: there a small reliable mask was the tumour
   as often as not).  Without the confidence
   (``confidence=False`` or ``n_jitter=0``) this step is skipped.

9. **The rim's thin continuations** (``bright`` model): the enhancing voxels (and hyper-intense
   on a second channel) within ``rim_reach_mm`` (3 mm; at most a quarter of the mask's depth)
   of the mask and connected to it through such voxels, beyond its blurred edge, are added:
   enhancement along the cortex or a septum that the star-shaped surface cannot follow.
10. **The enhancement beyond** (``bright`` model): when the enhancing tissue connected to the
   mask within ``enhancement_beyond_mm`` (10 mm) outside it exceeds ``max_enhancement_beyond``
   (a third) of the mask's volume, the tumour probably goes on there (around a whole tumour
   that tissue is the first millimetres of vessels and cortex touching it).  When that tissue
   is thick, its deepest point at least ``beyond_seed_depth_mm`` (4 mm) inside it (a vessel or
   the cortex is 1-3 mm thick), steps 1-6 and 9 are run again with that point as a second
   seed (``_appearance.enhancement_beyond_point``), kept when bright, not point-like, not
   filling up the box and when the enhancement going on past it is at most
   ``beyond_retry_ratio`` (half) of the first's share: it took in the rest of the tumour, not
   more of the bright tissue around it (a T1 sarcoma's surroundings).  If the enhancement
   still goes on past the mask kept: a warning and ``needs_check``.  All enhancing voxels
   count here, also with a second channel (a tumour's enhancing part need not be
   hyper-intense on FLAIR; step 9's limit hid brats_pat0006's).
11. **The foci inside the box** (``bright`` model, with ``bbox``): the enhancing voxels outside
   the mask (with a second channel, those it shows as hyper-intense, as in step 9) whose
   connected components lie wholly inside the box, touching none of its walls (nor the rays'
   reach), and hold at least ``box_focus_min_ml`` (0.05 mL), are added
   (``_appearance.enhancing_foci``): a box drawn around a multifocal tumour holds its other
   lesions, and the enhancing parts beside the star-shaped surface; a vessel or the cortex
   crosses the box's walls.  ``None``: off.
12. **Growth through thick enhancement** (``bright`` of ``auto``): when step 10's share is still
   over its limit, the mask takes in the enhancing voxels (as in step 11) an opening with a ball
   of ``thick_growth_mm`` (2 mm: tissue thicker than about 4 mm, not a vessel or the cortex)
   leaves, in pieces touching it (``_growth.thick_continuation``), is closed and its enclosed
   holes filled (a large glioblastoma's rim and core beyond the surface); kept, with a warning and
   ``needs_check``, when the share falls to ``beyond_retry_ratio`` of its value and the growth is
   at most ``max_thick_growth`` (1) times the mask's volume (not a T1 limb's fat).  ``None``: off.

For several seeds the surfaces of all seeds are fitted with the same likelihood (but the
``generic`` model's: below) and their star-shaped regions united (a non-star-shaped tumour is
covered by clicking its lobes).  The first seed's value and surroundings choose and set the
appearance model: further seeds add regions, not another model.  With the ``bright`` model a
further seed on tissue the model does not call tumour adds what the model calls tumour around
it, not the dark interior up to each ray's first enhancing tissue (from a seed by the edge, rays
cross normal tissue to the next vessel); one in dark tissue (darker than the normal tissue by
``further_dark_sd``, half a robust SD: a cyst or necrosis beside the rim, non-enhancing tumour
darker than the brain around it; ``_appearance.dark_tissue``) has its own class of the first
seed's surroundings, as with ``generic``.  With the ``generic`` model each further seed has its
own class of the first seed's split (its tissue is tumour too) and re-estimates it from its own
surface (pooled, a seed whose surroundings differ would change the first's).
The method works on the voxels in LPS order (``voxel_order.LPSOrder``: an exact permutation and
flip of the array, of the part it works on only), so the same scan stored in another order (a
RAS NIfTI file, a sagittal series) gives the same mask.  It works on the part of the image
within ``work_margin_mm`` of the seeds and the box (``_points.work_region``), so a long scan
costs what that part costs; what the method takes from the whole image (the padding value,
whether the image is finite) comes from the whole image, every voxel range a result reads is
recorded (``Problem.reads``), and a result that read beyond the part (``_points.holds``) is made
again on the whole image: the mask is the whole image's either way.  Along an axis sampled at
half of ``finest_mm`` (1 mm) or finer (0.47 mm MR in-plane), it works on blocks of
``floor(finest_mm / spacing)`` voxels, each their mean (``_points.block_mean``: what a scanner
with voxels that large records; the method smooths by 0.7 mm before it reads the image, so the
finer grid adds voxels, not what it sees), and the mask comes back onto the image's grid by
linear interpolation (``_points.mask_from_blocks``).  A mask smaller than a ball of 6 blocks'
radius is made again on the image's own grid: a block's width matters to a small lesion's
surface.  The result is a uint8 0/1 mask on exactly the input image's grid.

Measured accuracy, tuned-on and held-out cases: the README (a summary),
``benchmarks/segmentation_results.md`` (the tables), ``benchmarks/segmentation_bench.py``.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Dict, List, Optional

import numpy as np

from . import _appearance as app
from ._click_types import Attempt as _Attempt
from ._click_types import ClickParameters, ClickResult, result_warnings
from ._growth import add_foci, shown_enhancing, thick_growth, with_foci
from ..regions import mask_bounds
from ..voxel_order import LPSOrder
from ._points import (block_aligned, block_factors, block_mean, box_fill, box_span,
                      check_scalar_3d, clipped_to_box, deepest_point, float32_exact, holds,
                      inner_half_points, inner_half_points_per_seed, lps_box, mask_from_blocks,
                      resampled_onto, second_channel_on_grid, seeds_to_indices, short_of_box,
                      small_for_blocks, work_region)
from ._problem import Problem as _Problem
from ._problem import whole_image_facts
from ._surface import box_ellipsoid_mask
from ._threads import thread_map, threads_for
from .metrics import dice_arrays

log = logging.getLogger(__name__)

__all__ = ["ClickParameters", "ClickResult", "segment_click", "MODELS"]

#: appearance models (``model=`` of :func:`segment_click`; ``"auto"`` chooses)
MODELS = ("auto", "lung", "bright", "generic")


#: point-like: a mask below a ball of this many seed radii per seed (twice as many: step 8's coarse)
_POINT_LIKE = 2.0


def segment_click(image, seeds_lps_mm, bbox=None, background_lps_mm=None, second_channel=None,
                  modality: Optional[str] = None, model: str = "auto",
                  params: Optional[ClickParameters] = None, confidence: bool = True,
                  source: Optional[str] = None) -> ClickResult:
    """Segment the tumour around one or more clicks (see the module docstring).

    Parameters
    ----------
    image : SimpleITK.Image
        3D scalar image (CT in HU, MR in any units).
    seeds_lps_mm : (n, 3) array-like
        Points inside the tumour in physical LPS mm (3D Slicer shows RAS: negate x and y).
        The first one is the click that decides the appearance model.
    bbox : 6 numbers, optional
        x0, y0, z0, x1, y1, z1 (LPS mm): the tumour lies inside this box.
    background_lps_mm : (m, 3) array-like, optional
        Points outside the tumour: the surface stays ``background_radius_mm`` away from them.
    second_channel : SimpleITK.Image, optional
        A second image of the same region (e.g. FLAIR next to T1c); resampled onto the image's
        grid when its grid differs.  Voxels where it is not above the normal tissue's median
        are excluded (:mod:`._appearance`).
    modality : "CT" / "MR", optional
        Guessed with :func:`PanCancerSubtypeLib.io.guess_modality` (as the ``features``
        command does) when not given; ``ClickResult.modality_guessed`` says so.
    model : "auto", "lung", "bright" or "generic"
        The appearance model; ``"auto"`` chooses from the modality and the click.
    params : ClickParameters, optional
    confidence : bool
        Compute the jittered-click confidence (``params.n_jitter`` extra runs).
    """
    import SimpleITK as sitk

    from ..io import guess_modality

    t0 = time.perf_counter()
    p = (params or ClickParameters()).validate()
    check_scalar_3d(image, source)
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    if image.GetPixelID() not in (sitk.sitkFloat32, sitk.sitkFloat64) and not float32_exact(
            sitk.GetArrayViewFromImage(image)):
        image = sitk.Cast(image, sitk.sitkFloat32)      # (else only the part used: _on_part)
    guessed = modality is None or str(modality).strip() == ""
    modality = guess_modality(image) if guessed else str(modality).strip().upper()
    if modality not in ("CT", "MR"):
        raise ValueError(f"modality must be CT or MR, got {modality!r}")
    has_background = background_lps_mm is not None and np.asarray(background_lps_mm,
                                                                    float).size > 0
    # the points on the image as given (its voxel indices in the messages); the method works
    # on the voxels in LPS order (``voxel_order.LPSOrder``: the indices' permutation and flips, the
    # part it works on reordered, not the whole image), so the mask does not depend on how
    # the voxels are stored
    order = LPSOrder(image)
    seeds = [order.to_lps(s) for s in seeds_to_indices(image, seeds_lps_mm, source=source)]
    background = None if not has_background else [order.to_lps(b) for b in seeds_to_indices(
        image, background_lps_mm, source=source, what="background point")]
    # a second channel on another grid is resampled part by part (``_on_part``), never onto
    # the whole image's grid
    ch2, resample = (None, False) if second_channel is None else second_channel_on_grid(
        second_channel, image, source)
    box = lps_box(order, image, bbox, seeds, source)
    # the part of the image around the seeds (and the box) that the method works on: its
    # time and memory do not grow with the image (a whole-body CT); if a result read beyond
    # it (``Problem.reads``), again on the whole image, so the mask is the same either way
    shape = np.array(order.shape)
    sp = np.array(order.spacing, float)[::-1]
    whole = tuple(slice(0, int(n)) for n in shape)
    # an axis sampled at half of ``finest_mm`` or finer: the method works on blocks of its
    # voxels (``_points.block_mean``), the mask comes back onto the image's grid; a mask
    # smaller than a ball of ``_points.BLOCK_RADII`` blocks: again on the image's grid
    blocks = block_factors(sp, p.finest_mm)
    facts = whole_image_facts(image, ch2)
    while True:
        region = block_aligned(work_region(shape, sp, seeds, box, p.work_margin_mm) or whole,
                               shape, blocks)
        run = _on_part(order, image, ch2, resample, region, blocks, seeds, box, background,
                       facts, modality, p, confidence, source)
        best, coarse_mask, beyond = run.segment(model)
        reads = [np.asarray(v) * np.asarray(blocks) for v in run.per_image["reads"]]
        if not holds(region, shape, *reads):      # (the whole image always does)
            log.debug("%s: the result read beyond the part of the image around the seeds: "
                      "again on the whole image", source or "segment_click")
            region = whole                  # (whole blocks but where the image ends)
            run = _on_part(order, image, ch2, resample, region, blocks, seeds, box,
                           background, facts, modality, p, confidence, source)
            best, coarse_mask, beyond = run.segment(model)
        if all(b == 1 for b in blocks) or not small_for_blocks(
                coarse_mask, run.voxel_mm3, max(s * b for s, b in zip(sp, blocks) if b > 1)):
            break
        log.debug("%s: a small mask on blocks of %s voxels: again on the image's grid",
                  source or "segment_click", "x".join(str(b) for b in blocks[::-1]))
        blocks = (1, 1, 1)
    conf = run.conf_of(best)
    res, prob, p_used = best.res, best.prob, best.p
    jitter, boundary, boxed = best.jitter, res["boundary_fraction"], run.boxed(best)
    # step 7: the box says the tumour is about its size; when no attempt fills even
    # ``min_box_fill`` of it, the box's ellipsoid is the answer (the box's shape, flagged)
    emptied = box_fill(coarse_mask, prob.box)
    if emptied is not None and emptied < p.min_box_fill:
        coarse_mask = box_ellipsoid_mask(coarse_mask.shape, prob.box, prob.sp)
        conf, jitter, boundary, boxed = (None if conf is None else 0.0), [], 0.0, True
    else:
        emptied = None
    off = np.array([r.start for r in region])
    part_mask = mask_from_blocks(coarse_mask, [r.stop - r.start for r in region], blocks)
    # the user's seeds that the mask leaves out: less than half of the seed's own ball in it
    # (a seed the model gives nothing keeps only its own voxel; a click on a tumour's edge
    # has half; over the benchmark's 183 one-click results, at least 68 %)
    user_points = np.asarray(seeds_lps_mm, float).reshape(-1, 3)
    outside = [(k + 1, tuple(user_points[k])) for k, s in enumerate(seeds) if app.ball_median(
        part_mask.view(np.uint8), s - off, sp, p.seed_radius_mm) < 0.5]
    # (the tests of the result on the grid the method worked on, as its own steps test it)
    tiny = run.tiny(coarse_mask)
    warnings, flagged = result_warnings(
        run.p, p_used, conf, coarse_mask, prob.sp, tiny, boundary, boxed,
        res["details"].get("lung_level"), beyond,
        box_fill(coarse_mask, prob.box), box_span(coarse_mask, prob.box), outside,
        None if tiny or not run.point_like(coarse_mask) else _POINT_LIKE * run.p.seed_radius_mm,
        emptied, best.foci if emptied is None else (0, 0.0, False),
        best.grown_ml if emptied is None else 0.0)
    out, vol = clipped_to_box(order.paste(part_mask, region, image), bbox,  # (oblique grid)
                              float(part_mask.sum()) * run.voxel_mm3 / float(np.prod(blocks)) / 1e3)
    if all(b == 1 for b in blocks):
        seeds_lps = [tuple(float(v) for v in image.TransformIndexToPhysicalPoint(
            order.to_stored(s + off))) for s in best.used]
    else:       # (a block's centre)
        seeds_lps = [tuple(float(v) for v in run.image.TransformIndexToPhysicalPoint(
            tuple(int(v) for v in s[::-1]))) for s in best.used]
    for w in warnings:
        log.info("%s: %s", source or "segment_click", w)
    return ClickResult(mask=out, confidence=conf, jitter_dice=jitter, model=res["model"],
                       modality=modality, modality_guessed=bool(guessed), seeds_lps=seeds_lps,
                       boundary_fraction=boundary, volume_ml=vol,
                       warnings=warnings, seconds=time.perf_counter() - t0,
                       ray_length_mm=float(p_used.ray_length_mm), needs_check=bool(
                           run.unreliable(best) or run.implausible(best) or flagged))


def _on_part(order, image, ch2, resample: bool, region, blocks, seeds, box, background,
             facts: Dict, modality: str, p: ClickParameters, confidence: bool,
             source: Optional[str]) -> "_Click":
    """The method's run on the part ``region`` (index slices z, y, x of the LPS order
    ``order``) of ``image`` and ``ch2`` (on its grid, or, where ``resample``, resampled onto
    the part: ``_points.resampled_onto``), its voxels in LPS order, averaged over ``blocks``
    voxels per axis (``_points.block_mean``; 1 1 1: as they are), with the seeds, box and
    background points (LPS indices z, y, x) moved into it (the block holding each); a float
    image (a smaller type is cast to float32 here)."""
    import SimpleITK as sitk

    off = np.array([r.start for r in region])
    f = np.asarray(blocks, int)
    work = block_mean(order.part(image, region), f)
    if ch2 is not None:
        ch2 = resampled_onto(ch2, work) if resample else block_mean(order.part(ch2, region), f)
    if work.GetPixelID() not in (sitk.sitkFloat32, sitk.sitkFloat64):
        work = sitk.Cast(work, sitk.sitkFloat32)
    box = None if box is None else tuple(slice((b.start - o) // k, -(-(b.stop - o) // k))
                                         for b, o, k in zip(box, off, f))
    return _Click(work, [(s - off) // f for s in seeds], box,
                  None if background is None else [(b - off) // f for b in background], ch2,
                  modality, p, confidence, source, dict(facts))


class _Click:
    """One call of :func:`segment_click`: the attempts that steps 1-8 compare (retries and
    fallbacks, each a model and parameters), their tests, and what they share: per model and
    parameters but the re-centring count, the problem (crops, likelihoods) and each pipeline's
    last state by its start (a retry with more re-centring continues them), and the image's
    smoothings (``_problem.Problem``'s ``per_image``)."""

    def __init__(self, image, seeds_zyx, box, background_zyx, ch2, modality: str,
                 p: ClickParameters, confidence: bool, source: Optional[str],
                 per_image: Optional[Dict] = None):
        import SimpleITK as sitk

        self.image, self.box, self.background, self.ch2 = image, box, background_zyx, ch2
        self.modality, self.confidence, self.source = modality, confidence, source
        self.seeds_zyx = [np.asarray(s, int) for s in seeds_zyx]
        if modality == "CT" and p.blood_pool_hu is not None:
            # a seed of the user's in tissue as bright as the blood pool (a contrast-filled vessel
            # inside the tumour, an enhancing tumour): no blood-pool walls in any of this call's
            # runs, so that the confidence's runs, from other clicks, use the same rule
            arr = sitk.GetArrayViewFromImage(image)
            sp_zyx = np.array(image.GetSpacing(), float)[::-1]
            if any(app.ball_median(arr, s, sp_zyx, p.seed_radius_mm) >= p.blood_pool_hu
                   for s in self.seeds_zyx):
                p = dataclasses.replace(p, blood_pool_hu=None)
        self.p = p
        self.seed_ball_mm3 = 4.0 / 3.0 * np.pi * p.seed_radius_mm ** 3
        self.voxel_mm3 = float(np.prod(np.array(image.GetSpacing(), float)[::-1]))  # Problem.sp
        self.shared: Dict[tuple, Dict[str, Any]] = {}
        self.per_image: Dict = {} if per_image is None else per_image

    # -- masks --------------------------------------------------------------------------
    def balls(self, m: np.ndarray) -> float:
        """The mask's volume in seed balls."""
        return float(m.sum()) * self.voxel_mm3 / self.seed_ball_mm3

    def tiny(self, m: np.ndarray) -> bool:
        """A mask smaller than the seed's own ball (whose values set the model): nothing was
        delimited; its jittered clicks would all agree, so its confidence is 0, not that Dice."""
        return self.balls(m) < 1.0

    def point_like(self, m: np.ndarray, radii: float = _POINT_LIKE) -> bool:
        """A mask smaller than a ball of ``radii`` (2) seed radii per seed: its inner-half
        clicks lie within the seeds' own balls, so their agreement tests nothing."""
        return self.balls(m) < len(self.seeds_zyx) * radii ** 3

    # -- one attempt (steps 1-5) and its confidence (step 6) ------------------------------
    def attempt(self, q: ClickParameters, use_model: str, box_model: str = "box",
                start=None) -> _Attempt:
        """The method with parameters ``q`` and appearance model ``use_model`` (with a box, the
        generic model from ``box_model``: "box", "classes" or "near"; ``Problem._likelihood``)
        from the seeds (or ``start``)."""
        key = (dataclasses.replace(q, recentre_iterations=1), use_model, box_model)
        if key not in self.shared:
            self.shared[key] = {"prob": _Problem(
                self.image, self.ch2, self.box, self.background, self.modality, use_model, q,
                self.source, box_model, len(self.seeds_zyx), self.per_image), "states": {}}
        prob, states = self.shared[key]["prob"], self.shared[key]["states"]

        def pipeline(start: List[np.ndarray]):
            return self._pipeline(prob, states, q, start)

        mask, res, used = pipeline(self.seeds_zyx if start is None else start)
        log.debug("%s: %s model, rays %g mm every %g mm, generic scale %g mm / %g mm: %.2f mL",
                  self.source or "segment_click", res["model"], q.ray_length_mm, q.ray_step_mm,
                  q.generic_smoothing_mm, q.generic_radius_mm,
                  mask.sum() * self.voxel_mm3 / 1e3)

        def judge():
            """Step 6 on this attempt's own mask: the mean Dice of the jittered clicks' masks."""
            if not self.confidence or q.n_jitter <= 0 or self.tiny(mask):
                return (0.0 if self.confidence and q.n_jitter > 0 else None), []
            if len(self.seeds_zyx) > 1:      # each of the user's seeds moved within its own part
                starts = inner_half_points_per_seed(mask, self.seeds_zyx, prob.sp,
                                                    int(q.n_jitter))
            else:
                starts = [[pt] for pt in inner_half_points(mask, prob.sp, int(q.n_jitter),
                                                           start=used[-1])]
            jitter = [dice_arrays(mask, m) for m in thread_map(
                lambda pts: pipeline(pts)[0], starts, threads_for(q.threads, len(starts)))]
            return (float(np.mean(jitter)) if jitter else None), jitter

        return _Attempt(mask=mask, res=res, used=used, prob=prob, p=q, judge=judge)

    def _pipeline(self, prob: _Problem, states: Dict, q: ClickParameters,
                  start: List[np.ndarray]):
        """Steps 1-4 from ``start`` and step 5's re-centring (``q.recentre_iterations``),
        continuing the state of the same start in ``states``: mask, last run, seeds used."""
        shape = prob.full.shape

        def full_mask(res, part: str = "region") -> np.ndarray:
            out = np.zeros(shape, bool)
            out[tuple(slice(int(a), int(b)) for a, b in zip(res["lo"], res["hi"]))] = res[part]
            return out

        n_it = int(q.recentre_iterations) if q.recentre else 0
        k0 = tuple(tuple(int(v) for v in s) for s in start)
        st = states.get(k0)
        # (fewer re-centrings, seeds used[len(start):], continue; "done": stopped by itself)
        if st is None or len(st["used"]) - len(start) > n_it:
            st = {"res": prob.run(start), "used": list(start), "done": False}
        m = full_mask(st["res"])
        while len(st["used"]) - len(start) < n_it and not st["done"]:
            f = full_mask(st["res"], "first") if len(self.seeds_zyx) > 1 else m   # step 5
            c = deepest_point(f, prob.sp) if f.any() else None
            if c is None or (len(st["used"]) > len(start) and min(
                    float(np.sqrt((((c - e) * prob.sp) ** 2).sum()))
                    for e in st["used"]) < 2 * q.seed_radius_mm):
                st = dict(st, done=True)
                break
            used = st["used"] + [c]
            st = {"res": prob.run(start, extra=used[len(start):]), "used": used, "done": False}
            m = full_mask(st["res"])
        states[k0] = st
        return m, st["res"], list(st["used"])

    def conf_of(self, a: _Attempt) -> Optional[float]:
        """Attempt ``a``'s confidence (step 6), its jittered runs made on the first call."""
        if not a.judged:
            a.conf, a.jitter = a.judge()
            a.judged = True
        return a.conf

    # -- the tests that steps 7-8 compare attempts by -------------------------------------
    def overfills(self, a: _Attempt) -> bool:
        """With a box, a mask filling more than ``max_box_fill`` of it: leaked up to its walls."""
        fill = box_fill(a.mask, a.prob.box)
        return fill is not None and fill > self.p.max_box_fill

    def implausible(self, a: _Attempt) -> bool:
        """Nothing delimited around the click (``tiny``; with further seeds, the first seed's
        own region: the seed that chose the model), ``overfills``, or, with a box, a mask (an
        enhancing one with the foci ``_growth.with_foci`` counts) filling less than
        ``min_box_fill`` of it or spanning less than ``min_box_span`` of it along an axis (the
        box says the tumour is about its size)."""
        first_tiny = len(self.seeds_zyx) > 1 and self.tiny(a.res["first"])
        return self.tiny(a.mask) or first_tiny or self.overfills(a) or short_of_box(
            with_foci(a), a.prob.box, self.p.min_box_fill, self.p.min_box_span)

    def boxed(self, a: _Attempt) -> bool:
        """With a box, no ray showed a boundary: the box's ellipsoid (step 4), any click."""
        return a.prob.box is not None and a.res["boundary_fraction"] == 0.0 and \
            a.res["model"] == "generic"

    def unreliable(self, a: _Attempt) -> bool:
        return (self.conf_of(a) is not None and self.conf_of(a) < self.p.warn_below) or \
            self.boxed(a)

    def sound(self, x: _Attempt, radii: float = _POINT_LIKE) -> bool:
        """Neither point-like nor filling up the box: a retry worth comparing."""
        return not self.point_like(x.mask, radii) and not self.overfills(x)

    def trusted(self, x: _Attempt, radii: float = _POINT_LIKE) -> bool:
        """``sound`` and reliable: a retry kept on its own merits, not by ``rank``."""
        return self.sound(x, radii) and not self.unreliable(x)

    def rank(self, x: _Attempt, radii: float = _POINT_LIKE):
        """Larger wins: (not filling up the box, not point-like, reliable, confidence)."""
        return (not self.overfills(x), not self.point_like(x.mask, radii),
                not self.unreliable(x), self.conf_of(x) or 0.0)

    def tone_recurs(self, patch: _Attempt, whole: _Attempt) -> bool:
        """Whether ``patch``'s tone recurs in the rest of ``whole`` (``texture_recur_min``; the
        image at the generic model's scale): a patch of a mottled tumour, not a lesion."""
        lo, hi = mask_bounds(whole.mask)
        sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
        feat = patch.prob.smoothed(patch.prob.full, "image", self.p.generic_smoothing_mm, lo,
                                   hi - lo)
        return app.tone_recurrence(feat, patch.mask[sl], whole.mask[sl] & ~patch.mask[sl]) \
            >= self.p.texture_recur_min

    def more_reliable(self, a: _Attempt, q: ClickParameters, use_model: str,
                      radii: float = _POINT_LIKE) -> _Attempt:
        """``a``, or the result of parameters ``q`` when it ranks higher (``rank``)."""
        b = self.attempt(q, use_model)
        return a if self.conf_of(b) is None or self.rank(b, radii) <= self.rank(a, radii) else b

    # -- steps 1-11 -----------------------------------------------------------------------
    def segment(self, model: str):
        """The attempt kept (steps 1-8 and 10), its mask with steps 9-11 (set as its mask: the
        final checks see the mask returned) and step 10's share of enhancement beyond it."""
        p = self.p
        best = self.choose(model)
        mask, beyond, crop = self.finish(best)
        # the enhancement goes on past the mask, thick (the rest of the tumour, not a vessel):
        # again with a seed deepest in it, kept when bright, not point-like, not filling the
        # box, and taking in the rest: at most ``beyond_retry_ratio`` of the share going on past it
        if beyond > p.max_enhancement_beyond and model == "auto":
            depth, c = app.enhancement_beyond_point(mask[crop], best.res["enhancing"],
                                                    best.prob.sp, p.enhancement_beyond_mm)
            if depth >= p.beyond_seed_depth_mm:
                alt = self.attempt(p, model, start=self.seeds_zyx + [c + best.res["lo"]])
                if alt.res["model"] == "bright" and self.sound(alt):
                    m_alt, b_alt, crop_alt = self.finish(alt)
                    if b_alt <= p.beyond_retry_ratio * beyond:
                        best, mask, beyond, crop = alt, m_alt, b_alt, crop_alt
        # step 11: with a box, the enhancing foci inside the crop (box and reach), step 10 again
        q = best.p
        pre = mask
        mask, n, ml = add_foci(mask, best)
        if n:       # (and whether the box's fill and span needed them: flagged)
            best.foci = (n, ml, short_of_box(pre, best.prob.box, p.min_box_fill,
                                             p.min_box_span))
            beyond = app.enhancement_beyond_share(mask[crop], best.res["enhancing"],
                                                  best.prob.sp, q.enhancement_beyond_mm)
        # step 12: grown through the thick enhancement, kept when it takes in the rest (step 10)
        if beyond > q.max_enhancement_beyond and model == "auto" and q.thick_growth_mm and \
                best.res["model"] == "bright":
            m, b_new, added = thick_growth(
                mask[crop], shown_enhancing(best.res), best.res["enhancing"], best.prob.sp,
                q.thick_growth_mm, q.closing_mm, q.max_hole_radius_mm, q.enhancement_beyond_mm)
            if b_new <= q.beyond_retry_ratio * beyond and added <= q.max_thick_growth * float(
                    mask[crop].sum()):
                best.grown_ml = added * float(np.prod(best.prob.sp)) / 1e3
                mask, beyond = mask.copy(), b_new
                mask[crop] = m
        best.mask = mask
        return best, mask, beyond

    def choose(self, model: str) -> _Attempt:
        """Steps 1-8: the first attempt, the retries of an unreliable one, the fallbacks of an
        implausible one, a texture patch's coarse scale and, for an enhancing result of an open
        bright layer, the generic model's (step 1), in this order; the attempt kept."""
        p, seeds_zyx, bbox = self.p, self.seeds_zyx, self.box
        unreliable, trusted, more_reliable = self.unreliable, self.trusted, self.more_reliable
        best = first = self.attempt(p, model)
        # an unreliable result: a longer reach (large tumours, wide necrotic cores; rays every
        # wide_ray_step_mm, fine enough there and the cut far cheaper); the higher rank is kept
        p_wide = dataclasses.replace(p, ray_length_mm=max(p.ray_length_mm, p.wide_ray_length_mm),
                                     enclosure_mm=max(p.enclosure_mm, p.wide_enclosure_mm),
                                     ray_step_mm=max(p.ray_step_mm, p.wide_ray_step_mm))
        if unreliable(best) and p.wide_ray_length_mm > p.ray_length_mm:
            best = more_reliable(best, p_wide, model)
        # an unreliable enhancing result from a click on enhancing tissue: perhaps on the rim
        # of a necrotic core that the rim does not close (so it was not filled in): again with
        # a second seed deepest in the dark tissue next to the mask; kept only if reliable,
        # not point-like
        if unreliable(best) and best.res["model"] == "bright" and model == "auto":
            lk = best.prob.likelihood(seeds_zyx)
            if lk["t"][tuple(lk["loc"][0])] >= 0.5:
                lo, b = lk["lo"], lk["details"]["bright"]
                c = app.dark_core_point(
                    best.mask[tuple(slice(i, j) for i, j in zip(lo, lk["hi"]))], lk["t"],
                    lk["sm"], lk["valid"], b["median"], b["sd"], best.prob.sp)
                alt = None if c is None else self.attempt(p, model, start=seeds_zyx + [c + lo])
                if alt is not None and alt.res["model"] == "bright" and trusted(alt):
                    best = alt
        # an unreliable enhancing result of "auto" whose boundary the image showed on few
        # rays: the generic model, kept only when reliable (not when merely more confident:
        # brain2)
        if (unreliable(best) and model == "auto" and best.res["model"] == "bright"
                and best.res["first_boundary_fraction"] < p.unbounded_bright):
            alt = self.attempt(p, "generic")
            if trusted(alt):
                best = alt
        # still unreliable but plausible, not enhancing (the image shows its boundary): the
        # longer reach and repeated re-centring (a mass whose boundary the image hides in
        # places, step 8)
        if (unreliable(best) and p.recentre
                and p.retry_recentre_iterations > p.recentre_iterations
                and best.res["model"] != "bright" and not self.implausible(best)):
            best = more_reliable(best, dataclasses.replace(
                p_wide, recentre_iterations=p.retry_recentre_iterations), model)
        # a generic result still unreliable without a box: its class at a coarser scale (step 8)
        p_coarse = dataclasses.replace(
            p_wide, ray_step_mm=p.ray_step_mm,
            generic_smoothing_mm=max(p.generic_smoothing_mm, p.coarse_smoothing_mm),
            generic_radius_mm=max(p.generic_radius_mm, p.coarse_radius_mm))
        coarser = (p.coarse_smoothing_mm > p.generic_smoothing_mm
                   or p.coarse_radius_mm > p.generic_radius_mm)
        if unreliable(best) and bbox is None and best.res["model"] == "generic" and coarser:
            best = more_reliable(best, p_coarse, "generic", 2.0 * _POINT_LIKE)
        # still so, from a click whose surroundings are all tissue like its own: that band
        # (step 8; also after a blob of "auto"'s enhancing model, ranked point-like as usual)
        kind = first.res["model"]
        if (unreliable(best) and bbox is None and p.own_band_k and best.res["model"] == kind
                and (kind == "generic" or (kind == "bright" and model == "auto" and
                                           self.point_like(best.mask, 2.0 * _POINT_LIKE)))
                and first.prob.own_band_share(seeds_zyx[0]) >= p.own_band_share):
            p_band = dataclasses.replace(p_wide, generic_own_band=True, generic_iterations=0,
                                         exit_window_mm=max(p.exit_window_mm,
                                                            p.own_band_exit_window_mm))
            radii = _POINT_LIKE * (2.0 if kind == "generic" else 1.0)
            best = more_reliable(best, p_band, "generic", radii)
            # still unreliable, with the option on: the band's samples inside also count for
            # the surface (a large tumour whose noisy band collapses it), kept only when reliable
            if unreliable(best) and p.own_band_reward > 0:
                alt = self.attempt(dataclasses.replace(p_band, inside_reward=p.own_band_reward),
                                   "generic")
                if trusted(alt, radii):
                    best = alt
        # still implausible (or the box's ellipsoid: until one ranks higher), the next model
        # (step 1): generic (from the box) -> the box's classes -> the same coarse ->
        # surroundings coarse
        fallbacks = []
        if model == "auto" and best.res["model"] != "generic":
            fallbacks.append((p, "generic", "box"))
        if bbox is not None and model in ("auto", "generic"):
            fallbacks.append((p, "generic", "classes"))
            if coarser:
                fallbacks += [(p_coarse, "generic", "classes"), (p_coarse, "generic", "near")]
        for q, use_model, box_model in fallbacks:
            if not self.implausible(best) and not self.boxed(best):
                break
            alt = self.attempt(q, use_model, box_model)
            if not self.implausible(alt) and (self.implausible(best)
                                              or self.rank(alt) > self.rank(best)):
                best = alt
        # on MR without a box, a generic result that is a small part (``texture_part_max``) of
        # the coarse scale's result, which holds it (``texture_contain_min``) and where its tone
        # recurs (``tone_recurs``): a patch of a mottled tumour's tones (a T1 sarcoma), not a
        # lesion; the coarse result kept when its confidence is at least ``texture_conf_min``
        # (before the comparison below, whose generic run makes this check itself)
        if (self.modality == "MR" and bbox is None and best.res["model"] == "generic"
                and coarser and p.texture_part_max > 0):
            alt = self.attempt(p_coarse, "generic")
            n_best, n_alt = int(best.mask.sum()), int(alt.mask.sum())
            if (n_best <= p.texture_part_max * n_alt
                    and int((best.mask & alt.mask).sum()) >= p.texture_contain_min * n_best
                    and self.sound(alt, 2.0 * _POINT_LIKE) and self.tone_recurs(best, alt)
                    and (self.conf_of(alt) or 0.0) >= p.texture_conf_min):
                best = alt
        # an enhancing model chosen at the first seed where the bright layer its rays meet goes
        # on to their end on more than ``open_rim_max`` of them (not a closed rim: fat around a
        # limb's muscles) or is ``thick_layer_mm`` thick (enhancing breast parenchyma), and an
        # enhancing result: the generic model's result too, with its own retries; the higher
        # rank kept
        layer = first.res["model"] == "bright" and first.res["details"]["bright"]
        if (model == "auto" and layer and best.res["model"] == "bright"
                and (layer["open_fraction"] > p.open_rim_max or p.thick_layer_mm is not None and
                     layer["first_run_samples"] * first.p.ray_step_mm >= p.thick_layer_mm)):
            alt = self.choose("generic")
            if self.conf_of(alt) is not None and self.rank(alt) > self.rank(best):
                best = alt
        return best

    def finish(self, b: _Attempt):
        """Steps 9 and 10 on attempt ``b``: its mask with the rim's thin continuations (a new
        array: ``b``'s own mask, which its confidence judged, stays as it is), step 10's share
        of that mask's volume that the enhancement continuing past it adds, and its crop."""
        r, q = b.res, b.p
        crop = tuple(slice(int(i), int(j)) for i, j in zip(r["lo"], r["hi"]))
        if r["model"] != "bright":
            return b.mask, 0.0, crop
        m = b.mask.copy()
        m[crop] = app.contiguous_enhancement(m[crop], shown_enhancing(b.res), b.prob.sp,
                                             q.rim_reach_mm)
        return m, app.enhancement_beyond_share(m[crop], r["enhancing"], b.prob.sp,
                                               q.enhancement_beyond_mm), crop

