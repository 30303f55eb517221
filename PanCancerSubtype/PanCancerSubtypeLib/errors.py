"""Errors raised by PanCancerSubtype.

Every error that comes from bad input names the case or file it concerns and the problem, so that
a cohort run can record it in its ``error`` column and carry on.  All inherit from
:class:`PanCancerSubtypeError`; catch that to handle any of them.

========================  ==========================================================================
Error                     Raised when
========================  ==========================================================================
UnreadableFileError       a file or DICOM folder is missing or cannot be read as an image
EmptyMaskError            a mask has no foreground voxel
LabelNotFoundError        a mask holds none of the requested label values / the named segment or ROI
GeometryMismatchError     mask and image grids differ and cannot be reconciled (no physical overlap)
ImageDimensionError       an image is not 3D (2D images, 4D series)
InvalidImageValuesError   an image contains NaN or infinite values
TumourTooSmallError       a tumour is too small or too thin for a feature group
ManifestError             a cohort manifest is malformed (missing columns, duplicate IDs)
ModelBundleError          a saved model directory is incomplete, tampered with, or does not match
FeatureMismatchError      a feature table lacks (or adds) the columns a fitted model expects
FeatureValueError         a feature column holds values that are not numbers
LabelTableError           a labels table is malformed (no ID / label column, duplicate IDs)
SurvivalDataError         a survival table is unusable (missing column, negative time, bad event
                          codes, a group with one member, no events)
InvalidGeometryError      an image's grid is unusable (non-orthonormal direction matrix, zero or
                          negative spacing)
TrainingDivergedError     a network's training loss became NaN or infinite (learning rate too
                          high, unscaled features)
UsageError                a command-line option (or argument) has a value that cannot be used
MissingDependencyError    an optional dependency (a pip extra, see ``extras.py``) is not installed;
                          the message names the extra (the command line exits with 2)
========================  ==========================================================================

Exit codes of the command line
------------------------------
One table for every ``pancancer-subtype`` command (:func:`exit_code` maps an error to its code):

====  ==========================================================================================
code  meaning
====  ==========================================================================================
0     done
1     failed: bad input data (any other error of this module), or some case of a cohort failed
2     usage: a bad option or option value (:class:`UsageError`, argparse's own errors), or a
      missing optional dependency (:class:`MissingDependencyError`, "install the extra X")
130   interrupted (Ctrl-C)
====  ==========================================================================================
"""
from __future__ import annotations

from typing import Iterable, Optional

#: exit codes of the command line (see the module docstring)
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class PanCancerSubtypeError(Exception):
    """Base class of all errors of the package.

    ``source`` is the file, folder or case the error concerns (may be ``None``).
    """

    def __init__(self, message: str, source: Optional[str] = None):
        self.source = None if source is None else str(source)
        text = message if source is None else f"{source}: {message}"
        super().__init__(text)


class UnreadableFileError(PanCancerSubtypeError, OSError):
    """A file is missing, or cannot be read as an image / segmentation."""


class EmptyMaskError(PanCancerSubtypeError, ValueError):
    """A mask (or the selected labels of it) has no foreground voxel."""


class LabelNotFoundError(PanCancerSubtypeError, ValueError):
    """None of the requested labels (or the named segment / ROI) is present."""

    def __init__(self, requested: Iterable, present: Iterable, source: Optional[str] = None,
                 what: str = "label", hint: str = "", head: Optional[str] = None):
        self.requested = list(requested)
        self.present = list(present)
        head = head or (f"none of the requested {what}s {self.requested} is present"
                        if self.requested else f"no {what} was chosen")
        super().__init__(f"{head} (present: {self.present})" + (f"; {hint}" if hint else ""),
                         source)


class GeometryMismatchError(PanCancerSubtypeError, ValueError):
    """Mask and image are on different grids that cannot be reconciled."""


class ImageDimensionError(PanCancerSubtypeError, ValueError):
    """The image is not a 3D scalar volume."""


class InvalidImageValuesError(PanCancerSubtypeError, ValueError):
    """The image holds NaN or infinite values."""


class TumourTooSmallError(PanCancerSubtypeError, ValueError):
    """The tumour is too small (or too thin) for a feature to be defined."""


class ManifestError(PanCancerSubtypeError, ValueError):
    """A cohort manifest is malformed."""


class ModelBundleError(PanCancerSubtypeError, ValueError):
    """A model directory is incomplete, corrupted (checksum) or incompatible."""


class FeatureValueError(PanCancerSubtypeError, ValueError):
    """A feature column holds values that are not numbers."""


class LabelTableError(ManifestError):
    """A labels table is malformed (no ID or label column, duplicate IDs, no usable rows)."""


class SurvivalDataError(PanCancerSubtypeError, ValueError):
    """A survival / clinical table is unusable (missing column, negative time, bad event codes,
    a group with one member, no events...)."""


class DependencyError(PanCancerSubtypeError, RuntimeError):
    """A Python package a step needs is missing and was not (or could not be) installed."""


class InvalidGeometryError(PanCancerSubtypeError, ValueError):
    """An image's voxel grid cannot be used as it is: a non-orthonormal (sheared or scaled)
    direction matrix, or a zero / negative / non-finite spacing."""


class TrainingDivergedError(PanCancerSubtypeError, RuntimeError):
    """A network's training loss became NaN or infinite; nothing is kept from that run."""


def raise_if_diverged(loss: float, epoch: int, what: str, source: Optional[str] = None) -> None:
    """Stop a training whose loss ``loss`` of epoch ``epoch`` is not finite (its weights would
    be NaN: a model of NaN codes or empty masks, saved without a word)."""
    import math

    if not math.isfinite(loss):
        raise TrainingDivergedError(
            f"{what} diverged at epoch {epoch} (loss {loss}): lower the learning rate, or "
            f"check the inputs' scale (standardise the features)", source=source)


class UsageError(PanCancerSubtypeError, ValueError):
    """An option has a value that cannot be used (the command line exits with code 2).

    ``source`` names the option, e.g. ``--workers``."""


class MissingDependencyError(PanCancerSubtypeError, ImportError):
    """An optional dependency is not installed; ``extra`` is the pip extra that installs it.

    Raised through :func:`PanCancerSubtypeLib.extras.require`; the command line prints the message
    (one line) and exits with status 2.
    """

    def __init__(self, message: str, source: Optional[str] = None, extra: Optional[str] = None):
        self.extra = extra
        super().__init__(message, source)


def exit_code(exc: BaseException) -> int:
    """The command line's exit code for an error (see the module docstring)."""
    if isinstance(exc, (UsageError, MissingDependencyError)):
        return EXIT_USAGE
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    return EXIT_FAILED


def raise_if_interrupted(exc: BaseException) -> None:
    """Re-raise a Ctrl-C that compiled code wrapped: numba turns a ``KeyboardInterrupt``
    arriving in a compiled function into a ``SystemError`` whose cause is the interrupt.  Code
    that records a case's failure and goes on calls this first, so that an interrupt stops the
    run (exit 130) instead of becoming that case's recorded failure."""
    seen = set()
    e: Optional[BaseException] = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            raise KeyboardInterrupt() from exc
        seen.add(id(e))
        e = e.__cause__ or e.__context__


class FeatureMismatchError(PanCancerSubtypeError, ValueError):
    """Input feature columns differ from those a model was fitted on."""

    def __init__(self, missing: Iterable[str], extra: Iterable[str], source: Optional[str] = None):
        self.missing = sorted(missing)
        self.extra = sorted(extra)
        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} column(s) missing: {_preview(self.missing)}")
        if self.extra:
            parts.append(f"{len(self.extra)} unexpected column(s): {_preview(self.extra)}")
        super().__init__("feature columns do not match the model; " + "; ".join(parts), source)


def _preview(names, n: int = 10) -> str:
    names = list(names)
    head = ", ".join(names[:n])
    return head + (f", ... (+{len(names) - n} more)" if len(names) > n else "")


def plain_number(v, digits: Optional[int] = None):
    """A number for a message: a Python int when whole (a float mask's label 1.0 prints as 1),
    else a Python float (not a NumPy scalar, which NumPy 2 prints as ``np.float64(...)`` inside
    a tuple or list); ``digits`` rounds first."""
    f = float(v)
    if digits is not None:
        f = round(f, digits)
    return int(f) if f.is_integer() else f


def format_numbers(values: Iterable, digits: Optional[int] = None) -> str:
    """A point, index, size or box for a message: ``(x, y, z)``, each number written by
    :func:`plain_number`."""
    return "(" + ", ".join(str(plain_number(v, digits)) for v in values) + ")"
