"""Batch scoring with pandas or Spark: contract check, model, risk tier, output file, inference log.

One batch goes through the same steps whatever the engine: the input is checked against the data
contract (every problem named, nothing written when there is one), its dtypes are restored, the
registered model scores it, each row gets a :class:`RiskTiers` tier, and the result (entity id,
``prediction``, ``prediction_proba``, ``risk_tier``, ``model_name``, ``model_version``,
``scored_at``) is written atomically and appended to the inference log.

:func:`score` works on a pandas DataFrame with a loaded model; :func:`score_spark` on a Spark
DataFrame, through ``mlflow.pyfunc.spark_udf`` (``env_manager="local"``: the workers use the
driver's environment, which works offline); :func:`score_file` runs either from a file to a file.

See Also
--------
Chapter "Batch inference and business impact" (``book/07_batch_and_business.ipynb``).
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from closedloop.config import Workspace
from closedloop.data import TELCO_SCHEMA, DataContractError, Schema, restore_dtypes, validate

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame

    from closedloop.monitoring.store import InferenceLog

DEFAULT_MODEL_NAME = "closedloop-churn"  # same as closedloop.registry (not imported: MLflow)
PREDICTION, PREDICTION_PROBA = "prediction", "prediction_proba"
RISK_TIER, MODEL_NAME, MODEL_VERSION, SCORED_AT = (
    "risk_tier", "model_name", "model_version", "scored_at")


@dataclass(frozen=True)
class RiskTiers:
    """Probability thresholds of the risk tiers: ``high`` at or above ``high``, ``medium`` at or
    above ``medium``, ``low`` below.

    Examples
    --------
    >>> RiskTiers().assign(np.array([0.1, 0.4, 0.69, 0.7])).tolist()
    ['low', 'medium', 'medium', 'high']
    >>> RiskTiers(high=0.5, medium=0.2).assign(np.array([0.2, 0.5])).tolist()
    ['medium', 'high']
    """

    high: float = 0.7
    medium: float = 0.4

    def __post_init__(self) -> None:
        if not 0.0 <= self.medium <= self.high <= 1.0:
            raise ValueError(f"need 0 <= medium <= high <= 1 (got medium={self.medium}, "
                             f"high={self.high})")

    @property
    def labels(self) -> tuple[str, str, str]:
        """The tier names, lowest risk first."""
        return ("low", "medium", "high")

    def assign(self, proba: np.ndarray | pd.Series) -> np.ndarray:
        """The tier of each probability (an object array of ``low``/``medium``/``high``)."""
        proba = np.asarray(proba, dtype=np.float64)
        # Comparisons, not np.digitize: the same >= the Spark path uses, so ties agree exactly.
        return np.select([proba >= self.high, proba >= self.medium], ["high", "medium"],
                         "low").astype(object)


def output_columns(schema: Schema = TELCO_SCHEMA) -> list[str]:
    """Columns of a scored batch, in order."""
    return [schema.entity_id, PREDICTION, PREDICTION_PROBA, RISK_TIER, MODEL_NAME,
            MODEL_VERSION, SCORED_AT]


def check_input(df: pd.DataFrame, schema: Schema = TELCO_SCHEMA, *,
                allow_extra: Iterable[str] = ()) -> pd.DataFrame:
    """Restore the contract's dtypes on ``df``, then validate it (no target needed).

    Raises one :class:`~closedloop.data.DataContractError` naming every offending column. A
    column that cannot take its dtype (12.5 in an integer column, text in a float column) is
    reported together with every other problem found by :func:`closedloop.data.validate`.

    Examples
    --------
    >>> try:
    ...     check_input(pd.DataFrame({"customerID": ["a"], "tenure": [1.5]}))
    ... except DataContractError as err:
    ...     print("tenure" in err.columns)
    True
    """
    allow_extra = tuple(allow_extra)
    try:
        typed = restore_dtypes(df, schema)
    except (DataContractError, ValueError, TypeError) as err:
        validate(df, schema, require_target=False, allow_extra=allow_extra)
        problems = getattr(err, "problems", None) or [("<frame>", str(err))]
        raise DataContractError(problems, schema.name) from err
    return validate(typed, schema, require_target=False, allow_extra=allow_extra)


def score(df: pd.DataFrame, model: Any, *, schema: Schema = TELCO_SCHEMA,
          model_name: str = DEFAULT_MODEL_NAME, model_version: str | int,
          tiers: RiskTiers = RiskTiers(), scored_at: str | pd.Timestamp | None = None,
          log: InferenceLog | None = None, timestamp: str | None = None,
          allow_extra: Iterable[str] = ()) -> pd.DataFrame:
    """Score a pandas batch: contract check, model, risk tier; optionally log it.

    Parameters
    ----------
    df : DataFrame
        The batch: the contract's columns (the target may be absent).
    model : object
        A registry pyfunc (:func:`closedloop.registry.load_model`) or anything whose
        ``predict(DataFrame)`` returns ``prediction`` and ``prediction_proba``.
    schema : Schema
        The data contract.
    model_name, model_version : str
        The registered model, written with every row.
    tiers : RiskTiers
        The tier thresholds.
    scored_at : str, Timestamp or None
        The scoring time of the batch (naive UTC; default now). A retried job that passes the
        same time logs nothing twice.
    log : InferenceLog, optional
        Append the scored rows (with their features) to this inference log, as one atomic batch.
    timestamp : str, optional
        A column of ``df`` holding each row's prediction time for the log (e.g. a simulated
        stream's ``event_time``); default ``scored_at``.
    allow_extra : iterable of str
        Columns beyond the contract that the batch may carry.

    Returns
    -------
    DataFrame
        The columns of :func:`output_columns`: entity id (object), ``prediction`` (int64),
        ``prediction_proba`` (float64), ``risk_tier``, ``model_name``, ``model_version``,
        ``scored_at`` (datetime64[ns]), in the input's row order.

    Raises
    ------
    DataContractError
        Before anything is scored or logged, naming the offending columns.

    Examples
    --------
    >>> class Toy:  # any model returning the two columns will do
    ...     def predict(self, frame):
    ...         proba = frame["tenure"].to_numpy() / 100
    ...         return pd.DataFrame({"prediction": (proba >= 0.5).astype(int),
    ...                              "prediction_proba": proba})
    >>> from closedloop.data import load_telco
    >>> batch = load_telco().head(3).assign(tenure=[10, 40, 70])
    >>> out = score(batch, Toy(), model_version="1", scored_at="2026-01-01")
    >>> out[["prediction", "prediction_proba", "risk_tier"]]
       prediction  prediction_proba risk_tier
    0           0               0.1       low
    1           0               0.4    medium
    2           1               0.7      high

    See Also
    --------
    Chapter "Batch inference and business impact" (``book/07_batch_and_business.ipynb``).
    """
    extra = (*allow_extra, *([timestamp] if timestamp else []))
    typed = check_input(df, schema, allow_extra=extra).reset_index(drop=True)
    return _score_typed(typed, model, schema, str(model_name), str(model_version), tiers,
                        _scored_at(scored_at), log, timestamp)


def _score_typed(typed: pd.DataFrame, model: Any, schema: Schema, model_name: str,
                 model_version: str, tiers: RiskTiers, when: pd.Timestamp,
                 log: InferenceLog | None, timestamp: str | None) -> pd.DataFrame:
    predicted = model.predict(typed[schema.feature_names])
    out = _output(typed[schema.entity_id], predicted[PREDICTION], predicted[PREDICTION_PROBA],
                  schema, str(model_name), str(model_version), tiers, when)
    if log is not None:
        log.append(typed, model_name=str(model_name), model_version=str(model_version),
                   timestamp=timestamp or when, scored=out)
    return out


def _scored_at(scored_at: str | pd.Timestamp | None) -> pd.Timestamp:
    when = pd.Timestamp.now(tz="UTC") if scored_at is None else pd.Timestamp(scored_at)
    return when.tz_convert("UTC").tz_localize(None) if when.tzinfo else when


def _output(entity: pd.Series, prediction: Any, proba: Any, schema: Schema, model_name: str,
            model_version: str, tiers: RiskTiers, when: pd.Timestamp) -> pd.DataFrame:
    proba = np.asarray(proba, dtype=np.float64)
    out = pd.DataFrame({
        schema.entity_id: entity.to_numpy(dtype=object),
        PREDICTION: np.asarray(prediction).astype(np.int64), PREDICTION_PROBA: proba,
        RISK_TIER: tiers.assign(proba), MODEL_NAME: model_name, MODEL_VERSION: model_version,
        SCORED_AT: np.full(len(proba), when.to_datetime64(), dtype="datetime64[ns]"),
    })
    return restore_dtypes(out, schema)


# ------------------------------------------------------------------------------------ Spark


def validate_spark(sdf: SparkDataFrame, schema: Schema = TELCO_SCHEMA, *,
                   allow_extra: Iterable[str] = ()) -> SparkDataFrame:
    """:func:`closedloop.data.validate` for a Spark DataFrame (no target needed), in one pass.

    Checks missing and extra columns, Spark types, nulls, unknown categories and ranges; raises
    one :class:`~closedloop.data.DataContractError` naming every offending column.
    """
    from pyspark.sql import functions as F

    problems: list[tuple[str, str]] = []
    expected = [c for c in schema.columns if c.name != schema.target or c.name in sdf.columns]
    problems += [(c.name, f"missing (expected {c.kind} column)") for c in expected
                 if c.name not in sdf.columns]
    known = set(schema.names) | set(allow_extra)
    problems += [(n, "unexpected column, not in the contract") for n in sdf.columns
                 if n not in known]
    present = [c for c in expected if c.name in sdf.columns]
    types = dict(sdf.dtypes)
    checked = []
    for column in present:
        fractional = types[column.name] in ("float", "double") or types[column.name].startswith(
            "decimal")
        # A whole-number float in an integer column is restored, as restore_dtypes() does.
        kind = "float" if column.kind == "integer" and fractional else column.kind
        problem = _spark_type_problem(types[column.name], kind)
        if problem:
            problems.append((column.name, problem))
        else:
            checked.append(column)
    aggregates = [F.count(F.lit(1)).alias("_rows")]
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
    stats = sdf.agg(*aggregates).first().asDict()
    for i, column in enumerate(checked):
        if stats.get(f"u{i}"):  # only a violation pays for a second job: which values
            col = F.col(f"`{column.name}`")
            found = sdf.where(col.isNotNull() & ~col.isin(list(column.categories)))
            stats[f"u{i}"] = [r[0] for r in found.select(col).distinct().limit(5).collect()]
    rows = stats["_rows"]
    if rows == 0:
        problems.append(("<frame>", "is empty: no rows to validate"))
    for i, column in enumerate(checked if rows else []):
        problems += [(column.name, m) for m in _spark_column_problems(column, stats, i, rows)]
    if problems:
        raise DataContractError(problems, schema.name)
    return sdf


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


def resolve_model(workspace: Workspace, alias: str = "champion", *,
                  model_name: str = DEFAULT_MODEL_NAME) -> tuple[str, str]:
    """The ``models:/`` URI and version number behind ``alias`` (or a version number)."""
    client = workspace.client()
    version = str(alias) if str(alias).isdigit() else str(
        client.get_model_version_by_alias(model_name, alias).version)
    return f"models:/{model_name}/{version}", version


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
        ``"auto"``, ``"map"`` or ``"udf"``. ``map`` ships the model's fitted pipeline to the workers and scores each Arrow batch
        with ``mapInPandas`` (workers import neither MLflow nor the model's files: seconds
        faster to start); ``udf`` uses ``mlflow.pyfunc.spark_udf(..., env_manager="local")``,
        which serves any pyfunc. ``auto`` picks ``map`` for a
        :class:`~closedloop.registry.ClosedLoopModel`, else ``udf``.

    Notes
    -----
    The input is validated first with :func:`validate_spark` (one Spark job); whole-number
    floats in integer columns are cast back, as :func:`closedloop.data.restore_dtypes` does.
    Columns: those of :func:`output_columns`, then ``keep`` (e.g. the features, to log them).
    """
    from pyspark.sql import functions as F

    sdf = _without_pandas_index(sdf)
    validate_spark(sdf, schema, allow_extra=tuple(allow_extra))
    sdf = sdf.select(*[F.col(f"`{n}`").cast("long").alias(n)
                       if n in schema.names and schema[n].kind == "integer" else F.col(f"`{n}`")
                       for n in sdf.columns])
    uri, version, loaded = _model_source(model, alias, model_name, model_version)
    python_model = _closedloop_model(loaded) if method != "udf" else None
    if method == "map" and python_model is None:
        raise ValueError("method='map' needs a ClosedLoopModel pyfunc")
    if python_model is not None:
        scored = _score_map(sdf, python_model.pipeline, python_model.threshold, schema)
    else:
        scored = _score_udf(sdf, model, uri, schema)
    when = _scored_at(scored_at).to_pydatetime()
    proba = F.col(PREDICTION_PROBA)
    tier = (F.when(proba >= tiers.high, "high").when(proba >= tiers.medium, "medium")
            .otherwise("low"))
    return scored.select(
        F.col(f"`{schema.entity_id}`"), F.col(PREDICTION).cast("long").alias(PREDICTION),
        proba.cast("double").alias(PREDICTION_PROBA), tier.alias(RISK_TIER),
        F.lit(str(model_name)).alias(MODEL_NAME), F.lit(str(version)).alias(MODEL_VERSION),
        F.lit(when).cast("timestamp_ntz").alias(SCORED_AT), *[F.col(f"`{k}`") for k in keep])


def _model_source(model: Any, alias: str, model_name: str, model_version: Any
                  ) -> tuple[str | None, str, Any]:
    """(URI, version, loaded pyfunc or None) of the ``model`` argument of :func:`score_spark`."""
    if isinstance(model, Workspace):
        from closedloop.registry import load_model

        uri, version = resolve_model(model, alias, model_name=model_name)
        return uri, version, load_model(model, version, model_name=model_name)
    if model_version is None:
        raise ValueError("score_spark needs model_version unless given a Workspace")
    if isinstance(model, str):
        import mlflow

        return model, str(model_version), mlflow.pyfunc.load_model(model)
    return None, str(model_version), model


def _closedloop_model(loaded: Any) -> Any:
    unwrap = getattr(loaded, "unwrap_python_model", None)
    try:
        inner = unwrap() if unwrap else loaded
    except Exception:  # not a python-function model: let spark_udf serve it
        return None
    return inner if hasattr(inner, "pipeline") and hasattr(inner, "threshold") else None


def _score_map(sdf: SparkDataFrame, pipeline: Any, threshold: float,
               schema: Schema) -> SparkDataFrame:
    from pyspark.sql import types as T

    features = schema.feature_names
    out_schema = T.StructType([*sdf.schema.fields, T.StructField(PREDICTION, T.LongType()),
                               T.StructField(PREDICTION_PROBA, T.DoubleType())])

    def predict(batches: Iterable[pd.DataFrame]) -> Iterable[pd.DataFrame]:
        # The batch passed the contract on the driver; the model's own check is not repeated.
        for batch in batches:
            proba = pipeline.predict_proba(batch[features])[:, 1].astype(np.float64)
            yield batch.assign(**{PREDICTION: (proba >= threshold).astype(np.int64),
                                  PREDICTION_PROBA: proba})

    return sdf.mapInPandas(predict, out_schema)


def _score_udf(sdf: SparkDataFrame, model: Any, uri: str | None,
               schema: Schema) -> SparkDataFrame:
    import mlflow
    from pyspark.sql import functions as F

    if uri is None:
        raise ValueError("method='udf' needs a Workspace or a model URI, not a loaded model")
    result_type = f"{PREDICTION} long, {PREDICTION_PROBA} double"
    with (model.mlflow() if isinstance(model, Workspace) else _nothing()):
        udf = mlflow.pyfunc.spark_udf(sdf.sparkSession, uri, env_manager="local",
                                      result_type=result_type)
    out = udf(*[F.col(f"`{name}`") for name in schema.feature_names])
    return sdf.withColumn("_out", out).select(
        "*", F.col(f"_out.{PREDICTION}").alias(PREDICTION),
        F.col(f"_out.{PREDICTION_PROBA}").alias(PREDICTION_PROBA)).drop("_out")


def _nothing() -> Any:
    import contextlib

    return contextlib.nullcontext()


def spark_to_pandas(sdf: SparkDataFrame, schema: Schema = TELCO_SCHEMA) -> pd.DataFrame:
    """Collect a scored Spark DataFrame with the dtypes :func:`score` returns."""
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


# ------------------------------------------------------------------------------- file to file


@dataclass(frozen=True)
class ScoreResult:
    """What :func:`score_file` did (also the JSON the CLI prints)."""

    rows: int
    output: str
    model_name: str
    model_version: str
    engine: str
    scored_at: str
    tiers: dict[str, int]
    logged: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a ``.parquet`` or ``.csv`` file (what :func:`score_file` accepts)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix == ".csv":
        return pd.read_csv(path)
    raise ValueError(f"{path}: expected a .csv or .parquet file")


def score_file(workspace: Workspace | str | os.PathLike[str], input_path: str | os.PathLike[str],
               output_path: str | os.PathLike[str], *, engine: str = "pandas",
               alias: str = "champion", schema: Schema = TELCO_SCHEMA,
               model_name: str = DEFAULT_MODEL_NAME, tiers: RiskTiers = RiskTiers(),
               scored_at: str | pd.Timestamp | None = None, log: bool = True,
               timestamp: str | None = None, allow_extra: Iterable[str] = (),
               master: str = "local[*]") -> ScoreResult:
    """Score a Parquet or CSV file with ``model_name@alias`` and write the output Parquet file.

    The input is validated before anything is written: on a contract violation no output file
    exists and the log is unchanged. The output is written to a hidden temporary file, the batch
    is appended to the inference log (atomically, see
    :class:`~closedloop.monitoring.store.InferenceLog`), then the temporary file is renamed:
    a retried job with the same ``scored_at`` logs nothing twice.
    ``engine="spark"`` reads, validates and scores with Spark (``master``, default
    ``local[*]``); the output is the same.
    """
    from closedloop.monitoring.store import InferenceLog

    workspace = workspace if isinstance(workspace, Workspace) else Workspace.resolve(workspace)
    when = _scored_at(scored_at)
    extra = (*allow_extra, *([timestamp] if timestamp else []))
    if engine == "pandas":
        typed, out, version = _score_file_pandas(workspace, input_path, alias, schema,
                                                 model_name, tiers, when, extra)
    elif engine == "spark":
        typed, out, version = _score_file_spark(workspace, input_path, alias, schema,
                                                model_name, tiers, when, extra, master)
    else:
        raise ValueError(f"engine must be 'pandas' or 'spark' (got {engine!r})")
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    partial = output_path.with_name(f".{output_path.name}.{uuid.uuid4().hex}.tmp")
    try:
        out.to_parquet(partial, index=False)
        if log:
            InferenceLog(workspace, schema).append(
                typed, model_name=model_name, model_version=version,
                timestamp=timestamp or when, scored=out)
        os.replace(partial, output_path)
    finally:
        partial.unlink(missing_ok=True)
    counts = out[RISK_TIER].value_counts()
    return ScoreResult(len(out), str(output_path), model_name, version, engine, str(when),
                       {t: int(counts.get(t, 0)) for t in tiers.labels}, log)


def _score_file_pandas(workspace: Workspace, input_path: Any, alias: str, schema: Schema,
                       model_name: str, tiers: RiskTiers, when: pd.Timestamp,
                       extra: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    from closedloop.registry import load_model

    typed = check_input(read_table(input_path), schema, allow_extra=extra).reset_index(drop=True)
    _, version = resolve_model(workspace, alias, model_name=model_name)
    model = load_model(workspace, version, model_name=model_name)
    out = _score_typed(typed, model, schema, model_name, version, tiers, when, None, None)
    return typed, out, version


def _score_file_spark(workspace: Workspace, input_path: Any, alias: str, schema: Schema,
                      model_name: str, tiers: RiskTiers, when: pd.Timestamp,
                      extra: tuple[str, ...], master: str
                      ) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    spark = spark_for_scoring(master)
    path = str(Path(input_path).resolve())
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        sdf = spark.read.parquet(path)
    elif suffix == ".csv":
        sdf = spark.read.csv(path, header=True, inferSchema=True)
    else:
        raise ValueError(f"{path}: expected a .csv or .parquet file")
    sdf = _without_pandas_index(sdf)
    keep = [c for c in (*schema.feature_names, *extra) if c in sdf.columns]
    scored = score_spark(sdf, workspace, alias=alias, schema=schema, model_name=model_name,
                         tiers=tiers, scored_at=when, keep=keep, allow_extra=extra)
    frame = spark_to_pandas(scored, schema)
    out = frame[output_columns(schema)]
    return frame.drop(columns=[PREDICTION, PREDICTION_PROBA]), out, str(out[MODEL_VERSION].iloc[0])


def spark_for_scoring(master: str = "local[*]") -> Any:
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
