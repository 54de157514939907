"""Column statistics per time window: null rates, means, quantiles and category frequencies.

The input side of the profile: for each window and model version, every numeric column's null
rate, mean, standard deviation, quantiles and number of distinct values
(:func:`column_profile`), and every categorical column's value frequencies, missing values
included (:func:`category_frequencies`). One pass over the rows per kind of column, in SQL that
DuckDB and Spark both run (:func:`numeric_profile_sql`, :func:`category_sql`). These tables are
what a dashboard shows next to the drift statistics.

See Also
--------
Chapter :doc:`Ground truth and production accuracy </book/05_ground_truth>`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd

from closedloop.contract.schema import Schema
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.monitoring._storage import (
    MODEL_VERSION,
    PREDICTION,
    PREDICTION_PROBA,
    TIMESTAMP,
    quote,
)
from closedloop.monitoring.metrics import _TABLE, _duckdb_runner
from closedloop.monitoring.store import InferenceLog
from closedloop.monitoring.windows import (
    WINDOW_END,
    WINDOW_START,
    Dialect,
    Granularity,
    window_start_sql,
)

#: Statistics of the column profile for numeric columns.
NUMERIC_STATS: tuple[str, ...] = ("mean", "std", "min", "p05", "p25", "p50", "p75", "p95", "max")
_QUANTILES = {"p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}


def column_profile(source: InferenceLog | pd.DataFrame, granularity: str | Granularity = "1d",
                   *, columns: Sequence[str] | None = None, by: Sequence[str] = (MODEL_VERSION,),
                   schema: Schema | None = None, start: str | pd.Timestamp | None = None,
                   end: str | pd.Timestamp | None = None) -> pd.DataFrame:
    """Per window, group and column: row count, null rate and, for numbers, mean, std and quantiles.

    ``columns`` defaults to the schema's features plus ``prediction_proba`` (the schema is the
    log's when ``source`` is an :class:`~closedloop.monitoring.store.InferenceLog`, else
    Telco's). Categorical columns get the null rate and ``distinct`` (number of non-null values
    seen) only; see :func:`category_frequencies` for their frequencies. Quantiles interpolate
    linearly (numpy's default).

    Examples
    --------
    >>> log = pd.DataFrame({"timestamp": pd.to_datetime(["2026-01-01"] * 4),
    ...                     "tenure": [1.0, 2.0, None, 10.0], "Contract": ["a", "b", "a", None]})
    >>> column_profile(log, columns=["tenure", "Contract"], by=())[
    ...     ["column", "null_rate", "mean", "p50", "distinct"]]
         column  null_rate      mean  p50  distinct
    0  Contract       0.25       NaN  NaN         2
    1    tenure       0.25  4.333333  2.0         3
    """
    schema = source.schema if isinstance(source, InferenceLog) else (schema or TELCO_SCHEMA)
    numeric, categorical = split_columns(schema, columns)
    run = _duckdb_runner(source, list(by), start, end, None, extra=[*numeric, *categorical],
                         schema=schema)
    return column_table(run, granularity, list(by), numeric, categorical, "duckdb")


def split_columns(schema: Schema, columns: Sequence[str] | None = None
                  ) -> tuple[list[str], list[str]]:
    """``columns`` (default: features + ``prediction_proba``) split into numeric, categorical.

    Columns outside the schema are numeric, except ``prediction`` (a 0/1 class).
    """
    chosen = list(columns) if columns is not None else [*schema.feature_names, PREDICTION_PROBA]
    categorical = [c for c in chosen if c == PREDICTION or (
        c in schema.names and schema[c].kind in ("category", "id"))]
    return [c for c in chosen if c not in categorical], categorical


def column_table(run: Callable[[str], pd.DataFrame], granularity: str | Granularity,
                 keys: Sequence[str], numeric: Sequence[str], categorical: Sequence[str],
                 dialect: Dialect) -> pd.DataFrame:
    """Run the column-profile queries with ``run`` (any engine) and assemble the table."""
    group = [WINDOW_START, *keys]
    parts = []
    if numeric:
        raw = run(numeric_profile_sql(granularity, keys, numeric, dialect, _TABLE))
        parts.append(raw.rename(columns={"col_name": "column"}))
    if categorical:
        counts = _category_table(run(category_sql(granularity, keys, categorical, dialect,
                                                  _TABLE)), granularity, keys)
        stats = counts.groupby([*group, "column"], dropna=False).agg(
            row_count=("count", "sum"),
            null_count=("count", lambda c: c[counts.loc[c.index, "value"].isna()].sum()),
            distinct=("value", "count")).reset_index()
        parts.append(stats)
    out = pd.concat(parts, ignore_index=True)
    out[WINDOW_START] = pd.to_datetime(out[WINDOW_START]).astype("datetime64[ns]")
    out = out.sort_values([*group, "column"], kind="stable", na_position="last")
    out = out.reset_index(drop=True)
    out.insert(1, WINDOW_END, Granularity.parse(granularity).end(out[WINDOW_START]))
    out["row_count"] = out["row_count"].astype("int64")
    out["null_rate"] = out.pop("null_count") / out["row_count"]
    out["distinct"] = out["distinct"].fillna(0).astype("int64")
    ordered = [WINDOW_START, WINDOW_END, *keys, "column", "row_count", "null_rate",
               *NUMERIC_STATS, "distinct"]
    return out.reindex(columns=ordered).astype({s: float for s in NUMERIC_STATS})


def _long_sql(granularity: str | Granularity, keys: Sequence[str], columns: Sequence[str],
              cast: str, dialect: Dialect, table: str) -> str:
    """``base`` (the rows with their window) and ``long`` (one row per row x column)."""
    window = window_start_sql(TIMESTAMP, granularity, dialect)
    names = [quote(c, "any") for c in columns]
    cases = " ".join(f"WHEN '{c}' THEN CAST({c} AS {cast})" for c in names)
    values = ", ".join(f"('{c}')" for c in names)
    prefix = ", ".join([WINDOW_START, *keys])
    return (f"WITH base AS (SELECT {window} AS {WINDOW_START}, "
            f"{', '.join([*keys, *names])} FROM {table}), "
            f"long AS (SELECT {prefix}, c.col_name, CASE c.col_name {cases} END AS x "
            f"FROM base CROSS JOIN (VALUES {values}) AS c(col_name)) ")


def numeric_profile_sql(granularity: str | Granularity, keys: Sequence[str],
                        columns: Sequence[str], dialect: Dialect = "duckdb",
                        table: str = "inference_log") -> str:
    """One pass over the rows for every numeric column of :func:`column_profile`."""
    group = ", ".join([WINDOW_START, *keys, "col_name"])
    quantiles = ", ".join(f"{_quantile('x', q, dialect)} AS {name}"
                          for name, q in _QUANTILES.items())
    return (_long_sql(granularity, keys, columns, "DOUBLE", dialect, table)
            + f"SELECT {group}, count(*) AS row_count, count(*) - count(x) AS null_count, "
              f"avg(x) AS mean, stddev_samp(x) AS std, min(x) AS min, {quantiles}, "
              f"max(x) AS max, count(DISTINCT x) AS distinct FROM long GROUP BY {group}")


def _quantile(x: str, q: float, dialect: Dialect) -> str:
    return f"quantile_cont({x}, {q})" if dialect == "duckdb" else f"percentile({x}, {q})"


def category_frequencies(source: InferenceLog | pd.DataFrame,
                         granularity: str | Granularity = "1d", *,
                         columns: Sequence[str] | None = None,
                         by: Sequence[str] = (MODEL_VERSION,), schema: Schema | None = None,
                         start: str | pd.Timestamp | None = None,
                         end: str | pd.Timestamp | None = None) -> pd.DataFrame:
    """Per window, group, categorical column and value: count and share of the window's rows.

    A missing value is its own category (``value`` None), so the shares of a column sum to 1.
    ``columns`` defaults to the schema's categorical features plus ``prediction``.

    Examples
    --------
    >>> log = pd.DataFrame({"timestamp": pd.to_datetime(["2026-01-01"] * 4),
    ...                     "Contract": ["a", "b", "a", None]})
    >>> category_frequencies(log, columns=["Contract"], by=())[["value", "count", "frequency"]]
      value  count  frequency
    0     a      2       0.50
    1     b      1       0.25
    2  None      1       0.25
    """
    schema = source.schema if isinstance(source, InferenceLog) else (schema or TELCO_SCHEMA)
    chosen = list(columns) if columns is not None else [*schema.categorical, PREDICTION]
    run = _duckdb_runner(source, list(by), start, end, None, extra=chosen, schema=schema)
    raw = run(category_sql(granularity, list(by), chosen, table=_TABLE))
    return _category_table(raw, granularity, list(by))


def category_sql(granularity: str | Granularity, keys: Sequence[str], columns: Sequence[str],
                 dialect: Dialect = "duckdb", table: str = "inference_log") -> str:
    """One pass over the rows for every column of :func:`category_frequencies`."""
    group = ", ".join([WINDOW_START, *keys, "col_name"])
    text = "VARCHAR" if dialect == "duckdb" else "STRING"
    return (_long_sql(granularity, keys, columns, text, dialect, table)
            + f"SELECT {group}, x AS value, count(*) AS count FROM long GROUP BY {group}, x")


def _category_table(raw: pd.DataFrame, granularity: str | Granularity,
                    keys: Sequence[str]) -> pd.DataFrame:
    group = [WINDOW_START, *keys]
    raw = raw.rename(columns={"col_name": "column"})
    raw[WINDOW_START] = pd.to_datetime(raw[WINDOW_START]).astype("datetime64[ns]")
    out = raw.sort_values([*group, "column", "value"], kind="stable",
                          na_position="last").reset_index(drop=True)
    out.insert(1, WINDOW_END, Granularity.parse(granularity).end(out[WINDOW_START]))
    out["count"] = out["count"].astype("int64")
    totals = out.groupby([*group, "column"], dropna=False)["count"].transform("sum")
    out["frequency"] = out["count"] / totals
    out["value"] = out["value"].astype(object).where(out["value"].notna(), None)
    return out[[WINDOW_START, WINDOW_END, *keys, "column", "value", "count", "frequency"]]
