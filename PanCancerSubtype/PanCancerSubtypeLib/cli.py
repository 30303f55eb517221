"""``pancancer-subtype`` command line."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import List, Optional

from . import __version__
from .errors import PanCancerSubtypeError

#: modules under ``commands/`` that register sub-commands, in --help order
COMMAND_MODULES: List[str] = [
    "demo",
    "features",
    "cohort",
    "registry",
    "segmentation",
    "regions",
    "shape",
    "discover",
    "classifier",
    "survival",
    "association",
    "survival_eval",
    "roisignature",
    "deep",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pancancer-subtype",
        description="Cross-modality tumour imaging subtypes (Wu et al., Nat Mach Intell 2021): "
                    "segmentation, SPHARM shape and regional-variation features, subtype "
                    "discovery, classification and survival statistics.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"{__package__}.commands.{name}")
        except ImportError as exc:  # pragma: no cover - a broken optional command
            logging.getLogger(__name__).debug("command module %s unavailable: %s", name, exc)
            continue
        mod.register(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        rc = args.func(args)
    except PanCancerSubtypeError as exc:
        if args.verbose >= 2:
            raise
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:  # bad arguments / files reported by other libraries
        if args.verbose >= 2:
            raise
        print(f"error: {type(exc).__name__}: {exc}\n(run with -vv for the traceback)",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
