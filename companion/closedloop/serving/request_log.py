"""Request logging: every answered row goes to the inference log, off the request path.

A request only appends its rows to an in-memory buffer (a list under a lock). A background thread
writes the buffer to the workspace's :class:`~closedloop.monitoring.store.InferenceLog` when it
holds ``max_rows`` rows or every ``interval`` seconds, whichever comes first, one batch per model
version; :meth:`RequestLog.close` (the service's graceful shutdown) writes what is left. A batch
file is committed atomically, so a killed process loses at most the rows still in the buffer and
never leaves half a batch behind. Each row's ``prediction_id`` is the request id and the row's
position in the request, so a row is logged once however often a flush is retried. Rows answered
under an A/B experiment also carry its name and their arm (the log's optional ``experiment``
and ``arm`` columns).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import pandas as pd

from closedloop.config import Workspace
from closedloop.contract.schema import Schema
from closedloop.monitoring.store import PREDICTION, PREDICTION_ID, PREDICTION_PROBA, InferenceLog

logger = logging.getLogger("closedloop.serving")

REQUESTED_AT = "requested_at"


@dataclass
class _Pending:
    schema: Schema
    model_name: str
    version: str
    records: list[dict[str, Any]]
    prediction_ids: list[str]
    predictions: list[int]
    probas: list[float]
    requested_at: pd.Timestamp
    experiment: str | None = None
    arms: list[str | None] | None = None


class RequestLog:
    """A buffered writer of answered rows into the inference log.

    Parameters
    ----------
    workspace : Workspace
        Whose ``tables/inference_log`` receives the rows.
    max_rows : int
        Flush as soon as the buffer holds this many rows.
    interval : float
        Flush at least this often (seconds) while rows are waiting.

    Examples
    --------
    >>> import tempfile
    >>> from closedloop.contract.schema import Column, Schema
    >>> toy = Schema("toy", (Column("id", "id"), Column("x", "float"),
    ...                      Column("y", "integer", low=0, high=1)),
    ...              target="y", positive=1, entity_id="id")
    >>> log = RequestLog(Workspace.resolve(tempfile.mkdtemp()), interval=60).start()
    >>> log.add(toy, "m", "1", [{"id": "a", "x": 0.5}], ["r1-0"], [1], [0.9],
    ...         pd.Timestamp("2026-01-01 09:00", tz="UTC"))
    >>> log.close()
    1
    >>> InferenceLog(log.workspace, toy).read()[["id", "x", "prediction_id"]]
      id    x prediction_id
    0  a  0.5          r1-0
    """

    def __init__(self, workspace: Workspace, *, max_rows: int = 1000,
                 interval: float = 1.0) -> None:
        self.workspace, self.max_rows, self.interval = workspace, int(max_rows), float(interval)
        self._pending: list[_Pending] = []
        self._rows = 0
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0
        self.failed = 0

    @property
    def buffered(self) -> int:
        """Rows waiting to be written."""
        return self._rows

    def start(self) -> RequestLog:
        """Start the background flusher (returns ``self``)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="closedloop-request-log",
                                            daemon=True)
            self._thread.start()
        return self

    def add(self, schema: Schema, model_name: str, version: str,
            records: list[dict[str, Any]], prediction_ids: list[str], predictions: list[int],
            probas: list[float], requested_at: pd.Timestamp, *,
            experiment: str | None = None, arms: list[str | None] | None = None) -> None:
        """Buffer one request's answered rows (cheap: no I/O on the caller's thread).

        ``experiment`` and ``arms`` (one per record, None outside the experiment) are logged
        in the optional columns of the same names when the rows were routed by an experiment.
        """
        if (experiment is None) != (arms is None) or (arms is not None
                                                      and len(arms) != len(records)):
            raise ValueError("experiment and arms go together, with one arm per record")
        item = _Pending(schema, model_name, str(version), records, prediction_ids, predictions,
                        probas, requested_at, experiment, arms)
        with self._lock:
            self._pending.append(item)
            self._rows += len(records)
            full = self._rows >= self.max_rows
        if full:
            self._wake.set()

    def flush(self) -> int:
        """Write every buffered row now; returns the number of rows written."""
        with self._flush_lock:
            with self._lock:
                pending, self._pending, self._rows = self._pending, [], 0
            if not pending:
                return 0
            groups: dict[tuple[str, str, str, str | None], list[_Pending]] = {}
            for item in pending:
                groups.setdefault((item.model_name, item.version, item.schema.name,
                                   item.experiment), []).append(item)
            written = 0
            for (model_name, version, _, experiment), items in groups.items():
                schema = items[0].schema
                arms = None if experiment is None else [a for i in items for a in i.arms or ()]
                try:
                    frame = _frame(items, schema)
                    InferenceLog(self.workspace, schema).append(
                        frame, model_name=model_name, model_version=version,
                        timestamp=REQUESTED_AT, experiment=experiment, arms=arms)
                    written += len(frame)
                except Exception:  # a bad batch must not stop the service or later batches
                    self.failed += sum(len(i.records) for i in items)
                    logger.exception("could not log %s answered rows of %s v%s",
                                     sum(len(i.records) for i in items), model_name, version)
            self.written += written
            return written

    def close(self) -> int:
        """Stop the flusher and write what is left; returns the rows written by this call."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None
        return self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.flush()
            except Exception:  # pragma: no cover - flush already logs per batch
                logger.exception("request log flush failed")


def _frame(items: list[_Pending], schema: Schema) -> pd.DataFrame:
    columns = [schema.entity_id, *schema.feature_names]
    rows = [{c: record.get(c) for c in columns} for item in items for record in item.records]
    frame = pd.DataFrame.from_records(rows, columns=columns)
    for column in schema.features:
        if column.kind in ("integer", "float"):
            frame[column.name] = pd.to_numeric(frame[column.name])
    frame[PREDICTION_ID] = [p for item in items for p in item.prediction_ids]
    frame[PREDICTION] = [p for item in items for p in item.predictions]
    frame[PREDICTION_PROBA] = [p for item in items for p in item.probas]
    frame[REQUESTED_AT] = [item.requested_at for item in items for _ in item.records]
    return frame
