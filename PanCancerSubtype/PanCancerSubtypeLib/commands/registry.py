"""``pancancer-subtype registry``: print the feature registry."""
from __future__ import annotations

import sys


def register(sub):
    p = sub.add_parser("registry", help="print the feature registry (name, group, description, "
                                        "formula, unit, invariances) as CSV")
    p.add_argument("--group", default=None, help="only this feature group")
    p.add_argument("--out", default="-", help="CSV file (default: standard output)")
    p.set_defaults(func=run)


def run(args):
    from .. import registry
    from ..errors import UsageError
    from ..files import atomic_write_text, check_output_path

    if args.out != "-":
        check_output_path(args.out, "--out")
    if args.group is not None and args.group not in registry.GROUPS:
        raise UsageError(f"unknown feature group {args.group!r}; known: {sorted(registry.GROUPS)}",
                         source="--group")
    df = registry.to_frame(args.group)
    if args.group is None:      # the groups left out, and the extra that installs each
        for status in registry.group_status().values():
            if status != "available":
                print(f"note: left out: {status}", file=sys.stderr)
    if args.out == "-":
        try:
            df.to_csv(sys.stdout, index=False)
        except BrokenPipeError:  # e.g. `pancancer-subtype registry | head`
            sys.stderr.close()
    else:
        atomic_write_text(args.out, df.to_csv(index=False))
    return 0
