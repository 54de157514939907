"""Reading the workspace monitor's profile and drift metric tables into the local report shapes.

:func:`drift_from_databricks` and :func:`profile_from_databricks` map the columns of the
data-quality monitor's output tables onto those of the local drift and profile tables
(:data:`DRIFT_COLUMN_MAP`, :data:`PROFILE_COLUMN_MAP`); :func:`statement_runner` runs the SQL
through the workspace's statement-execution API.

See Also
--------
Chapter :doc:`From laptop to workspace </book/11_laptop_to_workspace>`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from closedloop.monitoring.drift import DRIFT_COLUMNS, DriftConfig, psi_band
from closedloop.monitoring.metrics import COUNT_NAMES, METRIC_NAMES
from closedloop.platform.errors import MonitorTimeout, PlatformError, Query

#: Drift metrics table column (``struct.field`` for a struct field) -> local drift column.
DRIFT_COLUMN_MAP: Mapping[str, str] = {
    "window.start": "window_start", "window.end": "window_end",
    "window_cmp.start": "window_cmp_start", "window_cmp.end": "window_cmp_end",
    "drift_type": "drift_type", "granularity": "granularity", "column_name": "column_name",
    "data_type": "column_kind", "model_id_col": "model_id", "slice_key": "slice_key",
    "slice_value": "slice_value", "count_delta": "count_delta", "avg_delta": "avg_delta",
    "percent_null_delta": "percent_null_delta", "ks_test.statistic": "ks_statistic",
    "ks_test.pvalue": "ks_pvalue", "chi_squared_test.statistic": "chi_squared_statistic",
    "chi_squared_test.pvalue": "chi_squared_pvalue",
    "wasserstein_distance": "wasserstein_distance",
    "population_stability_index": "population_stability_index",
    "js_distance": "jensen_shannon_distance", "tv_distance": "tv_distance",
    "l_infinity_distance": "l_infinity_distance",
}


#: Profile metrics table column (``:table`` rows of the input log) -> local profile column.
PROFILE_COLUMN_MAP: Mapping[str, str] = {
    "window.start": "window_start", "window.end": "window_end", "granularity": "granularity",
    "model_id_col": "model_version", "slice_key": "slice_key", "slice_value": "slice_value",
    "count": "row_count", "accuracy_score": "accuracy",
    "precision.one_vs_all.1": "precision_binary", "precision.macro": "precision_macro",
    "precision.weighted": "precision_weighted", "recall.one_vs_all.1": "recall_binary",
    "recall.macro": "recall_macro", "recall.weighted": "recall_weighted",
    "f1_score.one_vs_all.1": "f1_binary", "f1_score.macro": "f1_macro",
    "f1_score.weighted": "f1_weighted",
}


# -- SQL -------------------------------------------------------------------------------------
def statement_runner(client: Any, warehouse_id: str, *, timeout: float = 600.0,
                     poll_interval: float = 1.0,
                     sleep: Callable[[float], None] = time.sleep) -> Query:
    """A ``query(sql) -> DataFrame`` on a SQL warehouse through the statement execution API.

    ``execute_statement`` (``POST /api/2.0/sql/statements``, inline JSON arrays, waiting up to
    30 s), then ``get_statement`` while the statement is pending or running, then
    ``get_statement_result_chunk_n`` for the further chunks. Values arrive as strings: numeric,
    boolean and timestamp columns are converted by the manifest's type, structs and maps are
    parsed from their JSON text.
    """
    from databricks.sdk.service import sql as s

    api = client.statement_execution

    def run(statement: str) -> pd.DataFrame:
        response = api.execute_statement(
            statement=statement, warehouse_id=warehouse_id, wait_timeout="30s",
            disposition=s.Disposition.INLINE, format=s.Format.JSON_ARRAY,
            on_wait_timeout=s.ExecuteStatementRequestOnWaitTimeout.CONTINUE)
        waited = 0.0
        while response.status.state in (s.StatementState.PENDING, s.StatementState.RUNNING):
            if waited >= timeout:
                raise MonitorTimeout(f"statement {response.statement_id} still "
                                     f"{response.status.state.name} after {waited:.1f} s")
            sleep(poll_interval)
            waited += poll_interval
            response = api.get_statement(response.statement_id)
        if response.status.state != s.StatementState.SUCCEEDED:
            error = response.status.error
            raise PlatformError(f"statement {response.statement_id} "
                                f"{response.status.state.name}: "
                                f"{error.message if error else 'no message'}")
        columns = response.manifest.schema.columns or []
        rows, chunk = [], response.result
        while chunk is not None:
            rows.extend(chunk.data_array or [])
            chunk = (api.get_statement_result_chunk_n(response.statement_id,
                                                      chunk.next_chunk_index)
                     if chunk.next_chunk_index is not None else None)
        frame = pd.DataFrame(rows, columns=[c.name for c in columns])
        for column in columns:
            frame[column.name] = _convert(frame[column.name], column.type_name)
        return frame

    return run


def _convert(values: pd.Series, type_name: Any) -> pd.Series:
    name = getattr(type_name, "value", str(type_name))
    if name in ("BYTE", "SHORT", "INT", "LONG", "FLOAT", "DOUBLE", "DECIMAL"):
        return pd.to_numeric(values)
    if name == "BOOLEAN":
        return values.map({"true": True, "false": False, None: None})
    if name in ("TIMESTAMP", "DATE"):
        return pd.to_datetime(values)
    if name in ("STRUCT", "MAP", "ARRAY"):
        return values.map(lambda v: json.loads(v) if isinstance(v, str) else v)
    return values


# -- metric tables -> local shapes ----------------------------------------------------------
def _get(value: Any, path: Sequence[str]) -> Any:
    for key in path:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if isinstance(value, str):
            value = json.loads(value)
        if hasattr(value, "asDict"):  # a pyspark Row
            value = value.asDict(recursive=True)
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _column(raw: pd.DataFrame, source: str) -> pd.Series:
    """One source column of a metric table; ``a.b`` reads field ``b`` of struct column ``a``."""
    head, *rest = source.split(".")
    if head == "model_id_col" and head not in raw.columns and "model_id" in raw.columns:
        head = "model_id"
    if head not in raw.columns:
        return pd.Series([None] * len(raw), index=raw.index, dtype=object)
    if not rest:
        return raw[head]
    return raw[head].map(lambda v: _get(v, rest))


def _naive(values: pd.Series) -> pd.Series:
    """Timestamps as the local tables hold them: naive, in UTC."""
    stamps = pd.to_datetime(values, utc=True)
    return stamps.dt.tz_localize(None).astype("datetime64[ns]")


def _granularity(values: pd.Series) -> pd.Series:
    return values.map(lambda g: OUTPUT_GRANULARITIES.get(g, g) if isinstance(g, str) else g)


def drift_from_databricks(raw: pd.DataFrame, config: DriftConfig = DriftConfig()
                          ) -> pd.DataFrame:
    """The workspace's drift metrics table as the local drift table.

    Columns :data:`~closedloop.monitoring.drift.DRIFT_COLUMNS`, mapped as
    :data:`DRIFT_COLUMN_MAP` says (module docstring); ``raw`` is the table as read (struct
    columns as dicts, JSON text or pyspark Rows).

    Examples
    --------
    >>> raw = pd.DataFrame({
    ...     "window": [{"start": "2026-01-05", "end": "2026-01-06"}] * 2,
    ...     "drift_type": "BASELINE", "granularity": "1 day", "model_id_col": "3",
    ...     "column_name": ["tenure", "Contract"], "data_type": ["int", "string"],
    ...     "ks_test": [{"statistic": 0.31, "pvalue": 1e-9}, None],
    ...     "chi_squared_test": [None, {"statistic": 2.1, "pvalue": 0.35}],
    ...     "population_stability_index": [0.42, 0.01]})
    >>> table = drift_from_databricks(raw)
    >>> table[["column_name", "column_kind", "value_test", "psi_band", "drift_detected"]]
      column_name  column_kind   value_test     psi_band  drift_detected
    0      tenure      numeric           ks  significant            True
    1    Contract  categorical  chi_squared       stable           False
    """
    if "column_name" in raw.columns:
        raw = raw[raw["column_name"] != ":table"]
    raw = raw.reset_index(drop=True)
    out = pd.DataFrame(index=raw.index, columns=list(DRIFT_COLUMNS), dtype=object)
    for source, target in DRIFT_COLUMN_MAP.items():
        out[target] = _column(raw, source).to_numpy()
    for name in ("window_start", "window_end", "window_cmp_start", "window_cmp_end"):
        out[name] = _naive(out[name])
    numeric = [c for c in DRIFT_COLUMNS if c not in {
        "window_start", "window_end", "window_cmp_start", "window_cmp_end", "drift_type",
        "granularity", "column_name", "column_kind", "value_test", "model_id", "slice_key",
        "slice_value", "psi_band", "type_mismatch", "drift_detected", "drift_reason"}]
    for name in numeric:
        out[name] = pd.to_numeric(out[name], errors="coerce").astype(float)
    out["granularity"] = _granularity(out["granularity"])
    out["column_kind"] = out["column_kind"].map(
        lambda t: "numeric" if isinstance(t, str) and t.lower().startswith(_NUMERIC_TYPES)
        else "categorical")
    out["value_test"] = np.select([out["ks_pvalue"].notna(), out["chi_squared_pvalue"].notna()],
                                  ["ks", "chi_squared"], None)
    out["psi_band"] = [psi_band(p, config) if not math.isnan(p) else "n/a"
                       for p in out["population_stability_index"]]
    out["type_mismatch"] = False
    value_p = out["ks_pvalue"].where(out["value_test"] == "ks", out["chi_squared_pvalue"])
    group = ["window_start", "drift_type", "model_id", "slice_key", "slice_value"]
    tests = value_p.notna().groupby([out[g] for g in group], dropna=False).transform("sum")
    level = config.alpha / tests.clip(lower=1)
    detected = (value_p < level) & ~(out["population_stability_index"] < config.min_psi)
    out["drift_detected"] = detected.astype(bool)
    out["drift_reason"] = np.where(detected, "values", "")
    return out[list(DRIFT_COLUMNS)]


def profile_from_databricks(raw: pd.DataFrame, custom: Iterable[str] = ()) -> pd.DataFrame:
    """The workspace's profile metrics table as the local profile table.

    Keeps the table-level rows (``column_name == ":table"``) of the input log (``log_type ==
    "INPUT"``), maps them as :data:`PROFILE_COLUMN_MAP` says and appends the ``custom`` metric
    columns (e.g. ``business_value``). Columns the workspace does not compute (the confusion
    counts but ``row_count``, the label coverage, the AUCs, log loss, Brier score) are NaN, and
    ``auc_reason`` says so.
    """
    if "column_name" in raw.columns:
        raw = raw[raw["column_name"] == ":table"]
    if "log_type" in raw.columns:
        raw = raw[raw["log_type"].fillna("INPUT") == "INPUT"]
    raw = raw.reset_index(drop=True)
    out = pd.DataFrame(index=raw.index)
    for source, target in PROFILE_COLUMN_MAP.items():
        out[target] = _column(raw, source).to_numpy()
    for name in ("window_start", "window_end"):
        out[name] = _naive(out[name])
    out["granularity"] = _granularity(out["granularity"])
    for name in (*COUNT_NAMES, "label_coverage", "positive_prediction_rate", "mean_proba",
                 "positive_label_rate", *METRIC_NAMES):
        out[name] = (pd.to_numeric(out[name], errors="coerce").astype(float) if name in out
                     else np.nan)
    out["auc_reason"] = "not computed by the workspace monitor"
    extra = [name for name in custom if name in raw.columns]
    for name in extra:
        out[name] = pd.to_numeric(raw[name], errors="coerce").astype(float)
    order = ["window_start", "window_end", "granularity", "model_version", "slice_key",
             "slice_value", *COUNT_NAMES, "label_coverage", "positive_prediction_rate",
             "mean_proba", "positive_label_rate", *METRIC_NAMES, "auc_reason", *extra]
    return out[order]

OUTPUT_GRANULARITIES: Mapping[str, str] = {
    "1 hour": "1h", "1 day": "1d", "1 week": "1w", "2 weeks": "2w", "3 weeks": "3w",
    "4 weeks": "4w", "1 month": "1mo",
}

_NUMERIC_TYPES = ("int", "long", "bigint", "short", "smallint", "tinyint", "byte", "float",
                  "double", "decimal")
