"""Segmentation sub-commands: ``train-segmenter``, ``segment``, ``evaluate-segmentation``."""
from __future__ import annotations

import json
import sys

from .checks import fraction, positive_float, positive_int


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
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads for torch")
    p.add_argument("--modality", choices=("CT", "MR"), default=None,
                   help="modality of rows without a Modality column (default: CT)")
    p.add_argument("--spacing", default=None,
                   help="resample to x,y,z mm before training (default: native spacing)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_train)

    p = sub.add_parser(
        "segment",
        help="segment a tumour: with --model by a trained network, with --seed only by "
             "semi-automatic region growing")
    p.add_argument("--image", required=True)
    p.add_argument("--out", required=True, help="mask file to write (e.g. tumour.nii.gz)")
    p.add_argument("--model", default=None, help="model directory from train-segmenter")
    p.add_argument("--seed", action="append", default=[], metavar="X,Y,Z",
                   help="seed point inside the tumour, physical LPS mm (repeatable); with "
                        "--model it selects the predicted component(s) to keep; write "
                        "--seed=-12.5,40,7 when the first coordinate is negative")
    p.add_argument("--bbox", default=None, metavar="X0,Y0,Z0,X1,Y1,Z1",
                   help="bounding box (LPS mm) the tumour lies in (semi-automatic); "
                        "--bbox=-50,... when the first number is negative")
    p.add_argument("--modality", choices=("CT", "MR"), default=None)
    p.add_argument("--max-radius", type=positive_float, default=60.0,
                   help="semi-automatic: largest distance from a seed (mm)")
    p.add_argument("--multiplier", type=positive_float, default=2.5,
                   help="semi-automatic: confidence interval width (standard deviations)")
    p.add_argument("--refine", choices=("none", "watershed"), default="none",
                   help="semi-automatic: boundary refinement after region growing "
                        "(watershed: marker-controlled watershed on the gradient magnitude)")
    p.add_argument("--no-postprocess", action="store_true",
                   help="network: keep every predicted component")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=positive_int, default=None)
    p.set_defaults(func=run_segment)

    p = sub.add_parser("evaluate-segmentation",
                       help="Dice, Hausdorff 95 (mm) and volume difference of a mask vs a reference")
    p.add_argument("--pred", required=True)
    p.add_argument("--ref", required=True)
    p.add_argument("--label", default=None,
                   help="label value(s) of the foreground, e.g. 1 or 1,3,4 (default: non-zero)")
    p.add_argument("--ref-label", default=None, help="label(s) in the reference if different")
    p.add_argument("--out", default="-", help="metrics JSON (default: standard output)")
    p.set_defaults(func=run_evaluate)


def run_train(args):
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


def _check_not_constant(image, source) -> None:
    """A constant image holds no tumour boundary: refuse it rather than return a mask of every
    voxel around the seed."""
    import numpy as np
    import SimpleITK as sitk

    from ..errors import InvalidImageValuesError

    arr = sitk.GetArrayViewFromImage(image)
    lo, hi = float(np.min(arr)), float(np.max(arr))
    if lo == hi:
        raise InvalidImageValuesError(f"image is constant (every voxel is {lo:g}): there is no "
                                      f"tumour boundary to segment", source=source)


def run_segment(args):
    import numpy as np
    import SimpleITK as sitk

    from ..errors import UsageError
    from ..io import check_image_output, write_image

    # every check before any work
    seeds = [_floats(s, 3, "--seed") for s in args.seed]
    bbox = _floats(args.bbox, 6, "--bbox") if args.bbox else None
    if not args.model and not seeds:
        raise UsageError("give --model MODEL_DIR (network) or at least one --seed X,Y,Z "
                         "(semi-automatic)", source="segment")
    check_image_output(args.out, "--out")
    image = _read_image(args.image, "image")
    _check_not_constant(image, args.image)
    try:
        if args.model:
            from ..segmentation import segment_image

            mask = segment_image(image, args.model, modality=args.modality,
                                 seeds_lps_mm=seeds or None,
                                 postprocessing=None if args.no_postprocess else "largest",
                                 device=args.device, num_threads=args.threads,
                                 source=args.image)
        else:
            from ..segmentation import segment_from_seeds

            mask = segment_from_seeds(sitk.Cast(image, sitk.sitkFloat32), seeds, bbox=bbox,
                                      modality=args.modality, max_radius_mm=args.max_radius,
                                      multiplier=args.multiplier,
                                      refine=None if args.refine == "none" else args.refine,
                                      source=args.image)
    except ValueError as exc:
        if type(exc) is ValueError:  # plain ValueError: bad seeds / bbox
            print(f"error: {exc}", file=sys.stderr)
            return 1
        raise
    write_image(mask, args.out)
    n = int(sitk.GetArrayViewFromImage(mask).sum())
    vol = n * float(np.prod(mask.GetSpacing())) / 1000.0
    print(f"wrote {args.out}: {n} voxels, {vol:.2f} mL")
    return 0


def run_evaluate(args):
    from ..files import atomic_write_text, check_output_path
    from ..segmentation import evaluate_segmentation

    def labels(text, option):
        return _floats(text, None, option) if text is not None else None

    label, ref_label = labels(args.label, "--label"), labels(args.ref_label, "--ref-label")
    if args.out != "-":
        check_output_path(args.out, "--out")
    pred = _read_image(args.pred, "prediction")
    ref = _read_image(args.ref, "reference")
    m = evaluate_segmentation(pred, ref, label=label, ref_label=ref_label)
    m = {"pred": args.pred, "ref": args.ref, **m}
    text = json.dumps(m, indent=2)
    if args.out == "-":
        print(text)
    else:
        atomic_write_text(args.out, text + "\n")
    return 0
