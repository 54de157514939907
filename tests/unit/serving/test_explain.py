"""``POST /predict?explain=true``: reasons per row, by the version that answered, in process."""


import numpy as np
import pandas as pd
import pytest

from closedloop.config import Workspace
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.explain import explain
from closedloop.model import registry
from closedloop.model.compiled import CompiledPredictor
from closedloop.model.train import TrainConfig
from closedloop.serving.app import create_app
from tests.unit.serving.conftest import as_records, ready_client

REASON_FIELDS = {"column", "value", "contribution", "probability_change", "text"}


@pytest.fixture(scope="module")
def client(telco, tmp_path_factory):
    """A client of the app serving v1 @champion (loaded before the first request)."""
    workspace = Workspace.resolve(tmp_path_factory.mktemp("explain"))
    registry.train_and_register(telco.sample(1000, random_state=0), TELCO_SCHEMA, workspace,
                                TrainConfig(n_trials=0, seed=1))
    registry.promote(workspace, "1", reason="first champion", force=True)
    app = create_app(workspace, poll_interval=0, flush_interval=0.2)
    client = ready_client(app)
    yield client, workspace
    client.__exit__(None, None, None)


@pytest.fixture(scope="module")
def records(telco):
    return as_records(telco.drop(columns=[TELCO_SCHEMA.target]).iloc[[0, 5, 17]])


def test_without_the_flag_nothing_changes(client, records):
    http, _ = client
    body = http.post("/predict", json=records).json()
    assert len(body["predictions"]) == 3
    assert all("reasons" not in row for row in body["predictions"])


def test_reasons_with_the_flag_match_explain_run_directly(client, records):
    http, workspace = client
    plain = http.post("/predict", json=records).json()["predictions"]
    body = http.post("/predict?explain=true&top=3", json=records).json()
    rows = body["predictions"]
    assert [r["prediction_proba"] for r in rows] == [r["prediction_proba"] for r in plain]
    predictor = CompiledPredictor.from_registry(workspace, body["model_version"])
    frame = pd.DataFrame.from_records(records)
    direct = explain(predictor.pipeline, frame, TELCO_SCHEMA, top=3)
    assert np.allclose(direct.probability, [r["prediction_proba"] for r in rows], atol=1e-9)
    for row, reasons in zip(rows, direct.reasons):
        assert row["model_version"] == body["model_version"] == "1"
        assert 1 <= len(row["reasons"]) <= 3
        assert all(set(reason) == REASON_FIELDS for reason in row["reasons"])
        assert [r["column"] for r in row["reasons"]] == [r.column for r in reasons]
        assert np.allclose([r["contribution"] for r in row["reasons"]],
                           [r.contribution for r in reasons])
        assert np.allclose([r["probability_change"] for r in row["reasons"]],
                           [r.probability_change for r in reasons])
        assert [r["text"] for r in row["reasons"]] == [r.text for r in reasons]


def test_one_record_and_the_default_top(client, records):
    http, _ = client
    response = http.post("/predict", params={"explain": "true"}, json=records[0])
    assert response.status_code == 200
    [row] = response.json()["predictions"]
    assert 1 <= len(row["reasons"]) <= 4
    value = {r["column"]: r["value"] for r in row["reasons"]}
    assert all(value[c] == records[0][c] for c in value)


def test_a_contract_violation_is_still_a_422(client, records):
    http, _ = client
    response = http.post("/predict?explain=true", json={**records[0], "tenure": -3})
    assert response.status_code == 422
    assert response.json()["problems"][0]["field"] == "tenure"
