"""The paper's discovery / validation design (Wu et al. 2021, Methods), as one call.

:func:`discovery_validation`:

1. **split** the tumours into a discovery and a validation set, stratified by cancer type
   (``validation_fraction`` of each type, seeded);
2. **discovery** (:func:`~.pipeline.discover`): preparation and the encoder are fitted on the
   discovery set only and applied unchanged to the validation set; consensus clustering of the
   discovery set gives the subtypes and k;
3. **validation**: consensus clustering of the validation set on its own (same k range), and the
   in-group proportion (IGP, clusterRepro) of the validation set against the discovery centroids,
   with permutation p-values, for every k; the agreement (ARI) between the validation set's own
   clusters and its nearest-centroid assignment;
4. **purity** per cancer type: repeated 5-fold cross-validation of the discovery clustering within
   the discovery tumours of each type (and overall);
5. the **whole population** clustered with the same settings: the subtypes used downstream.

:class:`DesignResult` holds the three discovery results and the tables; ``save`` writes them
(``discovery/``, ``validation/``, ``whole/`` and the design tables).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple, Union

import numpy as np
import pandas as pd

from .pipeline import (DiscoveryResult, DiscoverySettings, TableLike, _read, discover,
                       purity_items_per_resampling)


def stratified_split(ids, strata, fraction: float, seed: int) -> Tuple[list, list]:
    """(discovery IDs, validation IDs): ``round(fraction * n_s)`` of each stratum ``s`` (at least
    one, and at least one left) go to validation, drawn with ``seed``; order as in ``ids``."""
    ids = [str(i) for i in ids]
    strata = ["" if s is None or (isinstance(s, float) and np.isnan(s)) else str(s)
              for s in strata]
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    val = set()
    for s in sorted(set(strata)):
        members = [i for i, t in zip(ids, strata) if t == s]
        n_val = int(round(fraction * len(members)))
        n_val = min(max(n_val, 1 if len(members) > 1 else 0), len(members) - 1)
        val.update(rng.choice(members, size=n_val, replace=False).tolist() if n_val else [])
    return [i for i in ids if i not in val], [i for i in ids if i in val]


@dataclass
class DesignResult:
    """What :func:`discovery_validation` found (see the module docstring)."""

    discovery: DiscoveryResult            # discovery set; its IGP / validation_classes are the
    validation_consensus: Any             # validation set's own consensus clustering
    whole: DiscoveryResult                # whole population: the subtypes used downstream
    split: pd.DataFrame                   # ID, set ("discovery" / "validation"), cancer type
    purity_by_type: pd.DataFrame          # cancer type, n, k, purity mean, sd
    validation_agreement: pd.DataFrame    # k, ARI(own clusters, nearest-centroid assignment)
    timings: Dict[str, float] = field(default_factory=dict)

    @property
    def k(self) -> int:
        return int(self.discovery.k)

    def igp_at(self, k: Optional[int] = None) -> pd.DataFrame:
        k = self.k if k is None else int(k)
        igp = self.discovery.igp
        return igp[igp["k"] == k].reset_index(drop=True)

    def summary(self) -> Dict[str, Any]:
        igp = self.igp_at()
        vc = self.validation_consensus
        return {
            "n_discovery": int((self.split["set"] == "discovery").sum()),
            "n_validation": int((self.split["set"] == "validation").sum()),
            "discovery_k": int(self.discovery.k), "discovery_rule": self.discovery.k_rule,
            "validation_own_k": int(vc.suggested_k_), "whole_k": int(self.whole.k),
            "whole_rule": self.whole.k_rule,
            "igp": [{"cluster": int(r.cluster), "igp": float(r.igp), "size": int(r.size),
                     "p_value": float(r.p_value)} for r in igp.itertuples()],
            "igp_min": float(igp["igp"].min()) if len(igp) else None,
            # None where the validation set is too small to be clustered at the discovery k
            "validation_agreement_ari": (
                float(self.validation_agreement.set_index("k").loc[self.k, "ari"])
                if self.k in set(self.validation_agreement["k"]) else None),
            "purity": {"overall": (None if self.discovery.purity is None else
                                   float(self.discovery.purity.mean)),
                       "by_cancer_type": {str(r.cancer_type): float(r.purity)
                                          for r in self.purity_by_type.itertuples()
                                          if r.cancer_type != "all"}},
            "encoder": self.discovery.encoder_used,
            "encoder_comparison": (None if self.discovery.encoder_comparison is None else
                                   self.discovery.encoder_comparison.to_dict(orient="index")),
            "timings_s": {k: round(v, 2) for k, v in self.timings.items()},
        }

    def save(self, out: Union[str, os.PathLike], plots: bool = False) -> Path:
        from ..files import atomic_write_text, write_json

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        self.discovery.save(out / "discovery", plots=plots)
        self.whole.save(out / "whole", plots=plots)
        atomic_write_text(out / "split.csv", self.split.to_csv(index=False))
        atomic_write_text(out / "purity_by_cancer_type.csv",
                          self.purity_by_type.to_csv(index=False))
        atomic_write_text(out / "validation_agreement.csv",
                          self.validation_agreement.to_csv(index=False))
        atomic_write_text(out / "validation_consensus_per_k.csv",
                          self.validation_consensus.per_k_.to_csv(index=False))
        write_json(out / "design_summary.json", self.summary())
        return out


def discovery_validation(features: TableLike, cancer_type_column: str = "CancerType",
                         validation_fraction: float = 1 / 3, split_seed: int = 0,
                         id_column: str = "ID", progress: Optional[Callable[[str], None]] = None,
                         settings: Optional[DiscoverySettings] = None,
                         resampling_progress: Optional[Callable[[int, int], None]] = None,
                         **options) -> DesignResult:
    """Run the discovery / validation design on one feature table (see the module docstring).

    ``settings`` / ``options`` are :class:`~.pipeline.DiscoverySettings` for every clustering
    (``purity_repeats`` is used for the discovery set and per cancer type; the whole population
    gets none).  ``split_seed`` draws the split.  ``resampling_progress(done, total)`` follows
    the resampling loop of each consensus clustering in turn (discovery set, validation set, whole
    population).
    """
    from sklearn.metrics import adjusted_rand_score

    from ..consensus import ConsensusClustering
    from ..validation import cluster_purity, consensus_cluster_fn

    s = settings if settings is not None else DiscoverySettings()
    if options:
        s = DiscoverySettings(**{**s.__dict__, **options})
    s.check()
    s = s.with_seed()           # one seed for every clustering of the design (recorded)
    say = progress or (lambda msg: None)
    timings: Dict[str, float] = {}
    feats, meta, notes = _read(features, id_column, "features")
    table = feats.join(meta)
    table.insert(0, id_column, table.index)
    strata = (meta[cancer_type_column].to_numpy() if cancer_type_column in meta.columns
              else np.full(len(meta), ""))
    disc_ids, val_ids = stratified_split(feats.index, strata, validation_fraction, split_seed)
    split = pd.DataFrame({id_column: [str(i) for i in feats.index],
                          "set": ["validation" if str(i) in set(val_ids) else "discovery"
                                  for i in feats.index],
                          "cancer_type": strata})
    say(f"split: {len(disc_ids)} discovery, {len(val_ids)} validation tumours "
        f"(stratified by {cancer_type_column})")

    t0 = time.perf_counter()
    disc = discover(table.loc[disc_ids], validation=table.loc[val_ids], id_column=id_column,
                    settings=s, progress=lambda m: say(f"discovery: {m}"),
                    resampling_progress=resampling_progress)
    timings["discovery"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    Zv = disc.validation_codes
    if int(len(val_ids) * s.p_item) - 1 < s.k_min:
        raise ValueError(f"the validation set ({len(val_ids)} tumours) is too small to cluster at "
                         f"k >= {s.k_min} with {s.p_item:g} of it per resampling; give more "
                         f"tumours or a larger validation fraction")
    vcc = ConsensusClustering(k_min=s.k_min, k_max=min(s.k_max, int(len(val_ids) * s.p_item) - 1),
                              reps=s.reps, p_item=s.p_item, seed=s.seed, n_jobs=s.n_jobs,
                              r_compatible=s.r_compatible,
                              k_selection=s.k_selection).fit(Zv, progress=resampling_progress)
    agree = []
    for k in sorted(vcc.results_):
        if f"k{k}" in disc.validation_classes.columns:
            agree.append((k, float(adjusted_rand_score(disc.validation_classes[f"k{k}"],
                                                       vcc.results_[k].classes))))
    agreement = pd.DataFrame(agree, columns=["k", "ari"])
    say(f"validation: own consensus k = {vcc.suggested_k_}; IGP at k = {disc.k}: "
        + ", ".join(f"{r.igp:.2f}" for r in disc.igp[disc.igp.k == disc.k].itertuples()))
    timings["validation"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    rows = []
    seed = int(s.seed)
    if disc.purity is not None:
        rows.append(("all", disc.codes.shape[0], disc.k, disc.purity.mean, disc.purity.std))
    if s.purity_repeats > 0:
        types = pd.Series(strata, index=[str(i) for i in feats.index]).loc[
            [str(i) for i in disc.codes.index]]
        labels = disc.labels
        for t in sorted(set(types)):
            sub = types.index[types == t]
            # the smallest training fold's draw (the largest's let k through: the run then
            # failed after all its work)
            n_draw = purity_items_per_resampling(len(sub), s.p_item)
            if len(sub) < 10 or disc.k >= n_draw:
                continue
            fn = consensus_cluster_fn(disc.k, reps=disc.purity_reps_used, p_item=s.p_item,
                                      seed=seed, n_jobs=s.n_jobs)
            pur = cluster_purity(disc.codes.loc[sub].to_numpy(), fn,
                                 full_labels=labels.loc[sub].to_numpy(), n_splits=5,
                                 n_repeats=s.purity_repeats, seed=seed)
            rows.append((t, len(sub), disc.k, pur.mean, pur.std))
    purity = pd.DataFrame(rows, columns=["cancer_type", "n", "k", "purity", "sd"])
    timings["purity"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    whole = discover(table, id_column=id_column,
                     settings=DiscoverySettings(**{**s.__dict__, "purity_repeats": 0}),
                     progress=lambda m: say(f"whole population: {m}"),
                     resampling_progress=resampling_progress)
    timings["whole"] = time.perf_counter() - t0
    return DesignResult(discovery=disc, validation_consensus=vcc, whole=whole, split=split,
                        purity_by_type=purity, validation_agreement=agreement, timings=timings)
