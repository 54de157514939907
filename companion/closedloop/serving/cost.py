"""What scoring costs, batch against online, from measured throughput and your prices.

A batch job pays for the core-seconds it runs (the rows divided by its throughput, plus a fixed
start-up per run: scheduling, loading the model, reading the table); an online service pays for
its replicas around the clock, sized for the peak request rate, not the average. Every price and
volume is a parameter: the figures only mean something with your own.

See Also
--------
Chapter :doc:`Real-time serving and the batch-versus-real-time decision </book/09_real_time_serving>`.
"""

from __future__ import annotations

import math

import pandas as pd

HOURS_PER_DAY = 24.0
DAYS_PER_MONTH = 30.0


def serving_cost(*, rows_per_day: float, batch_rows_per_second: float,
                 online_requests_per_second: float, peak_requests_per_second: float,
                 cost_per_core_hour: float, batch_runs_per_day: int = 1,
                 batch_startup_seconds: float = 60.0, cores_per_replica: int = 1,
                 min_replicas: int = 2, target_utilisation: float = 0.5) -> pd.DataFrame:
    """Daily and monthly cost of scoring ``rows_per_day`` rows in batch and online.

    Parameters
    ----------
    rows_per_day : float
        Scores needed per day (online: one single-row request each).
    batch_rows_per_second : float
        Measured batch throughput of one core (rows/s).
    online_requests_per_second : float
        Measured single-row requests/s one replica answers.
    peak_requests_per_second : float
        The busiest second the online service must absorb.
    cost_per_core_hour : float
        Price of one core for one hour (any currency).
    batch_runs_per_day : int
        How often the batch job runs; its scores are at most ``24 / runs`` hours old.
    batch_startup_seconds : float
        Fixed cost of one batch run (core-seconds), whatever its size.
    cores_per_replica : int
        Cores each online replica reserves.
    min_replicas : int
        Replicas kept up at all times (two: one can fail or be redeployed).
    target_utilisation : float
        Fraction of a replica's measured capacity planned for at peak (headroom for bursts).

    Returns
    -------
    DataFrame
        Indexed by ``batch`` and ``online``: ``replicas``, ``core_hours_per_day``,
        ``cost_per_day``, ``cost_per_month`` (30 days), ``cost_per_million_rows``,
        ``average_utilisation`` (core time busy scoring) and ``score_age`` (how stale a score
        can be when it is used).

    Examples
    --------
    >>> table = serving_cost(rows_per_day=1_000_000, batch_rows_per_second=20_000,
    ...                      online_requests_per_second=500, peak_requests_per_second=100,
    ...                      cost_per_core_hour=0.05)
    >>> table[["replicas", "core_hours_per_day", "cost_per_day"]].round(3)
            replicas  core_hours_per_day  cost_per_day
    batch          1               0.031         0.002
    online         2              48.000         2.400
    >>> table.loc["batch", "score_age"]
    'up to 24 h'
    """
    values = {"rows_per_day": rows_per_day, "batch_rows_per_second": batch_rows_per_second,
              "online_requests_per_second": online_requests_per_second,
              "cost_per_core_hour": cost_per_core_hour}
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
    if peak_requests_per_second < 0 or batch_startup_seconds < 0:
        raise ValueError("peak_requests_per_second and batch_startup_seconds must be >= 0")
    if batch_runs_per_day < 1 or cores_per_replica < 1 or min_replicas < 1:
        raise ValueError("batch_runs_per_day, cores_per_replica and min_replicas must be >= 1")
    if not 0 < target_utilisation <= 1:
        raise ValueError(f"target_utilisation must be in (0, 1], got {target_utilisation!r}")

    busy_batch = rows_per_day / batch_rows_per_second
    batch_core_hours = (busy_batch + batch_runs_per_day * batch_startup_seconds) / 3600
    replicas = max(min_replicas, math.ceil(
        peak_requests_per_second / (online_requests_per_second * target_utilisation)))
    online_core_hours = replicas * cores_per_replica * HOURS_PER_DAY
    busy_online = rows_per_day / online_requests_per_second
    rows = {
        "batch": (1, batch_core_hours, busy_batch / 3600 / batch_core_hours,
                  f"up to {HOURS_PER_DAY / batch_runs_per_day:g} h"),
        "online": (replicas, online_core_hours,
                   busy_online / 3600 / (replicas * HOURS_PER_DAY), "fresh per request"),
    }
    table = pd.DataFrame.from_dict(rows, orient="index", columns=[
        "replicas", "core_hours_per_day", "average_utilisation", "score_age"])
    table["cost_per_day"] = table["core_hours_per_day"] * cost_per_core_hour
    table["cost_per_month"] = table["cost_per_day"] * DAYS_PER_MONTH
    table["cost_per_million_rows"] = table["cost_per_day"] / rows_per_day * 1e6
    return table[["replicas", "core_hours_per_day", "cost_per_day", "cost_per_month",
                  "cost_per_million_rows", "average_utilisation", "score_age"]]
