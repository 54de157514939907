"""Batch scoring on Spark: contract check, model, risk tier, file to file without a collect.

The Spark half of :mod:`closedloop.scoring.batch` (whose pandas half needs no pyspark; its names
:func:`score_spark`, :func:`validate_spark`, :func:`spark_for_scoring` and
:func:`spark_to_pandas` are importable from there too). :func:`validate_spark` checks a Spark
DataFrame against the data contract in one job; :func:`score_spark` scores it lazily, through
``mapInArrow`` (the model's compiled predictor, shipped to the workers, reading Spark's Arrow
batches), ``mapInPandas`` (its fitted pipeline) or
``mlflow.pyfunc.spark_udf(..., env_manager="local")``; :func:`score_file_spark` runs a file
to file job whose rows never gather on the driver.

How the file job stays within the driver's memory: the executors write the scored rows (the
output columns, the prediction ids and the features to log) to a hidden temporary folder beside
the output (with a local master the Python workers write their parts themselves, as Arrow files,
without the trip back through the JVM; on a cluster Spark's writer writes Parquet); the driver
then reads the prediction id column alone to name the log batch, and streams the folder one
record batch at a time into the output file and the inference-log batch file, each written
under a temporary name and committed atomically (see
:meth:`closedloop.monitoring.store.InferenceLog.append`). The logged rows are those the pandas
path logs for the same input: same prediction ids (computed by
:func:`closedloop.monitoring.store.prediction_ids` in the workers), same Arrow schema, same
batch id. The Arrow parts take more room than Parquet would (about 90 MB per 500,000 Telco
rows, LZ4-compressed) for the few seconds they exist.

See Also
--------
Chapter :doc:`Batch inference and business impact </book/07_batch_and_business>`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from closedloop.config import Workspace
from closedloop.contract.schema import Schema
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.contract.validation import DataContractError, restore_dtypes, text_numbers_message
from closedloop.monitoring.store import BATCH_ID as _BATCH_ID
from closedloop.monitoring.store import LOGGED_AT as _LOGGED_AT
from closedloop.monitoring.store import PREDICTION_ID as _PREDICTION_ID
from closedloop.monitoring.store import TIMESTAMP as _TIMESTAMP
from closedloop.scoring._columns import (
    DEFAULT_MODEL_NAME,
    MODEL_NAME,
    MODEL_VERSION,
    PREDICTION,
    PREDICTION_PROBA,
    RISK_TIER,
    SCORED_AT,
    InputFileError,
    _closedloop_model,
    _scored_at,
    carried_columns,
    check_method,
    check_output,
    compile_fitted,
    digest_order,
    event_time_column,
    hex_rows_digest,
    output_arrow_schema,
    output_partial,
    predict_fitted,
    publish_output,
    resolve_model,
)
from closedloop.scoring.tiers import RiskTiers

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql import SparkSession

__all__ = ["SparkFileResult", "score_file_spark", "score_spark", "spark_for_scoring",
           "spark_to_pandas", "validate_spark"]



# ------------------------------------------------------------------------------ the contract


def validate_spark(sdf: SparkDataFrame, schema: Schema = TELCO_SCHEMA, *,
                   allow_extra: Iterable[str] = ()) -> SparkDataFrame:
    """:func:`~closedloop.contract.validation.validate` for a Spark DataFrame (no target needed), in
    one pass.

    Checks missing and extra columns, Spark types, nulls, unknown categories and ranges; raises
    one :class:`~closedloop.contract.validation.DataContractError` naming every offending column.
    A text column where the contract has numbers is refused with the message of the pandas
    engine (:func:`~closedloop.contract.validation.text_numbers_problem`): count of text values,
    first rows and values.
    """
    _ContractCheck(sdf, schema, allow_extra).run()
    return sdf


class _ContractCheck:
    """:func:`validate_spark` in two halves: what the Spark schema alone shows (missing,
    unexpected and mistyped columns, in ``problems``), then the ``aggregates`` over the rows
    (nulls, ranges, unknown categories) that :meth:`raise_problems` reads. The aggregates run
    as a job of their own (:func:`validate_spark`) or are observed while the scoring job runs
    (``DataFrame.observe``), which saves reading the input twice."""

    def __init__(self, sdf: SparkDataFrame, schema: Schema, allow_extra: Iterable[str]) -> None:
        from pyspark.sql import functions as F

        self.sdf, self.schema = sdf, schema
        problems: list[tuple[str, str]] = []
        expected = [c for c in schema.columns if c.name != schema.target or c.name in sdf.columns]
        problems += [(c.name, f"missing (expected {c.kind} column)") for c in expected
                     if c.name not in sdf.columns]
        known = set(schema.names) | set(allow_extra)
        problems += [(n, "unexpected column, not in the contract") for n in sdf.columns
                     if n not in known]
        present = [c for c in expected if c.name in sdf.columns]
        types = dict(sdf.dtypes)
        checked, text = [], []
        for column in present:
            if column.kind in ("integer", "float") and types[column.name] == "string":
                text.append(column)  # numbers as text: refused, with counts and rows (below)
                continue
            fractional = types[column.name] in ("float", "double") or types[
                column.name].startswith("decimal")
            # A whole-number float in an integer column is restored, as restore_dtypes() does.
            kind = "float" if column.kind == "integer" and fractional else column.kind
            problem = _spark_type_problem(types[column.name], kind)
            if problem:
                problems.append((column.name, problem))
            else:
                checked.append(column)
        aggregates = [F.count(F.lit(1)).alias("_rows")]
        aggregates += [F.count(F.col(f"`{c.name}`")).alias(f"t{i}") for i, c in enumerate(text)]
        for i, column in enumerate(checked):
            col = F.col(f"`{column.name}`")
            aggregates.append(F.sum(col.isNull().cast("long")).alias(f"n{i}"))
            if column.kind in ("integer", "float"):
                aggregates += [F.min(col).alias(f"lo{i}"), F.max(col).alias(f"hi{i}")]
            if column.kind == "integer":
                aggregates.append(F.sum((col != F.floor(col)).cast("long")).alias(f"f{i}"))
            elif column.kind == "category":
                # A count, not collect_set: plain sums compile to one fast aggregation.
                unknown = col.isNotNull() & ~col.isin(list(column.categories))
                aggregates.append(F.sum(unknown.cast("long")).alias(f"u{i}"))
        self.problems, self.checked, self.text = problems, checked, text
        self.aggregates = aggregates

    def run(self) -> None:
        """Compute the aggregates in a job of their own, then :meth:`raise_problems`."""
        self.raise_problems(self.sdf.agg(*self.aggregates).first().asDict())

    @property
    def refused(self) -> bool:
        """Whether the batch is refused whatever its rows hold (a missing or mistyped column)."""
        return bool(self.problems or self.text)

    def raise_problems(self, stats: dict[str, Any]) -> None:
        """Raise the :class:`DataContractError` naming every problem, given the aggregates."""
        from pyspark.sql import functions as F

        sdf, problems, checked = self.sdf, list(self.problems), self.checked
        for i, column in enumerate(checked):
            if stats.get(f"u{i}"):  # only a violation pays for a second job: which values
                col = F.col(f"`{column.name}`")
                found = sdf.where(col.isNotNull() & ~col.isin(list(column.categories)))
                stats[f"u{i}"] = [r[0] for r in found.select(col).distinct().limit(5).collect()]
        for i, column in enumerate(self.text):
            problems.append((column.name, _text_problem(sdf, column, stats[f"t{i}"])))
        rows = stats["_rows"]
        if rows == 0:
            problems.append(("<frame>", "is empty: no rows to validate"))
        for i, column in enumerate(checked if rows else []):
            problems += [(column.name, m) for m in _spark_column_problems(column, stats, i, rows)]
        if problems:
            raise DataContractError(problems, self.schema.name)


def _text_problem(sdf: SparkDataFrame, column: Any, count: int) -> str:
    """The pandas engine's message for a text column of numbers (one more job: first rows)."""
    if not count:
        return _spark_type_problem("string", column.kind) or ""
    name = column.name
    try:  # row positions in the input's order, as the pandas engine counts them
        pairs = (sdf.select(f"`{name}`").rdd.zipWithIndex()
                 .filter(lambda pair: pair[0][0] is not None).take(5))
        rows, values = [i for _, i in pairs], [row[0] for row, _ in pairs]
    except Exception:  # clusters that refuse RDD access: values without positions
        from pyspark.sql import functions as F

        found = sdf.where(F.col(f"`{name}`").isNotNull()).select(f"`{name}`").limit(5)
        rows, values = [], [r[0] for r in found.collect()]
    return text_numbers_message(int(count), rows, values, column.kind)


def _spark_type_problem(spark_type: str, kind: str) -> str | None:
    integral = spark_type in ("tinyint", "smallint", "int", "bigint")
    ok = {"integer": integral, "float": integral or spark_type in ("float", "double")
          or spark_type.startswith("decimal"), "category": spark_type == "string",
          "id": spark_type == "string", "timestamp": spark_type.startswith("timestamp")}[kind]
    return None if ok else f"Spark type {spark_type} does not hold a {kind} column"


def _spark_column_problems(column: Any, stats: dict[str, Any], i: int, rows: int) -> list[str]:
    nulls = stats[f"n{i}"]
    if nulls == rows and (rows > 1 or not column.nullable):
        return [f"all {nulls} values are null"]
    problems = []
    if nulls and not column.nullable:
        problems.append(f"{nulls} null value(s) in a non-nullable column")
    if stats.get(f"f{i}"):
        problems.append(f"{stats[f'f{i}']} value(s) are not whole numbers (expected int64)")
    low, high = stats.get(f"lo{i}"), stats.get(f"hi{i}")
    if column.low is not None and low is not None and low < column.low:
        problems.append(f"value {low!r} below the minimum {column.low}")
    if column.high is not None and high is not None and high > column.high:
        problems.append(f"value {high!r} above the maximum {column.high}")
    unknown = sorted(stats.get(f"u{i}") or [])
    if unknown:
        problems.append(f"unknown value(s) {unknown[:5]}; allowed: {list(column.categories)}")
    return problems


def _without_pandas_index(sdf: SparkDataFrame) -> SparkDataFrame:
    # pandas writes a non-default index as a column; pandas readers hide it, Spark does not.
    index = [c for c in sdf.columns if c.startswith("__index_level_")]
    return sdf.drop(*index) if index else sdf


def _checked(sdf: SparkDataFrame, schema: Schema, allow_extra: Iterable[str]) -> SparkDataFrame:
    """Validate, then cast whole-number floats in integer columns back to integers."""
    sdf = _without_pandas_index(sdf)
    validate_spark(sdf, schema, allow_extra=tuple(allow_extra))
    return _as_integers(sdf, schema)


def _as_integers(sdf: SparkDataFrame, schema: Schema) -> SparkDataFrame:
    from pyspark.sql import functions as F

    return sdf.select(*[F.col(f"`{n}`").cast("long").alias(n)
                        if n in schema.names and schema[n].kind == "integer" else F.col(f"`{n}`")
                        for n in sdf.columns])


# ------------------------------------------------------------------------------------ scoring


@dataclass(frozen=True)
class _LogIds:
    """What the workers need to compute the log's prediction ids (see ``_with_ids``)."""

    time_column: str | None  # a column of prediction times, or None: every row at ``when``
    when: pd.Timestamp
    model_name: str
    model_version: str
    content_key: str | None = None  # replaces the time in the ids (no event time, see batch)


def score_spark(sdf: SparkDataFrame, model: str | Workspace | Any, *, alias: str = "champion",
                schema: Schema = TELCO_SCHEMA, model_name: str = DEFAULT_MODEL_NAME,
                model_version: str | int | None = None, tiers: RiskTiers = RiskTiers(),
                scored_at: str | pd.Timestamp | None = None, keep: Iterable[str] = (),
                allow_extra: Iterable[str] = (), method: str = "auto") -> SparkDataFrame:
    """Score a Spark DataFrame with a registered model; the result is a (lazy) Spark DataFrame.

    Parameters
    ----------
    sdf : pyspark.sql.DataFrame
        The batch (contract columns; the target may be absent).
    model : str or Workspace or PyFuncModel
        A :class:`~closedloop.config.Workspace` (``model_name@alias`` is scored), a model URI
        or a loaded pyfunc (both with ``model_version``).
    method : str
        ``"auto"``, ``"map"``, ``"compiled"``, ``"pipeline"`` or ``"udf"``. ``map`` ships the
        model to the workers and scores each Arrow batch with ``mapInPandas`` (workers import
        neither MLflow nor the model's files: seconds faster to start), through its
        :class:`~closedloop.model.compiled.CompiledPredictor` when the model compiles, else its
        fitted pipeline; ``compiled`` and ``pipeline`` are ``map`` with that predictor forced
        (the same probabilities bit for bit; ``pipeline`` is there to compare); ``native``
        is ``compiled`` with the trees compiled to machine code (the ``native`` extra, see
        :meth:`~closedloop.model.compiled.CompiledPredictor.use_native`). ``udf`` uses
        ``mlflow.pyfunc.spark_udf(..., env_manager="local")``, which serves any pyfunc.
        ``auto`` picks ``map`` for a :class:`~closedloop.model.registry.ClosedLoopModel`, else
        ``udf``.

    Notes
    -----
    The input is validated first with :func:`validate_spark` (one Spark job); whole-number
    floats in integer columns are cast back, as
    :func:`~closedloop.contract.validation.restore_dtypes` does.
    Columns: those of ``output_columns``, then ``keep`` (e.g. the
    features, to log them).
    """
    sdf = _checked(sdf, schema, allow_extra)
    if isinstance(model, Workspace):  # the registry's name (catalog.schema.name in UC)
        model_name = model.model_name(model_name)
    uri, version, loaded = _model_source(model, alias, model_name, model_version)
    return _score_checked(sdf, model, uri, loaded, schema, str(model_name), version, tiers,
                          _scored_at(scored_at), keep, method, None)


def _score_checked(sdf: SparkDataFrame, model: Any, uri: str | None, loaded: Any,
                   schema: Schema, model_name: str, version: str, tiers: RiskTiers,
                   when: pd.Timestamp, keep: Iterable[str], method: str,
                   ids: _LogIds | None, row_groups: int | None = None) -> SparkDataFrame:
    """:func:`score_spark` after the contract check; with ``ids``, also the log's prediction id
    and prediction time (columns ``prediction_id`` and ``timestamp``); ``row_groups`` as
    :func:`_threads_per_task` takes it."""
    from pyspark.sql import functions as F

    if method not in ("auto", "map", "compiled", "native", "pipeline", "udf"):
        raise ValueError("method must be 'auto', 'map', 'compiled', 'native', 'pipeline' or "
                         f"'udf' (got {method!r})")
    python_model = _closedloop_model(loaded) if method != "udf" else None
    if method in ("map", "compiled", "native", "pipeline") and python_model is None:
        raise ValueError(f"method={method!r} needs a ClosedLoopModel pyfunc")
    if python_model is not None:
        predictor = method if method in ("compiled", "native", "pipeline") else "auto"
        scored = _score_map(sdf, python_model, schema, ids, predictor, row_groups)
    else:
        scored = _score_udf(sdf, model, uri, schema)
        scored = _with_ids(scored, schema, ids) if ids else scored
    proba = F.col(PREDICTION_PROBA)
    tier = (F.when(proba >= tiers.high, "high").when(proba >= tiers.medium, "medium")
            .otherwise("low"))
    log = [F.col(_PREDICTION_ID), F.col(_TIMESTAMP)] if ids else []
    return scored.select(
        F.col(f"`{schema.entity_id}`"), F.col(PREDICTION).cast("long").alias(PREDICTION),
        proba.cast("double").alias(PREDICTION_PROBA), tier.alias(RISK_TIER),
        F.lit(model_name).alias(MODEL_NAME), F.lit(str(version)).alias(MODEL_VERSION),
        F.lit(when.to_pydatetime()).cast("timestamp_ntz").alias(SCORED_AT),
        *[F.col(f"`{k}`") for k in keep], *log)


def _model_source(model: Any, alias: str, model_name: str, model_version: Any
                  ) -> tuple[str | None, str, Any]:
    """(URI, version, loaded pyfunc or None) of the ``model`` argument of :func:`score_spark`."""
    if isinstance(model, Workspace):
        from closedloop.model.registry import load_model

        uri, version = resolve_model(model, alias, model_name=model_name)
        return uri, version, load_model(model, version, model_name=model_name)
    if model_version is None:
        raise ValueError("score_spark needs model_version unless given a Workspace")
    if isinstance(model, str):
        import mlflow

        return model, str(model_version), mlflow.pyfunc.load_model(model)
    return None, str(model_version), model


def _id_fields(ids: _LogIds | None) -> list[Any]:
    from pyspark.sql import types as T

    return [] if ids is None else [T.StructField(_PREDICTION_ID, T.StringType()),
                                   T.StructField(_TIMESTAMP, T.TimestampNTZType())]


def _log_ids(batch: pd.DataFrame, schema: Schema, ids: _LogIds) -> dict[str, Any]:
    """:func:`_arrow_log_ids` for the pandas frames of ``mapInPandas``: the prediction id and
    time of each row, exactly as the pandas path logs them."""
    import pyarrow as pa

    named = [schema.entity_id, *([ids.time_column] if ids.time_column else [])]
    table = pa.Table.from_pandas(batch[named], preserve_index=False)
    prediction_id, timestamp = _arrow_log_ids(table, schema, ids)
    return {_PREDICTION_ID: prediction_id.to_numpy(zero_copy_only=False),
            _TIMESTAMP: timestamp.cast(pa.timestamp("ns")).to_numpy()}


def _score_map(sdf: SparkDataFrame, fitted: Any, schema: Schema, ids: _LogIds | None = None,
               method: str = "auto", row_groups: int | None = None) -> SparkDataFrame:
    """Score in the workers: ``fitted`` (holding ``pipeline`` and ``threshold``) or its compiled
    predictor (see :func:`~closedloop.scoring._columns.compile_fitted`) is shipped with the
    task. The compiled predictor reads Spark's Arrow batches as they come (``mapInArrow``: no
    pandas frame, the input columns handed back untouched, see :func:`_arrow_scores`); the
    pipeline gets pandas frames (``mapInPandas``)."""
    from pyspark.sql import types as T

    from closedloop.model.baselines import PipelineModel

    features = schema.feature_names
    compiled = compile_fitted(fitted, method)
    # Only what predicting needs goes to the workers (not the pyfunc wrapper around it).
    model = PipelineModel(fitted.pipeline, fitted.threshold) if compiled is None else None
    out_schema = T.StructType([*sdf.schema.fields, T.StructField(PREDICTION, T.LongType()),
                               T.StructField(PREDICTION_PROBA, T.DoubleType()),
                               *_id_fields(ids)])
    if compiled is not None:
        threads = _threads_per_task(sdf, row_groups)

        def predict_arrow(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            with ThreadPoolExecutor(1) as side:
                for batch in batches:
                    yield _arrow_scores(batch, compiled, schema, ids, threads, side)

        return sdf.mapInArrow(predict_arrow, out_schema)

    def predict(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        # The batch passed the contract on the driver; the model's own check is not repeated.
        for batch in batches:
            prediction, proba = predict_fitted(model, None, batch, features)
            logged = _log_ids(batch, schema, ids) if ids else {}
            yield batch.assign(**{PREDICTION: prediction, PREDICTION_PROBA: proba}, **logged)

    return sdf.mapInPandas(predict, out_schema)


def _threads_per_task(sdf: SparkDataFrame, row_groups: int | None = None) -> int:
    """The booster's threads in each scoring task: the cores the tasks leave idle shared among
    them, else one. Spark plans a file's splits by bytes but reads it by row groups: a file of
    one row group planned as two splits is still one task with rows (the other reads none), so
    ``row_groups``, when known, caps the count of tasks."""
    try:
        cores = sdf.sparkSession.sparkContext.defaultParallelism
        tasks = sdf.rdd.getNumPartitions()
    except Exception:  # clusters that refuse RDD access (shared access mode): one per task
        return 1
    return max(1, cores // max(1, min(tasks, row_groups or tasks)))


def _row_groups(input_path: str | os.PathLike[str]) -> int | None:
    """Row groups of a Parquet input file (how Spark divides its reading); None otherwise."""
    import pyarrow.parquet as pq

    path = Path(input_path)
    if path.suffix.lower() != ".parquet" or not path.is_file():
        return None
    try:
        return pq.ParquetFile(path).metadata.num_row_groups
    except Exception:  # Spark names a file it cannot read itself
        return None


def _arrow_scores(batch: pa.RecordBatch, compiled: Any, schema: Schema, ids: _LogIds | None,
                  threads: int, side: ThreadPoolExecutor) -> pa.RecordBatch:
    """``batch`` (checked on the driver) with its prediction and probability, and with ``ids``
    the log's prediction id and time, as :func:`_log_ids` gives them, from the Arrow columns.

    The ids are hashed in the ``side`` thread while the trees predict: Python work that a core
    the booster's threads share can do meanwhile (as the pandas engine's Arrow lane does),
    instead of waiting its turn.
    """
    import pyarrow as pa

    table = pa.Table.from_batches([batch])
    logged = None if ids is None else side.submit(_arrow_log_ids, table, schema, ids)
    proba = compiled.predict_matrix(compiled.matrix_arrow(table), num_threads=threads)
    names = [*batch.schema.names, PREDICTION, PREDICTION_PROBA]
    arrays = [*batch.columns, pa.array((proba >= compiled.threshold).astype(np.int64)),
              pa.array(proba, pa.float64())]
    if logged is not None:
        names += [_PREDICTION_ID, _TIMESTAMP]
        arrays += logged.result()
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _arrow_log_ids(table: pa.Table, schema: Schema, ids: _LogIds) -> list[pa.Array]:
    """The prediction id and time of each row of ``table``, as :func:`_log_ids` gives them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from closedloop.monitoring.store import hex_ids, prediction_digests

    if ids.time_column is None:
        nanos = np.full(table.num_rows, ids.when.value, dtype=np.int64)
    else:  # Spark hands naive UTC microseconds (timestamp_ntz)
        micros = table.column(ids.time_column).cast(pa.timestamp("us")).cast(pa.int64())
        nanos = np.asarray(micros.to_numpy(), np.int64) * 1000
    key = ids.content_key if ids.time_column is None else None
    # a missing id hashes as str(None), as the pandas frames of mapInPandas hash it
    entity = pc.fill_null(table.column(schema.entity_id).cast(pa.string()), "None")
    digests = prediction_digests(entity, pd.Series(nanos.view("datetime64[ns]")),
                                 ids.model_name, ids.model_version, content_key=key)
    return [hex_ids(digests), pa.array((nanos // 1000).view("datetime64[us]"),
                                       pa.timestamp("us"))]


def _workers_share_disk(spark: SparkSession) -> bool:
    """Whether the workers see the driver's files (a local master): they can write the staging
    parts themselves (:func:`_score_to_parts`); on a cluster, Spark's writer does."""
    try:
        return spark.sparkContext.master.startswith("local")
    except Exception:  # sessions without a SparkContext (Spark Connect): a cluster
        return False


def _score_to_parts(sdf: SparkDataFrame, compiled: Any, schema: Schema, ids: _LogIds | None,
                    tiers: RiskTiers, model_name: str, version: str, when: pd.Timestamp,
                    keep: Iterable[str], staging: Path, row_groups: int | None = None) -> None:
    """Score ``sdf`` with ``compiled`` in the workers, each task writing its rows to its own
    ``staging/part-NNNNN.arrow``: the columns :func:`_score_checked` selects, without the trip
    back through the JVM and its Parquet writer (on 500k rows, half of Spark's own cost:
    ``bench_scoring.py --spark-floor``). Only where the workers share the driver's disk (a
    local master); a retried task replaces its part whole (written under a temporary name,
    then renamed). The parts are Arrow IPC files (LZ4 frames), which the driver reads back
    memory-mapped: a tenth of the time Parquet takes to write and read them again (see
    :func:`_part_batches`), for files that live only as long as the job."""
    import pyarrow as pa

    threads = _threads_per_task(sdf, row_groups)
    keep = list(keep)
    staging.mkdir()

    def write_part(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        task = TaskContext.get()
        final = staging / f"part-{task.partitionId():05d}.arrow"
        partial = staging / f".{final.name}.{task.attemptNumber()}.tmp"
        rows, writer, written = 0, None, None
        options = pa.ipc.IpcWriteOptions(compression="lz4")
        # One side thread writes batch k (and hashes the ids of k + 1) while the trees predict
        # batch k + 1: one table in flight keeps the order and the memory.
        with ThreadPoolExecutor(1) as side:
            try:
                for batch in batches:
                    table = _staged_table(_arrow_scores(batch, compiled, schema, ids, threads,
                                                        side),
                                          schema, tiers, model_name, version, when, keep)
                    if writer is None:
                        writer = pa.ipc.new_file(partial, table.schema, options=options)
                    if written is not None:
                        written.result()
                    written = side.submit(writer.write_table, table)
                    rows += table.num_rows
                if written is not None:
                    written.result()
            finally:
                if writer is not None:
                    if written is not None:
                        written.exception()   # wait for it before closing, whatever happened
                    writer.close()
        if writer is not None:
            os.replace(partial, final)
        yield pa.RecordBatch.from_arrays([pa.array([rows], pa.int64())], names=["rows"])

    sdf.mapInArrow(write_part, "rows long").collect()


def _staged_table(batch: pa.RecordBatch, schema: Schema, tiers: RiskTiers, model_name: str,
                  version: str, when: pd.Timestamp, keep: list[str]) -> pa.Table:
    """The columns of :func:`_score_checked`'s selection, from a scored Arrow batch."""
    import pyarrow as pa

    n = batch.num_rows
    names = [schema.entity_id, PREDICTION, PREDICTION_PROBA]
    arrays = [batch.column(name) for name in names]
    names += [RISK_TIER, MODEL_NAME, MODEL_VERSION, SCORED_AT, *keep]
    arrays += [pa.array(tiers.assign(batch.column(PREDICTION_PROBA).to_numpy()), pa.string()),
               pa.repeat(pa.scalar(model_name, pa.string()), n),
               pa.repeat(pa.scalar(str(version), pa.string()), n),
               pa.repeat(pa.scalar(when.to_pydatetime(), pa.timestamp("us")), n),
               *[batch.column(name) for name in keep]]
    if _PREDICTION_ID in batch.schema.names:
        names += [_PREDICTION_ID, _TIMESTAMP]
        arrays += [batch.column(_PREDICTION_ID), batch.column(_TIMESTAMP)]
    return pa.Table.from_arrays(arrays, names=names)


def _with_ids(sdf: SparkDataFrame, schema: Schema, ids: _LogIds) -> SparkDataFrame:
    from pyspark.sql import types as T

    out_schema = T.StructType([*sdf.schema.fields, *_id_fields(ids)])

    def add(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield batch.assign(**_log_ids(batch, schema, ids))

    return sdf.mapInPandas(add, out_schema)


def _score_udf(sdf: SparkDataFrame, model: Any, uri: str | None,
               schema: Schema) -> SparkDataFrame:
    import mlflow
    from pyspark.sql import functions as F

    if uri is None:
        raise ValueError("method='udf' needs a Workspace or a model URI, not a loaded model")
    result_type = f"{PREDICTION} long, {PREDICTION_PROBA} double"
    with (model.mlflow() if isinstance(model, Workspace) else contextlib.nullcontext()):
        udf = mlflow.pyfunc.spark_udf(sdf.sparkSession, uri, env_manager="local",
                                      result_type=result_type)
    out = udf(*[F.col(f"`{name}`") for name in schema.feature_names])
    return sdf.withColumn("_out", out).select(
        "*", F.col(f"_out.{PREDICTION}").alias(PREDICTION),
        F.col(f"_out.{PREDICTION_PROBA}").alias(PREDICTION_PROBA)).drop("_out")


def spark_to_pandas(sdf: SparkDataFrame, schema: Schema = TELCO_SCHEMA) -> pd.DataFrame:
    """Collect a scored Spark DataFrame with the dtypes :func:`closedloop.scoring.batch.score`
    returns (for small results: every row comes to the driver)."""
    out = _arrow_to_pandas(sdf)
    out[SCORED_AT] = pd.to_datetime(out[SCORED_AT]).astype("datetime64[ns]")
    out[PREDICTION] = out[PREDICTION].astype(np.int64)
    out[PREDICTION_PROBA] = out[PREDICTION_PROBA].astype(np.float64)
    out[RISK_TIER] = out[RISK_TIER].astype(object)
    return restore_dtypes(out, schema)


def _arrow_to_pandas(sdf: SparkDataFrame) -> pd.DataFrame:
    # Arrow collects millions of rows in seconds instead of minutes; the setting is restored so
    # other users of a shared session see no change.
    conf = sdf.sparkSession.conf
    key = "spark.sql.execution.arrow.pyspark.enabled"
    saved = conf.get(key, "false")
    conf.set(key, "true")
    try:
        return sdf.toPandas()
    finally:
        conf.set(key, saved)


def spark_for_scoring(master: str = "local[*]") -> SparkSession:
    """:func:`closedloop.monitoring.spark.spark_session`, with Python workers that run this
    interpreter (they import ``closedloop`` to load the model)."""
    from closedloop.monitoring.spark import spark_session

    # Read when the session starts; a local session started earlier (by monitoring, say) with
    # another interpreter is pointed at this one, whose packages the workers need. On a
    # cluster the executors' Python is the cluster's business.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = spark_session(master)
    context = spark.sparkContext
    if context.master.startswith("local") and context.pythonExec != os.environ["PYSPARK_PYTHON"]:
        context.pythonExec = os.environ["PYSPARK_PYTHON"]
    return spark


# ------------------------------------------------------------------------------- file to file


@dataclass(frozen=True)
class SparkFileResult:
    """What :func:`score_file_spark` wrote: rows, model version, rows per risk tier, the
    event-time column (None: logged at the scoring time) and the carried columns."""

    rows: int
    model_version: str
    tiers: dict[str, int]
    event_time: str | None = None
    carried: tuple[str, ...] = ()
    log_written: bool | None = None  # False: the batch was already in the log (a retry)


def score_file_spark(workspace: Workspace, input_path: str | os.PathLike[str],
                     output_path: str | os.PathLike[str], *, alias: str = "champion",
                     schema: Schema = TELCO_SCHEMA, model_name: str = DEFAULT_MODEL_NAME,
                     tiers: RiskTiers = RiskTiers(), scored_at: pd.Timestamp,
                     log: bool = True, event_time: str | None = None,
                     carry: Iterable[str] = (), allow_extra: Iterable[str] = (),
                     master: str = "local[*]", timestamp: str | None = None,
                     content_key: str | None = None, overwrite: bool = False,
                     method: str = "auto") -> SparkFileResult:
    """The Spark engine of :func:`closedloop.scoring.batch.score_file` (see there): same output
    file, same logged rows, no row collected on the driver.

    The executors write the scored rows to a hidden temporary folder beside ``output_path``;
    the driver streams it into the output file and the log batch (see the module notes). The
    columns are checked against the contract before any row is read; the rows (nulls, ranges,
    categories) are checked while the scoring job reads them, so the input is read once. On a
    contract violation nothing is written; the temporary folder is always removed.
    ``event_time`` and ``carry`` are those of :func:`closedloop.scoring.batch.score`; a CSV
    file's id columns are read as text. ``timestamp`` is the former name of ``event_time``.
    ``content_key`` replaces the scoring time in the prediction ids when the input has no
    event time; ``overwrite`` and ``method`` (``auto``, ``compiled`` or ``pipeline``) are those
    of :func:`~closedloop.scoring.batch.score_file`. A file Spark cannot read raises
    ``InputFileError`` naming it.
    """
    model_name = workspace.model_name(model_name)  # catalog.schema.name in Unity Catalog
    spark = spark_for_scoring(master)
    output_path = Path(output_path)
    check_output(output_path, overwrite, early=True)
    try:
        sdf = _read(spark, input_path, schema)
        time_column = event_time_column(sdf.columns, schema, event_time or timestamp)
        carried = carried_columns(sdf.columns, schema, carry, time_column)
        sdf = _without_pandas_index(sdf)
        check = _ContractCheck(sdf, schema, (*allow_extra, *carried))
        if check.refused:   # a missing or mistyped column: no need to read a row more
            check.run()
        # The row checks are observed while the scoring job reads the rows (one pass over the
        # input, not two); after the spread, whose sampling job must not count them.
        unchecked = _spread(sdf)
        # Unspread, a file's row groups say how many tasks have rows (_threads_per_task).
        row_groups = _row_groups(input_path) if unchecked is sdf else None
        from pyspark.sql import Observation

        observation = Observation()   # a name of its own (a UUID)
        sdf = _as_integers(unchecked.observe(observation, *check.aggregates), schema)
    except Exception as err:
        if not _from_spark(err):
            raise
        raise InputFileError(f"{input_path}: Spark cannot read it ({_first_line(err)})"
                             ) from None
    _, version = resolve_model(workspace, alias, model_name=model_name)
    from closedloop.model.registry import load_model

    loaded = load_model(workspace, version, model_name=model_name)
    ids = _LogIds(time_column, scored_at, str(model_name), version,
                  content_key) if log else None
    features = [c for c in schema.feature_names if c in sdf.columns] if log else []
    keep = list(dict.fromkeys([*carried, *features]))
    if time_column:  # naive UTC microseconds, as the pandas path keeps and logs them
        from pyspark.sql import functions as F

        sdf = sdf.withColumn(time_column, F.col(f"`{time_column}`").cast("timestamp_ntz"))
    method = check_method(method)
    fitted = _closedloop_model(loaded)
    # Where the workers share the driver's disk, they write the staging parts themselves.
    compiled = (compile_fitted(fitted, method) if fitted is not None and method != "pipeline"
                and _workers_share_disk(spark) else None)
    scored = None if compiled is not None else _score_checked(
        sdf, workspace, None, loaded, schema, str(model_name), version, tiers, scored_at, keep,
        method, ids, row_groups)
    # The folder is made for the staging files; a refused batch leaves no folder behind.
    made = [p for p in (output_path.parent, *output_path.parent.parents) if not p.exists()]
    output_path.parent.mkdir(parents=True, exist_ok=True)
    staging = output_partial(output_path, "spark")
    try:
        try:
            with _arrow_batch_rows(spark, ARROW_BATCH_ROWS):
                if scored is None:
                    _score_to_parts(sdf, compiled, schema, ids, tiers, str(model_name), version,
                                    scored_at, keep, staging, row_groups)
                else:
                    scored.write.parquet(str(staging))
        except Exception as err:
            if _from_spark(err):   # rows the model could not take: name them if the contract can
                check.run()
            raise
        check.raise_problems(observation.get)   # nothing is written past this on a violation
        parts = _parts(staging)
        counts, written = _write_outputs(parts, output_path, workspace, schema, log, carried,
                                         time_column, overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in made:   # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return SparkFileResult(sum(counts.values()), version,
                           {t: counts.get(t, 0) for t in tiers.labels}, time_column, carried,
                           written)


#: Rows per Arrow batch handed to the scoring workers. Spark's default (10,000) leaves the booster
#: a small matrix per call: 500k rows scored end to end in about 12 s at 10,000 rows a batch,
#: 10.6 s at 50,000 to 250,000 (this machine, 2 cores).
ARROW_BATCH_ROWS = 100_000


@contextlib.contextmanager
def _arrow_batch_rows(spark: SparkSession, rows: int) -> Iterator[None]:
    """Spark's Arrow batch size set to ``rows`` for the jobs run inside, then restored."""
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(key, None)
    spark.conf.set(key, str(rows))
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)


def _from_spark(err: BaseException) -> bool:
    """Whether ``err`` comes from Spark or its Java side (not from the contract check)."""
    return any(k.__module__.split(".")[0] in ("pyspark", "py4j") for k in type(err).__mro__)


def _first_line(err: BaseException) -> str:
    """The first meaningful line of a Spark error, without the Java stack trace."""
    for line in str(err).splitlines():
        line = line.strip()
        if line and not line.startswith(("at ", "Traceback", "py4j", "An error occurred")):
            return line[:300]
    return type(err).__name__


def _spread(sdf: SparkDataFrame) -> SparkDataFrame:
    """``sdf`` over at least one partition per core, its rows still in their order.

    Spark splits a Parquet file by row groups: a file of one row group (pandas writes up to a
    million rows per group) is one task, scored on one core while the others idle. A range
    partitioning on the row position spreads it and keeps the order; an input already split
    into enough partitions is left alone (no shuffle).
    """
    from pyspark.sql import functions as F

    try:
        cores = sdf.sparkSession.sparkContext.defaultParallelism
        if sdf.rdd.getNumPartitions() >= cores:
            return sdf
    except Exception:  # clusters that refuse RDD access (shared access mode): score as read
        return sdf
    row = "__closedloop_row"
    return (sdf.withColumn(row, F.monotonically_increasing_id())
            .repartitionByRange(cores, row).sortWithinPartitions(row).drop(row))


def _read(spark: SparkSession, input_path: str | os.PathLike[str],
          schema: Schema | None = None) -> SparkDataFrame:
    """Read a Parquet or CSV file; a CSV file's id columns (by ``schema``) as text."""
    path = str(Path(input_path).resolve())
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        return spark.read.parquet(path)
    if suffix == ".csv":
        inferred = spark.read.csv(path, header=True, inferSchema=True)
        text = set() if schema is None else {
            c.name for c in schema.columns if c.kind == "id" or c.name == schema.entity_id}
        if not text & set(inferred.columns):
            return inferred
        from pyspark.sql import types as T

        # Read again with the ids as strings: a cast of the inferred numbers would lose "007".
        fields = [T.StructField(f.name, T.StringType() if f.name in text else f.dataType, True)
                  for f in inferred.schema.fields]
        return spark.read.csv(path, header=True, schema=T.StructType(fields))
    raise ValueError(f"{path}: expected a .csv or .parquet file")


def _write_outputs(parts: list[Path], output_path: Path, workspace: Workspace, schema: Schema,
                   log: bool, carried: tuple[str, ...] = (),
                   time_column: str | None = None, overwrite: bool = False
                   ) -> tuple[dict[str, int], bool | None]:
    """Stream ``parts`` into the output file and (with ``log``) the log batch; tier counts and
    whether the log batch was written (None without ``log``, False when already logged).

    The output is renamed into place first, then the log batch committed, as the pandas path
    does: a job that fails in between leaves the output and no log batch, and its retry (same
    input, same model version) writes the batch once.
    """
    import pyarrow.parquet as pq

    from closedloop.monitoring import store as _storage
    from closedloop.monitoring.store import InferenceLog, fault
    from closedloop.scoring._columns import OUTPUT_BATCH_KEY

    partial = output_partial(output_path)
    final, log_partial, batch_id = None, None, None
    target_log = InferenceLog(workspace, schema) if log else None
    if target_log is not None:
        batch_id = _batch_id(parts, schema, time_column)
        check_output(output_path, overwrite, batch_id=batch_id)
        if target_log.scans_files:  # committed in place: the file is the log batch
            final, log_partial = _storage.batch_paths(target_log.predictions_dir, batch_id)
        else:  # a table log (databricks): written beside the output, then appended
            log_partial = output_path.parent / f".{batch_id}.{os.getpid()}.log.tmp"
    else:
        check_output(output_path, overwrite)
    written = _part_schema(parts[0]) if parts and carried else None
    out_schema = output_arrow_schema(schema, [written.field(c) for c in carried]
                                     if written is not None else [])
    if batch_id:
        out_schema = out_schema.with_metadata({OUTPUT_BATCH_KEY: batch_id})
    committed = None if not log else False
    try:
        with contextlib.ExitStack() as stack:
            out = stack.enter_context(pq.ParquetWriter(partial, out_schema))
            logged = None if log_partial is None else stack.enter_context(
                pq.ParquetWriter(log_partial, _storage.predictions_arrow_schema(schema)))
            counts, hashes = _stream(parts, out, logged, schema, batch_id, out_schema)
        publish_output(partial, output_path)
        if log_partial is not None:
            fault("score:after_log_partial")
            if final is not None:
                committed = _storage.commit_batch(log_partial, final)
                if committed:   # what the log's de-duplication reads instead of the ids
                    _storage.write_id_hashes(final, hashes)
            else:
                committed = target_log.write_arrow(batch_id, pq.read_table(log_partial))[1]
    finally:
        partial.unlink(missing_ok=True)
        if log_partial is not None:
            log_partial.unlink(missing_ok=True)
    return counts, committed


def _batch_id(parts: list[Path], schema: Schema = TELCO_SCHEMA,
              time_column: str | None = None) -> str:
    """The log's batch id (a digest of the sorted prediction ids), reading only that column.

    Raises :class:`~closedloop.contract.validation.DataContractError` when an id repeats (an
    entity scored twice at one time), naming the rows as the pandas path does.
    """
    import pyarrow as pa

    from closedloop.monitoring.store import hex_digests, repeated_keys

    # The ids' bytes sort as their hex text does (digest_order): no Python string per id.
    digests, text = hex_digests(pa.chunked_array(
        [chunk for part in parts for chunk in _part_columns(part, [_PREDICTION_ID]).column(0)
         .cast(pa.large_string()).chunks], pa.large_string()))
    order, distinct = digest_order(digests)
    if not distinct:
        # Only a refused batch pays for reading the keys, to name its rows.
        keys = pa.concat_tables([_part_columns(part, [schema.entity_id, _TIMESTAMP])
                                 for part in parts]).to_pandas()
        problem = repeated_keys(keys[schema.entity_id], keys[_TIMESTAMP],
                                time_column or SCORED_AT) or (
            _PREDICTION_ID, "repeated within the batch")
        raise DataContractError([problem], schema.name)
    return hex_rows_digest(text[order])


def _stream(parts: list[Path], out: Any, logged: Any, schema: Schema,
            batch_id: str | None, out_schema: pa.Schema | None = None
            ) -> tuple[dict[str, int], np.ndarray]:
    """Copy the scored ``parts`` to the output writer ``out`` and, if ``logged``, to the log
    batch writer; return the rows per risk tier and the logged rows' prediction id hashes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from closedloop.monitoring.store import id_hashes, now, predictions_arrow_schema

    out_schema = out_schema or output_arrow_schema(schema)
    log_schema = predictions_arrow_schema(schema)
    logged_at = pd.Timestamp(now()).floor("us").to_pydatetime()
    counts: dict[str, int] = {}
    hashes = []
    # The log batch is written in a second thread while this one writes the output (Parquet
    # encoding releases the GIL); one table at a time in flight keeps the order and the memory.
    with ThreadPoolExecutor(max_workers=1) as side:
        in_flight = None
        for part in parts:
            for batch in _part_batches(part):
                table = pa.Table.from_batches([batch])
                if logged is not None:
                    if in_flight is not None:
                        in_flight.result()
                    in_flight = side.submit(lambda t=table: logged.write_table(
                        _log_table(t, log_schema, batch_id, logged_at)))
                out.write_table(table.select(out_schema.names).cast(out_schema))
                for item in pc.value_counts(table.column(RISK_TIER)).to_pylist():
                    counts[item["values"]] = counts.get(item["values"], 0) + item["counts"]
                if logged is not None:
                    hashes.append(id_hashes(table.column(_PREDICTION_ID)))
        if in_flight is not None:
            in_flight.result()
    return counts, (np.concatenate(hashes) if hashes else np.array([], np.uint64))


def _parts(staging: Path) -> list[Path]:
    """The staging parts of a scoring job, in partition order (the input's order): Arrow IPC
    files written by the workers themselves (:func:`_score_to_parts`), else the Parquet files
    of Spark's writer."""
    return sorted(staging.glob("part-*.arrow")) or sorted(staging.glob("part-*.parquet"))


def _part_batches(part: Path) -> Iterator[pa.RecordBatch]:
    """The record batches of a staging part, one at a time (an Arrow file memory-mapped)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if part.suffix == ".parquet":
        yield from pq.ParquetFile(part).iter_batches(batch_size=65_536)
        return
    reader = pa.ipc.open_file(pa.memory_map(str(part)))
    for i in range(reader.num_record_batches):
        yield reader.get_batch(i)


def _part_schema(part: Path) -> pa.Schema:
    """The Arrow schema of a staging part, from its footer (no rows read)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if part.suffix == ".parquet":
        return pq.read_schema(part)
    return pa.ipc.open_file(pa.memory_map(str(part))).schema


def _part_columns(part: Path, names: list[str]) -> pa.Table:
    """Only the columns ``names`` of a staging part."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if part.suffix == ".parquet":
        return pq.read_table(part, columns=names)
    source = pa.memory_map(str(part))
    schema = pa.ipc.open_file(source).schema
    fields = [schema.get_field_index(name) for name in names]
    return pa.ipc.open_file(source, options=pa.ipc.IpcReadOptions(
        included_fields=fields)).read_all().select(names)


def _log_table(table: pa.Table, log_schema: pa.Schema, batch_id: str | None,
               logged_at: Any) -> pa.Table:
    import pyarrow as pa

    if table.column(_TIMESTAMP).null_count:
        raise DataContractError([(_TIMESTAMP, "null prediction time")], "inference_log")
    table = table.append_column(_BATCH_ID, pa.repeat(pa.scalar(batch_id, pa.string()),
                                                     len(table)))
    table = table.append_column(_LOGGED_AT, pa.repeat(pa.scalar(logged_at, pa.timestamp("us")),
                                                      len(table)))
    return table.select(log_schema.names).cast(log_schema)
