"""Drift straight from the inference log: DuckDB aggregates over its Parquet files, not a frame.

Every drift statistic depends on a sample only through its empirical distribution (see
:mod:`closedloop.monitoring.drift_stats`), so the log never needs to become a pandas frame of
strings. One DuckDB query over the log's Parquet files counts, per window (and per model
version), every distinct value of every monitored column: a ``GROUP BY GROUPING SETS`` with one
set per column, a single scan of the rows. Only those value counts reach Python, as
:class:`~closedloop.monitoring.drift_stats.Reduced` samples, and
:func:`closedloop.monitoring.drift.drift_table` computes the statistics with exactly the code the
pandas path uses:

- categorical columns: the category counts (the ``GROUP BY``), compared as text as the pandas
  path does (``CAST(x AS VARCHAR)``: ``1`` is ``"1"``);
- numeric columns: the counts of the sorted distinct values, from which the exact KS statistic
  (the ECDFs at every value), the Wasserstein distance, mean, standard deviation, min and max
  and the histogram over the reference's quantile edges all follow exactly. No bin is
  approximated: the edges are the baseline's quantiles computed from its counts, and each value
  falls in its bin by the same ``searchsorted`` as in the pandas path.

The result therefore equals :func:`~closedloop.monitoring.drift.drift_metrics` on the frame
:meth:`~closedloop.monitoring.store.InferenceLog.read` returns (the tests check every statistic to
1e-9). What reaches Python is as large as the number of distinct values per window: small for
categories, flags, integers and money in cents, up to the row count for a continuous score such
as ``prediction_proba`` (16 bytes a value, against some 60 bytes a cell for a frame of strings).

See Also
--------
Chapter "Drift and estimated performance" (``book/06_drift_and_estimation.ipynb``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from closedloop.monitoring import drift_stats as st
from closedloop.monitoring._storage import MODEL_VERSION, TIMESTAMP, quote
from closedloop.monitoring.drift import (
    DRIFT_COLUMNS,
    MODEL_COLUMNS,
    DriftConfig,
    drift_table,
)
from closedloop.monitoring.drift_stats import ColumnSample, Kind, reduce_column
from closedloop.monitoring.store import InferenceLog
from closedloop.monitoring.windows import WINDOW_END, WINDOW_START, Granularity, window_start_sql

#: Index of the pseudo-column that counts the model versions of a window.
_MODELS = -1


def log_columns(log: InferenceLog) -> dict[str, Kind]:
    """The log's monitored columns with their kind: the contract's features (by declared kind),
    then ``prediction``, ``prediction_proba`` and ``ground_truth`` (as
    :func:`closedloop.monitoring.drift.drift_columns` on the frame the log reads as)."""
    kinds: dict[str, Kind] = {c.name: "categorical" if c.kind == "category" else "numeric"
                              for c in log.schema.features}
    kinds.update(MODEL_COLUMNS)
    return kinds


def value_counts_sql(kinds: Mapping[str, Kind], granularity: str | Granularity = "1d", *,
                     by_version: bool = False, table: str = "inference_log",
                     where: str = "") -> str:
    """One DuckDB query: counts per window, column and distinct value of ``table``.

    Returns rows ``(window_start, model_version, col, number, text, count)`` ordered by the
    first four and ``text``: ``col`` is the position of the column in ``kinds`` (-1 for the
    model versions, counted in ``text``), ``number`` the value of a numeric column as DOUBLE,
    ``text`` the value of a categorical one as VARCHAR; a null value is a row with both null.
    ``model_version`` is null unless ``by_version``.

    Examples
    --------
    >>> sql = value_counts_sql({"tenure": "numeric", "Contract": "categorical"})
    >>> "GROUPING SETS" in sql and "CAST(Contract AS VARCHAR)" in sql
    True
    """
    names = list(kinds)
    window = window_start_sql(TIMESTAMP, granularity, "duckdb")
    key = f"{MODEL_VERSION}" if by_version else "CAST(NULL AS VARCHAR)"
    values = [f"CAST({quote(n, 'any')} AS {'DOUBLE' if kinds[n] == 'numeric' else 'VARCHAR'}) "
              f"AS v{i}" for i, n in enumerate(names)]
    sets = ", ".join(f"(w, k, v{i})" for i in range(len(names)))
    which = " ".join(f"WHEN GROUPING(v{i}) = 0 THEN {i}" for i in range(len(names)))
    numbers = [f"v{i}" for i, n in enumerate(names) if kinds[n] == "numeric"]
    texts = [f"v{i}" for i, n in enumerate(names) if kinds[n] != "numeric"]
    number = f"COALESCE({', '.join(numbers)}, NULL)" if numbers else "CAST(NULL AS DOUBLE)"
    text = f"COALESCE({', '.join(texts)}, m)" if texts else "m"
    return (f"WITH rows AS (SELECT {window} AS w, {key} AS k, "
            f"CAST({MODEL_VERSION} AS VARCHAR) AS m, {', '.join(values)} FROM {table} {where}) "
            f"SELECT w AS {WINDOW_START}, k AS {MODEL_VERSION}, "
            f"CASE {which} ELSE {_MODELS} END AS col, {number} AS number, {text} AS text, "
            f"count(*) AS count FROM rows GROUP BY GROUPING SETS ({sets}, (w, k, m)) "
            f"ORDER BY {MODEL_VERSION} NULLS FIRST, {WINDOW_START}, col, number, text")


@dataclass
class LogSamples:
    """The monitored columns of one model version (or of all rows), reduced per window.

    ``windows`` has ``window_start`` and ``window_end`` in order, ``reduced[column][i]`` is the
    sample of window ``i``, ``models[i]`` the model versions of window ``i`` joined by commas.
    """

    windows: pd.DataFrame
    reduced: dict[str, list[ColumnSample]]
    models: list[str]


def log_samples(log: InferenceLog, granularity: str | Granularity = "1d", *,
                columns: Mapping[str, Kind] | None = None, by_version: bool = False,
                labels_as_of: str | pd.Timestamp | None = None,
                start: str | pd.Timestamp | None = None,
                end: str | pd.Timestamp | None = None) -> dict[str | None, LogSamples]:
    """The value counts of :func:`value_counts_sql`, as reduced samples per window.

    Returns ``{model version: LogSamples}`` when ``by_version``, else ``{None: LogSamples}``.
    One scan of the log; only the counts are fetched (as Arrow arrays, not Python objects, for
    the numbers).
    """
    kinds = dict(columns) if columns is not None else log_columns(log)
    grain = Granularity.parse(granularity)
    clauses = [f"{TIMESTAMP} {op} TIMESTAMP '{pd.Timestamp(t)}'"
               for op, t in ((">=", start), ("<", end)) if t is not None]
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    con = log.connect(labels_as_of=labels_as_of)
    try:
        result = con.sql(value_counts_sql(kinds, grain, by_version=by_version,
                                          where=where)).to_arrow_table()
    finally:
        con.close()
    starts = result.column(WINDOW_START).to_numpy().astype("datetime64[ns]")
    versions = result.column(MODEL_VERSION).to_numpy(zero_copy_only=False)
    col = result.column("col").to_numpy()
    number = result.column("number").to_numpy(zero_copy_only=False).astype(np.float64)
    text_arrow = result.column("text")
    count = result.column("count").to_numpy().astype(np.int64)
    if versions.size and by_version:
        keys = versions.astype(object)
    else:
        keys = np.full(col.size, None, dtype=object)
    # Segment boundaries: the rows are ordered by (version, window, column).
    change = np.ones(col.size, bool)
    if col.size > 1:
        change[1:] = ((keys[1:] != keys[:-1]) | (starts[1:] != starts[:-1])
                      | (col[1:] != col[:-1]))
    bounds = np.append(np.flatnonzero(change), col.size)
    names = list(kinds)
    empty = ColumnSample(st.Reduced(np.array([]), np.array([], dtype=np.int64)))
    grouped: dict[Any, dict[np.datetime64, dict[int, ColumnSample]]] = {}
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if lo == hi:
            continue
        j = int(col[lo])
        part = slice(lo, hi)
        counts = count[part]
        if j == _MODELS or kinds[names[j]] != "numeric":
            labels = np.asarray(text_arrow.slice(lo, hi - lo).to_pylist(), dtype=object)
            present = np.array([v is not None for v in labels], dtype=bool)
            values = labels[present]
            if values.size:
                values = np.asarray(values.tolist(), dtype=object)
        else:
            values = number[part]
            present = ~np.isnan(values)  # NaN is null, as in pandas
            values = values[present]
        sample = ColumnSample(st.Reduced(values, counts[present],
                                         int(counts[~present].sum())))
        grouped.setdefault(keys[lo], {}).setdefault(starts[lo], {})[j] = sample
    out: dict[str | None, LogSamples] = {}
    for key, by_window in grouped.items():
        order = sorted(by_window)
        window_starts = pd.DatetimeIndex(order)
        windows = pd.DataFrame({WINDOW_START: window_starts,
                                WINDOW_END: grain.end(pd.Series(window_starts))})
        reduced = {name: [by_window[w].get(j, empty) for w in order]
                   for j, name in enumerate(names)}
        models = [",".join(sorted(str(v) for v in by_window[w][_MODELS].reduced.values))
                  if _MODELS in by_window[w] else "" for w in order]
        out[None if key is None else str(key)] = LogSamples(windows, reduced, models)
    return out


def drift_from_log(log: InferenceLog, baseline: pd.DataFrame | None = None, *,
                   granularity: str | Granularity = "1d",
                   columns: Mapping[str, Kind] | Sequence[str] | None = None,
                   baselines: Mapping[str, pd.DataFrame] | None = None,
                   consecutive: bool = True, config: DriftConfig = DriftConfig(),
                   labels_as_of: str | pd.Timestamp | None = None,
                   start: str | pd.Timestamp | None = None,
                   end: str | pd.Timestamp | None = None) -> pd.DataFrame:
    """The drift table of an inference log, from DuckDB aggregates over its Parquet files.

    Equals :func:`closedloop.monitoring.drift.drift_metrics` on ``log.read(...)`` (and, with
    ``baselines``, what :func:`closedloop.monitoring.report.monitor` computes per version),
    without reading the rows into pandas.

    Parameters
    ----------
    log : InferenceLog
        The log; its contract names the monitored columns.
    baseline : DataFrame, optional
        The reference sample, reduced with pandas (it is small). Without it (and without
        ``baselines``) only consecutive drift is computed.
    granularity : str or Granularity
        Window width.
    columns : mapping or sequence, optional
        Columns to compare (default: features, ``prediction``, ``prediction_proba``,
        ``ground_truth``); a sequence takes the default kinds.
    baselines : mapping of str to DataFrame, optional
        One baseline per model version: the table is then computed per version (``baseline``
        for a version missing from the mapping) and gets a ``model_version`` column.
    consecutive : bool
        Also compare every window with the previous one.
    config : DriftConfig
        Bins, PSI epsilon and bands, and the decision rule.
    labels_as_of : str or Timestamp, optional
        Join only the labels arrived by then.
    start, end : str or Timestamp, optional
        Only the rows with ``start <= timestamp < end``.

    Returns
    -------
    DataFrame
        Columns :data:`~closedloop.monitoring.drift.DRIFT_COLUMNS` (plus ``model_version`` with
        ``baselines``).

    See Also
    --------
    closedloop.monitoring.drift.drift_metrics : the same table from a DataFrame.
    """
    known = log_columns(log)
    if columns is None:
        kinds = known
    elif isinstance(columns, Mapping):
        kinds = dict(columns)
    else:
        unknown = [c for c in columns if c not in known]
        if unknown:
            raise KeyError(f"no kind known for column(s) {unknown}: pass a mapping name -> kind")
        kinds = {c: known[c] for c in columns}
    by_version = baselines is not None
    samples = log_samples(log, granularity, columns=kinds, by_version=by_version,
                          labels_as_of=labels_as_of, start=start, end=end)
    label = Granularity.parse(granularity).label
    reduced_bases: dict[int, dict[str, ColumnSample] | None] = {}

    def reduce_baseline(frame: pd.DataFrame | None) -> dict[str, ColumnSample] | None:
        if frame is None:
            return None
        if id(frame) not in reduced_bases:
            missing = sorted(set(kinds) - set(frame.columns))
            if missing:
                raise KeyError(f"the baseline lacks the monitored column(s) {missing}")
            reduced_bases[id(frame)] = {name: reduce_column(frame[name], kind)[0]
                                        for name, kind in kinds.items()}
        return reduced_bases[id(frame)]

    tables = []
    for version in sorted(samples, key=lambda v: (len(v or ""), v or "")):
        part = samples[version]
        base = baseline if not by_version else baselines.get(version, baseline)  # type: ignore
        table = drift_table(part.windows, part.reduced, kinds, reduce_baseline(base),
                            granularity=label, models=part.models, consecutive=consecutive,
                            config=config)
        tables.append(table.assign(**{MODEL_VERSION: version}) if by_version else table)
    if not tables:
        return pd.DataFrame(columns=list(DRIFT_COLUMNS))
    table = pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]
    if by_version:
        table = table.sort_values([WINDOW_START, MODEL_VERSION], kind="stable",
                                  ignore_index=True)
    return table
