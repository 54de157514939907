"""The MLflow record of a retraining: one parent run, one child run per step.

A process can die in the middle of a retraining (out of memory, a node taken away, SIGKILL);
its runs then stay ``RUNNING`` for ever. Every parent run records the ``pid`` and ``host`` that
runs it, every step that completes is tagged ``closedloop.step_status=ok``, and the parent gets
``closedloop.registered_version`` as soon as step 7 has registered a version. Before a new
retraining starts, :func:`close_stale_runs` closes the runs of dead processes: ``FAILED`` with
the reason (outcome ``crashed``, which the cool-down does not count), or ``FINISHED`` as
``promoted`` when the version it registered is already ``@champion`` (it died after the
promotion, which is then recognised instead of repeated).

See Also
--------
Chapter :doc:`Automated retraining </book/08_automated_retraining>`.
"""

from __future__ import annotations

import json
import os
import socket
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
#: Tags of the parent run: process, host, champion before, registered version, outcome.
PID, HOST = "closedloop.pid", "closedloop.host"
CHAMPION_BEFORE, REGISTERED = "closedloop.champion_before", "closedloop.registered_version"
OUTCOME, REASON, STEP_STATUS = "closedloop.outcome", "closedloop.reason", "closedloop.step_status"
#: Outcome of a run whose process died; the cool-down ignores it.
CRASHED = "crashed"
#: Where :func:`closedloop.model.ledger.fault` can kill a retraining (fault-injection tests).
FAULT_POINTS = ("retrain:after_prepare", "retrain:in_register", "retrain:after_register",
                "retrain:after_promote")
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
                                        tags={"closedloop.as_of": str(as_of), **tags,
                                              PID: str(os.getpid()),
                                              HOST: socket.gethostname()})
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
        self.client.set_tag(run_id, STEP_STATUS, "ok")  # done: FINISHED alone could be a crash
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
        self.client.set_tag(self.parent_id, OUTCOME, outcome)
        self.client.set_tag(self.parent_id, REASON, reason[:5000])
        if decision is not None:
            self.client.log_text(self.parent_id, json.dumps(decision.to_dict(), indent=1,
                                                            default=str), "decision.json")
        status = "FAILED" if outcome == "stopped" else "FINISHED"
        self.client.set_terminated(self.parent_id, status)


@dataclass(frozen=True)
class StaleRun:
    """A retraining run whose process died, as :func:`close_stale_runs` closed it."""

    run_id: str
    #: ``crashed``, or ``promoted`` when its registered version was already the champion.
    outcome: str
    reason: str
    as_of: str | None
    champion_before: str | None
    registered_version: str | None


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (``os.kill(pid, 0)``: no signal is sent)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def stale_reason(tags: dict[str, str], start_time_ms: int, *, stale_after_hours: float,
                 now: float | None = None) -> str | None:
    """Why a ``RUNNING`` run is stale, or None while its process may still be working.

    On the host it ran on, the recorded pid decides (a live process is never stale, however
    long it takes); elsewhere, or without a pid, age decides: older than
    ``stale_after_hours``.
    """
    pid, host = tags.get(PID), tags.get(HOST)
    if pid and host == socket.gethostname():
        if int(pid) != os.getpid() and not process_alive(int(pid)):
            return f"its process {pid} on {host} is gone"
        return None
    hours = ((time.time() if now is None else now) - start_time_ms / 1000) / 3600
    if hours > stale_after_hours:
        where = f"process {pid} on {host}" if pid else "no process recorded"
        return f"still RUNNING after {hours:.1f} h ({where}, limit {stale_after_hours:g} h)"
    return None


def close_stale_runs(workspace: Workspace, model_name: str, *,
                     stale_after_hours: float = 6.0) -> list[StaleRun]:
    """Close the retraining runs of ``model_name`` left ``RUNNING`` by a dead process.

    First any half-done promotion is finished or undone
    (:func:`closedloop.model.promotion.recover`), so the aliases are consistent. Then, for each
    stale parent run (:func:`stale_reason`): if the version it registered
    (``closedloop.registered_version``) is ``@champion`` and was not before the run, the
    process died after promoting it: the run is closed ``FINISHED`` with outcome ``promoted``
    and its promote step as done. Otherwise it is closed ``FAILED`` with outcome ``crashed``
    (ignored by the cool-down), and a version it registered but did not promote is tagged
    ``closedloop.abandoned``. Every step of the run not tagged as done is closed ``FAILED``
    with the reason, even one that an inner ``mlflow.start_run`` had already marked
    ``FINISHED``.

    Returns
    -------
    list of StaleRun
        The runs closed, oldest first.
    """
    from closedloop.model.promotion import recover
    from closedloop.model.registry import CHAMPION, aliases

    model_name = workspace.model_name(model_name)  # catalog.schema.name in Unity Catalog
    client = workspace.client()
    with workspace.mlflow(RETRAIN_EXPERIMENT) as experiment_id:
        running = client.search_runs([experiment_id], filter_string=(
            f"attributes.status = 'RUNNING' and tags.`closedloop.model_name` = '{model_name}'"),
            order_by=["attributes.start_time ASC"], max_results=1000)
    stale = [(run, why) for run in running
             if (why := stale_reason(run.data.tags, run.info.start_time,
                                     stale_after_hours=stale_after_hours))]
    if not stale:
        return []
    recover(workspace, model_name)
    champion = aliases(workspace, model_name).get(CHAMPION)
    closed = []
    for run, why in stale:
        tags = run.data.tags
        registered, before = tags.get(REGISTERED), tags.get(CHAMPION_BEFORE)
        promoted = registered is not None and registered == champion and registered != before
        now = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M:%S UTC")
        if promoted:
            outcome = "promoted"
            reason = (f"v{registered} promoted to @champion, then the run was interrupted "
                      f"({why}); recognised and closed at {now}")
        else:
            outcome = CRASHED
            reason = f"crashed: {why}; closed at {now}, the champion untouched by this run"
            if registered is not None:
                client.set_model_version_tag(model_name, registered, "closedloop.abandoned",
                                             f"registered by crashed retraining run "
                                             f"{run.info.run_id}, never promoted")
        _close_steps(client, experiment_id, run.info.run_id, why, promoted)
        client.set_tag(run.info.run_id, OUTCOME, outcome)
        client.set_tag(run.info.run_id, REASON, reason)
        client.set_terminated(run.info.run_id, "FINISHED" if promoted else "FAILED")
        closed.append(StaleRun(run.info.run_id, outcome, reason, tags.get("closedloop.as_of"),
                               before, registered))
    return closed


def _close_steps(client: Any, experiment_id: str, parent_id: str, why: str,
                 promoted: bool) -> None:
    children = client.search_runs([experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{parent_id}'",
                                  max_results=100)
    for child in children:
        if child.data.tags.get(STEP_STATUS) == "ok":
            continue
        if promoted and child.data.tags.get("closedloop.step") == "promote":
            client.set_tag(child.info.run_id, STEP_STATUS, "ok")
            client.set_tag(child.info.run_id, "closedloop.note",
                           f"the promotion was made; the process died before recording it ({why})")
            client.set_terminated(child.info.run_id, "FINISHED")
            continue
        client.set_tag(child.info.run_id, "closedloop.failure",
                       f"interrupted: {why}")
        client.set_terminated(child.info.run_id, "FAILED")


def _flatten(details: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in details.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        elif isinstance(value, (str, int, float, bool)) or value is None:
            out[name] = value
    return out
