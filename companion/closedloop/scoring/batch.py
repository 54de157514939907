"""Batch scoring with pandas or Spark: contract check, model, risk tier, output file, inference log.

One batch goes through the same steps whatever the engine: the input is checked against the data
contract (every problem named, nothing written when there is one), its dtypes are restored, the
registered model scores it (through its :class:`~closedloop.model.compiled.CompiledPredictor`
unless ``method="pipeline"``: the same probabilities bit for bit, without the scikit-learn
pipeline), each row gets a risk tier (:class:`~closedloop.scoring.tiers.RiskTiers`), and the
result (entity id, ``prediction``, ``prediction_proba``, ``risk_tier``, ``model_name``,
``model_version``, ``scored_at``, then the event time and the carried columns when there are
some) is written atomically and appended to the inference log.

Event time: when the input has an event-time column (named by ``event_time``; by default the
contract's ``Schema.timestamp``, else a column named ``event_time``, as ``closedloop simulate``
writes), each row is logged at its event time, not at the scoring time (``scored_at`` stays the
scoring time), and its prediction id is derived from (model name, model version, entity id,
event time): the same customer scored on several days gets distinct ids, and a rescored file
the same ids. Without one, every row is logged at ``scored_at``.

Exactly once: a retry of the same input with the same model version logs nothing twice. With an
event time the ids are fixed by the rows. Without one, unless ``scored_at`` is given, the ids
(and so the log batch) are derived from the model and a digest of the input's content (the
file's bytes; a frame's rows for :func:`score`) instead of the scoring time: the same file
scored again is the same batch, a changed file a new one. Passing ``scored_at`` makes the
scoring time the identity instead (the same file scored at two given times is two batches).

Output before log: :func:`score_file` writes the output file under a hidden temporary name,
renames it into place, and only then commits the log batch, so the log never holds predictions
nobody received. An existing output file is refused unless ``overwrite=True`` (or it records
this very batch: a retry), a folder always. Leftover temporary files of killed jobs older than
a few minutes are removed by the next write beside the output and in the log folder.

Types: a number that arrives as text (``"12"`` in an integer column) is refused at the door by
both engines, with one :class:`~closedloop.contract.validation.DataContractError` naming the
column, the count of text values and the first rows; it is never parsed.

:func:`score` works on a pandas DataFrame with a loaded model; :func:`score_file` runs either
engine from a file to a file. The Spark half lives in :mod:`closedloop.scoring.spark` (importing
this module does not import pyspark); its :func:`~closedloop.scoring.spark.score_spark`,
:func:`~closedloop.scoring.spark.validate_spark`,
:func:`~closedloop.scoring.spark.spark_for_scoring` and
:func:`~closedloop.scoring.spark.spark_to_pandas` can be imported from here too.

See Also
--------
Chapter :doc:`Batch inference and business impact </book/07_batch_and_business>`.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from closedloop.config import Workspace
from closedloop.contract.schema import Schema
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.contract.validation import (
    DataContractError,
    restore_dtypes,
    text_numbers_problem,
    validate,
)
from closedloop.scoring._columns import (
    DEFAULT_MODEL_NAME,
    MODEL_NAME,
    MODEL_VERSION,
    OUTPUT_BATCH_KEY,
    PREDICTION,
    PREDICTION_PROBA,
    RISK_TIER,
    SCORED_AT,
    InputFileError,
    OutputError,
    _closedloop_model,
    _scored_at,
    carried_columns,
    check_method,
    check_output,
    compile_fitted,
    content_digest,
    digest_order,
    digests_digest,
    event_time_column,
    model_threads,
    output_arrow_schema,
    output_partial,
    predict_fitted,
    publish_output,
    reap_output_leftovers,
    resolve_model,
    text_digest,
)
from closedloop.scoring.tiers import RiskTiers

__all__ = ["InputFileError", "OutputError", "ScoreResult", "check_input", "read_table",
           "score", "score_file"]

if TYPE_CHECKING:
    import pyarrow as pa

    from closedloop.monitoring.store import InferenceLog
    from closedloop.scoring.extras import ExperimentLike


def check_input(df: pd.DataFrame, schema: Schema = TELCO_SCHEMA, *,
                allow_extra: Iterable[str] = ()) -> pd.DataFrame:
    """Restore the contract's dtypes on ``df``, then validate it (no target needed).

    Raises one :class:`~closedloop.contract.validation.DataContractError` naming every offending
    column. A column that cannot take its dtype (12.5 in an integer column, text in a float
    column) is reported together with every other problem found by
    :func:`~closedloop.contract.validation.validate`. A number that arrives as text in a numeric
    column is refused, not parsed (see
    :func:`~closedloop.contract.validation.text_numbers_problem`).

    Examples
    --------
    >>> try:
    ...     check_input(pd.DataFrame({"customerID": ["a"], "tenure": [1.5]}))
    ... except DataContractError as err:
    ...     print("tenure" in err.columns)
    True
    """
    allow_extra = tuple(allow_extra)
    text = [(c.name, problem) for c in schema.columns if c.name in df.columns
            and (problem := text_numbers_problem(df[c.name], c.kind))]
    if text:  # refused at the door; every other problem of the batch is named with them
        names = {name for name, _ in text}
        try:
            check_input(df.drop(columns=list(names)), schema, allow_extra=allow_extra)
        except DataContractError as err:
            text += [p for p in err.problems if p[0] not in names]
        raise DataContractError(text, schema.name)
    try:
        typed = restore_dtypes(df, schema)
    except (DataContractError, ValueError, TypeError) as err:
        # What could not be converted, with its values (12.5 in an integer column), then
        # every other problem of the batch as it arrived
        problems = list(getattr(err, "problems", None) or [("<frame>", str(err))])
        named = {column for column, _ in problems}
        try:
            validate(df, schema, require_target=False, allow_extra=allow_extra)
        except DataContractError as invalid:
            problems += [p for p in invalid.problems if p[0] not in named]
        raise DataContractError(problems, schema.name) from err
    return validate(typed, schema, require_target=False, allow_extra=allow_extra)


def score(df: pd.DataFrame, model: Any, *, schema: Schema = TELCO_SCHEMA,
          model_name: str = DEFAULT_MODEL_NAME, model_version: str | int,
          tiers: RiskTiers = RiskTiers(), scored_at: str | pd.Timestamp | None = None,
          log: InferenceLog | None = None, event_time: str | None = None,
          carry: Iterable[str] = (), allow_extra: Iterable[str] = (),
          timestamp: str | None = None, reasons: int | None = None,
          method: str = "auto") -> pd.DataFrame:
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
        The scoring time of the batch (naive UTC; default now). Without an event time it is
        also the batch's identity when given; when None, the identity is a digest of the rows
        (with ``log``: the same rows scored again log nothing twice).
    log : InferenceLog, optional
        Append the scored rows (with their features) to this inference log, as one atomic batch.
    event_time : str, optional
        The column of ``df`` holding each row's event time (see the module notes); default
        the contract's ``Schema.timestamp`` if ``df`` has it, else ``event_time`` if ``df`` has
        it, else none (rows are logged at ``scored_at``). Kept in the output; it is the log's
        ``timestamp`` and part of the prediction id. Stored in microseconds (finer digits are
        dropped); zone-aware times in UTC.
    carry : iterable of str
        Columns beyond the contract to keep in the output (after the event time), e.g. a
        region or an order id; with the contract's ``passthrough`` columns, when it declares
        some. They are not stored in the inference log (its schema is fixed).
    allow_extra : iterable of str
        Columns beyond the contract that the batch may carry (and that are dropped).
    timestamp : str, optional
        Former name of ``event_time`` (used when ``event_time`` is not given).
    reasons : int, optional
        Append ``reason_1`` ... ``reason_<reasons>``: each row's top reasons in words (see
        :func:`closedloop.scoring.extras.add_reasons`); never logged. ``model`` must hold a
        fitted pipeline (a registry pyfunc or a ``PipelineModel``).
    method : {"auto", "compiled", "native", "pipeline"}
        How a model holding a fitted pipeline predicts: ``compiled`` through
        :class:`~closedloop.model.compiled.CompiledPredictor` (contract columns straight into
        the LightGBM booster, same probabilities bit for bit, faster), ``native`` the same with
        the trees compiled to machine code (the ``native`` extra; checked equal to the booster,
        see :meth:`~closedloop.model.compiled.CompiledPredictor.use_native`), ``pipeline``
        through the scikit-learn pipeline (for comparison), ``auto`` compiled when the model
        compiles. Any other model is asked for ``predict`` whatever the method (``compiled``
        and ``native`` refuse it).

    Returns
    -------
    DataFrame
        The columns of ``output_columns``: entity id (object), ``prediction`` (int64),
        ``prediction_proba`` (float64), ``risk_tier``, ``model_name``, ``model_version``,
        ``scored_at`` (datetime64[ns]), then the event time and carried columns if any (then
        the reason columns when asked), in the input's row order.

    Raises
    ------
    DataContractError
        Before anything is scored or logged, naming the offending columns; also when ``log``
        is given and an (entity id, event time) pair repeats (one prediction id for two rows).

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
    Chapter :doc:`Batch inference and business impact </book/07_batch_and_business>`.
    """
    typed, time_column, carried = _prepare(df, schema, event_time or timestamp, carry,
                                           allow_extra)
    from closedloop.scoring.extras import add_reasons, check_reasons

    reasons = check_reasons(reasons)
    key = _frame_digest(typed) if log is not None and scored_at is None else None
    out = _score_typed(typed, model, schema, str(model_name), str(model_version), tiers,
                       _scored_at(scored_at), log, time_column, carried, key,
                       check_method(method))
    return add_reasons(out, model, typed, schema, reasons) if reasons else out


def _frame_digest(frame: pd.DataFrame) -> str:
    """A digest of a typed batch's rows (its identity when it carries no event time)."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    names = "\x1f".join(map(str, frame.columns)).encode()
    return hashlib.blake2b(names + hashed.tobytes(), digest_size=16).hexdigest()


def _prepare(df: pd.DataFrame, schema: Schema, event_time: str | None, carry: Iterable[str],
             allow_extra: Iterable[str]) -> tuple[pd.DataFrame, str | None, tuple[str, ...]]:
    """The checked, typed batch; its event-time column (or None); the columns it carries."""
    time_column = event_time_column(df.columns, schema, event_time)
    carried = carried_columns(df.columns, schema, carry, time_column)
    typed = check_input(df, schema, allow_extra=(*allow_extra, *carried))
    if not typed.index.equals(pd.RangeIndex(len(typed))):  # a copy of every column otherwise
        typed = typed.reset_index(drop=True)
    if time_column is not None:
        typed[time_column] = _event_times(typed[time_column], time_column, schema)
    return typed, time_column, carried


def _event_times(values: pd.Series, column: str, schema: Schema) -> pd.Series:
    """Naive UTC ``datetime64[ns]`` floored to microseconds (what the log stores)."""
    try:
        parsed = pd.to_datetime(values)
    except (ValueError, TypeError) as err:
        raise DataContractError([(column, f"not a timestamp ({err})")], schema.name) from err
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    if parsed.isna().any():
        raise DataContractError([(column, f"{int(parsed.isna().sum())} null event time(s)")],
                                schema.name)
    return parsed.astype("datetime64[ns]").dt.floor("us")


def _check_repeats(typed: pd.DataFrame, schema: Schema, when: pd.Timestamp,
                   time_column: str | None) -> None:
    """Refuse a batch to log where an (entity id, event time) pair repeats."""
    from closedloop.monitoring.store import repeated_keys

    times = typed[time_column] if time_column else pd.Series(
        np.full(len(typed), when.to_datetime64(), dtype="datetime64[ns]"))
    problem = repeated_keys(typed[schema.entity_id], times, time_column or SCORED_AT)
    if problem:
        raise DataContractError([problem], schema.name)


def _score_typed(typed: pd.DataFrame, model: Any, schema: Schema, model_name: str,
                 model_version: str, tiers: RiskTiers, when: pd.Timestamp,
                 log: InferenceLog | None, time_column: str | None,
                 carried: tuple[str, ...] = (), content_key: str | None = None,
                 method: str = "auto") -> pd.DataFrame:
    if log is not None:
        _check_repeats(typed, schema, when, time_column)
    fitted = _closedloop_model(model)
    compiled = compile_fitted(fitted, method)
    if fitted is not None:
        # The batch passed check_input(): the pyfunc would check the whole contract again.
        prediction, proba = predict_fitted(fitted, compiled, typed, schema.feature_names)
    else:
        predicted = model.predict(typed[schema.feature_names])
        prediction, proba = predicted[PREDICTION], predicted[PREDICTION_PROBA]
    out = _output(typed[schema.entity_id], prediction, proba, schema, str(model_name),
                  str(model_version), tiers, when)
    for column in carried:
        out[column] = typed[column].to_numpy()
    if log is not None:
        log.append(typed, model_name=str(model_name), model_version=str(model_version),
                   timestamp=time_column or when, scored=out,
                   content_key=None if time_column else content_key)
    return out


def _output(entity: pd.Series, prediction: Any, proba: Any, schema: Schema, model_name: str,
            model_version: str, tiers: RiskTiers, when: pd.Timestamp) -> pd.DataFrame:
    proba = np.asarray(proba, dtype=np.float64)
    # The entity ids come from a checked batch (text already, see check_input): no second
    # restore_dtypes pass over the output (a copy of every column) is needed.
    ids = entity if pd.api.types.is_object_dtype(entity.dtype) else restore_dtypes(
        entity.to_frame(), schema)[schema.entity_id]
    return pd.DataFrame({
        schema.entity_id: ids.to_numpy(dtype=object),
        PREDICTION: np.asarray(prediction).astype(np.int64, copy=False),
        PREDICTION_PROBA: proba, RISK_TIER: tiers.assign(proba), MODEL_NAME: model_name,
        MODEL_VERSION: model_version,
        SCORED_AT: np.full(len(proba), when.to_datetime64(), dtype="datetime64[ns]"),
    })


def _output_table(out: pd.DataFrame, schema: Schema, carried: tuple[str, ...],
                  batch_id: str | None = None) -> pa.Table:
    """``out`` as an Arrow table of ``output_arrow_schema`` (carried types inferred), with
    the log batch id in its metadata when given."""
    import pyarrow as pa

    extra = pa.Schema.from_pandas(out[list(carried)], preserve_index=False) if carried else []
    table = pa.Table.from_pandas(out, schema=output_arrow_schema(schema, extra),
                                 preserve_index=False)
    return table.replace_schema_metadata({OUTPUT_BATCH_KEY: batch_id} if batch_id else None)


def _log_table(columns: Any, prediction: np.ndarray, proba: np.ndarray, schema: Schema,
               ids: np.ndarray | pa.Array, times: np.ndarray, model_name: str, model_version: str,
               batch_id: str) -> pa.Table:
    """The inference-log batch of a checked, scored batch, built column by column in Arrow.

    ``columns`` maps the entity id and each feature to its values: a pandas column of the
    checked batch (converted once, NaN stored as null) or an Arrow array already in the log's
    type, text possibly dictionary-encoded (the Arrow lane's). ``times`` are the rows' times
    (``datetime64[us]``). The same table as
    :meth:`~closedloop.monitoring.store.InferenceLog.append` stores for these rows (its type
    checks are the contract check the batch already passed), without its pandas copy of the
    batch.
    """
    import pyarrow as pa

    from closedloop.monitoring.store import (
        BATCH_ID,
        LOGGED_AT,
        PREDICTION_ID,
        TIMESTAMP,
        now,
        predictions_arrow_schema,
    )

    log_schema = predictions_arrow_schema(schema)
    n = len(ids)
    fixed = {
        PREDICTION_ID: ids if isinstance(ids, pa.Array) else pa.array(ids, pa.string()),
        TIMESTAMP: pa.array(times, pa.timestamp("us")),
        MODEL_NAME: pa.repeat(pa.scalar(model_name, pa.string()), n),
        MODEL_VERSION: pa.repeat(pa.scalar(model_version, pa.string()), n),
        PREDICTION: pa.array(prediction, pa.int64()),
        PREDICTION_PROBA: pa.array(proba, pa.float64()),
        BATCH_ID: pa.repeat(pa.scalar(batch_id, pa.string()), n),
        LOGGED_AT: pa.repeat(pa.scalar(pd.Timestamp(now()).floor("us").to_pydatetime(),
                                       pa.timestamp("us")), n),
    }

    def stored(field: pa.Field) -> Any:
        values = columns[field.name]
        if isinstance(values, (pa.Array, pa.ChunkedArray)):
            return values
        return pa.array(values, field.type, from_pandas=True)

    arrays = [fixed[f.name] if f.name in fixed else stored(f) for f in log_schema]
    # A text column may come dictionary-encoded: its field says so (the writer stores text).
    return pa.Table.from_arrays(arrays, schema=pa.schema(
        [f.with_type(a.type) for f, a in zip(log_schema, arrays)]))


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
    event_time: str | None = None
    carried: tuple[str, ...] = ()
    log_written: bool | None = None  # False: the batch was already in the log (a retry)
    reasons: int | None = None  # reason columns written (score_file(reasons=k))
    arms: dict[str, int] | None = None  # rows per arm (score_file(experiment=...))
    arm_versions: dict[str, str] | None = None  # the version that answered each arm

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def read_table(path: str | os.PathLike[str], schema: Schema | None = None) -> pd.DataFrame:
    """Read a ``.parquet`` or ``.csv`` file (what :func:`score_file` accepts).

    With ``schema``, a CSV file's entity id and other id columns are read as text, so numeric
    ids (``1001``, ``007``) stay the identifiers they are rather than becoming numbers.

    Raises ``InputFileError`` (a ``ValueError``) naming a file that cannot be read.
    """
    import pyarrow as pa

    suffix = Path(path).suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise ValueError(f"{path}: expected a .csv or .parquet file")
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        text = {} if schema is None else {
            c.name: str for c in schema.columns if c.kind == "id" or c.name == schema.entity_id}
        return pd.read_csv(path, dtype=text)
    except (FileNotFoundError, IsADirectoryError):
        raise
    except (ValueError, OSError, pa.ArrowException, pd.errors.ParserError) as err:
        first = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
        raise InputFileError(f"{path}: cannot be read as a {suffix[1:]} file ({first})") from None


def score_file(workspace: Workspace | str | os.PathLike[str], input_path: str | os.PathLike[str],
               output_path: str | os.PathLike[str], *, engine: str = "pandas",
               alias: str = "champion", schema: Schema = TELCO_SCHEMA,
               model_name: str = DEFAULT_MODEL_NAME, tiers: RiskTiers = RiskTiers(),
               scored_at: str | pd.Timestamp | None = None, log: bool = True,
               event_time: str | None = None, carry: Iterable[str] = (),
               allow_extra: Iterable[str] = (), master: str = "local[*]",
               timestamp: str | None = None, overwrite: bool = False,
               reasons: int | None = None, experiment: ExperimentLike | None = None,
               challenger_alias: str = "challenger", method: str = "auto") -> ScoreResult:
    """Score a Parquet or CSV file with ``model_name@alias`` and write the output Parquet file.

    The input is validated before anything is written: on a contract violation no output file
    exists and the log is unchanged. The output is written to a hidden temporary file and
    renamed into place; only then is the batch appended to the inference log (atomically, see
    :class:`~closedloop.monitoring.store.InferenceLog`): the log never holds predictions whose
    output file was not delivered. A retry of the same input with the same model version logs
    nothing twice: without an event time and without ``scored_at`` the batch's identity is a
    digest of the input file (see the module notes). The output file has the Arrow schema
    ``output_arrow_schema`` and records its log batch id in its Parquet metadata.

    An existing ``output_path`` is refused (``OutputError``, a ``ValueError``) unless
    ``overwrite`` or it records the same log batch (a retry of this very batch); a folder is
    always refused. An input file that cannot be read raises ``InputFileError``.

    ``engine="spark"`` reads, validates and scores with Spark (``master``, default
    ``local[*]``) through :func:`closedloop.scoring.spark.score_file_spark`, without collecting
    the rows on the driver; the output file and the logged rows are the same.

    ``event_time`` and ``carry`` are those of :func:`score` (the event time, found by default,
    becomes each logged row's ``timestamp``; carried columns are kept in the output file only).
    A CSV file's id columns are read as text. ``timestamp`` is the former name of
    ``event_time``.

    Optional column sets (pandas engine only; see :mod:`closedloop.scoring.extras`):
    ``reasons=k`` appends ``reason_1`` ... ``reason_k`` (each row's top reasons, by the model
    that scored it) to the output file, not to the log; ``experiment`` (an
    :class:`~closedloop.abtest.assignment.Experiment` of two arms) scores the rows of its
    second arm with ``challenger_alias`` and all others with ``alias``, adds an ``arm``
    column, and logs one batch per version. The result then reports ``reasons``, ``arms``
    and ``arm_versions``; its ``model_version`` is the champion's. ``method`` is that of :func:`score` (``auto``: the
    compiled path, which ``benchmarks/bench_scoring.py`` times against the pipeline).
    """
    from closedloop.scoring.extras import check_reasons

    workspace = workspace if isinstance(workspace, Workspace) else Workspace.resolve(workspace)
    model_name = workspace.model_name(model_name)  # catalog.schema.name in Unity Catalog
    when = _scored_at(scored_at)
    if engine not in ("pandas", "spark"):
        raise ValueError(f"engine must be 'pandas' or 'spark' (got {engine!r})")
    reasons = check_reasons(reasons)
    if engine == "spark" and (reasons or experiment is not None):
        raise ValueError("reasons and experiment are pandas-only for now: use engine='pandas'")
    check_method(method)
    check_output(output_path, overwrite, early=True)
    reap_output_leftovers(output_path)
    if not Path(input_path).exists():
        raise FileNotFoundError(f"{input_path}: no such input file")
    key = content_digest(input_path) if log and scored_at is None else None
    if reasons or experiment is not None:
        from closedloop.scoring.extras import score_file_extras

        done = score_file_extras(
            workspace, input_path, output_path, alias=alias, schema=schema,
            model_name=model_name, tiers=tiers, when=when, log=log,
            event_time=event_time or timestamp, carry=tuple(carry),
            allow_extra=tuple(allow_extra), content_key=key, overwrite=overwrite,
            reasons=reasons, experiment=experiment, challenger_alias=challenger_alias)
        counts = done["counts"]
        return ScoreResult(sum(counts.values()), str(output_path), model_name, done["version"],
                           engine, str(when), {t: int(counts.get(t, 0)) for t in tiers.labels},
                           log, done["time_column"], done["carried"], done["written"], reasons,
                           done["arms"], done["arm_versions"])
    if engine == "pandas":
        version, counts, time_column, carried, written = _score_file_pandas(
            workspace, input_path, output_path, alias, schema, model_name, tiers, when, log,
            event_time or timestamp, tuple(carry), tuple(allow_extra), key, overwrite, method)
    else:
        from closedloop.scoring.spark import score_file_spark

        done = score_file_spark(workspace, input_path, output_path, alias=alias, schema=schema,
                                model_name=model_name, tiers=tiers, scored_at=when, log=log,
                                event_time=event_time or timestamp, carry=carry,
                                allow_extra=allow_extra, master=master, content_key=key,
                                overwrite=overwrite, method=method)
        version, counts = done.model_version, done.tiers
        time_column, carried, written = done.event_time, done.carried, done.log_written
    return ScoreResult(sum(counts.values()), str(output_path), model_name, version, engine,
                       str(when), {t: int(counts.get(t, 0)) for t in tiers.labels}, log,
                       time_column, carried, written)


def _on_every_core(model: Any) -> Any:
    """``model`` with its LightGBM step predicting on every core, when it has one.

    Models are trained with one thread (on a few thousand rows threads cost more than they
    save); a file of many rows is the opposite case. Trees score each row independently, so
    the probabilities are the same with any number of threads. The compiled path reads the
    same setting (:func:`~closedloop.scoring._columns.model_threads`).
    """
    try:
        step = model.unwrap_python_model().pipeline.named_steps["model"]
    except Exception:  # another kind of pyfunc (MLflow raises its own error): leave it be
        return model
    if "n_jobs" in step.get_params():
        step.set_params(n_jobs=os.cpu_count() or 1)
    return model


@dataclass(frozen=True)
class _Scored:
    """A scored file batch, ready to deliver: its output table and log batch (None: not
    logged), and what :class:`ScoreResult` reports."""

    version: str
    output: pa.Table
    log_batch: pa.Table | None
    batch_id: str | None
    counts: dict[str, int]
    time_column: str | None
    carried: tuple[str, ...]


def _score_file_pandas(workspace: Workspace, input_path: Any, output_path: Any, alias: str,
                       schema: Schema, model_name: str, tiers: RiskTiers, when: pd.Timestamp,
                       log: bool, event_time: str | None, carry: tuple[str, ...],
                       allow_extra: tuple[str, ...], content_key: str | None = None,
                       overwrite: bool = False, method: str = "auto"
                       ) -> tuple[str, dict[str, int], str | None, tuple[str, ...], bool | None]:
    from closedloop.monitoring.store import InferenceLog

    args = (workspace, input_path, alias, schema, model_name, tiers, when, log, event_time,
            carry, allow_extra, content_key, method)
    scored = None
    if Path(input_path).suffix.lower() == ".parquet" and method != "pipeline":
        scored = _score_arrow_lane(*args)
    if scored is None:  # not a plain Parquet batch: the pandas path checks and names it all
        scored = _score_pandas_lane(*args)
    output_path = Path(output_path)
    check_output(output_path, overwrite, batch_id=scored.batch_id)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    written = None
    # The output file and the log batch are written side by side (Parquet writing releases
    # the GIL); the log batch is committed only once the output is in place.
    with ThreadPoolExecutor(1) as writer:
        delivered = writer.submit(_write_output, scored.output, output_path)
        if scored.log_batch is not None:
            _, written = InferenceLog(workspace, schema).write_arrow(
                scored.batch_id, scored.log_batch, before_commit=delivered.result)
        delivered.result()
    return scored.version, scored.counts, scored.time_column, scored.carried, written


def _write_output(table: pa.Table, output_path: Path) -> None:
    """Write ``table`` to ``output_path`` atomically (hidden temporary file, then rename)."""
    import pyarrow.parquet as pq

    partial = output_partial(output_path)
    try:
        pq.write_table(table, partial)
        publish_output(partial, output_path)
    finally:
        partial.unlink(missing_ok=True)


def _score_pandas_lane(workspace: Workspace, input_path: Any, alias: str, schema: Schema,
                       model_name: str, tiers: RiskTiers, when: pd.Timestamp, log: bool,
                       event_time: str | None, carry: tuple[str, ...],
                       allow_extra: tuple[str, ...], content_key: str | None,
                       method: str) -> _Scored:
    """Read the file with pandas, check it (every problem named) and score it."""
    from closedloop.model.registry import load_model
    from closedloop.monitoring.store import prediction_ids

    typed, time_column, carried = _prepare(read_table(input_path, schema), schema, event_time,
                                           carry, allow_extra)
    if log:  # before the model is loaded: a batch that cannot be logged costs nothing
        _check_repeats(typed, schema, when, time_column)
    _, version = resolve_model(workspace, alias, model_name=model_name)
    model = _on_every_core(load_model(workspace, version, model_name=model_name))
    out = _score_typed(typed, model, schema, model_name, version, tiers, when, None, None,
                       carried, method=method)
    batch_id, log_batch = None, None
    if log:  # the rows passed the contract: straight to Arrow, as InferenceLog.append stores them
        times = typed[time_column] if time_column else pd.Series(
            np.full(len(typed), when.to_datetime64(), dtype="datetime64[ns]"))
        ids = prediction_ids(typed[schema.entity_id], times, model_name, version,
                             content_key=None if time_column else content_key)
        batch_id = text_digest(ids)
        log_batch = _log_table(typed, out[PREDICTION].to_numpy(),
                               out[PREDICTION_PROBA].to_numpy(), schema, ids,
                               times.to_numpy(dtype="datetime64[us]"), model_name, version,
                               batch_id)
    counts = out[RISK_TIER].value_counts()
    return _Scored(version, _output_table(out, schema, carried, batch_id), log_batch, batch_id,
                   {t: int(n) for t, n in counts.items()}, time_column, carried)


def _score_arrow_lane(workspace: Workspace, input_path: Any, alias: str, schema: Schema,
                      model_name: str, tiers: RiskTiers, when: pd.Timestamp, log: bool,
                      event_time: str | None, carry: tuple[str, ...],
                      allow_extra: tuple[str, ...], content_key: str | None,
                      method: str) -> _Scored | None:
    """Score a Parquet file that plainly meets its contract without a pandas frame of it
    (see :mod:`closedloop.scoring._arrow`); None when it does not, or when the model does not
    compile: the pandas path then runs."""
    from closedloop.model.registry import load_model
    from closedloop.scoring import _arrow as lane

    table = lane.read_parquet(input_path, schema)
    if table is None:
        return None
    try:
        time_column = event_time_column(table.column_names, schema, event_time)
        carried = carried_columns(table.column_names, schema, carry, time_column)
    except DataContractError:
        return None
    if not lane.plain_batch(table, schema, (*allow_extra, *carried)) or any(
            c in schema.names for c in carried if c != time_column):
        return None  # (a carried contract column is retyped by the pandas path)
    times_us = lane.event_micros(table.column(time_column)) if time_column else None
    if time_column and times_us is None:
        return None
    _, version = resolve_model(workspace, alias, model_name=model_name)
    model = _on_every_core(load_model(workspace, version, model_name=model_name))
    fitted = _closedloop_model(model)
    compiled = compile_fitted(fitted, method)
    if compiled is None:
        return None
    X = compiled.matrix_arrow(table)
    # The log's columns (ids, batch id, features) are built while the trees predict: that
    # Python work takes a core the booster's threads share, instead of waiting its turn.
    with ThreadPoolExecutor(1) as side:
        logged = side.submit(_arrow_log_columns, table, schema, log, model_name, version, when,
                             time_column, times_us, content_key)
        proba = compiled.predict_matrix(X, num_threads=model_threads(fitted))
        columns, ids, times, batch_id = logged.result()
    if log and batch_id is None:
        return None  # a repeated prediction id: the pandas path names the rows
    prediction = (proba >= fitted.threshold).astype(np.int64)
    tier = tiers.assign(proba)
    output = lane.output_table(table, schema, proba, prediction, tier, model_name, version,
                               when, carried, time_column, times_us, columns[schema.entity_id])
    if batch_id is not None:
        output = output.replace_schema_metadata({OUTPUT_BATCH_KEY: batch_id})
    log_batch = None if not log else _log_table(columns, prediction, proba, schema, ids, times,
                                                model_name, version, batch_id)
    counts = pd.Series(tier).value_counts()
    return _Scored(version, output, log_batch, batch_id, {t: int(k) for t, k in counts.items()},
                   time_column, carried)


def _arrow_log_columns(table: pa.Table, schema: Schema, log: bool, model_name: str,
                       version: str, when: pd.Timestamp, time_column: str | None,
                       times_us: np.ndarray | None, content_key: str | None
                       ) -> tuple[dict[str, Any], pa.Array | None, np.ndarray | None,
                                  str | None]:
    """What the Arrow lane logs beside the predictions: the entity id and feature columns in
    the log's types, the prediction ids, the rows' times and the batch id (None when an id
    repeats: an entity twice at one time)."""
    from closedloop.monitoring.store import hex_ids, prediction_digests
    from closedloop.scoring import _arrow as lane

    entity = lane.text(table.column(schema.entity_id))
    if not log:
        return {schema.entity_id: entity}, None, None, None
    n = table.num_rows
    times = times_us.astype("datetime64[us]") if time_column else np.full(
        n, when.to_datetime64(), dtype="datetime64[us]")
    digests = prediction_digests(entity, pd.Series(times.astype("datetime64[ns]")), model_name,
                                 version, content_key=None if time_column else content_key)
    order, distinct = digest_order(digests)
    batch_id = digests_digest(digests, order) if distinct else None
    return ({schema.entity_id: entity, **lane.feature_arrays(table, schema)}, hex_ids(digests),
            times, batch_id)


_SPARK_NAMES = ("score_spark", "validate_spark", "spark_for_scoring", "spark_to_pandas")


def __getattr__(name: str) -> Any:
    # The Spark half, re-exported lazily: importing this module must not import pyspark.
    if name in _SPARK_NAMES:
        return getattr(importlib.import_module("closedloop.scoring.spark"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
