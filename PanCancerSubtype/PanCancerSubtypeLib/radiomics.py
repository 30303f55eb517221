"""Conventional radiomics: a thin wrapper around PyRadiomics' ``featureextractor``.

* accepts the same parameter files (YAML or JSON) or dicts as PyRadiomics
  (``setting`` / ``imageType`` / ``featureClass`` sections);
* returns the features under PyRadiomics' own names (``original_firstorder_Mean``, ...);
* works on a :class:`~.features.Case` (the label selection has been done by :mod:`.io`, so the
  mask is binary and PyRadiomics is called with ``label=1``): a ``label`` setting in the
  parameter file chooses the mask's label where none is given (``features --label``, a
  manifest's ``Label`` cell: :func:`params_label`), for every feature group; a label given
  is what counts;
* PyRadiomics' ``diagnostics_*`` outputs are dropped except versions and voxel count, which are kept
  as ``diag_radiomics_*`` columns.

PyRadiomics 3.0.1 must be installed (``pip install --no-build-isolation pyradiomics==3.0.1``; see
the README).  It is imported lazily.
"""
from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path
from typing import Any, Dict, List, Mapping, Union

from .errors import PanCancerSubtypeError, TumourTooSmallError
from .registry import FeatureGroup, FeatureSpec

ParamsLike = Union[None, str, Path, Mapping[str, Any]]



def load_params(params: ParamsLike) -> Dict[str, Any]:
    """Read a PyRadiomics parameter file (YAML or JSON) or copy a dict."""
    if params is None:
        return {}
    if isinstance(params, Mapping):
        return json.loads(json.dumps(params))  # deep copy, plain types
    p = Path(params)
    if not p.is_file():
        raise PanCancerSubtypeError("PyRadiomics parameter file not found", source=str(p))
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() == ".json":
        return json.loads(text)
    import yaml

    return yaml.safe_load(text) or {}


def params_label(params: ParamsLike) -> Any:
    """The ``setting: label`` of a PyRadiomics parameter file or dict (None when it has none):
    the mask's label where none is given (a file's label was dropped and label 1 used)."""
    if params is None:
        return None
    setting = load_params(params).get("setting") or {}
    label = setting.get("label") if isinstance(setting, Mapping) else None
    return None if label is None else str(label)


def group_options_label(group_options: Any) -> Any:
    """:func:`params_label` of the ``radiomics`` (else ``peritumoural``) group's ``params`` in
    feature-group options (``{group: {option: value}}``); None without one."""
    for group in ("radiomics", "peritumoural"):
        opts = (group_options or {}).get(group) or {}
        if opts.get("params") is not None:
            return params_label(opts["params"])
    return None


class RadiomicsFeatures(FeatureGroup):
    """Feature group ``radiomics``: PyRadiomics features with PyRadiomics' names."""

    name = "radiomics"
    prefix = ""  # PyRadiomics names start with the image type, e.g. "original_"
    requires = ("radiomics",)  # PyRadiomics (the ``radiomics`` extra)

    def __init__(self, params: ParamsLike = None, **settings: Any):
        self.params_source = None if params is None or isinstance(params, Mapping) else str(params)
        self.params = load_params(params)
        if settings:
            self.params.setdefault("setting", {}).update(settings)
        self.params.setdefault("setting", {}).pop("label", None)
        self._extractor = None

    # -- protocol ------------------------------------------------------------------------------
    def options(self) -> Dict[str, Any]:
        return {"params": self.params, "params_file": self.params_source}

    @property
    def extractor(self):
        if self._extractor is None:
            import radiomics
            from radiomics import featureextractor

            radiomics.setVerbosity(logging.ERROR)
            logging.getLogger("radiomics").setLevel(logging.ERROR)
            ex = featureextractor.RadiomicsFeatureExtractor(dict(self.params))
            if "LBP3D" in ex.enabledImagetypes:
                import importlib.util

                if importlib.util.find_spec("trimesh") is None:
                    # PyRadiomics then logs a warning and computes none of its columns
                    from .errors import MissingDependencyError

                    raise MissingDependencyError(
                        "PyRadiomics' LBP3D image type needs the trimesh package: pip install "
                        "trimesh (or leave LBP3D out of the parameter file)",
                        source=self.params_source or "radiomics params")
            self._extractor = ex
        return self._extractor

    def specs(self) -> List[FeatureSpec]:
        from radiomics import getFeatureClasses

        ex = self.extractor
        classes = getFeatureClasses()
        out: List[FeatureSpec] = []

        def add(cls_name: str, enabled, prefix: str) -> None:
            cls = classes[cls_name]
            names = enabled if enabled else [n for n, deprecated in
                                             cls.getFeatureNames().items() if not deprecated]
            for feat in names:
                doc = (getattr(cls, f"get{feat}FeatureValue").__doc__ or "").strip()
                first = doc.split("\n\n")[0].replace("\n", " ").strip()
                out.append(FeatureSpec(
                    name=f"{prefix}_{cls_name}_{feat}", group=self.name,
                    description=f"PyRadiomics {cls_name} {feat} on the {prefix} image",
                    formula=first[:300],
                    extra={"pyradiomics_class": cls_name, "image_type": prefix}))

        # the columns PyRadiomics computes, in its order: shape once, on the original image
        # (shape2D only with force2D), then the other classes on every image type
        for cls_name in ("shape", "shape2D"):
            if cls_name in ex.enabledFeatures and (cls_name == "shape"
                                                   or ex.settings.get("force2D", False)):
                add(cls_name, ex.enabledFeatures[cls_name], "original")
        for image_type, custom in ex.enabledImagetypes.items():
            for prefix in _image_type_prefixes(image_type, custom, ex.settings):
                for cls_name, enabled in ex.enabledFeatures.items():
                    if cls_name not in ("shape", "shape2D"):
                        add(cls_name, enabled, prefix)
        return out

    def compute(self, case) -> Dict[str, Any]:
        import numpy as np

        n = int(np.count_nonzero(case.mask_array()))
        if n < 1:
            raise TumourTooSmallError("mask is empty", source=case.case_id)
        return self.execute(case.image, case.mask, case.case_id)

    def execute(self, image, mask, source: str, prefix: str = "") -> Dict[str, Any]:
        """PyRadiomics on ``image`` inside the binary ``mask`` (SimpleITK, label 1); feature
        names get ``prefix``, diagnostics become ``diag_radiomics_<prefix>*``."""
        import numpy as np
        import SimpleITK as sitk

        if int(np.count_nonzero(sitk.GetArrayViewFromImage(mask))) == int(np.prod(mask.GetSize())):
            # PyRadiomics refuses a mask without background ("No labels found"): add a border of
            # background voxels, the image's edge values repeated (mask voxels are unchanged, so
            # are the features of the original image; filters see a zero-flux border)
            image = sitk.ZeroFluxNeumannPad(image, [1, 1, 1], [1, 1, 1])
            mask = sitk.ConstantPad(mask, [1, 1, 1], [1, 1, 1], 0)
        try:
            res = self.extractor.execute(image, mask, label=1)
        except ValueError as exc:  # PyRadiomics reports too-small / flat ROIs as ValueError
            raise TumourTooSmallError(f"PyRadiomics: {exc}", source=source) from None
        out: Dict[str, Any] = {}
        for k, v in res.items():
            if k.startswith("diagnostics_"):
                if k in ("diagnostics_Versions_PyRadiomics", "diagnostics_Mask-original_VoxelNum"):
                    out["diag_radiomics_" + prefix + k.split("_", 2)[2]] = _plain(v)
                continue
            out[prefix + k] = _plain(v)
        return out


def peritumoural_prefix(width_mm: float) -> str:
    """Column prefix of the peri-tumoural ring of ``width_mm``: ``peri5mm_``, ``peri2p5mm_``."""
    w = float(width_mm)
    return "peri" + (f"{w:g}".replace(".", "p")) + "mm_"


def peritumoural_ring(case, width_mm: float, within_organ: bool = False):
    """Boolean (z, y, x) ring of the voxels outside the tumour within ``width_mm`` of it (3D
    Euclidean distance in mm, the image border counting as outside; the ``3d`` PM region of
    :func:`.regions.tumour_regions`), optionally restricted to the organ (parenchyma) mask:
    the case's own organ mask, else the automatic one of :func:`.regions.parenchyma_mask`."""
    import numpy as np

    from .regions import case_parenchyma, tumour_regions

    if not float(width_mm) > 0:
        raise ValueError(f"peri-tumoural width must be > 0 mm, got {width_mm!r}")
    par = None
    if within_organ:        # (the automatic parenchyma made on axial slices, then stored order)
        par = case_parenchyma(case)[0]
    regs = tumour_regions(case.mask_array(), par, case.spacing, definition="3d",
                          margins_mm=(float(width_mm),))
    return regs[f"PM{float(width_mm):g}"]


class PeritumouralFeatures(RadiomicsFeatures):
    """Feature group ``peritumoural``: PyRadiomics features of a ring around the tumour.

    The ring holds the voxels outside the tumour within ``width_mm`` of it (default 5 mm), and
    with ``within_organ=True`` only those inside the organ mask (the supplied one, else the
    automatic parenchyma of :mod:`.regions`), as intra- and peri-tumoural radiomics studies
    define it.  Columns are PyRadiomics' names prefixed with the ring, e.g.
    ``peri5mm_original_firstorder_Mean``, next to the tumour's own (group ``radiomics``); the
    PyRadiomics parameters are the same (``params``).  Shape features of the ring describe the
    ring, not the tumour.
    """

    name = "peritumoural"
    prefix = "peri"

    def __init__(self, params: ParamsLike = None, width_mm: float = 5.0,
                 within_organ: bool = False, **settings: Any):
        super().__init__(params, **settings)
        if not float(width_mm) > 0:
            raise ValueError(f"peritumoural width_mm must be > 0, got {width_mm!r}")
        self.width_mm = float(width_mm)
        self.within_organ = bool(within_organ)
        self.roi_prefix = peritumoural_prefix(self.width_mm)

    def options(self) -> Dict[str, Any]:
        return {**super().options(), "width_mm": self.width_mm,
                "within_organ": self.within_organ}

    def specs(self) -> List[FeatureSpec]:
        where = " inside the organ mask" if self.within_organ else ""
        out = []
        for s in super().specs():
            out.append(FeatureSpec(
                name=self.roi_prefix + s.name, group=self.name,
                description=f"{s.description} in the {self.width_mm:g} mm peri-tumoural "
                            f"ring{where}",
                formula=s.formula, extra={**s.extra, "roi": self.roi_prefix.rstrip("_")}))
        return out

    def compute(self, case) -> Dict[str, Any]:
        import numpy as np
        import SimpleITK as sitk

        ring = peritumoural_ring(case, self.width_mm, self.within_organ)
        if not ring.any():
            raise TumourTooSmallError(
                f"the {self.width_mm:g} mm peri-tumoural ring is empty"
                + (" inside the organ mask" if self.within_organ else ""), source=case.case_id)
        mask = sitk.GetImageFromArray(ring.astype(np.uint8))
        mask.CopyInformation(case.image)
        return self.execute(case.image, mask, case.case_id, prefix=self.roi_prefix)


def _plain(v):
    try:
        import numpy as np

        if isinstance(v, np.ndarray) and v.size == 1:
            return float(v.item())
        if isinstance(v, (np.floating, np.integer)):
            return float(v)
    except ImportError:  # pragma: no cover
        pass
    return v


def _image_type_prefixes(image_type: str, custom: Mapping[str, Any], settings: Mapping[str, Any]
                         ) -> List[str]:
    """Column prefixes PyRadiomics uses for an enabled image type (see imageoperations)."""
    t = image_type.lower()
    if t == "original":
        return ["original"]
    if t == "wavelet":
        # imageoperations.getWaveletImage: each level's detail bands (level 1 "wavelet-",
        # level n "wavelet<n>-", counted from start_level), then the last level's approximation
        opts = {**settings, **(custom or {})}
        level = int(opts.get("level", 1))
        n_axes = 2 if opts.get("force2D", False) else 3
        bands = ["".join(b) for b in itertools.product("LH", repeat=n_axes)][1:]
        out = []
        for idx in range(1, level + 1):
            head = "wavelet-" if idx == 1 else f"wavelet{idx}-"
            out += [head + b for b in bands]
        return out + [("wavelet-" if level == 1 else f"wavelet{level}-") + "L" * n_axes]
    if t == "log":
        sigmas = (custom or {}).get("sigma", settings.get("sigma", []))
        return [f"log-sigma-{str(float(s)).replace('.', '-')}-mm-3D" for s in sigmas]
    if t == "lbp3d":
        levels = int({**settings, **(custom or {})}.get("lbp3DLevels", 2))
        return [f"lbp-3D-m{i}" for i in range(1, levels + 1)] + ["lbp-3D-k"]
    if t == "lbp2d":
        return ["lbp-2D"]
    return [t]
