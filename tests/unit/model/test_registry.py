"""Registry: pyfunc output, aliases, audit trail, all-or-nothing promotion, isolation.

Promotions here are forced: these tests are about alias mechanics; gated promotion is tested in
``test_gated_promotion.py``.
"""

import json
import shutil

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from closedloop.config import Workspace
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.contract.validation import DataContractError
from closedloop.model import ledger, registry
from closedloop.model.ledger import history
from closedloop.model.registry import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, RegistryError
from closedloop.model.train import TrainConfig


@pytest.fixture(scope="module")
def registered(telco, tmp_path_factory):
    """A workspace with v1 and v2 registered (v2 is @challenger, nothing promoted)."""
    workspace = Workspace.resolve(tmp_path_factory.mktemp("registered"))
    sample = telco.sample(2500, random_state=0)
    for seed in (1, 2):
        registry.train_and_register(sample, TELCO_SCHEMA, workspace,
                                    TrainConfig(n_trials=0, seed=seed))
    return workspace


@pytest.fixture()
def two_versions(registered, tmp_path):
    """A private copy of ``registered``: the store is copied, artifacts stay shared (read-only)."""
    shutil.copytree(registered.root, tmp_path / "copy")
    return Workspace.resolve(tmp_path / "copy")


def test_pyfunc_returns_label_and_probability_at_the_stored_threshold(two_versions, telco):
    model = registry.load_model(two_versions, CHALLENGER)
    rows = telco.drop(columns=["Churn"]).head(200)
    out = model.predict(rows)
    assert list(out.columns) == ["prediction", "prediction_proba"]
    assert out["prediction"].dtype == "int64" and out["prediction_proba"].dtype == "float64"
    threshold = float(two_versions.client().get_model_version_by_alias(
        registry.DEFAULT_MODEL_NAME, CHALLENGER).tags["closedloop.threshold"])
    assert 0 < threshold < 1
    assert (out["prediction"] == (out["prediction_proba"] >= threshold)).all()
    assert out["prediction"].nunique() == 2


def test_pyfunc_rejects_contract_violations(two_versions, telco):
    model = registry.load_model(two_versions, CHALLENGER)
    bad = telco.drop(columns=["Churn"]).head(5).assign(Contract="Weekly")
    with pytest.raises(DataContractError, match="Contract"):
        model.predict(bad)


def test_model_version_carries_metrics_params_and_lineage(two_versions):
    client = two_versions.client()
    version = client.get_model_version(registry.DEFAULT_MODEL_NAME, "2")
    metrics = json.loads(version.tags["closedloop.test_metrics"])
    assert set(metrics) == {"roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy",
                            "brier", "log_loss"}
    run = client.get_run(version.run_id)
    assert run.data.metrics["test_roc_auc"] == pytest.approx(metrics["roc_auc"])
    assert run.data.tags["closedloop.data.rows"] == "2500"
    assert run.inputs.dataset_inputs, "training data lineage is logged as a dataset input"
    assert registry.model_params(two_versions, CHALLENGER)["n_estimators"] == 300


def test_promote_and_rollback_move_aliases_and_write_the_audit_trail(two_versions):
    ws = two_versions
    assert registry.aliases(ws) == {CHALLENGER: "2"}
    registry.promote(ws, "1", reason="first model", force=True)
    assert registry.aliases(ws) == {CHALLENGER: "2", CHAMPION: "1"}
    move = registry.promote(ws, reason="v2 is better", force=True)
    assert move.previous_version == "1"
    assert registry.aliases(ws) == {CHAMPION: "2", PREVIOUS_CHAMPION: "1"}
    registry.rollback(ws, reason="incident 42")
    assert registry.aliases(ws) == {CHAMPION: "1", PREVIOUS_CHAMPION: "2"}
    audit = registry.audit_log(ws)
    assert audit[["action", "version", "reason"]].values.tolist() == [
        ["promote", "1", "first model"], ["promote", "2", "v2 is better"],
        ["rollback", "1", "incident 42"]]
    tags = ws.client().get_model_version(registry.DEFAULT_MODEL_NAME, "2").tags
    assert tags["closedloop.promote_reason"] == "v2 is better"
    assert tags["closedloop.promote_previous_champion"] == "1"
    moves = history(ws)[["alias", "from_version", "to_version", "action"]]
    assert moves.values.tolist() == [
        [CHAMPION, None, "1", "promote"],
        [PREVIOUS_CHAMPION, None, "1", "promote"], [CHAMPION, "1", "2", "promote"],
        [CHALLENGER, "2", None, "promote"],
        [PREVIOUS_CHAMPION, "1", "2", "rollback"], [CHAMPION, "2", "1", "rollback"]]
    assert registry.recover(ws) is None


@pytest.mark.parametrize(("method", "failing_call"), [
    ("delete_registered_model_alias", 1),  # @champion moved, dropping @challenger fails
    ("set_registered_model_alias", 1),  # recording the old champion as @previous_champion
    ("set_registered_model_alias", 2),  # @previous_champion recorded, @champion not moved
])
def test_a_promotion_that_fails_midway_leaves_the_aliases_as_they_were(
        two_versions, monkeypatch, method, failing_call):
    ws = two_versions
    registry.promote(ws, "1", reason="first", force=True)
    before = registry.aliases(ws)
    original = getattr(MlflowClient, method)
    calls = {"n": 0}

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == failing_call:
            raise ConnectionError("registry went away")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, method, flaky)
    with pytest.raises(ConnectionError):
        registry.promote(ws, reason="should not stick", force=True)
    monkeypatch.undo()
    assert registry.aliases(ws) == before
    assert registry.audit_log(ws)["reason"].tolist() == ["first"]
    # The ledger holds every move, the undo included, and replays to the aliases; no intent.
    assert ledger.read_intent(ws, registry.DEFAULT_MODEL_NAME) is None
    assert ledger.replay({CHALLENGER: "2"}, ledger.moves(ws, registry.DEFAULT_MODEL_NAME)) == \
        before
    assert ledger.entries(ws, registry.DEFAULT_MODEL_NAME)[-1]["kind"] == "abort"


def test_a_failure_while_writing_the_audit_leaves_the_aliases_as_they_were(
        two_versions, monkeypatch):
    ws = two_versions
    registry.promote(ws, "1", reason="first", force=True)
    before = registry.aliases(ws)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(mlflow, "log_metrics", broken)
    with pytest.raises(OSError):
        registry.promote(ws, reason="no audit, no promotion", force=True)
    assert registry.aliases(ws) == before


def test_refusals_are_clear(two_versions):
    with pytest.raises(RegistryError, match="previous_champion"):
        registry.rollback(two_versions, reason="nothing to roll back to")
    with pytest.raises(ValueError, match="reason"):
        registry.promote(two_versions, reason=" ")
    registry.promote(two_versions, reason="ok", force=True)
    with pytest.raises(RegistryError, match="no @challenger"):
        registry.promote(two_versions, reason="again")


def test_two_workspaces_do_not_interfere(two_versions, tmp_path):
    other = Workspace.resolve(tmp_path / "other")
    assert registry.aliases(other) == {}
    tracking_before = mlflow.get_tracking_uri()
    with other.mlflow():
        assert mlflow.get_tracking_uri() == other.tracking_uri
    assert mlflow.get_tracking_uri() == tracking_before
    assert registry.aliases(two_versions) == {CHALLENGER: "2"}
    assert isinstance(registry.versions(two_versions), pd.DataFrame)
    assert registry.versions(two_versions)["version"].tolist() == ["1", "2"]


def test_a_failed_audit_leaves_no_trace_on_the_version(two_versions, monkeypatch):
    ws = two_versions
    client = ws.client()
    tags_before = client.get_model_version(registry.DEFAULT_MODEL_NAME, "2").tags
    monkeypatch.setattr(mlflow, "log_metrics", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        registry.promote(ws, reason="will fail", force=True)
    assert client.get_model_version(registry.DEFAULT_MODEL_NAME, "2").tags == tags_before
    assert registry.audit_log(ws).empty


def test_leaving_a_workspace_restores_mlflow_exactly(workspace, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    mlflow.set_tracking_uri(None)
    with workspace.mlflow():
        assert mlflow.get_registry_uri() == workspace.tracking_uri
    import os
    assert "MLFLOW_TRACKING_URI" not in os.environ and "MLFLOW_REGISTRY_URI" not in os.environ
    assert mlflow.get_registry_uri() == mlflow.get_tracking_uri() != workspace.tracking_uri


def test_a_model_for_another_schema_round_trips_through_the_registry(workspace):
    from tests.loans import LOAN_SCHEMA, make_loans

    loans = make_loans(1200)
    result = registry.train_and_register(loans, LOAN_SCHEMA, workspace, TrainConfig(n_trials=0),
                                         model_name="loans")
    model = registry.load_model(workspace, CHALLENGER, model_name="loans")
    out = model.predict(loans.drop(columns=["defaulted"]).head(50))
    assert out["prediction_proba"].between(0, 1).all()
    assert (out["prediction"] == (out["prediction_proba"] >= result.threshold)).all()
    with pytest.raises(DataContractError, match="purpose"):
        model.predict(loans.head(5).assign(purpose="boat"))


def test_a_version_registered_without_a_contract_is_named_not_an_attribute_error(workspace):
    import warnings

    from mlflow.pyfunc import PythonModel

    from closedloop.model.holdout import load_contract

    class Plain(PythonModel):
        def predict(self, context, model_input, params=None):
            return pd.DataFrame({"prediction": [0] * len(model_input)})

    with warnings.catch_warnings(), workspace.mlflow(), mlflow.start_run():
        warnings.simplefilter("ignore")
        mlflow.pyfunc.log_model(name="model", python_model=Plain(),
                                registered_model_name="plain")
    with pytest.raises(RegistryError, match="plain v1 has no data contract: its run stores no "
                                            "contract/schema.json and its model \\(Plain\\)"):
        load_contract(workspace, "1", model_name="plain")
