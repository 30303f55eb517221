"""The discovery pipeline on one feature table (see :mod:`PanCancerSubtypeLib.discovery`)."""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import pandas as pd

from ..preprocessing import PREPROCESS_CHOICES, WEIGHTINGS, FeaturePreparer
from ..tables import read_feature_table, split_feature_table

log = logging.getLogger(__name__)

ENCODERS = ("none", "autoencoder", "pca", "auto")
TableLike = Union[str, os.PathLike, pd.DataFrame]


@dataclass
class DiscoverySettings:
    """Every setting of :func:`discover` (recorded in ``summary.json``)."""

    preprocess: str = "standardize"
    weighting: str = "family"
    max_missing: float = 0.2
    encode: str = "none"
    code_dim: int = 10
    heldout_fraction: float = 0.2
    ae_epochs: int = 500
    ae_patience: int = 20
    ae_batch_size: int = 32
    ae_hidden: Sequence[int] = ()
    code_activation: str = "relu"
    k_min: int = 2
    k_max: int = 10
    reps: int = 1000
    p_item: float = 0.8
    seed: Optional[int] = None
    r_compatible: bool = False
    k_selection: str = "cdf"
    k: Optional[int] = None
    n_jobs: int = 1
    purity_repeats: int = 10
    purity_reps: Optional[int] = None
    igp_permutations: int = 1000
    cancer_type_column: Optional[str] = "CancerType"
    differential_method: str = "mannwhitney"

    def check(self, n_items: Optional[int] = None) -> None:
        """Raise ``ValueError`` (naming the setting) for a setting that cannot work."""
        if self.preprocess not in PREPROCESS_CHOICES:
            raise ValueError(f"preprocess must be one of {sorted(PREPROCESS_CHOICES)}, "
                             f"got {self.preprocess!r}")
        if self.encode not in ENCODERS:
            raise ValueError(f"encode must be one of {ENCODERS}, got {self.encode!r}")
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {self.weighting!r}")
        if not 0.0 < float(self.heldout_fraction) < 1.0:
            raise ValueError(f"heldout_fraction must be in (0, 1), got {self.heldout_fraction}")
        if not 2 <= int(self.k_min) <= int(self.k_max):
            raise ValueError(f"need 2 <= k_min <= k_max, got k_min={self.k_min}, "
                             f"k_max={self.k_max}")
        if self.k is not None and not int(self.k_min) <= int(self.k) <= int(self.k_max):
            raise ValueError(f"k={self.k} is outside k_min..k_max ({self.k_min}..{self.k_max})")
        if int(self.reps) < 1:
            raise ValueError(f"reps must be >= 1, got {self.reps}")
        if not 0.0 < float(self.p_item) <= 1.0:
            raise ValueError(f"p_item must be in (0, 1], got {self.p_item}")
        if int(self.purity_repeats) < 0:
            raise ValueError(f"purity_repeats must be >= 0, got {self.purity_repeats}")
        if int(self.igp_permutations) < 1:
            raise ValueError(f"igp_permutations must be >= 1, got {self.igp_permutations}")
        if n_items is not None and int(self.k_max) >= int(np.floor(n_items * self.p_item)):
            raise ValueError(f"k_max={self.k_max} must be smaller than the "
                             f"{int(np.floor(n_items * self.p_item))} items drawn per resampling "
                             f"(n={n_items}, p_item={self.p_item})")

    def with_seed(self) -> "DiscoverySettings":
        """These settings with a seed: the given one, else one drawn from the system, which
        every seeded step then uses (a run is repeated by giving it back)."""
        if self.seed is not None:
            return self
        return DiscoverySettings(**{**self.__dict__, "seed": int(
            np.random.SeedSequence().entropy % (2 ** 31 - 1))})

    def as_dict(self) -> Dict[str, Any]:
        d = dict(self.__dict__)
        d["ae_hidden"] = [int(h) for h in self.ae_hidden]
        return d


@dataclass
class DiscoveryResult:
    """What :func:`discover` found.  ``codes`` is the matrix that was clustered."""

    settings: DiscoverySettings
    features: pd.DataFrame                 # raw discovery features (kept rows), index = ID
    meta: pd.DataFrame                     # metadata columns of the kept rows
    excluded: Dict[str, str]               # ID -> error text of rows left out
    ignored_columns: Dict[str, str]        # column -> why it is not a feature
    preparer: FeaturePreparer
    codes: pd.DataFrame
    consensus: Any                         # fitted ConsensusClustering
    k: int                                 # the k used for labels and statistics
    encoder: Any = None                    # fitted Autoencoder / PCAEncoder
    encoder_used: str = "none"             # "autoencoder", "pca" or "none"
    encoder_refit: Optional[str] = None    # why the encoder was refitted, if it was
    encoder_comparison: Optional[pd.DataFrame] = None   # encode="auto": both held-out errors
    reconstruction: Optional[pd.DataFrame] = None
    validation_features: Optional[pd.DataFrame] = None
    validation_codes: Optional[pd.DataFrame] = None
    igp: Optional[pd.DataFrame] = None
    validation_classes: Optional[pd.DataFrame] = None
    purity: Any = None                     # validation.PurityResult
    differential: Optional[pd.DataFrame] = None
    cramers_v: Optional[pd.DataFrame] = None
    crosstab: Optional[pd.DataFrame] = None
    timings: Dict[str, float] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)

    # -- views -----------------------------------------------------------------------------
    @property
    def ks(self) -> List[int]:
        return sorted(int(k) for k in self.consensus.results_)

    @property
    def classes(self) -> pd.DataFrame:
        """Subtype (1..k) of every item for every k: index ``ID``, columns ``k2, k3, ...``."""
        cc = self.consensus
        out = pd.DataFrame({f"k{k}": cc.results_[k].classes for k in self.ks},
                           index=pd.Index([str(i) for i in self.codes.index], name="ID"))
        return out

    @property
    def labels(self) -> pd.Series:
        """Subtypes at the chosen k (1..k), indexed by ID."""
        return self.classes[f"k{self.k}"].rename("subtype")

    @property
    def suggested_k(self) -> int:
        return int(self.consensus.suggested_k_)

    @property
    def k_rule(self) -> str:
        return str(self.consensus.k_rule_)

    def k_info(self) -> Dict[str, Any]:
        cc = self.consensus
        info = {"k": int(cc.suggested_k_), "rule": cc.k_rule_}
        for extra in ("k_pac_", "k_delta_area_", "structure_", "structure_strength_"):
            if hasattr(cc, extra):
                info[extra.rstrip("_")] = getattr(cc, extra)
        return info

    def summary(self) -> Dict[str, Any]:
        """JSON-ready summary (what ``summary.json`` holds)."""
        s = self.settings
        out: Dict[str, Any] = {
            "settings": s.as_dict(),
            "n_items": int(self.codes.shape[0]), "n_features_in": int(self.features.shape[1]),
            "n_features_used": len(self.preparer.columns_out_),
            "dropped_features": {c: r for c, r in self.preparer.dropped_.items()
                                 if r != "metadata"},
            "imputed_features": self.preparer.imputed_, "excluded_rows": self.excluded,
            "ignored_columns": self.ignored_columns,
            "encode": s.encode != "none", "encoder": self.encoder_used,
            "encoder_refit": self.encoder_refit,
            "encoder_comparison": (None if self.encoder_comparison is None else
                                   self.encoder_comparison.to_dict(orient="index")),
            "seed": getattr(self.consensus, "seed_", s.seed), "k_range": [self.ks[0], self.ks[-1]],
            "reps": s.reps, "p_item": s.p_item, "r_compatible": s.r_compatible,
            "preprocess": s.preprocess, "suggested_k": self.k_info(), "chosen_k": int(self.k),
            "consensus_seconds": getattr(self.consensus, "fit_seconds_", None),
            "notes": list(self.notes),
        }
        if self.encoder_used == "autoencoder":
            dead = [c for c in self.codes.columns if float(self.codes[c].max()) == 0.0]
            out["autoencoder"] = {
                "epochs": self.encoder.n_epochs_, "best_epoch": self.encoder.best_epoch_,
                "seed": self.encoder.seed, "code_activation": self.encoder.code_activation,
                "inactive_code_units": dead,
                "reconstruction_mse": (None if self.reconstruction is None else
                                       self.reconstruction.to_dict(orient="index"))}
        if self.purity is not None:
            p = self.purity
            out["purity"] = {"k": int(self.k), "mean": p.mean, "std": p.std,
                             "repeats": s.purity_repeats,
                             "reps_per_clustering": self.purity_reps_used,
                             "per_cluster": {str(k): v for k, v in p.per_cluster.items()}}
        out["timings_s"] = {k: round(v, 2) for k, v in self.timings.items()}
        return out

    @property
    def purity_reps_used(self) -> int:
        s = self.settings
        return int(s.purity_reps) if s.purity_reps else min(int(s.reps), 1000)

    # -- files -----------------------------------------------------------------------------
    def save(self, out: Union[str, os.PathLike], plots: bool = True,
             extra_summary: Optional[Dict[str, Any]] = None,
             summary_name: str = "summary.json") -> Path:
        """Write the result to folder ``out`` (created): ``classes.csv``, ``per_k.csv``,
        ``consensus_k{k}.npz``, ``cluster_consensus.csv``, ``suggested_k.json``,
        ``feature_preparation.csv``, ``differential_k{k}.csv``, ``cramers_v.csv`` and
        ``crosstab_k{k}.csv`` (with a cancer-type column), ``igp.csv`` and
        ``validation_classes.csv`` (with a validation set), ``purity.csv``, ``excluded.csv``,
        ``encoder/`` + ``codes.csv`` + ``reconstruction.csv`` (with the autoencoder), PNG
        plots, and ``summary.json`` (or ``summary_name``)."""
        from ..files import atomic_write_text, write_json

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)

        def csv(df: pd.DataFrame, name: str, index: bool = False) -> None:
            atomic_write_text(out / name, df.to_csv(index=index))

        if self.excluded:
            csv(pd.DataFrame({"ID": list(self.excluded), "error": list(self.excluded.values())}),
                "excluded.csv")
        csv(self.preparer.report(), "feature_preparation.csv")
        if self.encoder is not None:
            enc_dir = out / "encoder"
            self.preparer.save(str(enc_dir))
            self.encoder.save(str(enc_dir))
            if self.reconstruction is not None:
                csv(self.reconstruction, "reconstruction.csv", index=True)
            if self.encoder_comparison is not None:    # (its fit times: summary.json only)
                csv(self.encoder_comparison.drop(columns=["fit_seconds"], errors="ignore"),
                    "encoder_comparison.csv", index=True)
            csv(self.codes, "codes.csv", index=True)
            if self.validation_codes is not None:
                csv(self.validation_codes, "validation_codes.csv", index=True)
        cc = self.consensus
        csv(self.classes, "classes.csv", index=True)
        csv(cc.per_k_, "per_k.csv")
        rows = []
        for k in self.ks:
            r = cc.results_[k]
            r.save_npz(out / f"consensus_k{k}.npz", ids=self.codes.index)
            for c in range(k):
                rows.append((k, c + 1, int(r.cluster_sizes[c]), r.cluster_consensus[c]))
        csv(pd.DataFrame(rows, columns=["k", "cluster", "size", "cluster_consensus"]),
            "cluster_consensus.csv")
        write_json(out / "suggested_k.json", self.k_info())
        if self.differential is not None:
            csv(self.differential, f"differential_k{self.k}.csv")
        if self.cramers_v is not None:
            csv(self.cramers_v, "cramers_v.csv")
        if self.crosstab is not None:
            csv(self.crosstab, f"crosstab_k{self.k}.csv", index=True)
        if self.igp is not None:
            csv(self.igp, "igp.csv")
        if self.validation_classes is not None:
            csv(self.validation_classes, "validation_classes.csv", index=True)
        if self.purity is not None:
            df = self.purity.per_repeat.copy()
            df.insert(0, "k", int(self.k))
            csv(df, "purity.csv")
        if plots:
            from ..plots import cdf_plot, consensus_heatmap, delta_area_plot

            consensus_heatmap(cc.results_[self.k].consensus, cc.results_[self.k].classes,
                              k=self.k, path=str(out / f"consensus_k{self.k}.png"))
            cdf_plot({k: cc.results_[k].cdf for k in self.ks}, path=str(out / "cdf.png"))
            delta_area_plot(cc.per_k_, suggested_k=self.suggested_k,
                            path=str(out / "delta_area.png"))
        summ = self.summary()
        summ.update(extra_summary or {})
        write_json(out / summary_name, summ)
        return out


# --------------------------------------------------------------------------------------------
def _name(table: TableLike, what: str) -> str:
    """How errors name a table: its file, or ``what`` for a DataFrame."""
    return what if isinstance(table, pd.DataFrame) else str(table)


def purity_items_per_resampling(n: int, p_item: float) -> int:
    """Tumours the consensus clustering of the smallest training fold of a 5-fold purity run
    draws per resampling: ``floor((n - ceil(n / 5)) * p_item)`` (k must be below it)."""
    return int(np.floor((int(n) - int(np.ceil(int(n) / 5))) * float(p_item)))


def _read(table: TableLike, id_column: str, what: str):
    if isinstance(table, pd.DataFrame):
        df = table
        if id_column not in df.columns:
            df = df.reset_index().rename(columns={df.index.name or "index": id_column})
        return split_feature_table(df, id_column=id_column, source=what)
    return read_feature_table(str(table), id_column=id_column)


def _fit_autoencoder(X, s: DiscoverySettings, seed: int, activation: str):
    from ..encoder import Autoencoder

    return Autoencoder(n_components=s.code_dim, max_epochs=s.ae_epochs, patience=s.ae_patience,
                       batch_size=s.ae_batch_size, seed=seed, code_activation=activation,
                       n_threads=1, hidden_layers=tuple(int(h) for h in s.ae_hidden)).fit(X)


def _codes(enc, X: pd.DataFrame) -> pd.DataFrame:
    cols = [f"code_{i + 1}" for i in range(enc.transform(X.iloc[:1]).shape[1])]
    return pd.DataFrame(enc.transform(X), index=X.index, columns=cols)


def _constant_rows(Z: pd.DataFrame) -> List[str]:
    return [str(i) for i, row in zip(Z.index, Z.to_numpy()) if np.ptp(row) == 0]


def _encode(Xd: pd.DataFrame, Xv: Optional[pd.DataFrame], s: DiscoverySettings, seed: int, say):
    """(encoder, kind, codes, refit note, comparison table) for ``s.encode`` (see module doc)."""
    from ..encoder import PCAEncoder

    kind, comparison = s.encode, None
    if kind == "auto":
        if Xv is not None:
            train, held = Xd, Xv
        else:
            rng = np.random.default_rng(seed)
            idx = rng.permutation(Xd.shape[0])
            n_held = max(2, int(round(s.heldout_fraction * Xd.shape[0])))
            train, held = Xd.iloc[np.sort(idx[n_held:])], Xd.iloc[np.sort(idx[:n_held])]
        rows = []
        for name in ("autoencoder", "pca"):
            t0 = time.perf_counter()
            enc = (_fit_autoencoder(train, s, seed, s.code_activation) if name == "autoencoder"
                   else PCAEncoder(s.code_dim).fit(train))
            rows.append((name, int(s.code_dim), enc.reconstruction_error(train),
                         enc.reconstruction_error(held), time.perf_counter() - t0))
        comparison = pd.DataFrame(rows, columns=["model", "n_components", "train_mse",
                                                 "heldout_mse", "fit_seconds"]).set_index("model")
        comparison.attrs["heldout"] = "validation set" if Xv is not None else \
            f"{held.shape[0]} held-out discovery rows"
        ae_mse, pca_mse = comparison["heldout_mse"]
        kind = "autoencoder" if ae_mse <= pca_mse else "pca"
        say(f"encoder: held-out reconstruction MSE autoencoder {ae_mse:.4g}, PCA {pca_mse:.4g} "
            f"-> {kind}")
    refit = None
    if kind == "pca":
        enc = PCAEncoder(s.code_dim).fit(Xd)
    else:
        enc = _fit_autoencoder(Xd, s, seed, s.code_activation)
        flat = _constant_rows(_codes(enc, Xd))
        if flat and s.code_activation != "linear":
            refit = (f"the {s.code_activation} code was constant for {len(flat)} item(s) "
                     f"({flat[:5]}), so their Pearson correlation is undefined; refitted with a "
                     f"linear code layer")
            say(f"autoencoder: {refit}")
            enc = _fit_autoencoder(Xd, s, seed, "linear")
    Z = _codes(enc, Xd)
    flat = _constant_rows(Z)
    if flat:
        raise ValueError(f"the {kind} code is constant for {len(flat)} item(s) ({flat[:10]}); "
                         f"use a larger code_dim or cluster the features without an encoder")
    return enc, kind, Z, refit, comparison


def discover(features: TableLike, validation: Optional[TableLike] = None,
             id_column: str = "ID", progress: Optional[Callable[[str], None]] = None,
             settings: Optional[DiscoverySettings] = None,
             resampling_progress: Optional[Callable[[int, int], None]] = None,
             **options) -> DiscoveryResult:
    """Discover subtypes in a feature table (see the module docstring).

    ``features`` / ``validation``: a CSV path or a DataFrame (rows = tumours; an ``ID`` column
    or the index identifies them; metadata, ``diag_*`` and ``error`` columns are handled as in
    :mod:`.tables`).  Settings are :class:`DiscoverySettings` fields, given as keywords or as
    ``settings``.  ``progress`` receives one line per step; ``resampling_progress(done, reps)``
    is called after each batch of consensus resamplings (a progress bar with ETA).
    """
    from ..consensus import ConsensusClustering
    from ..validation import (assign_to_centroids, centroids_from_labels, cluster_purity,
                             cluster_repro, consensus_cluster_fn, cramers_v,
                             differential_features)

    s = settings if settings is not None else DiscoverySettings()
    if options:
        unknown = sorted(set(options) - set(DiscoverySettings.__dataclass_fields__))
        if unknown:
            raise TypeError(f"unknown discovery setting(s): {unknown}")
        s = DiscoverySettings(**{**s.__dict__, **options})
    s.check()
    # one seed for every seeded step (consensus, encoder, purity, IGP): the drawn one is
    # recorded, and giving it back repeats the run (purity and the encoder took 0, IGP none)
    s = s.with_seed()
    if s.preprocess != "standardize" and s.weighting != "none":
        # family weighting applies to standardised features only: record what is applied
        s = DiscoverySettings(**{**s.__dict__, "weighting": "none"})
    say = progress or (lambda msg: log.info("%s", msg))
    timings: Dict[str, float] = {}
    t_start = time.perf_counter()

    feats, meta, notes = _read(features, id_column, "features")
    s.check(n_items=feats.shape[0])
    if notes["excluded"]:
        say(f"excluded {len(notes['excluded'])} row(s) with an error or no feature value: "
            f"{list(notes['excluded'])[:10]}")
    if notes["ignored_columns"]:
        say(f"ignored {len(notes['ignored_columns'])} non-feature column(s): "
            f"{list(notes['ignored_columns'])[:10]}")
    vfeats = None
    if validation is not None:
        vfeats, _, vnotes = _read(validation, id_column, "validation")
        if vnotes["excluded"]:
            say(f"validation: excluded {len(vnotes['excluded'])} row(s) with an error or no "
                f"feature value")

    # -- 1. preparation (fitted on discovery only) ---------------------------------------------
    prep = FeaturePreparer(max_missing=s.max_missing, weighting=s.weighting,
                           **PREPROCESS_CHOICES[s.preprocess])
    Xd = prep.fit_transform(feats, source=_name(features, "features"))
    dropped = {c: r for c, r in prep.dropped_.items() if r != "metadata"}
    if dropped:
        say(f"dropped {len(dropped)} feature column(s): "
            + ", ".join(f"{c} ({r})" for c, r in list(dropped.items())[:10]))
    Xv = (prep.transform(vfeats, source=_name(validation, "validation")) if vfeats is not None
          else None)
    seed = int(s.seed)

    # -- 2. encoding -------------------------------------------------------------------------
    enc = refit = rep = comparison = None
    kind = "none"
    Z, Zv = Xd, Xv
    if s.encode != "none":
        t0 = time.perf_counter()
        enc, kind, Z, refit, comparison = _encode(Xd, Xv, s, seed, say)
        if Xv is not None:
            Zv = _codes(enc, Xv)
        if kind == "autoencoder":
            rep = enc.reconstruction_report(Xd, Xv)
            say(f"autoencoder: {enc.n_epochs_} epochs (best {enc.best_epoch_}); reconstruction "
                f"MSE {rep.loc['autoencoder', 'train_mse']:.4f} (PCA "
                f"{rep.loc['pca', 'train_mse']:.4f})")
        timings["encoder"] = time.perf_counter() - t0

    # -- 3. consensus clustering ---------------------------------------------------------------
    t0 = time.perf_counter()
    say(f"consensus clustering: k={s.k_min}..{s.k_max}, {s.reps} resamplings of "
        f"{s.p_item:.0%} of {Z.shape[0]} items")
    cc = ConsensusClustering(k_min=s.k_min, k_max=s.k_max, reps=s.reps, p_item=s.p_item,
                             seed=s.seed, n_jobs=s.n_jobs, r_compatible=s.r_compatible,
                             k_selection=s.k_selection)
    cc.fit(Z, progress=resampling_progress)
    timings["consensus"] = time.perf_counter() - t0
    k_sel = int(s.k) if s.k is not None else int(cc.suggested_k_)
    say(f"suggested k = {cc.suggested_k_}: {cc.k_rule_}")
    res = DiscoveryResult(settings=s, features=feats, meta=meta, excluded=notes["excluded"],
                          ignored_columns=notes["ignored_columns"], preparer=prep, codes=Z,
                          consensus=cc, k=k_sel, encoder=enc, encoder_used=kind,
                          encoder_refit=refit, encoder_comparison=comparison,
                          reconstruction=rep, validation_features=vfeats, validation_codes=Zv)
    labels = cc.results_[k_sel].classes

    # -- 4. statistics -------------------------------------------------------------------------
    res.differential = differential_features(feats[prep.columns_out_], labels,
                                             method=s.differential_method)
    ct = s.cancer_type_column
    if ct and ct in meta.columns and meta[ct].notna().any():
        rows = []
        for k in res.ks:
            try:
                cv = cramers_v(cc.results_[k].classes, meta[ct].to_numpy())
            except ValueError as exc:
                res.notes.append(f"Cramér's V at k={k}: {exc}")
                continue
            rows.append((k, cv.v, cv.chi2, cv.dof, cv.p_value, cv.n))
            if k == k_sel:
                res.crosstab = cv.table.rename_axis(index=f"subtype_k{k}", columns=ct)
        res.cramers_v = pd.DataFrame(rows, columns=["k", "cramers_v", "chi2", "dof", "p_value",
                                                    "n"])
    if Zv is not None:
        t0 = time.perf_counter()
        rows, vclasses = [], {}
        for k in res.ks:
            cen = centroids_from_labels(Z, cc.results_[k].classes)
            igp = cluster_repro(Zv, cen, n_perm=s.igp_permutations, seed=int(s.seed) + k)
            for c, r in igp.iterrows():
                rows.append((k, c, r["igp"], int(r["size"]), r["p_value"], int(r["n_null"])))
            vclasses[f"k{k}"] = np.asarray(cen.index)[assign_to_centroids(Zv, cen)]
        res.igp = pd.DataFrame(rows, columns=["k", "cluster", "igp", "size", "p_value",
                                              "n_null"])
        res.validation_classes = pd.DataFrame(vclasses, index=pd.Index(
            [str(i) for i in Zv.index], name="ID"))
        timings["igp"] = time.perf_counter() - t0
    n_fold_draw = purity_items_per_resampling(len(Z), s.p_item)
    if s.purity_repeats > 0 and len(Z) < 2 * 5:  # cluster_purity's 5 folds need 2 items each
        say(f"purity skipped: {len(Z)} tumours (repeated 5-fold cross-validation needs at least "
            f"10)")
        res.notes.append(f"purity skipped: {len(Z)} tumours, fewer than 10")
    elif s.purity_repeats > 0 and k_sel >= n_fold_draw:
        # a training fold of 4/5 of the tumours, resampled at p_item, must hold more than k
        why = (f"purity skipped: k={k_sel} needs more than the {n_fold_draw} tumours a training "
               f"fold draws per resampling ({len(Z)} tumours, 4/5 per fold, p_item {s.p_item:g})")
        say(why)
        res.notes.append(why)
    elif s.purity_repeats > 0:
        t0 = time.perf_counter()
        fn = consensus_cluster_fn(k_sel, reps=res.purity_reps_used, p_item=s.p_item, seed=seed,
                                  n_jobs=s.n_jobs)
        res.purity = cluster_purity(Z.to_numpy(), fn, full_labels=labels, n_splits=5,
                                    n_repeats=s.purity_repeats, seed=seed)
        timings["purity"] = time.perf_counter() - t0
        say(f"purity (k={k_sel}, {s.purity_repeats} x 5-fold): {res.purity.mean:.3f} "
            f"+/- {res.purity.std:.3f}")
    timings["total"] = time.perf_counter() - t_start
    res.timings = timings
    return res
