"""The click method's problem (private to segmentation): the image, options and cached
smoothed crops shared by all runs of one segmentation; each run's crop, tumour likelihood
(steps 1-2 of :mod:`.click`) and star-shaped surfaces (steps 3-5).  The method as a whole, its
retries and its result are described and put together in :mod:`.click`."""
from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import InvalidImageValuesError
from . import _appearance as app
from ._smoothing import finite, kernel_radius, smoothed_crop, store_lock
from ._surface import (beyond_crop, box_ellipsoid_radii, fit_surface, halfway_radii,
                       level_crossing_radii, ray_directions, ray_voxels, sample_rays, star_mask)

__all__ = ["Problem", "padding_value", "minimum_share", "whole_image_facts"]


def minimum_share(arr: np.ndarray) -> Tuple[float, float]:
    """The image's minimum and the share of its voxels that hold it, counted in slabs of the
    first axis (no full-size temporary)."""
    v0 = arr.min()
    step = max(1, 2 ** 24 // max(1, arr[0].size))
    n = sum(int(np.count_nonzero(arr[k:k + step] == v0)) for k in range(0, len(arr), step))
    return float(v0), n / arr.size


def padding_value(arr: np.ndarray) -> Optional[float]:
    """The image's padding (outside a skull-stripped brain or the field of view): its minimum
    where at least 1 % of the voxels hold it (:func:`minimum_share`), else None."""
    v0, share = minimum_share(arr)
    return v0 if share >= 0.01 else None


def whole_image_facts(image, ch2) -> Dict:
    """What the method takes from the whole image, not from the part it works on
    (``Problem.per_image``): the padding (the minimum, where >= 1 % of the voxels hold it) and
    whether the image and the second channel are finite everywhere (``_smoothing``; a second
    channel on another grid: as given, before it is resampled part by part)."""
    import SimpleITK as sitk

    facts: Dict = {"pad_value": padding_value(sitk.GetArrayViewFromImage(image))}
    for name, img in (("image", image), ("ch2", ch2)):
        if img is not None:
            facts[("finite", name)] = finite(sitk.GetArrayViewFromImage(img))
    return facts


class Problem:
    """Image, options and the cached smoothed crops shared by all runs of one segmentation."""

    def __init__(self, image, ch2, box, background_zyx, modality, model, p, source,
                 box_model: str = "box", n_user: int = 1, per_image: Optional[Dict] = None):
        import SimpleITK as sitk

        self.image = image      # the views below share these images' buffers: keep them alive
        self.ch2 = ch2
        self.full = sitk.GetArrayViewFromImage(image)
        self.ch2_full = None if ch2 is None else sitk.GetArrayViewFromImage(ch2)
        self.sp = np.array(image.GetSpacing(), float)[::-1]
        self.box = box          # index slices (z, y, x): ``_points.bbox_to_slices``
        self.bg = [np.asarray(b, int) for b in (background_zyx or [])]
        self.modality = modality
        self.model = model
        self.p = p
        self.source = source
        self.box_model = box_model
        self.n_user = int(n_user)           # the first n_user seeds of a run are the user's
        # the last likelihood per thread (the jittered runs of ``click`` share the problem)
        self._cache = threading.local()
        # shared by all runs of one segmentation: the images' smoothings (``._smoothing``),
        # padding (outside a skull-stripped brain or the field of view: the minimum, >= 1 %) and
        # the voxels read (``reads``); ``segment_click`` sets the padding and the images'
        # finiteness from the whole image when it gives a part of it
        self.per_image = {} if per_image is None else per_image
        if "pad_value" not in self.per_image:
            self.per_image["pad_value"] = padding_value(self.full)
        self.pad_value = self.per_image["pad_value"]

    def further(self, n: int) -> range:
        """Indices, among the ``n`` seeds of a run, of the user's further seeds: not the
        first (it chooses the model), not a one-click run's own second seeds (steps 8, 10)."""
        return range(1, min(self.n_user, n))

    def reads(self, lo, hi) -> None:
        """Record that a result depends on the image's voxels ``lo:hi`` (z, y, x; exclusive; not
        clipped to the image): ``per_image["reads"]`` holds the box of all of them, by which
        ``segment_click`` checks that the part of an image it gave held all a result read."""
        lo, hi = np.asarray(lo, int), np.asarray(hi, int)
        with store_lock(self.per_image):        # (runs on several threads share the record)
            r = self.per_image.get("reads")
            self.per_image["reads"] = (lo, hi) if r is None else (np.minimum(r[0], lo),
                                                                  np.maximum(r[1], hi))

    def reach(self) -> np.ndarray:
        """The rays' reach in voxels per axis (z, y, x), a voxel's margin for interpolation
        and one more: a crop is the seeds' box grown by it."""
        return np.ceil(self.p.ray_length_mm / self.sp).astype(int) + 2

    def smoothed(self, vol, name: str, mm: float, lo, shape) -> np.ndarray:
        """``smoothed_crop`` of ``vol`` by ``mm``, its reads recorded (the kernel's radius
        around the crop)."""
        r = kernel_radius(mm / self.sp)
        self.reads(np.asarray(lo) - r, np.asarray(lo) + np.asarray(shape) + r)
        return smoothed_crop(self.per_image, vol, name, mm / self.sp, lo, shape)

    def crop_for(self, seeds_zyx, in_box: bool = True):
        """The crop of the rays' reach around the seeds (within the box when ``in_box``)."""
        rad = self.reach()
        self.reads(np.min(seeds_zyx, 0) - rad, np.max(seeds_zyx, 0) + rad + 1)
        lo = np.maximum(np.min(seeds_zyx, 0) - rad, 0)
        hi = np.minimum(np.max(seeds_zyx, 0) + rad + 1, self.full.shape)
        if self.box is not None and in_box:
            lo = np.maximum(lo, [s.start for s in self.box])
            hi = np.minimum(hi, [s.stop for s in self.box])
        return lo, hi

    def likelihood(self, seeds_zyx: Sequence[np.ndarray]) -> Dict[str, Any]:
        """Crop, tumour likelihood and appearance model around the seeds (cached: re-centring)."""
        key = tuple(tuple(int(v) for v in s) for s in seeds_zyx)
        cache = getattr(self._cache, "entry", None)     # (this thread's: one run's seeds)
        if cache is None or cache[0] != key:
            cache = (key, self._likelihood([np.asarray(s, int) for s in seeds_zyx]))
            self._cache.entry = cache
        return cache[1]

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
            return self.smoothed(vol, name, mm, lo_c, arr_c.shape)
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
            lung_hu = app.lung_level(level, v30, p.ggo_contrast_sd)
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
                lung_hu = (app.lung_level(level, sm_c[near(30.0, True)], p.ggo_contrast_sd)
                           or app.SOLID_LUNG_HU)
            details["lung_level"] = lung_hu
            t = app.lung_likelihood(sm, lung_hu)
            # walls the rays stop at: the tumour stays inside the bony thorax (ribs, spine,
            # sternum), and contrast-enhanced blood pool (aorta, heart, main pulmonary
            # arteries) is no tumour, only where thick (a ball of blood_pool_radius_mm fits), so
            # that vessels a tumour encases and a nodule's own bright part stay (off when a
            # user's seed is that bright: ``segment_click``)
            wall = np.zeros(sm.shape, bool)
            if p.bone_hu is not None:
                wall |= sm > p.bone_hu
            if p.blood_pool_hu is not None:
                wall |= app.thick_region(sm > p.blood_pool_hu, sp, p.blood_pool_radius_mm)
            valid[wall] = 0.0
            t = np.where(wall, 0.0, t).astype(np.float32)
        elif model == "bright":
            thr, med, sd = bright
            t = app.bright_likelihood(sm_c, thr, sd, sp, p.closing_mm, p.max_hole_radius_mm,
                                      wall=pad_c)[inner]
            # a further seed of the user's in dark tissue that this model does not call tumour
            # (a cyst beside the rim, non-enhancing tumour darker than the brain around it by
            # ``further_dark_sd``): its own class of the click's surroundings, as generic's
            dark = [i for i in self.further(len(loc)) if app.dark_tissue(
                t[tuple(loc[i])], float(np.median(sm[seed_balls[i]])), med,
                p.further_dark_sd * sd)]
            if dark:
                gfeat = smooth(self.full, "image", p.generic_smoothing_mm)[inner]
                split = near(p.generic_radius_mm)
                own = {i: app.generic_likelihood(gfeat, split, float(
                    np.median(gfeat[seed_balls[i]])))[0] for i in dark}
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
                band_vox = np.ceil(p.box_band_mm / sp).astype(int)       # box_likelihood's
                self.reads(np.array([b.start for b in self.box]) - band_vox,
                           np.array([b.stop for b in self.box]) + band_vox)
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
        for s in loc:       # the rays' samples, inside the image or not (``beyond_crop``)
            self.reads(lo + s - self.reach(), lo + s + self.reach() + 1)
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
                    if model == "bright" and si not in lk["t_own"] and not (
                            si in further and tr[:, 0].mean() < 0.5):
                        tr, gaps = app.enclosed_prefix(tr, user, p.ray_step_mm, p.enclosure_mm)
                    prior = None if self.box is None or model != "generic" else (
                        box_ellipsoid_radii(sp, s, dirs, *(np.array([[b.start, b.stop] for b
                                            in self.box]).T - lo)) / p.ray_step_mm)
                    r, seen = fit_surface(tr, blocked, user, edges, avg, p.ray_step_mm,
                                          p.exit_window_mm, p.size_prior, p.max_slope_mm,
                                          gaps, prior, p.inside_reward)
                    if model == "generic" and p.halfway_edge and it == n_iter - 1:
                        r = halfway_radii(sample_rays(lk["sm"], sp, s, dirs, radii, cval=np.nan),
                                          r, seen, blocked, edges, p.ray_step_mm, p.max_slope_mm)
                    fr_g.append(float(seen.mean()))
                    rad = radii[r]
                    if model == "lung" and p.lung_crossing:     # its level's crossing (step 4)
                        rad = level_crossing_radii(
                            sample_rays(lk["sm"], sp, s, dirs, radii, cval=np.nan), r,
                            lk["details"]["lung_level"], blocked, p.ray_step_mm)
                    star = star_mask(shape, sp, s, dirs, rad)
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
            if group is groups[0]:      # where re-centring looks; the model's seeds' share
                first, first_fraction = reg_g, float(np.mean(fr_g))
            fractions += fr_g
        for b in self.bg:
            region[self._ball_at(shape, b - lo, self._bg_radius(b, seeds_zyx))] = False
        return {"lo": lo, "hi": hi, "region": region, "first": region & first, "model": model,
                "boundary_fraction": float(np.mean(fractions)),
                "first_boundary_fraction": first_fraction, "details": lk["details"],
                "enhancing": lk["enhancing"], "shown": lk["shown"]}

    def own_band_share(self, seed_zyx) -> float:
        """Step 8's test: the share of the values within ``generic_radius_mm`` of the click
        ``seed_zyx`` in the band of its own tissue (``_appearance.own_band``; the SD taken
        within ``own_band_radius_mm``), on the generic model's smoothing."""
        p, sp = self.p, self.sp
        c = np.asarray(seed_zyx, int)
        reach = np.ceil(max(p.generic_radius_mm, p.own_band_radius_mm, p.seed_radius_mm)
                        / sp).astype(int) + 2
        self.reads(c - reach, c + reach + 1)
        lo = np.maximum(c - reach, 0)
        hi = np.minimum(c + reach + 1, self.full.shape)
        feat = self.smoothed(self.full, "image", p.generic_smoothing_mm, lo, hi - lo)

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
