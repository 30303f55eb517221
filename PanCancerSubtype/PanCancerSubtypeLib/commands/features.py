"""``pancancer-subtype features``: all feature groups for one case."""
from __future__ import annotations

import inspect
import json
import logging
import os
import sys
from typing import Any, Dict, List, Optional

from ..errors import PanCancerSubtypeError, UsageError
from ..io import LABEL_RULE
from .checks import input_file, positive_float


def add_feature_options(p, groups_default: str = "all") -> None:
    """Options shared by ``features``, ``cohort-features`` and ``agreement``."""
    p.add_argument("--groups", default=groups_default,
                   help="feature groups, comma separated: shape, regional, radiomics, "
                        "peritumoural (PyRadiomics on a ring around the tumour), deep (needs "
                        "--deep-model); 'cross' = shape,regional (the paper's 313); 'all' = "
                        "shape, regional, radiomics, those installed (radiomics needs the "
                        "'radiomics' extra; a group left out is named on stderr) (default: "
                        f"{groups_default})")
    p.add_argument("--radiomics-params", metavar="FILE",
                   help="PyRadiomics parameter file (YAML or JSON), as for pyradiomics itself")
    p.add_argument("--shape-mode", choices=["robust", "reference"], default=None,
                   help="SPHARM parameterisation: robust (default, fast, stable) or reference "
                        "(faithful to the published SPHARM-MAT/CALD pipeline, slow)")
    p.add_argument("--shape-interpolation", choices=["linear", "shape"], default=None,
                   help="robust SPHARM mode: how the mask reaches the isotropic mesh grid, linear "
                        "+ threshold (default) or shape-based (signed distance; removes the "
                        "terraces of thick slices)")
    p.add_argument("--regional-definition", choices=["reference", "3d", "cross-modality"],
                   default=None,
                   help="regional features: reference (released code, default), 3d (mm "
                        "distances in 3D) or cross-modality (tissue composition in fixed-width "
                        "bands; agrees between CT and MR)")
    p.add_argument("--peri-mm", type=positive_float, default=None, metavar="MM",
                   help="peritumoural group: width of the ring around the tumour (default 5 mm)")
    p.add_argument("--peri-in-organ", action="store_true",
                   help="peritumoural group: keep only the ring inside the organ mask (the "
                        "supplied one, else the automatic parenchyma)")
    p.add_argument("--deep-model", default=None, metavar="DIR",
                   help="deep group: encoder folder written by train-deep-encoder")
    p.add_argument("--set", action="append", default=[], metavar="GROUP.KEY=VALUE",
                   help="any other group option, e.g. --set shape.max_degree=10 (repeatable)")


def report_skipped_groups(skipped: Dict[str, str]) -> None:
    """One stderr line per group that ``--groups all`` left out (see ``features.parse_groups``)."""
    for name, why in skipped.items():
        print(f"note: --groups all: skipped {why}", file=sys.stderr)


def group_options_from_args(args) -> Dict[str, Dict[str, Any]]:
    opts: Dict[str, Dict[str, Any]] = {}
    if args.radiomics_params:
        opts.setdefault("radiomics", {})["params"] = args.radiomics_params
        opts.setdefault("peritumoural", {})["params"] = args.radiomics_params
    if getattr(args, "peri_mm", None) is not None:
        opts.setdefault("peritumoural", {})["width_mm"] = args.peri_mm
    if getattr(args, "peri_in_organ", False):
        opts.setdefault("peritumoural", {})["within_organ"] = True
    if getattr(args, "deep_model", None):
        if not os.path.isdir(args.deep_model):
            raise UsageError(f"{args.deep_model!r} is not a folder (an encoder folder written by "
                             "train-deep-encoder)", source="--deep-model")
        opts.setdefault("deep", {})["model"] = args.deep_model
    else:
        from ..features import parse_groups

        try:
            names = parse_groups(args.groups)
        except ValueError:  # an unknown group: build_groups names it
            names = []
        if "deep" in names:
            raise UsageError("--groups deep needs --deep-model DIR (a folder written by "
                             "train-deep-encoder)", source="--groups")
    if args.shape_mode:
        opts.setdefault("shape", {})["mode"] = args.shape_mode
    if getattr(args, "shape_interpolation", None):
        opts.setdefault("shape", {})["interpolation"] = args.shape_interpolation
    if args.regional_definition:
        opts.setdefault("regional", {})["definition"] = args.regional_definition
    for item in args.set:
        key, eq, value = item.partition("=")
        group, dot, name = key.strip().partition(".")
        if not group or not name or not dot or not eq:
            raise UsageError(f"expected GROUP.KEY=VALUE, got {item!r}", source="--set")
        try:
            val: Any = json.loads(value)
        except ValueError:
            val = value
        opts.setdefault(group, {})[name] = val
    return opts


def _check_option_value(group: str, name: str, value: Any, param) -> None:
    """A ``--set`` value must have the type of the option's default (numbers for numbers)."""
    default = param.default
    if default is inspect.Parameter.empty or default is None:
        return
    bad = False
    if isinstance(default, bool):
        bad = not isinstance(value, bool)
    elif isinstance(default, (int, float)):
        bad = isinstance(value, bool) or not isinstance(value, (int, float))
        if isinstance(default, int) and isinstance(value, float) and not value.is_integer():
            bad = True
    if bad:
        kind = "true or false" if isinstance(default, bool) else \
            ("a whole number" if isinstance(default, int) else "a number")
        raise UsageError(f"{group}.{name} expects {kind} (default {default!r}), got {value!r}",
                         source="--set")


def build_groups(groups, opts: Dict[str, Dict[str, Any]],
                 skipped: Optional[Dict[str, str]] = None) -> List[Any]:
    """The feature-group instances of ``--groups`` with their options, checked before any work:
    an unknown group, an unknown ``--set`` key or a value of the wrong type raises
    :class:`~PanCancerSubtypeLib.errors.UsageError` naming it (exit code 2).  The groups that
    ``all`` leaves out (not installed) are added to ``skipped`` as ``{name: why}``."""
    from ..features import make_groups, parse_groups
    from ..registry import GROUPS, get_group_class

    try:
        names = parse_groups(groups, skipped=skipped)
    except ValueError as exc:
        raise UsageError(str(exc), source="--groups") from None
    for group, values in opts.items():
        if group not in GROUPS:
            raise UsageError(f"unknown feature group {group!r} in an option; known: "
                             f"{sorted(GROUPS)}", source="--set")
        if group not in names:
            continue
        params = inspect.signature(get_group_class(group).__init__).parameters
        free = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        known = [k for k, p in params.items() if k != "self" and p.kind not in (
            inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]
        for name, value in values.items():
            if name in params and name in known:
                _check_option_value(group, name, value, params[name])
            elif not free:
                raise UsageError(f"unknown option {group}.{name}; the options of {group!r} are "
                                 f"{', '.join(known)}", source="--set")
    quiet = logging.getLogger("pykwalify")  # PyRadiomics' schema check logs what we report
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        insts = make_groups(names, opts)
        for g in insts:  # lazy initialisation (e.g. PyRadiomics' parameter check) happens here
            g.specs()
    except PanCancerSubtypeError:
        raise
    except ImportError:
        raise
    except Exception as exc:  # a group refusing its options (ValueError, schema errors...)
        text = " ".join(str(exc).split())
        raise UsageError(f"feature-group options rejected: {type(exc).__name__}: {text}",
                         source="--set / --groups") from None
    finally:
        quiet.setLevel(level)
    return insts


def register(sub):
    p = sub.add_parser("features", help="compute features for one case (one CSV row)",
                       description="Compute the cross-modality features (SPHARM shape, regional "
                                   "variation) and PyRadiomics features of one tumour.")
    p.add_argument("--image", required=True, help="image file or DICOM series folder")
    p.add_argument("--mask", required=True,
                   help="tumour mask: label image, Slicer .seg.nrrd, or DICOM RTSTRUCT file")
    p.add_argument("--label", default=None,
                   help=f"label value(s) '1' or '1,3,4', or a segment / ROI name ({LABEL_RULE})")
    p.add_argument("--organ-mask", default=None, help="parenchyma mask (lung, breast, brain)")
    p.add_argument("--organ-label", default=None, help="label of the parenchyma in --organ-mask")
    p.add_argument("--modality", choices=["CT", "MR"], default=None,
                   help="imaging modality (guessed from the image when omitted)")
    p.add_argument("--organ", default=None,
                   help="lung, breast, brain or soft-tissue (alias body: any other tumour) for the "
                        "automatic parenchyma")
    p.add_argument("--cancer-type", default=None)
    p.add_argument("--id", default=None, help="case ID (default: image file name)")
    add_feature_options(p)
    p.add_argument("--out", required=True, help="output CSV (one row)")
    p.set_defaults(func=run)


def run(args) -> int:
    import pandas as pd

    from .. import __version__
    from ..features import extract_features
    from ..files import atomic_write_text, check_output_path, json_default, sha256_file
    from ..io import load_case
    from ..tables import pop_timings

    # every check before any work
    out = check_output_path(args.out, "--out")
    if args.radiomics_params:
        input_file(args.radiomics_params, "--radiomics-params")
    skipped: Dict[str, str] = {}
    opts = group_options_from_args(args)
    groups = build_groups(args.groups, opts, skipped=skipped)
    report_skipped_groups(skipped)
    label = args.label
    if label is None:
        from ..radiomics import group_options_label

        label = group_options_label(opts)
        if label is not None:
            print(f"label: {label} (the 'label' setting of {args.radiomics_params})",
                  file=sys.stderr)
    case = load_case(args.image, args.mask, label=label, organ_mask=args.organ_mask,
                     organ_label=args.organ_label, modality=args.modality, organ=args.organ,
                     cancer_type=args.cancer_type, case_id=args.id)
    if case.meta.get("modality_guessed"):   # it sets the regional histogram range and more
        print(f"modality: {case.modality} (guessed from the image, as `segment` does; give "
              f"--modality to override)", file=sys.stderr)
    row = extract_features(case, instances=groups, on_error="record")
    timings = pop_timings(row)
    df = pd.DataFrame([row])
    atomic_write_text(out, df.to_csv(index=False))
    prov = {"tool": "pancancer-subtype", "version": __version__, "command": " ".join(sys.argv),
            "parameters": {"groups": [g.name for g in groups], "skipped_groups": skipped,
                           "group_options": {g.name: g.options() for g in groups}},
            "inputs": {"image": args.image, "image_sha256": sha256_file(args.image),
                       "mask": args.mask, "mask_sha256": sha256_file(args.mask),
                       "organ_mask": args.organ_mask,
                       "organ_mask_sha256": sha256_file(args.organ_mask) if args.organ_mask
                       else None},
            "timings_s": timings, "modality": case.modality, **case.meta}
    atomic_write_text(out.with_name(out.name + ".provenance.json"),
                       json.dumps(prov, indent=1, default=json_default))
    n_feat = sum(len(g.specs()) for g in groups)
    names = [sp.name for g in groups for sp in g.specs()]
    n_done = sum(1 for nm in names if row.get(nm) is not None and row.get(nm) == row.get(nm))
    print(f"{case.case_id}: {n_feat} features -> {out}" if n_done == n_feat else
          f"{case.case_id}: {n_done} of {n_feat} features -> {out} (the row is written with "
          f"its error, as a cohort's)", file=sys.stderr)
    from ..shape import low_resolution_note

    note = low_resolution_note([(case.case_id, row)])
    if note:
        print(f"note: {note}", file=sys.stderr)
    if row.get("error"):
        print(f"error: {row['error']}", file=sys.stderr)
        return 1
    return 0
