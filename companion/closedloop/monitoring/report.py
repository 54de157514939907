"""One monitoring run: profile, drift and estimated performance of the inference log, as one value.

:func:`monitor` reads the log and returns a :class:`MonitorReport` with three tables: the
production-accuracy profile per window (:func:`closedloop.monitoring.metrics.profile`), the drift
table (:func:`closedloop.monitoring.drift.drift_metrics`) and the label-free estimates
(:class:`closedloop.monitoring.estimate.CBPE`). It renders as HTML in a notebook and serialises to
JSON for ``closedloop monitor --json``.

The baseline is what "normal" looks like. :func:`holdout_reference` builds the usual one: the rows
of the champion's training table that it was *not* fitted on (its validation and test splits,
rebuilt from the split settings logged with its run), scored by the champion, with their labels.
Held-out rows matter twice: a model's probabilities on its own training rows are more extreme than
on new data, which would show up as drift of ``prediction_proba`` and would miscalibrate the
estimate.

See Also
--------
Chapter "Drift and estimated performance" (``book/06_drift_and_estimation.ipynb``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from closedloop.config import Workspace
from closedloop.contract.schema import Schema
from closedloop.monitoring._storage import GROUND_TRUTH, PREDICTION, PREDICTION_PROBA
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

    def alerts(self) -> pd.DataFrame:
        """The (window, column) pairs that drifted from the baseline, with the reason."""
        chosen = self.drift[(self.drift["drift_type"] == BASELINE) & self.drift["drift_detected"]]
        return chosen[["window_start", "column_name", "drift_reason",
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
            wide = self.estimate.pivot(index="window_start", columns="metric",
                                       values="estimated")
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
            drift_config: DriftConfig = DriftConfig(), random_state: int = 0) -> MonitorReport:
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
    """
    from closedloop.monitoring.metrics import profile

    grain = Granularity.parse(granularity)
    frame = log.read(labels_as_of=labels_as_of)
    if frame.empty:
        raise ValueError(f"the inference log in {log.workspace.root} is empty: score and log "
                         "predictions first")
    notes: list[str] = []
    drift = drift_metrics(frame, baseline, granularity=grain, schema=log.schema,
                          config=drift_config)
    estimate = pd.DataFrame()
    labelled = baseline is not None and {PREDICTION, PREDICTION_PROBA, GROUND_TRUTH} <= set(
        baseline.columns) and baseline[GROUND_TRUTH].notna().any()
    if labelled:
        estimate = CBPE(random_state=random_state).fit(baseline).estimate(frame, grain)
    else:
        notes.append("no estimate: the baseline needs prediction, prediction_proba and "
                     "ground_truth to calibrate it")
    return MonitorReport(grain.label, len(frame),
                         baseline_name if baseline is not None else "none (consecutive only)",
                         profile(frame, grain), drift, estimate, notes)


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
