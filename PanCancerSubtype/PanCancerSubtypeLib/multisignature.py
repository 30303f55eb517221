"""Radiomic signatures per region of interest and image, combined into one rad-score.

Intra- and peri-tumoural radiomics of several modalities (e.g. ultrasound + MRI of breast cancer:
a LASSO-Cox rad-score per ROI and modality, then one combined rad-score) on a feature table whose
columns say where they come from (:mod:`.radiomics` ``peri<w>mm_`` prefixes, :mod:`.multiimage`
``<image>_`` prefixes):

* :func:`feature_blocks` groups the feature columns into blocks ``<image>_<roi>`` (``intra`` for
  the tumour's own features, ``peri5mm`` ... for a ring), or ``<roi>`` with one image;
* :class:`CombinedSignature` fits a :class:`.signatures.LassoCoxSignature` per block and combines
  the block rad-scores with an unpenalised Cox model.  The combination weights are fitted on
  *out-of-fold* block scores (each patient's block score comes from block models fitted without
  their fold), so that a block that over-fits does not get the weight of its in-sample score;
  the block models used for prediction are then refitted on all patients.  The combined
  rad-score is ``sum_b w_b * score_b`` (higher = higher hazard).  ``oof_c_index_`` reports
  Harrell's C of each block's and of the combined out-of-fold scores: an honest estimate of
  discrimination when the folds are the only fitting done on the same patients (the combiner's
  own weights are in-sample; validate on independent data before any claim).
"""
from __future__ import annotations

import logging
import re
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from .errors import SurvivalDataError
from .preprocessing import check_fitted

log = logging.getLogger(__name__)

__all__ = ["feature_blocks", "CombinedSignature", "report_section"]

_ROI = re.compile(r"^peri[0-9]+(?:p[0-9]+)?mm$")
#: first tokens of column names that are not an image name
_NOT_IMAGE = ("original", "wavelet", "square", "squareroot", "logarithm", "exponential",
              "gradient", "shape", "regional", "deep")


def _is_feature_start(token: str) -> bool:
    return (bool(_ROI.match(token)) or token in _NOT_IMAGE
            or token.startswith(("wavelet-", "log-sigma-", "lbp-")))


def feature_blocks(columns: Sequence[str], images: Optional[Sequence[str]] = None
                   ) -> Dict[str, List[str]]:
    """Blocks of feature columns by image and ROI: ``{"T1c_intra": [...], "T1c_peri5mm": [...],
    ...}``; without image prefixes ``{"intra": [...], "peri5mm": [...]}``.

    ``images``: the image names (the ``X`` of ``Image_X``); default: every first token of a
    column name that is not the start of a feature name (PyRadiomics image types, ``shape``,
    ``regional``, ``deep``, ``peri<w>mm``).  Given, the columns of other images (a first token
    that is neither a listed image nor the start of a feature name) are left out, with a
    warning naming them: they were put into the ``intra`` block, rings included."""
    cols = [str(c) for c in columns]
    if images is None:
        images = sorted({c.split("_", 1)[0] for c in cols if "_" in c
                         and not _is_feature_start(c.split("_", 1)[0])})
    images = list(images)
    blocks: Dict[str, List[str]] = {}
    others: Dict[str, int] = {}
    for c in cols:
        img, rest = None, c
        head, _, tail = c.partition("_")
        if head in images and tail:
            img, rest = head, tail
        elif tail and not _is_feature_start(head):
            others[head] = others.get(head, 0) + 1
            continue
        head2, _, tail2 = rest.partition("_")
        roi = head2 if _ROI.match(head2) and tail2 else "intra"
        key = roi if img is None else f"{img}_{roi}"
        blocks.setdefault(key, []).append(c)
    if others:
        log.warning("feature columns of images not listed left out: %s",
                    ", ".join(f"{k}_ ({n})" for k, n in sorted(others.items())))
    return blocks


class CombinedSignature(BaseEstimator):
    """LASSO-Cox rad-score per block and their Cox combination (see the module docstring).

    Parameters: ``blocks`` ({name: columns}; default :func:`feature_blocks` of the columns of
    ``X``), ``cv`` / ``rule`` / ``n_alphas`` of each block's :class:`.signatures.
    LassoCoxSignature`, ``stack_folds`` (folds of the out-of-fold scores, stratified by event),
    ``random_state``.

    Attributes after ``fit``: ``blocks_`` (the blocks used), ``block_models_``, ``weights_``
    (Series: combination coefficient per block), ``oof_scores_`` (DataFrame), ``oof_c_index_``
    (Series: each block and ``combined``), ``dropped_`` ({block: why it was left out}).
    """

    def __init__(self, blocks: Optional[Mapping[str, Sequence[str]]] = None, cv: int = 5,
                 rule: str = "1se", n_alphas: int = 50, stack_folds: int = 5,
                 random_state: Optional[int] = 0):
        self.blocks = blocks
        self.cv = cv
        self.rule = rule
        self.n_alphas = n_alphas
        self.stack_folds = stack_folds
        self.random_state = random_state

    def _block_model(self):
        from .signatures import LassoCoxSignature

        return LassoCoxSignature(n_alphas=self.n_alphas, cv=self.cv, rule=self.rule,
                                 random_state=self.random_state)

    def fit(self, X: pd.DataFrame, time, event):
        from sklearn.model_selection import StratifiedKFold

        from .survival import c_index
        from .survival_eval import efron_cox

        if not isinstance(X, pd.DataFrame):
            raise TypeError("X must be a DataFrame (its column names define the blocks)")
        t = np.asarray(time, float)
        e = np.asarray(event).astype(int)
        blocks = dict(self.blocks) if self.blocks is not None else feature_blocks(X.columns)
        self.dropped_: Dict[str, str] = {}
        models, full_scores = {}, {}
        for name, cols in blocks.items():
            cols = [c for c in cols if X[c].std() > 0]
            if not cols:
                self.dropped_[name] = "no non-constant column"
                continue
            try:
                models[name] = self._block_model().fit(X[cols], t, e)
                full_scores[name] = models[name].predict(X[cols])
            except SurvivalDataError as exc:
                self.dropped_[name] = str(exc)
        if not models:
            raise SurvivalDataError(f"no block gave a signature: {self.dropped_}")
        names = list(models)
        oof = np.full((len(t), len(names)), np.nan)
        folds = StratifiedKFold(self.stack_folds, shuffle=True, random_state=self.random_state)
        for tr, te in folds.split(X, e):
            for j, name in enumerate(names):
                cols = models[name].feature_names_in_
                Xtr = X.iloc[tr][cols]
                keep = [c for c in cols if Xtr[c].std() > 0]
                try:
                    m = self._block_model().fit(Xtr[keep], t[tr], e[tr])
                    oof[te, j] = m.predict(X.iloc[te][keep])
                except SurvivalDataError:
                    oof[te, j] = 0.0          # no signature in this fold: a score of 0
        # scores on a common scale (the combiner's coefficients are per SD of each score)
        mu, sd = oof.mean(axis=0), oof.std(axis=0)
        sd[sd == 0] = 1.0
        fit = efron_cox((oof - mu) / sd, t, e)
        w = fit["coef"] / sd
        self.blocks_ = {n: list(models[n].feature_names_in_) for n in names}
        self.block_models_ = models
        self.weights_ = pd.Series(w, index=names, name="weight")
        self.oof_scores_ = pd.DataFrame(oof, columns=names, index=X.index)
        combined = oof @ w
        cis = {n: c_index(t, e, oof[:, j], n_boot=0)["value"] for j, n in enumerate(names)}
        cis["combined"] = c_index(t, e, combined, n_boot=0)["value"]
        self.oof_c_index_ = pd.Series(cis, name="oof_c_index")
        self.apparent_c_index_ = c_index(
            t, e, np.column_stack([full_scores[n] for n in names]) @ w, n_boot=0)["value"]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Rad-score of each block (columns = blocks)."""
        check_fitted(self, "block_models_")
        if not isinstance(X, pd.DataFrame):
            raise TypeError("X must be a DataFrame (its column names define the blocks)")
        return pd.DataFrame({n: m.predict(X) for n, m in self.block_models_.items()},
                            index=X.index)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Combined rad-score ``sum_b w_b * score_b`` (higher = higher hazard)."""
        return self.transform(X).to_numpy() @ self.weights_.to_numpy()

    def summary(self) -> pd.DataFrame:
        """One row per block: number of features, selected features, weight, out-of-fold C."""
        rows = [{"block": n, "n_features": len(self.blocks_[n]),
                 "n_selected": len(m.selected_features_),
                 "selected": ", ".join(m.selected_features_[:10]),
                 "weight": float(self.weights_[n]), "oof_c_index": float(self.oof_c_index_[n])}
                for n, m in self.block_models_.items()]
        rows.append({"block": "combined", "n_features": sum(len(v) for v in self.blocks_.values()),
                     "n_selected": sum(len(m.selected_features_)
                                       for m in self.block_models_.values()),
                     "selected": "", "weight": float("nan"),
                     "oof_c_index": float(self.oof_c_index_["combined"])})
        return pd.DataFrame(rows)


#: PyRadiomics settings of the report section: first-order statistics of the original image
REPORT_PARAMS = {"setting": {"binWidth": 25}, "imageType": {"Original": {}},
                 "featureClass": {"firstorder": []}}


def report_section(report, manifest: pd.DataFrame, out_dir, time: str = "time",
                   event: str = "event", width_mm: float = 5.0, workers: Optional[int] = None,
                   params: Optional[Mapping] = None, seed: int = 0,
                   anchor: str = "peritumoural",
                   title: str = "Intra- and peri-tumoural radiomic signatures") -> Dict:
    """Add a section to a :class:`~.report.Report`: PyRadiomics features (first-order by
    default, ``params``) of the tumour and of its ``width_mm`` ring for every case of
    ``manifest`` (cohort runner, resumable, in ``out_dir``), a LASSO-Cox rad-score per ROI and
    their combination (:class:`CombinedSignature`) against ``time`` / ``event`` (columns of
    ``manifest``).  Returns a summary dict."""
    from pathlib import Path

    from .cohort import run_cohort
    from .tables import feature_columns

    params = dict(params or REPORT_PARAMS)
    cols = [c for c in ("ID", "Image", "Mask", "Label", "OrganMask", "Modality", "Organ",
                        "CancerType") if c in manifest.columns]
    feats = run_cohort(manifest[cols], Path(out_dir) / "peritumoural_features.csv",
                       groups="radiomics,peritumoural",
                       group_options={"radiomics": {"params": params},
                                      "peritumoural": {"params": params,
                                                       "width_mm": width_mm}},
                       workers=workers, progress=False,
                       command="peritumoural report section")
    ok = feats[feats["error"] == ""].set_index("ID")
    X = ok[feature_columns(ok.reset_index(), ignore=["ID"])].dropna(axis=1)
    surv = manifest.set_index("ID").loc[X.index]
    sig = CombinedSignature(n_alphas=30, cv=3, stack_folds=5, random_state=seed).fit(
        X, surv[time].to_numpy(float), surv[event].to_numpy(int))
    summ = sig.summary()
    report.section(anchor, title)
    report.kpis([("cases", len(X)), ("ring width", f"{width_mm:g} mm"),
                 ("combined out-of-fold C-index", f"{sig.oof_c_index_['combined']:.2f}")])
    report.table(summ.set_index("block").drop(columns=["selected"]),
                 caption="LASSO-Cox rad-score per ROI (tumour = intra, ring = peri) and their Cox "
                         "combination fitted on out-of-fold scores; C-index of the out-of-fold "
                         "scores")
    return {"n": int(len(X)), "blocks": summ.to_dict(orient="records"),
            "weights": sig.weights_.to_dict(),
            "oof_c_index": sig.oof_c_index_.to_dict(),
            "n_failed": int((feats["error"] != "").sum())}
