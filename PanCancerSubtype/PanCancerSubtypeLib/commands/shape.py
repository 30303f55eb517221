"""``pancancer-subtype shape-reconstruct``: SPHARM reconstructions of a tumour at chosen degrees.

Writes one mesh per degree (like Extended Data Fig. 1 of Wu et al. 2021: degree 1 = the
first-order ellipsoid, 5, 15), the parameterised input surface, and a JSON file with the SPHARM
coefficients (real and complex conventions), the 293 descriptors and the diagnostics.  Meshes are
in physical LPS millimetres, so they overlay the image in 3D Slicer.
"""
from __future__ import annotations

import os
import re
import sys

from ..io import LABEL_RULE
from .checks import file_name_part, non_negative_int, positive_int


#: largest --subdiv (7: 163,842 vertices per mesh)
MAX_SUBDIV = 7


def register(sub):
    p = sub.add_parser(
        "shape-reconstruct",
        help="SPHARM decomposition of a tumour mask: meshes reconstructed at chosen degrees "
             "(.obj/.ply/.stl) and a JSON of coefficients and shape descriptors")
    p.add_argument("--mask", required=True, help="tumour mask / label map (NRRD, NIfTI, ...)")
    p.add_argument("--label", default=None,
                   help=f"label value(s) forming the tumour, e.g. 1 or 1,3,4, or a segment name "
                        f"({LABEL_RULE})")
    p.add_argument("--degrees", default="1,5,15",
                   help="comma-separated reconstruction degrees (default 1,5,15)")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--mode", default="robust", choices=["robust", "reference"],
                   help="parameterisation: robust (fast, stable; default) or reference "
                        "(SPHARM-MAT-like CALD, slow)")
    p.add_argument("--max-degree", type=positive_int, default=15,
                   help="expansion degree (default 15)")
    p.add_argument("--format", default="obj", choices=["obj", "ply", "stl"],
                   help="mesh file format (default obj)")
    p.add_argument("--subdiv", type=non_negative_int, default=4,
                   help="icosphere subdivisions of the reconstruction (4: 2,562 vertices; at most "
                        f"{MAX_SUBDIV})")
    p.add_argument("--id", default=None,
                   help="case ID used in file names and messages (letters, digits, . _ + -; "
                        "default: the mask file name)")
    p.set_defaults(func=run)


def _read_mask(path, label):
    """The tumour mask (uint8 0/1 on the file's grid) by the label rule of every command."""
    import SimpleITK as sitk

    from ..io import read_mask

    img = read_mask(path, label)
    return sitk.GetArrayFromImage(img).astype(bool), img


def run(args):
    from ..errors import UsageError
    from ..files import atomic_path, check_output_path, write_json
    from ..io import case_id_from_path
    from ..shape import (low_resolution_note, reconstruct, shape_descriptors, spharm_decompose,
                         write_mesh)

    # every check before any work
    try:
        degrees = sorted({int(d) for d in str(args.degrees).split(",") if d.strip()})
    except ValueError:
        raise UsageError(f"expected comma-separated whole numbers, got {args.degrees!r}",
                         source="--degrees") from None
    if not degrees or min(degrees) < 0 or max(degrees) > args.max_degree:
        raise UsageError(f"degrees must lie in 0..{args.max_degree} (--max-degree), got "
                         f"{args.degrees!r}", source="--degrees")
    if args.subdiv > MAX_SUBDIV:
        raise UsageError(f"at most {MAX_SUBDIV}, got {args.subdiv}", source="--subdiv")
    if args.id is not None:
        case_id = file_name_part(args.id, "--id")
    else:
        case_id = re.sub(r"[^A-Za-z0-9._+-]", "_", case_id_from_path(str(args.mask))).lstrip(".")
        case_id = file_name_part(case_id.replace("..", "_") or "mask", "--id")
    check_output_path(args.out, "--out", folder=True)
    sel, img = _read_mask(args.mask, args.label)
    res = spharm_decompose(sel, img.GetSpacing(), mode=args.mode, max_degree=args.max_degree,
                           origin=img.GetOrigin(), direction=img.GetDirection(), source=case_id)
    meshes = [(f"{case_id}_degree{d}.{args.format}", reconstruct(res, d, n_subdiv=args.subdiv))
              for d in degrees]
    meshes.append((f"{case_id}_surface.{args.format}", (res.vertices, res.faces)))
    written = []
    for name, (v, f) in meshes:  # each file appears whole or not at all
        path = os.path.join(args.out, name)
        with atomic_path(path) as tmp:
            write_mesh(str(tmp), v, f)
        written.append(path)
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
