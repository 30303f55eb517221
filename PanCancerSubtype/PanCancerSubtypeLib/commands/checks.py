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


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {v}")
    return v


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return v


def fraction(text: str) -> float:
    """argparse type: a number in (0, 1)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") \
            from None
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {text}")
    return v


def floats(text: Optional[str], option: str, n: Optional[int] = None) -> Optional[List[float]]:
    """``"1,2.5,3"`` -> ``[1.0, 2.5, 3.0]`` (``None`` / empty -> ``None``); exactly ``n`` values
    when ``n`` is given; non-finite values are refused."""
    if text is None or str(text).strip() == "":
        return None
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
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
