"""The autoencoder (313 -> 10 -> 313) of Wu et al. 2021, scikit-learn style, saved without pickle.

Its input is a prepared feature matrix (:class:`~PanCancerSubtypeLib.preprocessing.FeaturePreparer`:
z-scores with the discovery set's statistics, missing values imputed).

:class:`Autoencoder`
    A fully connected autoencoder, by default ``n_features -> 10 -> n_features`` (the paper:
    313 -> 10 -> 313), trained with Adam (learning rate 1e-3) on the mean squared reconstruction
    error, mini-batches, and early stopping on a held-out validation split (the weights of the best
    validation epoch are kept).

    *Where the ReLU goes.*  The inputs are z-scores (negative as often as positive), so the output
    layer is **linear**: a ReLU there could not reproduce negative values.  The ReLU sits on the
    10-unit code (``code = relu(W1 x + b1)``), which makes the code non-negative and sparse and is
    the non-linearity of the network; ``transform`` returns that code, the representation that is
    clustered.  Caveat: a ReLU code can be exactly zero for a whole group of items (the decoder
    bias then reconstructs their mean); such items have no Pearson correlation with anything, so
    ``discover --encode`` refuses them with a clear message.  ``code_activation="linear"`` removes
    the ReLU from the code layer for such data.  Optional wider hidden layers (``hidden_layers=(64,)`` gives
    ``n -> 64 -> 10 -> 64 -> n``, ReLU after every encoder and decoder hidden layer) make the
    decoder non-linear.

    *What to expect against PCA.*  With the default single code layer the decoder is affine, so
    every reconstruction lies in a 10-dimensional affine subspace and, on the training data, the
    autoencoder can at best *equal* PCA with 10 components (PCA is the optimal rank-10 affine
    reconstruction).  :meth:`Autoencoder.reconstruction_report` measures both on the same split.
    Only a network with non-linear hidden layers can beat PCA, on data with non-linear structure.

    *Determinism.*  ``seed`` seeds the weight initialisation (``torch.manual_seed`` inside a forked
    RNG state, so the global torch RNG is left untouched), the validation split and the
    mini-batch order; ``torch.use_deterministic_algorithms(True)`` is switched on for the duration
    of ``fit`` (and restored), and ``n_threads`` optionally fixes the number of intra-op threads.
    Two fits with the same seed, data and thread count give bit-identical weights on the CPU.

    *Saving.*  :meth:`Autoencoder.save` writes ``autoencoder.json`` (configuration, feature names,
    training history, SHA-256 of the weights) and ``autoencoder.safetensors`` (the state dict);
    :meth:`Autoencoder.load` rebuilds the network from them, verifying the checksum.  No pickle is
    involved at any point.

torch is imported lazily (inside the methods), so importing this module is cheap.
"""
from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from .errors import FeatureMismatchError, ModelBundleError, raise_if_diverged
from .files import sha256_file, write_json
from .preprocessing import check_fitted, check_unique_columns

log = logging.getLogger(__name__)

AE_CONFIG_FILE = "autoencoder.json"
AE_WEIGHTS_FILE = "autoencoder.safetensors"
_FORMAT_VERSION = 1


def _check_columns(df: pd.DataFrame, expected: Sequence[str], source: Optional[str]) -> None:
    got = check_unique_columns(df, source)
    missing = set(expected) - set(got)
    extra = set(got) - set(expected)
    if missing or extra:
        raise FeatureMismatchError(missing, extra, source=source)


# --------------------------------------------------------------------------------------------
# Autoencoder
# --------------------------------------------------------------------------------------------
class _DeterministicTorch:
    """Context: deterministic algorithms on, optional thread count, restored on exit."""

    def __init__(self, n_threads: Optional[int]):
        self.n_threads = n_threads

    def __enter__(self):
        import torch

        self._det = torch.are_deterministic_algorithms_enabled()
        self._threads = torch.get_num_threads()
        torch.use_deterministic_algorithms(True)
        if self.n_threads:
            torch.set_num_threads(int(self.n_threads))
        return self

    def __exit__(self, *exc):
        import torch

        torch.use_deterministic_algorithms(self._det)
        if self.n_threads:
            torch.set_num_threads(self._threads)
        return False


def _build_network(n_features: int, n_components: int, hidden_layers: Sequence[int],
                   code_activation: str = "relu"):
    """encoder: [Linear -> ReLU]* -> Linear(., n_components) -> ReLU (or identity);
    decoder: [Linear -> ReLU]* (mirrored) -> Linear(., n_features) (linear output)."""
    import torch.nn as nn

    enc: List[Any] = []
    width = n_features
    for h in hidden_layers:
        enc += [nn.Linear(width, int(h)), nn.ReLU()]
        width = int(h)
    if code_activation not in ("relu", "linear"):
        raise ValueError(f"code_activation must be 'relu' or 'linear', got {code_activation!r}")
    enc += [nn.Linear(width, n_components),
            nn.ReLU() if code_activation == "relu" else nn.Identity()]
    dec: List[Any] = []
    width = n_components
    for h in reversed(tuple(hidden_layers)):
        dec += [nn.Linear(width, int(h)), nn.ReLU()]
        width = int(h)
    dec += [nn.Linear(width, n_features)]
    return nn.Sequential(nn.Sequential(*enc), nn.Sequential(*dec))


class Autoencoder(TransformerMixin, BaseEstimator):
    """Autoencoder ``n_features -> n_components -> n_features`` (the paper: 313 -> 10 -> 313).

    Parameters
    ----------
    n_components : int        size of the code (the clustered representation), 10 in the paper
    hidden_layers : tuple     widths of extra encoder hidden layers (mirrored in the decoder);
                              ``()`` (default) is the paper's single hidden (code) layer
    learning_rate : float     Adam learning rate (1e-3)
    batch_size : int          mini-batch size
    max_epochs : int          upper bound on training epochs
    patience : int            stop when the validation loss has not improved by more than
                              ``min_delta`` (relative) for this many epochs
    validation_fraction : float  share of the rows held out for early stopping (0 = none: train
                              ``max_epochs`` and keep the last weights)
    weight_decay : float      Adam L2 penalty (0 = none)
    seed : int                seeds initialisation, split and batch order
    n_threads : int or None   torch intra-op threads during fit / transform (default 1: the
                              network is tiny, more threads only add overhead, and a fixed count
                              keeps results identical across machines; None = unchanged)
    dtype : "float32" or "float64"
    code_activation : "relu" (default, the paper's) or "linear"
                              activation of the code layer.  With "relu" whole groups of items
                              can get an all-zero code (the decoder bias then reconstructs their
                              mean), and a constant code has no Pearson correlation with anything;
                              "linear" avoids that (non-linearity then only comes from
                              ``hidden_layers``).

    Attributes: ``n_features_in_``, ``feature_names_in_`` (DataFrame input), ``history_``
    (DataFrame epoch, train_loss, val_loss), ``best_epoch_``, ``n_epochs_``, ``fit_time_s_``,
    ``network_`` (the torch module, eval mode).
    """

    def __init__(self, n_components: int = 10, hidden_layers: Sequence[int] = (),
                 learning_rate: float = 1e-3, batch_size: int = 32, max_epochs: int = 500,
                 patience: int = 20, validation_fraction: float = 0.1, min_delta: float = 1e-4,
                 weight_decay: float = 0.0, seed: int = 0, n_threads: Optional[int] = 1,
                 dtype: str = "float32", code_activation: str = "relu"):
        self.n_components = n_components
        self.hidden_layers = hidden_layers
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.min_delta = min_delta
        self.weight_decay = weight_decay
        self.seed = seed
        self.n_threads = n_threads
        self.dtype = dtype
        self.code_activation = code_activation

    # -- input checks --------------------------------------------------------------------------
    def _to_array(self, X, fitting: bool, source: Optional[str] = None) -> np.ndarray:
        if isinstance(X, pd.DataFrame):
            names = [str(c) for c in X.columns]
            if fitting:
                self.feature_names_in_ = np.asarray(names, dtype=object)
            elif getattr(self, "feature_names_in_", None) is not None:
                _check_columns(X, list(self.feature_names_in_), source)
                X = X.set_axis(names, axis=1)[list(self.feature_names_in_)]
            arr = X.to_numpy(dtype=float)
        else:
            arr = np.asarray(X, dtype=float)
            if fitting:
                self.feature_names_in_ = None
        if arr.ndim != 2:
            raise ValueError(f"{source or 'input'}: expected a 2D array (items x features), "
                             f"got shape {arr.shape}")
        if not fitting and arr.shape[1] != self.n_features_in_:
            raise FeatureMismatchError(
                [f"(expected {self.n_features_in_} features)"], [f"(got {arr.shape[1]})"],
                source=source)
        if not np.isfinite(arr).all():
            bad = np.argwhere(~np.isfinite(arr))[:5].tolist()
            raise ValueError(f"{source or 'input'}: {int((~np.isfinite(arr)).sum())} non-finite "
                             f"value(s) (first at row, column {bad}); prepare the features with "
                             f"FeaturePreparer (imputes missing values) first")
        return arr

    def _torch_dtype(self):
        import torch

        return {"float32": torch.float32, "float64": torch.float64}[self.dtype]

    # -- fit -----------------------------------------------------------------------------------
    def fit(self, X, y=None, source: Optional[str] = None):
        import torch

        arr = self._to_array(X, fitting=True, source=source)
        n, p = arr.shape
        if n < 2:
            raise ValueError(f"{source or 'input'}: need at least 2 rows to fit, got {n}")
        if p < 1:
            raise ValueError(f"{source or 'input'}: no feature column to fit on (shape "
                             f"{arr.shape})")
        k = int(self.n_components)
        if k < 1:
            raise ValueError(f"n_components must be >= 1, got {self.n_components}")
        self.n_features_in_ = p
        rng = np.random.RandomState(self.seed)
        n_val = int(round(n * float(self.validation_fraction)))
        if self.validation_fraction and (n_val < 1 or n - n_val < 1):
            n_val = 0
        perm = rng.permutation(n)
        val_idx, tr_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        self.validation_indices_ = val_idx
        dt = self._torch_dtype()
        t0 = time.perf_counter()
        with _DeterministicTorch(self.n_threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.seed))
            net = _build_network(p, k, tuple(self.hidden_layers), self.code_activation).to(dt)
            opt = torch.optim.Adam(net.parameters(), lr=float(self.learning_rate),
                                   weight_decay=float(self.weight_decay))
            xt = torch.as_tensor(arr[tr_idx], dtype=dt)
            xv = torch.as_tensor(arr[val_idx], dtype=dt) if n_val else None
            gen = torch.Generator().manual_seed(int(self.seed) + 1)
            bs = max(1, int(self.batch_size))
            best = (np.inf, 0, None)
            hist = []
            stale = 0
            for epoch in range(1, int(self.max_epochs) + 1):
                net.train()
                order = torch.randperm(xt.shape[0], generator=gen)
                tot = 0.0
                for s in range(0, xt.shape[0], bs):
                    xb = xt[order[s:s + bs]]
                    opt.zero_grad()
                    loss = torch.mean((net(xb) - xb) ** 2)
                    loss.backward()
                    opt.step()
                    tot += float(loss.detach()) * xb.shape[0]
                train_loss = tot / xt.shape[0]
                net.eval()
                with torch.no_grad():
                    val_loss = float(torch.mean((net(xv) - xv) ** 2)) if n_val else np.nan
                raise_if_diverged(train_loss, epoch, "autoencoder training")
                if n_val:
                    raise_if_diverged(val_loss, epoch, "autoencoder training (validation)")
                hist.append((epoch, train_loss, val_loss))
                if n_val:
                    if val_loss < best[0] * (1.0 - float(self.min_delta)):
                        best = (val_loss, epoch,
                                {kk: vv.detach().clone() for kk, vv in net.state_dict().items()})
                        stale = 0
                    else:
                        stale += 1
                        if stale >= int(self.patience):
                            break
            if n_val and best[2] is not None:
                net.load_state_dict(best[2])
                self.best_epoch_ = int(best[1])
            else:
                self.best_epoch_ = len(hist)
        net.eval()
        self.fit_time_s_ = time.perf_counter() - t0
        self.network_ = net
        self.n_epochs_ = len(hist)
        self.history_ = pd.DataFrame(hist, columns=["epoch", "train_loss", "val_loss"])
        return self

    # -- inference -----------------------------------------------------------------------------
    def _check_fitted(self):
        check_fitted(self, "network_")

    def _run(self, module, arr: np.ndarray) -> np.ndarray:
        import torch

        with _DeterministicTorch(self.n_threads), torch.no_grad():
            out = module(torch.as_tensor(arr, dtype=self._torch_dtype()))
        return out.numpy().astype(float)

    def transform(self, X, source: Optional[str] = None) -> np.ndarray:
        """The code (items x n_components; non-negative with the default ReLU code)."""
        self._check_fitted()
        return self._run(self.network_[0], self._to_array(X, fitting=False, source=source))

    def inverse_transform(self, Z) -> np.ndarray:
        """Decode codes back to the (standardised) feature space."""
        self._check_fitted()
        Z = np.asarray(Z, dtype=float)
        if Z.ndim != 2 or Z.shape[1] != int(self.n_components):
            raise ValueError(f"expected codes of shape (n, {self.n_components}), got {Z.shape}")
        return self._run(self.network_[1], Z)

    def reconstruct(self, X, source: Optional[str] = None) -> np.ndarray:
        self._check_fitted()
        return self._run(self.network_, self._to_array(X, fitting=False, source=source))

    def reconstruction_error(self, X, source: Optional[str] = None) -> float:
        """Mean squared reconstruction error over all entries of ``X`` (lower is better)."""
        self._check_fitted()
        arr = self._to_array(X, fitting=False, source=source)
        rec = self._run(self.network_, arr)
        return float(np.mean((rec - arr) ** 2))

    def score(self, X, y=None) -> float:
        """**Negative** reconstruction MSE (scikit-learn convention: higher is better); use
        :meth:`reconstruction_error` for the MSE itself."""
        return -self.reconstruction_error(X)

    def reconstruction_report(self, X_train, X_val=None) -> pd.DataFrame:
        """Reconstruction MSE of this (fitted) autoencoder and of PCA with the same number of
        components fitted on ``X_train``, on ``X_train`` and, if given, ``X_val``.

        Returns a DataFrame with rows ``autoencoder`` / ``pca`` and columns ``n_components,
        train_mse, val_mse``.  Pass the same split the autoencoder was trained on (e.g. the
        discovery set as train, the validation set as val) for a like-for-like comparison."""
        from sklearn.decomposition import PCA

        self._check_fitted()
        xtr = self._to_array(X_train, fitting=False, source="X_train")
        xva = None if X_val is None else self._to_array(X_val, fitting=False, source="X_val")
        k = min(int(self.n_components), xtr.shape[0], xtr.shape[1])
        pca = PCA(n_components=k, svd_solver="full").fit(xtr)

        def pmse(a):
            return float(np.mean((pca.inverse_transform(pca.transform(a)) - a) ** 2))

        rows = [("autoencoder", int(self.n_components), self.reconstruction_error(xtr),
                 np.nan if xva is None else self.reconstruction_error(xva)),
                ("pca", k, pmse(xtr), np.nan if xva is None else pmse(xva))]
        return pd.DataFrame(rows, columns=["model", "n_components", "train_mse", "val_mse"]
                            ).set_index("model")

    # -- persistence (safetensors + JSON, no pickle) ----------------------------------------------
    def save(self, directory: str) -> Tuple[str, str]:
        """Write ``autoencoder.json`` and ``autoencoder.safetensors`` into ``directory``."""
        from safetensors.torch import save_file

        self._check_fitted()
        os.makedirs(directory, exist_ok=True)
        wpath = os.path.join(directory, AE_WEIGHTS_FILE)
        state = {k: v.detach().contiguous().cpu() for k, v in self.network_.state_dict().items()}
        save_file(state, wpath)
        params = self.get_params()
        params["hidden_layers"] = [int(h) for h in params["hidden_layers"]]
        cfg = {"format_version": _FORMAT_VERSION, "class": "Autoencoder", "params": params,
               "n_features_in": int(self.n_features_in_),
               "feature_names_in": (None if self.feature_names_in_ is None
                                    else [str(c) for c in self.feature_names_in_]),
               "best_epoch": int(self.best_epoch_), "n_epochs": int(self.n_epochs_),
               "history": self.history_.to_dict(orient="list"),
               "weights_sha256": sha256_file(wpath)}
        cpath = os.path.join(directory, AE_CONFIG_FILE)
        write_json(cpath, cfg)
        return cpath, wpath

    @classmethod
    def load(cls, directory: str) -> "Autoencoder":
        from safetensors.torch import load_file

        cpath = os.path.join(directory, AE_CONFIG_FILE)
        wpath = os.path.join(directory, AE_WEIGHTS_FILE)
        for f in (cpath, wpath):
            if not os.path.isfile(f):
                raise ModelBundleError(f"missing {os.path.basename(f)}", source=directory)
        try:
            with open(cpath, encoding="utf-8") as fh:
                cfg = json.load(fh)
            if not isinstance(cfg, dict) or cfg.get("class") != "Autoencoder":
                raise KeyError("class")
            version = int(cfg.get("format_version", 0))
            if version > _FORMAT_VERSION:
                raise KeyError(f"format_version {version} is newer than this version reads "
                               f"({_FORMAT_VERSION})")
            if not isinstance(cfg["params"], dict):
                raise TypeError("params is not a mapping")
            self = cls(**cfg["params"])
            p = int(cfg["n_features_in"])
            net = _build_network(p, int(self.n_components), tuple(self.hidden_layers),
                                 self.code_activation)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelBundleError(f"invalid autoencoder configuration ({exc})",
                                   source=cpath) from None
        if not isinstance(cfg.get("weights_sha256"), str):
            raise ModelBundleError(f"{AE_CONFIG_FILE} records no SHA-256 checksum of the "
                                   f"weights (weights_sha256): they cannot be checked, so they "
                                   f"are not loaded", source=cpath)
        if sha256_file(wpath) != cfg["weights_sha256"]:
            raise ModelBundleError("weights checksum does not match the configuration "
                                   "(file modified or corrupted)", source=wpath)
        try:
            state = load_file(wpath)
            net = net.to(self._torch_dtype())
            net.load_state_dict(state, strict=True)
        except Exception as exc:  # safetensors / shape errors
            raise ModelBundleError(f"weights do not fit the configured network ({exc})",
                                   source=wpath) from None
        net.eval()
        self.network_ = net
        self.n_features_in_ = p
        names = cfg.get("feature_names_in")
        self.feature_names_in_ = None if names is None else np.asarray(names, dtype=object)
        self.best_epoch_ = int(cfg.get("best_epoch", 0))
        self.n_epochs_ = int(cfg.get("n_epochs", 0))
        self.history_ = pd.DataFrame(cfg.get("history", {}))
        return self


# --------------------------------------------------------------------------------------------
# PCA, the linear baseline the autoencoder must beat
# --------------------------------------------------------------------------------------------
PCA_FILE = "pca_encoder.json"


class PCAEncoder(TransformerMixin, BaseEstimator):
    """Principal components as an encoder with the autoencoder's interface.

    ``transform`` gives the scores on the first ``n_components`` principal axes of the fit set
    (``(X - mean) @ V_k``), ``inverse_transform`` the rank-``k`` reconstruction.  PCA is the
    optimal rank-``k`` affine reconstruction of its fit set, so an autoencoder earns its place
    only if it reconstructs *held-out* data better (:func:`compare_encoders`).  Full SVD
    (LAPACK) with scikit-learn's sign convention, so it is deterministic; saved as JSON.
    """

    def __init__(self, n_components: int = 10):
        self.n_components = n_components

    def fit(self, X, y=None, source: Optional[str] = None):
        from sklearn.decomposition import PCA

        arr = np.asarray(X, dtype=float)
        if arr.ndim != 2 or not np.isfinite(arr).all():
            raise ValueError(f"{source or 'X'}: PCA needs a finite 2D matrix")
        self.feature_names_in_ = (np.asarray([str(c) for c in X.columns], dtype=object)
                                  if isinstance(X, pd.DataFrame) else None)
        k = min(int(self.n_components), arr.shape[0], arr.shape[1])
        pca = PCA(n_components=k, svd_solver="full").fit(arr)
        self.components_ = pca.components_
        self.mean_ = pca.mean_
        self.explained_variance_ratio_ = pca.explained_variance_ratio_
        self.n_features_in_ = arr.shape[1]
        return self

    def _array(self, X, source=None) -> np.ndarray:
        check_fitted(self, "components_")
        if isinstance(X, pd.DataFrame) and self.feature_names_in_ is not None:
            _check_columns(X, list(self.feature_names_in_), source)
            X = X.set_axis([str(c) for c in X.columns], axis=1)[list(self.feature_names_in_)]
        arr = np.asarray(X, dtype=float)
        if arr.ndim != 2 or arr.shape[1] != self.n_features_in_:
            raise FeatureMismatchError([f"(expected {self.n_features_in_} columns)"],
                                       [f"(got shape {arr.shape})"], source=source)
        return arr

    def transform(self, X, source: Optional[str] = None) -> np.ndarray:
        return (self._array(X, source) - self.mean_) @ self.components_.T

    def inverse_transform(self, Z) -> np.ndarray:
        check_fitted(self, "components_")
        return np.asarray(Z, dtype=float) @ self.components_ + self.mean_

    def reconstruction_error(self, X, source: Optional[str] = None) -> float:
        a = self._array(X, source)
        return float(np.mean((self.inverse_transform(self.transform(a)) - a) ** 2))

    def save(self, directory: str) -> str:
        path = os.path.join(directory, PCA_FILE)
        write_json(path, {"format_version": _FORMAT_VERSION, "class": "PCAEncoder",
                          "n_components": int(self.n_components),
                          "feature_names_in": (None if self.feature_names_in_ is None
                                               else list(self.feature_names_in_)),
                          "components": self.components_.tolist(), "mean": self.mean_.tolist(),
                          "explained_variance_ratio": self.explained_variance_ratio_.tolist()},
                   allow_nan=False)
        return path

    @classmethod
    def load(cls, directory: str) -> "PCAEncoder":
        from .files import read_json

        path = os.path.join(directory, PCA_FILE)
        try:
            d = read_json(path)
            if not isinstance(d, dict) or d.get("class") != "PCAEncoder":
                raise KeyError("class")
            if int(d.get("format_version", 0)) > _FORMAT_VERSION:
                raise KeyError(f"format_version {d.get('format_version')} is newer than this "
                               f"version reads ({_FORMAT_VERSION})")
            self = cls(n_components=int(d["n_components"]))
            self.components_ = np.asarray(d["components"], dtype=float)
            self.mean_ = np.asarray(d["mean"], dtype=float)
            self.explained_variance_ratio_ = np.asarray(d["explained_variance_ratio"], float)
            names = d.get("feature_names_in")
            self.feature_names_in_ = None if names is None else np.asarray(names, dtype=object)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelBundleError(f"not a valid PCA encoder ({exc})", source=path) from None
        self.n_features_in_ = self.components_.shape[1]
        return self

