"""Time reasons per prediction against the bare ``pred_contrib`` call they are built on.

Usage::

    python benchmarks/bench_explain.py --rows 100000 --repeat 3

Trains the default pipeline on the Telco data, resamples it to ``--rows`` rows and prints the
best of ``--repeat`` interleaved runs (seconds, rows per second, ratio to the plain predict of
the same run) of: the plain predict (the feature matrix plus the booster's probabilities, the
baseline), the feature matrix plus the booster's ``pred_contrib`` (the floor of any
explanation),
:func:`closedloop.explain.explain` (contributions summed back to the contract columns), and that
plus the reasons as text columns (:func:`closedloop.explain.reason_columns`), and the ranking
and wording alone (from contributions already computed), with their ratios to the floor. The
booster's TreeSHAP dominates; on a loaded machine its own run-to-run noise exceeds what the
reasons add, so read the last line for the overhead.
"""

from __future__ import annotations

import argparse
import dataclasses

from _timing import best_of  # benchmarks/_timing.py, beside this script

from closedloop.contract.telco import TELCO_SCHEMA, load_telco
from closedloop.explain.reasons import explain, reason_columns
from closedloop.model.train import DEFAULT_PARAMS, build_pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--top", type=int, default=4)
    args = parser.parse_args()
    telco = load_telco()
    pipeline = build_pipeline(TELCO_SCHEMA, DEFAULT_PARAMS)
    pipeline.fit(telco, TELCO_SCHEMA.target_as_int(telco))
    rows = telco.sample(args.rows, replace=True, random_state=0).reset_index(drop=True)
    booster = pipeline.named_steps["model"].booster_

    def plain() -> object:
        X = pipeline.named_steps["features"].transform(rows)
        return booster.predict(X)

    def bare() -> object:
        X = pipeline.named_steps["features"].transform(rows)
        return booster.predict(X, pred_contrib=True)

    def texts() -> object:
        return reason_columns(explain(pipeline, rows, TELCO_SCHEMA, args.top))

    def summed() -> object:
        return explain(pipeline, rows, TELCO_SCHEMA, args.top).contributions

    done = explain(pipeline, rows, TELCO_SCHEMA, args.top)

    def words_only() -> object:  # a fresh copy: ranking and words are cached per explanation
        return reason_columns(dataclasses.replace(done))

    # Interleaved rounds, best of each: a change in the machine's load hits all alike.
    works = {"plain predict (features + proba)": plain, "features + pred_contrib": bare,
             "explain (summed to contract)": summed,
             "explain + reason_columns (text)": texts, "ranking + words alone": words_only}
    timings = [[best_of(1, work) for work in works.values()] for _ in range(args.repeat)]
    best = [min(column) for column in zip(*timings)]
    print(f"{args.rows:,} rows, {DEFAULT_PARAMS['n_estimators']} trees, top {args.top}, "
          f"best of {args.repeat}; ratios to the plain predict")
    for name, seconds in zip(works, best):
        print(f"  {name:34s} {seconds:7.3f} s {args.rows / seconds:11,.0f} rows/s"
              f"   x{seconds / best[0]:.2f}")


if __name__ == "__main__":
    main()
