"""How drift and the estimate scale with the log: 10k to millions of rows, seconds and peak RSS.

Usage (the Telco CSV must be reachable, e.g. ``CLOSEDLOOP_DATA_HOME=../shared/data/telco``)::

    python benchmarks/bench_scaling.py --sizes 10000 100000 1000000 --windows 1 30

For every size it writes (once, cached under ``--cache``) a Parquet inference log of that many
rows with the Telco schema: the Telco rows resampled, fresh customer ids, a score, spread over
``windows`` daily windows, two model versions. Then every task runs in a **fresh subprocess**
(peak memory is that process's ``VmHWM``, its resident high-water mark, which counts DuckDB's
and Arrow's allocations, unlike ``tracemalloc``; ``ru_maxrss`` would not do, as Linux carries it
over from the parent through ``fork`` and ``exec``), best of ``--repeat`` runs in that process:

- ``drift log``: :func:`closedloop.monitoring.aggregates.drift_from_log` (DuckDB value counts
  over the Parquet files; baseline and consecutive drift, 22 columns);
- ``drift pandas``: ``InferenceLog.read`` then :func:`closedloop.monitoring.drift.drift_metrics`
  (what :func:`~closedloop.monitoring.report.monitor` did before); skipped above
  ``--pandas-max`` rows;
- ``estimate``: the score, prediction and label columns read from the log, then
  :meth:`closedloop.monitoring.estimate.CBPE.estimate`;
- ``numpy/scipy``: the baseline of each: the same columns read with ``pyarrow.parquet`` as
  arrays, then per window ``np.unique`` counts + ``scipy.stats.chi2_contingency`` for the
  categories and ``scipy.stats.ks_2samp`` for the numbers (drift), or one isotonic calibration
  and confusion sums (estimate's floor: the calibrated score's mean per window);
- ``python``: the interpreter with the imports only, the RSS floor every task pays.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

TASKS = ("python", "numpy/scipy drift", "drift log", "drift pandas", "numpy/scipy estimate",
         "estimate")


def build_log(root: Path, rows: int, windows: int) -> Path:
    """A Parquet inference log of ``rows`` Telco-like rows over ``windows`` days (cached)."""
    import numpy as np
    import pandas as pd

    from closedloop.contract.telco import TELCO_SCHEMA, load_telco
    from closedloop.monitoring.store import InferenceLog

    folder = root / f"log_{rows}_{windows}"
    if (folder / "done").exists():
        return folder
    telco = load_telco()
    log = InferenceLog(folder, TELCO_SCHEMA)
    rng = np.random.default_rng(rows)
    day0 = pd.Timestamp("2026-01-05")
    batch = 200_000
    for first in range(0, rows, batch):
        n = min(batch, rows - first)
        part = telco.sample(n, replace=True, random_state=first).reset_index(drop=True)
        part["customerID"] = [f"c{first + i}" for i in range(n)]
        day = rng.integers(0, windows, n)
        part["event_time"] = day0 + pd.to_timedelta(day * 86_400 + rng.integers(0, 86_400, n),
                                                    unit="s")
        proba = rng.random(n)
        scored = pd.DataFrame({"prediction": (proba >= 0.5).astype(int),
                               "prediction_proba": proba})
        version = "1" if first < rows // 2 else "2"
        log.append(part, model_name="m", model_version=version, timestamp="event_time",
                   scored=scored)
    (folder / "done").touch()
    return folder


def baseline_frame():
    import numpy as np

    from closedloop.contract.telco import TELCO_SCHEMA, load_telco

    telco = load_telco()
    rng = np.random.default_rng(1)
    proba = rng.random(len(telco))
    return telco.assign(prediction_proba=proba, prediction=(proba >= 0.5).astype(int),
                        ground_truth=TELCO_SCHEMA.target_as_int(telco))


def run_task(task: str, folder: Path, repeat: int) -> dict:
    """One task in this (fresh) process: best seconds and the process's peak RSS."""
    import numpy as np
    import pandas as pd

    from closedloop.contract.telco import TELCO_SCHEMA
    from closedloop.monitoring.aggregates import drift_from_log, log_columns
    from closedloop.monitoring.drift import drift_metrics
    from closedloop.monitoring.estimate import CBPE
    from closedloop.monitoring.store import InferenceLog

    log = InferenceLog(folder, TELCO_SCHEMA)
    base = baseline_frame()
    kinds = log_columns(log)

    def arrays(columns):
        import pyarrow.parquet as pq

        table = pq.read_table(log.predictions_dir, columns=["timestamp", *columns])
        return {c: table.column(c).to_numpy() for c in ["timestamp", *columns]}

    def numpy_drift():
        from scipy import stats

        data = arrays([c for c in kinds if c != "ground_truth"])
        day = data["timestamp"].astype("datetime64[D]")
        order = np.argsort(day, kind="stable")
        bounds = np.flatnonzero(np.r_[True, day[order][1:] != day[order][:-1], True])
        for name, kind in kinds.items():
            if name == "ground_truth":
                continue
            values = data[name][order]
            ref = base[name].dropna().to_numpy()
            for lo, hi in zip(bounds[:-1], bounds[1:]):
                part = values[lo:hi]
                if kind == "numeric":
                    part = part[~np.isnan(part.astype(float))]
                    stats.ks_2samp(ref.astype(float), part.astype(float))
                else:
                    part = part[part != None]  # noqa: E711
                    labels, inverse = np.unique(np.r_[ref.astype(str), part.astype(str)],
                                                return_inverse=True)
                    table = np.zeros((2, labels.size))
                    np.add.at(table[0], inverse[:ref.size], 1)
                    np.add.at(table[1], inverse[ref.size:], 1)
                    stats.chi2_contingency(table[:, table.sum(0) > 0], correction=False)

    def numpy_estimate():
        from sklearn.isotonic import IsotonicRegression

        data = arrays(["prediction", "prediction_proba"])
        iso = IsotonicRegression(out_of_bounds="clip").fit(base["prediction_proba"],
                                                           base["ground_truth"])
        p = iso.predict(data["prediction_proba"])
        day = data["timestamp"].astype("datetime64[D]")
        codes, _ = pd.factorize(day, sort=True)
        np.bincount(codes, p * data["prediction"]) / np.maximum(np.bincount(codes), 1)

    cbpe = CBPE().fit(base)
    work = {
        "python": lambda: None,
        "numpy/scipy drift": numpy_drift,
        "drift log": lambda: drift_from_log(log, base, granularity="1d"),
        "drift pandas": lambda: drift_metrics(log.read(), base, granularity="1d",
                                              schema=TELCO_SCHEMA),
        "numpy/scipy estimate": numpy_estimate,
        "estimate": lambda: cbpe.estimate(
            log.read(columns=["timestamp", "prediction", "prediction_proba", "ground_truth"]),
            "1d"),
    }[task]
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return {"seconds": best, "peak_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (``VmHWM``; ``ru_maxrss`` off Linux)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--windows", type=int, nargs="+", default=[1, 30])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--pandas-max", type=int, default=1_000_000)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/closedloop-bench-scaling"))
    parser.add_argument("--task", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.task == "build":  # a child, so the parent's memory stays small
        print(build_log(args.cache, args.sizes[0], args.windows[0]))
        return
    if args.task:  # a child: one task, one JSON line
        print(json.dumps(run_task(args.task, args.folder, args.repeat)))
        return
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; best of "
          f"{args.repeat}; peak = VmHWM of a fresh process per task")
    print(f"{'rows':>9} {'windows':>7}  {'task':<21} {'seconds':>8} {'peak MB':>8} "
          f"{'x numpy s':>9} {'x numpy MB':>10}")
    for windows in args.windows:
        for rows in args.sizes:
            built = subprocess.run(
                [sys.executable, __file__, "--task", "build", "--sizes", str(rows),
                 "--windows", str(windows), "--cache", str(args.cache)],
                capture_output=True, text=True, check=True)
            folder = Path(built.stdout.strip().splitlines()[-1])
            results = {}
            for task in TASKS:
                if task == "drift pandas" and rows > args.pandas_max:
                    continue
                out = subprocess.run(
                    [sys.executable, __file__, "--task", task, "--folder", str(folder),
                     "--repeat", str(args.repeat)], capture_output=True, text=True, check=True)
                results[task] = json.loads(out.stdout.strip().splitlines()[-1])
                floor = results.get("numpy/scipy " + task.split()[0], results[task])
                print(f"{rows:>9,} {windows:>7}  {task:<21} {results[task]['seconds']:>8.2f} "
                      f"{results[task]['peak_mb']:>8.0f} "
                      f"{results[task]['seconds'] / max(floor['seconds'], 1e-9):>9.2f} "
                      f"{results[task]['peak_mb'] / floor['peak_mb']:>10.2f}", flush=True)


if __name__ == "__main__":
    main()
