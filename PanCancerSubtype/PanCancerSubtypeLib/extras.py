"""Optional dependencies: which pip extra installs what, and the check a command makes first.

The base install (``pip install pancancer-subtype``) computes the 313 cross-modality features,
runs discovery by consensus clustering, the classifier and the survival statistics, and reads and
writes DICOM SEG.  The rest comes with an extra (``pip install "pancancer-subtype[deep]"``):

==========  ======================================  ===================================================
extra       installs                                needed by
==========  ======================================  ===================================================
radiomics   PyRadiomics                             the ``radiomics`` feature group
deep        torch, MONAI, safetensors               U-Net segmentation, the autoencoder, deep features
dask        dask[distributed]                       ``cohort-features --scheduler``
slicer      slicer-core, vtk                        the Slicer layer's MRML tests outside Slicer
all         all four above
==========  ======================================  ===================================================

:func:`require` raises :class:`~.errors.MissingDependencyError` (the command line prints its one
line and exits with 2) naming the extra that installs what is missing.
"""
from __future__ import annotations

import importlib.util
from typing import Dict, List, Tuple

#: extra -> the top-level modules it provides
EXTRAS: Dict[str, Tuple[str, ...]] = {
    "radiomics": ("radiomics",),
    "deep": ("torch", "monai", "safetensors"),
    "dask": ("dask", "distributed"),
    "slicer": ("slicer", "vtk"),
}

#: how to install an extra whose package does not build with pip's default build isolation
_INSTALL_NOTES = {
    "radiomics": ("pip install -U \"setuptools>=77\" numpy wheel versioneer && pip install "
                  "--no-build-isolation \"pancancer-subtype[radiomics]\" (PyRadiomics 3.0.1 "
                  "builds only without build isolation)"),
    "deep": ("pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu && "
             "pip install \"pancancer-subtype[deep]\" (the CPU build of torch first: a plain "
             "install pulls its CUDA build, gigabytes)"),
}


def install_command(extra: str) -> str:
    """The one-line instruction that installs ``extra``."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; known: {sorted(EXTRAS)}")
    return _INSTALL_NOTES.get(extra, f"pip install \"pancancer-subtype[{extra}]\"")


def module_available(name: str) -> bool:
    """True when the top-level module ``name`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a broken or blocked (sys.modules[name] = None) module
        return False


def missing_modules(extra: str) -> List[str]:
    """The modules of ``extra`` that are not installed."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; known: {sorted(EXTRAS)}")
    return [m for m in EXTRAS[extra] if not module_available(m)]


def require(extra: str, what: str) -> None:
    """Raise :class:`~.errors.MissingDependencyError` when a module of ``extra`` is missing.

    ``what`` names the command or option that needs it (``"segment --model"``).
    """
    missing = missing_modules(extra)
    if missing:
        from .errors import MissingDependencyError

        raise MissingDependencyError(
            f"{what} needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
            f"not installed; install the '{extra}' extra: {install_command(extra)}", extra=extra)
