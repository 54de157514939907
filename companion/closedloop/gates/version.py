"""Gate a registered version: its holdout, compared with the champion, the verdict logged.

:func:`gate_version` is what ``closedloop validate`` runs. It takes the version's own holdout
as stored with it (for an older version: rebuilt from the table it was trained on, with the
parameters of its training run, refusing another table), scores the version and the current
``@champion`` on those same rows through :func:`closedloop.gates.run.run_gates`, and hands the
report to :func:`log_gate_report`: a run in the ``closedloop-gates`` experiment with the report
as a JSON artifact, one tag per check and the verdict on the model version, where
:func:`~closedloop.model.promotion.promote` reads it.

See Also
--------
Chapter :doc:`Quality gates </book/04_quality_gates>`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from closedloop.config import Workspace
from closedloop.contract.schema import Schema
from closedloop.gates.config import GateConfig
from closedloop.gates.run import GateReport, run_gates
from closedloop.model.holdout import (
    holdout_for,
    load_contract,
    split_signature,
    training_run,
)
from closedloop.model.promotion import recover
from closedloop.model.registry import (
    CHALLENGER,
    CHAMPION,
    DEFAULT_MODEL_NAME,
    GATE_CHAMPION_TAG,
    GATE_CHECK_PREFIX,
    GATE_VERDICT_TAG,
    TAG,
    RegistryError,
    aliases,
    load_model,
)

GATES_EXPERIMENT = "closedloop-gates"
REPORT_ARTIFACT = "gate_report.json"










def gate_version(workspace: Workspace, data: pd.DataFrame | None = None,
                 schema: Schema | None = None, version: str | None = None,
                 config: GateConfig | str = "telecom_churn", *,
                 model_name: str = DEFAULT_MODEL_NAME, log: bool = True) -> GateReport:
    """Run the quality gates on a registered version (default ``@challenger``, or the
    ``@champion`` when there is no challenger, e.g. after a promotion) and log them.

    The holdout is the version's own, as stored with it (:func:`~closedloop.model.holdout.holdout_for`), and the schema
    its own contract; the ``@champion``, if there is one and it is another version, is scored
    on the same rows. If the champion was
    trained on another split, some holdout rows may be its training rows, which favours the
    champion; the report says so in its notes.

    Parameters
    ----------
    workspace : Workspace
        Where the registry lives.
    data : pandas.DataFrame, optional
        The table the version was trained on: needed only for a version registered before
        models stored their holdout; if given, it must be that table (its hash is checked).
    schema : Schema, optional
        Its data contract (default: the version's own; if given, it must be the same).
    version : str or None
        The version to gate; None means the current ``@challenger``, else the ``@champion``.
    config : GateConfig or str
        Gate configuration, preset name or YAML/JSON path.
    model_name : str
        The registered model.
    log : bool
        Log the report and the verdict to MLflow (:func:`log_gate_report`).

    Returns
    -------
    GateReport
    """
    model_name = workspace.model_name(model_name)  # catalog.schema.name in Unity Catalog
    recover(workspace, model_name)  # an interrupted promotion must not hide the champion
    current = aliases(workspace, model_name)
    version = str(version or current.get(CHALLENGER) or current.get(CHAMPION) or "")
    if not version:
        raise RegistryError(f"{model_name} has no @{CHALLENGER} (nor @{CHAMPION}) to validate; "
                            "pass a version")
    holdout = holdout_for(workspace, version, data, schema, model_name=model_name)
    schema = load_contract(workspace, version, model_name=model_name)
    champion_version = current.get(CHAMPION)
    notes = []
    if champion_version == version:
        notes.append(f"version {version} is the champion itself: no comparison")
        champion_version = None
    champion = None
    if champion_version is not None:
        champion = load_model(workspace, champion_version, model_name=model_name)
        runs = [training_run(workspace, v, model_name=model_name)
                for v in (version, champion_version)]
        if split_signature(runs[0]) != split_signature(runs[1]):
            notes.append(f"champion v{champion_version} was trained on another split: part of "
                         "this holdout may be its training data, which favours the champion")
    report = run_gates(load_model(workspace, version, model_name=model_name), holdout, schema,
                       config, champion=champion, model_label=f"{model_name} v{version}",
                       champion_label=f"v{champion_version}", model_name=model_name,
                       model_version=version, champion_version=champion_version, notes=notes)
    if log:
        log_gate_report(workspace, report)
    return report


def log_gate_report(workspace: Workspace, report: GateReport, *, version: str | None = None,
                    model_name: str | None = None) -> str:
    """Log ``report`` for a model version; returns the id of the gates run.

    The version's previous verdict is withdrawn first, so a failure half-way leaves the version
    without a verdict (which :func:`~closedloop.model.promotion.promote` refuses), never with a stale
    ``passed``. Then: a run in ``closedloop-gates`` with the report as ``gate_report.json``, its
    numeric values as metrics and the verdict as a tag; on the version, one
    ``closedloop.gate.<check>`` tag per check, the champion compared against, the run id, and
    ``closedloop.gate_verdict`` last.
    """
    import mlflow

    model_name = workspace.model_name(model_name or report.model_name or DEFAULT_MODEL_NAME)
    version = str(version or report.model_version or "")
    if not version:
        raise ValueError("which model version is this report for? pass version=")
    client = workspace.client()
    for key in client.get_model_version(model_name, version).tags:
        if key == GATE_VERDICT_TAG or key.startswith(GATE_CHECK_PREFIX):
            client.delete_model_version_tag(model_name, version, key)
    champion = report.champion_version or ("unregistered" if report.champion else "none")
    with workspace.mlflow(GATES_EXPERIMENT), mlflow.start_run(run_name=f"gates-v{version}") as run:
        mlflow.set_tags({f"{TAG}model_name": model_name, f"{TAG}model_version": version,
                         GATE_VERDICT_TAG: report.verdict, GATE_CHAMPION_TAG: champion,
                         f"{TAG}gate_config": str(report.config.get("name"))})
        mlflow.log_metrics({c.name: float(c.value) for c in report.checks
                            if isinstance(c.value, (int, float)) and np.isfinite(c.value)})
        mlflow.log_text(report.to_json(), REPORT_ARTIFACT)
    tags = {f"{GATE_CHECK_PREFIX}{c.name}": "passed" if c.passed else "failed"
            for c in report.checks}
    tags.update({GATE_CHAMPION_TAG: champion, f"{TAG}gate_run_id": run.info.run_id,
                 f"{TAG}gate_config": str(report.config.get("name")),
                 f"{TAG}gated_at": report.created_at})
    for key, value in {**tags, GATE_VERDICT_TAG: report.verdict}.items():
        client.set_model_version_tag(model_name, version, key, value)
    return run.info.run_id


def gate_status(workspace: Workspace, version: str, *,
                model_name: str = DEFAULT_MODEL_NAME) -> dict[str, Any]:
    """The gate tags of a version: verdict (``missing`` if never gated), champion, checks."""
    tags = workspace.client().get_model_version(workspace.model_name(model_name),
                                                str(version)).tags
    return {"version": str(version), "verdict": tags.get(GATE_VERDICT_TAG, "missing"),
            "champion": tags.get(GATE_CHAMPION_TAG), "at": tags.get(f"{TAG}gated_at"),
            "run_id": tags.get(f"{TAG}gate_run_id"),
            "checks": {k.removeprefix(GATE_CHECK_PREFIX): v for k, v in tags.items()
                       if k.startswith(GATE_CHECK_PREFIX)}}


def load_gate_report(workspace: Workspace, version: str, *,
                     model_name: str = DEFAULT_MODEL_NAME) -> GateReport:
    """The latest :class:`~closedloop.gates.run.GateReport` logged for a version."""
    run_id = gate_status(workspace, version, model_name=model_name)["run_id"]
    if run_id is None:
        raise RegistryError(f"version {version} of {model_name} has never been gated")
    with tempfile.TemporaryDirectory() as tmp:
        path = workspace.client().download_artifacts(run_id, REPORT_ARTIFACT, tmp)
        return GateReport.from_json(Path(path).read_text())
