"""The monitoring computations on Spark, for logs that outgrow one machine.

Spark reads the inference log's Parquet folders as they are (it skips the hidden temporary files
of a write in progress), and runs the same SQL as DuckDB: the log's views (deduplicated
predictions left-joined with their first-arrived label) and the aggregations of
:mod:`closedloop.monitoring.metrics` and :mod:`closedloop.monitoring.columns`, with only the window expression and the quantile function
spelled per engine. Only small per-window aggregates come back to the driver.

Agreement with the DuckDB/pandas results (checked by the tests): counts are equal, and every
rate, metric, AUC and quantile agrees to 1e-9 (AUCs are computed from exact rank sums, and
quantiles with Spark's exact ``percentile``, not an approximation). For very large windows,
``percentile`` can be swapped for ``percentile_approx`` in
:func:`closedloop.monitoring.columns.numeric_profile_sql`, at the cost of that agreement.

See Also
--------
Chapter :doc:`Ground truth and production accuracy </book/05_ground_truth>`; chapter :doc:`Drift and estimated performance </book/06_drift_and_estimation>`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from closedloop.contract.schema import Schema
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.monitoring._storage import (
    MODEL_VERSION,
    PREDICTION,
    labels_arrow_schema,
    log_view_sql,
    predictions_arrow_schema,
)
from closedloop.monitoring.columns import (
    _category_table,
    category_sql,
    column_table,
    split_columns,
)
from closedloop.monitoring.metrics import _time_filter, finish_profile, profile_sql
from closedloop.monitoring.store import InferenceLog
from closedloop.monitoring.windows import Granularity

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql import SparkSession

_TABLE = "monitoring_rows"  # the log after the time filter: what every aggregation reads


class SparkUnavailableError(RuntimeError):
    """A local Spark session cannot start on this machine (no Java to run it)."""


def java_executable() -> str | None:
    """The ``java`` a local Spark would run: ``$JAVA_HOME/bin/java``, else ``java`` on the
    ``PATH``; None when there is neither."""
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return os.path.join(home, "bin", "java")
    return shutil.which("java")


def spark_session(master: str = "local[*]", app_name: str = "closedloop") -> SparkSession:
    """A SparkSession for monitoring: UTC session time zone, no UI, quiet logs.

    On a local master, shuffles use one partition per local core: the default of 200 makes
    every small aggregation schedule 200 tasks. Returns the active session if there is one,
    with these settings applied.

    Raises
    ------
    SparkUnavailableError
        When no session is active and a local one cannot start because there is no Java
        (PySpark would otherwise fail deep inside its gateway with a long traceback).
    """
    from pyspark.sql import SparkSession

    if (SparkSession.getActiveSession() is None and _local_cores(master)
            and java_executable() is None):
        raise SparkUnavailableError(
            "the Spark engine needs Java 17 or newer and none was found (JAVA_HOME is not "
            "set and there is no java on the PATH): install a JDK, or use the pandas engine "
            "(--engine pandas)")

    builder = (SparkSession.builder.master(master).appName(app_name)
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.driver.host", "127.0.0.1"))
    cores = _local_cores(master)
    if cores:
        builder = builder.config("spark.sql.shuffle.partitions", str(cores))
    spark = builder.getOrCreate()
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _local_cores(master: str) -> int | None:
    """Cores of a ``local``, ``local[N]`` or ``local[*]`` master; None for a cluster."""
    match = re.fullmatch(r"local(?:\[(\d+|\*)(?:,\d+)?\])?", master.strip())
    if not match:
        return None
    count = match.group(1) or "1"
    return os.cpu_count() or 1 if count == "*" else int(count)


def read_log_spark(log: InferenceLog, spark: SparkSession | None = None, *,
                   labels_as_of: str | pd.Timestamp | None = None) -> SparkDataFrame:
    """The inference log as a Spark DataFrame, with the columns of
    :meth:`~closedloop.monitoring.store.InferenceLog.read`.

    Also registers the temporary views ``predictions``, ``ground_truth`` and ``inference_log``
    in the session, as :meth:`~closedloop.monitoring.store.InferenceLog.connect` does in DuckDB.
    """
    spark = spark or spark_session()
    _raw(spark, log, labels=False).createOrReplaceTempView("predictions_raw")
    _raw(spark, log, labels=True).createOrReplaceTempView("labels_raw")
    for name, sql in log_view_sql(log.schema, labels_as_of=labels_as_of).items():
        spark.sql(sql).createOrReplaceTempView(name)
    return spark.table("inference_log")


def _raw(spark: SparkSession, log: InferenceLog, labels: bool) -> SparkDataFrame:
    found = log.spark_frame(spark, labels)
    if found is not None:
        return found
    from pyspark.sql import types as T

    arrow = labels_arrow_schema() if labels else predictions_arrow_schema(log.schema)
    kinds = {"string": T.StringType(), "int64": T.LongType(), "double": T.DoubleType(),
             "timestamp[us]": T.TimestampNTZType()}
    schema = T.StructType([T.StructField(f.name, kinds[str(f.type)]) for f in arrow])
    return spark.createDataFrame([], schema)


def profile_spark(source: InferenceLog | SparkDataFrame, granularity: str | Granularity = "1d",
                  *, by: Sequence[str] = (MODEL_VERSION,), slices: Sequence[str] = (),
                  start: str | pd.Timestamp | None = None, end: str | pd.Timestamp | None = None,
                  labels_as_of: str | pd.Timestamp | None = None,
                  spark: SparkSession | None = None) -> pd.DataFrame:
    """:func:`closedloop.monitoring.metrics.profile` computed by Spark; same columns and values.

    ``source`` is an :class:`~closedloop.monitoring.store.InferenceLog` (read with
    :func:`read_log_spark`) or a Spark
    DataFrame with the log's columns (``labels_as_of`` then needs ``label_arrived_at``).
    """
    keys = [*by, *slices]
    queries = profile_sql(granularity, keys, "spark", _TABLE)
    with _runner(source, spark, start, end, labels_as_of) as run:
        counts, ranks = run(queries["counts"]), run(queries["ranks"])
    return finish_profile(counts, ranks, granularity, keys)


def column_profile_spark(source: InferenceLog | SparkDataFrame,
                         granularity: str | Granularity = "1d", *,
                         columns: Sequence[str] | None = None,
                         by: Sequence[str] = (MODEL_VERSION,),
                         start: str | pd.Timestamp | None = None,
                         end: str | pd.Timestamp | None = None,
                         spark: SparkSession | None = None,
                         schema: Schema | None = None) -> pd.DataFrame:
    """:func:`closedloop.monitoring.columns.column_profile` computed by Spark."""
    numeric, categorical = split_columns(_schema(source, schema), columns)
    with _runner(source, spark, start, end, None) as run:
        return column_table(run, granularity, list(by), numeric, categorical, "spark")


def category_frequencies_spark(source: InferenceLog | SparkDataFrame,
                               granularity: str | Granularity = "1d", *,
                               columns: Sequence[str] | None = None,
                               by: Sequence[str] = (MODEL_VERSION,),
                               start: str | pd.Timestamp | None = None,
                               end: str | pd.Timestamp | None = None,
                               spark: SparkSession | None = None,
                               schema: Schema | None = None) -> pd.DataFrame:
    """:func:`closedloop.monitoring.columns.category_frequencies` computed by Spark."""
    chosen = list(columns) if columns is not None else [
        *_schema(source, schema).categorical, PREDICTION]
    with _runner(source, spark, start, end, None) as run:
        raw = run(category_sql(granularity, list(by), chosen, "spark", _TABLE))
    return _category_table(raw, granularity, list(by))


def _schema(source: Any, schema: Schema | None) -> Schema:
    return source.schema if isinstance(source, InferenceLog) else (schema or TELCO_SCHEMA)


@contextlib.contextmanager
def _runner(source: InferenceLog | SparkDataFrame, spark: SparkSession | None, start: Any,
            end: Any, labels_as_of: Any) -> Iterator[Callable[[str], pd.DataFrame]]:
    """Yield a function running SQL on the (time-filtered) log, cached for the block's queries."""
    if isinstance(source, InferenceLog):
        frame = read_log_spark(source, spark, labels_as_of=labels_as_of)
    else:
        frame = source
        if labels_as_of is not None:
            from pyspark.sql import functions as F

            late = F.col("label_arrived_at") > F.lit(pd.Timestamp(labels_as_of).to_pydatetime())
            frame = frame.withColumn("ground_truth", F.when(late, None).otherwise(
                F.col("ground_truth")))
    session = frame.sparkSession
    session.conf.set("spark.sql.session.timeZone", "UTC")
    frame.createOrReplaceTempView("inference_log_source")
    # Cached: each aggregation would otherwise re-read the files and redo the deduplication.
    rows = session.sql(f"SELECT * FROM inference_log_source {_time_filter(start, end)}").cache()
    rows.createOrReplaceTempView(_TABLE)

    def run(sql: str) -> pd.DataFrame:
        return session.sql(sql).toPandas()

    try:
        yield run
    finally:
        rows.unpersist()
