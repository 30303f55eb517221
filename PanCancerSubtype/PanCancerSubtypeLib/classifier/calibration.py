"""Probability calibration of the subtype classifier, stored as JSON and re-applied without pickle.

:class:`Calibration` holds the maps fitted by scikit-learn's
``CalibratedClassifierCV(ensemble=False)`` ("sigmoid" = Platt, "isotonic", "temperature") on
cross-validated predictions, reads their parameters out, and re-applies them exactly.
"""
from __future__ import annotations

from typing import Any, Dict, List

import numpy as np

CALIBRATION_METHODS = ("sigmoid", "isotonic", "temperature")


class Calibration:
    """Calibration maps read out of a fitted ``CalibratedClassifierCV(ensemble=False)``.

    Re-applies exactly what scikit-learn's ``_CalibratedClassifier.predict_proba`` does on the
    base model's ``predict_proba`` output ``P`` (n x K):

    * sigmoid (Platt on the probability, one-vs-rest): ``q_k = 1 / (1 + exp(a_k P_k + b_k))``;
    * isotonic: ``q_k`` = piecewise-linear interpolation of the breakpoints (clipped at the ends);
    * then, for K > 2, ``q / sum(q)`` (uniform where the sum is 0); for K = 2 one map is fitted on
      ``P_1`` and ``q_0 = 1 - q_1``;
    * temperature: ``softmax(beta * log(P + 1e-12))`` (argmax-preserving).
    """

    def __init__(self, method: str, n_classes: int, params: List[Dict[str, Any]]):
        if method not in CALIBRATION_METHODS:
            raise ValueError(f"unknown calibration method {method!r}")
        self.method = method
        self.n_classes = int(n_classes)
        self.params = params

    @classmethod
    def from_sklearn(cls, cc: Any, n_classes: int) -> "Calibration":
        cal = cc.calibrated_classifiers_[0]
        params: List[Dict[str, Any]] = []
        for c in cal.calibrators:
            if cc.method == "sigmoid":
                params.append({"a": float(c.a_), "b": float(c.b_)})
            elif cc.method == "isotonic":
                params.append({"x": [float(v) for v in np.asarray(c.X_thresholds_)],
                               "y": [float(v) for v in np.asarray(c.y_thresholds_)],
                               "x_min": float(c.X_min_), "x_max": float(c.X_max_),
                               "dtype": str(np.asarray(c.X_thresholds_).dtype)})
            else:
                params.append({"beta": float(c.beta_)})
        return cls(cc.method, n_classes, params)

    def apply(self, P: np.ndarray) -> np.ndarray:
        """Calibrated probabilities from the base model's (n x K) probabilities."""
        K = self.n_classes
        n = P.shape[0]
        if self.method == "temperature":
            beta = float(self.params[0]["beta"])
            logits = beta * np.log(P.astype(np.float64) + 1e-12)
            logits -= logits.max(axis=1, keepdims=True)
            e = np.exp(logits)
            q = e / e.sum(axis=1, keepdims=True)
        else:
            q = np.zeros((n, K))
            cols = [1] if K == 2 else list(range(K))
            for k, prm in zip(cols, self.params):
                f = P[:, k]
                if self.method == "sigmoid":
                    z = -(prm["a"] * f.astype(np.float64) + prm["b"])
                    q[:, k] = 1.0 / (1.0 + np.exp(-z))
                else:
                    dt = np.dtype(prm.get("dtype", "float64"))
                    t = np.clip(f.astype(dt), prm["x_min"], prm["x_max"])
                    q[:, k] = np.interp(t.astype(np.float64), np.asarray(prm["x"]),
                                        np.asarray(prm["y"])).astype(dt)
            if K == 2:
                q[:, 0] = 1.0 - q[:, 1]
            else:
                s = q.sum(axis=1, keepdims=True)
                q = np.divide(q, s, out=np.full_like(q, 1.0 / K), where=s != 0)
        q[(q > 1.0) & (q <= 1.0 + 1e-5)] = 1.0
        return q

    def to_dict(self) -> Dict[str, Any]:
        return {"method": self.method, "n_classes": self.n_classes,
                "input": "base model predict_proba (one-vs-rest; class 1 only when binary)",
                "fitted_by": "sklearn.calibration.CalibratedClassifierCV(ensemble=False)",
                "params": self.params}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Calibration":
        c = cls(d["method"], int(d["n_classes"]), list(d["params"]))
        want = 1 if (c.method == "temperature" or c.n_classes == 2) else c.n_classes
        if len(c.params) != want:
            raise ValueError(f"{len(c.params)} calibration map(s) for {c.n_classes} classes")
        return c

