"""Sub-commands of the ``pancancer-subtype`` command line.

Each module here defines ``register(subparsers)`` which adds its sub-command(s) with
``set_defaults(func=...)``.  Keep module top levels light: import heavy libraries inside the
command function, so that ``pancancer-subtype --help`` stays fast.
"""
