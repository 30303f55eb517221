"""``pancancer-subtype shape-reconstruct``: SPHARM reconstructions of a tumour at chosen degrees.

Writes one mesh per degree (like Extended Data Fig. 1 of Wu et al. 2021: degree 1 = the
first-order ellipsoid, 5, 15), the parameterised input surface, and a JSON file with the SPHARM
coefficients (real and complex conventions), the 293 descriptors and the diagnostics.  Meshes are
in physical LPS millimetres, so they overlay the image in 3D Slicer.
"""
from __future__ import annotations

import os
import sys


def register(sub):
    p = sub.add_parser(
        "shape-reconstruct",
        help="SPHARM decomposition of a tumour mask: meshes reconstructed at chosen degrees "
             "(.obj/.ply/.stl) and a JSON of coefficients and shape descriptors")
    p.add_argument("--mask", required=True, help="tumour mask / label map (NRRD, NIfTI, ...)")
    p.add_argument("--label", default=None,
                   help="label value(s) forming the tumour, e.g. 1 or 1,3,4 (default: nonzero)")
    p.add_argument("--degrees", default="1,5,15",
                   help="comma-separated reconstruction degrees (default 1,5,15)")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--mode", default="robust", choices=["robust", "reference"],
                   help="parameterisation: robust (fast, stable; default) or reference "
                        "(SPHARM-MAT-like CALD, slow)")
    p.add_argument("--max-degree", type=int, default=15, help="expansion degree (default 15)")
    p.add_argument("--format", default="obj", choices=["obj", "ply", "stl"],
                   help="mesh file format (default obj)")
    p.add_argument("--subdiv", type=int, default=4,
                   help="icosphere subdivisions of the reconstruction (4: 2,562 vertices)")
    p.add_argument("--id", default=None, help="case ID used in file names and messages")
    p.set_defaults(func=run)


def _read_mask(path, label):
    import numpy as np
    import SimpleITK as sitk

    from ..errors import LabelNotFoundError, UnreadableFileError

    if not os.path.exists(path):
        raise UnreadableFileError("file not found", source=path)
    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise UnreadableFileError(f"cannot read image ({str(exc).strip().splitlines()[-1]})",
                                  source=path) from None
    arr = sitk.GetArrayFromImage(img)
    if label is None or str(label).strip() == "":
        sel = arr != 0
    else:
        labels = [float(x) for x in str(label).split(",") if x.strip()]
        sel = np.isin(arr, labels)
        if not sel.any():
            present = [v.item() for v in np.unique(arr)[:20]]
            raise LabelNotFoundError(labels, present, source=path)
    return sel, img


def run(args):
    from ..files import write_json
    from ..shape import (low_resolution_note, reconstruct, shape_descriptors, spharm_decompose,
                         write_mesh)

    try:
        degrees = sorted({int(d) for d in str(args.degrees).split(",") if d.strip()})
    except ValueError:
        print(f"error: --degrees must be integers, got {args.degrees!r}", file=sys.stderr)
        return 2
    if not degrees or min(degrees) < 0 or max(degrees) > args.max_degree:
        print(f"error: degrees must lie in 0..{args.max_degree}", file=sys.stderr)
        return 2
    case_id = args.id or os.path.basename(str(args.mask)).split(".")[0]
    sel, img = _read_mask(args.mask, args.label)
    res = spharm_decompose(sel, img.GetSpacing(), mode=args.mode, max_degree=args.max_degree,
                           origin=img.GetOrigin(), direction=img.GetDirection(), source=case_id)
    os.makedirs(args.out, exist_ok=True)
    written = []
    for d in degrees:
        v, f = reconstruct(res, d, n_subdiv=args.subdiv)
        written.append(write_mesh(os.path.join(args.out, f"{case_id}_degree{d}.{args.format}"),
                                  v, f))
    written.append(write_mesh(os.path.join(args.out, f"{case_id}_surface.{args.format}"),
                              res.vertices, res.faces))
    doc = res.to_dict()
    doc.update(case_id=case_id, mask=str(args.mask), label=args.label,
               descriptors=shape_descriptors(res),
               meshes=[os.path.basename(p) for p in written], coordinate_system="LPS (mm)")
    jpath = os.path.join(args.out, f"{case_id}_spharm.json")
    write_json(jpath, doc)
    dg = res.diagnostics
    print(f"{case_id}: mode {res.mode}, {dg['n_vertices']} surface vertices, parameterisation "
          f"{dg['param_method']} (bijective: {dg['bijective']}), topology fixed: "
          f"{dg['topology_fixed']}; FOE semi-axes "
          + ", ".join(f"{x:.1f}" for x in res.foe_semi_axes_mm) + " mm")
    for p in written + [jpath]:
        print(f"  wrote {p}")
    note = low_resolution_note([(case_id, dg)])
    if note:
        print(f"note: {note}", file=sys.stderr)
    return 0
