"""Association of image features with external per-patient variables (clinical, genomic).

For every (feature, variable) pair a linear model is fitted on the patients that have both:

* without a grouping column: ordinary least squares ``variable ~ 1 + feature + covariates``
  (R ``lm``), t-test of the feature's coefficient on ``n - p`` degrees of freedom;
* with a grouping column (batch, site, cancer type): a linear mixed-effects model with a random
  intercept per group, ``variable ~ 1 + feature + covariates + (1 | group)`` fitted by REML (R
  ``lme4::lmer``, statsmodels ``MixedLM``), Wald z-test of the feature's coefficient (the
  p-value statsmodels reports; lme4 reports none, lmerTest's Satterthwaite t differs slightly in
  small samples).

``response="feature"`` swaps the roles (``feature ~ variable``: the radiogenomics convention of
modelling each image feature by a genomic variable).  With ``standardise=True`` (default) the
response and the predictor are z-scored over each pair's complete rows, so the coefficient is a
standardised effect (without covariates and groups it is Pearson's r) and volcano plots of
different variables share one axis.  All p-values are adjusted together with
:func:`~PanCancerSubtypeLib.multitest.adjust_pvalues` (Benjamini-Hochberg by default).

Computation
-----------
Pairs that share the same complete rows are solved together (NumPy): the covariates and the
intercept are partialled out of the response and of every predictor (Frisch-Waugh-Lovell), so
each pair costs a few dot products.  The random-intercept REML fit uses the closed-form
square-root of ``V = I + lambda Z Z'`` per group (subtract ``c_g = 1 - (1 + lambda n_g)^(-1/2)``
times the group mean), the REML criterion profiled over the residual variance

    -2 l_R(lambda) = (n - p) log RSS(lambda) + sum_g log(1 + lambda n_g) + log det(X~' X~) + const,

and a vectorised search over ``log lambda`` (grid, then golden section; ``lambda = 0``, a zero
group variance, is a candidate as the boundary).  ``engine="statsmodels"`` fits every pair with
statsmodels ``OLS`` / ``MixedLM`` instead (slower: tens of milliseconds per mixed model).  The fast
engine equals R ``lm`` and ``lme4::lmer`` (REML) to the digits ``lme4`` converges to; statsmodels
stops its optimiser earlier (coefficients agree to ~1e-3), and where the group variance is
estimated at zero (the boundary) its fixed-effect standard errors are larger than lme4's
(``Testing/test_association.py``).
"""
from __future__ import annotations

import logging
import math
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from .errors import LabelTableError
from .files import save_figure
from .multitest import adjust_pvalues

log = logging.getLogger(__name__)

__all__ = ["associate", "volcano_plot", "association_heatmap", "report_section"]

RESULT_COLUMNS = ["feature", "variable", "n", "coef", "se", "stat", "p", "q", "model",
                  "group_var", "resid_var"]

_LOG_LAMBDA = (-14.0, 14.0)   # search range of log(group variance / residual variance)


# --------------------------------------------------------------------------------------------
# input
# --------------------------------------------------------------------------------------------
def _design_covariates(df: pd.DataFrame, covariates: Sequence[str], source) -> pd.DataFrame:
    """Numeric covariates as they are, others dummy-coded against their first sorted level."""
    parts = []
    for c in covariates:
        s = df[c]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            parts.append(pd.DataFrame({c: s.astype(float)}, index=df.index))
        else:
            levels = sorted(s.dropna().astype(str).unique())
            d = {f"{c}={lv}": np.where(s.isna(), np.nan, (s.astype(str) == lv).astype(float))
                 for lv in levels[1:]}
            parts.append(pd.DataFrame(d, index=df.index))
    if not parts:
        return pd.DataFrame(index=df.index)
    return pd.concat(parts, axis=1)


def _join(features: pd.DataFrame, variables: pd.DataFrame, id_column: str,
          feature_columns, variable_columns, group, covariates, source, features_source=None):
    from .tables import split_feature_table

    if id_column not in variables.columns:
        raise LabelTableError(f"no {id_column!r} column in the variables table "
                              f"(columns: {list(variables.columns)[:10]})", source=source)
    feats, _, notes = split_feature_table(features, id_column=id_column, source=features_source)
    if feature_columns is not None:
        missing = [c for c in feature_columns if c not in feats.columns]
        if missing:
            raise LabelTableError(f"feature column(s) {missing[:10]} not in the feature table",
                                  source=features_source)
        feats = feats[list(feature_columns)]
    var = variables.copy()
    var[id_column] = var[id_column].astype(str)
    dup = sorted(set(var[id_column][var[id_column].duplicated()]))
    if dup:
        raise LabelTableError(f"duplicate IDs in the variables table: {dup[:10]}", source=source)
    var = var.set_index(id_column)
    used = [c for c in [group, *covariates] if c]
    for c in used:
        if c not in var.columns:
            raise LabelTableError(f"column {c!r} not in the variables table (columns: "
                                  f"{list(var.columns)[:10]})", source=source)
    if variable_columns is None:
        variable_columns = [c for c in var.columns if c not in used
                            and pd.api.types.is_numeric_dtype(var[c])
                            and not pd.api.types.is_bool_dtype(var[c])]
    else:
        missing = [c for c in variable_columns if c not in var.columns]
        if missing:
            raise LabelTableError(f"variable column(s) {missing} not in the variables table",
                                  source=source)
    if not variable_columns:
        raise LabelTableError("no numeric variable column to test", source=source)
    vals = {}
    for c in variable_columns:
        v = pd.to_numeric(var[c], errors="coerce")
        bad = v.isna() & var[c].notna()
        if bad.any():
            raise LabelTableError(f"variable {c!r} holds non-numeric values, e.g. "
                                  f"{var[c][bad].iloc[0]!r}", source=source)
        vals[c] = v.astype(float)
    common = [i for i in feats.index if i in var.index]
    lost_f = len(feats) - len(common)
    lost_v = len(var) - len(common)
    if lost_f or lost_v:
        log.warning("association: %d feature row(s) without variables, %d variable row(s) "
                    "without features (not used)", lost_f, lost_v)
    if len(common) < 3:
        raise LabelTableError(f"only {len(common)} ID(s) are in both tables", source=source)
    feats = feats.loc[common]
    V = pd.DataFrame(vals).loc[common]
    C = _design_covariates(var.loc[common], covariates, source)
    G = None if not group else var.loc[common, group]
    return feats, V, C, G, notes


# --------------------------------------------------------------------------------------------
# vectorised solvers
# --------------------------------------------------------------------------------------------
def _zscore(a: np.ndarray) -> np.ndarray:
    sd = a.std(axis=0, ddof=1)
    sd = np.where(sd > 0, sd, np.nan)
    return (a - a.mean(axis=0)) / sd


def _partial(B: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Residuals of the columns of ``A`` on the columns of ``B`` (least squares)."""
    coef, *_ = np.linalg.lstsq(B, A, rcond=None)
    return A - B @ coef


def _independent_columns(B: np.ndarray) -> List[int]:
    """Indices of a set of linearly independent columns of ``B``: the first (the intercept),
    then each column that raises the rank (numpy's SVD tolerance)."""
    keep = [0]
    for j in range(1, B.shape[1]):
        if np.linalg.matrix_rank(B[:, keep + [j]]) > len(keep):
            keep.append(j)
    return keep


def _group_means(A: np.ndarray, codes: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    sums = np.zeros((len(sizes),) + A.shape[1:])
    np.add.at(sums, codes, A)
    return sums / sizes.reshape((-1,) + (1,) * (A.ndim - 1))


def _fit_block(X: np.ndarray, Y: np.ndarray, B: np.ndarray, codes=None, sizes=None):
    """Slope of ``Y[:, j] ~ B + X[:, j]`` for every column j (``X`` or ``Y`` may have one column,
    broadcast).  Fixed effects (``codes is None``) or REML random intercept per group.

    Returns dict of arrays: coef, se, df (residual df; NaN for mixed), lam (group / residual
    variance), s2 (residual variance)."""
    n, q = B.shape
    p = q + 1
    m = max(X.shape[1], Y.shape[1])
    if codes is None:
        Xr, Yr = _partial(B, X), _partial(B, Y)
        s = np.broadcast_to((Xr * Xr).sum(axis=0), (m,))
        xy = np.broadcast_to((Xr * Yr).sum(axis=0), (m,))
        yy = np.broadcast_to((Yr * Yr).sum(axis=0), (m,))
        with np.errstate(divide="ignore", invalid="ignore"):
            beta = xy / s
            s2 = np.maximum(yy - beta * xy, 0.0) / (n - p)
            se = np.sqrt(s2 / s)
        return {"coef": beta, "se": se, "df": np.full(m, float(n - p)), "lam": np.zeros(m),
                "s2": s2}

    MX, MY, MB = (_group_means(A, codes, sizes) for A in (X, Y, B))
    Xb = np.broadcast_to(X, (n, m))
    Yb = np.broadcast_to(Y, (n, m))
    MXb = np.broadcast_to(MX, (len(sizes), m))
    MYb = np.broadcast_to(MY, (len(sizes), m))

    def parts(lam: np.ndarray):
        """beta, s = x~_r'x~_r, rss and the REML deviance for one lambda per column."""
        c = 1.0 - 1.0 / np.sqrt(1.0 + lam[None, :] * sizes[:, None])      # (G, m)
        cc = c[codes]                                                     # (n, m)
        Xt = Xb - cc * MXb[codes]
        Yt = Yb - cc * MYb[codes]
        Bt = B[:, None, :] - cc[:, :, None] * MB[codes][:, None, :]       # (n, m, q)
        BtB = np.einsum("nmq,nmr->mqr", Bt, Bt)
        rhs = np.stack([np.einsum("nmq,nm->mq", Bt, Xt), np.einsum("nmq,nm->mq", Bt, Yt)],
                       axis=-1)                                           # (m, q, 2)
        sol = np.linalg.solve(BtB, rhs)
        Xr = Xt - np.einsum("nmq,mq->nm", Bt, sol[..., 0])
        Yr = Yt - np.einsum("nmq,mq->nm", Bt, sol[..., 1])
        s = (Xr * Xr).sum(axis=0)
        xy = (Xr * Yr).sum(axis=0)
        yy = (Yr * Yr).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            beta = xy / s
            rss = np.maximum(yy - beta * xy, 0.0)
            dev = ((n - p) * np.log(rss) + np.log1p(lam[None, :] * sizes[:, None]).sum(axis=0)
                   + np.linalg.slogdet(BtB)[1] + np.log(s))
        return beta, s, rss, dev

    lo, hi = _LOG_LAMBDA
    grid = np.linspace(lo, hi, 29)
    vals = np.vstack([parts(np.full(m, math.exp(u)))[3] for u in grid])   # (29, m)
    vals = np.where(np.isfinite(vals), vals, np.inf)
    best = np.argmin(vals, axis=0)
    a = grid[np.maximum(best - 1, 0)]
    b = grid[np.minimum(best + 1, len(grid) - 1)]
    gr = (math.sqrt(5) - 1) / 2
    c1, c2 = b - gr * (b - a), a + gr * (b - a)
    f1, f2 = parts(np.exp(c1))[3], parts(np.exp(c2))[3]
    for _ in range(80):
        if np.max(b - a) < 1e-8:
            break
        left = f1 < f2                       # minimum in [a, c2]: new point left of c1
        b = np.where(left, c2, b)
        a = np.where(left, a, c1)
        new = np.where(left, b - gr * (b - a), a + gr * (b - a))
        fn = parts(np.exp(new))[3]
        c1, c2, f1, f2 = (np.where(left, new, c2), np.where(left, c1, new),
                          np.where(left, fn, f2), np.where(left, f1, fn))
    u_hat = (a + b) / 2
    lam = np.exp(u_hat)
    f_hat = parts(lam)[3]
    f0 = parts(np.zeros(m))[3]
    lam = np.where(f0 <= f_hat, 0.0, lam)        # the boundary: no group variance
    beta, s, rss, _ = parts(lam)
    with np.errstate(divide="ignore", invalid="ignore"):
        s2 = rss / (n - p)
        se = np.sqrt(s2 / s)
    return {"coef": beta, "se": se, "df": np.full(m, np.nan), "lam": lam, "s2": s2}


def _fit_statsmodels(x: np.ndarray, y: np.ndarray, B: np.ndarray, groups=None):
    import warnings

    import statsmodels.api as sm

    X = np.column_stack([B, x])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if groups is None:
            r = sm.OLS(y, X).fit()
            return {"coef": r.params[-1], "se": r.bse[-1], "df": r.df_resid, "lam": 0.0,
                    "s2": r.scale}
        r = sm.MixedLM(y, X, groups=groups).fit(reml=True)
    k = X.shape[1]
    tau2 = float(np.asarray(r.cov_re)[0, 0])
    return {"coef": r.fe_params[k - 1], "se": r.bse_fe[k - 1], "df": np.nan,
            "lam": tau2 / r.scale, "s2": r.scale}


# --------------------------------------------------------------------------------------------
# API
# --------------------------------------------------------------------------------------------
def associate(features: pd.DataFrame, variables: pd.DataFrame, id_column: str = "ID",
              variable_columns: Optional[Sequence[str]] = None,
              feature_columns: Optional[Sequence[str]] = None, group: Optional[str] = None,
              covariates: Sequence[str] = (), response: str = "variable",
              standardise: bool = True, method: str = "bh", engine: str = "fast",
              min_n: int = 5, source: Optional[str] = None,
              features_source: Optional[str] = None) -> pd.DataFrame:
    """Test every feature against every variable (see the module docstring).

    ``features``: a feature table (:mod:`.tables` rules: metadata, ``diag_*`` and failed rows
    are left out) with ``id_column``; ``variables``: one row per patient with ``id_column``, the
    variables (default: every numeric column other than ``group`` and ``covariates``), the
    optional ``group`` column (random intercept) and ``covariates`` (numeric, or dummy-coded).

    Returns one row per pair: ``feature, variable, n, coef, se, stat, p, q, model, group_var,
    resid_var`` (``stat`` is t for OLS and z for mixed models; ``q`` adjusted over all pairs by
    ``method``; ``group_var`` / ``resid_var`` the variance estimates on the scale of the
    response).  Pairs with fewer than ``min_n`` complete rows, a constant predictor or response
    get NaN.  ``source`` / ``features_source``: the two tables' files, for error messages.
    """
    if response not in ("variable", "feature"):
        raise ValueError(f"response must be 'variable' or 'feature', got {response!r}")
    if engine not in ("fast", "statsmodels"):
        raise ValueError(f"engine must be 'fast' or 'statsmodels', got {engine!r}")
    feats, V, C, G, _ = _join(features, variables, id_column, feature_columns,
                              variable_columns, group, list(covariates), source,
                              features_source)
    if G is not None and G.dropna().nunique() < 2:
        raise LabelTableError(f"grouping column {group!r} has fewer than 2 levels", source=source)
    F = feats.to_numpy(dtype=float)
    Cm = C.to_numpy(dtype=float)
    base_ok = np.isfinite(Cm).all(axis=1) if Cm.shape[1] else np.ones(len(F), bool)
    if G is not None:
        base_ok &= G.notna().to_numpy()
    rows: List[Dict] = []
    model = "ols" if G is None else "mixed"
    for vname in V.columns:
        v = V[vname].to_numpy(dtype=float)
        ok_v = base_ok & np.isfinite(v)
        okF = np.isfinite(F) & ok_v[:, None]
        # columns sharing one missingness pattern are solved together
        patterns: Dict[bytes, List[int]] = {}
        for j in range(F.shape[1]):
            patterns.setdefault(np.packbits(okF[:, j]).tobytes(), []).append(j)
        res = {k: np.full(F.shape[1], np.nan) for k in ("coef", "se", "df", "lam", "s2")}
        nn = np.zeros(F.shape[1], int)
        for cols in patterns.values():
            rows_ok = okF[:, cols[0]]
            n = int(rows_ok.sum())
            nn[cols] = n
            q = 1 + Cm.shape[1]
            if n < max(min_n, q + 2):
                continue
            x = F[rows_ok][:, cols]
            y = v[rows_ok][:, None]
            if standardise:
                x, y = _zscore(x), _zscore(y)
            B = np.column_stack([np.ones(n), Cm[rows_ok]]) if Cm.shape[1] else np.ones((n, 1))
            # covariates (dummies) that are linear combinations of the others on these rows
            # are dropped: a constant one, or a level's dummies that add up to the intercept
            # where the other level has no row (the residual df counted them: wrong p)
            B = B[:, _independent_columns(B)]
            pred, resp = (x, y) if response == "variable" else (y, x)
            codes = sizes = None
            g = None
            if G is not None:
                g = G.to_numpy()[rows_ok]
                levels, codes = np.unique(g.astype(str), return_inverse=True)
                sizes = np.bincount(codes).astype(float)
                if len(levels) < 2:
                    continue
            valid = np.isfinite(x).all(axis=0) & bool(np.isfinite(y).all())
            if engine == "fast":
                try:
                    out = _fit_block(pred, resp, B, codes, sizes)
                except np.linalg.LinAlgError:      # collinear covariates: no estimate
                    log.warning("association: collinear covariates for %s; pairs left NaN",
                                vname)
                    continue
                for k in res:
                    res[k][cols] = np.where(valid, out[k], np.nan)
            else:
                for jj, j in enumerate(cols):
                    if not valid[jj]:
                        continue
                    xp = pred[:, jj if pred.shape[1] > 1 else 0]
                    yr = resp[:, jj if resp.shape[1] > 1 else 0]
                    try:
                        out = _fit_statsmodels(xp, yr, B, None if G is None else codes)
                    except np.linalg.LinAlgError:
                        log.warning("association: %s ~ %s: singular fit; pair left NaN",
                                    vname, feats.columns[j])
                        continue
                    for k in res:
                        res[k][j] = out[k]
        for j, fname in enumerate(feats.columns):
            coef, se = res["coef"][j], res["se"][j]
            stat = coef / se if se > 0 else np.nan
            if not np.isfinite(stat):
                p = np.nan
            elif model == "ols":
                from scipy.stats import t as t_dist

                p = float(2 * t_dist.sf(abs(stat), res["df"][j]))
            else:
                from scipy.stats import norm

                p = float(2 * norm.sf(abs(stat)))
            rows.append({"feature": fname, "variable": vname, "n": int(nn[j]), "coef": coef,
                         "se": se, "stat": stat, "p": p, "model": model,
                         "group_var": res["lam"][j] * res["s2"][j] if model == "mixed" else 0.0,
                         "resid_var": res["s2"][j]})
    out = pd.DataFrame(rows)
    _warn_constant(V, base_ok, "variable", source)
    _warn_constant(feats, base_ok, "feature", features_source)
    out["q"] = adjust_pvalues(out["p"].to_numpy(), method)
    out.attrs.update({"response": response, "standardise": standardise, "method": method,
                      "group": group, "covariates": list(covariates), "engine": engine})
    return out[RESULT_COLUMNS]


def _warn_constant(frame: pd.DataFrame, ok: np.ndarray, what: str, source: Optional[str]):
    """One warning naming the columns that are constant on the usable rows (their pairs get
    NaN: nothing to regress on)."""
    const = []
    for name in frame.columns:
        x = frame[name].to_numpy(dtype=float)
        x = x[ok & np.isfinite(x)]
        if len(x) and np.ptp(x) == 0:
            const.append(f"{name} ({x[0]:g})")
    if const:
        log.warning("%s%d %s(s) constant on every usable row, so their pairs get NaN: %s%s",
                    f"{source}: " if source else "", len(const), what, ", ".join(const[:10]),
                    ", ..." if len(const) > 10 else "")


# --------------------------------------------------------------------------------------------
# plots and report
# --------------------------------------------------------------------------------------------
def volcano_plot(result: pd.DataFrame, fdr: float = 0.05, path: Optional[str] = None,
                 title: str = "Feature-variable associations", label_top: int = 5):
    """Coefficient against -log10 p, one point per pair; pairs with ``q < fdr`` highlighted and
    the ``label_top`` smallest q labelled."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4.5), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    r = result[np.isfinite(result["p"])]
    y = -np.log10(np.clip(r["p"].to_numpy(), 1e-300, 1))
    sig = (r["q"] < fdr).to_numpy()
    ax.scatter(r["coef"][~sig], y[~sig], s=8, c="#999999", label=f"q >= {fdr:g}")
    ax.scatter(r["coef"][sig], y[sig], s=10, c="#d62728", label=f"q < {fdr:g}")
    for _, row in r.nsmallest(label_top, "q").iterrows():
        ax.annotate(f"{row['feature']} ~ {row['variable']}"[:48],
                    (row["coef"], -math.log10(max(row["p"], 1e-300))), fontsize=6,
                    xytext=(3, 2), textcoords="offset points")
    std = result.attrs.get("standardise", True)
    ax.set_xlabel("standardised coefficient" if std else "coefficient")
    ax.set_ylabel("-log10 p")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    if path:
        save_figure(fig, path, dpi=120)
    return fig


def association_heatmap(result: pd.DataFrame, top: int = 30, fdr: float = 0.05,
                        path: Optional[str] = None, title: str = "Coefficients (* q < FDR)"):
    """Coefficients of the ``top`` features (smallest q over the variables) by variable;
    cells with ``q < fdr`` are starred."""
    from matplotlib.figure import Figure

    best = result.groupby("feature")["q"].min().sort_values()
    feats = list(best.index[:top])
    sub = result[result["feature"].isin(feats)]
    M = sub.pivot(index="feature", columns="variable", values="coef").reindex(feats)
    Q = sub.pivot(index="feature", columns="variable", values="q").reindex(feats)
    fig = Figure(figsize=(1.2 + 0.6 * M.shape[1], 1.0 + 0.22 * M.shape[0]), dpi=100,
                 layout="constrained")
    ax = fig.add_subplot()
    finite = np.abs(M.to_numpy(dtype=float))
    finite = finite[np.isfinite(finite)]
    lim = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    im = ax.imshow(M.to_numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    for i in range(M.shape[0]):
        for j in range(M.shape[1]):
            if Q.iat[i, j] < fdr:
                ax.text(j, i, "*", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(M.shape[1]), [str(c)[:20] for c in M.columns], rotation=45, ha="right",
                  fontsize=7)
    ax.set_yticks(range(M.shape[0]), [str(f)[:40] for f in M.index], fontsize=6)
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, shrink=0.6)
    if path:
        save_figure(fig, path, dpi=120)
    return fig


def report_section(report, features: pd.DataFrame, variables: pd.DataFrame,
                   id_column: str = "ID", group: Optional[str] = None, fdr: float = 0.05,
                   anchor: str = "association",
                   title: str = "Association of features with patient variables") -> Dict:
    """Add a section to a :class:`~.report.Report`: :func:`associate` of ``features`` with the
    numeric columns of ``variables`` (random intercept per ``group`` when given), the number of
    pairs with ``q < fdr``, the top pairs and a volcano plot.  Returns a summary dict."""
    res = associate(features, variables, id_column=id_column, group=group)
    n_sig = int((res["q"] < fdr).sum())
    top = res.nsmallest(10, "q")
    report.section(anchor, title)
    report.kpis([("pairs tested", len(res)), (f"pairs with q < {fdr:g}", n_sig),
                 ("model", "mixed (random intercept per " + group + ")" if group else "OLS")])
    report.table(top.set_index("feature")[["variable", "n", "coef", "se", "p", "q"]],
                 caption="Strongest associations (standardised coefficients, BH-adjusted q)")
    report.figure(volcano_plot(res, fdr=fdr), "Volcano plot: standardised coefficient against "
                                              "-log10 p; red: q < FDR")
    first = top.iloc[0] if len(top) else None
    return {"n_pairs": int(len(res)), "n_significant": n_sig,
            "top": None if first is None else {"feature": first["feature"],
                                               "variable": first["variable"],
                                               "coef": float(first["coef"]),
                                               "q": float(first["q"])}}
