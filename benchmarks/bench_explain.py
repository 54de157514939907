"""Time reasons per prediction against the bare ``pred_contrib`` call they are built on.

Usage::

    python benchmarks/bench_explain.py --rows 100000 --repeat 3

Trains the default pipeline on the Telco data, resamples it to ``--rows`` rows and prints the
best of ``--repeat`` runs of: the feature matrix plus the booster's ``pred_contrib`` (the floor),
:func:`closedloop.explain.explain` (contributions summed back to the contract columns), and that
plus the reasons as text columns (:func:`closedloop.explain.reason_columns`), with their ratios
to the floor.
"""

from __future__ import annotations

import argparse

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

    def bare() -> object:
        X = pipeline.named_steps["features"].transform(rows)
        return booster.predict(X, pred_contrib=True)

    def texts() -> object:
        return reason_columns(explain(pipeline, rows, TELCO_SCHEMA, args.top))

    floor = best_of(args.repeat, bare)
    summed = best_of(args.repeat, lambda: explain(pipeline, rows, TELCO_SCHEMA, args.top))
    worded = best_of(args.repeat, texts)
    print(f"{args.rows:,} rows, {DEFAULT_PARAMS['n_estimators']} trees, top {args.top}, "
          f"best of {args.repeat}")
    print(f"  features + pred_contrib          {floor:7.3f} s")
    print(f"  explain (summed to contract)     {summed:7.3f} s   x{summed / floor:.2f}")
    print(f"  explain + reason_columns (text)  {worded:7.3f} s   x{worded / floor:.2f}")


if __name__ == "__main__":
    main()
