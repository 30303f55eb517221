"""``pancancer-subtype`` command line.

Every command follows one exit-code table (:mod:`.errors`): 0 done; 1 failed (bad input data, or
some case of a cohort failed); 2 usage error (a bad option or value, or a missing optional
dependency: the message names the pip extra that installs it, see :mod:`.extras`); 130
interrupted.  Errors are printed as one line, ``error: <Kind>: <file, case or option>:
<problem>``; ``-vv`` shows the traceback instead.  Every option's ``--help`` shows its default.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import List, Optional

from . import __version__
from .errors import (EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, MissingDependencyError,
                     PanCancerSubtypeError, exit_code)

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
    "association",
    "survival_eval",
    "roisignature",
    "deep",
]

EXIT_CODES_HELP = """\
exit codes (every command):
  0    done
  1    failed: bad input data (the message names the file or case), or some case of a
       cohort failed (see its 'error' column)
  2    usage error: a bad option or option value, or a missing optional dependency
  130  interrupted
"""


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Like ``argparse.ArgumentDefaultsHelpFormatter``: adds "(default: X)" to an option's help,
    unless the help already states its default, the default is None / False, or it is a flag."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if ("default" in text.lower() or default is None or default is False
                or default is argparse.SUPPRESS or default == [] or action.nargs == 0
                or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)"


class RawDefaultsHelpFormatter(DefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """:class:`DefaultsHelpFormatter` that keeps the description and epilog as written."""


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
    for p in sub.choices.values():
        if p.epilog is None:  # the same exit-code table at the end of every command's --help
            p.epilog = EXIT_CODES_HELP
            p.formatter_class = RawDefaultsHelpFormatter
        else:
            p.formatter_class = DefaultsHelpFormatter
        for action in p._actions:  # an option without help text still shows its default
            if (action.help is None and action.option_strings and action.nargs != 0
                    and action.default not in (None, False, [], argparse.SUPPRESS)):
                action.help = "(default: %(default)s)"
    return parser


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 2000 else text[:2000] + " ..."


def main(argv: Optional[List[str]] = None) -> int:
    try:   # a Ctrl-C while the commands are imported is an interrupt too, not a traceback
        parser = build_parser()
        args = parser.parse_args(argv)  # argparse exits with 2 on a bad option
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
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
    except MissingDependencyError as exc:  # an optional extra is not installed: one line, exit 2
        if args.verbose >= 2:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
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
