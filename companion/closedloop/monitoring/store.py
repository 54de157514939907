"""The inference log: every scored row, its model, and the ground truth once it arrives.

Storage design
--------------
DuckDB lets one process at a time hold a database file open for writing, and the log has several
writers (the REST service, batch jobs, backfills). So the log is not a DuckDB file: it is two
folders of append-only Parquet files under the workspace, which DuckDB queries in place (and
Spark, or Databricks, reads as they are):

- ``tables/inference_log/``: one file per appended batch of predictions;
- ``tables/ground_truth/``: one file per backfill of labels (see
  :mod:`closedloop.monitoring.ground_truth`).

A batch is written to a hidden temporary file in the same folder, flushed to disk, then given its
final name with one atomic link (``os.link``; ``os.replace`` where links are not supported): a
reader lists either the whole file or nothing, never half a batch. Files are never modified or
deleted, so two processes writing at once cannot lose each other's rows.

A row is never duplicated. The prediction id is deterministic (a 128-bit BLAKE2b hash of model name,
model version, entity id and prediction timestamp, or, given a ``content_key``, of model name, model
version, entity id and that key instead of the time: batch scoring without an event time passes a
digest of its input, so a retry at another time is the same batch; unless the caller supplies its
own ``prediction_id`` column, e.g. a REST request id), and a batch file is named after a hash of its
prediction ids: re-appending the same batch (a retried job) finds the file already there and writes
nothing. A batch that only partly overlaps the log is written, and every read keeps the first-logged
row per prediction id (by ``logged_at``, then ``batch_id``), so an overlap never shows up twice in
a query either. The later copies are found once per set of batch files
(:meth:`InferenceLog.shadowed_rows`: one read of the ids, hashed to 64 bits) and anti-joined
away; a log without repeated ids is read as its files are, with no ``row_number()`` window over
every column (Spark, see :mod:`closedloop.monitoring.spark`, still uses that window). The same holds for labels: the first-arrived label per
prediction id wins, and a backfill never writes a label that contradicts a stored one.

Experiments: a batch scored by an A/B experiment carries two optional columns,
``experiment`` (its name) and ``arm`` (the arm that answered the row; both null for a row
outside the experiment). Batches without them (every other writer, and logs written before
them) read them as null; :meth:`InferenceLog.read` returns them when asked by name
(:attr:`InferenceLog.optional_columns`), and the ``inference_log`` view of
:meth:`InferenceLog.connect` has them, so windowed queries can group by arm.

Types: a number that arrives as text in a numeric column is refused by :meth:`InferenceLog.append`
(a :class:`~closedloop.contract.validation.DataContractError` naming the column), never parsed: the
same rule as both scoring engines, so the log never hides an upstream type change.

See Also
--------
Chapter :doc:`Ground truth and production accuracy </book/05_ground_truth>`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from closedloop.config import Workspace
from closedloop.contract.schema import Schema
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.contract.validation import DataContractError

# The log's file layout, public here for the writers outside this stage (scoring, serving).
from closedloop.monitoring._storage import (  # noqa: F401
    ARM,
    BACKFILLED_AT,
    BATCH_ID,
    DUCKDB_TYPES,
    EXPERIMENT,
    EXPERIMENT_COLUMNS,
    GROUND_TRUTH,
    LABEL_ARRIVED_AT,
    LOGGED_AT,
    MODEL_NAME,
    MODEL_VERSION,
    PREDICTION,
    PREDICTION_ID,
    PREDICTION_PROBA,
    TIMESTAMP,
    batch_paths,
    commit_batch,
    digest,
    duckdb_connection,
    find_shadowed,
    fault,
    id_hashes,
    labels_arrow_schema,
    log_view_sql,
    naive_utc,
    now,
    predictions_arrow_schema,
    quote,
    reap_leftovers,
    repeated_keys,
    restore_log_dtypes,
    to_arrow,
    write_batch,
    write_id_hashes,
)
from closedloop.monitoring._storage import _fsync_dir as fsync_dir  # noqa: F401

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

__all__ = [
    "ARM", "AppendResult", "BACKFILLED_AT", "BATCH_ID", "EXPERIMENT", "EXPERIMENT_COLUMNS",
    "GROUND_TRUTH", "InferenceLog", "LABELS_TABLE",
    "LABEL_ARRIVED_AT", "LOGGED_AT", "MODEL_NAME", "MODEL_VERSION", "PREDICTION",
    "PREDICTIONS_TABLE", "PREDICTION_ID", "PREDICTION_PROBA", "TIMESTAMP", "duckdb_connection",
    "hex_digests", "hex_ids", "log_predictions", "log_view_sql", "prediction_digests",
    "prediction_ids", "read_log", "restore_log_dtypes",
]

#: Folder (under the workspace's ``tables/``) of the prediction batches.
PREDICTIONS_TABLE = "inference_log"
#: Folder (under the workspace's ``tables/``) of the label batches.
LABELS_TABLE = "ground_truth"


@dataclass(frozen=True)
class AppendResult:
    """What one :meth:`InferenceLog.append` did.

    ``written`` is False when a batch with the same prediction ids was already in the log (a
    retried job): nothing was written and ``path`` is the existing file.
    """

    batch_id: str
    rows: int
    written: bool
    path: str

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


class InferenceLog:
    """The inference log of one workspace (predictions joined with their ground truth).

    Parameters
    ----------
    workspace : Workspace or os.PathLike
        The workspace (or its folder) whose ``tables/`` hold the log.
    schema : Schema
        The data contract of the scored table: it names the entity id and the feature columns
        stored with each prediction, and their types.

    Examples
    --------
    A toy contract with one feature keeps the example short:

    >>> import tempfile
    >>> from closedloop.contract.schema import Column, Schema
    >>> toy = Schema("toy", (Column("id", "id"), Column("tenure", "integer"),
    ...                      Column("left", "category", ("no", "yes"))),
    ...              target="left", positive="yes", entity_id="id")
    >>> log = InferenceLog(tempfile.mkdtemp(), toy)
    >>> frame = pd.DataFrame({"id": ["a", "b"], "tenure": [3, 40],
    ...                       "prediction": [1, 0], "prediction_proba": [0.8, 0.1]})
    >>> log.append(frame, model_name="m", model_version="1",
    ...            timestamp=pd.Timestamp("2026-01-01 09:00")).rows
    2
    >>> log.read()[["id", "tenure", "prediction", "ground_truth"]]
      id  tenure  prediction  ground_truth
    0  a       3           1          <NA>
    1  b      40           0          <NA>
    >>> log.append(frame, model_name="m", model_version="1",
    ...            timestamp=pd.Timestamp("2026-01-01 09:00")).written  # same batch again
    False
    >>> len(log)
    2
    """

    #: Whether the log is a folder of Parquet batch files that monitoring can scan column by
    #: column (:mod:`closedloop.monitoring.aggregates`); a table log reads as a frame instead.
    scans_files: bool = True

    def __new__(cls, workspace: Workspace | str | os.PathLike[str] | None = None,
                *args: Any, **kwargs: Any) -> InferenceLog:
        # The target hook: a workspace whose target keeps the log in tables (Delta tables
        # through Spark on Databricks: closedloop.platform.delta_log) opens that log instead.
        log_class = getattr(getattr(workspace, "target", None), "log_class", None)
        chosen = log_class() if cls is InferenceLog and log_class is not None else None
        return super().__new__(chosen or cls)

    def __init__(self, workspace: Workspace | str | os.PathLike[str],
                 schema: Schema = TELCO_SCHEMA) -> None:
        self.workspace = workspace if isinstance(workspace, Workspace) else Workspace(
            Path(workspace))
        self.schema = schema

    def __repr__(self) -> str:
        return f"InferenceLog({str(self.workspace.root)!r}, schema={self.schema.name!r})"

    @property
    def predictions_dir(self) -> Path:
        """Folder of the prediction batch files."""
        return self.workspace.tables_dir / PREDICTIONS_TABLE

    @property
    def labels_dir(self) -> Path:
        """Folder of the label batch files."""
        return self.workspace.tables_dir / LABELS_TABLE

    @property
    def feature_columns(self) -> list[str]:
        """The schema's feature columns, stored with every prediction."""
        return self.schema.feature_names

    @property
    def columns(self) -> list[str]:
        """Columns of the log as read, in order."""
        return [PREDICTION_ID, self.schema.entity_id, TIMESTAMP, MODEL_NAME, MODEL_VERSION,
                *self.feature_columns, PREDICTION, PREDICTION_PROBA, GROUND_TRUTH,
                LABEL_ARRIVED_AT, LOGGED_AT, BATCH_ID]

    @property
    def optional_columns(self) -> list[str]:
        """Columns :meth:`read` returns only when asked: the experiment and the arm of each
        row (null outside an experiment, and in batches logged without them). None when the
        contract has columns of those names (its log cannot record arms)."""
        clash = set(EXPERIMENT_COLUMNS) & set(self.schema.names)
        return [] if clash else list(EXPERIMENT_COLUMNS)

    # ------------------------------------------------------------------------------- writing

    def append(self, frame: pd.DataFrame, *, model_name: str, model_version: str | int,
               timestamp: str | pd.Timestamp | None = None,
               scored: pd.DataFrame | None = None,
               content_key: str | None = None, experiment: str | None = None,
               arms: Sequence[str | None] | np.ndarray | None = None) -> AppendResult:
        """Append one batch of predictions atomically.

        Parameters
        ----------
        frame : DataFrame
            One row per scored entity: the entity id and the feature columns (extra columns,
            such as the label or the simulator's ``event_time``, are ignored), plus
            ``prediction`` and ``prediction_proba`` unless ``scored`` is given. An optional
            ``prediction_id`` column replaces the deterministic ids.
        model_name, model_version : str
            The registered model that produced the predictions.
        timestamp : str, Timestamp or None
            The prediction time: the name of a column of ``frame`` (e.g. ``"event_time"``), one
            :class:`pandas.Timestamp` for the whole batch, or None for now (UTC). Zone-aware
            times are stored in UTC. The time is part of the prediction id, so a job that may
            be retried should pass its scoring time rather than None.
        scored : DataFrame, optional
            The model's output (``prediction``, ``prediction_proba``), row-aligned with ``frame``
            (what :class:`closedloop.model.registry.ClosedLoopModel` returns).
        content_key : str, optional
            Derive the prediction ids from this key (e.g. a digest of the scored input) instead
            of the time (see :func:`prediction_ids`): a retry at another time logs nothing.
        experiment : str, optional
            The A/B experiment that routed the batch (required with ``arms``).
        arms : sequence of str or None, optional
            Each row's arm, row-aligned with ``frame`` (None: outside the experiment). Stored
            in the optional columns ``arm`` and ``experiment`` (the name, on rows with an arm).

        Returns
        -------
        AppendResult

        Raises
        ------
        DataContractError
            When a column is missing, an (entity, time) pair repeats, or a value cannot take
            its column's type; numbers that arrive as text are refused, not parsed.
        """
        table = self._prediction_frame(frame, str(model_name), str(model_version), timestamp,
                                       scored, content_key)
        batch_id = digest(np.sort(table[PREDICTION_ID].to_numpy(dtype=str)))
        table[BATCH_ID] = batch_id
        table[LOGGED_AT] = now()
        if arms is not None:
            table = _with_arms(table, experiment, arms)
        arrow = predictions_arrow_schema(self.schema, experiment=arms is not None)
        where, written = self.write_arrow(batch_id, to_arrow(table, arrow))
        return AppendResult(batch_id, len(table), written, where)

    def write_arrow(self, batch_id: str, table: pa.Table, *,
                    before_commit: Callable[[], object] | None = None) -> tuple[str, bool]:
        """Commit one batch of predictions already in the log's layout
        (``predictions_arrow_schema``), unless batch ``batch_id`` is already logged.

        The one place a batch of predictions is stored: :meth:`append` and the scoring engines
        call it, so a log kept elsewhere (the table log of the ``databricks`` target,
        :class:`~closedloop.platform.delta_log.DeltaInferenceLog`) overrides only this.
        ``before_commit`` is called after the batch is written and before it is committed
        (batch scoring writes its output file meanwhile and waits for it there, so the log
        never holds predictions nobody received); when it raises nothing is committed.
        Returns where the batch is (its file here) and whether this call wrote it.
        """
        path, written = write_batch(self.predictions_dir, batch_id, table,
                                    before_commit=before_commit)
        if written:   # in this table's row order, which is the file's only if this call wrote it
            write_id_hashes(path, table.column(PREDICTION_ID))
        return str(path), written

    def _prediction_frame(self, frame: pd.DataFrame, model_name: str, model_version: str,
                          timestamp: str | pd.Timestamp | None,
                          scored: pd.DataFrame | None,
                          content_key: str | None = None) -> pd.DataFrame:
        if scored is not None:
            if len(scored) != len(frame):
                raise ValueError(f"scored has {len(scored)} rows, frame {len(frame)}")
            frame = frame.drop(columns=[PREDICTION, PREDICTION_PROBA], errors="ignore").assign(
                **{c: scored[c].to_numpy() for c in (PREDICTION, PREDICTION_PROBA)})
        needed = [self.schema.entity_id, *self.feature_columns, PREDICTION, PREDICTION_PROBA]
        missing = [c for c in needed if c not in frame.columns]
        if isinstance(timestamp, str) and timestamp not in frame.columns:
            missing.append(timestamp)
        if missing:
            raise DataContractError([(c, "missing from the batch to log") for c in missing],
                                    self.schema.name)
        if len(frame) == 0:
            raise ValueError("nothing to log: the batch is empty")
        out = frame[needed].reset_index(drop=True).copy()
        when = frame[timestamp] if isinstance(timestamp, str) else pd.Series(
            [now() if timestamp is None else pd.Timestamp(timestamp)] * len(frame))
        out.insert(1, TIMESTAMP, naive_utc(pd.Series(when.to_numpy())))
        out.insert(2, MODEL_NAME, model_name)
        out.insert(3, MODEL_VERSION, model_version)
        ids = frame[PREDICTION_ID].astype(str).to_numpy() if PREDICTION_ID in frame.columns \
            else prediction_ids(out[self.schema.entity_id], out[TIMESTAMP], model_name,
                                model_version, content_key=content_key)
        out.insert(0, PREDICTION_ID, ids)
        _check_predictions(out, self.schema.entity_id,
                           timestamp if isinstance(timestamp, str) else TIMESTAMP)
        return out

    def append_labels(self, labels: pd.DataFrame) -> AppendResult:
        """Append one batch of labels (``prediction_id``, ``ground_truth``, ``label_arrived_at``)
        atomically, as is. Use :func:`closedloop.monitoring.ground_truth.backfill`, which
        matches, checks and deduplicates labels before calling this."""
        table = labels[[PREDICTION_ID, GROUND_TRUTH, LABEL_ARRIVED_AT]].reset_index(drop=True)
        pairs = np.sort((table[PREDICTION_ID].astype(str) + "="
                         + table[GROUND_TRUTH].astype(str)).to_numpy(dtype=str))
        batch_id = digest(pairs)
        table = table.assign(**{BACKFILLED_AT: now(), BATCH_ID: batch_id})
        path, written = write_batch(self.labels_dir, batch_id,
                                     to_arrow(table, labels_arrow_schema()),
                                     point="backfill:after_label_partial")
        return AppendResult(batch_id, len(table), written, str(path))

    # ------------------------------------------------------------------------------- reading

    def batch_files(self, labels: bool = False) -> list[Path]:
        """The committed batch files of the predictions (or, with ``labels``, of the labels)."""
        folder = self.labels_dir if labels else self.predictions_dir
        return sorted(folder.glob("*.parquet")) if folder.is_dir() else []

    def connect(self, *, labels_as_of: str | pd.Timestamp | None = None
                ) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with three views over the Parquet files.

        ``predictions`` (deduplicated), ``ground_truth`` (the first-arrived label per
        prediction, only labels arrived by ``labels_as_of`` when given) and ``inference_log``
        (predictions left-joined with their label: the columns of :meth:`read`).

        The de-duplication costs one scan of the prediction ids when the log changed
        (:meth:`shadowed_rows`); without repeated ids, ``predictions`` is the files as they are.
        """
        files = self.batch_files()
        shadowed = self.shadowed_rows(files)
        con = duckdb_connection()
        con.execute(f"CREATE TEMP VIEW predictions_raw AS {self._source_sql(False, files)}")
        con.execute(f"CREATE TEMP VIEW labels_raw AS {self._source_sql(labels=True)}")
        if shadowed.num_rows:
            con.register("_shadowed_arrow", shadowed)
            con.execute("CREATE TEMP TABLE _shadowed AS SELECT * FROM _shadowed_arrow")
            con.unregister("_shadowed_arrow")
            con.execute(f"CREATE TEMP VIEW predictions_unique AS SELECT r.* FROM predictions_raw "
                        f"AS r ANTI JOIN _shadowed AS s ON r.{BATCH_ID} = s.{BATCH_ID} AND "
                        f"r.{PREDICTION_ID} = s.{PREDICTION_ID}")
        else:
            con.execute("CREATE TEMP VIEW predictions_unique AS SELECT * FROM predictions_raw")
        for name, sql in log_view_sql(self.schema, labels_as_of=labels_as_of,
                                      optional=self.optional_columns,
                                      predictions="predictions_unique",
                                      deduplicated=True).items():
            con.execute(f"CREATE TEMP VIEW {name} AS {sql}")
        return con

    def spark_frame(self, spark: Any, labels: bool = False) -> Any:
        """The raw prediction (or label) rows as a Spark DataFrame read by ``spark``, or None
        while there are none: here the batch files' folder (Spark skips the hidden temporary
        files and the ``_ids`` folder); a table log reads its table."""
        if not self.batch_files(labels):
            return None
        return spark.read.parquet(str(self.labels_dir if labels else self.predictions_dir))

    def shadowed_rows(self, files: Sequence[Path] | None = None) -> pa.Table:
        """The rows of the batch files that the log hides: ``batch_id`` and ``prediction_id``
        of every copy of a prediction id but the first logged (``logged_at``, then
        ``batch_id``), as an Arrow table; usually empty.

        A retried batch with the same ids is never written twice, but one that only partly
        overlaps the log is; its repeated rows are shadowed by the earlier ones. Found from
        the prediction ids hashed to 64 bits (kept beside each batch when it is written, else
        computed from its ids); only the rows whose hash repeats are compared by id. The
        answer is cached per set of files (which are never modified), so a process that
        queries an unchanged log again pays nothing.

        Examples
        --------
        >>> import tempfile
        >>> from closedloop.contract.schema import Column, Schema
        >>> toy = Schema("toy", (Column("id", "id"), Column("x", "integer"),
        ...                      Column("y", "category", ("no", "yes"))),
        ...              target="y", positive="yes", entity_id="id")
        >>> log, t = InferenceLog(tempfile.mkdtemp(), toy), pd.Timestamp("2026-01-01")
        >>> rows = pd.DataFrame({"id": ["a", "b", "c"], "x": [1, 2, 3], "prediction": [1, 0, 0],
        ...                      "prediction_proba": [0.9, 0.2, 0.1]})
        >>> _ = log.append(rows.head(2), model_name="m", model_version="1", timestamp=t)
        >>> _ = log.append(rows, model_name="m", model_version="1", timestamp=t)  # overlaps
        >>> log.shadowed_rows().num_rows, len(log)
        (2, 3)
        """
        files = self.batch_files() if files is None else list(files)
        return _shadowed_rows(files)

    def _source_sql(self, labels: bool, files: Sequence[Path] | None = None) -> str:
        files = self.batch_files(labels) if files is None else files
        schema = labels_arrow_schema() if labels else predictions_arrow_schema(
            self.schema, experiment=bool(self.optional_columns))
        columns = ", ".join(f"CAST(NULL AS {DUCKDB_TYPES[str(f.type)]}) AS {quote(f.name)}"
                            for f in schema)
        if files:  # a fixed list: files committed after connect() are not half-visible either
            paths = ", ".join("'" + str(p).replace("'", "''") + "'" for p in files)
            # The empty typed branch gives every column, the optional ones included, even
            # when no file has them.
            return (f"SELECT * FROM read_parquet([{paths}], union_by_name = true) "
                    f"UNION ALL BY NAME SELECT {columns} WHERE false")
        return f"SELECT {columns} WHERE false"

    def query(self, sql: str, *, labels_as_of: str | pd.Timestamp | None = None
              ) -> pd.DataFrame:
        """Run DuckDB ``sql`` over the views of :meth:`connect`; return a DataFrame.

        Examples
        --------
        >>> import tempfile
        >>> InferenceLog(tempfile.mkdtemp()).query("SELECT count(*) AS n FROM inference_log")
           n
        0  0
        """
        con = self.connect(labels_as_of=labels_as_of)
        try:
            return con.sql(sql).df()
        finally:
            con.close()

    def read(self, start: str | pd.Timestamp | None = None,
             end: str | pd.Timestamp | None = None, *,
             model_version: str | int | Sequence[str | int] | None = None,
             model_name: str | None = None,
             labels_as_of: str | pd.Timestamp | None = None,
             columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The log as a DataFrame: predictions with ``start <= timestamp < end``.

        Parameters
        ----------
        start, end : str or Timestamp, optional
            The time range (half-open; either end may be open).
        model_version : str, int or sequence, optional
            Keep only these model versions.
        model_name : str, optional
            Keep only this model.
        labels_as_of : str or Timestamp, optional
            Join only labels with ``label_arrived_at <= labels_as_of``: the log as it looked
            then (default: every label stored).
        columns : sequence of str, optional
            Columns to return (default :attr:`columns`; :attr:`optional_columns` by name).

        Returns
        -------
        DataFrame
            Ordered by ``timestamp``, entity id and ``prediction_id``; features in the
            contract's dtypes, ``prediction`` int64, ``prediction_proba`` float64,
            ``ground_truth`` nullable ``Int64``, timestamps ``datetime64[ns]``.
        """
        wanted = list(columns or self.columns)
        unknown = sorted(set(wanted) - set(self.columns) - set(self.optional_columns))
        if unknown:
            raise ValueError(f"unknown column(s) {unknown}; the log has {self.columns} and, "
                             f"optionally, {self.optional_columns}")
        where, params = _filters(start, end, model_version, model_name)
        order = ", ".join(quote(c) for c in (TIMESTAMP, self.schema.entity_id, PREDICTION_ID))
        sql = (f"SELECT {', '.join(quote(c) for c in wanted)} FROM inference_log {where} "
               f"ORDER BY {order}")
        con = self.connect(labels_as_of=labels_as_of)
        try:
            frame = con.execute(sql, params).df()
        finally:
            con.close()
        return restore_log_dtypes(frame, self.schema)

    def count(self) -> int:
        """Number of (distinct) predictions in the log."""
        return int(self.query("SELECT count(*) AS n FROM predictions")["n"].iloc[0])

    def __len__(self) -> int:
        return self.count()


#: Shadowed rows per set of batch files (the files never change): the last few sets looked up.
_SHADOWED: dict[tuple[Any, ...], pa.Table] = {}
_SHADOWED_KEPT = 8


def _shadowed_rows(files: Sequence[Path]) -> pa.Table:
    import pyarrow as pa

    empty = pa.table({BATCH_ID: pa.array([], pa.string()),
                      PREDICTION_ID: pa.array([], pa.string())})
    if len(files) < 2:  # a batch file holds each prediction id once
        return empty
    key = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    found = _SHADOWED.get(key)
    if found is not None:
        return found
    found = find_shadowed(list(files))
    while len(_SHADOWED) >= _SHADOWED_KEPT:
        _SHADOWED.pop(next(iter(_SHADOWED)))
    _SHADOWED[key] = found
    return found


def read_log(source: InferenceLog | Workspace | str | os.PathLike[str],
             start: str | pd.Timestamp | None = None, end: str | pd.Timestamp | None = None,
             *, schema: Schema = TELCO_SCHEMA, **options: Any) -> pd.DataFrame:
    """The inference log of ``source`` for ``[start, end)`` as a DataFrame.

    ``source`` is an :class:`InferenceLog`, a :class:`~closedloop.config.Workspace` or a
    workspace folder; ``options`` are those of :meth:`InferenceLog.read` (``model_version``,
    ``model_name``, ``labels_as_of``, ``columns``).

    Examples
    --------
    >>> import tempfile
    >>> read_log(tempfile.mkdtemp(), "2026-01-01", "2026-02-01").shape
    (0, 30)
    """
    log = source if isinstance(source, InferenceLog) else InferenceLog(source, schema)
    return log.read(start, end, **options)


def log_predictions(workspace: Workspace | str | os.PathLike[str], frame: pd.DataFrame,
                    scored: pd.DataFrame | None, *, model_name: str,
                    model_version: str | int, timestamp: str | pd.Timestamp | None = None,
                    schema: Schema = TELCO_SCHEMA) -> AppendResult:
    """Append ``frame`` scored by a model to the workspace's log (see :meth:`InferenceLog.append`).

    Examples
    --------
    >>> import tempfile
    >>> from closedloop.contract.telco import load_telco
    >>> frame = load_telco().head(3)
    >>> scored = pd.DataFrame({"prediction": [1, 0, 0], "prediction_proba": [0.9, 0.2, 0.1]})
    >>> log_predictions(tempfile.mkdtemp(), frame, scored, model_name="m", model_version=2,
    ...                 timestamp=pd.Timestamp("2026-01-01")).rows
    3
    """
    return InferenceLog(workspace, schema).append(
        frame, model_name=model_name, model_version=model_version, timestamp=timestamp,
        scored=scored)


def prediction_ids(entity: pd.Series | pa.ChunkedArray, timestamp: pd.Series, model_name: str,
                   model_version: str, *, content_key: str | None = None) -> np.ndarray:
    """Deterministic prediction ids: 32 hex digits of BLAKE2b over model, entity and time.

    The same model version scoring the same entity at the same instant is the same prediction,
    so a retried batch gets the same ids (and is deduplicated); hashlib, unlike
    ``pandas.util.hash_pandas_object``, is stable across library versions. With
    ``content_key`` (a digest of the scored input, when its rows carry no event time) the key
    replaces the time: the same model version scoring the same input is the same batch, at
    whatever time the retry runs. ``entity`` may be an Arrow column of text.

    Examples
    --------
    >>> prediction_ids(pd.Series(["a"]), pd.Series(pd.to_datetime(["2026-01-01"])), "m", "1")
    array(['434ba9b80ba3396c2b2b2929fcda74a8'], dtype=object)
    """
    digests = prediction_digests(entity, timestamp, model_name, model_version,
                                 content_key=content_key)
    return hex_ids(digests).to_numpy(zero_copy_only=False)


def prediction_digests(entity: pd.Series | pa.ChunkedArray, timestamp: pd.Series,
                       model_name: str, model_version: str, *,
                       content_key: str | None = None) -> np.ndarray:
    """The 16 bytes of BLAKE2b behind each :func:`prediction_ids` id, as an ``(n, 16)``
    ``uint8`` array (:func:`hex_ids` spells them): the hashed texts are joined by Arrow, so the
    Python loop only hashes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    # Text as the ids have always hashed it: str() of each value (an Arrow column of text,
    # from the Arrow lane of batch scoring, is text already).
    texts = pa.array(entity.astype(str).to_numpy(dtype=object), pa.string()) if isinstance(
        entity, pd.Series) else entity
    if content_key is not None:
        payload = pc.binary_join_element_wise(
            f"{model_name}\x1f{model_version}\x1fcontent:{content_key}", texts, "\x1f")
    else:
        nanos = pd.to_datetime(timestamp).astype("int64").to_numpy()
        payload = pc.binary_join_element_wise(f"{model_name}\x1f{model_version}", texts,
                                              pa.array(nanos).cast(pa.string()), "\x1f")
    blake2b = hashlib.blake2b
    found = [blake2b(p, digest_size=16).digest() for p in payload.cast(pa.binary()).to_pylist()]
    return np.frombuffer(b"".join(found), dtype=np.uint8).reshape(len(found), 16)


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_STRING_BYTES = 2**31 - 1  # the most text one Arrow string array holds


def hex_ids(digests: np.ndarray) -> pa.Array:
    """The prediction ids of :func:`prediction_digests` as an Arrow string array (32 lower-case
    hex digits each, as ``hexdigest`` writes them), spelled by numpy in one pass.

    Examples
    --------
    >>> hex_ids(np.array([[0, 1, 171] + [255] * 13], dtype=np.uint8))[0].as_py()[:8]
    '0001abff'
    """
    import pyarrow as pa

    n = len(digests)
    text = np.empty((n, 32), dtype=np.uint8)
    text[:, 0::2] = _HEX[digests >> 4]
    text[:, 1::2] = _HEX[digests & 15]
    # A string array's 32-bit offsets end at 2 GiB of text: beyond (67 million ids), 64-bit.
    large = 32 * n > _STRING_BYTES
    offsets = np.arange(0, 32 * n + 1, 32, dtype=np.int64 if large else np.int32)
    return pa.Array.from_buffers(pa.large_string() if large else pa.string(), n,
                                 [None, pa.py_buffer(offsets), pa.py_buffer(text)])


_NIBBLE = np.full(256, 255, dtype=np.uint8)
_NIBBLE[_HEX] = np.arange(16, dtype=np.uint8)


def hex_digests(ids: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """The digests an Arrow column of prediction ids spells (the inverse of :func:`hex_ids`),
    as an ``(n, 16)`` ``uint8`` array, and the ids' text as an ``(n, 32)`` one, both read from
    the text buffers without Python strings.

    Raises ``ValueError`` for a null or a value that is not 32 lower-case hex digits.

    Examples
    --------
    >>> digests = np.array([[0, 1, 171] + [255] * 13], dtype=np.uint8)
    >>> bool((hex_digests(hex_ids(digests))[0] == digests).all())
    True
    """
    import pyarrow as pa

    chunks = ids.chunks if isinstance(ids, pa.ChunkedArray) else [ids]
    texts = [np.empty((0, 32), np.uint8)]
    for chunk in chunks:
        chunk = chunk.cast(pa.large_string())
        n = len(chunk)
        if not n:
            continue
        if chunk.null_count:
            raise ValueError("prediction ids: a null id")
        offsets = np.frombuffer(chunk.buffers()[1], np.int64)[chunk.offset:chunk.offset + n + 1]
        if not (np.diff(offsets) == 32).all():
            raise ValueError("prediction ids: expected 32 hex digits each")
        start = int(offsets[0])
        texts.append(np.frombuffer(chunk.buffers()[2], np.uint8)[start:start + 32 * n]
                     .reshape(n, 32))
    text = np.concatenate(texts)
    nibbles = _NIBBLE[text]
    if (nibbles == 255).any():
        raise ValueError("prediction ids: expected lower-case hex digits")
    return (nibbles[:, 0::2] << 4) | nibbles[:, 1::2], text


def _filters(start: Any, end: Any, model_version: Any, model_name: str | None
             ) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if start is not None:
        clauses.append(f"{TIMESTAMP} >= ?")
        params.append(pd.Timestamp(start).to_pydatetime())
    if end is not None:
        clauses.append(f"{TIMESTAMP} < ?")
        params.append(pd.Timestamp(end).to_pydatetime())
    if model_version is not None:
        chosen = [model_version] if isinstance(model_version, (str, int)) else model_version
        clauses.append(f"{MODEL_VERSION} IN ({', '.join('?' * len(chosen))})")
        params.extend(str(v) for v in chosen)
    if model_name is not None:
        clauses.append(f"{MODEL_NAME} = ?")
        params.append(model_name)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def _with_arms(table: pd.DataFrame, experiment: str | None, arms: Any) -> pd.DataFrame:
    """``table`` with the optional columns ``experiment`` and ``arm`` (see
    :meth:`InferenceLog.append`)."""
    arms = pd.Series(np.asarray(arms, dtype=object))
    if not experiment:
        raise ValueError("experiment: the name of the experiment is needed with arms")
    if len(arms) != len(table):
        raise ValueError(f"arms has {len(arms)} values, the batch {len(table)} rows")
    inside = arms.notna().to_numpy()
    arm = [None if a is None else str(a) for a in arms.where(arms.notna(), None)]
    return table.assign(**{EXPERIMENT: np.where(inside, str(experiment), None),
                           ARM: np.asarray(arm, dtype=object)})


def _check_predictions(out: pd.DataFrame, entity: str, time_name: str) -> None:
    problems = []
    if out[PREDICTION_ID].duplicated().any():
        repeated = repeated_keys(out[entity], out[TIMESTAMP], time_name)
        dup = out[PREDICTION_ID].duplicated()
        problems.append(repeated or (PREDICTION_ID, f"{int(dup.sum())} id(s) repeated within the "
                                     f"batch, first at row {int(dup.idxmax())}"))
    if out[TIMESTAMP].isna().any():
        problems.append((TIMESTAMP, "null prediction time"))
    if not out[PREDICTION].isin([0, 1]).all():
        problems.append((PREDICTION, "values other than 0 and 1"))
    proba = pd.to_numeric(out[PREDICTION_PROBA], errors="coerce")
    if not proba.between(0, 1).all():
        problems.append((PREDICTION_PROBA, "values outside [0, 1] or missing"))
    if problems:
        raise DataContractError(problems, "inference_log")


