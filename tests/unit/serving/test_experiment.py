"""A/B routing in the service: each entity answered by its arm's version, in process."""

import time

import numpy as np
import pytest

from closedloop.abtest.assignment import Experiment
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.model.compiled import CompiledPredictor
from closedloop.monitoring.store import InferenceLog
from closedloop.serving.app import create_app
from tests.unit.serving.conftest import as_records, ready_client, register_two

EXPERIMENT = Experiment("ab-serve", salt="serve-1", coverage=0.8)


@pytest.fixture(scope="module")
def client(telco, tmp_path_factory):
    """The app with v1 @champion and v2 @challenger in an experiment (both loaded)."""
    workspace = register_two(telco, tmp_path_factory.mktemp("ab"))
    app = create_app(workspace, poll_interval=0, flush_interval=0.2,
                     experiment=EXPERIMENT.to_dict(), challenger_alias="challenger")
    client = ready_client(app)
    yield client, workspace
    client.__exit__(None, None, None)


@pytest.fixture(scope="module")
def records(telco):
    return as_records(telco.drop(columns=[TELCO_SCHEMA.target]).head(40))


def test_each_entity_is_answered_by_its_arms_version(client, records):
    http, workspace = client
    health = http.get("/health").json()
    assert health["experiment"]["challenger"]["model_version"] == "2"
    body = http.post("/predict", json=records, headers={"X-Request-ID": "ab1"}).json()
    arms = EXPERIMENT.assign([r["customerID"] for r in records])
    assert body["experiment"] == "ab-serve"
    rows = body["predictions"]
    assert [r["arm"] for r in rows] == list(arms)
    assert {"challenger", "champion", None} == set(arms)  # 40 ids reach every arm
    assert [r["model_version"] for r in rows] == ["2" if a == "challenger" else "1"
                                                  for a in arms]
    assert [r["prediction_id"] for r in rows] == [f"ab1-{i}" for i in range(len(records))]
    assert [r["customerID"] for r in rows] == [r["customerID"] for r in records]
    assert body["model_version"] == "1,2" or body["model_version"] == "2,1"
    for version in ("1", "2"):
        predictor = CompiledPredictor.from_registry(workspace, version)
        mine = [i for i, r in enumerate(rows) if r["model_version"] == version]
        expected = predictor.predict_records([records[i] for i in mine])
        assert np.allclose([rows[i]["prediction_proba"] for i in mine], expected, atol=1e-9)
    again = http.post("/predict", json=records[:5]).json()["predictions"]
    assert [r["arm"] for r in again] == list(arms[:5])  # sticky


def test_request_log_rows_carry_the_version_and_the_arm_that_answered(client, records):
    http, workspace = client
    http.post("/predict", json=records[:20], headers={"X-Request-ID": "ablog"})
    arms = EXPERIMENT.assign([r["customerID"] for r in records[:20]])
    log = InferenceLog(workspace)
    wanted = [*log.columns, *log.optional_columns]
    deadline = time.monotonic() + 30
    while True:
        logged = log.read(columns=wanted)
        logged = logged[logged["prediction_id"].str.startswith("ablog-")]
        if len(logged) == 20 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(logged) == 20
    by_id = logged.set_index("prediction_id")
    rows = [f"ablog-{i}" for i in range(20)]
    assert by_id.loc[rows, "model_version"].astype(str).tolist() == [
        "2" if a == "challenger" else "1" for a in arms]
    assert by_id.loc[rows, "arm"].tolist() == list(arms)  # the log's arm is assign()'s
    assert by_id.loc[rows, "experiment"].tolist() == [
        None if a is None else "ab-serve" for a in arms]
    assert {"champion", "challenger", None} == set(arms)


def test_contract_problems_name_the_rows_of_the_request(client, records):
    http, _ = client
    bad = [dict(r) for r in records[:6]]
    for i in (1, 4):
        bad[i]["tenure"] = "many"
    response = http.post("/predict", json=bad)
    assert response.status_code == 422
    assert sorted({p["row"] for p in response.json()["problems"]}) == [1, 4]


def test_serve_cli_builds_the_experiment():
    from closedloop.cli.parser import build_parser
    from closedloop.cli.scoring import experiment_from_args

    args = build_parser().parse_args(["serve", "--experiment-salt", "S", "--experiment-split",
                                      "0.25", "--coverage", "0.5"])
    experiment = experiment_from_args(args)
    assert experiment.salt == "S" and experiment.split == (0.75, 0.25)
    assert experiment.coverage == 0.5 and args.challenger_alias == "challenger"
    assert experiment_from_args(build_parser().parse_args(["serve"])) is None
