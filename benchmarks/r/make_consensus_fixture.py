"""Generate Testing/fixtures/consensus_r_reference.npz with R (run once; needs Rscript with
ConsensusClusterPlus and cluster).  Usage:
    /work/venv/bin/python benchmarks/r/make_consensus_fixture.py [out.npz]

Data: 200 items x 10 features, three Gaussian clusters (70 / 60 / 50 items) plus 20 uniform noise
items, seed 20211; ConsensusClusterPlus with pam + pearson, reps=20, maxK=6, seed=123.  Consensus
matrices are stored exactly as codes into a table of their distinct doubles (upper triangle).
The same data are also run with distance="euclidean" (reps=8, maxK=4, seed=77).
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
N, P, REPS, MAXK, SEED = 200, 10, 20, 6, 123


def make_data() -> np.ndarray:
    rng = np.random.default_rng(20211)
    centres = rng.normal(scale=2.5, size=(3, P))
    parts = [centres[c] + rng.normal(size=(s, P)) for c, s in enumerate((70, 60, 50))]
    parts.append(rng.uniform(-4, 4, size=(20, P)))
    X = np.vstack(parts)
    return X[rng.permutation(N)]


def pam_inputs():
    rng = np.random.default_rng(5)
    mats = []
    pts = rng.normal(size=(12, 3))  # generic (no ties)
    mats.append(np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1)))
    g = np.array([(i, j) for i in range(4) for j in range(4)], float)  # grid, Manhattan: many ties
    mats.append(np.abs(g[:, None] - g[None]).sum(-1))
    mats.append(1.0 - np.eye(7))  # all distances equal
    pts = np.repeat(rng.integers(0, 4, size=(5, 2)).astype(float), 2, axis=0)  # duplicated points
    mats.append(np.abs(pts[:, None] - pts[None]).sum(-1))
    iv = rng.integers(1, 4, size=(15, 15)).astype(float)  # integer-valued random dissimilarities
    iv = np.triu(iv, 1)
    mats.append(iv + iv.T)
    return mats


def main(out: Path) -> None:
    X = make_data()
    mats = pam_inputs()
    with tempfile.TemporaryDirectory() as wd:
        w = Path(wd)
        X.astype("<f8").tofile(w / "data.bin")
        (w / "pam_sizes.txt").write_text("\n".join(str(m.shape[0]) for m in mats) + "\n")
        for i, m in enumerate(mats, 1):
            np.asarray(m, "<f8").T.tofile(w / f"pam_{i}.bin")  # column-major for R
        subprocess.run(["Rscript", str(HERE / "consensus_fixture.R"), wd, str(N), str(P), str(REPS),
                        str(MAXK), str(SEED)], check=True)
        iu = np.triu_indices(N)
        store = {"X": X, "reps": REPS, "max_k": MAXK, "seed": SEED, "p_item": 0.8}
        for k in range(2, MAXK + 1):
            C = np.fromfile(w / f"cons_{k}.bin", "<f8").reshape(N, N)
            assert np.array_equal(C, C.T)
            vals, codes = np.unique(C[iu], return_inverse=True)
            store[f"cons_values_{k}"] = vals
            store[f"cons_codes_{k}"] = codes.astype(np.uint16 if vals.size > 255 else np.uint8)
            store[f"classes_{k}"] = np.fromfile(w / f"class_{k}.bin", "<i4").astype(np.int16)
        for k in range(2, 5):
            C = np.fromfile(w / f"econs_{k}.bin", "<f8").reshape(N, N)
            vals, codes = np.unique(C[iu], return_inverse=True)
            store[f"econs_values_{k}"] = vals
            store[f"econs_codes_{k}"] = codes.astype(np.uint16 if vals.size > 255 else np.uint8)
            store[f"eclasses_{k}"] = np.fromfile(w / f"eclass_{k}.bin", "<i4").astype(np.int16)
        store["cdf_areas"] = np.fromfile(w / "areas.bin", "<f8")
        store["r_dist_block"] = np.fromfile(w / "dist.bin", "<f8").reshape(N, N)[:40, :40]
        store["rng_1_676_540"] = np.fromfile(w / "rng_1_676_540.bin", "<i4").astype(np.int16)
        store["rng_123_1682_1345"] = np.fromfile(w / "rng_123_1682_1345.bin", "<i4").astype(np.int16)
        store["rng_m5_100000_10"] = np.fromfile(w / "rng_m5_100000_10.bin", "<i4")
        store["rng_2024_twice"] = np.fromfile(w / "rng_2024_twice.bin", "<i4").astype(np.int16)
        store["rng_7_runif"] = np.fromfile(w / "rng_7_runif.bin", "<f8")
        for i, m in enumerate(mats, 1):
            store[f"pam_D_{i}"] = m
            store[f"pam_out_{i}"] = np.fromfile(w / f"pamout_{i}.bin", "<i4").astype(np.int16)
        store["n_pam"] = len(mats)
    np.savez_compressed(out, **store)
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else \
        HERE.parents[1] / "Testing" / "fixtures" / "consensus_r_reference.npz"
    main(target)
