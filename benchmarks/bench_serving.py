"""Time the scoring service against ``mlflow models serve`` for the same registered version.

Usage (the Telco CSV must be reachable, e.g. ``CLOSEDLOOP_DATA_HOME=../shared/data/telco``)::

    python benchmarks/bench_serving.py --requests 400 --concurrency 1,4,16 --batch-rows 100000

Trains and registers one model (no HPO) in a temporary workspace and promotes it, then starts
two servers on 127.0.0.1: ``closedloop serve`` (this package: compiled path, one worker) and
``mlflow models serve -m models:/NAME/VERSION --env-manager local`` (the pyfunc behind MLflow's
own scoring server, one worker), with ``MLFLOW_TRACKING_URI``/``MLFLOW_REGISTRY_URI`` set to the
workspace's store. Each is sent ``--requests`` requests of 1 row and of 100 rows at each
concurrency (that many client threads, one keep-alive connection each), after a warm-up; the
latency percentiles and the requests/s are printed, then the ratios. The client runs on the same
machine, so at high concurrency both servers share the cores with it.

The batch side times rows/s on ``--batch-rows`` Telco rows (resampled): the compiled path
(contract check included), the scikit-learn pipeline's ``predict_proba`` (no contract check),
and the raw ``Booster.predict`` on a matrix already built, each with one thread.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from _timing import best_of  # benchmarks/_timing.py, beside this script

from closedloop.config import Workspace, quiet_mlflow
from closedloop.contract.telco import TELCO_SCHEMA, load_telco
from closedloop.model.compiled import CompiledPredictor
from closedloop.model.promotion import promote
from closedloop.model.registry import DEFAULT_MODEL_NAME, train_and_register
from closedloop.model.train import TrainConfig

COMPANION = Path(__file__).resolve().parents[1] / "companion"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(command, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def wait(url: str, process: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} not ready: {log.read_text()[-2000:]}")


def load(url: str, payload: dict | list, requests: int, concurrency: int) -> dict[str, float]:
    """Send ``requests`` POSTs from ``concurrency`` threads; latency percentiles and req/s."""
    latencies: list[float] = []
    failures = [0]
    per_thread = max(1, requests // concurrency)
    lock = threading.Lock()

    def worker() -> None:
        mine, bad = [], 0
        with httpx.Client(timeout=60) as client:
            for _ in range(per_thread):
                started = time.perf_counter()
                response = client.post(url, json=payload)
                mine.append(time.perf_counter() - started)
                bad += response.status_code != 200
        with lock:
            latencies.extend(mine)
            failures[0] += bad

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    return {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
            "p99": float(np.percentile(ms, 99)), "rps": len(ms) / elapsed,
            "failed": failures[0]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="per configuration")
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--sizes", default="1,100", help="rows per request")
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-mlflow", action="store_true", help="skip mlflow models serve")
    args = parser.parse_args(argv)
    quiet_mlflow()
    telco = load_telco()
    features = telco.drop(columns=[TELCO_SCHEMA.target])
    tmp = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    ws = Workspace.resolve(tmp / "ws")
    result = train_and_register(telco, TELCO_SCHEMA, ws, TrainConfig(n_trials=0, seed=42))
    version = result.model_version
    promote(ws, version, reason="benchmark", force=True)
    print(f"model {DEFAULT_MODEL_NAME} v{version} in {ws.root}")

    # ------------------------------------------------------------------ batch side
    compiled = CompiledPredictor.from_registry(ws, version)
    rows = features.sample(args.batch_rows, replace=True, random_state=0).reset_index(drop=True)
    X = compiled.matrix(rows)
    timings = {
        "compiled (contract check + matrix + Booster, 1 thread)":
            best_of(args.repeat, lambda: compiled.predict_proba(rows, num_threads=1)),
        "pipeline predict_proba (no contract check)":
            best_of(args.repeat, lambda: compiled.pipeline.predict_proba(rows)),
        "raw Booster.predict on a built matrix, 1 thread":
            best_of(args.repeat, lambda: compiled.booster.predict(X, num_threads=1)),
    }
    print(f"\nbatch scoring, {len(rows):,} rows (best of {args.repeat}):")
    for name, seconds in timings.items():
        print(f"  {name:<56} {len(rows) / seconds:>12,.0f} rows/s  ({seconds:.3f} s)")

    # ------------------------------------------------------------------ servers
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(COMPANION), os.environ.get("PYTHONPATH", "")]),
        "MLFLOW_TRACKING_URI": ws.tracking_uri, "MLFLOW_REGISTRY_URI": ws.tracking_uri,
        # mlflow models serve execs `uvicorn` by name: the one beside this interpreter.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    ours_port, mlflow_port = free_port(), free_port()
    servers = {"closedloop": (start(
        [sys.executable, "-m", "closedloop.cli", "serve", "--workdir", str(ws.root), "--port",
         str(ours_port), "--poll-interval", "0", "--max-concurrency", "256", "--quiet"],
        env, tmp / "closedloop.log"), f"http://127.0.0.1:{ours_port}", "/health")}
    if not args.no_mlflow:
        mlflow_bin = str(Path(sys.executable).with_name("mlflow"))
        servers["mlflow"] = (start(
            [mlflow_bin, "models", "serve", "-m", f"models:/{DEFAULT_MODEL_NAME}/{version}",
             "--env-manager", "local", "-h", "127.0.0.1", "-p", str(mlflow_port), "-w", "1"],
            env, tmp / "mlflow.log"), f"http://127.0.0.1:{mlflow_port}", "/ping")
    try:
        for name, (process, base, ready) in servers.items():
            wait(base + ready, process, tmp / f"{name}.log")
        records = features.head(100).to_dict("records")
        table = []
        for size in [int(s) for s in args.sizes.split(",")]:
            for concurrency in [int(c) for c in args.concurrency.split(",")]:
                for name, (_, base, _) in servers.items():
                    body = records[:size] if name == "closedloop" else {
                        "dataframe_records": records[:size]}
                    url = base + ("/predict" if name == "closedloop" else "/invocations")
                    load(url, body, min(50, args.requests), concurrency)  # warm-up
                    stats = load(url, body, args.requests, concurrency)
                    table.append((name, size, concurrency, stats))
        print(f"\nloopback HTTP, {args.requests} requests per line (client threads = concurrency)")
        print(f"  {'server':<11} {'rows':>4} {'conc':>4} {'p50 ms':>8} {'p95 ms':>8} "
              f"{'p99 ms':>8} {'req/s':>8} {'failed':>6}")
        for name, size, concurrency, s in table:
            print(f"  {name:<11} {size:>4} {concurrency:>4} {s['p50']:>8.2f} {s['p95']:>8.2f} "
                  f"{s['p99']:>8.2f} {s['rps']:>8.1f} {s['failed']:>6}")
        if "mlflow" in servers:
            print("\nratios (mlflow / closedloop: latency; closedloop / mlflow: throughput)")
            by_key = {(n, size, c): s for n, size, c, s in table}
            for (name, size, concurrency), ours in by_key.items():
                if name != "closedloop":
                    continue
                theirs = by_key[("mlflow", size, concurrency)]
                print(f"  rows {size:>3} conc {concurrency:>2}: "
                      f"p50 x{theirs['p50'] / ours['p50']:.1f}"
                      f"  p99 x{theirs['p99'] / ours['p99']:.1f}"
                      f"  req/s x{ours['rps'] / theirs['rps']:.1f}")
    finally:
        for process, _, _ in servers.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
