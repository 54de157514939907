"""Delayed ground truth: match labels that arrive later to logged predictions, idempotently.

A label file says, for each label, which prediction(s) it belongs to, the outcome and when it
arrived. Three ways to name the predictions are accepted:

- by ``prediction_id`` (a service that returned the id to its caller);
- by entity id and a prediction-time window ``[window_start, window_end)``: the label applies to
  every prediction of that entity made in the window (by every model version, so a shadow
  model is judged on the same outcomes as the champion);
- by entity id and event time (a column named as the contract's ``Schema.timestamp``,
  ``event_time`` or ``timestamp``): the label applies to the predictions of that entity logged
  at exactly that time, which is the event time when the batch was scored with one (see
  :func:`closedloop.scoring.batch.score`), by every model version.

The outcome is ``ground_truth`` (0/1) or the schema's target column in its own values
(``Churn`` = ``"Yes"``/``"No"``; 0/1 for an integer target), converted with the contract's
positive value. ``label_arrived_at`` is when the label became known. Entity ids are compared as
text (a CSV file's ids are read as text: ``1001`` matches the logged ``"1001"``). A simulated
stream, or its label export (``closedloop simulate --labels-output``), is accepted as it is and
converted by :func:`labels_from_stream` (each label names its customer's prediction at that
event time).

:func:`backfill` sorts every label row into exactly one of: ``matched`` (stored now for at least
one prediction), ``already_present`` (every prediction it names already has this label),
``conflicting`` (it disagrees with a label already stored, or with another row of the same file,
for some prediction: reported, never written, never overwriting) and ``unmatched`` (no prediction
in the log; run the backfill again later, when the predictions are logged). It then appends the new
labels as one atomic batch, so running the same backfill twice writes nothing the second time.

Concurrent backfills: the read-check-append runs under an exclusive lock on
``tables/ground_truth/.lock`` (``closedloop.monitoring._storage.folder_lock``), so two feeds
backfilling at once are checked one after the other: when they contradict each other, the second
sees the first's labels and reports its rows as ``conflicting``; the stored labels are always
one consistent set. The lock dies with its process (a killed backfill blocks nobody).

See Also
--------
Chapter :doc:`Ground truth and production accuracy </book/05_ground_truth>`.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from closedloop.config import Workspace
from closedloop.contract.schema import Schema
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.contract.validation import DataContractError
from closedloop.monitoring._storage import (
    GROUND_TRUTH,
    LABEL_ARRIVED_AT,
    PREDICTION_ID,
    TIMESTAMP,
    fault,
    folder_lock,
)
from closedloop.monitoring.store import InferenceLog
from closedloop.monitoring.windows import WINDOW_END, WINDOW_START, Granularity, add_windows

_ROW = "label_row"
#: The event-time key of a label file, after :func:`validate_labels`.
EVENT_TIME = "event_time"
STATUSES = ("matched", "already_present", "conflicting", "unmatched")


class LabelContractError(DataContractError):
    """A label file that breaks its contract (``columns`` names the offending columns)."""


@dataclass(frozen=True)
class BackfillResult:
    """The outcome of one :func:`backfill`.

    Every label row read (after dropping exact duplicate rows, counted in ``duplicates``) is in
    exactly one of ``matched``, ``already_present``, ``conflicting`` and ``unmatched``.
    ``predictions_labelled`` counts the predictions that received a label now; ``conflicts``
    lists each disagreement (prediction, stored value, incoming value, and whether the stored
    value is in the ``log`` or in another row of the same ``file``).
    """

    labels: int
    duplicates: int
    matched: int
    already_present: int
    conflicting: int
    unmatched: int
    predictions_labelled: int
    batch_id: str | None
    dry_run: bool = False
    conflicts: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (what ``closedloop backfill --json`` prints)."""
        out = {k: v for k, v in vars(self).items() if k != "conflicts"}
        out["conflicts"] = self.conflicts.astype(str).to_dict("records")
        return out

    def _repr_html_(self) -> str:
        counts = pd.Series({k: getattr(self, k) for k in (
            "labels", "duplicates", *STATUSES, "predictions_labelled")}, name="labels")
        html = f"<b>BackfillResult</b> batch={self.batch_id}" + counts.to_frame().to_html()
        if len(self.conflicts):
            html += "<i>conflicts</i>" + self.conflicts.head(20).to_html(index=False)
        return html


def read_labels(path: str | os.PathLike[str], schema: Schema = TELCO_SCHEMA) -> pd.DataFrame:
    """Read a label file (``.csv`` or ``.parquet``); timestamps are parsed by :func:`backfill`.

    A CSV file's ``prediction_id`` and entity id are read as text.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix == ".csv":
        return pd.read_csv(path, dtype={PREDICTION_ID: str, schema.entity_id: str})
    raise LabelContractError([("<file>", f"{path}: expected a .csv or .parquet label file")])


def validate_labels(labels: pd.DataFrame, schema: Schema = TELCO_SCHEMA) -> pd.DataFrame:
    """Check a label frame; return it normalised (``ground_truth`` int64, timestamps parsed).

    Raises :class:`LabelContractError` listing every problem, each naming its column.

    Examples
    --------
    >>> bad = pd.DataFrame({"customerID": ["a"], "Churn": ["Maybe"]})
    >>> try:
    ...     validate_labels(bad)
    ... except LabelContractError as err:
    ...     print(err.columns)
    ['Churn', 'label_arrived_at', 'window_end', 'window_start']
    """
    problems: list[tuple[str, str]] = []
    by_id = PREDICTION_ID in labels.columns
    time_column = None if by_id else _event_time_column(labels.columns, schema)
    labels = labels.rename(columns={time_column: EVENT_TIME}) if time_column else labels
    keys = ([PREDICTION_ID] if by_id else [schema.entity_id, EVENT_TIME] if time_column
            else [schema.entity_id, WINDOW_START, WINDOW_END])
    outcome = [c for c in (GROUND_TRUTH, schema.target) if c in labels.columns]
    problems += [(c, "missing (a label file names predictions by prediction_id, by "
                  f"{schema.entity_id} + window_start + window_end, or by {schema.entity_id} + "
                  "event_time)")
                 for c in keys if c not in labels.columns]
    if LABEL_ARRIVED_AT not in labels.columns:
        problems.append((LABEL_ARRIVED_AT, "missing (when the label became known)"))
    if len(outcome) != 1:
        problems.append((GROUND_TRUTH, f"need exactly one of {GROUND_TRUTH} (0/1) or "
                         f"{schema.target} ({'/'.join(map(str, schema[schema.target].categories))})"
                         f", found {outcome or 'neither'}"))
    out = labels.copy()
    if len(outcome) == 1:
        out[GROUND_TRUTH] = _outcome(out, outcome[0], schema, problems)
    if problems:
        raise LabelContractError(problems, "labels")
    for column in [LABEL_ARRIVED_AT, *[k for k in keys[1:]]]:
        out[column] = _timestamps(out[column], column, problems)
    user_name = {EVENT_TIME: time_column or EVENT_TIME}
    for column in keys + [LABEL_ARRIVED_AT]:
        if out[column].isna().any():
            problems.append((user_name.get(column, column),
                             f"{int(out[column].isna().sum())} null value(s)"))
    if WINDOW_END in keys and not problems and (out[WINDOW_END] <= out[WINDOW_START]).any():
        problems.append((WINDOW_END, "not after window_start for some rows"))
    if problems:
        raise LabelContractError(problems, "labels")
    if EVENT_TIME in keys:  # the log stores microseconds
        out[EVENT_TIME] = out[EVENT_TIME].dt.floor("us")
    out[keys[0]] = out[keys[0]].astype(str)
    return out[keys + [GROUND_TRUTH, LABEL_ARRIVED_AT]]


def _event_time_column(columns: Any, schema: Schema) -> str | None:
    """The event-time column of a label file without ``prediction_id``, or None (windows)."""
    columns = list(columns)
    if WINDOW_START in columns or WINDOW_END in columns:
        return None
    candidates = [schema.timestamp, EVENT_TIME, TIMESTAMP]
    return next((c for c in candidates if c is not None and c in columns), None)


def _outcome(labels: pd.DataFrame, column: str, schema: Schema,
             problems: list[tuple[str, str]]) -> pd.Series:
    """``column`` as 0/1 (nullable), each problem reported on ``column``, the user's name."""
    values = labels[column]
    if values.isna().any():
        problems.append((column, f"{int(values.isna().sum())} null label(s): a label file "
                         "holds known outcomes only"))
    if column == schema.target and schema[column].kind == "category":
        allowed = schema[column].categories
        text = values.astype("object").where(values.isna(), values.astype(str))
        bad = values.notna() & ~text.isin([str(a) for a in allowed])
        if bad.any():
            unknown = sorted(map(str, values[bad].unique()))[:5]
            problems.append((column, f"unknown value(s) {unknown}; allowed: {list(allowed)}"))
        return (text == str(schema.positive)).astype("int64").where(values.notna())
    numeric = pd.to_numeric(values, errors="coerce")
    if column == schema.target:  # a numeric target in its own values: 1 where it is positive
        positive = pd.to_numeric(pd.Series([schema.positive]), errors="coerce").iloc[0]
        negative = 1 - positive if positive in (0, 1) else None
        if (values.notna() & ~numeric.isin([positive, negative])).any():
            problems.append((column, f"values other than {negative} and {positive}"))
        return (numeric == positive).astype("int64").where(values.notna())
    if (values.notna() & ~numeric.isin([0, 1])).any():
        problems.append((column, "values other than 0 and 1"))
    return numeric


def _timestamps(values: pd.Series, column: str, problems: list[tuple[str, str]]) -> pd.Series:
    try:
        with warnings.catch_warnings():  # "could not infer format": text dates are fine here
            warnings.simplefilter("ignore", UserWarning)
            parsed = pd.to_datetime(values)
    except (ValueError, TypeError) as err:
        problems.append((column, f"not a timestamp ({err})"))
        return values
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed.astype("datetime64[ns]")


def backfill(log: InferenceLog | Workspace | str | os.PathLike[str],
             labels: pd.DataFrame | str | os.PathLike[str], *, schema: Schema = TELCO_SCHEMA,
             as_of: str | pd.Timestamp | None = None, dry_run: bool = False) -> BackfillResult:
    """Join late-arriving labels into the inference log, as an idempotent upsert.

    Parameters
    ----------
    log : InferenceLog, Workspace or os.PathLike
        The log to label (a workspace or its folder means its
        :class:`~closedloop.monitoring.store.InferenceLog`).
    labels : DataFrame or os.PathLike
        The label rows, or a ``.csv``/``.parquet`` file of them (see the module docstring).
    schema : Schema
        The contract of the scored table (entity id, target values).
    as_of : str or Timestamp, optional
        Use only labels with ``label_arrived_at <= as_of`` (replaying a label feed).
    dry_run : bool
        Count and report, but write nothing.

    Returns
    -------
    BackfillResult
        Counts per status, the new label batch id (None when nothing was written) and the
        conflicts.

    Examples
    --------
    >>> import tempfile
    >>> from closedloop.contract.telco import load_telco
    >>> log = InferenceLog(tempfile.mkdtemp())
    >>> rows = load_telco().head(3).assign(prediction=[1, 0, 0],
    ...                                    prediction_proba=[0.9, 0.2, 0.1])
    >>> _ = log.append(rows, model_name="m", model_version=1,
    ...                timestamp=pd.Timestamp("2026-01-01 09:00"))
    >>> labels = pd.DataFrame({"customerID": rows["customerID"], "Churn": ["Yes", "No", "No"],
    ...                        "window_start": "2026-01-01", "window_end": "2026-01-02",
    ...                        "label_arrived_at": "2026-01-31"})
    >>> backfill(log, labels).matched, backfill(log, labels).already_present
    (3, 3)
    >>> flipped = labels.assign(Churn=["No", "No", "No"])
    >>> backfill(log, flipped).conflicts[["stored", "incoming"]]
       stored  incoming
    0       1         0
    """
    log = log if isinstance(log, InferenceLog) else InferenceLog(log, schema)
    raw = read_labels(labels, log.schema) if isinstance(labels, (str, os.PathLike)) else labels
    if _is_stream_export(raw, log.schema):
        raw = labels_from_stream(raw, log.schema, by=EVENT_TIME)
    clean = validate_labels(raw, log.schema)
    if as_of is not None:
        clean = clean[clean[LABEL_ARRIVED_AT] <= pd.Timestamp(as_of)]
    unique = clean.drop_duplicates().reset_index(drop=True)
    duplicates = len(clean) - len(unique)
    # One backfill at a time reads, checks and appends: a concurrent one cannot hide a conflict.
    with folder_lock(log.labels_dir):
        matches = _match(log, unique.rename_axis(_ROW).reset_index())
        status, conflicts, new = _classify(matches, len(unique))
        batch_id = None
        if len(new) and not dry_run:
            fault("backfill:after_check")
            batch_id = log.append_labels(new).batch_id
            fault("backfill:after_append")
    counts = status.value_counts().reindex(list(STATUSES), fill_value=0)
    return BackfillResult(
        labels=len(clean), duplicates=duplicates, matched=int(counts["matched"]),
        already_present=int(counts["already_present"]),
        conflicting=int(counts["conflicting"]), unmatched=int(counts["unmatched"]),
        predictions_labelled=len(new), batch_id=batch_id, dry_run=dry_run,
        conflicts=conflicts)


def _is_stream_export(frame: pd.DataFrame, schema: Schema) -> bool:
    """A simulated stream or its label export (``closedloop simulate --labels-output``)."""
    needed = {schema.entity_id, schema.target, "event_time", "label_available_at"}
    return needed <= set(frame.columns) and LABEL_ARRIVED_AT not in frame.columns


def _match(log: InferenceLog, labels: pd.DataFrame) -> pd.DataFrame:
    """One row per (label row, prediction it names), with the label already stored, if any."""
    entity = log.schema.entity_id
    if PREDICTION_ID in labels.columns:
        condition = f"p.{PREDICTION_ID} = i.{PREDICTION_ID}"
    elif EVENT_TIME in labels.columns:
        condition = f'p."{entity}" = i."{entity}" AND p.{TIMESTAMP} = i.{EVENT_TIME}'
    else:
        condition = (f'p."{entity}" = i."{entity}" AND p.{TIMESTAMP} >= i.{WINDOW_START} '
                     f"AND p.{TIMESTAMP} < i.{WINDOW_END}")
    con = log.connect()
    try:
        con.register("incoming", labels)
        return con.execute(f"""
            SELECT i.{_ROW}, p.{PREDICTION_ID}, p."{entity}", p.{TIMESTAMP},
                   i.{GROUND_TRUTH} AS incoming, i.{LABEL_ARRIVED_AT},
                   g.{GROUND_TRUTH} AS stored, g.{LABEL_ARRIVED_AT} AS stored_arrived_at
            FROM incoming AS i
            LEFT JOIN predictions AS p ON {condition}
            LEFT JOIN ground_truth AS g ON g.{PREDICTION_ID} = p.{PREDICTION_ID}
            ORDER BY i.{_ROW}, p.{PREDICTION_ID}""").df()
    finally:
        con.close()


def _classify(matches: pd.DataFrame, n_rows: int
              ) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    """Status per label row, the conflicts, and the new labels to write (one per prediction)."""
    found = matches[matches[PREDICTION_ID].notna()].copy()
    # Rows of one file that disagree about one prediction: nobody can tell which is right.
    values_per_prediction = found.groupby(PREDICTION_ID)["incoming"].transform("nunique")
    in_file = found[values_per_prediction > 1]
    in_log = found[found["stored"].notna() & (found["stored"] != found["incoming"])]
    # Labels are 0/1, so the value a row contradicts is 1 - its own, first seen at:
    first_seen = in_file.groupby([PREDICTION_ID, "incoming"])[LABEL_ARRIVED_AT].min()
    other = pd.MultiIndex.from_arrays([in_file[PREDICTION_ID], 1 - in_file["incoming"]])
    file_conflicts = in_file.assign(stored=1 - in_file["incoming"], source="file",
                                    stored_arrived_at=first_seen.reindex(other).to_numpy())
    parts = [part for part in (in_log.assign(source="log"), file_conflicts) if len(part)]
    conflicts = pd.concat(parts, ignore_index=True) if parts else in_log.assign(source="")
    bad_rows = set(conflicts[_ROW]) | set(in_file[_ROW])
    fresh = found[found["stored"].isna() & ~found[_ROW].isin(bad_rows)
                  & ~found[PREDICTION_ID].isin(in_file[PREDICTION_ID])]
    status = pd.Series("unmatched", index=pd.RangeIndex(n_rows, name=_ROW))
    status[status.index.isin(found[_ROW])] = "already_present"
    status[status.index.isin(fresh[_ROW])] = "matched"
    status[status.index.isin(list(bad_rows))] = "conflicting"
    # Several agreeing rows may name one prediction: keep its earliest arrival.
    new = fresh.sort_values(LABEL_ARRIVED_AT, kind="stable").drop_duplicates(PREDICTION_ID)
    new = new.rename(columns={"incoming": GROUND_TRUTH})[
        [PREDICTION_ID, GROUND_TRUTH, LABEL_ARRIVED_AT]].astype({GROUND_TRUTH: "int64"})
    columns = [_ROW, PREDICTION_ID, *[c for c in found.columns if c not in (
        _ROW, PREDICTION_ID, "incoming", "stored", LABEL_ARRIVED_AT, "stored_arrived_at")],
        "stored", "incoming", "stored_arrived_at", LABEL_ARRIVED_AT, "source"]
    conflicts = conflicts.reindex(columns=columns).astype({"stored": "Int64",
                                                          "incoming": "Int64"})
    return status, conflicts.reset_index(drop=True), new.reset_index(drop=True)


def labels_from_stream(stream: pd.DataFrame, schema: Schema = TELCO_SCHEMA, *,
                       as_of: str | pd.Timestamp | None = None,
                       window: str | Granularity = "1d", event_time: str = "event_time",
                       available: str = "label_available_at", by: str = "window"
                       ) -> pd.DataFrame:
    """The label file a feed would deliver for a simulated stream, as of a date.

    One row per event whose label is known by ``as_of`` (``label_available_at <= as_of``; all
    when None): the entity id, the ``window`` containing the event (a label names the entity's
    predictions that day), ``ground_truth`` and ``label_arrived_at``. With ``by="event_time"``,
    the event time instead of the window (a label names the entity's predictions logged at
    that time: a stream scored with its event time).

    Examples
    --------
    >>> from closedloop.contract.telco import load_telco
    >>> from closedloop.simulate.labels import LabelDelay
    >>> from closedloop.simulate.stream import StreamSimulator
    >>> sim = StreamSimulator(load_telco(), seed=0, population=500)
    >>> stream = sim.stream(days=3, rows_per_day=10, label_delay=LabelDelay("fixed", days=1))
    >>> len(labels_from_stream(stream, as_of="2026-01-03"))  # day 0's labels arrive on day 1
    10
    >>> list(labels_from_stream(stream).columns)
    ['customerID', 'window_start', 'window_end', 'ground_truth', 'label_arrived_at']
    """
    rows = stream if as_of is None else stream[stream[available] <= pd.Timestamp(as_of)]
    if by == EVENT_TIME:
        return pd.DataFrame({
            schema.entity_id: rows[schema.entity_id].astype(str).to_numpy(),
            EVENT_TIME: rows[event_time].to_numpy(),
            GROUND_TRUTH: schema.target_as_int(rows).to_numpy(np.int64),
            LABEL_ARRIVED_AT: rows[available].to_numpy(),
        })
    if by != "window":
        raise ValueError(f"by must be 'window' or 'event_time' (got {by!r})")
    rows = add_windows(rows, window, column=event_time)
    return pd.DataFrame({
        schema.entity_id: rows[schema.entity_id].astype(str).to_numpy(),
        WINDOW_START: rows[WINDOW_START].to_numpy(), WINDOW_END: rows[WINDOW_END].to_numpy(),
        GROUND_TRUTH: schema.target_as_int(rows).to_numpy(np.int64),
        LABEL_ARRIVED_AT: rows[available].to_numpy(),
    })
