"""Reproducibility and description of discovered subtypes.

* :func:`igp` / :func:`cluster_repro`: in-group proportion (Kapp & Tibshirani, Biostatistics 2007)
  exactly as R's ``clusterRepro`` 0.9 (``IGP.clusterRepro`` and ``clusterRepro``), with its
  permutation p-value.
* :func:`cluster_purity`: repeated 5-fold cross-validation of a clustering (Wu et al. 2021, Methods).
* :func:`differential_features`: each subtype versus the rest, Mann-Whitney U with rank-biserial
  effect size (or Welch's t with Hedges' g), Benjamini-Hochberg FDR (:func:`bh_fdr`).
* :func:`cramers_v`: Cramér's V with its chi-square p-value between two categorical labelings.

Orientation: every table here is **items x features** (rows = samples), the transpose of R's
clusterRepro (features x samples); centroids are **clusters x features**.  Unlike clusterRepro
(``use = "pairwise.complete.obs"``) missing values are refused: prepare the tables with
:class:`~.encoder.FeaturePreparer` first, which imputes them with the discovery medians.
R's clusterRepro is a CRAN-only package (not installable here: no Debian package, CRAN
unreachable), so :func:`igp` is tested against hand-computed examples and a line-by-line port.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Sequence, Union

import numpy as np
import pandas as pd

from .multitest import bh_fdr  # noqa: F401  (public here too: differential features use it)

log = logging.getLogger(__name__)

ArrayLike = Union[np.ndarray, pd.DataFrame]


# --------------------------------------------------------------------------------------------
# correlation helpers
# --------------------------------------------------------------------------------------------
def _zrows(a: np.ndarray) -> np.ndarray:
    """Rows centred and scaled to unit norm (Pearson correlation = dot product).  A constant row
    becomes NaN (its correlation with anything is undefined, as R's ``cor`` gives NA)."""
    a = np.asarray(a, dtype=float)
    c = a - a.mean(axis=1, keepdims=True)
    nrm = np.sqrt((c * c).sum(axis=1, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        return c / np.where(nrm > 0, nrm, np.nan)


def pearson_rows(A, B) -> np.ndarray:
    """Pearson correlation between every row of ``A`` (n x p) and every row of ``B`` (m x p)."""
    return _zrows(A) @ _zrows(B).T


def _argmax_nan(c: np.ndarray) -> np.ndarray:
    """Row-wise argmax ignoring NaN (R's ``which.max``; first maximum on ties)."""
    c = np.where(np.isnan(c), -np.inf, c)
    return np.argmax(c, axis=1)


def _as_array(X, what: str) -> np.ndarray:
    a = X.to_numpy(dtype=float) if isinstance(X, pd.DataFrame) else np.asarray(X, dtype=float)
    if a.ndim != 2:
        raise ValueError(f"{what}: expected a 2D table, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{what}: contains {int((~np.isfinite(a)).sum())} non-finite value(s)")
    return a


def _align(X_new, centroids):
    """Restrict both to their common feature columns when both are DataFrames (as clusterRepro
    does with row names); otherwise require the same number of columns."""
    if isinstance(X_new, pd.DataFrame) and isinstance(centroids, pd.DataFrame):
        common = [c for c in X_new.columns if c in set(centroids.columns)]
        if not common:
            raise ValueError("X_new and centroids have no feature column in common")
        return X_new[common], centroids[common]
    if np.shape(X_new)[1] != np.shape(centroids)[1]:
        raise ValueError(f"X_new has {np.shape(X_new)[1]} features, centroids "
                         f"{np.shape(centroids)[1]}")
    return X_new, centroids


def centroids_from_labels(X: ArrayLike, labels: Sequence) -> pd.DataFrame:
    """Cluster means (clusters x features), index = sorted cluster labels."""
    df = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=float))
    lab = np.asarray(labels)
    if len(lab) != df.shape[0]:
        raise ValueError(f"{len(lab)} labels for {df.shape[0]} rows")
    return df.groupby(pd.Series(lab, index=df.index)).mean().sort_index()


def assign_to_centroids(X: ArrayLike, centroids: ArrayLike) -> np.ndarray:
    """Index (0-based row of ``centroids``) of the centroid with the highest Pearson correlation
    to each row of ``X`` (ties -> first centroid)."""
    X, centroids = _align(X, centroids)
    return _argmax_nan(pearson_rows(_as_array(X, "X"), _as_array(centroids, "centroids")))


# --------------------------------------------------------------------------------------------
# IGP (clusterRepro)
# --------------------------------------------------------------------------------------------
@dataclass
class IGPResult:
    """``classes``: 0-based centroid index of each sample; ``igp`` / ``size``: per centroid
    (``igp`` is NaN for a centroid no sample was assigned to), index = centroid labels."""

    classes: np.ndarray
    igp: pd.Series
    size: pd.Series


def _nearest_neighbour(Xz: np.ndarray) -> np.ndarray:
    c = Xz @ Xz.T
    np.fill_diagonal(c, -np.inf)
    return _argmax_nan(c)


def _igp_from(classes: np.ndarray, nn: np.ndarray, k: int):
    same = classes == classes[nn]
    size = np.bincount(classes, minlength=k).astype(float)
    hits = np.bincount(classes, weights=same.astype(float), minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return hits / size, size


def igp(X_new: ArrayLike, centroids: ArrayLike) -> IGPResult:
    """In-group proportion of each centroid's class in ``X_new`` (``IGP.clusterRepro``).

    Each sample of ``X_new`` (items x features) is classified to the centroid (rows of
    ``centroids``, clusters x features) with the highest Pearson correlation across features;
    its nearest neighbour is the other sample with the highest Pearson correlation.  ``IGP_c`` is
    the fraction of samples classified ``c`` whose nearest neighbour is also classified ``c``.
    DataFrames are restricted to their common columns (as clusterRepro restricts to common rows).
    """
    X_new, centroids = _align(X_new, centroids)
    labels = (list(centroids.index) if isinstance(centroids, pd.DataFrame)
              else list(range(1, np.shape(centroids)[0] + 1)))
    x = _as_array(X_new, "X_new")
    c = _as_array(centroids, "centroids")
    if x.shape[0] < 2:
        raise ValueError("IGP needs at least 2 samples")
    xz = _zrows(x)
    classes = _argmax_nan(xz @ _zrows(c).T)
    nn = _nearest_neighbour(xz)
    val, size = _igp_from(classes, nn, c.shape[0])
    return IGPResult(classes=classes, igp=pd.Series(val, index=labels, name="igp"),
                     size=pd.Series(size.astype(int), index=labels, name="size"))


def _permute_columns(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """clusterRepro's ``permuteCol``: each column's entries shuffled independently."""
    idx = np.argsort(rng.random(a.shape), axis=0)
    return np.take_along_axis(a, idx, axis=0)


def cluster_repro(X_new: ArrayLike, centroids: ArrayLike, n_perm: int = 1000,
                  seed: Optional[int] = None) -> pd.DataFrame:
    """IGP with clusterRepro's permutation p-value.

    Algorithm of ``clusterRepro::clusterRepro`` (0.9), with the features x clusters centroid
    matrix ``C = t(centroids)``:

    1. actual IGP and size of each class (:func:`igp`);
    2. ``C = U D V^T`` (SVD); ``C' = C V`` (the centroids in their principal coordinates);
    3. for each of ``n_perm`` permutations: shuffle the entries of each column of ``C'``
       independently (over features), rotate back ``C* = C'_perm V^T``, and compute IGP and size of
       every class against ``C*``;
    4. for class ``c``: among all (permutation, class) null values whose size equals the actual
       size of ``c``, ``p_c`` = fraction with null IGP ``>=`` actual IGP; ``n_null`` = how many
       such values there were.  ``p_c`` is NaN (``n_null`` 0) when no null value had that size or
       the class is empty.

    The nearest neighbours do not depend on the centroids, so they are computed once.  The random
    numbers come from NumPy (``seed``), not R's generator: p-values agree with R's in
    distribution, not digit for digit.

    Returns a DataFrame indexed by centroid label with columns ``igp, size, p_value, n_null``.
    """
    X_new, centroids = _align(X_new, centroids)
    labels = (list(centroids.index) if isinstance(centroids, pd.DataFrame)
              else list(range(1, np.shape(centroids)[0] + 1)))
    x = _as_array(X_new, "X_new")
    cen = _as_array(centroids, "centroids")
    k = cen.shape[0]
    xz = _zrows(x)
    nn = _nearest_neighbour(xz)
    actual, asize = _igp_from(_argmax_nan(xz @ _zrows(cen).T), nn, k)
    C = cen.T                                    # features x clusters, as in R
    _, _, vt = np.linalg.svd(C, full_matrices=False)
    V = vt.T
    Cp = C @ V
    rng = np.random.default_rng(seed)
    null_igp = np.empty((int(n_perm), k))
    null_size = np.empty((int(n_perm), k))
    for r in range(int(n_perm)):
        Cn = _permute_columns(Cp, rng) @ V.T
        cls = _argmax_nan(xz @ _zrows(Cn.T).T)
        null_igp[r], null_size[r] = _igp_from(cls, nn, k)
    null_igp, null_size = null_igp.ravel(), null_size.ravel()
    p = np.full(k, np.nan)
    nnull = np.zeros(k, dtype=int)
    for i in range(k):
        same = null_igp[null_size == asize[i]]
        if asize[i] == 0 or same.size == 0:
            continue
        p[i] = np.count_nonzero(same >= actual[i]) / same.size
        nnull[i] = same.size
    return pd.DataFrame({"igp": actual, "size": asize.astype(int), "p_value": p,
                         "n_null": nnull}, index=pd.Index(labels, name="cluster"))


# --------------------------------------------------------------------------------------------
# cluster purity
# --------------------------------------------------------------------------------------------
def match_labels(reference: Sequence, labels: Sequence) -> Dict:
    """Hungarian matching of ``labels`` to ``reference`` maximising agreement.  Returns a dict
    label -> reference label (labels without a partner map to themselves-marked ``None``)."""
    from scipy.optimize import linear_sum_assignment

    ref = np.asarray(reference)
    lab = np.asarray(labels)
    r_u, r_inv = np.unique(ref, return_inverse=True)
    l_u, l_inv = np.unique(lab, return_inverse=True)
    table = np.zeros((len(l_u), len(r_u)))
    np.add.at(table, (l_inv, r_inv), 1)
    rows, cols = linear_sum_assignment(-table)
    mapping = {l_u[i]: None for i in range(len(l_u))}
    for i, j in zip(rows, cols):
        mapping[l_u[i]] = r_u[j]
    return mapping


@dataclass
class PurityResult:
    """``per_repeat``: DataFrame ``repeat, purity``; ``per_fold``: ``repeat, fold, n_test,
    purity``; ``per_cluster``: mean over repeats of the fraction of each full-data cluster's items
    predicted back into it; ``mean`` / ``std`` over repeats."""

    per_repeat: pd.DataFrame
    per_fold: pd.DataFrame
    per_cluster: pd.Series
    mean: float
    std: float
    full_labels: np.ndarray = field(repr=False)


def cluster_purity(X: ArrayLike, cluster_fn: Callable[[np.ndarray], Sequence],
                   full_labels: Optional[Sequence] = None, n_splits: int = 5,
                   n_repeats: int = 10, seed: Optional[int] = None) -> PurityResult:
    """Cluster purity by repeated ``n_splits``-fold cross-validation (Wu et al. 2021, Methods).

    For every repeat the items are shuffled into ``n_splits`` folds.  For every fold the
    clustering ``cluster_fn`` is trained on the other folds (4/5 of the items); each held-out item
    is assigned to the training cluster whose centroid (mean of its training members) has the
    highest Pearson correlation with it.  The training clusters are mapped to the full-data
    clusters by Hungarian matching on the **training** items (so the held-out items do not
    influence the matching); purity of the repeat = fraction of all items whose held-out prediction
    equals their full-data cluster.

    Parameters
    ----------
    X : items x features
    cluster_fn : callable ``X_train -> labels`` (one label per row), e.g. from
        :func:`consensus_cluster_fn`.  Any clustering works.
    full_labels : the full-data assignment; computed as ``cluster_fn(X)`` when ``None``.
    """
    from sklearn.model_selection import KFold

    x = _as_array(X, "X")
    n = x.shape[0]
    if n < n_splits * 2:
        raise ValueError(f"cluster purity needs at least {2 * n_splits} items, got {n}")
    full = np.asarray(cluster_fn(x) if full_labels is None else full_labels)
    if len(full) != n:
        raise ValueError(f"{len(full)} full-data labels for {n} items")
    clusters = np.unique(full)
    rs = np.random.RandomState(seed)
    rep_rows, fold_rows, per_cluster = [], [], []
    for rep in range(int(n_repeats)):
        kf = KFold(n_splits=n_splits, shuffle=True, random_state=rs.randint(2 ** 31 - 1))
        pred = np.empty(n, dtype=object)
        for fold, (tr, te) in enumerate(kf.split(x)):
            lab_tr = np.asarray(cluster_fn(x[tr]))
            if len(lab_tr) != len(tr):
                raise ValueError(f"cluster_fn returned {len(lab_tr)} labels for {len(tr)} items")
            cen = centroids_from_labels(x[tr], lab_tr)
            idx = _argmax_nan(pearson_rows(x[te], cen.to_numpy()))
            mapping = match_labels(full[tr], lab_tr)
            pred[te] = [mapping[l] for l in cen.index[idx]]
            fold_rows.append((rep, fold, len(te), float(np.mean(pred[te] == full[te]))))
        ok = pred == full
        rep_rows.append((rep, float(ok.mean())))
        per_cluster.append([float(ok[full == c].mean()) for c in clusters])
    per_repeat = pd.DataFrame(rep_rows, columns=["repeat", "purity"])
    vals = per_repeat["purity"].to_numpy()
    return PurityResult(
        per_repeat=per_repeat,
        per_fold=pd.DataFrame(fold_rows, columns=["repeat", "fold", "n_test", "purity"]),
        per_cluster=pd.Series(np.mean(per_cluster, axis=0), index=clusters, name="purity"),
        mean=float(vals.mean()), std=float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
        full_labels=full)


def consensus_cluster_fn(k: int, seed: Optional[int] = None,
                         **params) -> Callable[[np.ndarray], np.ndarray]:
    """A ``cluster_fn`` for :func:`cluster_purity`: consensus clustering with ``k`` clusters
    (``params`` go to :class:`~.consensus.ConsensusClustering`, e.g. ``reps``, ``p_item``,
    ``n_jobs``); returns the final classes (1..k) at ``k``.

    Call number ``i`` (0, 1, ...) uses seed ``seed + i``: folds of equal size would otherwise draw
    identical resampling index patterns (and, with few ``reps``, leave the same positions
    unsampled in every fold).  ``seed=None`` draws a fresh seed per call."""
    calls = [0]

    def fn(x):
        from .consensus import ConsensusClustering

        s = None if seed is None else int(seed) + calls[0]
        calls[0] += 1
        cc = ConsensusClustering(k_min=k, k_max=k, seed=s, **params).fit(np.asarray(x))
        return np.asarray(cc.results_[k].classes)
    return fn


# --------------------------------------------------------------------------------------------
# differential features, FDR, Cramér's V
# --------------------------------------------------------------------------------------------
def differential_features(X: pd.DataFrame, labels: Sequence, method: str = "mannwhitney",
                          ) -> pd.DataFrame:
    """Each subtype versus the rest, for every feature column of ``X`` (items x features).

    ``method="mannwhitney"`` (default; rank based, so it does not assume normality and is
    unchanged by monotone rescaling of a feature): two-sided Mann-Whitney U (SciPy, asymptotic
    with tie correction, exact for small samples), effect = rank-biserial correlation
    ``2 U / (n_in n_out) - 1`` in [-1, 1] (> 0: higher in the subtype).
    ``method="welch"``: Welch's t-test, effect = Hedges' g (pooled-SD standardised mean
    difference with small-sample correction).

    NaN values are left out per feature.  ``q_value`` is the Benjamini-Hochberg FDR over **all**
    (subtype, feature) tests of the table.  Rows are sorted by subtype then p-value.
    """
    from scipy import stats

    if not isinstance(X, pd.DataFrame):
        X = pd.DataFrame(np.asarray(X, dtype=float))
    lab = np.asarray(labels)
    if len(lab) != X.shape[0]:
        raise ValueError(f"{len(lab)} labels for {X.shape[0]} rows")
    if method not in ("mannwhitney", "welch"):
        raise ValueError(f"method must be 'mannwhitney' or 'welch', got {method!r}")
    vals = X.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    rows = []
    for c in np.unique(lab):
        ins = lab == c
        for j, feat in enumerate(X.columns):
            v = vals[:, j]
            ok = np.isfinite(v)
            a, b = v[ins & ok], v[~ins & ok]
            n1, n2 = a.size, b.size
            stat = p = eff = np.nan
            if n1 >= 1 and n2 >= 1 and not (np.ptp(np.r_[a, b]) == 0):
                if method == "mannwhitney":
                    r = stats.mannwhitneyu(a, b, alternative="two-sided")
                    stat, p = float(r.statistic), float(r.pvalue)
                    eff = 2.0 * stat / (n1 * n2) - 1.0
                elif n1 >= 2 and n2 >= 2:
                    r = stats.ttest_ind(a, b, equal_var=False)
                    stat, p = float(r.statistic), float(r.pvalue)
                    sp = np.sqrt(((n1 - 1) * a.var(ddof=1) + (n2 - 1) * b.var(ddof=1))
                                 / (n1 + n2 - 2))
                    J = 1.0 - 3.0 / (4.0 * (n1 + n2) - 9.0)
                    eff = J * (a.mean() - b.mean()) / sp if sp > 0 else np.nan
            rows.append((c, feat, n1, n2,
                         float(np.median(a)) if n1 else np.nan,
                         float(np.median(b)) if n2 else np.nan,
                         float(a.mean()) if n1 else np.nan, float(b.mean()) if n2 else np.nan,
                         stat, eff, p))
    df = pd.DataFrame(rows, columns=["subtype", "feature", "n_in", "n_out", "median_in",
                                     "median_out", "mean_in", "mean_out", "statistic",
                                     "effect_size", "p_value"])
    df["q_value"] = bh_fdr(df["p_value"].to_numpy())
    df["method"] = method
    return df.sort_values(["subtype", "p_value"], kind="mergesort").reset_index(drop=True)


@dataclass
class CramersV:
    """Cramér's V = sqrt(chi2 / (n (min(r, c) - 1))) with the (uncorrected) Pearson chi-square
    test of independence of the r x c contingency ``table``."""

    v: float
    chi2: float
    p_value: float
    dof: int
    n: int
    table: pd.DataFrame


def cramers_v(a: Sequence, b: Sequence) -> CramersV:
    """Association between two labelings of the same items (e.g. subtype and cancer type).

    The chi-square statistic is computed without Yates' continuity correction (also for 2 x 2
    tables), so that V equals ``scipy.stats.contingency.association(table, "cramer")``.  Items
    with a missing label in either are left out."""
    from scipy.stats import chi2_contingency

    s = pd.DataFrame({"a": list(a), "b": list(b)}).dropna()
    table = pd.crosstab(s["a"], s["b"])
    if table.shape[0] < 2 or table.shape[1] < 2:
        raise ValueError(f"Cramér's V needs at least 2 categories in each labeling "
                         f"(got a {table.shape[0]} x {table.shape[1]} table)")
    chi2, p, dof, _ = chi2_contingency(table.to_numpy(), correction=False)
    n = int(table.to_numpy().sum())
    v = float(np.sqrt(chi2 / (n * (min(table.shape) - 1))))
    return CramersV(v=v, chi2=float(chi2), p_value=float(p), dof=int(dof), n=n, table=table)
