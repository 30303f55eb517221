"""``pancancer-subtype regions``: write the TC / TIM / PM5 / PM10 regions as a label map.

Label values: 1 = TC, 2 = TIM, 3 = PM5 ring (outside the tumour), 4 = PM10 ring (between 5 and
10 mm).  In the ``reference`` definition PM5 is labels {1, 2, 3} and PM10 {1, 2, 3, 4} (the released
code's margins contain the tumour); in ``3d`` PM5 is {3} and PM10 {3, 4}; in ``cross-modality``
PM5 is {3} and PM10 {4}.  A ``.seg.nrrd`` output
gets Slicer segment metadata (names, colours) so that Slicer shows four named segments.
"""
from __future__ import annotations

import json
import sys

from ..io import LABEL_RULE

SEGMENTS = (  # label, name, colour (RGB 0-1)
    (1, "TC (tumour core)", (0.85, 0.2, 0.2)),
    (2, "TIM (tumour invasive margin)", (0.95, 0.65, 0.1)),
    (3, "PM5 ring (0-5 mm)", (0.2, 0.6, 0.95)),
    (4, "PM10 ring (5-10 mm)", (0.3, 0.85, 0.4)),
)


def register(sub):
    p = sub.add_parser("regions", help="tumour core / invasive margin / parenchymal margins "
                                       "(TC, TIM, PM5, PM10) as a label map, and the parenchyma mask")
    p.add_argument("--image", required=True, help="image file (NRRD, NIfTI, ...)")
    p.add_argument("--mask", required=True, help="tumour mask file")
    p.add_argument("--label", default=None, help=f"tumour label value(s), e.g. 1 or 1,3,4, or a "
                                                 f"segment / ROI name ({LABEL_RULE})")
    p.add_argument("--organ-mask", default=None, help="parenchyma (organ) mask; found "
                                                      "automatically when absent")
    p.add_argument("--modality", choices=["CT", "MR"], default=None,
                   help="default: CT when the image holds values below -500, else MR")
    p.add_argument("--organ", choices=["lung", "brain", "breast", "soft-tissue", "body"],
                   default=None,
                   help="organ for the automatic parenchyma mask (default: lung for CT); "
                        "soft-tissue (alias body) = the tissue around any other tumour")
    p.add_argument("--definition", choices=["reference", "3d", "cross-modality"],
                   default="reference",
                   help="reference = the authors' released code (default); 3d = mm distances in 3D, "
                        "rings outside the tumour; cross-modality = 5 mm bands (TIM = outer 5 mm, "
                        "PM10 = the 5-10 mm shell)")
    p.add_argument("--parenchyma", choices=["auto", "supplied", "automatic", "none"],
                   default="auto", help="parenchyma source (default: the organ mask if given)")
    p.add_argument("--out", required=True,
                   help="label map file (.nrrd, .nii.gz, .nii, .mha, .seg.nrrd), or a DICOM SEG "
                        "(.dcm: one segment per region, referencing the series; --image must be "
                        "its folder)")
    p.add_argument("--parenchyma-out", default=None, help="also write the parenchyma mask here")
    p.set_defaults(func=run)


def _read_case(args):
    from ..io import load_case

    return load_case(args.image, args.mask, label=args.label, organ_mask=args.organ_mask,
                     modality=args.modality, case_id=args.image)


def run(args):
    import numpy as np

    from ..io import check_image_output, write_image
    from ..regions import case_regions
    from .checks import mask_output

    # every check before any work
    mask_output(args.out, "--out", args.image)
    if args.parenchyma_out:
        check_image_output(args.parenchyma_out, "--parenchyma-out")
    case = _read_case(args)
    if args.modality:
        case.modality = args.modality
    if not case.modality:
        case.modality = "CT" if float(np.min(case.image_array())) < -500 else "MR"
    if args.organ:
        case.organ = args.organ
    res = case_regions(case, definition=args.definition, parenchyma=args.parenchyma)
    lab = res["labelmap"]
    from ..dicomseg import is_dicom_seg_path

    if is_dicom_seg_path(args.out):
        _write_dicom_seg(lab, args)
    else:
        if str(args.out).endswith(".seg.nrrd"):     # the regions' names and colours
            from ..io import add_seg_nrrd_metadata

            add_seg_nrrd_metadata(lab, SEGMENTS)
        write_image(lab, args.out)
    if args.parenchyma_out:
        write_image(res["parenchyma"], args.parenchyma_out)
    summary = {"parenchyma": res["parenchyma_method"], "definition": args.definition,
               "modality": case.modality, "voxels": res["voxels"]}
    print(json.dumps(summary), file=sys.stdout)
    return 0


def _write_dicom_seg(lab, args) -> None:
    """The regions as a DICOM SEG: one segment per region present (TC and TIM as neoplasm,
    the parenchymal rings as tissue)."""
    import numpy as np
    import SimpleITK as sitk

    from ..dicomseg import (TISSUE_CATEGORY, TISSUE_TYPE, SegmentSpec, series_folder,
                            write_dicom_seg)

    present = set(int(v) for v in np.unique(sitk.GetArrayViewFromImage(lab)))
    specs = []
    for value, name, rgb in SEGMENTS:
        if value not in present:
            continue
        kw = {} if value <= 2 else {"category": TISSUE_CATEGORY, "type": TISSUE_TYPE}
        specs.append(SegmentSpec(value, name, rgb=rgb, **kw))
    write_dicom_seg(lab, series_folder(args.image, args.out), args.out, segments=specs,
                    algorithm_type="AUTOMATIC", algorithm_name="PanCancerSubtype regions",
                    series_description=f"Tumour regions ({args.definition})")
