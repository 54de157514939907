"""The nine-step workflow against a real MLflow registry and inference log."""

import json
import shutil

import mlflow
import pandas as pd
import pytest

from closedloop.cli import main
from closedloop.config import Workspace
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.gates.config import PRESETS
from closedloop.model import registry
from closedloop.model.train import TrainConfig
from closedloop.monitoring.ground_truth import backfill, labels_from_stream
from closedloop.monitoring.store import InferenceLog
from closedloop.retrain import workflow
from closedloop.retrain.runs import RETRAIN_EXPERIMENT, STEPS
from closedloop.retrain.triggers import AgeTrigger, RetrainPolicy
from closedloop.retrain.workflow import RetrainConfig, run_retraining
from closedloop.simulate.stream import StreamSimulator

AS_OF = pd.Timestamp("2026-05-01")
#: The telecom gates with fewer replicates and calls: same checks, a quicker test.
QUICK_GATES = PRESETS["telecom_churn"].override(latency_calls=5, n_bootstrap=200,
                                                robustness_rows=200)
QUICK = RetrainConfig(gates=QUICK_GATES)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory, telco):
    """v1 (trained on Telco) is champion; 120 days of a loyalty-erosion stream are logged and
    the labels known by AS_OF are backfilled. 200 customers a day: enough labelled rows that
    the fresh holdout shows the retrained model better (step 6 asks for the interval of the
    improvement to lie above zero, not for a higher point estimate)."""
    ws = Workspace.resolve(tmp_path_factory.mktemp("retrain"))
    result = registry.train_and_register(telco, TELCO_SCHEMA, ws, TrainConfig(n_trials=0))
    registry.promote(ws, reason="first model", force=True)
    stream = StreamSimulator(telco, seed=0, population=20_000).stream(120, 200, "loyalty_erosion")
    log = InferenceLog(ws, TELCO_SCHEMA)
    scored = registry.load_model(ws).predict(stream[TELCO_SCHEMA.feature_names])
    log.append(stream, scored=scored, model_name=registry.DEFAULT_MODEL_NAME,
               model_version=result.model_version, timestamp="event_time")
    backfill(log, labels_from_stream(stream, as_of=AS_OF))
    return ws


@pytest.fixture()
def ws(deployed, tmp_path):
    shutil.copytree(deployed.root, tmp_path / "copy")
    return Workspace.resolve(tmp_path / "copy")


def child_runs(ws, parent_id):
    client = ws.client()
    experiment = client.get_experiment_by_name(RETRAIN_EXPERIMENT).experiment_id
    runs = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent_id}'")
    return sorted(runs, key=lambda r: int(r.data.tags["closedloop.step_number"]))


def test_nine_steps_promote_a_retrained_model_with_an_audit_trail(ws, telco):
    run = run_retraining(ws, telco, config=QUICK, as_of=AS_OF, if_triggered=True)
    assert run.outcome == "promoted", run.reason
    assert [s.name for s in run.steps] == list(STEPS) and {s.status for s in run.steps} == {"ok"}
    assert run.champion_before == "1" and run.champion_after == run.challenger_version == "2"
    assert run.decision.retrain and "performance" in [r.trigger for r in run.decision.fired]
    prepared = run.steps[1].details
    assert abs(prepared["recent_rows"] - 0.7 * prepared["train_rows"]) <= 1
    assert prepared["entity_overlap"] == 0
    # MLflow: one parent, nine finished children in order, the decision as an artifact.
    children = child_runs(ws, run.run_id)
    assert [c.info.run_name for c in children] == [f"{i}. {n}" for i, n in
                                                  enumerate(STEPS, 1)]
    assert {c.info.status for c in children} == {"FINISHED"}
    parent = ws.client().get_run(run.run_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["closedloop.outcome"] == \
        "promoted"
    assert children[1].data.metrics["recent_rows"] == prepared["recent_rows"]
    # The registry: v2 gated against v1 and promoted, with the triggers in the audit reason.
    assert registry.aliases(ws) == {"champion": "2", "previous_champion": "1"}
    audit = registry.audit_log(ws)
    assert audit["version"].tolist() == ["1", "2"]
    assert "realised F1 drop" in audit["reason"].iloc[-1]
    # The new champion carries its reference: the next run measures it without history.
    assert workflow.load_reference(ws).model_version == "2"


def test_a_failed_gate_leaves_the_champion_untouched(ws, telco):
    impossible = RetrainConfig(gates=QUICK_GATES.override(roc_auc=0.99), derive_floors=False)
    run = run_retraining(ws, telco, config=impossible, as_of=AS_OF)
    assert run.outcome == "stopped"
    assert run.reason.startswith("step 8 (gates) failed: quality gates failed: ")
    assert "floor.roc_auc" in run.reason
    assert [s.status for s in run.steps] == ["ok"] * 7 + ["failed"]
    assert registry.aliases(ws) == {"champion": "1", "challenger": "2"}
    assert registry.audit_log(ws)["version"].tolist() == ["1"]
    assert ws.client().get_run(run.run_id).info.status == "FAILED"
    assert child_runs(ws, run.run_id)[-1].data.tags["closedloop.failure"].startswith(
        "quality gates failed")
    with pytest.raises(registry.RegistryError, match="its quality gates failed"):
        registry.promote(ws, "2", reason="try anyway")


def test_a_crash_midway_changes_nothing_and_a_rerun_succeeds(ws, telco, monkeypatch):
    def crash(*args, **kwargs):
        raise MemoryError("the machine ran out of memory")

    monkeypatch.setattr(workflow, "fit_challenger", crash)
    run = run_retraining(ws, telco, config=QUICK, as_of=AS_OF)
    assert run.outcome == "stopped" and "step 5 (retrain) failed: MemoryError" in run.reason
    assert registry.aliases(ws) == {"champion": "1"} and len(registry.versions(ws)) == 1
    monkeypatch.undo()
    # The cool-down counts the failed attempt: the default policy (7 days) declines...
    assert run_retraining(ws, telco, config=QUICK, as_of=AS_OF,
                          if_triggered=True).outcome == "not_triggered"
    # ...and a manual run goes through.
    again = run_retraining(ws, telco, config=QUICK, as_of=AS_OF)
    assert again.outcome == "promoted", again.reason


def test_not_triggered_stops_after_step_one(ws, telco):
    patient = RetrainPolicy("yearly", (AgeTrigger(365),))
    run = run_retraining(ws, telco, policy=patient, config=QUICK, as_of=AS_OF,
                         if_triggered=True)
    assert run.outcome == "not_triggered" and len(run.steps) == 1
    age = run.decision.results[0]
    assert age.value is not None and not age.fired  # measured, below 365 days
    assert registry.aliases(ws) == {"champion": "1"}


def test_no_champion_stops_at_step_one(workspace, telco):
    run = run_retraining(workspace, telco, config=QUICK, as_of=AS_OF)
    assert run.outcome == "stopped" and "has no @champion" in run.reason


def test_cli_retrain_json(ws, capsys):
    # The preset's fixed floors reject the challenger under this drift: exit 1, champion kept.
    code = main(["retrain", "--workdir", str(ws.root), "--if-triggered", "--policy",
                 "performance", "--as-of", str(AS_OF), "--fixed-floors", "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 1 and payload["outcome"] == "stopped", payload["reason"]
    assert [s["name"] for s in payload["steps"]] == list(STEPS[:8])
    assert payload["champion_after"] == "1"
    assert mlflow.get_tracking_uri() != ws.tracking_uri  # global MLflow state restored
    config = json.loads(ws.client().get_run(payload["run_id"]).data.tags["closedloop.config"])
    assert config["derive_floors"] is False and config["recent_share"] == 0.7


def test_model_age_counts_on_the_logs_clock_when_the_version_says_when_it_went_live(ws, telco):
    # The log is dated before AS_OF, the registry's clock is the machine's: without the tag the
    # age is measured from the version's creation time, i.e. from whenever this test runs.
    assert workflow.load_reference(ws).trained_at > AS_OF - pd.Timedelta(days=1)
    went_live = AS_OF - pd.Timedelta(days=10)
    ws.client().set_model_version_tag(registry.DEFAULT_MODEL_NAME, "1",
                                      workflow.TRAINED_AT_TAG, went_live.isoformat())
    assert workflow.load_reference(ws).trained_at == went_live
    age_only = RetrainPolicy("age", (AgeTrigger(30),))
    run = run_retraining(ws, telco, policy=age_only, if_triggered=True, config=QUICK,
                         as_of=AS_OF)
    assert run.outcome == "not_triggered"
    assert run.steps[0].details["evidence"]["age_days"] == 10.0
