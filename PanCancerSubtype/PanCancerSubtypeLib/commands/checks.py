"""Checks of command-line options, shared by the sub-commands; all run before any heavy work.

A bad option value raises :class:`~PanCancerSubtypeLib.errors.UsageError` naming the option (exit
code 2); a missing input file raises :class:`~PanCancerSubtypeLib.errors.UnreadableFileError`
naming the file (exit code 1).  The ``*_int`` / ``*_float`` functions are argparse ``type=``
callables (argparse prints their message and exits with 2).
"""
from __future__ import annotations

import argparse
import math
import os
import re
from typing import List, Optional

from ..errors import UnreadableFileError, UsageError


def _whole_number(text: str, lowest: int) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {lowest}, got {text!r}") \
            from None
    if v < lowest:
        raise argparse.ArgumentTypeError(f"must be >= {lowest}, got {v}")
    return v


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _whole_number(text, 1)


def at_least_two(text: str) -> int:
    """argparse type: an integer >= 2 (folds, groups)."""
    return _whole_number(text, 2)


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _whole_number(text, 0)


def _number(text: str, expected: str) -> float:
    """``text`` as a float; else an argparse error "expected <expected>, got 'text'"."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    v = _number(text, "a number > 0")
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return v


def unit_interval(text: str) -> float:
    """argparse type: a number in [0, 1]."""
    v = _number(text, "a number from 0 to 1")
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(f"must lie between 0 and 1, got {text}")
    return v


def zero_or_at_least_two(text: str) -> int:
    """argparse type: 0 (off) or a whole number >= 2 (cross-validation folds)."""
    v = _whole_number(text, 0)
    if v == 1:
        raise argparse.ArgumentTypeError("must be 0 (none) or at least 2, got 1")
    return v


def fraction(text: str) -> float:
    """argparse type: a number in (0, 1)."""
    v = _number(text, "a number between 0 and 1")
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {text}")
    return v


def names(text: Optional[str]) -> List[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]`` (``None`` / empty -> ``[]``): a comma-separated
    option value."""
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def floats(text: Optional[str], option: str, n: Optional[int] = None) -> Optional[List[float]]:
    """``"1,2.5,3"`` -> ``[1.0, 2.5, 3.0]`` (``None`` / empty -> ``None``); exactly ``n`` values
    when ``n`` is given; non-finite values are refused."""
    if text is None or str(text).strip() == "":
        return None
    parts = names(str(text))
    try:
        vals = [float(p) for p in parts]
    except ValueError:
        raise UsageError(f"expected comma-separated numbers, got {text!r}", source=option) \
            from None
    if not all(math.isfinite(v) for v in vals):
        raise UsageError(f"expected finite numbers, got {text!r}", source=option)
    if n is not None and len(vals) != n:
        raise UsageError(f"expected {n} comma-separated numbers, got {text!r}", source=option)
    return vals


def input_file(path: str, option: str) -> str:
    """``path`` must be an existing file."""
    if not os.path.exists(path):
        raise UnreadableFileError(f"file not found (given as {option})", source=path)
    if not os.path.isfile(path):
        raise UnreadableFileError(f"is not a file (given as {option})", source=path)
    return path


_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def file_name_part(text: str, option: str) -> str:
    """``text`` is used inside file names: letters, digits and ``._+-`` only, not starting with
    a dot (no folder separators, no ``..``), so it cannot write outside the output folder."""
    if not _SAFE_NAME.match(text or "") or ".." in text:
        raise UsageError(f"{text!r} cannot be used in file names: use letters, digits and . _ + - "
                         f"only (no folder separators or '..')", source=option)
    return text


def mask_output(path: str, option: str, image: Optional[str] = None):
    """Check an output mask / label-map path before any work: an image format the package writes
    (``io.IMAGE_WRITE_EXTENSIONS``) or a DICOM SEG (``.dcm``), which references the DICOM series
    it was drawn on, so ``image`` (``--image``) must then be a series folder."""
    from ..dicomseg import is_dicom_seg_path
    from ..files import check_output_path
    from ..io import check_image_output

    if not is_dicom_seg_path(path):
        return check_image_output(path, option)
    if image is not None and not os.path.isdir(image):
        raise UsageError(f"a DICOM SEG (.dcm) references the DICOM series it was drawn on; give "
                         f"that series folder as --image (got the file {image})", source=option)
    out = check_output_path(path, option, extensions=(".dcm",))
    if image is not None:
        from ..dicomseg import check_seg_source

        check_seg_source(image)
    return out


def columns_present(table, columns, option: str, source: str) -> None:
    """Every name of ``columns`` is a column of ``table`` (read from ``source``); otherwise a
    :class:`~PanCancerSubtypeLib.errors.UsageError` naming ``option`` and the missing names."""
    missing = [c for c in columns if c and c not in table.columns]
    if missing:
        shown = ", ".join(repr(c) for c in missing[:5])
        raise UsageError(f"column(s) {shown} not in {source} (its columns: "
                         f"{', '.join(map(str, list(table.columns)[:12]))}"
                         f"{', ...' if len(table.columns) > 12 else ''})", source=option)
