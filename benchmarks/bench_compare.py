"""Time the champion/challenger statistics: the paired bootstrap per metric, and DeLong.

Usage::

    python benchmarks/bench_compare.py --rows 1409 --replicates 1000 --repeat 3

Prints the best of ``--repeat`` runs for each metric's paired bootstrap (both models measured on
every resample) and for the fast DeLong test, on synthetic scores with the Telco churn rate.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from _timing import best_of  # benchmarks/_timing.py, beside this script

from closedloop.gates.compare import HIGHER_IS_BETTER, delong_test, paired_bootstrap


def scored(y: np.ndarray, signal: float, rng: np.random.Generator) -> pd.DataFrame:
    proba = 1 / (1 + np.exp(-(signal * y + rng.normal(size=len(y)))))
    return pd.DataFrame({"prediction": (proba >= 0.5).astype(int), "prediction_proba": proba})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1409)
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    y = (rng.random(args.rows) < 0.265).astype(int)
    a, b = scored(y, 1.5, rng), scored(y, 1.4, rng)
    print(f"{args.rows:,} rows, {args.replicates:,} paired replicates, best of {args.repeat}")
    for metric in HIGHER_IS_BETTER:
        seconds = best_of(args.repeat, lambda m=metric: paired_bootstrap(
            m, y, a, b, n_bootstrap=args.replicates))
        print(f"  bootstrap {metric:<10} {seconds:7.3f} s")
    seconds = best_of(args.repeat, lambda: delong_test(y, a["prediction_proba"],
                                                       b["prediction_proba"]))
    print(f"  DeLong (roc_auc)     {seconds:7.3f} s")


if __name__ == "__main__":
    main()
