"""SPHARM shape descriptors: 293 features per tumour (Wu et al., Nat Mach Intell 2021)."""
from .decomposition import (DEFAULT_MAX_DEGREE, INTERPOLATIONS, LOW_RESOLUTION_EXTENT, MODES,
                            ShapeFeatures, SpharmResult, low_resolution_note, reconstruct,
                            shape_descriptors, shape_feature_names, spharm_decompose, write_mesh)

__all__ = ["SpharmResult", "spharm_decompose", "shape_descriptors", "reconstruct", "write_mesh",
           "ShapeFeatures", "shape_feature_names", "low_resolution_note", "MODES",
           "INTERPOLATIONS", "DEFAULT_MAX_DEGREE", "LOW_RESOLUTION_EXTENT"]
