"""``pancancer-subtype`` command line.

Every command follows one exit-code table (:mod:`.errors`): 0 done; 1 failed (bad input data, or
some case of a cohort failed); 2 usage error (a bad option or value, or a missing optional
dependency); 130 interrupted.  Errors are printed as one line, ``error: <Kind>: <file, case or
option>: <problem>``; ``-vv`` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import List, Optional

from . import __version__
from .errors import (EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, PanCancerSubtypeError,
                     exit_code)

#: modules under ``commands/`` that register sub-commands, in --help order
COMMAND_MODULES: List[str] = [
    "demo",
    "features",
    "cohort",
    "agreement",
    "registry",
    "segmentation",
    "regions",
    "shape",
    "discover",
    "classifier",
    "survival",
]

EXIT_CODES_HELP = """\
exit codes (every command):
  0    done
  1    failed: bad input data (the message names the file or case), or some case of a
       cohort failed (see its 'error' column)
  2    usage error: a bad option or option value, or a missing optional dependency
  130  interrupted
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pancancer-subtype",
        description="Cross-modality tumour imaging subtypes (Wu et al., Nat Mach Intell 2021): "
                    "segmentation, SPHARM shape and regional-variation features, subtype "
                    "discovery, classification and survival statistics.",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debug and tracebacks)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"{__package__}.commands.{name}")
        except ImportError as exc:  # pragma: no cover - a broken optional command
            logging.getLogger(__name__).debug("command module %s unavailable: %s", name, exc)
            continue
        mod.register(sub)
    for p in sub.choices.values():  # the same table at the end of every command's --help
        if p.epilog is None:
            p.epilog = EXIT_CODES_HELP
            p.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 2000 else text[:2000] + " ..."


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse exits with 2 on a bad option
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        rc = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except PanCancerSubtypeError as exc:
        if args.verbose >= 2:
            raise
        print(f"error: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return exit_code(exc)
    except ImportError as exc:  # an optional dependency that is not installed
        if args.verbose >= 2:
            raise
        print(f"error: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, OSError) as exc:  # bad arguments / files reported by other libraries
        if args.verbose >= 2:
            raise
        print(f"error: {type(exc).__name__}: {_one_line(exc)} (run with -vv for the traceback)",
              file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # a bug: one line, and how to see the traceback
        if args.verbose >= 2:
            raise
        print(f"error: internal error {type(exc).__name__}: {_one_line(exc)} (please report it; "
              f"run with -vv for the traceback)", file=sys.stderr)
        return EXIT_FAILED
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
