"""Tumour segmentation from one click: a star-shaped optimal surface around the seed.

One seed point inside the tumour (LPS mm) is enough; more seeds, a bounding box, background
points and a second image channel (e.g. FLAIR next to T1c) are optional and each constrains the
result further.  No trained model is involved.

Method
------
1. **Tumour likelihood** ``T`` in [0, 1] on a crop of ``ray_length_mm`` around the seeds, after
   a Gaussian smoothing of ``smoothing_mm``, from one of three appearance models
   (:mod:`._appearance`): ``lung`` (CT, a solid or ground-glass seed in aerated lung: tissue
   against air), ``bright`` (an enhancing or hyper-intense tumour, its enclosed necrotic / cystic
   core filled in: the rim-and-fill model of a glioblastoma's tumour core) or ``generic`` (the
   seed's class of a three-class Otsu split of its surroundings, re-estimated from the fitted
   surface).  The model follows from the modality and the seed (``choose_model``): CT -> ``lung``
   when the seed is not air (> -500 HU, or ground glass: ``lung_level``) and at least 10 % of the
   30 mm around it is air (< -600 HU), or 5 % of the ``lung_reach_mm`` (60 mm) around it while the
   30 mm are homogeneous, unless the air is outside the body: 80 % of the rays reaching it pass
   through fat just before (skin and subcutaneous fat; ``_appearance.in_aerated_lung``,
   ``air_beyond_fat``), else ``generic``; this reach stays fixed when the rays are lengthened
   (step 8): the air around a limb does not turn a sarcoma into a lung tumour; MR -> ``bright``
   when the seed is brighter than the enhancement threshold, or when at least half of the rays from
   it meet enhancing tissue within ``enclosure_mm`` and that enhancing layer is at most
   ``rim_max_mm`` thick (a dark core inside an enhancing rim, not a dark lesion inside thick fat),
   else ``generic`` (a third of the rays where a skull-stripped brain's edge cuts the rim open:
   ``edge_rim_min_hits``).  In the ``bright`` model the dark interior between the seed and the first
   enhancing voxel of each ray (within ``enclosure_mm``) counts as tumour too.  A box says where the
   tumour is, not what the tissue around it looks like: the model, its statistics and its
   likelihood come from the ``ray_length_mm`` around the seeds as without a box, and the box limits
   the rays (step 2).  With a box, the ``generic`` likelihood comes from the box itself, as in
   GrabCut: the values of its core against those of a ``box_band_mm`` band outside it
   (``box_likelihood``).  When the chosen model delimits nothing around the click (a mask smaller
   than the seed's ``seed_radius_mm`` ball) or, with a box, a mask filling less than
   ``min_box_fill`` or more than ``max_box_fill`` of it or spanning less than ``min_box_span`` of
   it along an axis (step 7), even with the longer reach of step 8, the next model is run and the
   first plausible result kept: ``lung`` / ``bright`` -> ``generic`` (from the box when there is
   one) -> with a box, ``generic`` from the seed's own tissue (the Otsu class of the box) -> the
   same at the coarse scale of step 8 -> the click's surroundings at that scale.
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
   and a weak preference ``size_prior`` eps for the smaller surface), subject to
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
   lesions is not judged by a click that gives one.  A low value (< ``warn_below``, 0.8) means
   that the mask depends on where one clicks: check it, add seeds, a box or background points.
   A mask smaller than the seed's ball gets confidence 0 and its own warning: the clicks of its
   inner half would all fall on the same few voxels and agree.
7. **A box that the mask hardly fills, or fills up** (with ``bbox``): a mask filling less than
   ``min_box_fill`` (2 %) of the box gets a warning.  A box drawn around a tumour, even twice its
   extent each way, holds an ellipsoidal tumour at about 6 %; a tiny mask inside a large
   homogeneous tumour agrees with the masks of clicks inside it, so the confidence cannot tell.
   So does a mask spanning less than ``min_box_span`` (a third) of the box along an axis, and
   one filling more than ``max_box_fill`` (70 %) of it: an ellipsoid fills 52 % of its tightest
   box, so such a mask has leaked up to the box's walls.  A mask filling too little or too much
   of the box, or spanning too little of it, is implausible (step 1); step 8 keeps a retry
   that does not fill up the box over one that does.
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
   ``own_band_radius_mm``, 10 mm: ``_Problem.own_band_share``), the method is run once more with
   the longer reach, that band as the tumour (soft steps; ``generic_own_band``), not a class, no
   re-estimation and an exit window of ``own_band_exit_window_mm`` (12 mm); kept as the coarse
   scale's retry (point-like at 2 seed radii after a ``bright`` blob).  Step 3's inside term
   grows with R and its exit term is bounded by the window w, so a surface survives only while
   the mean 1 - T inside stays below w / R - eps: a large tumour (R 40-50 mm) with a noisy
   ``T`` collapses at w = 4 mm.  Without the confidence (``confidence=False`` or
   ``n_jitter=0``) this step is skipped.

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
   seed (``_appearance.enhancement_beyond_point``), kept when bright, not point-like and not
   filling up the box.  If the enhancement still goes on past the mask kept: a warning and
   ``needs_check``.  All enhancing voxels count here, also with a second channel (a tumour's
   enhancing part need not be hyper-intense on FLAIR; step 9's limit hid brats_pat0006's).

For several seeds the surfaces of all seeds are fitted with the same likelihood (but the
``generic`` model's: below) and their star-shaped regions united (a non-star-shaped tumour is
covered by clicking its lobes).  The first seed's value and surroundings choose and set the
appearance model: further seeds add regions, not another model.  With the ``bright`` model a
further seed on tissue the model does not call tumour adds what the model calls tumour around
it, not the dark interior up to each ray's first enhancing tissue (from a seed by the edge,
rays cross normal tissue to the next vessel).  With the ``generic`` model each further seed
has its own class of the first seed's split (its tissue is tumour too) and re-estimates it
from its own surface (pooled, a seed whose surroundings differ would change the first's).
The result is a uint8 0/1 mask on exactly the input image's grid.

Measured accuracy, tuned-on and held-out cases: README, ``benchmarks/segmentation_bench.py``.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..errors import InvalidImageValuesError
from . import _appearance as app
from ._click_types import ClickParameters, ClickResult, result_warnings
from ._points import (bbox_to_slices, box_span, check_scalar_3d, deepest_point, inner_half_points,
                      inner_half_points_per_seed, second_channel_on_grid, seeds_to_indices)
from ._smoothing import smoothed_crop
from ._surface import (beyond_crop, box_ellipsoid_radii, fit_surface, halfway_radii,
                       ray_directions, ray_voxels, sample_rays, star_mask)
from .metrics import dice_arrays

log = logging.getLogger(__name__)

__all__ = ["ClickParameters", "ClickResult", "segment_click", "MODELS"]

#: appearance models (``model=`` of :func:`segment_click`; ``"auto"`` chooses)
MODELS = ("auto", "lung", "bright", "generic")


#: point-like: a mask below a ball of this many seed radii per seed (twice as many: step 8's coarse)
_POINT_LIKE = 2.0


class _Problem:
    """Image, options and the cached smoothed crops shared by all runs of one segmentation."""

    def __init__(self, image, ch2, bbox, background_idx, modality, model, p, source,
                 box_model: str = "box", n_user: int = 1, per_image: Optional[Dict] = None):
        import SimpleITK as sitk

        self.image = image      # the views below share these images' buffers: keep them alive
        self.ch2 = ch2
        self.full = sitk.GetArrayViewFromImage(image)
        self.ch2_full = None if ch2 is None else sitk.GetArrayViewFromImage(ch2)
        self.sp = np.array(image.GetSpacing(), float)[::-1]
        self.box = None if bbox is None else bbox_to_slices(image, bbox, source)
        self.bg = [np.array(b[::-1]) for b in (background_idx or [])]
        self.modality = modality
        self.model = model
        self.p = p
        self.source = source
        self.box_model = box_model
        self.n_user = int(n_user)           # the first n_user seeds of a run are the user's
        self._cache: Dict[tuple, Dict[str, Any]] = {}
        # shared by all runs of one segmentation: the images' smoothings (``._smoothing``) and
        # padding (outside a skull-stripped brain or the field of view: the minimum, >= 1 %)
        self.per_image = {} if per_image is None else per_image
        if "pad_value" not in self.per_image:
            v0 = float(np.min(self.full))
            self.per_image["pad_value"] = v0 if float(np.mean(self.full == v0)) >= 0.01 else None
        self.pad_value = self.per_image["pad_value"]

    def further(self, n: int) -> range:
        """Indices, among the ``n`` seeds of a run, of the user's further seeds: not the
        first (it chooses the model), not a one-click run's own second seeds (steps 8, 10)."""
        return range(1, min(self.n_user, n))

    def crop_for(self, seeds_zyx, in_box: bool = True):
        """The crop of the rays' reach around the seeds (within the box when ``in_box``)."""
        p = self.p
        rad = np.ceil(p.ray_length_mm / self.sp).astype(int) + 2
        lo = np.maximum(np.min(seeds_zyx, 0) - rad, 0)
        hi = np.minimum(np.max(seeds_zyx, 0) + rad + 1, self.full.shape)
        if self.box is not None and in_box:
            lo = np.maximum(lo, [s.start for s in self.box])
            hi = np.minimum(hi, [s.stop for s in self.box])
        return lo, hi

    def likelihood(self, seeds_zyx: Sequence[np.ndarray]) -> Dict[str, Any]:
        """Crop, tumour likelihood and appearance model around the seeds (cached: re-centring)."""
        key = tuple(tuple(int(v) for v in s) for s in seeds_zyx)
        if key not in self._cache:
            self._cache.clear()
            self._cache[key] = self._likelihood([np.asarray(s, int) for s in seeds_zyx])
        return self._cache[key]

    def _likelihood(self, seeds_zyx: List[np.ndarray]) -> Dict[str, Any]:
        p, sp = self.p, self.sp
        lo, hi = self.crop_for(seeds_zyx)
        crop = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
        arr = np.asarray(self.full[crop], np.float32)
        if not np.all(np.isfinite(arr)):
            raise InvalidImageValuesError("image holds NaN or infinite values near the seeds",
                                          source=self.source)
        loc = [s - lo for s in seeds_zyx]
        # the context: the rays' reach around the seeds, also beyond a box.  A box says where the
        # tumour is, not what the tissue around it looks like: the appearance model, its
        # statistics (normal tissue, the CT lung test) and its likelihood come from the context
        # as without a box, and the box crop is cut out of them
        lo_c, hi_c = self.crop_for(seeds_zyx, in_box=False)
        arr_c = np.asarray(self.full[tuple(slice(int(a), int(b)) for a, b in zip(lo_c, hi_c))],
                           np.float32)
        if self.box is None or not np.all(np.isfinite(arr_c)):
            lo_c, arr_c = lo, arr
        inner = tuple(slice(int(a - c), int(b - c)) for a, b, c in zip(lo, hi, lo_c))
        loc_c = [s - lo_c for s in seeds_zyx]

        def smooth(vol, name: str, mm: float):    # the context crop of the whole vol's smoothing
            return smoothed_crop(self.per_image, vol, name, mm / sp, lo_c, arr_c.shape)
        sm_c = smooth(self.full, "image", p.smoothing_mm)
        sm = sm_c[inner]

        # the seeds whose surroundings choose and set the appearance model: all but the user's
        # further seeds (those add regions; a one-click run's own, steps 8 and 10, stay)
        model_seeds = [i for i in range(len(loc)) if i not in self.further(len(loc))]

        def near(r_mm, context: bool = False):
            """Within ``r_mm`` of the model's seeds."""
            m = np.zeros(arr_c.shape if context else arr.shape, bool)
            for i in model_seeds:
                m |= self._ball_at(m.shape, (loc_c if context else loc)[i], r_mm)
            return m

        seed_balls = [near(p.seed_radius_mm)] if len(loc) == 1 else \
            [self._ball_at(arr.shape, s, p.seed_radius_mm) for s in loc]
        level = float(np.median(sm[seed_balls[0]]))   # the first (user's) seed decides
        dirs, edges, avg = ray_directions(int(p.n_rays))
        radii = np.arange(0.0, p.ray_length_mm + 1e-9, p.ray_step_mm)
        # where rays may go: inside the crop, away from background points
        pad = (arr == self.pad_value) if self.pad_value is not None else None
        pad_c = None if pad is None else pad if arr_c is arr else arr_c == self.pad_value
        valid = np.ones(arr.shape, np.float32)
        if pad is not None:
            valid[pad] = 0.0
        for b in self.bg:
            valid[self._ball_at(arr.shape, b - lo, self._bg_radius(b, seeds_zyx))] = 0.0
        details: Dict[str, Any] = {}
        model = self.model
        feat = sm
        own: Dict[int, np.ndarray] = {}     # the generic likelihood of each further seed
        bright = lung_hu = None
        stats_near = None
        if self.modality == "CT" and model == "auto":
            v30 = sm_c[near(30.0, True)]
            v60 = sm_c[near(p.lung_reach_mm, True)]
            fatty = app.air_beyond_fat(sample_rays(
                sm_c, sp, loc_c[0], dirs, radii[radii <= p.lung_reach_mm], cval=np.nan),
                p.ray_step_mm)
            lung_hu = app.lung_level(level, v30)
            lung = lung_hu is not None and app.in_aerated_lung(
                level, float(np.mean(v30 < -600.0)), float(np.mean(v60 < -600.0)),
                app.robust_stats(v30)[1], fatty, subsolid=True)
            details["ct"] = {"lung": lung, "air_beyond_fat": fatty}
            model = "lung" if lung else "generic"
        if model in ("auto", "bright"):
            stats_near = near(p.stats_radius_mm, True)
            thr, med, sd, bd = app.rim_statistics(
                sm_c, stats_near, loc_c[0], sp, dirs, radii[radii <= p.enclosure_mm],
                p.bright_k, p.bright_f, pad_c)
            bright = (thr, med, sd)
            details["bright"] = {"threshold": thr, "median": med, "sd": sd, **bd}
            if model == "auto":
                model = app.choose_model(level, (thr, bd), p.rim_max_mm / p.ray_step_mm,
                                         p.edge_rim_min_hits)
        ch2 = None
        if self.ch2_full is not None:
            ch2 = smooth(self.ch2_full, "ch2", p.smoothing_mm)
            if stats_near is None:
                stats_near = near(p.stats_radius_mm, True)
        if model == "lung":
            if lung_hu is None:                 # model="lung" given: its level too
                lung_hu = app.lung_level(level, sm_c[near(30.0, True)]) or app.SOLID_LUNG_HU
            details["lung_level"] = lung_hu
            t = app.lung_likelihood(sm, lung_hu)
            if p.bone_hu is not None:
                # the tumour stays inside the bony thorax: ribs, spine, sternum stop the rays
                bone = sm > p.bone_hu
                valid[bone] = 0.0
                t = np.where(bone, 0.0, t).astype(np.float32)
        elif model == "bright":
            thr, med, sd = bright
            t = app.bright_likelihood(sm_c, thr, sd, sp, p.closing_mm, p.max_hole_radius_mm,
                                      wall=pad_c)[inner]
        else:
            model = "generic"
            feat = smooth(self.full, "image", p.generic_smoothing_mm)[inner]
            glevel = float(np.median(feat[seed_balls[0]]))
            # the three classes of the click's surroundings, or with a box of the box (unless
            # box_model is "near"); with box_model "box" the box's core against its band
            classes_of = near(p.generic_radius_mm) if (
                self.box is None or self.box_model == "near") else np.ones(arr.shape, bool)
            # the band of the click's own tissue (step 8's retry; ``own_band_share``)
            band = app.own_band(feat[near(p.own_band_radius_mm)], feat[classes_of], glevel,
                                p.own_band_k) if p.generic_own_band else None

            def classes(lev):   # the seed's class, or the band of its own tissue (step 8)
                return app.band_likelihood(feat, lev, band["sd"], p.own_band_k) if \
                    p.generic_own_band else app.generic_likelihood(feat, classes_of, lev)
            t, gd = classes(glevel)
            # each further seed of the user's: its own class of the same split (the user says
            # its tissue is tumour too; the split stays the first seed's)
            own = {i: classes(float(np.median(feat[seed_balls[i]])))[0]
                   for i in self.further(len(loc))}
            if self.box is not None and p.box_band_mm > 0 and self.box_model == "box":
                t_box = app.box_likelihood(self.full, self.box, feat, sp,
                                           p.generic_smoothing_mm, p.box_core, p.box_band_mm,
                                           self.pad_value)
                if t_box is not None:
                    t, own = t_box, {}
                    gd = {"box_model": True}
            details["generic"] = gd
        if ch2 is not None:
            allowed, shown = app.second_channel_veto(ch2, stats_near, sp,
                                                     p.second_channel_margin_mm)
            t = t * allowed[inner]
            own = {i: v * allowed[inner] for i, v in own.items()}
            details["second_channel_allowed"] = float(allowed[stats_near].mean())
        if pad is not None:
            t = np.where(pad, 0.0, t).astype(np.float32)
            own = {i: np.where(pad, 0.0, v).astype(np.float32) for i, v in own.items()}
        # enhancing voxels (steps 9, 10): not the filled holes; step 9 takes only those
        # hyper-intense on a second channel ("shown"), step 10 all (segmentation_history.md)
        enh = (t >= 0.5) & (sm >= bright[0]) & (valid > 0.5) if model == "bright" else None
        return {"lo": lo, "hi": hi, "shape": arr.shape, "loc": loc, "t": t, "t_own": own,
                "feat": feat, "sm": sm, "valid": valid, "model": model, "details": details,
                "surfaces": {}, "enhancing": enh, "shown": None if ch2 is None else shown[inner]}

    def run(self, seeds_zyx: Sequence[np.ndarray], extra: Sequence[np.ndarray] = ()
            ) -> Dict[str, Any]:
        """Segment from seeds (voxel indices z, y, x; ``extra``: further ray centres that do not
        change the crop or the likelihood); returns the crop, its mask and details."""
        lk = self.likelihood(seeds_zyx)
        p, sp = self.p, self.sp
        lo, hi, shape = lk["lo"], lk["hi"], lk["shape"]
        loc = list(lk["loc"]) + [np.asarray(e, int) - lo for e in extra]
        t, feat, valid, model = lk["t"], lk["feat"], lk["valid"], lk["model"]
        dirs, edges, avg = ray_directions(int(p.n_rays))
        radii = np.arange(0.0, p.ray_length_mm + 1e-9, p.ray_step_mm)
        n_k = len(radii)
        n_iter = 1 + (int(p.generic_iterations) if model == "generic" else 0)
        # the generic model is re-estimated from the samples inside and just outside the
        # surface; the user's further seeds each from their own surface and class (pooled with
        # the first seed's, a seed whose surroundings differ would change its region)
        further = self.further(len(lk["loc"]))
        groups = [[i for i in range(len(loc)) if i not in further]] + [[i] for i in further]
        region = np.zeros(shape, bool)
        fractions = []
        for group in groups:
            t_g = lk["t_own"].get(group[0], t)      # a further seed's own class (generic)
            for it in range(n_iter):
                reg_g = np.zeros(shape, bool)
                inside_vals, outside_vals, fr_g = [], [], []
                for si in group:
                    s = loc[si]
                    # a centre's surface of the first iteration is the same in every run of
                    # this crop (re-centring repeats the click's; later iterations pool the
                    # group's samples): once, with the samples its re-estimation takes
                    key = (tuple(int(v) for v in s), si in further, group[0] in lk["t_own"])
                    if it == 0 and (known := lk["surfaces"].get(key)) is not None:
                        fr_g.append(known[0])
                        reg_g |= known[1]
                        inside_vals += known[2]
                        outside_vals += known[3]
                        continue
                    tr = sample_rays(t_g, sp, s, dirs, radii, cval=np.nan)
                    ok = sample_rays(valid, sp, s, dirs, radii, cval=0.0)
                    blocked = ~(ok >= 0.5) | np.isnan(tr)
                    # a ray stopped by a background point or padding (outside the body): a boundary
                    user = ~(ok >= 0.5)
                    if self.box is not None:
                        # the box's walls stop the rays but are no boundary the image showed: the
                        # radius is interpolated there (step 4), not pulled out to the wall
                        user &= ~beyond_crop(sp, s, dirs, radii, shape, lo, self.full.shape)
                    tr = np.where(np.isnan(tr), 0.0, tr)
                    gaps = None
                    # a further seed of the user's (not the first, which chose the model) on
                    # tissue the enhancing model does not call tumour adds what the model
                    # calls tumour around it, not the dark interior up to the next enhancing
                    # tissue: from a seed by the tumour's edge half the rays meet the rim at
                    # once and the others cross normal tissue to the next vessel (an enclosed
                    # necrotic core is tumour in the likelihood already: its holes are filled)
                    if model == "bright" and not (si in further and tr[:, 0].mean() < 0.5):
                        tr, gaps = app.enclosed_prefix(tr, user, p.ray_step_mm, p.enclosure_mm)
                    prior = None if self.box is None or model != "generic" else (
                        box_ellipsoid_radii(sp, s, dirs, *(np.array([[b.start, b.stop] for b
                                            in self.box]).T - lo)) / p.ray_step_mm)
                    r, seen = fit_surface(tr, blocked, user, edges, avg, p.ray_step_mm,
                                          p.exit_window_mm, p.size_prior, p.max_slope_mm,
                                          gaps, prior)
                    if model == "generic" and p.halfway_edge and it == n_iter - 1:
                        r = halfway_radii(sample_rays(lk["sm"], sp, s, dirs, radii, cval=np.nan),
                                          r, seen, blocked, edges, p.ray_step_mm, p.max_slope_mm)
                    fr_g.append(float(seen.mean()))
                    star = star_mask(shape, sp, s, dirs, radii[r])
                    reg_g |= star
                    if it < n_iter - 1:
                        fr = sample_rays(feat, sp, s, dirs, radii, cval=np.nan)
                        j = np.arange(n_k)[None, :]
                        a0, a1 = (int(round(v / p.ray_step_mm)) for v in p.generic_shell_mm)
                        ins = (j <= r[:, None] - a0) & ~blocked
                        out = ((j > r[:, None] + a0) & (j <= r[:, None] + a1) & ~blocked
                               & seen[:, None])
                        inside_vals.append(fr[ins])
                        outside_vals.append(fr[out])
                    if it == 0:
                        lk["surfaces"][key] = (fr_g[-1], star, inside_vals[-1:], outside_vals[-1:])
                if it < n_iter - 1:
                    t_new = app.histogram_likelihood(     # only where the rays read it
                        feat, np.concatenate(inside_vals), np.concatenate(outside_vals),
                        at=ray_voxels(shape, sp, [loc[si] for si in group], dirs, radii))
                    if t_new is None:
                        break
                    t_g = t_new
            region |= reg_g
            first = reg_g if group is groups[0] else first   # where re-centring looks
            fractions += fr_g
        for b in self.bg:
            region[self._ball_at(shape, b - lo, self._bg_radius(b, seeds_zyx))] = False
        return {"lo": lo, "hi": hi, "region": region, "first": region & first, "model": model,
                "boundary_fraction": float(np.mean(fractions)), "details": lk["details"],
                "enhancing": lk["enhancing"], "shown": lk["shown"]}

    def own_band_share(self, seed_zyx) -> float:
        """Step 8's test: the share of the values within ``generic_radius_mm`` of the click
        ``seed_zyx`` in the band of its own tissue (``_appearance.own_band``; the SD taken
        within ``own_band_radius_mm``), on the generic model's smoothing."""
        p, sp = self.p, self.sp
        c = np.asarray(seed_zyx, int)
        reach = np.ceil(max(p.generic_radius_mm, p.own_band_radius_mm, p.seed_radius_mm)
                        / sp).astype(int) + 2
        lo = np.maximum(c - reach, 0)
        hi = np.minimum(c + reach + 1, self.full.shape)
        feat = smoothed_crop(self.per_image, self.full, "image", p.generic_smoothing_mm / sp,
                             lo, hi - lo)

        def ball(r_mm):
            return feat[self._ball_at(feat.shape, c - lo, r_mm)]
        return app.own_band(ball(p.own_band_radius_mm), ball(p.generic_radius_mm),
                            float(np.median(ball(p.seed_radius_mm))), p.own_band_k)["share"]

    def _ball_at(self, shape, centre, r_mm):
        """Voxels of an array of ``shape`` within ``r_mm`` of ``centre`` (z, y, x; may be out)."""
        out = np.zeros(shape, bool)         # (tested on the ball's box grown by a voxel)
        box = tuple(slice(max(int(np.floor(c - r_mm / h)) - 1, 0), max(min(int(np.ceil(
            c + r_mm / h)) + 2, n), 0)) for c, h, n in zip(centre, self.sp, shape))
        d2 = sum(((g - c) * h) ** 2 for g, c, h in zip(np.ogrid[box], centre, self.sp))
        out[box] = d2 <= r_mm ** 2
        return out

    def _bg_radius(self, b, seeds_zyx) -> float:
        """``background_radius_mm``, at most half the distance from the point to the nearest
        seed (a background point placed close to a small tumour must not swallow it)."""
        d = min(float(np.sqrt((((np.asarray(s) - b) * self.sp) ** 2).sum())) for s in seeds_zyx)
        return min(self.p.background_radius_mm, 0.5 * d)


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
    if image.GetPixelID() not in (sitk.sitkFloat32, sitk.sitkFloat64):
        image = sitk.Cast(image, sitk.sitkFloat32)
    guessed = modality is None or str(modality).strip() == ""
    modality = guess_modality(image) if guessed else str(modality).strip().upper()
    if modality not in ("CT", "MR"):
        raise ValueError(f"modality must be CT or MR, got {modality!r}")
    seeds = seeds_to_indices(image, seeds_lps_mm, source=source)
    background = None
    if background_lps_mm is not None and np.asarray(background_lps_mm, float).size:
        background = seeds_to_indices(image, background_lps_mm, source=source,
                                      what="background point")
    ch2 = None if second_channel is None else second_channel_on_grid(second_channel, image, source)
    seeds_zyx = [np.array(s[::-1]) for s in seeds]
    seed_ball_mm3 = 4.0 / 3.0 * np.pi * p.seed_radius_mm ** 3
    voxel_mm3 = float(np.prod(np.array(image.GetSpacing(), float)[::-1]))   # as _Problem.sp

    def balls(m: np.ndarray) -> float:
        """The mask's volume in seed balls."""
        return float(m.sum()) * voxel_mm3 / seed_ball_mm3

    def tiny(m: np.ndarray) -> bool:
        """A mask smaller than the seed's own ball (whose values set the model): nothing was
        delimited; its jittered clicks would all agree, so its confidence is 0, not that Dice."""
        return balls(m) < 1.0

    def box_fill(m: np.ndarray, box) -> Optional[float]:   # the box's share in the mask, or None
        return None if box is None else float(m.sum()) / np.prod([b.stop - b.start for b in box])

    # per model and parameters but the re-centring count: the problem (crops, likelihoods) and
    # each pipeline's last state by its start (a retry with more re-centring continues them)
    shared: Dict[tuple, Dict[str, Any]] = {}
    per_image: Dict = {}        # what the problems share about the images (``_Problem``)

    def attempt(q: ClickParameters, use_model: str, box_model: str = "box", start=None):
        """The method with parameters ``q`` and appearance model ``use_model`` (with a box, the
        generic model from ``box_model``: "box", "classes" or "near"; ``_Problem._likelihood``)
        from the seeds (or ``start``): mask, last run, seeds used, confidence, jitter."""
        key = (dataclasses.replace(q, recentre_iterations=1), use_model, box_model)
        if key not in shared:
            shared[key] = {"prob": _Problem(image, ch2, bbox, background, modality, use_model,
                                            q, source, box_model, len(seeds_zyx), per_image),
                           "states": {}}
        prob, states = shared[key]["prob"], shared[key]["states"]
        if prob.box is not None:
            for s in seeds:
                z, y, x = s[::-1]
                if not all(b.start <= v < b.stop for b, v in zip(prob.box, (z, y, x))):
                    raise ValueError(f"{source + ': ' if source else ''}seed (voxel "
                                     f"{tuple(s)}) lies outside the bounding box")
        shape = prob.full.shape

        def full_mask(res, part: str = "region") -> np.ndarray:
            out = np.zeros(shape, bool)
            out[tuple(slice(int(a), int(b)) for a, b in zip(res["lo"], res["hi"]))] = res[part]
            return out

        def pipeline(start: List[np.ndarray]):
            n_it = int(q.recentre_iterations) if q.recentre else 0
            k0 = tuple(tuple(int(v) for v in s) for s in start)
            st = states.get(k0)
            # (fewer re-centrings, seeds used[len(start):], continue; "done": stopped by itself)
            if st is None or len(st["used"]) - len(start) > n_it:
                st = {"res": prob.run(start), "used": list(start), "done": False}
            m = full_mask(st["res"])
            while len(st["used"]) - len(start) < n_it and not st["done"]:
                f = full_mask(st["res"], "first") if len(seeds_zyx) > 1 else m   # step 5
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

        mask, res, used = pipeline(seeds_zyx if start is None else start)
        log.debug("%s: %s model, rays %g mm every %g mm, generic scale %g mm / %g mm: %.2f mL",
                  source or "segment_click", res["model"], q.ray_length_mm, q.ray_step_mm,
                  q.generic_smoothing_mm, q.generic_radius_mm, mask.sum() * voxel_mm3 / 1e3)

        def judge():        # step 6, when first asked for (``conf_of``): none for a discarded one
            if not confidence or q.n_jitter <= 0 or tiny(mask):
                return (0.0 if confidence and q.n_jitter > 0 else None), []
            if len(seeds_zyx) > 1:      # each of the user's seeds moved within its own part
                starts = inner_half_points_per_seed(mask, seeds_zyx, prob.sp, int(q.n_jitter))
            else:
                starts = [[pt] for pt in inner_half_points(mask, prob.sp, int(q.n_jitter),
                                                           start=used[-1])]
            jitter = [dice_arrays(mask, pipeline(pts)[0]) for pts in starts]
            return (float(np.mean(jitter)) if jitter else None), jitter
        return {"mask": mask, "res": res, "used": used, "judge": judge, "prob": prob, "p": q}

    def conf_of(a) -> Optional[float]:
        """Result ``a``'s confidence (step 6), its jittered runs made on the first call."""
        if "conf" not in a:
            a["conf"], a["jitter"] = a["judge"]()
        return a["conf"]

    def overfills(a) -> bool:
        """With a box, a mask filling more than ``max_box_fill`` of it: leaked up to its walls."""
        fill = box_fill(a["mask"], a["prob"].box)
        return fill is not None and fill > p.max_box_fill

    def implausible(a) -> bool:
        """Nothing delimited around the click (``tiny``), ``overfills``, or, with a box, a mask
        filling less than ``min_box_fill`` of it or spanning less than ``min_box_span`` of it
        along an axis (the box says the tumour is about its size)."""
        fill, span = box_fill(a["mask"], a["prob"].box), box_span(a["mask"], a["prob"].box)
        return tiny(a["mask"]) or overfills(a) or (fill is not None and fill < p.min_box_fill) \
            or (span is not None and span < p.min_box_span)

    def boxed(a) -> bool:
        """With a box, no ray showed a boundary: the box's ellipsoid (step 4), any click."""
        return a["prob"].box is not None and a["res"]["boundary_fraction"] == 0.0 and \
            a["res"]["model"] == "generic"

    def unreliable(a) -> bool:
        return (conf_of(a) is not None and conf_of(a) < p.warn_below) or boxed(a)

    def point_like(m: np.ndarray, radii: float = _POINT_LIKE) -> bool:
        """A mask smaller than a ball of ``radii`` (2) seed radii per seed: its inner-half
        clicks lie within the seeds' own balls, so their agreement tests nothing."""
        return balls(m) < len(seeds_zyx) * radii ** 3

    def more_reliable(a, q: ClickParameters, use_model: str, radii: float = _POINT_LIKE):
        """``a``, or the result of parameters ``q`` when it ranks higher (``rank``)."""
        b = attempt(q, use_model)
        return a if conf_of(b) is None or rank(b, radii) <= rank(a, radii) else b

    def rank(x, radii: float = _POINT_LIKE):
        """Larger wins: (not filling up the box, not point-like, reliable, confidence)."""
        return (not overfills(x), not point_like(x["mask"], radii), not unreliable(x),
                conf_of(x) or 0.0)

    best = first = attempt(p, model)
    # an unreliable result: a longer reach (large tumours, wide necrotic cores; rays every
    # wide_ray_step_mm, fine enough there and the cut far cheaper); the higher rank is kept
    p_wide = dataclasses.replace(p, ray_length_mm=max(p.ray_length_mm, p.wide_ray_length_mm),
                                 enclosure_mm=max(p.enclosure_mm, p.wide_enclosure_mm),
                                 ray_step_mm=max(p.ray_step_mm, p.wide_ray_step_mm))
    if unreliable(best) and p.wide_ray_length_mm > p.ray_length_mm:
        best = more_reliable(best, p_wide, model)
    # an unreliable enhancing result from a click on enhancing tissue: perhaps on the rim of a
    # necrotic core that the rim does not close (so it was not filled in): again with a second
    # seed deepest in the dark tissue next to the mask; kept only if reliable, not point-like
    if unreliable(best) and best["res"]["model"] == "bright" and model == "auto":
        lk = best["prob"].likelihood(seeds_zyx)
        if lk["t"][tuple(lk["loc"][0])] >= 0.5:
            lo, b = lk["lo"], lk["details"]["bright"]
            c = app.dark_core_point(best["mask"][tuple(slice(i, j) for i, j in zip(lo, lk["hi"]))],
                                    lk["t"], lk["sm"], lk["valid"], b["median"], b["sd"],
                                    best["prob"].sp)
            alt = None if c is None else attempt(p, model, start=seeds_zyx + [c + lo])
            if (alt is not None and alt["res"]["model"] == "bright" and not point_like(alt["mask"])
                    and not overfills(alt) and not unreliable(alt)):
                best = alt
    # still unreliable but plausible, not enhancing (the image shows its boundary): the longer
    # reach and repeated re-centring (a mass whose boundary the image hides in places, step 8)
    if (unreliable(best) and p.recentre
            and p.retry_recentre_iterations > p.recentre_iterations
            and best["res"]["model"] != "bright" and not implausible(best)):
        best = more_reliable(best, dataclasses.replace(
            p_wide, recentre_iterations=p.retry_recentre_iterations), model)
    # a generic result still unreliable without a box: its class at a coarser scale (step 8)
    p_coarse = dataclasses.replace(p_wide, ray_step_mm=p.ray_step_mm, generic_smoothing_mm=max(
        p.generic_smoothing_mm, p.coarse_smoothing_mm), generic_radius_mm=max(
        p.generic_radius_mm, p.coarse_radius_mm))
    coarser = (p.coarse_smoothing_mm > p.generic_smoothing_mm
               or p.coarse_radius_mm > p.generic_radius_mm)
    if unreliable(best) and bbox is None and best["res"]["model"] == "generic" and coarser:
        best = more_reliable(best, p_coarse, "generic", 2.0 * _POINT_LIKE)
    # still so, from a click whose surroundings are all tissue like its own: that band (step 8;
    # also after a blob of "auto"'s enhancing model, ranked point-like as usual after it)
    kind, blob = first["res"]["model"], point_like(best["mask"], 2.0 * _POINT_LIKE)
    if (unreliable(best) and bbox is None and p.own_band_k and best["res"]["model"] == kind
            and (kind == "generic" or (kind == "bright" and model == "auto" and blob))
            and first["prob"].own_band_share(seeds_zyx[0]) >= p.own_band_share):
        best = more_reliable(best, dataclasses.replace(
            p_wide, generic_own_band=True, generic_iterations=0, exit_window_mm=max(
                p.exit_window_mm, p.own_band_exit_window_mm)), "generic",
            _POINT_LIKE * (2.0 if kind == "generic" else 1.0))
    # still implausible (or the box's ellipsoid: until one ranks higher), the next model (step
    # 1): generic (from the box) -> the box's classes -> the same coarse -> surroundings coarse
    fallbacks = []
    if model == "auto" and best["res"]["model"] != "generic":
        fallbacks.append((p, "generic", "box"))
    if bbox is not None and model in ("auto", "generic"):
        fallbacks.append((p, "generic", "classes"))
        if coarser:
            fallbacks += [(p_coarse, "generic", "classes"), (p_coarse, "generic", "near")]
    for q, use_model, box_model in fallbacks:
        if not implausible(best) and not boxed(best):
            break
        alt = attempt(q, use_model, box_model)
        if not implausible(alt) and (implausible(best) or rank(alt) > rank(best)):
            best = alt

    def finish(b):
        """Step 9 on result ``b``, in place: its mask with the rim's thin continuations; and
        step 10's share of that mask's volume that the enhancement continuing past it adds;
        and its crop.  ``b``'s confidence is that of its mask before step 9."""
        conf_of(b)
        m, r, q = b["mask"], b["res"], b["p"]
        crop = tuple(slice(int(i), int(j)) for i, j in zip(r["lo"], r["hi"]))
        if r["model"] != "bright":
            return m, 0.0, crop
        m[crop] = app.contiguous_enhancement(m[crop], r["enhancing"] if r["shown"] is None else
                                             r["enhancing"] & r["shown"], b["prob"].sp,
                                             q.rim_reach_mm)
        n = app.enhancement_beyond(m[crop], r["enhancing"], b["prob"].sp, q.enhancement_beyond_mm)
        return m, n / max(float(m.sum()), 1.0), crop

    mask, beyond, crop = finish(best)
    # the enhancement goes on past the mask, thick (the rest of the tumour, not a vessel):
    # again with a seed deepest in it, kept when bright, not point-like, not filling the box
    if beyond > p.max_enhancement_beyond and model == "auto":
        depth, c = app.enhancement_beyond_point(mask[crop], best["res"]["enhancing"],
                                                best["prob"].sp, p.enhancement_beyond_mm)
        if depth >= p.beyond_seed_depth_mm:
            alt = attempt(p, model, start=seeds_zyx + [c + best["res"]["lo"]])
            if (alt["res"]["model"] == "bright" and not point_like(alt["mask"])
                    and not overfills(alt)):
                best = alt
                mask, beyond, crop = finish(best)
    conf = conf_of(best)
    res, used, jitter, prob = (best[k] for k in ("res", "used", "jitter", "prob"))
    p_used = best["p"]
    warnings, flagged = result_warnings(
        p, p_used, conf, mask, prob.sp, tiny(mask), res["boundary_fraction"], boxed(best),
        res["details"].get("lung_level"), beyond, box_fill(mask, prob.box),
        box_span(mask, prob.box))
    out = sitk.GetImageFromArray(mask.astype(np.uint8))
    out.CopyInformation(image)
    vol = float(mask.sum()) * voxel_mm3 / 1000.0
    seeds_lps = [tuple(float(v) for v in image.TransformIndexToPhysicalPoint(
        [int(c) for c in s[::-1]])) for s in used]
    for w in warnings:
        log.info("%s: %s", source or "segment_click", w)
    return ClickResult(mask=out, confidence=conf, jitter_dice=jitter, model=res["model"],
                       modality=modality, modality_guessed=bool(guessed), seeds_lps=seeds_lps,
                       boundary_fraction=res["boundary_fraction"], volume_ml=vol,
                       warnings=warnings, seconds=time.perf_counter() - t0,
                       ray_length_mm=float(p_used.ray_length_mm), needs_check=bool(
                           unreliable(best) or implausible(best) or flagged))
