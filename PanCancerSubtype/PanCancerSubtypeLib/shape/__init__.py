"""SPHARM shape descriptors: 293 features per tumour (Wu et al., Nat Mach Intell 2021).

The tumour surface is mapped onto the unit sphere and its x, y, z coordinate functions expanded in
spherical harmonics up to degree 15 (Brechbuehler et al. 1995; SPHARM-MAT, Shen et al.).  The
coefficients, aligned by the first-order ellipsoid (FOE) and normalised by the tumour's mean
radius, give shape descriptors invariant to translation, rotation and scale.

Modules, in the order the data flows (mask -> mesh -> parameterisation -> basis fit ->
descriptors):

* :mod:`.mesh` - closed genus-0 surfaces from binary masks (topology fix, robust marching-cubes
  and reference voxel-face surfaces), mesh utilities, mesh files (:func:`write_mesh`);
* :mod:`.parameterisation` - bijective maps of the surface onto the unit sphere (robust: whitened
  radial map with heat-flow inflation and a heat-diffusion fallback; reference: Brechbuehler's
  diffusion map + CALD-style smoothing);
* :mod:`.basis` - real / complex spherical harmonics, least-squares fitting, coefficient rotation
  and reflection;
* :mod:`.decomposition` - the pipeline :func:`spharm_decompose` (input checks, FOE alignment) and
  its :class:`SpharmResult`, :func:`reconstruct`;
* :mod:`.features` - :func:`shape_descriptors` (the 293 columns), the ``shape`` feature group
  :class:`ShapeFeatures` and :func:`low_resolution_note`.

Measured speed and stability: README, section "SPHARM shape descriptors", and
``benchmarks/shape_bench.py``.
"""
from .decomposition import (DEFAULT_MAX_DEGREE, INTERPOLATIONS, LOW_RESOLUTION_EXTENT, MODES,
                            SpharmResult, canonical_pose, foe_align, reconstruct,
                            spharm_decompose)
from .features import ShapeFeatures, low_resolution_note, shape_descriptors, shape_feature_names
from .mesh import write_mesh

__all__ = ["SpharmResult", "spharm_decompose", "shape_descriptors", "reconstruct", "write_mesh",
           "ShapeFeatures", "shape_feature_names", "low_resolution_note", "foe_align",
           "canonical_pose", "MODES", "INTERPOLATIONS", "DEFAULT_MAX_DEGREE",
           "LOW_RESOLUTION_EXTENT"]
