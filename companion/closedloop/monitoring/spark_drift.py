"""The drift table computed by Spark, for logs that outgrow one machine.

Every drift statistic depends on a sample only through its empirical distribution, so Spark does
the heavy part, one pass over the log: ``GROUP BY window, column, value`` (an ``explode`` of one
struct per monitored column, then a count). Only these value counts come back to the driver, where
:func:`closedloop.monitoring.drift.drift_table` computes the statistics with exactly the code the
pandas path uses. The two paths therefore agree to rounding error (the tests check 1e-9 on every
statistic), with no approximate quantiles: the PSI bins are the baseline's quantiles computed
exactly from its counts.

The value counts are as large as the number of distinct values per window: small for integers,
categories and money in cents, up to the row count for continuous measurements. For those, pass
``decimals`` to round before counting. Rounding to ``d`` decimals moves the Wasserstein distance
by at most ``0.5 * 10**-d``; KS, PSI and JS change only through values that rounding moves across
each other or across a bin edge. Results then agree with the pandas path on the rounded values,
not on the raw ones.

See Also
--------
Chapter :doc:`Drift and estimated performance </book/06_drift_and_estimation>`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from closedloop.contract.schema import Schema
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.monitoring import drift_stats as st
from closedloop.monitoring._storage import MODEL_VERSION, TIMESTAMP
from closedloop.monitoring.drift import DriftConfig, drift_columns, drift_table
from closedloop.monitoring.drift_stats import ColumnSample, Kind, reduce_column
from closedloop.monitoring.store import InferenceLog
from closedloop.monitoring.windows import WINDOW_END, WINDOW_START, Granularity, window_start_sql

_MODELS = "__model_version__"

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql import SparkSession



def drift_metrics_spark(source: InferenceLog | SparkDataFrame,
                        baseline: pd.DataFrame | SparkDataFrame | None = None, *,
                        granularity: str | Granularity = "1d", timestamp: str = TIMESTAMP,
                        columns: Mapping[str, str] | Sequence[str] | None = None,
                        schema: Schema = TELCO_SCHEMA, consecutive: bool = True,
                        config: DriftConfig = DriftConfig(),
                        decimals: int | Mapping[str, int] | None = None,
                        spark: SparkSession | None = None) -> pd.DataFrame:
    """:func:`closedloop.monitoring.drift.drift_metrics` computed by Spark; same table.

    The parameters not listed here are those of
    :func:`~closedloop.monitoring.drift.drift_metrics`.

    Parameters
    ----------
    source : closedloop.monitoring.store.InferenceLog or SparkDataFrame
        The log (read with :func:`closedloop.monitoring.spark.read_log_spark`) or any Spark
        DataFrame with a ``timestamp`` column and the monitored columns.
    baseline : pandas.DataFrame or SparkDataFrame, optional
        The reference sample; without it only consecutive drift is computed.
    decimals : int or mapping, optional
        Round numeric columns (all, or those named) to this many decimals before counting.
    spark : SparkSession, optional
        Used to read an inference log (default
        :func:`closedloop.monitoring.spark.spark_session`).
    """
    from pyspark.sql import functions as F

    from closedloop.monitoring.spark import read_log_spark

    frame = read_log_spark(source, spark) if isinstance(source, InferenceLog) else source
    kinds = _kinds(frame, columns, schema)
    grain = Granularity.parse(granularity)
    windowed = frame.withColumn(WINDOW_START, F.expr(window_start_sql(timestamp, grain,
                                                                      "spark")))
    # The model versions ride along as one more categorical column: still a single Spark job.
    extra = {_MODELS: "categorical"} if MODEL_VERSION in frame.columns else {}
    counts = _value_counts(windowed.withColumn(_MODELS, F.col(MODEL_VERSION)) if extra
                           else windowed, {**kinds, **extra}, decimals)
    starts = pd.DatetimeIndex(sorted(counts[WINDOW_START].unique()))
    windows = pd.DataFrame({WINDOW_START: starts, WINDOW_END: grain.end(pd.Series(starts))})
    reduced = _samples(counts, {**kinds, **extra}, starts)
    models = [",".join(s.reduced.values) for s in reduced.pop(_MODELS)] if extra else None
    base = None
    if baseline is not None:
        base = (_baseline_pandas(baseline, kinds) if isinstance(baseline, pd.DataFrame)
                else _baseline_spark(baseline, kinds, decimals))
    return drift_table(windows, reduced, kinds, base, granularity=grain.label, models=models,
                       consecutive=consecutive, config=config)


def _kinds(frame: SparkDataFrame, columns: Mapping[str, str] | Sequence[str] | None,
           schema: Schema) -> dict[str, Kind]:
    known = drift_columns(pd.DataFrame(columns=frame.columns), schema)
    if columns is None:
        return known
    if isinstance(columns, Mapping):
        return dict(columns)
    return {c: known[c] for c in columns}


def _value_counts(frame: SparkDataFrame, kinds: Mapping[str, Kind],
                  decimals: int | Mapping[str, int] | None) -> pd.DataFrame:
    """One Spark job: counts per (window, column, value), and how many values came as text."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    types = {f.name: f.dataType for f in frame.schema.fields}
    items = []
    for name, kind in kinds.items():
        column = F.col(f"`{name}`")
        if kind == "numeric":
            text_in = isinstance(types[name], T.StringType)
            # try_cast: "12" -> 12.0, "twelve" -> null, as pandas.to_numeric(errors="coerce")
            number = F.expr(f"try_cast(`{name}` AS DOUBLE)") if text_in else column.cast("double")
            places = decimals.get(name) if isinstance(decimals, Mapping) else decimals
            if places is not None:
                number = F.round(number, places)
            text = F.lit(None).cast("string")
            is_text = F.when(column.isNotNull(), 1).otherwise(0) if text_in else F.lit(0)
        else:
            number, text, is_text = F.lit(None).cast("double"), column.cast("string"), F.lit(0)
        items.append(F.struct(F.lit(name).alias("column"), number.alias("number"),
                              text.alias("text"), is_text.alias("is_text")))
    exploded = frame.select(WINDOW_START, F.explode(F.array(*items)).alias("v"))
    grouped = exploded.groupBy(WINDOW_START, "v.column", "v.number", "v.text").agg(
        F.count(F.lit(1)).alias("count"), F.sum("v.is_text").alias("text_count"))
    out = grouped.toPandas()
    out[WINDOW_START] = pd.to_datetime(out[WINDOW_START]).astype("datetime64[ns]")
    return out


def _samples(counts: pd.DataFrame, kinds: Mapping[str, Kind], starts: pd.DatetimeIndex
             ) -> dict[str, list[ColumnSample]]:
    """Turn the collected counts into one :class:`~closedloop.monitoring.drift_stats.ColumnSample` per column and window."""
    empty = ColumnSample(st.Reduced(np.array([]), np.array([], dtype=np.int64)))
    out = {name: [empty] * len(starts) for name in kinds}
    position = {start: i for i, start in enumerate(starts)}
    for (start, name), part in counts.groupby([WINDOW_START, "column"], sort=False):
        key = "number" if kinds[name] == "numeric" else "text"
        present = part[part[key].notna()].sort_values(key)
        values = present[key].to_numpy(np.float64 if key == "number" else object)
        reduced = st.Reduced(values, present["count"].to_numpy(np.int64),
                             int(part.loc[part[key].isna(), "count"].sum()))
        out[name][position[pd.Timestamp(start)]] = ColumnSample(
            reduced, int(part["text_count"].sum()))
    return out


def _baseline_pandas(baseline: pd.DataFrame, kinds: Mapping[str, Kind]
                     ) -> dict[str, ColumnSample]:
    missing = sorted(set(kinds) - set(baseline.columns))
    if missing:
        raise KeyError(f"the baseline lacks the monitored column(s) {missing}")
    return {name: reduce_column(baseline[name], kind)[0] for name, kind in kinds.items()}


def _baseline_spark(baseline: SparkDataFrame, kinds: Mapping[str, Kind],
                    decimals: int | Mapping[str, int] | None) -> dict[str, ColumnSample]:
    from pyspark.sql import functions as F

    one = pd.Timestamp("2000-01-03")
    counts = _value_counts(baseline.withColumn(WINDOW_START, F.lit(one.to_pydatetime())),
                           kinds, decimals)
    return {name: samples[0] for name, samples in
            _samples(counts, kinds, pd.DatetimeIndex([one])).items()}
