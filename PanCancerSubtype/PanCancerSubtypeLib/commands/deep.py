"""``pancancer-subtype train-deep-encoder``: train the denoising autoencoder of the ``deep``
feature group on the tumours of a manifest; writes ``deep_encoder.json`` and
``deep_encoder.safetensors`` to ``--out``.  Use it with ``features`` / ``cohort-features
--groups deep --deep-model DIR``."""
from __future__ import annotations

import sys

from .checks import input_file, positive_float, positive_int


def register(sub):
    from ..deep.networks import DEFAULT_CODE_SIZE

    p = sub.add_parser("train-deep-encoder",
                       help="train the denoising autoencoder of the deep feature group",
                       description="Train a denoising autoencoder on tumour-centred crops of the "
                                   "cases of a manifest (same columns as cohort-features); its "
                                   "code is the 'deep' feature group. Deterministic on the CPU; "
                                   "uses a GPU when present (--device auto).")
    p.add_argument("--manifest", required=True, help="CSV manifest (Image, Mask, Label, ...)")
    p.add_argument("--out", required=True, help="output folder of the model")
    p.add_argument("--dims", type=int, choices=[2, 3], default=2,
                   help="2: slices through the tumour (default); 3: a cube around it")
    p.add_argument("--crop", type=positive_int, default=None,
                   help="crop edge in pixels (default 64 for 2D, 32 for 3D)")
    p.add_argument("--field-mm", type=positive_float, default=None,
                   help="crop edge in mm (default: --context x the tumour's extent)")
    p.add_argument("--context", type=positive_float, default=1.5)
    p.add_argument("--slices", type=positive_int, default=5,
                   help="2D: the tumour slices of largest area used per case (default 5)")
    p.add_argument("--mask-channel", action="store_true",
                   help="give the tumour mask to the network as a second channel")
    p.add_argument("--channels", default="16,32,64",
                   help="encoder filters per stride-2 level (default 16,32,64)")
    p.add_argument("--code-size", type=positive_int, default=DEFAULT_CODE_SIZE,
                   help=f"number of deep features (default {DEFAULT_CODE_SIZE})")
    p.add_argument("--noise-std", type=float, default=0.1,
                   help="Gaussian corruption, normalised intensity units (default 0.1)")
    p.add_argument("--mask-noise", type=float, default=0.0,
                   help="fraction of input pixels set to 0 (default 0)")
    p.add_argument("--epochs", type=positive_int, default=30)
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--lr", type=positive_float, default=1e-3)
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="fraction of cases held out for early stopping")
    p.add_argument("--patience", type=positive_int, default=8)
    p.add_argument("--seed", type=int, default=0, help="random seed (weights, noise, batches)")
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="CPU threads of torch (default: torch's, the machine's cores; the "
                        "weights are bit-identical for one thread count, recorded as "
                        "torch_threads)")
    p.add_argument("--modality", choices=["CT", "MR"], default=None,
                   help="modality of cases whose manifest row gives none (default: "
                        "guessed from each image)")
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..deep.networks import DeepEncoderConfig
    from ..deep.training import train_deep_encoder

    from ..cohort import read_manifest
    from ..errors import UsageError
    from ..extras import require
    from ..files import check_output_path

    # every check before any work
    require("deep", "train-deep-encoder")
    try:
        channels = tuple(int(c) for c in args.channels.split(",") if c.strip())
    except ValueError:
        raise UsageError(f"expected comma-separated whole numbers, got {args.channels!r}",
                         source="--channels") from None
    if not channels or min(channels) < 1:
        raise UsageError(f"expected filters >= 1 per level, got {args.channels!r}",
                         source="--channels")
    cfg = DeepEncoderConfig(
        dims=args.dims, crop=args.crop or (64 if args.dims == 2 else 32),
        field_mm=args.field_mm, context=args.context, n_slices=args.slices,
        mask_channel=args.mask_channel, channels=channels, code_size=args.code_size,
        noise_std=args.noise_std, mask_noise=args.mask_noise, epochs=args.epochs,
        batch_size=args.batch_size, learning_rate=args.lr, val_fraction=args.val_fraction,
        patience=args.patience, seed=args.seed, device=args.device, num_threads=args.threads,
        modality=args.modality)
    try:
        cfg.validate()
    except ValueError as exc:
        raise UsageError(str(exc), source="train-deep-encoder options") from None
    input_file(args.manifest, "--manifest")
    check_output_path(args.out, "--out", folder=True)
    read_manifest(args.manifest)
    say = None if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    enc = train_deep_encoder(args.manifest, args.out, cfg, progress=say)
    m = enc.meta
    print(f"deep encoder: {enc.code_size} features, {len(m['cases'])} cases "
          f"({len(m['failed_cases'])} left out), best epoch {m['best_epoch']}, "
          f"{m['train_time_s']:.0f} s on {m['trained_on']} -> {args.out}")
    return 0
