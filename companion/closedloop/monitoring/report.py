"""One monitoring run: profile, drift and estimated performance of the inference log, as one value.

:func:`monitor` reads the log and returns a :class:`MonitorReport` with three tables: the
production-accuracy profile per window (:func:`closedloop.monitoring.metrics.profile`), the drift
table (:func:`closedloop.monitoring.drift.drift_metrics`) and the label-free estimates
(:class:`closedloop.monitoring.estimate.CBPE`). It renders as HTML in a notebook and serialises to
JSON for ``closedloop monitor --json``.

The baseline is what "normal" looks like. :func:`holdout_reference` builds the usual one: the rows
the model was *not* fitted on (its validation and test rows, as stored with the version; for an
older version rebuilt from its training table and the split settings logged with its run),
scored by the model, with their labels. With one baseline per model version
(:func:`version_baselines`), :func:`monitor` judges the rows each version predicted against that
version's own baseline.
Held-out rows matter twice: a model's probabilities on its own training rows are more extreme than
on new data, which would show up as drift of ``prediction_proba`` and would miscalibrate the
estimate.

See Also
--------
Chapter :doc:`Drift and estimated performance </book/06_drift_and_estimation>`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from closedloop.config import Workspace
from closedloop.contract.schema import Schema
from closedloop.monitoring._storage import (
    GROUND_TRUTH,
    MODEL_VERSION,
    PREDICTION,
    PREDICTION_PROBA,
)
from closedloop.monitoring.drift import BASELINE, DriftConfig, drift_metrics
from closedloop.monitoring.estimate import CBPE
from closedloop.monitoring.store import InferenceLog
from closedloop.monitoring.windows import Granularity


@dataclass
class MonitorReport:
    """Profile, drift and estimate tables of one monitoring run, and notes on what was skipped."""

    granularity: str
    rows: int
    baseline: str
    profile: pd.DataFrame
    drift: pd.DataFrame
    estimate: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    #: Drift and estimate were computed per model version, each against its own baseline.
    by_version: bool = False

    def alerts(self) -> pd.DataFrame:
        """The (window, column) pairs that drifted from the baseline, with the reason."""
        chosen = self.drift[(self.drift["drift_type"] == BASELINE) & self.drift["drift_detected"]]
        by_version = [MODEL_VERSION] if self.by_version else []
        return chosen[["window_start", *by_version, "column_name", "drift_reason",
                       "population_stability_index", "psi_band"]].reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: timestamps as ISO strings, NaN as None."""
        return {"granularity": self.granularity, "rows": self.rows, "baseline": self.baseline,
                "notes": self.notes, "alerts": _records(self.alerts()),
                "profile": _records(self.profile), "drift": _records(self.drift),
                "estimate": _records(self.estimate)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def summary(self) -> str:
        """A few lines for a terminal."""
        alerts = self.alerts()
        lines = [f"{self.rows:,} predictions in {self.profile['window_start'].nunique()} "
                 f"window(s) of {self.granularity}; baseline: {self.baseline}",
                 f"drift alerts: {len(alerts)}"]
        if len(alerts):
            lines.append(alerts.to_string(index=False, max_rows=20))
        if len(self.estimate):
            index = ["window_start", MODEL_VERSION] if self.by_version else "window_start"
            wide = self.estimate.pivot(index=index, columns="metric", values="estimated")
            lines += ["estimated performance (CBPE):", wide.round(3).to_string()]
        return "\n".join(lines + self.notes)

    def _repr_html_(self) -> str:
        return (f"<b>MonitorReport</b> {self.rows:,} predictions, granularity "
                f"{self.granularity}, baseline {self.baseline}<br>"
                + self.alerts().to_html(max_rows=20) + "".join(f"<p>{n}</p>" for n in self.notes))


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    def clean(value: Any) -> Any:
        if isinstance(value, pd.Timestamp):
            return value.isoformat()
        if value is None or value is pd.NA or value is pd.NaT:
            return None
        if isinstance(value, (float, np.floating)) and not math.isfinite(value):
            return None
        return value.item() if isinstance(value, np.generic) else value

    return [{k: clean(v) for k, v in row.items()} for row in table.to_dict("records")]


def monitor(log: InferenceLog, baseline: pd.DataFrame | None = None, *,
            granularity: str | Granularity = "1d", baseline_name: str = "given",
            labels_as_of: str | pd.Timestamp | None = None,
            drift_config: DriftConfig = DriftConfig(), random_state: int = 0,
            baselines: Mapping[str, pd.DataFrame] | None = None,
            engine: str = "duckdb") -> MonitorReport:
    """Profile, drift and estimated performance of ``log`` per window.

    Parameters
    ----------
    log : InferenceLog
        The inference log to monitor.
    baseline : DataFrame, optional
        What normal looks like (e.g. :func:`holdout_reference`): the monitored columns for drift;
        with ``prediction``, ``prediction_proba`` and ``ground_truth`` it also calibrates the
        estimate. Without it, only consecutive drift is computed and nothing is estimated.
    granularity : str or Granularity
        Window width.
    labels_as_of : str or Timestamp, optional
        Use only labels arrived by then (the log as it looked at that date).
    baselines : mapping of str to DataFrame, optional
        One baseline per model version (e.g. :func:`version_baselines`). With it, drift and
        estimate are computed per model version: the rows a version predicted are compared with,
        and calibrated on, that version's baseline (``baseline`` for a version missing from the
        mapping), and both tables get a ``model_version`` column. The profile is always per
        model version.
    engine : {"duckdb", "pandas"}
        ``"duckdb"`` (default) computes drift and profile from DuckDB aggregates over the log's
        Parquet files (:func:`closedloop.monitoring.aggregates.drift_from_log`) and reads only
        the score, prediction and label columns for the estimate
        (:func:`closedloop.monitoring.aggregates.estimate_from_log`); ``"pandas"`` reads the whole
        log into a DataFrame first (the reference implementation; same tables). A log with no
        batch files to scan (the table log of the ``databricks`` target,
        :class:`~closedloop.platform.delta_log.DeltaInferenceLog`) always takes the pandas
        path.

    Returns
    -------
    MonitorReport
    """
    from closedloop.monitoring.metrics import profile

    grain = Granularity.parse(granularity)
    if engine not in ("duckdb", "pandas"):
        raise ValueError(f"engine must be duckdb or pandas, not {engine!r}")
    if engine == "duckdb" and log.scans_files:
        return _monitor_duckdb(log, baseline, grain, baseline_name, labels_as_of, drift_config,
                               random_state, baselines)
    frame = log.read(labels_as_of=labels_as_of)
    if frame.empty:
        raise ValueError(f"the inference log in {log.workspace.root} is empty: score and log "
                         "predictions first")
    notes: list[str] = []
    by_version = baselines is not None and MODEL_VERSION in frame.columns
    if by_version:
        versions = frame[MODEL_VERSION].astype("object").astype(str)
        parts = [(v, frame[versions == v], baselines.get(v, baseline))
                 for v in sorted(versions.unique(), key=lambda v: (len(v), v))]
    else:
        parts = [(None, frame, baseline)]
    drifts, estimates = [], []
    for version, rows, base in parts:
        drift = drift_metrics(rows, base, granularity=grain, schema=log.schema,
                              config=drift_config)
        labelled = base is not None and {PREDICTION, PREDICTION_PROBA, GROUND_TRUTH} <= set(
            base.columns) and base[GROUND_TRUTH].notna().any()
        estimate = (CBPE(random_state=random_state).fit(base).estimate(rows, grain)
                    if labelled else pd.DataFrame())
        if not labelled:
            notes.append("no estimate" + (f" for version {version}" if by_version else "")
                         + ": the baseline needs prediction, prediction_proba and ground_truth "
                         "to calibrate it")
        if by_version:
            drift = drift.assign(**{MODEL_VERSION: version})
            estimate = estimate.assign(**{MODEL_VERSION: version}) if len(estimate) else estimate
        drifts.append(drift)
        estimates.append(estimate)
    drift = pd.concat(drifts, ignore_index=True) if len(drifts) > 1 else drifts[0]
    estimate = (pd.concat([e for e in estimates if len(e)], ignore_index=True)
                if any(len(e) for e in estimates) else pd.DataFrame())
    if by_version:
        drift = drift.sort_values(["window_start", MODEL_VERSION], kind="stable",
                                  ignore_index=True)
    return MonitorReport(grain.label, len(frame),
                         baseline_name if baseline is not None or by_version
                         else "none (consecutive only)",
                         profile(frame, grain), drift, estimate, notes, by_version)


def _labelled(base: pd.DataFrame | None) -> bool:
    return base is not None and {PREDICTION, PREDICTION_PROBA, GROUND_TRUTH} <= set(
        base.columns) and bool(base[GROUND_TRUTH].notna().any())


def _monitor_duckdb(log: InferenceLog, baseline: pd.DataFrame | None, grain: Granularity,
                    baseline_name: str, labels_as_of: Any, drift_config: DriftConfig,
                    random_state: int, baselines: Mapping[str, pd.DataFrame] | None
                    ) -> MonitorReport:
    """:func:`monitor` without reading the log into pandas: drift and profile from DuckDB
    aggregates, the estimate from the score, prediction and label columns only."""
    from closedloop.monitoring.aggregates import drift_from_log, estimate_from_log
    from closedloop.monitoring.metrics import profile

    rows = log.count()
    if rows == 0:
        raise ValueError(f"the inference log in {log.workspace.root} is empty: score and log "
                         "predictions first")
    by_version = baselines is not None
    drift = drift_from_log(log, baseline, granularity=grain, baselines=baselines,
                           config=drift_config, labels_as_of=labels_as_of)
    if by_version:
        found = log.query(f"SELECT DISTINCT CAST({MODEL_VERSION} AS VARCHAR) AS v "
                          "FROM predictions")["v"]
        parts = [(v, baselines.get(v, baseline))  # type: ignore[union-attr]
                 for v in sorted(found, key=lambda v: (len(v), v))]
    else:
        parts = [(None, baseline)]
    notes: list[str] = []
    estimates = []
    for version, base in parts:
        if not _labelled(base):
            notes.append("no estimate" + (f" for version {version}" if by_version else "")
                         + ": the baseline needs prediction, prediction_proba and ground_truth "
                         "to calibrate it")
            continue
        estimate = estimate_from_log(log, CBPE(random_state=random_state).fit(base), grain,
                                     model_version=version, labels_as_of=labels_as_of)
        if by_version and len(estimate):
            estimate = estimate.assign(**{MODEL_VERSION: version})
        estimates.append(estimate)
    estimate = (pd.concat([e for e in estimates if len(e)], ignore_index=True)
                if any(len(e) for e in estimates) else pd.DataFrame())
    return MonitorReport(grain.label, rows,
                         baseline_name if baseline is not None or by_version
                         else "none (consecutive only)",
                         profile(log, grain, labels_as_of=labels_as_of), drift, estimate, notes,
                         by_version)


def version_baselines(workspace: Workspace, versions: list[str] | tuple[str, ...], *,
                      model_name: str | None = None) -> dict[str, pd.DataFrame]:
    """:func:`holdout_reference` of every version in ``versions`` that stores its held-out rows.

    Versions registered before models stored them (their rows would have to be rebuilt from
    the table they were trained on) and versions no longer in the registry are left out.
    """
    from closedloop.model.holdout import stored_artifacts
    from closedloop.model.registry import DEFAULT_MODEL_NAME, HOLDOUT_ARTIFACT, RegistryError

    name = model_name or DEFAULT_MODEL_NAME
    found = {}
    for version in versions:
        try:
            stored = HOLDOUT_ARTIFACT in stored_artifacts(workspace, str(version),
                                                          model_name=name)
        except RegistryError:
            continue
        if stored:
            found[str(version)] = holdout_reference(workspace, alias=str(version),
                                                    model_name=name)
    return found


def holdout_reference(workspace: Workspace, data: pd.DataFrame | None = None,
                      schema: Schema | None = None, *, alias: str = "champion",
                      model_name: str | None = None) -> pd.DataFrame:
    """The rows the model behind ``alias`` was not fitted on, scored by it, with their labels.

    Those rows are the ones stored with the version (its validation rows, if it stored any, then
    its holdout: see :mod:`closedloop.model.holdout`). For a version registered before models
    stored them, the validation and test splits are rebuilt from ``data``, which must then be the
    table it was trained on (its hash is checked). ``data``, if given, must be that table in any
    case, and ``schema`` (default: the version's contract) must be the version's contract.

    Returns the rows with ``prediction``, ``prediction_proba`` and ``ground_truth`` (0/1).
    """
    from closedloop.model.holdout import (
        holdout_for,
        load_contract,
        load_validation_rows,
        resolve_version,
        split_config,
        stored_artifacts,
        training_run,
    )
    from closedloop.model.registry import DEFAULT_MODEL_NAME, HOLDOUT_ARTIFACT, load_model
    from closedloop.model.train import split_data

    name = model_name or DEFAULT_MODEL_NAME
    version = resolve_version(workspace, alias, model_name=name)
    test = holdout_for(workspace, version, data, schema, model_name=name)
    schema = load_contract(workspace, version, model_name=name)
    if HOLDOUT_ARTIFACT in stored_artifacts(workspace, version, model_name=name):
        valid = load_validation_rows(workspace, version, model_name=name)
    else:
        valid = split_data(data, schema,
                           split_config(training_run(workspace, version, model_name=name))).valid
    rows = pd.concat([x for x in (valid, test) if x is not None], ignore_index=True)
    scored = load_model(workspace, version, model_name=name).predict(rows[schema.feature_names])
    return rows.assign(**{PREDICTION: scored[PREDICTION].to_numpy(),
                          PREDICTION_PROBA: scored[PREDICTION_PROBA].to_numpy(),
                          GROUND_TRUTH: schema.target_as_int(rows).to_numpy()})


def fairness_windows(log: InferenceLog | pd.DataFrame, sensitive: list[str] | tuple[str, ...],
                     *, metric: str = "equal_opportunity_difference",
                     granularity: str | Granularity = "7d",
                     labels_as_of: str | pd.Timestamp | None = None,
                     by_version: bool = False, min_rows: int = 1, n_bootstrap: int = 200,
                     random_state: int = 0) -> pd.DataFrame:
    """A fairness disparity per window of the inference log's labelled rows.

    :func:`~closedloop.fairness.metrics.fairness_by_window` on the rows whose label has arrived (by
    ``labels_as_of`` when given), windowed by prediction time like :func:`monitor`'s tables.

    Parameters
    ----------
    log : InferenceLog or DataFrame
        The inference log, or rows already read from it (:meth:`~closedloop.monitoring.store.InferenceLog.read`).
    sensitive : sequence of str
        The sensitive columns (features stored in the log), one row per (window, column).
    metric : str
        A disparity of :data:`~closedloop.fairness.metrics.DISPARITIES` (or an alias).
    granularity : str or Granularity
        Window width (``"1d"``, ``"1w"``, ``"1mo"``, ...), the windows of :func:`monitor`.
    labels_as_of : str or Timestamp, optional
        Use only labels arrived by then (with an :class:`~closedloop.monitoring.store.InferenceLog`).
    by_version : bool
        One table per model version, stacked, with a ``model_version`` column.
    min_rows : int
        Windows with fewer labelled rows are left out.
    n_bootstrap, random_state : int
        The bootstrap of the intervals (0: no intervals).

    Returns
    -------
    DataFrame
        ``window_start``, (``model_version``,) ``column``, ``metric``, ``value``, ``ci_low``,
        ``ci_high``, ``labelled_rows``; empty when no row is labelled.
    """
    from closedloop.fairness import fairness_by_window

    frame = log if isinstance(log, pd.DataFrame) else log.read(labels_as_of=labels_as_of)
    missing = [c for c in sensitive if c not in frame.columns]
    if missing:
        raise ValueError(f"sensitive column(s) not in the inference log: {missing}")
    from closedloop.monitoring.windows import add_windows

    frame = add_windows(frame, Granularity.parse(granularity))

    def table(rows: pd.DataFrame) -> pd.DataFrame:
        return fairness_by_window(rows, list(sensitive), metric=metric, window="window_start",
                                  min_rows=min_rows, n_bootstrap=n_bootstrap,
                                  random_state=random_state)

    if not by_version:
        return table(frame)
    versions = frame[MODEL_VERSION].astype("object").astype(str)
    parts = [table(frame[versions == v]).assign(**{MODEL_VERSION: v})
             for v in sorted(versions.unique(), key=lambda v: (len(v), v))]
    out = pd.concat(parts, ignore_index=True) if parts else table(frame.iloc[:0])
    front = ["window_start", MODEL_VERSION]
    return out[[*front, *[c for c in out.columns if c not in front]]]
