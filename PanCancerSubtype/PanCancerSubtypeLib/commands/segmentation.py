"""Segmentation sub-commands: ``train-segmenter``, ``segment``, ``evaluate-segmentation``."""
from __future__ import annotations

import json
import logging
import sys

from .checks import fraction, positive_float, positive_int

log = logging.getLogger(__name__)

#: semi-automatic methods of ``segment --method`` (as ``segmentation.semiauto.METHODS``)
METHODS = ("click", "region_growing")
#: ``segmentation.click.MODELS`` (not imported here: the parser stays light; a test checks them)
APPEARANCE_MODELS = ("auto", "lung", "bright", "generic")


def _floats(text: str, n: int, what: str):
    from .checks import floats

    return floats(text, what, n=n)


def register(sub):
    p = sub.add_parser(
        "train-segmenter",
        help="train a tumour segmentation U-Net (MONAI) from a manifest of images and masks")
    p.add_argument("--manifest", required=True,
                   help="CSV with columns Image, Mask, optional Label (e.g. 1 or 1,3,4; empty: "
                        "the mask's only label, else label 1), ID, Modality (CT/MR); relative "
                        "paths are relative to the CSV")
    p.add_argument("--out", required=True, help="model directory to write")
    p.add_argument("--dims", type=int, choices=(2, 3), default=2,
                   help="2: slice-wise U-Net with dilated bottleneck (default); 3: 3D network")
    p.add_argument("--architecture", choices=("dilated_unet", "segresnet", "unet"),
                   default=None, help="default dilated_unet (segresnet is 3D only)")
    p.add_argument("--epochs", type=positive_int, default=100)
    p.add_argument("--iterations", type=positive_int, default=50, help="batches per epoch")
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--patch", type=positive_int, default=96, help="training patch edge (px)")
    p.add_argument("--channels", default=None,
                   help="filters per level (default 8,16,32,64,128)")
    p.add_argument("--val-fraction", type=fraction, default=0.2)
    p.add_argument("--patience", type=positive_int, default=10,
                   help="early stopping patience (epochs)")
    p.add_argument("--val-margin", type=int, default=8,
                   help="validate on the tumour's bounding box +- this many voxels (2D: slices); "
                        "-1: whole volumes (slow on CPU)")
    p.add_argument("--lr", type=positive_float, default=1e-3)
    p.add_argument("--seed", type=int, default=0,
                   help="random seed (weights, patches, augmentation, split)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="CPU threads for torch (default: torch's, the machine's cores; the "
                        "weights are bit-identical for one thread count, recorded as "
                        "torch_threads)")
    p.add_argument("--modality", choices=("CT", "MR"), default=None,
                   help="modality of rows without a Modality column (default: CT)")
    p.add_argument("--spacing", default=None,
                   help="resample to x,y,z mm before training (default: native spacing)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_train)

    p = sub.add_parser(
        "segment",
        help="segment a tumour: from one click (--seed; more seeds, a box, background points and "
             "a second channel optional), or with --model by a trained network",
        description="Segment a tumour. Semi-automatic (no model): one --seed inside the tumour is "
                    "enough; more seeds, --bbox, --background points and --second-channel (e.g. "
                    "FLAIR next to T1c) each constrain the result. The click method reports a "
                    "confidence (agreement of the masks from other clicks inside the result) "
                    "and warns when it is low. Points and boxes are physical LPS mm; write "
                    "--seed=-12.5,40,7 when a value starts with '-'.")
    p.add_argument("--image", required=True)
    p.add_argument("--out", required=True,
                   help="mask file to write (e.g. tumour.nii.gz); a .dcm name writes a DICOM SEG "
                        "that references the series (--image must then be its folder)")
    p.add_argument("--model", default=None, help="model directory from train-segmenter")
    p.add_argument("--seed", action="append", default=[], metavar="X,Y,Z",
                   help="point inside the tumour, physical LPS mm (repeatable: seeds in other "
                        "lobes of the tumour); with --model it selects the predicted "
                        "component(s) to keep; write --seed=-12.5,40,7 when the first "
                        "coordinate is negative")
    p.add_argument("--bbox", "--box", dest="bbox", default=None, metavar="X0,Y0,Z0,X1,Y1,Z1",
                   help="box (LPS mm, two opposite corners) the tumour lies in; "
                        "--bbox=-50,... when the first number is negative")
    p.add_argument("--background", action="append", default=[], metavar="X,Y,Z",
                   help="click method: a point outside the tumour (repeatable), LPS mm")
    p.add_argument("--second-channel", default=None, metavar="IMAGE",
                   help="click method: a second image of the same region on the same grid "
                        "(e.g. FLAIR next to T1c)")
    p.add_argument("--resample-second-channel", action="store_true",
                   help="accept a second channel on another grid that overlaps the image "
                        "physically (resampled linearly onto the image's grid)")
    p.add_argument("--method", choices=METHODS, default="click",
                   help="semi-automatic method: click (default; star-shaped optimal surface "
                        "around the click, confidence) or region_growing (the first method)")
    p.add_argument("--modality", choices=("CT", "MR"), default=None,
                   help="imaging modality (guessed from the image as `features` does when "
                        "omitted; the one used is printed)")
    p.add_argument("--appearance", choices=APPEARANCE_MODELS, default=None,
                   help="click method: the appearance model (default auto: chosen from the "
                        "modality and the click; lung: CT, tissue against aerated lung; bright: "
                        "MR, an enhancing tumour and the core its rim encloses; generic: the "
                        "click's own intensity class), e.g. generic where auto mistakes "
                        "enhancing breast parenchyma, or a liver under the lung, for tumour")
    p.add_argument("--report", default=None, metavar="JSON",
                   help="click method: write the confidence, the masks' agreement from other "
                        "clicks, the appearance model, the modality used, warnings and volume")
    p.add_argument("--no-confidence", action="store_true",
                   help="click method: skip the confidence (its extra runs from other clicks)")
    p.add_argument("--snapshot", default=None, metavar="PNG",
                   help="also write a PNG of the axial, coronal and sagittal slices through the "
                        "mask, with its outline and the seeds (a quick check)")
    p.add_argument("--warn-below", type=fraction, default=None,
                   help="click method: warn when the confidence is below this (default 0.8)")
    p.add_argument("--max-radius", type=positive_float, default=None,
                   help="semi-automatic: largest distance from a seed, mm; not with --model "
                        "(default: 60.0)")
    p.add_argument("--multiplier", type=positive_float, default=None,
                   help="region_growing: confidence interval width (standard deviations; "
                        "default 2.5)")
    p.add_argument("--refine", choices=("none", "watershed"), default=None,
                   help="region_growing: boundary refinement after region growing "
                        "(watershed: marker-controlled watershed on the gradient magnitude; "
                        "default: none)")
    p.add_argument("--no-postprocess", action="store_true",
                   help="network: keep every predicted component")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="CPU threads: the network's (torch), or the click method's runs side by "
                        "side (default: the machine's cores; 1 when running many segment "
                        "commands at once)")
    p.set_defaults(func=run_segment)

    p = sub.add_parser("evaluate-segmentation",
                       help="Dice, Hausdorff 95 (mm) and volume difference of a mask vs a reference")
    p.add_argument("--pred", required=True)
    p.add_argument("--ref", required=True)
    p.add_argument("--label", default=None,
                   help="label value(s) of the foreground, e.g. 1 or 1,3,4 (default: non-zero, "
                        "with a warning when the file holds several labels); of a .seg.nrrd or "
                        "an RTSTRUCT: a segment / ROI name or value (default: its only one); of "
                        "a DICOM SEG: its segment numbers (default: its only segment)")
    p.add_argument("--ref-label", default=None, help="the same for the reference, if different")
    p.add_argument("--out", default="-", help="metrics JSON (default: standard output)")
    p.set_defaults(func=run_evaluate)


def run_train(args):
    from ..extras import require

    require("deep", "train-segmenter")
    from ..segmentation import SegmenterConfig, train_segmenter

    kw = dict(dims=args.dims, epochs=args.epochs, iterations_per_epoch=args.iterations,
              batch_size=args.batch_size, patch=args.patch, val_fraction=args.val_fraction,
              patience=args.patience, learning_rate=args.lr, seed=args.seed, device=args.device,
              num_threads=args.threads, modality=args.modality,
              val_margin=None if args.val_margin < 0 else args.val_margin)
    if args.architecture:
        kw["architecture"] = args.architecture
    if args.channels:
        kw["channels"] = tuple(int(v) for v in _floats(args.channels, None, "--channels"))
    if args.spacing:
        kw["spacing"] = tuple(_floats(args.spacing, 3, "--spacing"))
    try:
        cfg = SegmenterConfig(**kw)
        cfg.validate()
    except ValueError as exc:
        from ..errors import UsageError

        raise UsageError(str(exc), source="train-segmenter options") from None
    summary = train_segmenter(args.manifest, args.out, cfg,
                              progress=False if args.no_progress else None)
    print(json.dumps({k: summary[k] for k in ("best_epoch", "best_val_dice", "epochs_run",
                                              "seconds_per_epoch", "device", "val_cases")},
                     indent=2))
    return 0


def _read_image(path, what):
    from ..io import read_image

    return read_image(path)


def _check_segment_options(args):
    """Option values that need no image: parsed points, box, option combinations (exit 2)."""
    from ..errors import UsageError

    seeds = [_floats(s, 3, "--seed") for s in args.seed]
    background = [_floats(s, 3, "--background") for s in args.background]
    bbox = _floats(args.bbox, 6, "--bbox") if args.bbox else None
    if bbox is not None and not all(bbox[i] < bbox[i + 3] for i in range(3)):
        raise UsageError(f"expected x0,y0,z0,x1,y1,z1 with x0 < x1, y0 < y1 and z0 < z1 (two "
                         f"opposite corners, LPS mm), got {args.bbox!r}", source="--bbox")
    if not args.model and not seeds:
        # a box alone does not say which tissue is the tumour (its centre may be another
        # tissue: a crescent, two lesions), so the click stays the user's; its centre is offered
        hint = "" if bbox is None else (
            "; a box alone is not enough: click inside the tumour, e.g. at the box's centre "
            "--seed=" + ",".join(f"{(bbox[i] + bbox[i + 3]) / 2:g}" for i in range(3)))
        raise UsageError("give --model MODEL_DIR (network) or at least one --seed X,Y,Z "
                         "(semi-automatic)" + hint, source="segment")
    click_only = {"--background": bool(background), "--second-channel": bool(args.second_channel),
                  "--report": bool(args.report), "--warn-below": args.warn_below is not None,
                  "--appearance": args.appearance is not None,
                  "--no-confidence": args.no_confidence,
                  "--resample-second-channel": args.resample_second_channel}
    growing_only = {"--multiplier": args.multiplier is not None,
                    "--refine": args.refine is not None}
    used = [k for k, v in click_only.items() if v]
    if used and (args.model or args.method != "click"):
        raise UsageError(f"{', '.join(used)} belong(s) to the click method (--method click, no "
                         f"--model)", source=used[0])
    used = [k for k, v in growing_only.items() if v]
    if used and (args.model or args.method != "region_growing"):
        raise UsageError(f"{', '.join(used)} belong(s) to --method region_growing",
                         source=used[0])
    if args.model and (bbox is not None or args.max_radius is not None):
        raise UsageError("--bbox and --max-radius are options of the semi-automatic methods, not "
                         "of --model", source="--bbox" if bbox is not None else "--max-radius")
    return seeds, background, bbox


def run_segment(args):
    import numpy as np
    import SimpleITK as sitk

    from ..io import guess_modality, write_image
    from .checks import mask_output

    # every check before any work
    seeds, background, bbox = _check_segment_options(args)
    if args.model:
        from ..extras import require

        require("deep", "segment --model")
    mask_output(args.out, "--out", args.image)
    from ..files import check_output_path

    if args.report:
        check_output_path(args.report, "--report", extensions=(".json",))
    if args.snapshot:
        check_output_path(args.snapshot, "--snapshot", extensions=(".png",))
    from ..segmentation import check_click_points, check_not_constant, read_second_channel
    from .checks import input_file

    image = _read_image(args.image, "image")
    check_not_constant(image, args.image)
    if not args.model:
        check_click_points(image, seeds, background, bbox)
    ch2 = None
    if args.second_channel:
        input_file(args.second_channel, "--second-channel")
        ch2 = read_second_channel(args.second_channel, image, args.resample_second_channel)
    unet = None
    if args.model:      # a trained U-Net normalises the image as it was trained: its modality
        from ..segmentation.inference import load_model

        unet = load_model(args.model, device=args.device)
    if args.modality:
        modality = args.modality
        print(f"modality: {modality}")
    elif unet is not None:
        modality, guessed = unet[1].modality, guess_modality(image)
        print(f"modality: {modality} (the model's, {args.model}; give --modality to override)")
        if guessed != modality:
            log.warning("the image looks %s but the model was trained on %s images: check "
                        "--model", guessed, modality)
    else:
        modality = guess_modality(image)
        print(f"modality: {modality} (guessed from the image, as `features` does; give "
              f"--modality to override)")
    if args.appearance == "lung" and modality != "CT":
        from ..errors import UsageError

        raise UsageError(f"the lung model reads CT numbers (Hounsfield units); the image is "
                         f"{modality}" + ("" if args.modality else " (guessed; give --modality "
                                          "CT if it is CT)"), source="--appearance")
    report = None
    if args.model:
        from ..segmentation import segment_image

        mask = segment_image(image, args.model, modality=modality, seeds_lps_mm=seeds or None,
                             postprocessing=None if args.no_postprocess else "largest",
                             device=args.device, num_threads=args.threads, source=args.image,
                             model=unet)
    elif args.method == "click":
        from ..segmentation import ClickParameters, segment_click

        kw = {}
        if args.max_radius is not None:
            kw["ray_length_mm"] = args.max_radius
        if args.warn_below is not None:
            kw["warn_below"] = args.warn_below
        if args.threads is not None:
            kw["threads"] = args.threads
        res = segment_click(image, seeds, bbox=bbox,    # (it casts the part it works on)
                            background_lps_mm=background or None, second_channel=ch2,
                            modality=modality, model=args.appearance or "auto",
                            params=ClickParameters(**kw),
                            confidence=not args.no_confidence, source=args.image)
        mask = res.mask
        report = res.summary()
        report["modality_guessed"] = not args.modality
        report["warn_below"] = args.warn_below if args.warn_below is not None else \
            ClickParameters().warn_below
    else:
        from ..segmentation import segment_from_seeds

        kw = {"max_radius_mm": args.max_radius, "multiplier": args.multiplier,
              "refine": None if args.refine in (None, "none") else args.refine}
        mask = segment_from_seeds(image, seeds, bbox=bbox,     # (it casts its crop)
                                  modality=modality, method="region_growing", source=args.image,
                                  **{k: v for k, v in kw.items() if v is not None})
    from ..dicomseg import is_dicom_seg_path, series_folder, write_dicom_seg

    if is_dicom_seg_path(args.out):
        write_dicom_seg(mask, series_folder(args.image, args.out), args.out,
                        algorithm_type="AUTOMATIC" if args.model else "SEMIAUTOMATIC",
                        series_description="Tumour segmentation")
    else:
        write_image(mask, args.out)
    n = int(sitk.GetArrayViewFromImage(mask).sum())
    vol = n * float(np.prod(mask.GetSpacing())) / 1000.0
    print(f"wrote {args.out}: {n} voxels, {vol:.2f} mL")
    if args.snapshot:
        from ..plots import mask_snapshot

        mask_snapshot(image, mask, seeds, path=args.snapshot,
                      title=f"{args.image}: {vol:.2f} mL" + (
                          "" if report is None or report["confidence"] is None else
                          f", confidence {report['confidence']:.2f}"))
        print(f"wrote {args.snapshot}")
    if report is not None:
        conf = report["confidence"]
        if conf is not None:
            print(f"confidence {conf:.2f} (agreement of the masks from "
                  f"{len(report['jitter_dice'])} other clicks inside the result; model "
                  f"{report['model']})")
        for w in report["warnings"]:
            print(f"warning: {w}", file=sys.stderr)
        if args.report:
            from ..files import atomic_write_text

            report = {"image": args.image, "out": args.out, "method": "click", **report}
            atomic_write_text(args.report, json.dumps(report, indent=2) + "\n")
    return 0


def _read_evaluated(pred_path, ref_path, label, ref_label):
    """The two masks of ``evaluate-segmentation`` and the labels that select them.

    ``label`` / ``ref_label``: the options' text (``ref_label`` defaults to ``label``).
    - A label map (NIfTI, NRRD, ...): label values (default: every non-zero voxel, with a
      warning when it holds several labels).
    - A Slicer ``.seg.nrrd`` or an RTSTRUCT: read by the package's mask rules
      (``io.read_mask``: a segment / ROI by name or value, layers, the only segment by default).
    - A DICOM SEG (as ``segment --out x.dcm`` writes, the frames of its non-empty slices only):
      the union of its segments (numbers; default its only segment), 0/1, on the other mask's
      grid.
    A mask on the other's grid stored in another voxel order is reordered onto it."""
    import numpy as np
    import SimpleITK as sitk

    from ..dicomseg import is_dicom_seg, read_dicom_seg
    from ..errors import UsageError
    from ..io import is_rtstruct, parse_label, read_mask
    from ..voxel_order import reordered_onto

    def kind(path):
        if is_dicom_seg(path):
            return "dicom-seg"
        if str(path).lower().endswith(".seg.nrrd") or is_rtstruct(path):
            return "segments"
        return "labels"

    # --ref-label defaults to --label (as the metrics take it), unless that names a segment
    # and the reference is a label map
    if ref_label is None and not (label is not None and parse_label(label)[1] is not None
                                  and kind(ref_path) == "labels"):
        ref_label = label

    def numbers(text, option):
        if text is None:
            return None
        values, name = parse_label(text)
        if name is not None:
            raise UsageError(f"expected label values (numbers) for a label map, got {text!r}",
                             source=option)
        return values

    def read(path, text, option, grid=None):
        """(mask, its label values for the metrics)."""
        k = kind(path)
        if k == "dicom-seg":
            return read_dicom_seg(path, numbers(text, option), reference=grid), [1.0]
        if k == "segments":
            return read_mask(path, text, reference=grid, geometry="strict"), [1.0]
        return _read_image(path, option), numbers(text, option)

    # the grid: a file that has one of its own (an RTSTRUCT and a DICOM SEG take the other's)
    ref_first = kind(pred_path) != "labels" and kind(ref_path) == "labels" or \
        (is_rtstruct(pred_path) and not is_rtstruct(ref_path))
    if ref_first:
        ref, ref_values = read(ref_path, ref_label, "--ref-label")
        pred, values = read(pred_path, label, "--label", grid=ref)
    else:
        pred, values = read(pred_path, label, "--label")
        ref, ref_values = read(ref_path, ref_label, "--ref-label", grid=pred)
    same = reordered_onto(ref, pred)        # (the same grid, its voxels in another order)
    if same is not None:
        ref = same
    for img, vals, path, option in ((pred, values, pred_path, "--label"),
                                    (ref, ref_values, ref_path, "--ref-label")):
        if vals is None:
            present = np.unique(sitk.GetArrayViewFromImage(img))
            present = [v for v in present.tolist() if v != 0]
            if len(present) > 1:
                log.warning("%s holds labels %s: every non-zero voxel counts as the mask; give "
                            "%s to choose", path, [int(v) if float(v).is_integer() else v
                                                   for v in present[:10]], option)
    return pred, ref, values, ref_values


def run_evaluate(args):
    from ..files import atomic_write_text, check_output_path, to_jsonable
    from ..segmentation import evaluate_segmentation

    if args.out != "-":
        check_output_path(args.out, "--out")
    pred, ref, label, ref_label = _read_evaluated(args.pred, args.ref, args.label,
                                                  args.ref_label)
    m = evaluate_segmentation(pred, ref, label=label, ref_label=ref_label,
                              names=(str(args.pred), str(args.ref)))
    m = {"pred": args.pred, "ref": args.ref, **m}
    text = json.dumps(to_jsonable(m), indent=2, allow_nan=False)    # (NaN distances: null)
    if args.out == "-":
        print(text)
    else:
        atomic_write_text(args.out, text + "\n")
    return 0
