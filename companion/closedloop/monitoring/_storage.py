"""Storage internals of the inference log: column names, Arrow types, atomic batch files, DuckDB.

Private: :mod:`closedloop.monitoring.store` is the interface. A batch is written to a hidden
temporary file in its table's folder, flushed to disk, then linked to its final name, which is
derived from its content: the name appears whole or not at all, and a retried batch finds its name
taken and writes nothing.

Leftovers: a writer killed between writing and committing leaves its hidden temporary file
behind. The next write to the folder reaps those older than :data:`STALE_AFTER` seconds
(:func:`reap_leftovers`); younger ones may belong to a live writer and are left alone (no reader
ever lists them). :func:`folder_lock` serialises a read-check-append (label backfills).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from closedloop.contract.schema import Schema
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.contract.validation import DataContractError, text_numbers_problem

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

PREDICTION_ID = "prediction_id"
TIMESTAMP = "timestamp"
MODEL_NAME = "model_name"
MODEL_VERSION = "model_version"
PREDICTION = "prediction"
PREDICTION_PROBA = "prediction_proba"
GROUND_TRUTH = "ground_truth"
LABEL_ARRIVED_AT = "label_arrived_at"
LOGGED_AT = "logged_at"
BATCH_ID = "batch_id"
BACKFILLED_AT = "backfilled_at"
EXPERIMENT = "experiment"
ARM = "arm"
#: Optional columns of a prediction batch: the A/B experiment and the arm that answered the
#: row (written only by experiments; a batch without them reads them as null).
EXPERIMENT_COLUMNS = (EXPERIMENT, ARM)

#: Age (seconds) after which a hidden temporary file is a killed writer's leftover.
STALE_AFTER = 300.0
FAULT_ENV, FAULT_DELAY_ENV = "CLOSEDLOOP_FAULT", "CLOSEDLOOP_FAULT_DELAY"


def fault(point: str) -> None:
    """:func:`closedloop.model.ledger.fault` at ``point`` (a kill test's hook), imported only
    when ``CLOSEDLOOP_FAULT`` or ``CLOSEDLOOP_FAULT_DELAY`` is set.

    The points of the log's writers: ``score:after_output`` (the output file is in place, the
    log batch not written), ``score:after_log_partial`` (the log batch is written under its
    temporary name, not committed), ``backfill:after_check`` (a backfill has checked its
    labels against the log and not yet appended them), ``backfill:after_label_partial`` and
    ``backfill:after_append`` (the labels are committed, the lock still held).
    """
    if os.environ.get(FAULT_ENV) or os.environ.get(FAULT_DELAY_ENV):
        from closedloop.model.ledger import fault as _fault

        _fault(point)


def reap_leftovers(folder: Path, pattern: str = ".*.tmp", *,
                   older_than: float = STALE_AFTER) -> int:
    """Remove the hidden temporary files (or folders) matching ``pattern`` in ``folder`` last
    modified more than ``older_than`` seconds ago; return how many were removed.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / ".batch.123.tmp").write_text("half a batch")
    >>> os.utime(folder / ".batch.123.tmp", (0, 0))  # written long ago by a killed writer
    >>> reap_leftovers(folder), sorted(folder.iterdir())
    (1, [])
    """
    try:
        found = list(folder.glob(pattern))
    except OSError:
        return 0
    removed, now_s = 0, time.time()
    for path in found:
        try:
            if now_s - path.lstat().st_mtime < older_than:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed += 1
        except OSError:  # another writer reaped it first, or it is not ours to remove
            continue
    return removed


@contextlib.contextmanager
def folder_lock(folder: Path, name: str = ".lock") -> Iterator[None]:
    """Hold an exclusive ``fcntl`` lock on ``folder/name`` (created if needed) for the block.

    The kernel drops the lock when its process dies, SIGKILL included, so a killed holder
    never blocks the next one. Where ``fcntl`` is missing (Windows) the block runs unlocked.
    """
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(folder / name, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


_DATABASE: dict[int, Any] = {}


def duckdb_connection() -> duckdb.DuckDBPyConnection:
    """A new connection to this process's in-memory DuckDB database (session time zone UTC).

    Opening a database costs tens of milliseconds, a cursor on an open one nothing; each caller
    gets its own cursor, whose temporary views and registered frames are its alone. Keyed by
    process id, so a forked child opens its own database.
    """
    import duckdb

    database = _DATABASE.get(os.getpid())
    if database is None:
        _DATABASE.clear()
        database = _DATABASE[os.getpid()] = duckdb.connect()
    cursor = database.cursor()
    cursor.execute("SET TimeZone = 'UTC'")
    return cursor


def log_view_sql(schema: Schema, *, labels_as_of: str | pd.Timestamp | None = None,
                 predictions: str = "predictions_raw", labels: str = "labels_raw",
                 optional: Iterable[str] = (), deduplicated: bool = False
                 ) -> dict[str, str]:
    """The SQL of the three log views, portable between DuckDB and Spark SQL.

    Reads the raw tables ``predictions`` and ``labels`` and returns ``{view name: SELECT}``
    for ``predictions`` (one row per prediction id, the first logged), ``ground_truth`` (the
    first-arrived label per prediction id, arrived by ``labels_as_of`` when given) and
    ``inference_log`` (the two joined), in the order they must be created. ``optional``
    columns of the raw predictions (``EXPERIMENT_COLUMNS``) are appended to
    ``inference_log``; the raw table must have them.

    With ``deduplicated`` the table ``predictions`` already holds one row per prediction id
    (DuckDB's :meth:`~closedloop.monitoring.store.InferenceLog.connect` removes the later
    copies first, see ``find_shadowed``) and the view selects it as it is; otherwise
    the view keeps the first-logged row per id with a ``row_number()`` window (Spark).
    """
    features = ", ".join(f"p.{quote(c, 'any')}" for c in schema.feature_names)
    extra = "".join(f", p.{quote(c, 'any')}" for c in optional)
    as_of = "" if labels_as_of is None else (
        f"WHERE {LABEL_ARRIVED_AT} <= TIMESTAMP '{pd.Timestamp(labels_as_of)}'")
    return {
        "predictions": (
            f"SELECT * FROM {predictions}" if deduplicated else
            f"SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY {PREDICTION_ID} "
            f"ORDER BY {LOGGED_AT}, {BATCH_ID}) AS _rank FROM {predictions}) AS ranked "
            "WHERE _rank = 1"),
        "ground_truth": (
            f"SELECT {PREDICTION_ID}, {GROUND_TRUTH}, {LABEL_ARRIVED_AT}, {BACKFILLED_AT} FROM "
            f"(SELECT *, row_number() OVER (PARTITION BY {PREDICTION_ID} ORDER BY "
            f"{LABEL_ARRIVED_AT}, {BACKFILLED_AT}, {BATCH_ID}) AS _rank FROM {labels} {as_of}) "
            "AS ranked WHERE _rank = 1"),
        "inference_log": (
            f"SELECT p.{PREDICTION_ID}, p.{quote(schema.entity_id, 'any')}, p.{TIMESTAMP}, "
            f"p.{MODEL_NAME}, p.{MODEL_VERSION}, {features}, p.{PREDICTION}, "
            f"p.{PREDICTION_PROBA}, l.{GROUND_TRUTH}, l.{LABEL_ARRIVED_AT}, p.{LOGGED_AT}, "
            f"p.{BATCH_ID}{extra} FROM predictions AS p LEFT JOIN ground_truth AS l "
            f"ON p.{PREDICTION_ID} = l.{PREDICTION_ID}"),
    }


def find_shadowed(files: list[Path]) -> pa.Table:
    """``batch_id`` and ``prediction_id`` of every row of ``files`` that the log hides.

    A row is hidden unless it is the first logged of its prediction id (``logged_at``, then
    ``batch_id``): the rule of the ``row_number()`` view of :func:`log_view_sql`. Removing these
    rows (an anti-join on batch and id) leaves exactly that view's rows, because a batch file
    holds each prediction id once, and one ``logged_at`` and ``batch_id`` for all its rows.

    Cost: the 64-bit hashes of the ids, file by file (read from :data:`ID_HASHES` where the
    writer kept them, else computed from the id column in numpy), 8 bytes a row, sorted to find
    the repeats: far less memory than a ``GROUP BY`` over the ids; only the rows whose hash
    repeats (the repeated ids, and any hash collision) are then compared by id.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    empty = pa.table({BATCH_ID: pa.array([], pa.string()),
                      PREDICTION_ID: pa.array([], pa.string())})
    sizes = [pq.ParquetFile(path).metadata.num_rows for path in files]

    def hashes(path: Path, rows: int) -> np.ndarray:
        kept = read_id_hashes(path, rows)
        if kept is not None:
            return kept
        # In batches, without pre-buffering: a few MB at a time.
        batches = pq.ParquetFile(path, pre_buffer=False).iter_batches(
            batch_size=65_536, columns=[PREDICTION_ID], use_threads=False)
        found = [_text_hashes(pa.chunked_array([b.column(0)])) for b in batches]
        return np.concatenate(found) if found else np.array([], np.uint64)

    every = np.empty(sum(sizes), np.uint64)   # 8 bytes a row, sorted in place
    for path, rows, at in zip(files, sizes, np.cumsum([0, *sizes[:-1]])):
        found = hashes(path, rows)
        every[at:at + found.size] = found
    every.sort()
    repeated = np.unique(every[1:][every[1:] == every[:-1]])
    del every
    if repeated.size == 0:
        return empty
    parts = []
    for path, size in zip(files, sizes):   # rare: hash again, keep the rows whose hash repeats
        rows = np.flatnonzero(np.isin(hashes(path, size), repeated))
        if rows.size:
            table = pq.read_table(path, columns=[PREDICTION_ID, LOGGED_AT, BATCH_ID])
            parts.append(table.take(pa.array(rows)).to_pandas())
    rows = pd.concat(parts, ignore_index=True).sort_values(
        [PREDICTION_ID, LOGGED_AT, BATCH_ID], kind="stable")
    later = rows[rows[PREDICTION_ID].duplicated(keep="first")]
    return pa.table({BATCH_ID: pa.array(later[BATCH_ID].to_numpy(dtype=object), pa.string()),
                     PREDICTION_ID: pc.cast(pa.array(later[PREDICTION_ID].to_numpy(
                         dtype=object)), pa.string())})


#: Sub-folder of a predictions folder holding each batch's prediction id hashes
#: (``<batch_id>.npy``, 8 bytes a row, in the batch's row order), written just after the batch:
#: :func:`find_shadowed` reads them instead of decoding every id again. The leading ``_`` keeps
#: Spark (which skips ``_`` and ``.`` names) and DuckDB's ``*.parquet`` glob away from it.
ID_HASHES = "_ids"


def id_hashes_path(batch: Path) -> Path:
    """Where the id hashes of the batch file ``batch`` are kept."""
    return batch.parent / ID_HASHES / f"{batch.stem}.npy"


def write_id_hashes(batch: Path, ids: Any) -> None:
    """Keep the hashes of the string column ``ids`` (the batch's ``prediction_id``, or its
    hashes already computed by :func:`id_hashes`) beside ``batch``, atomically (temporary
    file, then rename), unless already kept.

    An optimisation only: a batch without them (written by an older version, or a writer
    killed between the batch and its hashes) has them computed from its ids on every read.
    """
    final = id_hashes_path(batch)
    if final.exists():
        return
    final.parent.mkdir(exist_ok=True)
    reap_leftovers(final.parent)
    partial = final.parent / f".{final.stem}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    try:
        with open(partial, "wb") as out:
            np.save(out, ids if isinstance(ids, np.ndarray) else id_hashes(ids))
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)


def read_id_hashes(batch: Path, rows: int) -> np.ndarray | None:
    """The kept id hashes of ``batch`` (:func:`write_id_hashes`), or None when there are none
    or they do not have one hash per row of the batch (``rows``)."""
    try:
        found = np.load(id_hashes_path(batch), allow_pickle=False)
    except (OSError, ValueError):
        return None
    if found.dtype != np.uint64 or found.shape != (rows,):
        return None
    return found


def id_hashes(ids: Any) -> np.ndarray:
    """The 64-bit hash of every prediction id of the string column ``ids``, as
    :func:`find_shadowed` computes them."""
    return _text_hashes(ids)


_MIX = np.uint64(0x100000001B3)


def _text_hashes(column: Any) -> np.ndarray:
    """A 64-bit hash of every value of a string column (nulls hash alike), without Python
    strings when a chunk's values share one length (the log's ids: 32 hex digits)."""
    import pyarrow as pa

    out = []
    for chunk in column.chunks:
        chunk = chunk.cast(pa.large_string()) if chunk.type != pa.large_string() else chunk
        n = len(chunk)
        offsets = np.frombuffer(chunk.buffers()[1], np.int64)[chunk.offset:chunk.offset + n + 1]
        lengths = np.diff(offsets)
        if n and chunk.null_count == 0 and lengths.min() == lengths.max():
            size = int(lengths[0])
            data = np.frombuffer(chunk.buffers()[2], np.uint8)[offsets[0]:offsets[-1]]
            padded = np.zeros((n, -(-size // 8) * 8), np.uint8)
            padded[:, :size] = data.reshape(n, size)
            words = padded.view(np.uint64)
            h = np.full(n, np.uint64(size) ^ np.uint64(0xCBF29CE484222325))
            for j in range(words.shape[1]):
                h = (h ^ words[:, j]) * _MIX
            h ^= h >> np.uint64(29)
            out.append(h * np.uint64(0xBF58476D1CE4E5B9))
        else:
            out.append(np.array([hash(v) for v in chunk.to_pylist()], np.int64).view(np.uint64))
    return np.concatenate(out) if out else np.array([], np.uint64)


def restore_log_dtypes(frame: pd.DataFrame, schema: Schema = TELCO_SCHEMA) -> pd.DataFrame:
    """Give a log frame read by any engine the log's pandas dtypes (see :meth:`~closedloop.monitoring.store.InferenceLog.read`).

    Integer features keep ``int64`` unless they hold nulls (a data-quality incident), then
    ``Int64``; categories and ids are ``object`` with None for missing values.
    """
    out = frame.copy()
    for name in out.columns:
        values = out[name]
        kind = schema[name].kind if name in schema.names else _LOG_KINDS.get(name)
        if kind == "integer" or name == PREDICTION:
            out[name] = values.astype("Int64" if values.isna().any() else "int64")
        elif kind == "float" or name == PREDICTION_PROBA:
            out[name] = pd.to_numeric(values).astype("float64")
        elif kind == "timestamp":
            out[name] = pd.to_datetime(values).astype("datetime64[ns]")
        elif kind == "label":
            out[name] = values.astype("Int64")
        elif kind in ("category", "id"):
            out[name] = values.astype("object").where(values.notna(), None)
    return out


_LOG_KINDS = {PREDICTION_ID: "id", TIMESTAMP: "timestamp", MODEL_NAME: "id",
              MODEL_VERSION: "id", GROUND_TRUTH: "label", LABEL_ARRIVED_AT: "timestamp",
              LOGGED_AT: "timestamp", BATCH_ID: "id", BACKFILLED_AT: "timestamp",
              EXPERIMENT: "id", ARM: "id"}


def repeated_keys(entity: pd.Series, when: pd.Series, time_name: str, *,
                  shown: int = 3) -> tuple[str, str] | None:
    """The problem ``("prediction_id", message)`` when an (entity, time) pair repeats, else None.

    One model scoring one entity at one instant makes one prediction id, so a batch where the
    pair repeats cannot be logged. The message names the columns, counts the repeated rows and
    shows the first ``shown`` of them (0-based row positions in the batch).

    Examples
    --------
    >>> when = pd.Series(pd.to_datetime(["2026-01-01"] * 3))
    >>> column, message = repeated_keys(pd.Series(["a", "b", "a"], name="id"), when, "event_time")
    >>> column, message.split("prediction_id): ")[1]
    ('prediction_id', 'row 2 (id=a, event_time=2026-01-01 00:00:00) repeats row 0')
    """
    keys = pd.DataFrame({"entity": entity.astype(str).to_numpy(),
                         "when": pd.to_datetime(pd.Series(when.to_numpy())).to_numpy()})
    repeats = keys.duplicated()
    if not repeats.any():
        return None
    first = keys.groupby(["entity", "when"], sort=False).cumcount() == 0
    first_row = keys[first].reset_index().set_index(["entity", "when"])["index"]
    examples = []
    for row in keys.index[repeats][:shown]:
        e, t = keys.at[row, "entity"], pd.Timestamp(keys.at[row, "when"])
        examples.append(f"row {row} ({entity.name}={e}, {time_name}={t}) repeats row "
                        f"{first_row[(e, t.to_datetime64())]}")
    return (PREDICTION_ID, f"repeated within the batch: {int(repeats.sum())} row(s) repeat an "
            f"({entity.name}, {time_name}) pair (one model scoring one entity at one time makes "
            f"one prediction_id): {'; '.join(examples)}")


def now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC").tz_localize(None)


def naive_utc(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return pd.to_datetime(values).astype("datetime64[ns]")


def digest(values: Iterable[Any], *, chunk: int = 100_000) -> str:
    """32 hex digits of BLAKE2b over the values as text, each followed by a unit separator.

    Hashes ``chunk`` values per update: the digest equals one update per value, without a
    Python call per value.
    """
    digest = hashlib.blake2b(digest_size=16)
    values = iter(values)
    while True:
        part = "".join(f"{value}\x1f" for value in itertools.islice(values, chunk))
        if not part:
            return digest.hexdigest()
        digest.update(part.encode())


def quote(name: str, dialect: str = "duckdb") -> str:
    # Plain identifiers need no quoting in either engine; others are quoted per engine, and
    # "any" (shared SQL) accepts only plain names so the text runs unchanged in both.
    if name.isidentifier():
        return name
    if dialect == "any":
        raise ValueError(f"column name {name!r} must be a plain identifier for portable SQL")
    return f'"{name}"' if dialect == "duckdb" else f"`{name}`"


def _arrow_types() -> dict[str, Any]:
    import pyarrow as pa

    return {"id": pa.string, "category": pa.string, "integer": pa.int64, "float": pa.float64,
            "timestamp": lambda: pa.timestamp("us")}


class _ArrowKind(dict):
    """Contract kind -> pyarrow type factory, resolved on first use (pyarrow loads lazily)."""

    def __missing__(self, kind: str) -> Any:
        self.update(_arrow_types())
        return self[kind]


_ARROW_KIND = _ArrowKind()
DUCKDB_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "double": "DOUBLE",
                "timestamp[us]": "TIMESTAMP"}


def labels_arrow_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema([(PREDICTION_ID, pa.string()), (GROUND_TRUTH, pa.int64()),
                      (LABEL_ARRIVED_AT, pa.timestamp("us")), (BACKFILLED_AT, pa.timestamp("us")),
                      (BATCH_ID, pa.string())])


def predictions_arrow_schema(schema: Schema, *, experiment: bool = False) -> pa.Schema:
    """The fixed Arrow schema of a prediction batch file for the contract ``schema`` (with
    ``experiment``, followed by the optional :data:`EXPERIMENT_COLUMNS`, as strings)."""
    import pyarrow as pa

    clash = sorted(set(EXPERIMENT_COLUMNS) & set(schema.names)) if experiment else []
    if clash:
        raise ValueError(f"the contract {schema.name!r} has column(s) {clash}, which the log "
                         "reserves for the experiment and its arm: rename them to log arms")
    optional = [(name, pa.string()) for name in EXPERIMENT_COLUMNS] if experiment else []
    return pa.schema([
        (PREDICTION_ID, pa.string()), (schema.entity_id, pa.string()),
        (TIMESTAMP, pa.timestamp("us")), (MODEL_NAME, pa.string()),
        (MODEL_VERSION, pa.string()),
        *[(c.name, _ARROW_KIND[c.kind]()) for c in schema.features],
        (PREDICTION, pa.int64()), (PREDICTION_PROBA, pa.float64()),
        (BATCH_ID, pa.string()), (LOGGED_AT, pa.timestamp("us")), *optional,
    ])


def to_arrow(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """Cast to the table's fixed schema, so every batch file has the same column types.

    Numbers that arrive as text (``"12"`` in an integer column) are refused, not parsed (see
    :func:`~closedloop.contract.validation.text_numbers_problem`); they, and any value that cannot
    take its column's type, raise :class:`~closedloop.contract.validation.DataContractError`
    naming the column.
    """
    import pyarrow as pa

    arrays, problems = [], []
    for field in schema:
        values = frame[field.name]
        try:
            if pa.types.is_integer(field.type) or pa.types.is_floating(field.type):
                text = text_numbers_problem(values, "integer" if pa.types.is_integer(
                    field.type) else "float")
                if text:
                    problems.append((field.name, text))
                    continue
                values = pd.to_numeric(values, errors="raise")
            elif pa.types.is_timestamp(field.type):
                values = pd.to_datetime(values)
            elif pa.types.is_string(field.type) and not _all_text(values):
                # Only a column holding non-text values (numbers as ids, say) pays for a Python
                # call per value; text and nulls go to Arrow as they are.
                values = values.astype("object").where(values.notna(), None).map(
                    lambda v: v if v is None else str(v))
            arrays.append(pa.array(values, type=field.type, from_pandas=True))
        except (ValueError, TypeError, pa.ArrowException) as err:
            problems.append((field.name, f"cannot be stored as {field.type}: {err}"))
    if problems:
        raise DataContractError(problems, "inference_log")
    return pa.Table.from_arrays(arrays, schema=schema)


def _all_text(values: pd.Series) -> bool:
    """Whether every non-null value is a ``str`` (one pass in C, no Python call per value)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return False  # rare here: the slow path handles it
    return pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")


def write_batch(folder: Path, batch_id: str, table: pa.Table, *,
                point: str = "score:after_log_partial",
                before_commit: Callable[[], object] | None = None) -> tuple[Path, bool]:
    """Write ``table`` as ``folder/<batch_id>.parquet`` atomically, unless it already exists.

    ``point`` names the :func:`fault` point between writing and committing.
    ``before_commit`` is called once the batch is written, before it is committed (a scorer
    waits there for its output file, written meanwhile, to be in place); if it raises, the
    batch is not committed.

    The temporary name starts with a dot and does not end in ``.parquet``, so neither DuckDB's
    glob nor Spark (which skips hidden files) ever reads a file being written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    final, partial = batch_paths(folder, batch_id)
    if partial is None:
        return final, False
    try:
        # Dictionary-encoded text is stored as text: without the Arrow schema in the file,
        # which would make every reader decode it as a dictionary.
        pq.write_table(table, partial, store_schema=not any(
            pa.types.is_dictionary(f.type) for f in table.schema))
        if before_commit is not None:
            before_commit()
        fault(point)
        return final, commit_batch(partial, final)
    finally:
        partial.unlink(missing_ok=True)


def batch_paths(folder: Path, batch_id: str) -> tuple[Path, Path | None]:
    """The final path of batch ``batch_id`` and a fresh hidden temporary path to write it to.

    The temporary path is None when the batch is already committed (a retry: write nothing).
    Leftovers of killed writers in ``folder`` are reaped first (:func:`reap_leftovers`).
    The caller writes the temporary file, calls :func:`commit_batch`, and unlinks the temporary
    path in a ``finally`` (it is gone after a commit; left over after a failure).
    """
    folder.mkdir(parents=True, exist_ok=True)
    reap_leftovers(folder)
    final = folder / f"{batch_id}.parquet"
    if final.exists():
        return final, None
    return final, folder / f".{batch_id}.{os.getpid()}.{uuid.uuid4().hex}.tmp"


def commit_batch(partial: Path, final: Path) -> bool:
    """Flush the written ``partial`` to disk and give it its ``final`` name, unless taken.

    Returns whether this call committed the batch (False: another writer already had).
    """
    fd = os.open(partial, os.O_RDONLY)
    try:
        os.fsync(fd)  # the content is on disk before the name that publishes it
    finally:
        os.close(fd)
    return _commit(partial, final, final.parent)


def _commit(partial: Path, final: Path, folder: Path) -> bool:
    try:
        os.link(partial, final)  # atomic and fails if the name exists: a batch is written once
    except FileExistsError:
        return False
    except OSError:  # no hard links on this file system: rename (same content, same name)
        if final.exists():
            return False
        os.replace(partial, final)
    _fsync_dir(folder)
    return True


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
