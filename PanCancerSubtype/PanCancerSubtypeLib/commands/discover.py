"""``pancancer-subtype discover``: the command line of :func:`PanCancerSubtypeLib.discovery.discover`.

The options map one to one onto :class:`~PanCancerSubtypeLib.discovery.DiscoverySettings`; the
work and the files written are the library's (see :mod:`PanCancerSubtypeLib.discovery`).
"""
from __future__ import annotations

import logging
import os
import sys

from .checks import positive_int, unit_interval

log = logging.getLogger(__name__)


def register(sub):
    p = sub.add_parser(
        "discover",
        help="find subtypes: consensus clustering (PAM + Pearson) of a features table, "
             "optionally of autoencoder codes, with purity, IGP and plots",
        description="Subtype discovery (Wu et al. 2021). Rows of the features CSV are items with "
                    "an ID column; other numeric columns are features (metadata such as Image, "
                    "Mask, Modality, CancerType, error and diag_* columns are ignored; rows with "
                    "an error are excluded).")
    p.add_argument("--features", required=True, help="discovery features CSV")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--validation", default=None,
                   help="validation features CSV (same feature columns): IGP of the discovery "
                        "subtypes, and validation classes by nearest centroid")
    p.add_argument("--encode", nargs="?", const="autoencoder", default="none",
                   choices=["none", "autoencoder", "pca", "auto"],
                   help="encode the prepared features before clustering (saved in OUT/encoder/): "
                        "autoencoder (the paper's; the value when --encode is given alone), pca, "
                        "or auto = whichever reconstructs held-out tumours better (both errors "
                        "in encoder_comparison.csv); default none")
    p.add_argument("--validation-fraction", type=float, default=None,
                   help="the paper's design on one table: split off this fraction of each "
                        "cancer type (--cancer-type-column) as a validation set, discover on the "
                        "rest, IGP of the validation set, purity per cancer type, then the whole "
                        "population (OUT/discovery/, OUT/whole/, design_summary.json)")
    p.add_argument("--split-seed", type=int, default=0,
                   help="seed of the --validation-fraction split")
    g = p.add_argument_group("consensus clustering")
    g.add_argument("--k-min", type=int, default=2)
    g.add_argument("--k-max", type=int, default=10)
    g.add_argument("--reps", type=int, default=10000, help="resamplings (paper: 10,000)")
    g.add_argument("--p-item", type=float, default=0.8, help="fraction of items per resampling")
    g.add_argument("--seed", type=int, default=None,
                   help="random seed (default: drawn and recorded in summary.json)")
    g.add_argument("--r-compatible", action="store_true",
                   help="reproduce R ConsensusClusterPlus's random draws, PAM and hclust exactly: "
                        "with --preprocess none the consensus matrices and classes equal "
                        "ConsensusClusterPlus(t(features), pItem=P_ITEM, reps=REPS, maxK=K_MAX, "
                        "clusterAlg='pam', distance='pearson', seed=SEED) on the same CSV "
                        "(slower than the default fast mode, much faster than R: the README's "
                        "consensus clustering section gives the figures)")
    g.add_argument("--n-jobs", type=int, default=1,
                   help="threads for consensus clustering and the autoencoder (-1: all cores)")
    g.add_argument("--k", type=int, default=None,
                   help="k used for purity, differential features and the heatmap "
                        "(default: the suggested k)")
    g.add_argument("--k-selection", choices=["cdf", "pac"], default="cdf",
                   help="rule for the suggested k: cdf = Monti's consensus-CDF (delta-area) elbow, "
                        "the paper's rule (default); pac = lowest PAC (Senbabaoglu et al. 2014)")
    g = p.add_argument_group("feature preparation")
    g.add_argument("--preprocess", choices=["standardize", "center", "none"],
                   default="standardize",
                   help="standardize: z-scores (default); center: subtract the mean only; none: "
                        "cluster the values exactly as given (with --r-compatible this is what "
                        "R's ConsensusClusterPlus does with the same CSV). Missing values are "
                        "imputed with the discovery median in every mode; codes of --encode are "
                        "never rescaled")
    g.add_argument("--no-scale", action="store_true",
                   help="same as --preprocess center (kept for compatibility)")
    g.add_argument("--weighting", choices=["family", "none"], default="family",
                   help="family: with standardize, give every feature family (SPHARM "
                        "coefficients, energies, entropies, scales, burden, regional, a "
                        "PyRadiomics class...) the same total weight (default); none: every "
                        "column counts alike")
    g.add_argument("--max-missing", type=unit_interval, default=0.2,
                   help="drop a feature missing in more than this fraction of discovery rows; "
                        "otherwise impute the discovery median (default 0.2)")
    g = p.add_argument_group("autoencoder (--encode)")
    g.add_argument("--code-dim", type=positive_int, default=10, help="code size (paper: 10)")
    g.add_argument("--ae-epochs", type=positive_int, default=500, help="maximum epochs")
    g.add_argument("--ae-patience", type=positive_int, default=20,
                   help="early-stopping patience")
    g.add_argument("--ae-batch-size", type=positive_int, default=32)
    g.add_argument("--ae-hidden", type=int, nargs="*", default=[],
                   help="widths of extra hidden layers around the code, e.g. --ae-hidden 64 "
                        "(default none: the paper's 313 -> 10 -> 313)")
    g.add_argument("--code-activation", choices=["relu", "linear"], default="relu",
                   help="activation of the code layer (default relu, the paper's; linear "
                        "avoids all-zero codes)")
    g = p.add_argument_group("validation statistics")
    g.add_argument("--purity-repeats", type=int, default=10,
                   help="repeats of 5-fold cross-validation for cluster purity (0: skip)")
    g.add_argument("--purity-reps", type=int, default=None,
                   help="resamplings of each purity clustering (fast mode; default: min(reps, 1000))")
    g.add_argument("--igp-permutations", type=int, default=1000,
                   help="permutations of clusterRepro's IGP p-value")
    g.add_argument("--cancer-type-column", default="CancerType",
                   help="metadata column for Cramér's V between subtype and cancer type")
    g.add_argument("--differential-method", choices=["mannwhitney", "welch"],
                   default="mannwhitney")
    g.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    g.add_argument("--no-progress", action="store_true",
                   help="no progress report of the resamplings (default: a bar with ETA on a "
                        "terminal; elsewhere a 'done/total' line every 10 s for runs over 10 s)")
    p.set_defaults(func=run)


def run(args):
    if args.encode in ("autoencoder", "auto"):      # ("none" and "pca" need no torch)
        from ..extras import require

        require("deep", f"discover --encode {args.encode} (the autoencoder)")
    try:
        return _run(args)
    except ValueError as exc:
        from ..errors import PanCancerSubtypeError

        if isinstance(exc, PanCancerSubtypeError):
            raise
        where = "" if str(args.features) in str(exc) else f"{args.features}: "   # (its content)
        print(f"error: {where}{exc}", file=sys.stderr)
        return 1


def settings_from_args(args):
    """:class:`~PanCancerSubtypeLib.discovery.DiscoverySettings` from the parsed options."""
    from ..discovery import DiscoverySettings

    return DiscoverySettings(
        preprocess="center" if args.no_scale and args.preprocess == "standardize"
        else args.preprocess,
        weighting=args.weighting, max_missing=args.max_missing, encode=args.encode,
        code_dim=args.code_dim, ae_epochs=args.ae_epochs, ae_patience=args.ae_patience,
        ae_batch_size=args.ae_batch_size, ae_hidden=tuple(args.ae_hidden or ()),
        code_activation=args.code_activation, k_min=args.k_min, k_max=args.k_max,
        reps=args.reps, p_item=args.p_item, seed=args.seed, r_compatible=args.r_compatible,
        k_selection=args.k_selection, k=args.k, n_jobs=args.n_jobs,
        purity_repeats=args.purity_repeats, purity_reps=args.purity_reps,
        igp_permutations=args.igp_permutations, cancer_type_column=args.cancer_type_column,
        differential_method=args.differential_method)


def _run(args):
    from .. import __version__
    from ..discovery import discover

    from ..errors import UsageError
    from ..files import check_output_path
    from .checks import input_file

    settings = settings_from_args(args)
    try:
        settings.check()                   # bad options fail before any work or any file
    except ValueError as exc:
        raise UsageError(str(exc), source="discover options") from None
    input_file(args.features, "--features")
    if args.validation:
        input_file(args.validation, "--validation")
    if args.validation_fraction is not None:
        if args.validation:
            raise UsageError("--validation-fraction splits the --features table itself; do not "
                             "give --validation as well", source="--validation-fraction")
        if not 0.0 < args.validation_fraction < 1.0:
            raise UsageError(f"must be in (0, 1), got {args.validation_fraction}",
                             source="--validation-fraction")
    check_output_path(args.out, "--out", folder=True)
    say = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    bar = None if args.no_progress else ResamplingProgress()
    if args.validation_fraction is not None:
        from ..discovery import discovery_validation

        design = discovery_validation(args.features, cancer_type_column=args.cancer_type_column,
                                      validation_fraction=args.validation_fraction,
                                      split_seed=args.split_seed, settings=settings,
                                      progress=say, resampling_progress=bar)
        if bar is not None:
            bar.close()
        design.save(args.out, plots=not args.no_plots)
        print(os.path.abspath(args.out))
        return 0
    try:
        res = discover(args.features, validation=args.validation, settings=settings,
                       progress=say, resampling_progress=bar)
    finally:
        if bar is not None:
            bar.close()
    res.save(args.out, plots=not args.no_plots, extra_summary={
        "version": __version__, "features": os.path.abspath(args.features),
        "validation": os.path.abspath(args.validation) if args.validation else None})
    print(os.path.abspath(args.out))
    return 0


class ResamplingProgress:
    """``progress(done, total)`` for the resampling loop, printed on ``stream`` (stderr).

    On a terminal: a tqdm bar with rate and ETA, shown once the loop has run ``delay`` seconds.
    Elsewhere (a log file, the Slicer panel's background job, which reads lines): the same
    meter as one line every ``every`` seconds once the loop has run that long, e.g.
    ``consensus:  12%|#2        | 1200/10000 [00:12<01:30, 97.60 resamplings/s]``, and a last
    line at the end.
    """

    def __init__(self, stream=None, delay: float = 1.0, every: float = 10.0):
        self.stream = stream if stream is not None else sys.stderr
        self.delay = delay
        self.every = every
        self.bar = None
        self._start = None
        self._done = 0

    def __call__(self, done: int, total: int) -> None:
        import time

        from tqdm import tqdm

        now = time.monotonic()
        if self._start is None or done < self._done:  # a new loop
            self.close()
            self._start = self._last = now
            if hasattr(self.stream, "isatty") and self.stream.isatty():
                self.bar = tqdm(total=total, desc="consensus", unit=" resamplings",
                                file=self.stream, delay=self.delay, dynamic_ncols=True)
        self._done = done
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
            return
        elapsed = now - self._start
        if elapsed >= self.every and (now - self._last >= self.every or done >= total):
            self._last = now
            print(tqdm.format_meter(done, total, elapsed, ncols=80, prefix="consensus",
                                    unit=" resamplings", ascii=True), file=self.stream,
                  flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.bar = None
        self._start = None
