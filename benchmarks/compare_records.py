"""Compare two runs of ``segmentation_bench.py --only semi --records FILE``: every result
(case, with or without the box, seed) whose Dice, ``needs_check`` or model differs, and the
protocol's figures (the centroid-nearest and the first two random seeds per case) of both runs.

    python benchmarks/segmentation_bench.py --only semi --records before.jsonl
    (change the method)
    python benchmarks/segmentation_bench.py --only semi --records after.jsonl
    python benchmarks/compare_records.py before.jsonl after.jsonl

Results present in only one file (a run stopped early) are counted, not compared.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

Key = Tuple[str, str, int]


def read_records(path: Path) -> Dict[Key, dict]:
    """The records of one file by (case, "seed" or "box", seed number); a later line of the
    same result replaces an earlier one (a file appended to by a rerun)."""
    out: Dict[Key, dict] = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                out[(r["case"], r["box"], int(r["k"]))] = r
    return out


def changed(a: Dict[Key, dict], b: Dict[Key, dict]) -> List[Key]:
    """The results in both whose Dice, ``needs_check`` or model differ, in ``a``'s order."""
    return [k for k in a if k in b and any(a[k][f] != b[k][f]
                                           for f in ("dice", "needs_check", "model"))]


def protocol(recs: Dict[Key, dict], keys, box: str) -> dict:
    """The protocol's figures (seeds 0-2 per case) of ``recs`` over ``keys``, with or without
    the box: number, median, mean, how many below 0.6, and ``needs_check`` on those below
    0.6 and on those above (all seeds)."""
    d = np.array([recs[k]["dice"] for k in keys if k[1] == box and k[2] < 3], float)
    rows = [recs[k] for k in keys if k[1] == box]
    low = [r["needs_check"] for r in rows if r["dice"] < 0.6]
    high = [r["needs_check"] for r in rows if r["dice"] >= 0.6]
    return {"n": int(d.size), "median": float(np.median(d)) if d.size else float("nan"),
            "mean": float(d.mean()) if d.size else float("nan"),
            "below": int((d < 0.6).sum()), "flag_below": (sum(low), len(low)),
            "flag_above": (sum(high), len(high))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    args = ap.parse_args(argv)
    a, b = read_records(args.before), read_records(args.after)
    both = [k for k in a if k in b]
    print(f"{len(both)} results in both files ({len(a) - len(both)} only in {args.before}, "
          f"{len(b) - len(both)} only in {args.after}); {len(changed(a, b))} changed:")
    for k in changed(a, b):
        print(f"  {k[0]} {'with the box' if k[1] == 'box' else 'no box'} seed {k[2]}: Dice "
              f"{a[k]['dice']:.3f} -> {b[k]['dice']:.3f}, needs_check {a[k]['needs_check']} -> "
              f"{b[k]['needs_check']}, {a[k]['model']} -> {b[k]['model']}, "
              f"{a[k]['volume_ml']:.1f} -> {b[k]['volume_ml']:.1f} mL")
    for box, label in (("seed", "without a box"), ("box", "with the box")):
        pa, pb = protocol(a, both, box), protocol(b, both, box)
        if pa["n"]:
            print(f"protocol {label} ({pa['n']} results): median {pa['median']:.3f} -> "
                  f"{pb['median']:.3f}, mean {pa['mean']:.3f} -> {pb['mean']:.3f}, below 0.6 "
                  f"{pa['below']} -> {pb['below']}; needs_check on those below 0.6 "
                  f"{pa['flag_below'][0]}/{pa['flag_below'][1]} -> "
                  f"{pb['flag_below'][0]}/{pb['flag_below'][1]}, above "
                  f"{pa['flag_above'][0]}/{pa['flag_above'][1]} -> "
                  f"{pb['flag_above'][0]}/{pb['flag_above'][1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
