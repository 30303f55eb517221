"""One tumour case: the unit every feature group computes on.

A :class:`Case` holds a 3D image, the binary tumour mask on exactly the image's grid, optionally
an organ (parenchyma) mask, and what is known about the case (modality, organ, cancer type, the
files it came from).  :func:`PanCancerSubtypeLib.io.load_case` builds one from files or
SimpleITK images and validates it; feature groups only read it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional


@dataclass
class Case:
    """One tumour: image, binary tumour mask on the image grid, optional parenchyma mask.

    ``image`` is a 3D SimpleITK image (float32), ``mask`` a 3D uint8 SimpleITK image with values
    0/1 on exactly the image's grid, ``organ_mask`` likewise or ``None``.
    """

    case_id: str
    image: Any
    mask: Any
    organ_mask: Any = None
    modality: Optional[str] = None        # "CT" or "MR"
    organ: Optional[str] = None           # "lung", "breast", "brain", ...
    cancer_type: Optional[str] = None
    image_path: Optional[str] = None
    mask_path: Optional[str] = None
    label: Optional[str] = None           # the label selection as given, e.g. "1" or "1,3,4"
    meta: Dict[str, Any] = field(default_factory=dict)
    _cache: Dict[str, Any] = field(default_factory=dict, repr=False)

    # -- convenience accessors (arrays are z, y, x as SimpleITK returns them) --
    @property
    def spacing(self):
        """Voxel spacing (x, y, z) in mm."""
        return tuple(self.image.GetSpacing())

    def image_array(self):
        if "image" not in self._cache:
            import SimpleITK as sitk

            self._cache["image"] = sitk.GetArrayViewFromImage(self.image)
        return self._cache["image"]

    def mask_array(self):
        if "mask" not in self._cache:
            import SimpleITK as sitk

            self._cache["mask"] = sitk.GetArrayViewFromImage(self.mask).astype(bool)
        return self._cache["mask"]

    def organ_mask_array(self):
        if self.organ_mask is None:
            return None
        if "organ" not in self._cache:
            import SimpleITK as sitk

            self._cache["organ"] = sitk.GetArrayViewFromImage(self.organ_mask).astype(bool)
        return self._cache["organ"]
