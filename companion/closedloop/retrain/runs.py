"""The MLflow record of a retraining: one parent run, one child run per step.

See Also
--------
Chapter "Automated retraining" (``book/08_automated_retraining.ipynb``).
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from closedloop.config import Workspace
from closedloop.retrain.steps import (
    StepFailed,
)
from closedloop.retrain.triggers import (
    RetrainDecision,
)

RETRAIN_EXPERIMENT = "closedloop-retraining"
STEPS = ("assess", "prepare", "validate", "champion_params", "retrain", "compare", "register",
         "gates", "promote")


@dataclass
class StepRecord:
    """One step of a retraining run: status (``ok``, ``failed``, ``skipped``), time, details."""

    number: int
    name: str
    status: str
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)



class _Steps:
    """Creates the parent run and one child run per step with the MLflow client."""

    def __init__(self, workspace: Workspace, as_of: pd.Timestamp, tags: dict[str, str]) -> None:
        self.workspace, self.client = workspace, workspace.client()
        with workspace.mlflow(RETRAIN_EXPERIMENT) as experiment_id:
            self.experiment_id = experiment_id
        parent = self.client.create_run(self.experiment_id, run_name=f"retrain-{as_of:%Y-%m-%d}",
                                        tags={"closedloop.as_of": str(as_of), **tags})
        self.parent_id = parent.info.run_id
        self.records: list[StepRecord] = []

    def run(self, name: str, action: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
        number = STEPS.index(name) + 1
        child = self.client.create_run(self.experiment_id, run_name=f"{number}. {name}", tags={
            "mlflow.parentRunId": self.parent_id, "closedloop.step": name,
            "closedloop.step_number": str(number)})
        run_id = child.info.run_id
        started = time.perf_counter()
        try:
            details = action(run_id)
        except BaseException as err:
            seconds = time.perf_counter() - started
            reason = str(err) if isinstance(err, StepFailed) else (
                f"{type(err).__name__}: {err}")
            self.records.append(StepRecord(number, name, "failed", seconds,
                                           {"summary": reason}, run_id))
            self.client.set_tag(run_id, "closedloop.failure", reason[:5000])
            if not isinstance(err, StepFailed):
                self.client.log_text(run_id, traceback.format_exc(), "traceback.txt")
            self.client.set_terminated(run_id, "FAILED")
            raise
        seconds = time.perf_counter() - started
        self.records.append(StepRecord(number, name, "ok", seconds, details, run_id))
        self._log(run_id, details, seconds)
        self.client.set_terminated(run_id, "FINISHED")
        return details

    def _log(self, run_id: str, details: dict[str, Any], seconds: float) -> None:
        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        flat = _flatten(details)
        metrics = [Metric(k, float(v), now, 0) for k, v in flat.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)
                   and np.isfinite(v)]
        params = [Param(k, str(v)[:6000]) for k, v in flat.items()
                  if not isinstance(v, (int, float)) or isinstance(v, bool)]
        self.client.log_batch(run_id, metrics=[*metrics, Metric("seconds", seconds, now, 0)],
                              params=params[:100])
        self.client.log_text(run_id, json.dumps(details, indent=1, default=str), "step.json")

    def finish(self, outcome: str, reason: str, decision: RetrainDecision | None) -> None:
        self.client.set_tag(self.parent_id, "closedloop.outcome", outcome)
        self.client.set_tag(self.parent_id, "closedloop.reason", reason[:5000])
        if decision is not None:
            self.client.log_text(self.parent_id, json.dumps(decision.to_dict(), indent=1,
                                                            default=str), "decision.json")
        status = "FAILED" if outcome == "stopped" else "FINISHED"
        self.client.set_terminated(self.parent_id, status)


def _flatten(details: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in details.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        elif isinstance(value, (str, int, float, bool)) or value is None:
            out[name] = value
    return out
