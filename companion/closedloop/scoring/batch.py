"""Batch scoring with pandas or Spark: contract check, model, risk tier, output file, inference log.

One batch goes through the same steps whatever the engine: the input is checked against the data
contract (every problem named, nothing written when there is one), its dtypes are restored, the
registered model scores it, each row gets a :class:`RiskTiers` tier, and the result (entity id,
``prediction``, ``prediction_proba``, ``risk_tier``, ``model_name``, ``model_version``,
``scored_at``) is written atomically and appended to the inference log.

:func:`score` works on a pandas DataFrame with a loaded model; :func:`score_file` runs either
engine from a file to a file. The Spark half lives in :mod:`closedloop.scoring.spark` (importing
this module does not import pyspark); its :func:`~closedloop.scoring.spark.score_spark`,
:func:`~closedloop.scoring.spark.validate_spark`,
:func:`~closedloop.scoring.spark.spark_for_scoring` and
:func:`~closedloop.scoring.spark.spark_to_pandas` can be imported from here too.

See Also
--------
Chapter "Batch inference and business impact" (``book/07_batch_and_business.ipynb``).
"""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from closedloop.config import Workspace
from closedloop.contract.schema import DataContractError, Schema, restore_dtypes, validate
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.scoring._columns import (
    DEFAULT_MODEL_NAME,
    MODEL_NAME,
    MODEL_VERSION,
    PREDICTION,
    PREDICTION_PROBA,
    RISK_TIER,
    SCORED_AT,
    RiskTiers,
    _closedloop_model,
    _scored_at,
    output_arrow_schema,
    resolve_model,
)

if TYPE_CHECKING:

    from closedloop.monitoring.store import InferenceLog









def check_input(df: pd.DataFrame, schema: Schema = TELCO_SCHEMA, *,
                allow_extra: Iterable[str] = ()) -> pd.DataFrame:
    """Restore the contract's dtypes on ``df``, then validate it (no target needed).

    Raises one :class:`~closedloop.contract.schema.DataContractError` naming every offending column. A
    column that cannot take its dtype (12.5 in an integer column, text in a float column) is
    reported together with every other problem found by :func:`closedloop.contract.schema.validate`.

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
        A registry pyfunc (:func:`closedloop.model.registry.load_model`) or anything whose
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
    >>> from closedloop.contract.telco import load_telco
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
    fitted = _closedloop_model(model)
    if fitted is not None:
        # The batch passed check_input(): the pyfunc would check the whole contract again.
        proba = fitted.pipeline.predict_proba(typed[schema.feature_names])[:, 1]
        prediction = proba >= fitted.threshold
    else:
        predicted = model.predict(typed[schema.feature_names])
        prediction, proba = predicted[PREDICTION], predicted[PREDICTION_PROBA]
    out = _output(typed[schema.entity_id], prediction, proba, schema, str(model_name),
                  str(model_version), tiers, when)
    if log is not None:
        log.append(typed, model_name=str(model_name), model_version=str(model_version),
                   timestamp=timestamp or when, scored=out)
    return out






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
    a retried job with the same ``scored_at`` logs nothing twice. The output file has the
    Arrow schema :func:`output_arrow_schema`.

    ``engine="spark"`` reads, validates and scores with Spark (``master``, default
    ``local[*]``) through :func:`closedloop.scoring.spark.score_file_spark`, without collecting
    the rows on the driver; the output file and the logged rows are the same.
    """
    workspace = workspace if isinstance(workspace, Workspace) else Workspace.resolve(workspace)
    when = _scored_at(scored_at)
    if engine == "pandas":
        version, counts = _score_file_pandas(workspace, input_path, output_path, alias, schema,
                                             model_name, tiers, when, log, timestamp,
                                             tuple(allow_extra))
    elif engine == "spark":
        from closedloop.scoring.spark import score_file_spark

        done = score_file_spark(workspace, input_path, output_path, alias=alias, schema=schema,
                                model_name=model_name, tiers=tiers, scored_at=when, log=log,
                                timestamp=timestamp, allow_extra=allow_extra, master=master)
        version, counts = done.model_version, done.tiers
    else:
        raise ValueError(f"engine must be 'pandas' or 'spark' (got {engine!r})")
    return ScoreResult(sum(counts.values()), str(output_path), model_name, version, engine,
                       str(when), {t: int(counts.get(t, 0)) for t in tiers.labels}, log)


def _on_every_core(model: Any) -> Any:
    """``model`` with its LightGBM step predicting on every core, when it has one.

    Models are trained with one thread (on a few thousand rows threads cost more than they
    save); a file of many rows is the opposite case. Trees score each row independently, so
    the probabilities are the same with any number of threads.
    """
    try:
        step = model.unwrap_python_model().pipeline.named_steps["model"]
    except Exception:  # another kind of pyfunc (MLflow raises its own error): leave it be
        return model
    if "n_jobs" in step.get_params():
        step.set_params(n_jobs=os.cpu_count() or 1)
    return model


def _score_file_pandas(workspace: Workspace, input_path: Any, output_path: Any, alias: str,
                       schema: Schema, model_name: str, tiers: RiskTiers, when: pd.Timestamp,
                       log: bool, timestamp: str | None, allow_extra: tuple[str, ...]
                       ) -> tuple[str, dict[str, int]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from closedloop.model.registry import load_model
    from closedloop.monitoring.store import InferenceLog

    extra = (*allow_extra, *([timestamp] if timestamp else []))
    typed = check_input(read_table(input_path), schema, allow_extra=extra).reset_index(drop=True)
    _, version = resolve_model(workspace, alias, model_name=model_name)
    model = _on_every_core(load_model(workspace, version, model_name=model_name))
    out = _score_typed(typed, model, schema, model_name, version, tiers, when, None, None)
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    partial = output_path.with_name(f".{output_path.name}.{uuid.uuid4().hex}.tmp")
    try:
        table = pa.Table.from_pandas(out, schema=output_arrow_schema(schema),
                                     preserve_index=False)
        pq.write_table(table.replace_schema_metadata(None), partial)
        if log:
            InferenceLog(workspace, schema).append(
                typed, model_name=model_name, model_version=version,
                timestamp=timestamp or when, scored=out)
        os.replace(partial, output_path)
    finally:
        partial.unlink(missing_ok=True)
    counts = out[RISK_TIER].value_counts()
    return version, {t: int(n) for t, n in counts.items()}


_SPARK_NAMES = ("score_spark", "validate_spark", "spark_for_scoring", "spark_to_pandas")


def __getattr__(name: str) -> Any:
    # The Spark half, re-exported lazily: importing this module must not import pyspark.
    if name in _SPARK_NAMES:
        return getattr(importlib.import_module("closedloop.scoring.spark"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
