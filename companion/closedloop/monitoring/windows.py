"""Time windows: one definition of "the window a timestamp falls in", for pandas, DuckDB and Spark.

A granularity is a count and a unit: ``"1h"``, ``"6h"``, ``"1d"``, ``"1w"``, ``"1mo"`` (also
``"hour"``, ``"day"``, ``"week"``, ``"month"``). Windows are half-open, ``[start, end)``, on naive
timestamps (the inference log stores UTC without a zone). Hour, day and week windows are aligned
on Monday 2000-01-03 00:00, so weekly windows start on Mondays (as DuckDB's ``time_bucket`` and
ISO weeks do); month windows are calendar months counted from January 2000, so ``"3mo"`` windows
are calendar quarters. :func:`assign_windows` (pandas) and :func:`window_start_sql` (DuckDB or
Spark SQL) give the same window starts; the tests check it.

See Also
--------
Chapter :doc:`Ground truth and production accuracy </book/05_ground_truth>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

Unit = Literal["hour", "day", "week", "month"]
Dialect = Literal["duckdb", "spark"]

#: Column that holds the start of a row's window in every monitoring table.
WINDOW_START = "window_start"
#: Column that holds the (exclusive) end of a row's window.
WINDOW_END = "window_end"

_ALIASES: dict[str, Unit] = {
    "h": "hour", "hour": "hour", "hours": "hour", "d": "day", "day": "day", "days": "day",
    "w": "week", "week": "week", "weeks": "week", "mo": "month", "month": "month",
    "months": "month",
}
_SHORT: dict[Unit, str] = {"hour": "h", "day": "d", "week": "w", "month": "mo"}
_NS: dict[Unit, int] = {"hour": 3_600 * 10**9, "day": 86_400 * 10**9, "week": 7 * 86_400 * 10**9}
# Hour/day/week windows count from a Monday, so weeks start on Mondays in every engine.
ORIGIN = pd.Timestamp("2000-01-03")
_MONTH_ORIGIN_YEAR = 2000


@dataclass(frozen=True)
class Granularity:
    """The width of a time window: ``count`` times ``unit``.

    Examples
    --------
    >>> Granularity.parse("6h")
    Granularity(count=6, unit='hour')
    >>> Granularity.parse("month").label
    '1mo'
    """

    count: int
    unit: Unit

    def __post_init__(self) -> None:
        if self.unit not in _SHORT or int(self.count) != self.count or self.count < 1:
            raise ValueError(f"invalid granularity {self.count!r} {self.unit!r}: expected a "
                             "whole count >= 1 of hour, day, week or month")

    @classmethod
    def parse(cls, value: str | Granularity) -> Granularity:
        """Read ``"1d"``, ``"6h"``, ``"2w"``, ``"1mo"``, ``"day"``, ... (case-insensitive)."""
        if isinstance(value, Granularity):
            return value
        match = re.fullmatch(r"\s*(\d*)\s*([a-z]+)\s*", str(value).lower())
        if not match or match.group(2) not in _ALIASES:
            raise ValueError(f"unknown granularity {value!r}: use e.g. 1h, 6h, 1d, 1w, 1mo "
                             "(or hour, day, week, month)")
        return cls(int(match.group(1) or 1), _ALIASES[match.group(2)])

    @property
    def label(self) -> str:
        """Short form, which parse reads back (``1d``)."""
        return f"{self.count}{_SHORT[self.unit]}"

    @property
    def width_ns(self) -> int | None:
        """Width in nanoseconds (None for months, whose length varies)."""
        return None if self.unit == "month" else self.count * _NS[self.unit]

    def end(self, start: pd.Series | pd.Timestamp) -> pd.Series | pd.Timestamp:
        """The exclusive end of the window(s) starting at ``start``."""
        if self.unit == "month":
            return start + pd.DateOffset(months=self.count)
        return start + pd.Timedelta(self.width_ns, "ns")


def assign_windows(timestamps: pd.Series | pd.DatetimeIndex,
                   granularity: str | Granularity = "1d") -> pd.Series:
    """The start of the window each timestamp falls in (``datetime64[ns]``, NaT stays NaT).

    Parameters
    ----------
    timestamps : pandas.Series or pandas.DatetimeIndex
        Naive timestamps (a zone-aware series is converted to UTC first).
    granularity : str or Granularity
        Window width, e.g. ``"1h"``, ``"1d"``, ``"1w"``, ``"1mo"``.

    Returns
    -------
    Series
        Named ``window_start``, aligned with ``timestamps``.

    Examples
    --------
    >>> ts = pd.Series(pd.to_datetime(["2026-01-07 10:30", "2026-02-28 23:59"]))
    >>> [str(t.date()) for t in assign_windows(ts, "1w")]  # Mondays
    ['2026-01-05', '2026-02-23']
    >>> [str(t.date()) for t in assign_windows(ts, "1mo")]
    ['2026-01-01', '2026-02-01']
    """
    grain = Granularity.parse(granularity)
    values = pd.Series(timestamps)
    index = values.index
    values = _naive(values)
    if grain.unit == "month":
        months = (values.dt.year - _MONTH_ORIGIN_YEAR) * 12 + values.dt.month - 1
        bucket = np.floor(months / grain.count) * grain.count
        out = pd.to_datetime(pd.DataFrame({
            "year": _MONTH_ORIGIN_YEAR + bucket // 12, "month": bucket % 12 + 1, "day": 1}))
    else:
        ns = values.astype("int64").to_numpy()
        width, origin = int(grain.width_ns or 0), ORIGIN.value
        start = origin + ((ns - origin) // width) * width
        out = pd.Series(start, index=values.index).astype("datetime64[ns]").where(values.notna())
    return pd.Series(out.to_numpy(), index=index, name=WINDOW_START).astype("datetime64[ns]")


def _naive(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return pd.to_datetime(values).astype("datetime64[ns]")


def window_start_sql(column: str, granularity: str | Granularity = "1d",
                     dialect: Dialect = "duckdb") -> str:
    """A SQL expression for the window start of timestamp expression ``column``.

    DuckDB uses ``time_bucket`` with explicit origins; Spark uses arithmetic on epoch
    microseconds (run the Spark session in UTC, as
    :func:`closedloop.monitoring.spark.spark_session` does). Both agree with
    :func:`assign_windows`.

    Examples
    --------
    >>> window_start_sql("ts", "1w")
    "time_bucket(INTERVAL '7 days', ts, TIMESTAMP '2000-01-03 00:00:00')"
    >>> window_start_sql("ts", "2mo")
    "time_bucket(INTERVAL '2 months', ts, TIMESTAMP '2000-01-01 00:00:00')"
    """
    grain = Granularity.parse(granularity)
    if dialect == "duckdb":
        if grain.unit == "month":
            return (f"time_bucket(INTERVAL '{grain.count} months', {column}, "
                    f"TIMESTAMP '{_MONTH_ORIGIN_YEAR}-01-01 00:00:00')")
        seconds = int(grain.width_ns or 0) // 10**9
        interval = f"{seconds // 86_400} days" if seconds % 86_400 == 0 else f"{seconds} seconds"
        return f"time_bucket(INTERVAL '{interval}', {column}, TIMESTAMP '{ORIGIN}')"
    if dialect != "spark":
        raise ValueError(f"unknown SQL dialect {dialect!r}: duckdb or spark")
    if grain.unit == "month":
        months = f"((year({column}) - {_MONTH_ORIGIN_YEAR}) * 12 + month({column}) - 1)"
        bucket = f"(floor({months} / {grain.count}) * {grain.count})"
        return (f"cast(make_date({_MONTH_ORIGIN_YEAR} + cast(floor({bucket} / 12) as int), "
                f"cast(pmod({bucket}, 12) as int) + 1, 1) as timestamp_ntz)")
    width, origin = int(grain.width_ns or 0) // 1000, ORIGIN.value // 1000
    micros = f"unix_micros(cast({column} as timestamp))"
    return (f"cast(timestamp_micros({origin} + floor(({micros} - {origin}) / {width}) * {width})"
            f" as timestamp_ntz)")


def add_windows(frame: pd.DataFrame, granularity: str | Granularity = "1d", *,
                column: str = "timestamp") -> pd.DataFrame:
    """A copy of ``frame`` with ``window_start`` and ``window_end`` of its ``column``.

    Examples
    --------
    >>> frame = pd.DataFrame({"timestamp": pd.to_datetime(["2026-01-01 10:00"])})
    >>> add_windows(frame, "6h")[["window_start", "window_end"]].astype(str).iloc[0].tolist()
    ['2026-01-01 06:00:00', '2026-01-01 12:00:00']
    """
    grain = Granularity.parse(granularity)
    start = assign_windows(frame[column], grain)
    return frame.assign(**{WINDOW_START: start, WINDOW_END: grain.end(start)})
