"""How drift, the label-free estimate and batch scoring scale with rows: seconds, peak RSS, ratios.

Usage (the Telco CSV must be reachable, e.g. ``CLOSEDLOOP_DATA_HOME=../shared/data/telco``)::

    python benchmarks/bench_scaling.py                 # 10k .. 2.4M rows, drift also at 10M
    python benchmarks/bench_scaling.py --sizes 10000 100000 --big 0 --no-scoring   # quick

For every size it builds (once, cached under ``--cache``) a Parquet inference log of that many
rows with the Telco schema (the Telco rows resampled, fresh customer ids, a random score, two
model versions) over one daily window, plus a 30-window log at ``--windows-at`` rows, and a
Parquet batch to score. Every measurement runs in a **fresh interpreter** (peak memory is that
process's ``VmHWM``, see ``_timing.peak_rss_mb``), best of ``--repeat`` runs in that process,
and is printed beside its in-run baseline:

- ``drift``: :func:`closedloop.monitoring.aggregates.drift_from_log` (baseline and consecutive
  drift, 22 columns), against a **numpy/scipy pass** that reads the same columns one at a time
  with pyarrow (categories as dictionary codes) and calls ``np.unique`` + ``chi2_contingency``
  per categorical column and window and ``ks_2samp`` per numeric one;
- ``estimate``: :func:`closedloop.monitoring.aggregates.estimate_from_log` (CBPE with its
  analytic band), against a **numpy pass** that reads score and prediction, applies the
  isotonic calibration and sums the expected confusion counts per window;
- ``scoring``: :func:`closedloop.scoring.batch.score_file` with the pandas engine, end to end
  (read Parquet, contract check, features, model, risk tier, write, log), against the **raw
  model**: LightGBM's ``predict_proba`` on features built beforehand, on every core;
- ``python``: the interpreter with the imports only, the memory floor every task pays.

The results go to ``benchmarks/results/scaling.json`` (``--out``); the load average is printed
(and stored) at the start and the end: ratios to the in-run baselines are what stays comparable
on a busy machine. ``--markdown`` prints the README's drift and estimate table from that file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import in_child, load_average, peak_rss_mb  # noqa: E402  (beside this script)

#: work -> (task measured, its baseline)
WORKS = {"drift": ("drift log", "numpy/scipy drift"),
         "estimate": ("estimate log", "numpy estimate"),
         "scoring": ("scoring pandas", "raw predict_proba")}
PEERS = {  # figures quoted from issue 14 (same machine, 2.4M rows, 19 features), not run here
    "drift, one window": "Evidently 0.7: 44-59 s, 2.3 GB peak",
    "drift, 30 daily windows": "NannyML 0.13: 25 s, 1.9 GB peak",
    "estimate (CBPE), 30 windows": "NannyML 0.13: 0.7 s (+0.9 s fit)",
}


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


def build_scoring(root: Path, rows: int) -> Path:
    """A workspace with a trained champion (shared by all sizes) and a batch of ``rows``."""
    import pandas as pd

    from closedloop.config import Workspace, quiet_mlflow
    from closedloop.contract.telco import TELCO_SCHEMA, load_telco

    folder = root / "scoring"
    ws = Workspace(folder / "ws")
    if not (folder / "trained").exists():
        from closedloop.model.promotion import promote
        from closedloop.model.registry import train_and_register
        from closedloop.model.train import TrainConfig

        quiet_mlflow()
        train_and_register(load_telco(), TELCO_SCHEMA, ws, TrainConfig(n_trials=0))
        promote(ws, reason="benchmark", force=True)
        (folder / "trained").touch()
    source = folder / f"batch_{rows}.parquet"
    if not source.exists():
        telco = load_telco().drop(columns=[TELCO_SCHEMA.target])
        part = telco.sample(rows, replace=True, random_state=rows).reset_index(drop=True)
        part["customerID"] = [f"s{i}" for i in range(rows)]
        part["event_time"] = (pd.Timestamp("2026-01-05")
                              + pd.to_timedelta(part.index % 86_400, unit="s")
                              ).astype("datetime64[us]")
        part.to_parquet(source, index=False)
    return source


def baseline_frame():
    """The drift and estimate reference: the Telco rows with a random score and their labels."""
    import numpy as np

    from closedloop.contract.telco import TELCO_SCHEMA, load_telco

    telco = load_telco()
    rng = np.random.default_rng(1)
    proba = rng.random(len(telco))
    return telco.assign(prediction_proba=proba, prediction=(proba >= 0.5).astype(int),
                        ground_truth=TELCO_SCHEMA.target_as_int(telco))


def monitoring_work(task: str, folder: Path):
    """The work of one monitoring task on the log in ``folder`` (set-up not timed)."""
    import numpy as np

    from closedloop.contract.telco import TELCO_SCHEMA
    from closedloop.monitoring.aggregates import drift_from_log, estimate_from_log, log_columns
    from closedloop.monitoring.estimate import CBPE
    from closedloop.monitoring.store import InferenceLog

    log = InferenceLog(folder, TELCO_SCHEMA)
    base = baseline_frame()
    kinds = {k: v for k, v in log_columns(log).items() if k != "ground_truth"}

    def column(name: str, dictionary: bool = False):
        import pyarrow.parquet as pq

        table = pq.read_table(log.predictions_dir, columns=[name],
                              read_dictionary=[name] if dictionary else None)
        return table.column(0).combine_chunks()

    def days():
        return column("timestamp").to_numpy().astype("datetime64[D]")

    def numpy_drift():
        from scipy import stats

        day = days()
        order = np.argsort(day, kind="stable")
        bounds = np.flatnonzero(np.r_[True, day[order][1:] != day[order][:-1], True])
        for name, kind in kinds.items():
            if kind == "numeric":
                values = column(name).to_numpy(zero_copy_only=False).astype(float)[order]
                ref = base[name].dropna().to_numpy(float)
                for lo, hi in zip(bounds[:-1], bounds[1:]):
                    part = values[lo:hi]
                    stats.ks_2samp(ref, part[~np.isnan(part)])
                continue
            array = column(name, dictionary=name != "prediction")
            if hasattr(array, "dictionary"):
                names = np.asarray(array.dictionary.to_pylist(), dtype=str)
                local = array.indices.fill_null(-1).to_numpy()
            else:
                names, local = np.unique(array.to_numpy().astype(str), return_inverse=True)
            reference = base[name].dropna().astype(str).to_numpy()
            labels = np.union1d(names, reference)
            codes = np.where(local >= 0, np.searchsorted(labels, names)[local], -1)[order]
            ref = np.searchsorted(labels, reference)
            for lo, hi in zip(bounds[:-1], bounds[1:]):
                part = codes[lo:hi]
                table = np.stack([np.bincount(ref, minlength=labels.size),
                                  np.bincount(part[part >= 0], minlength=labels.size)])
                stats.chi2_contingency(table[:, table.sum(0) > 0], correction=False)

    cbpe = CBPE().fit(base)

    def numpy_estimate():
        proba = column("prediction_proba").to_numpy()
        predicted = column("prediction").to_numpy()
        _, codes = np.unique(days(), return_inverse=True)
        p = cbpe.calibrate(proba)
        np.bincount(codes, p * predicted) / np.maximum(np.bincount(codes), 1)

    return {"python": lambda: None,
            "numpy/scipy drift": numpy_drift,
            "drift log": lambda: drift_from_log(log, base, granularity="1d"),
            "numpy estimate": numpy_estimate,
            "estimate log": lambda: estimate_from_log(log, cbpe, "1d")}[task]


def scoring_work(task: str, source: Path):
    """The work of one scoring task on the batch ``source`` (set-up not timed)."""
    import pandas as pd

    from closedloop.config import Workspace, quiet_mlflow
    from closedloop.model.registry import load_model
    from closedloop.scoring.batch import check_input, score_file

    quiet_mlflow()
    ws = Workspace(source.parent / "ws")
    output = source.parent / f"out_{os.getpid()}.parquet"
    if task == "raw predict_proba":
        pipeline = load_model(ws).unwrap_python_model().pipeline
        checked = check_input(pd.read_parquet(source).drop(columns="event_time"))
        features = pipeline.named_steps["features"].transform(checked)
        del checked
        classifier = pipeline.named_steps["model"]
        classifier.set_params(n_jobs=os.cpu_count() or 1)
        return lambda: classifier.predict_proba(features)

    def score(batch: Path = source) -> None:
        import shutil

        shutil.rmtree(ws.tables_dir / "inference_log", ignore_errors=True)  # log it again
        score_file(ws, batch, output, engine="pandas", timestamp="event_time",
                   scored_at="2026-02-01", overwrite=True)

    score(build_scoring(source.parent.parent, 1_000))   # warm-up, not timed: imports
    return score


def child(task: str, path: Path, repeat: int) -> dict:
    """One task in this fresh process: best seconds of ``repeat`` runs, and peak RSS."""
    work = (scoring_work if task in WORKS["scoring"] else monitoring_work)(task, path)
    from closedloop.monitoring import store

    best = float("inf")
    for _ in range(repeat):
        store._SHADOWED.clear()   # every run reads the ids again (no cache from the last run)
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return {"seconds": best, "peak_mb": peak_rss_mb()}


def measure(task: str, path: Path, repeat: int) -> dict:
    return in_child(__file__, ["--task", task, "--path", str(path), "--repeat", str(repeat)])


def markdown(report: dict, works: tuple[str, ...] = ("drift", "estimate")) -> str:
    """The README's table of ``works`` from a report this script wrote, peers quoted below."""
    lines = ["| work | rows | windows | seconds | peak MB | baseline | baseline s | baseline MB "
             "| x time | x memory |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        if r["work"] in works:
            lines.append(f"| {r['work']} | {r['rows']:,} | {r['windows']} | {r['seconds']:.2f} "
                         f"| {r['peak_mb']:.0f} | {r['baseline']} | {r['baseline_seconds']:.2f}"
                         f" | {r['baseline_peak_mb']:.0f} | {r['time_ratio']:.2f} "
                         f"| {r['peak_ratio']:.2f} |")
    peers = "; ".join(f"{work}: {figure}" for work, figure in report["peers"].items())
    machine = report["machine"]
    return ("\n".join(lines) + f"\n\nMeasured {machine['date']} on {machine['cores']} cores, "
            f"load average {machine['load_average_start'][0]} at the start and "
            f"{machine['load_average_end'][0]} at the end; the interpreter with its imports "
            f"alone peaks at {report['python_floor_mb']:.0f} MB. Peers on 2.4M rows, measured "
            f"on this machine for issue 14 (not run by the script): {peers}.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+",
                        default=[10_000, 100_000, 1_000_000, 2_400_000])
    parser.add_argument("--big", type=int, default=10_000_000,
                        help="drift only at this size (0: skip)")
    parser.add_argument("--windows-at", type=int, default=2_400_000,
                        help="also drift and estimate 30 daily windows at this size (0: skip)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-scoring", action="store_true")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/closedloop-bench-scaling"))
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "results" / "scaling.json")
    parser.add_argument("--markdown", action="store_true",
                        help="print the README's drift and estimate table from --out, run nothing")
    parser.add_argument("--task", help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.task:   # a child: one measurement, one JSON line
        print(json.dumps(child(args.task, args.path, args.repeat)))
        return
    if args.markdown:
        print(markdown(json.loads(args.out.read_text())))
        return
    started_load = load_average()
    print(f"load average at start (1/5/15 min): {started_load} on {os.cpu_count()} cores; "
          f"best of {args.repeat} per fresh process; peak = VmHWM of that process")
    floor = measure("python", args.cache, 1) if args.cache.exists() else None
    runs = [(rows, 1, work) for rows in args.sizes for work in WORKS
            if work != "scoring" or not args.no_scoring]
    if args.windows_at:
        runs += [(args.windows_at, 30, "drift"), (args.windows_at, 30, "estimate")]
    if args.big:
        runs.append((args.big, 1, "drift"))
    results = []
    print(f"{'work':<9} {'rows':>10} {'win':>3}  {'seconds':>8} {'peak MB':>8}  "
          f"{'baseline s':>10} {'MB':>6}  {'x time':>6} {'x MB':>5}")
    for rows, windows, work in runs:
        args.cache.mkdir(parents=True, exist_ok=True)
        path = (build_scoring(args.cache, rows) if work == "scoring"
                else build_log(args.cache, rows, windows))
        if floor is None:
            floor = measure("python", args.cache, 1)
        repeat = args.repeat if rows < 1_000_000 or work != "scoring" else 1
        task, base = WORKS[work]
        done = measure(task, path, repeat)
        ref = measure(base, path, repeat)
        row = {"work": work, "rows": rows, "windows": windows, "task": task,
               "seconds": round(done["seconds"], 4), "peak_mb": round(done["peak_mb"], 1),
               "baseline": base, "baseline_seconds": round(ref["seconds"], 4),
               "baseline_peak_mb": round(ref["peak_mb"], 1),
               "time_ratio": round(done["seconds"] / max(ref["seconds"], 1e-9), 3),
               "peak_ratio": round(done["peak_mb"] / ref["peak_mb"], 3)}
        results.append(row)
        print(f"{work:<9} {rows:>10,} {windows:>3}  {row['seconds']:>8.2f} {row['peak_mb']:>8.0f}"
              f"  {row['baseline_seconds']:>10.2f} {row['baseline_peak_mb']:>6.0f}  "
              f"{row['time_ratio']:>6.2f} {row['peak_ratio']:>5.2f}", flush=True)
    ended_load = load_average()
    print(f"load average at end (1/5/15 min): {ended_load}; python imports alone: "
          f"{floor['peak_mb']:.0f} MB")
    report = {"machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                          "load_average_start": started_load, "load_average_end": ended_load,
                          "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())},
              "python_floor_mb": round(floor["peak_mb"], 1), "repeat": args.repeat,
              "peers": PEERS, "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.out.name}")


if __name__ == "__main__":
    main()
