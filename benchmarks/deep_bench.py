"""Deep encoder on the demo cohort: CPU training time, encoding time, and how well the deep
features separate the planted archetypes.

Generates (or reuses) the demo's synthetic cohort (120 cases: lung CT, breast MR, brain MR; four
archetypes), trains the denoising autoencoder with the given settings on the CPU (or ``--device
auto``), encodes every case, and reports per archetype the nested cross-validated AUC of a LASSO
logistic regression (archetype vs the rest; :func:`PanCancerSubtypeLib.deep.report.
separation_auc`), plus wall and CPU times.

    nice python benchmarks/deep_bench.py [--cohort DIR] [--field-mm 64] [--crop 64]
        [--code-size 4096] [--epochs 30] [--device cpu] [--threads N]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "PanCancerSubtype"))

import pandas as pd  # noqa: E402

from PanCancerSubtypeLib.deep import (DeepEncoderConfig, deep_feature_table,  # noqa: E402
                                      train_deep_encoder)
from PanCancerSubtypeLib.deep.report import separation_auc  # noqa: E402
from PanCancerSubtypeLib.synthetic import make_cohort  # noqa: E402


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cohort", default="/tmp/pancancer_demo_cohort")
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--out", default="/tmp/pancancer_deep_bench")
    ap.add_argument("--dims", type=int, default=2)
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--field-mm", type=float, default=None)
    ap.add_argument("--code-size", type=int, default=4096)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    man = make_cohort(a.cohort, n=a.n, seed=2021, workers=2)
    cols = ["ID", "Image", "Mask", "Label", "Modality", "Organ", "CancerType"]
    cfg = DeepEncoderConfig(dims=a.dims, crop=a.crop, field_mm=a.field_mm,
                            code_size=a.code_size, epochs=a.epochs, device=a.device,
                            num_threads=a.threads, seed=a.seed)
    t0, c0 = time.perf_counter(), cpu_s()
    enc = train_deep_encoder(man[cols], a.out, cfg)
    t1, c1 = time.perf_counter(), cpu_s()
    feats = deep_feature_table(man[cols], enc).set_index("ID")
    t2, c2 = time.perf_counter(), cpu_s()
    auc = separation_auc(feats, man.set_index("ID")["archetype"].reindex(feats.index))
    print(f"settings: dims={a.dims} crop={a.crop} field_mm={a.field_mm} code_size={a.code_size} "
          f"epochs<={a.epochs} (ran {len(enc.meta['history'])}, best {enc.meta['best_epoch']}) "
          f"device={enc.meta['trained_on']}")
    print(f"cases: {len(feats)}; training crops: {enc.meta['n_training_crops']}")
    print(f"training (crops included): wall {t1 - t0:.1f} s, CPU {c1 - c0:.1f} s")
    print(f"encoding all cases:        wall {t2 - t1:.1f} s, CPU {c2 - c1:.1f} s")
    print(f"last losses: {enc.meta['history'][-1]}")
    print(pd.DataFrame(auc).to_string(index=False))
    print(f"mean one-vs-rest nested CV AUC: {auc['cv_auc'].mean():.3f}")


if __name__ == "__main__":
    main()
