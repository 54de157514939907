"""Time the production-stream simulator on millions of rows.

Usage (the Telco CSV must be reachable, e.g. ``CLOSEDLOOP_DATA_HOME=../shared/data/telco``)::

    python benchmarks/bench_simulate.py --rows 2400000 --repeat 3

Prints the best of ``--repeat`` runs for: building the simulator (true-model fit + population),
one day of ``--rows`` rows under ``none`` and under a drift scenario, the same rows spread over
30 days, and a naive baseline, ``reference.sample(rows, replace=True)``, which resamples the real
rows without noise, labels, timestamps or scenarios.
"""

from __future__ import annotations

import argparse

import pandas as pd
from _timing import best_of  # benchmarks/_timing.py, beside this script

from closedloop.contract.telco import load_telco
from closedloop.simulate.scenarios import get_scenario
from closedloop.simulate.stream import StreamSimulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_400_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--population", type=int, default=50_000)
    args = parser.parse_args(argv)
    reference = load_telco()
    rows, repeat = args.rows, args.repeat

    def build() -> StreamSimulator:
        return StreamSimulator(reference, seed=0, population=args.population)

    build_seconds = best_of(repeat, build)
    sim = build()
    drift = get_scenario("price_increase", start_day=0)
    cases = {
        "baseline: reference.sample(replace=True)":
            lambda: reference.sample(rows, replace=True, random_state=0).reset_index(drop=True),
        "stream none, 1 day": lambda: sim.stream(1, rows),
        "stream price_increase, 1 day": lambda: sim.stream(1, rows, drift),
        "stream concept_drift, 1 day": lambda: sim.stream(1, rows, "concept_drift"),
        "stream none, 30 days": lambda: sim.stream(30, rows // 30),
    }
    seconds = {name: best_of(repeat, work) for name, work in cases.items()}
    baseline = seconds[next(iter(cases))]
    table = pd.DataFrame({
        "seconds": seconds,
        "rows/s": {name: round(rows / s) for name, s in seconds.items()},
        "x baseline time": {name: s / baseline for name, s in seconds.items()},
    })
    print(f"rows={rows:,} population={args.population:,} best of {repeat}")
    print(f"build simulator (fit true model + population): {build_seconds:.3f} s")
    with pd.option_context("display.float_format", "{:,.3f}".format, "display.width", 120):
        print(table.to_string())


if __name__ == "__main__":
    main()
