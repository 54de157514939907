"""What both scoring engines share: output columns, risk tiers, the model to score with.

Private to :mod:`closedloop.scoring`: the pandas half (:mod:`~closedloop.scoring.batch`) and the
Spark half (:mod:`~closedloop.scoring.spark`) both import from here and never from each other.
"""

from __future__ import annotations

import glob
import hashlib
import os
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from closedloop.config import Workspace
from closedloop.contract.schema import Schema
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.contract.validation import DataContractError

if TYPE_CHECKING:
    import pyarrow as pa



DEFAULT_MODEL_NAME = "closedloop-churn"  # same as closedloop.model.registry (not imported: MLflow)


PREDICTION, PREDICTION_PROBA = "prediction", "prediction_proba"


RISK_TIER, MODEL_NAME, MODEL_VERSION, SCORED_AT = (
    "risk_tier", "model_name", "model_version", "scored_at")




#: The column the event time is read from by default, when the contract declares none.
EVENT_TIME = "event_time"


def output_columns(schema: Schema = TELCO_SCHEMA, extra: Sequence[str] = ()) -> list[str]:
    """Columns of a scored batch, in order: the fixed ones, then ``extra`` (the event time and
    the carried columns, see :func:`event_time_column` and :func:`carried_columns`)."""
    return [schema.entity_id, PREDICTION, PREDICTION_PROBA, RISK_TIER, MODEL_NAME,
            MODEL_VERSION, SCORED_AT, *[c for c in extra if c != schema.entity_id]]


def output_arrow_schema(schema: Schema = TELCO_SCHEMA, extra: Iterable[pa.Field] = ()
                        ) -> pa.Schema:
    """Arrow schema of the output file of :func:`~closedloop.scoring.batch.score_file` (either engine).

    ``scored_at`` is stored in microseconds, which Spark reads (pandas' default nanoseconds it
    does not). ``extra`` fields (the event time, carried columns) follow, their types made
    engine-independent by :func:`portable_type`.
    """
    import pyarrow as pa

    return pa.schema([(schema.entity_id, pa.string()), (PREDICTION, pa.int64()),
                      (PREDICTION_PROBA, pa.float64()), (RISK_TIER, pa.string()),
                      (MODEL_NAME, pa.string()), (MODEL_VERSION, pa.string()),
                      (SCORED_AT, pa.timestamp("us")),
                      *[pa.field(f.name, portable_type(f.type)) for f in extra
                        if f.name != schema.entity_id]])


def portable_type(arrow_type: pa.DataType) -> pa.DataType:
    """The type an extra output column is stored with, whichever engine wrote it: integers
    int64, floats float64, text string, times naive microseconds; others as they are."""
    import pyarrow as pa

    if pa.types.is_integer(arrow_type):
        return pa.int64()
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return pa.float64()
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return pa.string()
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return pa.timestamp("us")
    return arrow_type


def event_time_column(columns: Iterable[str], schema: Schema,
                      event_time: str | None = None) -> str | None:
    """The input column holding each row's event time, or None (rows are logged at the
    scoring time).

    ``event_time`` names it (it must be present); by default the contract's
    ``Schema.timestamp`` when the input has it, else a column named ``event_time`` (what
    ``closedloop simulate`` writes) when the contract does not declare one by that name.

    Examples
    --------
    >>> event_time_column(["customerID", "event_time"], TELCO_SCHEMA)
    'event_time'
    >>> event_time_column(["customerID"], TELCO_SCHEMA) is None
    True
    """
    columns = list(columns)
    if event_time:
        if event_time not in columns:
            raise DataContractError([(event_time, "missing (named as the event-time column)")],
                                    schema.name)
        return event_time
    if schema.timestamp is not None and schema.timestamp in columns:
        return schema.timestamp
    if EVENT_TIME in columns and EVENT_TIME not in schema.names:
        return EVENT_TIME
    return None


def carried_columns(columns: Iterable[str], schema: Schema, carry: Iterable[str] = (),
                    event_time: str | None = None) -> tuple[str, ...]:
    """The input columns kept in the scored output beyond the fixed ones, in order: the event
    time, ``carry`` (each must be present) and the contract's ``passthrough`` columns that the
    input has (a contract without that attribute has none).

    Examples
    --------
    >>> carried_columns(["customerID", "event_time", "region"], TELCO_SCHEMA, ["region"],
    ...                 event_time="event_time")
    ('event_time', 'region')
    """
    columns = list(columns)
    carry = tuple(carry)
    missing = [c for c in carry if c not in columns]
    if missing:
        raise DataContractError([(c, "missing (named by --carry)") for c in missing],
                                schema.name)
    passthrough = [c for c in getattr(schema, "passthrough", ()) or () if c in columns]
    wanted = [*([event_time] if event_time else []), *carry, *passthrough]
    return tuple(dict.fromkeys(c for c in wanted if c != schema.entity_id))


def _closedloop_model(model: Any) -> Any:
    """The object holding ``pipeline`` and ``threshold`` behind a registry pyfunc or a
    :class:`~closedloop.model.baselines.PipelineModel`; None for any other model."""
    unwrap = getattr(model, "unwrap_python_model", None)
    try:
        inner = unwrap() if unwrap else model
    except Exception:  # not a python-function model: only its predict() is known
        return None
    return inner if hasattr(inner, "pipeline") and hasattr(inner, "threshold") else None


#: How a batch is scored: ``auto`` (the compiled path when the model compiles), ``compiled``
#: (refused for a model that does not), ``native`` (compiled, with the trees compiled to
#: machine code: the ``native`` extra) or ``pipeline`` (the scikit-learn pipeline, to compare).
SCORING_METHODS = ("auto", "compiled", "native", "pipeline")


def check_method(method: str) -> str:
    """``method`` if it is one of :data:`SCORING_METHODS`; else a ``ValueError``."""
    if method not in SCORING_METHODS:
        raise ValueError(f"method must be one of {list(SCORING_METHODS)} (got {method!r})")
    return method


def compile_fitted(fitted: Any, method: str = "auto") -> Any:
    """The :class:`~closedloop.model.compiled.CompiledPredictor` of ``fitted`` (what
    :func:`_closedloop_model` returns), or None for the scikit-learn pipeline path.

    ``method="pipeline"`` always gives None; ``"auto"`` gives None for a model whose pipeline
    cannot be compiled (another feature step, another classifier); ``"compiled"`` and
    ``"native"`` raise a ``ValueError`` for it; ``"native"`` predicts through
    :meth:`~closedloop.model.compiled.CompiledPredictor.use_native` (``ImportError`` without
    the ``native`` extra). The contract is the feature step's own (the one the pipeline
    applies), so both paths build the same matrix.
    """
    if check_method(method) == "pipeline" or fitted is None:
        if method in ("compiled", "native"):
            raise ValueError(f"method={method!r} needs a model holding a fitted pipeline")
        return None
    from closedloop.model.compiled import CompiledPredictor

    try:
        builder = fitted.pipeline.named_steps["features"]
        compiled = CompiledPredictor(fitted.pipeline, fitted.threshold, builder.schema)
    except (AttributeError, KeyError, TypeError, ValueError) as err:
        if method in ("compiled", "native"):
            raise ValueError(f"the model cannot be compiled: {err}") from err
        return None
    return compiled.use_native() if method == "native" else compiled


def model_threads(fitted: Any) -> int:
    """The thread count the pipeline's LightGBM step predicts with (its ``n_jobs``), as
    ``Booster.predict``'s ``num_threads`` (0: every core), so both paths use the same."""
    try:
        n_jobs = fitted.pipeline.named_steps["model"].get_params().get("n_jobs")
    except (AttributeError, KeyError):
        return 0
    return int(n_jobs) if n_jobs is not None and n_jobs > 0 else 0


def predict_fitted(fitted: Any, compiled: Any, frame: pd.DataFrame,
                   features: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(prediction, prediction_proba)`` of a batch that already passed the contract check
    (it is not checked again): through ``compiled`` when given, else the fitted pipeline.
    The two are equal bit for bit."""
    if compiled is not None:
        proba = compiled.predict_proba(frame, check=False, num_threads=model_threads(fitted))
    else:
        proba = fitted.pipeline.predict_proba(frame[list(features)])[:, 1]
    proba = np.asarray(proba, dtype=np.float64)
    return (proba >= fitted.threshold).astype(np.int64), proba


def _scored_at(scored_at: str | pd.Timestamp | None) -> pd.Timestamp:
    when = pd.Timestamp.now(tz="UTC") if scored_at is None else pd.Timestamp(scored_at)
    when = when.tz_convert("UTC").tz_localize(None) if when.tzinfo else when
    return when.floor("us")  # what Parquet files, Spark and the log store: microseconds


def resolve_model(workspace: Workspace, alias: str = "champion", *,
                  model_name: str = DEFAULT_MODEL_NAME) -> tuple[str, str]:
    """The ``models:/`` URI and version number behind ``alias`` (or a version number)."""
    model_name = workspace.model_name(model_name)  # catalog.schema.name in Unity Catalog
    client = workspace.client()
    version = str(alias) if str(alias).isdigit() else str(
        client.get_model_version_by_alias(model_name, alias).version)
    return f"models:/{model_name}/{version}", version


# ------------------------------------------------------------------- files: input and output


class InputFileError(ValueError):
    """An input file that cannot be read (corrupt, truncated, not what its suffix says)."""


class OutputError(ValueError):
    """An output path that cannot be written: a folder, or an existing file not to replace."""


#: Key of the output file's Parquet metadata naming the log batch written with it.
OUTPUT_BATCH_KEY = b"closedloop.log_batch"


def content_digest(path: str | os.PathLike[str]) -> str:
    """32 hex digits of BLAKE2b over the bytes of a file (or of a folder's visible files, by
    name): the identity of a scored input without an event time (see
    :func:`closedloop.monitoring.store.prediction_ids`)."""
    path = Path(path)
    files = [path] if not path.is_dir() else sorted(
        p for p in path.rglob("*") if p.is_file()
        and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts))
    digest = hashlib.blake2b(digest_size=16)
    for file in files:
        if file is not path:
            digest.update(f"{file.relative_to(path)}\x1f".encode())
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def text_digest(values: Iterable[str]) -> str:
    """:func:`closedloop.monitoring.store.digest` of the sorted ``values`` (text, such as
    prediction ids): the log's batch id, in one join and one hash instead of a Python
    format per value.

    Examples
    --------
    >>> from closedloop.monitoring.store import digest
    >>> text_digest(["b", "a"]) == digest(["a", "b"])
    True
    """
    ordered = sorted(values)  # code point order, as numpy's sort of the same text
    payload = "\x1f".join(ordered) + "\x1f" if ordered else ""
    return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()


def digest_order(digests: np.ndarray) -> tuple[np.ndarray, bool]:
    """The order that sorts ``digests`` (an ``(n, 16)`` ``uint8`` array of prediction-id
    bytes, see :func:`closedloop.monitoring.store.prediction_digests`) as their hex text
    sorts, and whether they are all distinct (no id repeats).

    Examples
    --------
    >>> order, distinct = digest_order(np.array([[9] * 16, [1] * 16, [9] * 16], np.uint8))
    >>> order.tolist()[0], distinct
    (1, False)
    """
    words = digests.view(">u8").astype(np.uint64)  # native words: numpy sorts them fast
    order = np.argsort(words[:, 0])
    first = words[order, 0]
    if not (first[1:] == first[:-1]).any():  # the first 8 bytes already tell them apart
        return order, True
    order = np.lexsort((words[:, 1], words[:, 0]))
    ordered = words[order]
    return order, not (ordered[1:] == ordered[:-1]).all(axis=1).any()


def digests_digest(digests: np.ndarray, order: np.ndarray | None = None) -> str:
    """:func:`text_digest` of the prediction ids whose bytes are ``digests`` (see
    :func:`digest_order`, which gives ``order`` when it is not passed), without spelling them
    as Python strings: hex text sorts as its bytes do.

    Examples
    --------
    >>> from closedloop.monitoring.store import hex_ids
    >>> digests = np.array([[9] * 16, [1] * 16], dtype=np.uint8)
    >>> digests_digest(digests) == text_digest(hex_ids(digests).to_pylist())
    True
    """
    from closedloop.monitoring.store import hex_ids

    if not len(digests):
        return text_digest([])
    ordered = digests[digest_order(digests)[0] if order is None else order]
    text = np.frombuffer(hex_ids(ordered).buffers()[2], np.uint8)[:32 * len(ordered)]
    return hex_rows_digest(text.reshape(-1, 32))


def hex_rows_digest(text: np.ndarray) -> str:
    """:func:`text_digest` of prediction ids already sorted, given as an ``(n, 32)`` ``uint8``
    array of their hex digits (one id a row)."""
    if not len(text):
        return text_digest([])
    rows = np.empty((len(text), 33), np.uint8)
    rows[:, :32] = text
    rows[:, 32] = 0x1F
    return hashlib.blake2b(memoryview(rows), digest_size=16).hexdigest()


def _output_batch(path: Path) -> str | None:
    """The log batch id recorded in an existing output file, or None."""
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(path).metadata or {}
    except Exception:  # not a Parquet file we wrote: no batch recorded
        return None
    value = metadata.get(OUTPUT_BATCH_KEY)
    return value.decode() if value else None


def check_output(path: str | os.PathLike[str], overwrite: bool = False, *,
                 batch_id: str | None = None, early: bool = False) -> None:
    """Refuse an output path that is a folder, or an existing file unless ``overwrite``.

    An existing output file written with the same log batch (``batch_id``, recorded in its
    Parquet metadata) is a retry of this very batch and may be replaced. ``early`` is the check
    made before scoring, when the batch id is not known yet: an existing file that records
    some batch passes it, and is checked again once the batch id is known.

    Raises
    ------
    OutputError
        Naming the path.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; the output must name the Parquet file to write")
    if overwrite or not path.exists():
        return
    written = _output_batch(path)
    if written is not None and (early or written == batch_id):
        return
    raise OutputError(f"{path}: exists; pass overwrite=True (closedloop score --overwrite) to "
                      "replace it")


def reap_output_leftovers(path: str | os.PathLike[str]) -> int:
    """Remove stale hidden temporary files and folders of ``path`` left by killed writers."""
    from closedloop.monitoring.store import reap_leftovers

    path = Path(path)
    return reap_leftovers(path.parent, f".{glob.escape(path.name)}.*") if path.parent.is_dir() \
        else 0


def output_partial(path: Path, suffix: str = "tmp") -> Path:
    """A fresh hidden temporary name beside the output ``path``."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.{suffix}")


def publish_output(partial: Path, path: Path) -> None:
    """Flush the written ``partial`` and rename it to ``path`` (atomic), then fire the
    ``score:after_output`` fault point."""
    from closedloop.monitoring.store import fault, fsync_dir

    fd = os.open(partial, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(partial, path)
    fsync_dir(path.parent)
    fault("score:after_output")
