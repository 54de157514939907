"""A retraining killed midway: the next run cleans up, the cool-down ignores it, nothing twice.

One workspace per module: v1 (trained on Telco) is the champion and 120 days of a
loyalty-erosion stream (200 customers a day, as in the workflow tests) are logged with the
labels known by ``AS_OF``, so the default policy fires. Each case copies it and runs
:func:`closedloop.retrain.workflow.run_retraining` in a subprocess that kills itself with
SIGKILL at a named point (:data:`closedloop.retrain.runs.FAULT_POINTS`, or one inside the
promotion transaction, :data:`closedloop.model.ledger.FAULT_POINTS`), then runs it again in
this process and checks: no run is left ``RUNNING``, the crash did not start the cool-down,
nothing was registered or promoted twice, and the aliases point at versions that exist.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from closedloop.config import Workspace
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.gates.config import PRESETS
from closedloop.model import ledger, registry
from closedloop.model.registry import CHAMPION, PREVIOUS_CHAMPION
from closedloop.model.train import TrainConfig
from closedloop.monitoring.ground_truth import backfill, labels_from_stream
from closedloop.monitoring.store import InferenceLog
from closedloop.retrain.runs import RETRAIN_EXPERIMENT
from closedloop.retrain.workflow import RetrainConfig, run_retraining
from closedloop.simulate.stream import StreamSimulator

pytestmark = pytest.mark.slow

AS_OF = "2026-05-01"
COMPANION = str(Path(__file__).resolve().parents[2] / "companion")
QUICK = RetrainConfig(gates=PRESETS["telecom_churn"].override(n_bootstrap=200,
                                                               robustness_rows=200),
                      compare_bootstrap=300)
SCRIPT = """
import sys
from closedloop.gates.config import PRESETS
from closedloop.retrain.workflow import RetrainConfig, run_retraining
config = RetrainConfig(gates=PRESETS["telecom_churn"].override(n_bootstrap=200,
                                                               robustness_rows=200),
                       compare_bootstrap=300)
run = run_retraining(sys.argv[1], config=config, as_of=sys.argv[2], if_triggered=True)
print(run)
"""


@pytest.fixture(scope="module")
def deployed(tmp_path_factory, telco):
    ws = Workspace.resolve(tmp_path_factory.mktemp("retrain-kills"))
    result = registry.train_and_register(telco, TELCO_SCHEMA, ws,
                                         TrainConfig(n_trials=0, n_jobs=1))
    registry.promote(ws, reason="first model", force=True)
    stream = StreamSimulator(telco, seed=0, population=20_000).stream(120, 200,
                                                                       "loyalty_erosion")
    log = InferenceLog(ws, TELCO_SCHEMA)
    scored = registry.load_model(ws).predict(stream[TELCO_SCHEMA.feature_names])
    log.append(stream, scored=scored, model_name=registry.DEFAULT_MODEL_NAME,
               model_version=result.model_version, timestamp="event_time")
    backfill(log, labels_from_stream(stream, as_of=pd.Timestamp(AS_OF)))
    return ws


@pytest.fixture()
def ws(deployed, tmp_path):
    shutil.copytree(deployed.root, tmp_path / "copy")
    return Workspace.resolve(tmp_path / "copy")


def killed_at(ws, point):
    """Run the retraining in a subprocess that SIGKILLs itself at ``point``."""
    env = {k: v for k, v in os.environ.items()
           if k not in (ledger.FAULT_ENV, ledger.FAULT_DELAY_ENV)}
    env.update({ledger.FAULT_ENV: point, "PYTHONPATH": COMPANION})
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(ws.root), AS_OF], env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == -9, (done.returncode, done.stdout, done.stderr[-3000:])


def runs(ws):
    client = ws.client()
    experiment = client.get_experiment_by_name(RETRAIN_EXPERIMENT).experiment_id
    return client.search_runs([experiment], max_results=1000)


def check_consistent(ws):
    """No run RUNNING; every alias names an existing version."""
    assert not [r.info.run_name for r in runs(ws) if r.info.status == "RUNNING"]
    found = ws.client().search_model_versions(f"name = '{registry.DEFAULT_MODEL_NAME}'")
    versions = {str(v.version) for v in found}
    for alias, version in registry.aliases(ws).items():
        assert version in versions, (alias, version)


def number_of_versions(ws):
    client = ws.client()
    return len(client.search_model_versions(f"name = '{registry.DEFAULT_MODEL_NAME}'"))


@pytest.mark.parametrize("point", ["retrain:after_prepare", "retrain:in_register"])
def test_a_crash_before_registering_leaves_nothing_and_no_cooldown(ws, point):
    killed_at(ws, point)
    crashed = [r for r in runs(ws) if "closedloop.as_of" in r.data.tags]
    assert [r.info.status for r in crashed] == ["RUNNING"]  # what the kill left behind
    assert number_of_versions(ws) == 1
    run = run_retraining(ws, config=QUICK, as_of=AS_OF, if_triggered=True)
    # The crash did not start the 7-day cool-down: the policy fires and the run goes through.
    assert run.decision.retrain and run.decision.cooling_down_until is None
    assert run.outcome == "promoted", run.reason
    check_consistent(ws)
    client = ws.client()
    old = client.get_run(crashed[0].info.run_id)
    assert old.info.status == "FAILED" and old.data.tags["closedloop.outcome"] == "crashed"
    assert "is gone" in old.data.tags["closedloop.reason"]
    steps = client.search_runs([old.info.experiment_id],
                               f"tags.mlflow.parentRunId = '{old.info.run_id}'")
    # The step that was running when the process died is FAILED, even register's, which an
    # inner mlflow.start_run had closed as FINISHED.
    last = max(steps, key=lambda r: int(r.data.tags["closedloop.step_number"]))
    assert last.info.status == "FAILED" and "interrupted" in last.data.tags["closedloop.failure"]
    assert number_of_versions(ws) == 2
    assert registry.aliases(ws) == {CHAMPION: "2", PREVIOUS_CHAMPION: "1"}


def test_a_crash_after_registering_abandons_the_version_and_the_rerun_promotes(ws):
    killed_at(ws, "retrain:after_register")
    assert registry.aliases(ws) == {CHAMPION: "1", "challenger": "2"}
    run = run_retraining(ws, config=QUICK, as_of=AS_OF, if_triggered=True)
    assert run.decision.cooling_down_until is None and run.outcome == "promoted", run.reason
    check_consistent(ws)
    assert run.challenger_version == "3"
    assert registry.aliases(ws) == {CHAMPION: "3", PREVIOUS_CHAMPION: "1"}
    tags = ws.client().get_model_version(registry.DEFAULT_MODEL_NAME, "2").tags
    assert "crashed retraining run" in tags["closedloop.abandoned"]


@pytest.mark.parametrize("point", ["retrain:after_promote", "promote:after_champion"])
def test_a_crash_after_promoting_is_recognised_not_repeated(ws, point):
    killed_at(ws, point)
    run = run_retraining(ws, config=QUICK, as_of=AS_OF, if_triggered=True)
    # The re-run finishes the killed run as promoted instead of registering a copy ...
    assert run.outcome == "promoted" and run.steps == [] and run.challenger_version == "2"
    assert "promoted to @champion, then the run was interrupted" in run.reason
    check_consistent(ws)
    assert number_of_versions(ws) == 2
    # ... and the pre-incident model is still @previous_champion.
    assert registry.aliases(ws) == {CHAMPION: "2", PREVIOUS_CHAMPION: "1"}
    parent = ws.client().get_run(run.run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["closedloop.outcome"] == "promoted"
    # A promotion that happened is an attempt: the cool-down runs from it.
    again = run_retraining(ws, config=QUICK, as_of=AS_OF, if_triggered=True)
    assert again.outcome == "not_triggered" and again.decision.cooling_down_until is not None
    check_consistent(ws)
