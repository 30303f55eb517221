"""Autoencoder versus PCA: reconstruction error and fit time on 1,682 x 313 synthetic features.

The synthetic cohort mimics the paper's table: 1,682 tumours x 313 features, generated from a
6-dimensional latent space (5 planted subtypes + continuous variation) through a non-linear map
(sines, products, squares) plus 0.3 SD noise, then standardised with FeaturePreparer.  The split
is 80 % discovery (fit) / 20 % held out.  Models: PCA (10 components), the paper's autoencoder
313 -> 10 (ReLU) -> 313 (linear output), the same with a linear code, and a deeper
313 -> 64 -> 10 -> 64 -> 313 network.  Printed: reconstruction MSE on both parts, fit time,
epochs, inactive code units and items whose code is all zero.

    nice python benchmarks/encoder_bench.py [--threads N] [--max-epochs E]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "PanCancerSubtype"))

from PanCancerSubtypeLib.encoder import Autoencoder  # noqa: E402
from PanCancerSubtypeLib.preprocessing import FeaturePreparer  # noqa: E402


def synthetic(n=1682, p=313, seed=0):
    rng = np.random.RandomState(seed)
    lab = rng.randint(0, 5, n)
    centres = rng.normal(0, 1.0, (5, 6))
    z = centres[lab] + rng.normal(0, 0.5, (n, 6))
    H = np.c_[z, np.sin(2 * z), z[:, :3] * z[:, 3:], z ** 2]
    X = H @ rng.normal(0, 1.0, (H.shape[1], p)) + rng.normal(0, 0.3, (n, p))
    return X, lab


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--max-epochs", type=int, default=500)
    args = ap.parse_args()
    import torch

    X, _ = synthetic()
    n = X.shape[0]
    perm = np.random.RandomState(1).permutation(n)
    tr, te = perm[: int(0.8 * n)], perm[int(0.8 * n):]
    prep = FeaturePreparer().fit(X[tr])
    xtr, xte = prep.transform(X[tr]), prep.transform(X[te])
    print(f"data: {n} x {X.shape[1]}, fit on {len(tr)}, held out {len(te)}; "
          f"torch {torch.__version__}, threads {args.threads or torch.get_num_threads()}; "
          f"load {os.getloadavg()}")
    from sklearn.decomposition import PCA

    t0 = time.perf_counter()
    pca = PCA(10, svd_solver="full").fit(xtr)
    t_pca = time.perf_counter() - t0

    def pmse(a):
        return float(np.mean((pca.inverse_transform(pca.transform(a)) - a) ** 2))

    print(f"{'model':34s} {'train MSE':>10s} {'held-out':>10s} {'fit s':>8s} {'epochs':>7s} "
          f"{'dead':>5s} {'zero rows':>9s}")
    print(f"{'PCA (10)':34s} {pmse(xtr):10.4f} {pmse(xte):10.4f} {t_pca:8.2f}")
    configs = [("AE 313-10(relu)-313 [paper]", dict()),
               ("AE 313-10(linear)-313", dict(code_activation="linear")),
               ("AE 313-64-10(relu)-64-313", dict(hidden_layers=(64,)))]
    for name, kw in configs:
        ae = Autoencoder(n_components=10, max_epochs=args.max_epochs, seed=0,
                         n_threads=args.threads, **kw).fit(xtr)
        codes = ae.transform(xtr)
        dead = int((codes.max(axis=0) == 0).sum())
        zero_rows = int((np.ptp(codes, axis=1) == 0).sum())
        print(f"{name:34s} {ae.reconstruction_error(xtr):10.4f} "
              f"{ae.reconstruction_error(xte):10.4f} {ae.fit_time_s_:8.2f} {ae.n_epochs_:7d} "
              f"{dead:5d} {zero_rows:9d}", flush=True)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
