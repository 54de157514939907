"""Time the drift table and the label-free estimate on a simulated inference log.

Usage (the Telco CSV must be reachable, e.g. ``CLOSEDLOOP_DATA_HOME=../shared/data/telco``)::

    python benchmarks/bench_drift.py --days 360 --rows-per-day 300 --repeat 3

Prints the best of ``--repeat`` runs for :func:`closedloop.monitoring.drift.drift_metrics` with
monthly, weekly and daily windows (baseline and consecutive drift, every feature plus
``prediction_proba`` and ``ground_truth``), against a naive baseline that calls scipy's
``ks_2samp`` / ``chi2_contingency`` once per window and column, and for
:meth:`closedloop.monitoring.estimate.CBPE.estimate` with weekly windows, all labelled and 20 %
labelled.

With ``--log`` it also writes the stream to a Parquet inference log (in a temporary workspace)
and times :func:`closedloop.monitoring.aggregates.drift_from_log` (DuckDB value counts over the
files) against the pandas path on the same rows (``InferenceLog.read`` then ``drift_metrics``),
and :func:`closedloop.monitoring.report.monitor` with ``engine="duckdb"`` against
``engine="pandas"``; both paths give the same table, which the script checks.
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
import pandas as pd
from _timing import best_of  # benchmarks/_timing.py, beside this script
from scipy import stats

from closedloop.contract.telco import TELCO_SCHEMA, load_telco
from closedloop.monitoring.aggregates import drift_from_log
from closedloop.monitoring.drift import drift_columns, drift_metrics
from closedloop.monitoring.estimate import CBPE
from closedloop.monitoring.windows import assign_windows
from closedloop.simulate.stream import StreamSimulator


def naive(frame: pd.DataFrame, baseline: pd.DataFrame, granularity: str) -> None:
    """One scipy call per window and column: what a straightforward loop would do."""
    windows = assign_windows(frame["timestamp"], granularity)
    for _, part in frame.groupby(windows):
        for name, kind in drift_columns(frame).items():
            if kind == "numeric":
                stats.ks_2samp(baseline[name].dropna(), part[name].dropna())
            else:
                table = pd.crosstab(np.r_[np.zeros(len(baseline)), np.ones(len(part))],
                                    np.r_[baseline[name].astype(str), part[name].astype(str)])
                stats.chi2_contingency(table.to_numpy(), correction=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=360)
    parser.add_argument("--rows-per-day", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--log", action="store_true",
                        help="also time the DuckDB path over a Parquet log against pandas")
    args = parser.parse_args(argv)
    simulator = StreamSimulator(load_telco(), seed=0, population=20_000)
    stream = simulator.stream(args.days, args.rows_per_day, "tenure_shift")
    rng = np.random.default_rng(0)
    proba = np.clip(stream["true_churn_proba"] + rng.normal(0, 0.05, len(stream)), 0, 1)
    frame = stream.assign(timestamp=stream["event_time"], prediction_proba=proba,
                          prediction=(proba >= 0.4).astype(int),
                          ground_truth=TELCO_SCHEMA.target_as_int(stream))
    baseline = frame[frame["timestamp"] < simulator.start + pd.Timedelta(days=30)]
    print(f"{len(frame):,} rows, {len(drift_columns(frame))} columns, baseline {len(baseline):,}")
    for granularity in ("1mo", "1w", "1d"):
        n = assign_windows(frame["timestamp"], granularity).nunique()
        seconds = best_of(args.repeat, lambda: drift_metrics(frame, baseline,
                                                             granularity=granularity))
        print(f"drift_metrics {granularity:>3} ({n:>3} windows, baseline + consecutive): "
              f"{seconds:6.2f} s")
    seconds = best_of(1, lambda: naive(frame, baseline, "1mo"))
    print(f"naive scipy loop 1mo (baseline only, KS + chi-square only): {seconds:6.2f} s")
    cbpe = CBPE().fit(baseline)
    seconds = best_of(args.repeat, lambda: cbpe.estimate(frame, "1w"))
    print(f"CBPE.estimate 1w (analytic sampling band): {seconds:6.2f} s")
    # labels still arriving: the band is then the labelled rows' (a second expected metric)
    partial = frame.assign(ground_truth=frame["ground_truth"].where(rng.random(len(frame)) < 0.2))
    seconds = best_of(args.repeat, lambda: cbpe.estimate(partial, "1w"))
    print(f"CBPE.estimate 1w, 20 % labelled (band of the labelled rows): {seconds:6.2f} s")
    if args.log:
        log_paths(frame, baseline, args.repeat)


def log_paths(frame: pd.DataFrame, baseline: pd.DataFrame, repeat: int) -> None:
    """The log path (DuckDB aggregates over Parquet) against the pandas path, same rows."""
    from closedloop.monitoring.report import monitor
    from closedloop.monitoring.store import InferenceLog

    log = InferenceLog(tempfile.mkdtemp(prefix="bench-drift-"), TELCO_SCHEMA)
    scored = frame[["prediction", "prediction_proba"]]
    log.append(frame, model_name="m", model_version="1", timestamp="timestamp", scored=scored)
    print(f"Parquet log of {len(log):,} rows:")
    for granularity in ("1mo", "1w", "1d"):
        a = drift_metrics(log.read(), baseline, granularity=granularity, schema=TELCO_SCHEMA)
        b = drift_from_log(log, baseline, granularity=granularity)
        pd.testing.assert_frame_equal(a, b, check_dtype=False, rtol=1e-9)
        pandas_s = best_of(repeat, lambda: drift_metrics(
            log.read(), baseline, granularity=granularity, schema=TELCO_SCHEMA))
        log_s = best_of(repeat, lambda: drift_from_log(log, baseline, granularity=granularity))
        print(f"  drift {granularity:>3}: log path (DuckDB) {log_s:6.2f} s, pandas path (read + "
              f"drift_metrics) {pandas_s:6.2f} s, ratio {log_s / pandas_s:4.2f}; same table")
    for engine in ("pandas", "duckdb"):
        seconds = best_of(repeat, lambda: monitor(log, baseline, granularity="1w",
                                                  engine=engine))
        print(f"  monitor 1w engine={engine}: {seconds:6.2f} s")


if __name__ == "__main__":
    main()
