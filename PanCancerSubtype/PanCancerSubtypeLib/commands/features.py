"""``pancancer-subtype features``: all feature groups for one case."""
from __future__ import annotations

import json
import sys
from typing import Any, Dict


def add_feature_options(p) -> None:
    """Options shared by ``features`` and ``cohort-features``."""
    p.add_argument("--groups", default="all",
                   help="feature groups, comma separated: shape, regional, radiomics, "
                        "peritumoural (PyRadiomics on a ring around the tumour), deep (needs "
                        "--deep-model); 'cross' = shape,regional (the paper's 313); 'all' "
                        "(default) = shape, regional, radiomics")
    p.add_argument("--radiomics-params", metavar="FILE",
                   help="PyRadiomics parameter file (YAML or JSON), as for pyradiomics itself")
    p.add_argument("--shape-mode", choices=["robust", "reference"], default=None,
                   help="SPHARM parameterisation: robust (default, fast, stable) or reference "
                        "(faithful to the published SPHARM-MAT/CALD pipeline, slow)")
    p.add_argument("--shape-interpolation", choices=["linear", "shape"], default=None,
                   help="robust SPHARM mode: how the mask reaches the isotropic mesh grid, linear "
                        "+ threshold (default) or shape-based (signed distance; removes the "
                        "terraces of thick slices)")
    p.add_argument("--regional-definition", choices=["reference", "3d"], default=None,
                   help="TC/TIM/PM regions: reference (released code, default) or 3d")
    p.add_argument("--peri-mm", type=float, default=None, metavar="MM",
                   help="peritumoural group: width of the ring around the tumour (default 5 mm)")
    p.add_argument("--peri-in-organ", action="store_true",
                   help="peritumoural group: keep only the ring inside the organ mask (the "
                        "supplied one, else the automatic parenchyma)")
    p.add_argument("--deep-model", default=None, metavar="DIR",
                   help="deep group: encoder folder written by train-deep-encoder")
    p.add_argument("--set", action="append", default=[], metavar="GROUP.KEY=VALUE",
                   help="any other group option, e.g. --set shape.max_degree=10 (repeatable)")


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
        opts.setdefault("deep", {})["model"] = args.deep_model
    else:
        from ..features import parse_groups

        if "deep" in parse_groups(args.groups):
            raise SystemExit("--groups deep needs --deep-model DIR (a folder written by "
                             "train-deep-encoder)")
    if args.shape_mode:
        opts.setdefault("shape", {})["mode"] = args.shape_mode
    if getattr(args, "shape_interpolation", None):
        opts.setdefault("shape", {})["interpolation"] = args.shape_interpolation
    if args.regional_definition:
        opts.setdefault("regional", {})["definition"] = args.regional_definition
    for item in args.set:
        key, _, value = item.partition("=")
        group, _, name = key.partition(".")
        if not group or not name or not _:
            raise SystemExit(f"--set expects GROUP.KEY=VALUE, got {item!r}")
        try:
            val: Any = json.loads(value)
        except ValueError:
            val = value
        opts.setdefault(group, {})[name] = val
    return opts


def register(sub):
    p = sub.add_parser("features", help="compute features for one case (one CSV row)",
                       description="Compute the cross-modality features (SPHARM shape, regional "
                                   "variation) and PyRadiomics features of one tumour.")
    p.add_argument("--image", required=True, help="image file or DICOM series folder")
    p.add_argument("--mask", required=True,
                   help="tumour mask: label image, Slicer .seg.nrrd, or DICOM RTSTRUCT file")
    p.add_argument("--label", default=None,
                   help="label value(s) '1' or '1,3,4', or a segment / ROI name (default: 1)")
    p.add_argument("--organ-mask", default=None, help="parenchyma mask (lung, breast, brain)")
    p.add_argument("--organ-label", default=None, help="label of the parenchyma in --organ-mask")
    p.add_argument("--modality", choices=["CT", "MR"], default=None,
                   help="imaging modality (guessed from the image when omitted)")
    p.add_argument("--organ", default=None, help="lung, breast or brain (parenchyma search)")
    p.add_argument("--cancer-type", default=None)
    p.add_argument("--id", default=None, help="case ID (default: image file name)")
    add_feature_options(p)
    p.add_argument("--out", required=True, help="output CSV (one row)")
    p.set_defaults(func=run)


def run(args) -> int:
    import pandas as pd

    from .. import __version__
    from ..files import atomic_write_text, json_default
    from ..features import extract_features, make_groups
    from ..files import sha256_file
    from ..io import load_case

    opts = group_options_from_args(args)
    case = load_case(args.image, args.mask, label=args.label, organ_mask=args.organ_mask,
                     organ_label=args.organ_label, modality=args.modality, organ=args.organ,
                     cancer_type=args.cancer_type, case_id=args.id)
    groups = make_groups(args.groups, opts)
    row = extract_features(case, instances=groups, on_error="record")
    timings = {k: row.pop(k) for k in [k for k in row if k.startswith("diag_time_")]}
    df = pd.DataFrame([row])
    from pathlib import Path

    out = Path(args.out)
    atomic_write_text(out, df.to_csv(index=False))
    prov = {"tool": "pancancer-subtype", "version": __version__, "command": " ".join(sys.argv),
            "parameters": {"groups": [g.name for g in groups],
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
    print(f"{case.case_id}: {n_feat} features -> {out}", file=sys.stderr)
    from ..shape import low_resolution_note

    note = low_resolution_note([(case.case_id, row)])
    if note:
        print(f"note: {note}", file=sys.stderr)
    if row.get("error"):
        print(f"error: {row['error']}", file=sys.stderr)
        return 1
    return 0
