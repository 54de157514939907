"""Production accuracy and column statistics per time window, model version and slice.

:func:`profile` is the local equivalent of the profile-metrics table of Databricks Lakehouse
Monitoring's InferenceLog analysis: one row per window x model version (x slice), with the row
count, the label coverage, and every classification metric computed on the rows whose label has
arrived. :mod:`closedloop.monitoring.columns` describes the inputs and outputs the same way.

The aggregation is SQL (:func:`profile_sql`), written once for DuckDB and Spark: counts and the
confusion matrix are sums; ROC AUC is the Mann-Whitney rank sum with tied scores sharing their
average rank, and PR AUC is average precision over the distinct scores, so both equal
scikit-learn's ``roc_auc_score`` and ``average_precision_score`` exactly (the tests check to
1e-9), on any engine, from aggregates only. Rates derived from the confusion matrix follow
scikit-learn with ``zero_division=0``; a window without labels, or with one class only, gets NaN
AUCs and says why in ``auc_reason``.

Metric names say how they average: ``precision_binary`` is for the positive class,
``precision_macro`` the unweighted mean over both classes, ``precision_weighted`` the mean
weighted by each class's true count, so a binary F1 is never compared with a weighted one.

See Also
--------
Chapter :doc:`Ground truth and production accuracy </book/05_ground_truth>`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from closedloop.contract.schema import Schema
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.monitoring._storage import (
    GROUND_TRUTH,
    LABEL_ARRIVED_AT,
    MODEL_VERSION,
    PREDICTION,
    PREDICTION_PROBA,
    TIMESTAMP,
    duckdb_connection,
    restore_log_dtypes,
)
from closedloop.monitoring.store import InferenceLog
from closedloop.monitoring.windows import (
    WINDOW_END,
    WINDOW_START,
    Dialect,
    Granularity,
    assign_windows,
    window_start_sql,
)

#: Label metrics of the profile table, computed on labelled rows only.
METRIC_NAMES: tuple[str, ...] = (
    "accuracy", "precision_binary", "recall_binary", "f1_binary", "precision_macro",
    "recall_macro", "f1_macro", "precision_weighted", "recall_weighted", "f1_weighted",
    "roc_auc", "pr_auc", "log_loss", "brier",
)
#: Count columns of the profile table.
COUNT_NAMES: tuple[str, ...] = ("row_count", "labelled_count", "tn", "fp", "fn", "tp")
# scikit-learn's log_loss clips probabilities to [eps, 1 - eps] with float64's eps.
_EPS = float(np.finfo(np.float64).eps)
_TABLE = "monitoring_rows"  # the log after the time filter: what every aggregation reads

def profile(source: InferenceLog | pd.DataFrame, granularity: str | Granularity = "1d", *,
            by: Sequence[str] = (MODEL_VERSION,), slices: Sequence[str] = (),
            start: str | pd.Timestamp | None = None, end: str | pd.Timestamp | None = None,
            labels_as_of: str | pd.Timestamp | None = None) -> pd.DataFrame:
    """Classification metrics per time window, per ``by`` column and per slice.

    Parameters
    ----------
    source : InferenceLog or DataFrame
        The log, or a frame with its columns (e.g. :func:`~closedloop.monitoring.store.read_log`).
    granularity : str or Granularity
        Window width: ``"1h"``, ``"1d"``, ``"1w"``, ``"1mo"``, ...
    by : sequence of str
        Grouping columns besides the window (default: the model version).
    slices : sequence of str
        Further grouping columns, e.g. ``("Contract",)``; a null value is its own slice.
    start, end : str or Timestamp, optional
        Only predictions with ``start <= timestamp < end``.
    labels_as_of : str or Timestamp, optional
        Count only labels arrived by then: the metrics as they could be known at that date.

    Returns
    -------
    DataFrame
        One row per group: ``window_start``, ``window_end``, the grouping columns,
        :data:`COUNT_NAMES`, ``label_coverage`` (labelled / rows), ``positive_prediction_rate``
        and ``mean_proba`` (all rows), ``positive_label_rate`` and :data:`METRIC_NAMES`
        (labelled rows), and ``auc_reason`` (empty when the AUCs are defined).

    Examples
    --------
    >>> log = pd.DataFrame({
    ...     "timestamp": pd.to_datetime(["2026-01-01 08:00"] * 4 + ["2026-01-02 08:00"] * 2),
    ...     "model_version": "1", "prediction": [1, 0, 1, 0, 1, 0],
    ...     "prediction_proba": [0.9, 0.2, 0.6, 0.4, 0.7, 0.1],
    ...     "ground_truth": pd.array([1, 0, 0, None, 1, 1], dtype="Int64")})
    >>> table = profile(log, "1d")
    >>> table[["row_count", "label_coverage", "accuracy", "roc_auc"]]
       row_count  label_coverage  accuracy  roc_auc
    0          4            0.75  0.666667      1.0
    1          2            1.00  0.500000      NaN
    >>> table["auc_reason"].tolist()
    ['', 'no negative labels']
    """
    keys = [*by, *slices]
    return _run_profile(_duckdb_runner(source, keys, start, end, labels_as_of), granularity,
                        keys, "duckdb")


def _run_profile(run: Callable[[str], pd.DataFrame], granularity: str | Granularity,
                 keys: list[str], dialect: Dialect) -> pd.DataFrame:
    queries = profile_sql(granularity, keys, dialect, _TABLE)
    counts, ranks = run(queries["counts"]), run(queries["ranks"])
    return finish_profile(counts, ranks, granularity, keys)


def profile_sql(granularity: str | Granularity, keys: Sequence[str],
                dialect: Dialect = "duckdb", table: str = "inference_log") -> dict[str, str]:
    """The two aggregation queries behind :func:`profile`, for DuckDB or Spark SQL.

    ``counts`` returns the counts and sums per group; ``ranks`` the rank-sum and
    average-precision terms per group (labelled rows only). Both read ``table``, which has the
    columns of the inference log.
    """
    window = window_start_sql(TIMESTAMP, granularity, dialect)
    group = ", ".join([WINDOW_START, *keys])
    base = (f"SELECT {window} AS {WINDOW_START}, {', '.join([*keys, '']) if keys else ''}"
            f"{PREDICTION}, {PREDICTION_PROBA}, {GROUND_TRUTH} FROM {table}")
    y, p = GROUND_TRUTH, PREDICTION_PROBA
    cells = {"tn": (0, 0), "fp": (0, 1), "fn": (1, 0), "tp": (1, 1)}
    counts = ", ".join(
        f"sum(CASE WHEN {y} = {t} AND {PREDICTION} = {q} THEN 1 ELSE 0 END) AS {name}"
        for name, (t, q) in cells.items())
    # Exponent notation: a double literal in both engines (Spark reads 0.99... as a decimal).
    clipped = f"least(greatest({p}, {_EPS:.17e}), {1 - _EPS:.17e})"
    return {
        "counts": f"""
            WITH base AS ({base})
            SELECT {group}, count(*) AS row_count, count({y}) AS labelled_count, {counts},
                   avg(CAST({PREDICTION} AS DOUBLE)) AS positive_prediction_rate,
                   avg({p}) AS mean_proba,
                   avg(CAST({y} AS DOUBLE)) AS positive_label_rate,
                   avg(CASE WHEN {y} IS NOT NULL THEN ({p} - {y}) * ({p} - {y}) END) AS brier,
                   -avg(CASE WHEN {y} = 1 THEN ln({clipped})
                             WHEN {y} = 0 THEN ln(1 - {clipped}) END) AS log_loss
            FROM base GROUP BY {group}""",
        "ranks": f"""
            WITH base AS ({base}),
            ties AS (
                SELECT {group}, {p} AS score, sum({y}) AS pos, count(*) AS n
                FROM base WHERE {y} IS NOT NULL GROUP BY {group}, {p}),
            ranked AS (
                SELECT *,
                    sum(n) OVER (PARTITION BY {group} ORDER BY score
                                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS upto,
                    sum(pos) OVER (PARTITION BY {group} ORDER BY score DESC
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS tp_at,
                    sum(n) OVER (PARTITION BY {group} ORDER BY score DESC
                                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS n_at
                FROM ties)
            SELECT {group}, sum(pos) AS n_pos, sum(n) - sum(pos) AS n_neg,
                   sum(pos * (upto - (n - 1) / 2)) AS pos_rank_sum,
                   sum(pos * tp_at / n_at) AS ap_sum
            FROM ranked GROUP BY {group}""",
    }


def finish_profile(counts: pd.DataFrame, ranks: pd.DataFrame,
                   granularity: str | Granularity, keys: Sequence[str]) -> pd.DataFrame:
    """Turn the aggregates of :func:`profile_sql` (from any engine) into the profile table."""
    group = [WINDOW_START, *keys]
    ranks = ranks.reindex(columns=[*group, "n_pos", "n_neg", "pos_rank_sum", "ap_sum"])
    for frame in (counts, ranks):
        frame[WINDOW_START] = pd.to_datetime(frame[WINDOW_START]).astype("datetime64[ns]")
    table = counts.merge(ranks, on=group, how="left")  # pandas matches null slice keys
    table = table.sort_values(group, kind="stable", na_position="last").reset_index(drop=True)
    table.insert(1, WINDOW_END, Granularity.parse(granularity).end(table[WINDOW_START]))
    for name in COUNT_NAMES:
        table[name] = table[name].fillna(0).astype("int64")
    metrics = confusion_metrics(*(table[c].to_numpy(float) for c in ("tn", "fp", "fn", "tp")))
    n_pos, n_neg = table["n_pos"].fillna(0), table["n_neg"].fillna(0)
    defined = (n_pos > 0) & (n_neg > 0)
    metrics["roc_auc"] = ((table["pos_rank_sum"] - n_pos * (n_pos + 1) / 2)
                          / (n_pos * n_neg)).where(defined)
    metrics["pr_auc"] = (table["ap_sum"] / n_pos).where(defined)
    metrics["log_loss"], metrics["brier"] = table["log_loss"], table["brier"]
    reason = np.select([table["labelled_count"] == 0, n_pos == 0, n_neg == 0],
                       ["no labelled rows", "no positive labels", "no negative labels"], "")
    out = table[[*group[:1], WINDOW_END, *keys, *COUNT_NAMES]].copy()
    out["label_coverage"] = table["labelled_count"] / table["row_count"]
    for name in ("positive_prediction_rate", "mean_proba", "positive_label_rate"):
        out[name] = table[name].astype(float)
    for name in METRIC_NAMES:
        out[name] = pd.Series(metrics[name], index=out.index, dtype=float)
    out["auc_reason"] = reason
    return out


def confusion_metrics(tn: np.ndarray, fp: np.ndarray, fn: np.ndarray, tp: np.ndarray
                      ) -> dict[str, np.ndarray]:
    """Accuracy and binary / macro / weighted precision, recall and F1 from confusion counts.

    Follows scikit-learn with ``labels=[0, 1]`` and ``zero_division=0``; NaN where there are
    no labelled rows.

    Examples
    --------
    >>> m = confusion_metrics(np.array([3.0]), np.array([1.0]), np.array([2.0]), np.array([4.0]))
    >>> {k: round(float(v[0]), 4) for k, v in m.items() if k.startswith("f1")}
    {'f1_binary': 0.7273, 'f1_macro': 0.697, 'f1_weighted': 0.703}
    """
    tn, fp, fn, tp = (np.asarray(a, float) for a in (tn, fp, fn, tp))
    total = tn + fp + fn + tp
    with np.errstate(divide="ignore", invalid="ignore"):
        def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
            return np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)

        per_class = {  # class 1 then class 0
            "precision": (ratio(tp, tp + fp), ratio(tn, tn + fn)),
            "recall": (ratio(tp, tp + fn), ratio(tn, tn + fp)),
            "f1": (ratio(2 * tp, 2 * tp + fp + fn), ratio(2 * tn, 2 * tn + fn + fp)),
        }
        support1, support0 = tp + fn, tn + fp
        out = {"accuracy": ratio(tp + tn, total)}
        for name, (one, zero) in per_class.items():
            out[f"{name}_binary"] = one
            out[f"{name}_macro"] = (one + zero) / 2
            out[f"{name}_weighted"] = ratio(support1 * one + support0 * zero, total)
    return {k: np.where(total > 0, v, np.nan) for k, v in out.items()}


def classification_metrics(y_true: Sequence[int] | np.ndarray, prediction: Sequence[int] |
                           np.ndarray, proba: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """All :data:`METRIC_NAMES` for one set of labelled rows (one window, one group).

    The same numbers :func:`profile` gives for a window holding exactly these rows.

    Examples
    --------
    >>> m = classification_metrics([0, 0, 1, 1], [0, 1, 0, 1], [0.1, 0.6, 0.4, 0.9])
    >>> m["roc_auc"], m["f1_binary"], m["auc_reason"]
    (0.75, 0.5, '')
    """
    frame = pd.DataFrame({TIMESTAMP: pd.Timestamp("2000-01-03"), PREDICTION: prediction,
                          PREDICTION_PROBA: proba,
                          GROUND_TRUTH: pd.array(np.asarray(y_true), dtype="Int64")})
    row = profile(frame, "1d", by=()).iloc[0]
    return {name: float(row[name]) for name in METRIC_NAMES} | {"auc_reason": row["auc_reason"]}


def label_coverage(source: InferenceLog | pd.DataFrame, as_of: Sequence[str | pd.Timestamp],
                   granularity: str | Granularity = "1d") -> pd.DataFrame:
    """Share of each window's predictions whose label had arrived by each date in ``as_of``.

    The delayed-label timeline: coverage grows window by window as labels arrive.

    Examples
    --------
    >>> log = pd.DataFrame({"timestamp": pd.to_datetime(["2026-01-01", "2026-01-01"]),
    ...                     "label_arrived_at": pd.to_datetime(["2026-01-05", None])})
    >>> label_coverage(log, ["2026-01-03", "2026-01-10"])[["as_of", "label_coverage"]]
           as_of  label_coverage
    0 2026-01-03             0.0
    1 2026-01-10             0.5
    """
    frame = source.read(columns=[TIMESTAMP, LABEL_ARRIVED_AT]) if isinstance(
        source, InferenceLog) else source
    window = assign_windows(frame[TIMESTAMP], granularity)
    arrived = pd.to_datetime(frame[LABEL_ARRIVED_AT])
    rows = []
    for date in pd.to_datetime(list(as_of)):
        # A window that had not started by the date has no predictions to cover yet.
        known = (arrived <= date).groupby(window[frame[TIMESTAMP] <= date]).agg(["size", "mean"])
        rows.append(known.rename(columns={"size": "row_count", "mean": "label_coverage"})
                    .rename_axis(WINDOW_START).reset_index().assign(as_of=date))
    out = pd.concat(rows, ignore_index=True)
    return out[[WINDOW_START, "as_of", "row_count", "label_coverage"]]


def _duckdb_runner(source: InferenceLog | pd.DataFrame, keys: list[str], start: Any, end: Any,
                   labels_as_of: Any, extra: Sequence[str] = (),
                   schema: Schema = TELCO_SCHEMA) -> Callable[[str], pd.DataFrame]:
    """A function that runs SQL against ``inference_log`` = the source, filtered by time."""
    if isinstance(source, InferenceLog):
        con = source.connect(labels_as_of=labels_as_of)
    else:
        frame = source
        if labels_as_of is not None and LABEL_ARRIVED_AT in frame.columns:
            late = pd.to_datetime(frame[LABEL_ARRIVED_AT]) > pd.Timestamp(labels_as_of)
            frame = frame.assign(**{GROUND_TRUTH: frame[GROUND_TRUTH].mask(late)})
        needed = [TIMESTAMP, *keys, *extra, *[c for c in (PREDICTION, PREDICTION_PROBA,
                  GROUND_TRUTH) if c in frame.columns]]
        # Normalise what pandas may have loosened (Int64 or float labels, object nulls).
        frame = restore_log_dtypes(frame[list(dict.fromkeys(needed))], schema)
        con = duckdb_connection()
        con.register("log_frame", frame)
        con.execute("CREATE TEMP VIEW inference_log AS SELECT * FROM log_frame")
    con.execute(f"CREATE TEMP VIEW {_TABLE} AS SELECT * FROM inference_log "
                f"{_time_filter(start, end)}")

    def run(sql: str) -> pd.DataFrame:
        return con.sql(sql).df()

    return run


def _time_filter(start: Any, end: Any) -> str:
    clauses = [f"{TIMESTAMP} {op} TIMESTAMP '{pd.Timestamp(t)}'"
               for op, t in ((">=", start), ("<", end)) if t is not None]
    return ("WHERE " + " AND ".join(clauses)) if clauses else ""
