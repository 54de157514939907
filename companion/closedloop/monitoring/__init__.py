"""Monitoring: the inference log, delayed ground truth, windowed metrics, drift and estimates.

Modules, one job each: :mod:`~closedloop.monitoring.store` (the inference log: atomic appends,
DuckDB queries), :mod:`~closedloop.monitoring.windows` (time windows shared by every engine),
:mod:`~closedloop.monitoring.ground_truth` (idempotent label backfill),
:mod:`~closedloop.monitoring.metrics` (production accuracy per window),
:mod:`~closedloop.monitoring.columns` (column statistics per window) and
:mod:`~closedloop.monitoring.spark` (the same computations on Spark);
:mod:`~closedloop.monitoring.drift` (drift per window and column, against a baseline and the
previous window), :mod:`~closedloop.monitoring.estimate` (performance estimated before the labels
arrive), :mod:`~closedloop.monitoring.spark_drift` (the drift table on Spark) and
:mod:`~closedloop.monitoring.report` (profile, drift and estimate of one monitoring run);
:mod:`~closedloop.monitoring.plots` (its figures).
Importing this package loads none of DuckDB, pyarrow or Spark; each is imported when first used.

See Also
--------
Chapter :doc:`Ground truth and production accuracy </book/05_ground_truth>`; chapter :doc:`Drift and estimated performance </book/06_drift_and_estimation>`.
"""

from __future__ import annotations

import importlib
from typing import Any

from closedloop.monitoring._storage import (
    GROUND_TRUTH,
    LABEL_ARRIVED_AT,
    MODEL_NAME,
    MODEL_VERSION,
    PREDICTION,
    PREDICTION_ID,
    PREDICTION_PROBA,
    TIMESTAMP,
)
from closedloop.monitoring.store import AppendResult, InferenceLog, log_predictions, read_log
from closedloop.monitoring.windows import (
    WINDOW_END,
    WINDOW_START,
    Granularity,
    add_windows,
    assign_windows,
)

# name -> module that defines it; resolved lazily by __getattr__ (PEP 562).
_LAZY = {
    "BackfillResult": "ground_truth", "backfill": "ground_truth",
    "labels_from_stream": "ground_truth", "LabelContractError": "ground_truth",
    "profile": "metrics", "column_profile": "columns", "category_frequencies": "columns",
    "classification_metrics": "metrics", "label_coverage": "metrics", "METRIC_NAMES": "metrics",
    "validate_labels": "ground_truth", "read_labels": "ground_truth",
    "spark_session": "spark", "SparkUnavailableError": "spark", "read_log_spark": "spark",
    "profile_spark": "spark",
    "column_profile_spark": "spark", "category_frequencies_spark": "spark",
    "drift_metrics": "drift", "column_drift": "drift", "DriftConfig": "drift",
    "psi_band": "drift", "drift_summary": "drift", "CBPE": "estimate",
    "estimate_performance": "estimate", "drift_metrics_spark": "spark_drift",
    "monitor": "report", "MonitorReport": "report", "holdout_reference": "report",
    "version_baselines": "report",
    "plot_label_timeline": "plots", "plot_metrics_over_time": "plots",
    "plot_drift_heatmap": "plots", "plot_psi_bands": "plots", "plot_estimate": "plots",
    "plot_scaling": "plots", "estimate_from_log": "aggregates", "drift_from_log": "aggregates",
}

__all__ = [
    "AppendResult", "GROUND_TRUTH", "Granularity", "InferenceLog", "LABEL_ARRIVED_AT",
    "MODEL_NAME", "MODEL_VERSION", "PREDICTION", "PREDICTION_ID", "PREDICTION_PROBA",
    "TIMESTAMP", "WINDOW_END", "WINDOW_START", "add_windows", "assign_windows", "log_predictions",
    "read_log",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"closedloop.monitoring.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'closedloop.monitoring' has no attribute {name!r}")
