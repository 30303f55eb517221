"""The parameters and the result of the click segmentation (:mod:`.click`, whose docstring
gives each parameter's role), the result's warnings, and the record of one attempt of its steps
(``Attempt``)."""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import format_numbers
from ..regions import mask_bounds
from ._appearance import SOLID_LUNG_HU

if TYPE_CHECKING:
    from ._problem import Problem

__all__ = ["ClickParameters", "ClickResult", "result_warnings", "Attempt"]


@dataclasses.dataclass(frozen=True)
class ClickParameters:
    """Parameters of :func:`segment_click` (see the module docstring for their roles)."""

    ray_length_mm: float = 60.0
    ray_step_mm: float = 0.5
    n_rays: int = 300
    exit_window_mm: float = 4.0
    max_slope_mm: float = 4.0
    size_prior: float = 0.02
    smoothing_mm: float = 0.7
    generic_smoothing_mm: float = 1.5
    generic_radius_mm: float = 25.0
    generic_iterations: int = 2
    halfway_edge: bool = True
    generic_shell_mm: tuple = (1.0, 8.0)
    seed_radius_mm: float = 2.5
    stats_radius_mm: float = 60.0
    lung_reach_mm: float = 60.0
    ggo_contrast_sd: float = 2.5
    lung_crossing: bool = True
    bright_k: float = 1.0
    bright_f: float = 0.3
    enclosure_mm: float = 45.0
    bone_hu: Optional[float] = 300.0
    blood_pool_hu: Optional[float] = 100.0
    blood_pool_radius_mm: float = 7.0
    rim_max_mm: float = 12.0
    edge_rim_min_hits: float = 1.0 / 3.0
    rim_reach_mm: float = 3.0
    box_focus_min_ml: Optional[float] = 0.05
    max_box_foci: float = 1.0
    enhancement_beyond_mm: float = 10.0
    max_enhancement_beyond: float = 1.0 / 3.0
    beyond_seed_depth_mm: float = 4.0
    beyond_retry_ratio: float = 0.5
    thick_growth_mm: Optional[float] = 2.0
    max_thick_growth: float = 1.0
    closing_mm: float = 2.0
    max_hole_radius_mm: float = 30.0
    second_channel_margin_mm: float = 3.0
    background_radius_mm: float = 3.0
    recentre: bool = True
    recentre_iterations: int = 1
    retry_recentre_iterations: int = 3
    min_boundary_fraction: float = 0.5
    n_jitter: int = 2
    warn_below: float = 0.8
    wide_ray_length_mm: float = 90.0
    wide_enclosure_mm: float = 60.0
    wide_ray_step_mm: float = 1.0
    coarse_smoothing_mm: float = 4.0
    coarse_radius_mm: float = 45.0
    min_box_fill: float = 0.02
    max_box_fill: float = 0.7
    min_box_span: float = 1.0 / 3.0
    box_band_mm: float = 10.0
    box_core: float = 0.5
    own_band_k: float = 3.0
    own_band_radius_mm: float = 10.0
    own_band_share: float = 0.9
    own_band_exit_window_mm: float = 12.0
    generic_own_band: bool = False
    own_band_reward: float = 0.0
    inside_reward: float = 0.0
    unbounded_bright: float = 0.25
    open_rim_max: float = 0.15
    thick_layer_mm: Optional[float] = 20.0
    texture_part_max: float = 1.0 / 3.0
    texture_contain_min: float = 0.9
    texture_conf_min: float = 0.5
    texture_recur_min: float = 0.05
    further_dark_sd: float = 0.5
    work_margin_mm: Optional[float] = 150.0
    finest_mm: Optional[float] = 1.0
    threads: Optional[int] = None

    def validate(self) -> "ClickParameters":
        for name in ("ray_length_mm", "ray_step_mm", "exit_window_mm", "max_slope_mm",
                     "generic_radius_mm", "seed_radius_mm", "stats_radius_mm", "enclosure_mm",
                     "lung_reach_mm", "coarse_smoothing_mm", "coarse_radius_mm",
                     "wide_ray_step_mm", "enhancement_beyond_mm", "own_band_radius_mm",
                     "own_band_exit_window_mm", "blood_pool_radius_mm"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number, got {v!r}")
        if self.blood_pool_hu is not None and not np.isfinite(self.blood_pool_hu):   # None: off
            raise ValueError(f"blood_pool_hu must be a finite number or None, got "
                             f"{self.blood_pool_hu!r}")
        if self.ray_step_mm >= self.ray_length_mm:
            raise ValueError("ray_step_mm must be smaller than ray_length_mm")
        if int(self.n_rays) < 20:
            raise ValueError(f"n_rays must be at least 20, got {self.n_rays!r}")
        if int(self.n_jitter) < 0:
            raise ValueError(f"n_jitter must be >= 0, got {self.n_jitter!r}")
        for name in ("recentre_iterations", "retry_recentre_iterations"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if not 0.0 <= float(self.min_boundary_fraction) <= 1.0:
            raise ValueError(f"min_boundary_fraction must be in [0, 1], got "
                             f"{self.min_boundary_fraction!r}")
        if not (np.isfinite(self.rim_reach_mm) and self.rim_reach_mm >= 0):
            raise ValueError(f"rim_reach_mm must be >= 0, got {self.rim_reach_mm!r}")
        if self.box_focus_min_ml is not None and not (np.isfinite(self.box_focus_min_ml)
                                                      and self.box_focus_min_ml >= 0):
            raise ValueError(f"box_focus_min_ml must be >= 0 or None (off), got "
                             f"{self.box_focus_min_ml!r}")
        if self.thick_layer_mm is not None and not (np.isfinite(self.thick_layer_mm)
                                                    and self.thick_layer_mm > 0):
            raise ValueError(f"thick_layer_mm must be a positive number or None (off), got "
                             f"{self.thick_layer_mm!r}")
        if self.thick_growth_mm is not None and not (np.isfinite(self.thick_growth_mm)
                                                     and self.thick_growth_mm > 0):
            raise ValueError(f"thick_growth_mm must be a positive number or None (off), got "
                             f"{self.thick_growth_mm!r}")
        if not 0.0 <= float(self.edge_rim_min_hits) <= 0.5:
            raise ValueError(f"edge_rim_min_hits must be in [0, 0.5], got "
                             f"{self.edge_rim_min_hits!r}")
        for name in ("max_enhancement_beyond", "beyond_seed_depth_mm",     # (inf: off)
                     "max_thick_growth", "max_box_foci"):
            if not float(getattr(self, name)) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not (np.isfinite(self.own_band_k) and self.own_band_k >= 0):   # (0: no band retry)
            raise ValueError(f"own_band_k must be >= 0, got {self.own_band_k!r}")
        if not float(self.beyond_retry_ratio) >= 0:                     # (inf: any retry)
            raise ValueError(f"beyond_retry_ratio must be >= 0, got {self.beyond_retry_ratio!r}")
        for name in ("unbounded_bright", "open_rim_max", "texture_part_max",
                     "texture_contain_min", "texture_conf_min", "texture_recur_min"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        for name in ("own_band_reward", "inside_reward"):          # (0: none / no retry)
            if not (np.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0.0 <= float(self.own_band_share) <= 1.0:
            raise ValueError(f"own_band_share must be in [0, 1], got {self.own_band_share!r}")
        for name in ("min_box_fill", "min_box_span"):
            if not 0.0 <= float(getattr(self, name)) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        if not (np.isfinite(self.ggo_contrast_sd) and self.ggo_contrast_sd > 0):
            raise ValueError(f"ggo_contrast_sd must be a positive number, got "
                             f"{self.ggo_contrast_sd!r}")
        if not (np.isfinite(self.further_dark_sd) and self.further_dark_sd >= 0):
            raise ValueError(f"further_dark_sd must be >= 0, got {self.further_dark_sd!r}")
        if self.work_margin_mm is not None and not (np.isfinite(self.work_margin_mm)
                                                    and self.work_margin_mm > 0):
            raise ValueError(f"work_margin_mm must be a positive number or None, got "
                             f"{self.work_margin_mm!r}")
        if self.finest_mm is not None and not (np.isfinite(self.finest_mm)
                                               and self.finest_mm > 0):
            raise ValueError(f"finest_mm must be a positive number or None, got "
                             f"{self.finest_mm!r}")
        if self.threads is not None and not (isinstance(self.threads, (int, np.integer))
                                             and not isinstance(self.threads, bool)
                                             and self.threads >= 1):
            raise ValueError(f"threads must be a whole number >= 1 or None (the machine's "
                             f"cores), got {self.threads!r}")
        if not float(self.min_box_fill) < float(self.max_box_fill) <= 1.0:
            raise ValueError(f"max_box_fill must be in (min_box_fill, 1]: {self.max_box_fill!r}")
        return self


@dataclasses.dataclass
class ClickResult:
    """What :func:`segment_click` returns.

    ``mask``: uint8 SimpleITK mask on the image grid; ``confidence``: mean Dice of the masks from
    other clicks in the inner half of the result (None when not computed); ``jitter_dice``: those
    Dice values; ``model``: the appearance model used; ``modality`` and ``modality_guessed``;
    ``seeds_lps``: the seeds used, the re-centring seed last; ``boundary_fraction``: share of the
    rays on which the image showed the tumour's boundary (the rest was interpolated);
    ``volume_ml``; ``warnings``: sentences for the user; ``seconds``: wall time;
    ``ray_length_mm``: the rays' reach of the result kept (step 8); ``needs_check``: the
    result is unreliable (confidence below ``warn_below``, a mask smaller than the seed's ball,
    one the box flags (step 7), the box's own ellipsoid where the image showed no boundary
    (step 4), one whose enhancement goes on past it (step 10), a ground-glass lesion, whose
    faint margin readers draw differently: ``_appearance.lung_level``, or a point-like mask,
    below a ball of twice the seed's radius per seed, whose confidence tests nothing), the flag
    a panel shows.
    """

    mask: Any
    confidence: Optional[float]
    jitter_dice: List[float]
    model: str
    modality: str
    modality_guessed: bool
    seeds_lps: List[tuple]
    boundary_fraction: float
    volume_ml: float
    warnings: List[str]
    seconds: float
    ray_length_mm: float = 60.0
    needs_check: bool = False

    def summary(self) -> Dict[str, Any]:
        """JSON-ready dict of everything but the mask."""
        d = {k: getattr(self, k) for k in ("confidence", "jitter_dice", "model", "modality",
                                           "modality_guessed", "boundary_fraction", "volume_ml",
                                           "warnings", "seconds", "ray_length_mm",
                                           "needs_check")}
        d["seeds_lps"] = [list(map(float, s)) for s in self.seeds_lps]
        return d


def result_warnings(p: ClickParameters, p_used: ClickParameters, conf: Optional[float],
                    mask: np.ndarray, spacing_zyx, tiny: bool, boundary_fraction: float,
                    boxed: bool, lung_level: Optional[float], beyond: float,
                    fill: Optional[float], span: Optional[float],
                    outside: Sequence[Tuple[int, Any]] = (),
                    point_like_mm: Optional[float] = None,
                    emptied: Optional[float] = None,
                    foci: Tuple[int, float, bool] = (0, 0.0, False),
                    grown_ml: float = 0.0) -> Tuple[List[str], bool]:
    """The sentences for the user about a result (``mask``, kept with parameters ``p_used``;
    ``tiny``: smaller than the seed's ball; ``boxed``: the box's ellipsoid, step 4; ``beyond``:
    step 10's share; ``fill`` / ``span``: the box's, step 7; ``outside``: the user's seeds the
    mask leaves out (less than half of the seed's ball inside), as (number from 1, LPS mm);
    ``point_like_mm``: a mask not tiny but smaller than a ball of this radius per seed, whose
    confidence tests nothing (None: not so); ``emptied``: the share of the box that the
    method's own mask filled when, under ``min_box_fill``, the box's ellipsoid replaced it
    (None: not so); ``foci``: step 11's enhancing pieces inside the box that joined the mask,
    their number, mL and whether without them the mask would fill or span too little of the
    box (then flagged: step 7 kept it for them; else said without flagging); ``grown_ml``:
    step 12's growth through thick enhancing tissue, mL), and whether one of the ground-glass,
    enhancement-beyond, box-span, seed-outside, point-like, ellipsoid, growth and needed-foci
    warnings flags it (``needs_check``)."""
    warnings: List[str] = []
    point = False
    if outside:
        # the user says these voxels are tumour and the mask says not: never silently
        what = ", ".join(f"{k} {format_numbers(pt, 2)}" for k, pt in outside)
        warnings.append(f"the mask leaves out the tissue around seed"
                        f"{'s' if len(outside) > 1 else ''} {what} (LPS mm): the appearance "
                        f"model, which the first seed's tissue chooses, does not take it for "
                        f"tumour; check it (if it is, add it by hand, e.g. with the Segment "
                        f"Editor)")
    if conf is not None and conf < p.warn_below and not tiny and emptied is None:
        warnings.append(f"the mask depends on where one clicks (confidence {conf:.2f} < "
                        f"{p.warn_below}): check it; add seeds, a box or background points")
    if emptied is not None:
        warnings.append(f"no mask the image delimits around the click fills the box (the best "
                        f"filled {100 * emptied:.1f}% of it, under {100 * p.min_box_fill:g}%): "
                        f"the mask is the ellipsoid inscribed in the box, the box's shape, not "
                        f"the image's (confidence 0); check it, click nearer the tumour's "
                        f"centre, add seeds or draw the box tight")
    if foci[0]:
        many = foci[0] > 1
        warnings.append(f"besides the tumour around the click the mask holds {foci[0]} "
                        f"enhancing piece{'s' if many else ''} ({foci[1]:.2g} mL) lying wholly "
                        f"inside the box: the box says {'they belong' if many else 'it belongs'}"
                        f" to the tumour (a multifocal tumour's other lesions); remove "
                        f"{'them' if many else 'it'} if not (box_focus_min_ml=None: off)" + (
                            f"; without {'them' if many else 'it'} the mask would fill or span "
                            f"too little of the box, and the confidence measured it without: "
                            f"check it" if foci[2] else ""))
    if grown := grown_ml > 0:
        warnings.append(f"the mask was grown through {grown_ml:.3g} mL of thick enhancing tissue "
                        f"going on past the surface around the click (the rest of the tumour's "
                        f"rim, its enclosed core filled); the confidence was measured before: "
                        f"check it (thick_growth_mm=None: off)")
    if not mask.any():
        warnings.append("empty mask: the click is not inside a tumour the method can separate")
    elif tiny:
        warnings.append(f"the mask is smaller than a ball of {p.seed_radius_mm:g} mm radius "
                        f"around the click (confidence 0): the tumour is tiny or the method "
                        f"found no boundary around it; check it, click inside, add seeds or a box")
    elif point := point_like_mm is not None:
        # the confidence's clicks lie in the mask's inner half, here within the click's own
        # ball, whose tissue sets the model: they agree whatever the mask is worth
        warnings.append(f"the mask is smaller than a ball of {point_like_mm:g} mm radius per "
                        f"seed: the clicks that measure the confidence fall within the click's "
                        f"own ball, so the confidence does not test it; check it (a small "
                        f"lesion, or a small part of a larger tumour: then click nearer its "
                        f"centre or draw a box)")
    if boundary_fraction < p.min_boundary_fraction and emptied is None:
        warnings.append(f"the image shows the tumour's boundary on only "
                        f"{100 * boundary_fraction:.0f}% of its surface (tissue of "
                        f"similar intensity around it): the rest was " + ("the ellipsoid "
                        "inscribed in the box" if boxed else "interpolated") + "; check it")
    if ggo := lung_level is not None and lung_level < SOLID_LUNG_HU:
        warnings.append(f"a ground-glass lesion (its level {lung_level:.0f} HU, "
                        f"half-way between the click and the lung around it): its faint margin "
                        f"is where readers differ most; check it")
    if continues := beyond > p.max_enhancement_beyond:
        warnings.append(f"enhancing tissue connected to the mask continues past it ({beyond:.0%}"
                        f" of its volume within {p.enhancement_beyond_mm:g} mm): the tumour may "
                        f"be larger; check it, add a seed in the rest")
    if fill is not None:                    # the box is drawn around the tumour (step 7)
        if mask.any() and fill < p.min_box_fill:
            warnings.append(f"the mask fills only {100 * fill:.1f}% of the box: the tumour is "
                            f"probably larger; click nearer its centre or add seeds")
        elif fill > p.max_box_fill:
            warnings.append(f"the mask fills {100 * fill:.0f}% of the box, more than a rounded "
                            f"tumour can (an ellipsoid: 52%): it has probably leaked up to the "
                            f"box's walls; check it, add background points")
    if mask.any():
        lo, hi = mask_bounds(mask)
        ext = (hi - lo) * np.asarray(spacing_zyx, float)
        if np.max(ext) >= 2 * p_used.ray_length_mm - 2 * p_used.ray_step_mm - 1e-6:
            warnings.append(f"the mask reaches the {p_used.ray_length_mm:g} mm limit of the rays: "
                            f"the tumour may be larger; add seeds in its other parts")
    if short := span is not None and span < p.min_box_span:
        warnings.append(f"the mask spans only {100 * span:.0f}% of the box along one axis: the "
                        f"tumour is probably larger; check it")
    return warnings, bool(ggo or continues or short or outside or point or grown or foci[2]
                          or emptied is not None)


@dataclasses.dataclass
class Attempt:
    """One run of steps 1-5 with one model and parameters ``p``: its mask (the full image's
    grid), its last run's result, the seeds it used (re-centring's included) and its problem;
    its confidence (step 6) is made when first asked for (``click._Click.conf_of``): none for an
    attempt that is discarded unjudged."""

    mask: np.ndarray
    res: Dict[str, Any]
    used: List[np.ndarray]
    prob: Problem
    p: ClickParameters
    judge: Callable[[], Tuple[Optional[float], List[float]]]
    judged: bool = False
    conf: Optional[float] = None
    jitter: List[float] = dataclasses.field(default_factory=list)
    foci: Tuple[int, float, bool] = (0, 0.0, False)   # step 11's: pieces, mL, needed (step 7)
    grown_ml: float = 0.0                   # step 12's growth, mL
