"""The inference log as two tables read and written through Spark: Delta tables on Databricks.

On ``target="databricks"`` the log is not a folder of Parquet batches but two Unity Catalog
tables, ``<catalog>.<schema>.inference_log`` (predictions) and
``<catalog>.<schema>.ground_truth`` (labels), which the workspace's data-quality monitor
profiles (:mod:`closedloop.platform.databricks`). :class:`DeltaInferenceLog` is the same
:class:`~closedloop.monitoring.store.InferenceLog` with another storage:

- **writing**: a batch is prepared and checked exactly as locally (same columns, same Arrow
  types, same deterministic prediction ids and batch id), then appended with
  ``DataFrame.write.format("delta").mode("append").option("mergeSchema", "true")
  .saveAsTable(<table>)``; ``mergeSchema`` lets a contract that gained a feature column add it
  to the table. A batch whose id is already in the table (a retried job) is not written again;
- **reading**: ``spark.table(<table>)`` is brought to the driver as Arrow and queried with the
  same DuckDB views as the local log (:func:`~closedloop.monitoring.store.log_view_sql`): the
  first-logged row per prediction id, the first-arrived label, the same columns and dtypes.
  The whole table is read; a window of a very large table is better read with Spark
  (:mod:`closedloop.monitoring.spark`).

:class:`~closedloop.monitoring.store.InferenceLog` opens this class by itself when its
workspace's target asks for it (``Target.log_class()``), so scoring, serving, backfills and
retraining write to the tables without knowing the target.

Tested offline, not against Delta: Delta Lake is not installed here, so the tests run this
very code on a local Spark session with ``table_format="parquet"`` (the stand-in, a parameter
of the writer) and tables named ``spark_catalog.<schema>.<table>``; on Databricks the format is
``"delta"`` (the default). The duplicate-batch check reads before it writes, which Delta does
not make atomic: two writers retrying one batch at the same instant may both append it, and
every read still shows it once (reads keep one row per prediction id).

See Also
--------
Chapter :doc:`From laptop to workspace </book/11_laptop_to_workspace>`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from closedloop.config import Workspace
from closedloop.contract.schema import Schema
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.monitoring.store import (
    BACKFILLED_AT,
    BATCH_ID,
    GROUND_TRUTH,
    LABEL_ARRIVED_AT,
    LABELS_TABLE,
    PREDICTION_ID,
    PREDICTIONS_TABLE,
    AppendResult,
    InferenceLog,
    duckdb_connection,
    log_view_sql,
)

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    from pyspark.sql import SparkSession

#: Table formats the writer accepts: ``delta`` on Databricks, ``parquet`` as the offline stand-in.
TABLE_FORMATS: tuple[str, ...] = ("delta", "parquet")


class DeltaInferenceLog(InferenceLog):
    """The inference log kept in two tables through Spark (Delta tables on Databricks).

    Parameters
    ----------
    workspace : Workspace or os.PathLike
        The workspace; its target names the tables (``target.inference_table_name()`` and
        ``target.table_name("ground_truth")``) unless they are given.
    schema : Schema
        The data contract of the scored table.
    spark : SparkSession, optional
        The session (default: the active one, else a new one: on Databricks, the cluster's).
    table_format : {"delta", "parquet"}
        ``delta`` on Databricks; ``parquet`` runs the same code where Delta is not installed
        (the tests).
    predictions_table, labels_table : str, optional
        Full table names (default: the target's).

    Examples
    --------
    >>> from closedloop.platform.target import Target
    >>> target = Target.resolve("databricks", catalog="ml", schema="churn", env={})
    >>> log = InferenceLog(Workspace.resolve("/tmp/example-ws", target=target))
    >>> type(log).__name__, log.predictions_table, log.labels_table
    ('DeltaInferenceLog', 'ml.churn.inference_log', 'ml.churn.ground_truth')
    """

    scans_files = False  # no batch files: monitoring reads the table as a frame

    def __init__(self, workspace: Workspace | str | os.PathLike[str],
                 schema: Schema = TELCO_SCHEMA, *, spark: SparkSession | None = None,
                 table_format: str = "delta", predictions_table: str | None = None,
                 labels_table: str | None = None) -> None:
        super().__init__(workspace, schema)
        if table_format not in TABLE_FORMATS:
            raise ValueError(f"table_format must be one of {TABLE_FORMATS} "
                             f"(got {table_format!r})")
        target = self.workspace.target
        names = {"predictions_table": predictions_table, "labels_table": labels_table}
        for argument, short in (("predictions_table", PREDICTIONS_TABLE),
                                ("labels_table", LABELS_TABLE)):
            if names[argument] is None:
                if not hasattr(target, "table_name"):
                    raise ValueError(f"{argument} is needed: the workspace's target names no "
                                     "tables")
                names[argument] = (target.inference_table_name()
                                   if short == PREDICTIONS_TABLE else target.table_name(short))
        self.predictions_table: str = names["predictions_table"]
        self.labels_table: str = names["labels_table"]
        self.table_format = table_format
        self._spark = spark

    def __repr__(self) -> str:
        return (f"DeltaInferenceLog({self.predictions_table!r}, {self.labels_table!r}, "
                f"format={self.table_format!r}, schema={self.schema.name!r})")

    @property
    def spark(self) -> SparkSession:
        """The Spark session the tables are read and written with."""
        if self._spark is None:
            from pyspark.sql import SparkSession

            self._spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
        return self._spark

    # ------------------------------------------------------------------------------- writing

    def write_arrow(self, batch_id: str, table: pa.Table, *,
                    before_commit: Callable[[], object] | None = None) -> tuple[str, bool]:
        """Append one batch of predictions (already in the log's layout, see
        :meth:`InferenceLog.write_arrow <closedloop.monitoring.store.InferenceLog.write_arrow>`)
        to the predictions table, unless batch ``batch_id`` is in it. ``append`` (same
        checks, ids and columns as the folder log, experiment arms included) and the scoring
        engines come through here; the result's ``path`` is the table's name.
        ``before_commit`` is called before the append (which is the commit here)."""
        import pyarrow as pa

        if before_commit is not None:
            before_commit()
        # dictionary-encoded text (the Arrow lane of batch scoring) goes to Spark as text
        table = table.cast(pa.schema([f.with_type(f.type.value_type)
                                      if pa.types.is_dictionary(f.type) else f
                                      for f in table.schema]))
        return self.predictions_table, self._write(self.predictions_table, batch_id, table)

    def append_labels(self, labels: pd.DataFrame) -> AppendResult:
        """Append one batch of labels to the labels table, as is (use
        :func:`closedloop.monitoring.ground_truth.backfill`)."""
        from closedloop.monitoring.store import digest, labels_arrow_schema, now, to_arrow

        table = labels[[PREDICTION_ID, GROUND_TRUTH, LABEL_ARRIVED_AT]].reset_index(drop=True)
        pairs = np.sort((table[PREDICTION_ID].astype(str) + "="
                         + table[GROUND_TRUTH].astype(str)).to_numpy(dtype=str))
        batch_id = digest(pairs)
        table = table.assign(**{BACKFILLED_AT: now(), BATCH_ID: batch_id})
        written = self._write(self.labels_table, batch_id,
                              to_arrow(table, labels_arrow_schema()))
        return AppendResult(batch_id, len(table), written, self.labels_table)

    def _write(self, name: str, batch_id: str, arrow: pa.Table) -> bool:
        from pyspark.sql import functions as F

        spark = self.spark
        if spark.catalog.tableExists(name) and spark.table(name).where(
                F.col(BATCH_ID) == batch_id).limit(1).count():
            return False  # a retried batch: already in the table
        (spark.createDataFrame(arrow, schema=_spark_schema(arrow.schema))
         .write.format(self.table_format).mode("append").option("mergeSchema", "true")
         .saveAsTable(name))
        return True

    # ------------------------------------------------------------------------------- reading

    def spark_frame(self, spark: Any, labels: bool = False) -> Any:
        """The raw rows as Spark reads them: the table itself, or None before it exists."""
        name = self.labels_table if labels else self.predictions_table
        return spark.table(name) if spark.catalog.tableExists(name) else None

    def batch_files(self, labels: bool = False) -> list[Any]:
        """A table log has no batch files: read it with
        :meth:`~closedloop.monitoring.store.InferenceLog.read`,
        :meth:`~closedloop.monitoring.store.InferenceLog.query` or ``spark.table(<table>)``."""
        raise NotImplementedError(
            f"the log is the table {self.labels_table if labels else self.predictions_table}, "
            "not a folder of batch files: read it with read(), query() or spark.table()")

    def connect(self, *, labels_as_of: str | pd.Timestamp | None = None
                ) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with the log's views (those of
        :meth:`InferenceLog.connect <closedloop.monitoring.store.InferenceLog.connect>`) over
        the two tables, read through ``spark.table``."""
        from closedloop.monitoring.store import labels_arrow_schema, predictions_arrow_schema

        con = duckdb_connection()
        for raw, name, schema in (
                ("predictions_raw", self.predictions_table,
                 predictions_arrow_schema(self.schema)),
                ("labels_raw", self.labels_table, labels_arrow_schema())):
            con.register(f"{raw}_arrow", self._read_table(name, schema))
            con.execute(f"CREATE TEMP VIEW {raw} AS SELECT * FROM {raw}_arrow")
        for name, sql in log_view_sql(self.schema, labels_as_of=labels_as_of).items():
            con.execute(f"CREATE TEMP VIEW {name} AS {sql}")
        return con

    def _read_table(self, name: str, schema: pa.Schema) -> pa.Table:
        """``spark.table(name)`` as Arrow with the log's column types (empty if no table)."""
        import pyarrow as pa

        spark = self.spark
        if not spark.catalog.tableExists(name):
            return schema.empty_table()
        arrow = spark.table(name).select(*schema.names).toArrow()
        columns = []
        for field in schema:
            column = arrow.column(field.name)
            if pa.types.is_timestamp(column.type) and column.type.tz is not None:
                column = column.cast(pa.timestamp(column.type.unit, tz="UTC")).cast(
                    pa.timestamp(column.type.unit))  # an instant in UTC, stored naive
            columns.append(column.cast(field.type))
        return pa.Table.from_arrays(columns, schema=schema)


def _spark_schema(schema: pa.Schema) -> Any:  # -> pyspark.sql.types.StructType
    """The Spark types of a log batch: timestamps without a time zone (``TIMESTAMP_NTZ``), as
    the log stores them (naive UTC)."""
    from pyspark.sql import types as T

    kinds = {"string": T.StringType(), "int64": T.LongType(), "double": T.DoubleType(),
             "timestamp[us]": T.TimestampNTZType()}
    unknown = sorted({str(f.type) for f in schema} - set(kinds))
    if unknown:
        raise TypeError(f"no Spark type for the log's Arrow type(s) {unknown}")
    return T.StructType([T.StructField(f.name, kinds[str(f.type)]) for f in schema])
