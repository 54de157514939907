"""The scoring service as a client sees it: a real process on 127.0.0.1, real HTTP.

The tests run in file order on one server: bad input of every kind, then a promotion and a
rollback under a stream of requests, then a clean shutdown after which every answered row is in
the inference log.
"""

import json
import signal
import socket
import threading
import time

import httpx
import numpy as np
import pytest

from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.model import registry
from closedloop.monitoring.store import InferenceLog

pytestmark = pytest.mark.slow

ANSWERED: set[str] = set()  # prediction ids of every row answered with 200


@pytest.fixture(scope="module")
def rows(telco):
    return telco.drop(columns=[TELCO_SCHEMA.target]).head(50).to_dict("records")


@pytest.fixture(scope="module")
def client(served):
    with httpx.Client(base_url=served[1].url, timeout=30) as c:
        yield c


def _predict(client, payload, **kwargs):
    response = client.post("/predict", json=payload, **kwargs)
    if response.status_code == 200:
        ANSWERED.update(row["prediction_id"] for row in response.json()["predictions"])
    return response


def test_health_and_metadata_name_the_pinned_version(client):
    health = client.get("/health").json()
    assert health["status"] == "ready" and health["model_version"] == "1"
    meta = client.get("/metadata").json()
    assert meta["model_version"] == "1" and meta["contract"] == json.loads(
        json.dumps(TELCO_SCHEMA.to_dict()))
    assert 0 < meta["threshold"] < 1 and meta["risk_tiers"] == {"high": 0.7, "medium": 0.4}


def test_answers_equal_the_registered_pyfunc(client, served, rows, telco):
    expected = registry.load_model(served[0], "1").predict(
        telco.drop(columns=[TELCO_SCHEMA.target]).head(50))
    one = _predict(client, rows[0])
    assert one.status_code == 200
    (row,) = one.json()["predictions"]
    assert row["prediction_proba"] == pytest.approx(expected["prediction_proba"][0], abs=1e-12)
    many = _predict(client, rows).json()["predictions"]
    np.testing.assert_allclose([r["prediction_proba"] for r in many],
                               expected["prediction_proba"], rtol=0, atol=1e-12)
    assert [r["prediction"] for r in many] == expected["prediction"].tolist()
    assert {r["model_version"] for r in many} == {"1"}
    assert {r["risk_tier"] for r in many} <= {"low", "medium", "high"}
    assert len({r["prediction_id"] for r in many}) == 50


BAD = {
    "wrong type": ({"tenure": "twelve"}, [("tenure", "twelve")]),
    "float for an integer": ({"tenure": 1.5}, [("tenure", 1.5)]),
    "boolean for a number": ({"MonthlyCharges": True}, [("MonthlyCharges", True)]),
    "unknown field": ({"shoe_size": 44}, [("shoe_size", 44)]),
    "unknown category": ({"Contract": "Weekly"}, [("Contract", "Weekly")]),
    "out of range": ({"tenure": -3, "MonthlyCharges": 1e9},
                     [("tenure", -3), ("MonthlyCharges", 1e9)]),
    "null in a non-nullable field": ({"gender": None}, [("gender", None)]),
}


@pytest.mark.parametrize("change, named", BAD.values(), ids=list(BAD))
def test_contract_violations_are_422_naming_field_and_value(client, rows, change, named):
    before = _predict(client, rows[1]).json()["predictions"][0]["prediction_proba"]
    response = _predict(client, [rows[0], {**rows[1], **change}])
    assert response.status_code == 422
    body = response.json()
    assert "contract" in body["error"]
    assert [(p["row"], p["field"], p["value"]) for p in body["problems"]] == [
        (1, f, v) for f, v in named]
    assert all(p["message"] for p in body["problems"])
    after = _predict(client, rows[1]).json()["predictions"][0]["prediction_proba"]
    assert after == before


def test_missing_field_and_wrong_shape_are_422(client, rows):
    partial = {k: v for k, v in rows[0].items() if k != "tenure"}
    body = _predict(client, partial).json()
    assert [(p["field"], p["message"].split(" ")[0]) for p in body["problems"]] == [
        ("tenure", "missing")]
    for payload in (42, "text", [], [1, 2]):
        response = client.post("/predict", json=payload)
        assert response.status_code == 422, payload
        assert response.json()["error"]


@pytest.mark.parametrize("body", [b"{not json", b"", b'{"tenure": NaN}', b"\xff\xfe\x00",
                                  b"[" * 100_000], ids=["syntax", "empty", "NaN", "bytes", "deep"])
def test_malformed_json_is_400(client, rows, body):
    response = client.post("/predict", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 413)
    assert response.json()["error"]
    assert _predict(client, rows[0]).status_code == 200


def test_bodies_over_the_limit_are_413_by_header_and_by_stream(client, rows):
    big = json.dumps([rows[0]] * 200).encode()  # ~150 kB, limit 64 kB
    response = client.post("/predict", content=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "limit" in response.json()["detail"]

    def chunks():  # no Content-Length: chunked, the size is only known as it streams
        for start in range(0, len(big), 8192):
            yield big[start:start + 8192]
    with httpx.Client(base_url=client.base_url, timeout=30) as fresh:
        streamed = fresh.post("/predict", content=chunks(),
                              headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert _predict(client, rows[0]).status_code == 200


def test_too_many_requests_in_flight_are_503(client, served, rows):
    # Three requests that send their headers and then stall hold all three slots.
    port = served[1].port
    stalled = []
    for _ in range(3):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{")
        stalled.append(sock)
    time.sleep(0.5)
    try:
        response = client.get("/health")
        assert response.status_code == 503
        assert response.json()["error"] == "overloaded" and "in flight" in response.json()[
            "detail"]
    finally:
        for sock in stalled:
            sock.close()
    time.sleep(0.5)
    assert _predict(client, rows[0]).status_code == 200


def test_promotion_and_rollback_under_load_fail_no_request(served, rows):
    workspace, server = served
    results, stop = [], threading.Event()

    def stream():
        with httpx.Client(base_url=server.url, timeout=30) as c:
            i = 0
            while not stop.is_set():
                response = _predict(c, rows[i % len(rows)])
                body = response.json()
                results.append((response.status_code, body.get("model_version"),
                                [r["model_version"] for r in body.get("predictions", [])]))
                i += 1

    def wait_for(version):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if results and results[-1][1] == version:
                return
            time.sleep(0.1)
        raise TimeoutError(f"the service never answered with v{version}")

    workers = [threading.Thread(target=stream) for _ in range(2)]
    for w in workers:
        w.start()
    try:
        time.sleep(0.5)
        registry.promote(workspace, "2", reason="test promotion", force=True)
        wait_for("2")
        registry.rollback(workspace, reason="test rollback")
        wait_for("1")
        time.sleep(0.5)
    finally:
        stop.set()
        for w in workers:
            w.join(60)
    assert results and all(status == 200 for status, _, _ in results)
    assert all(v in ("1", "2") and rows_v == [v] for _, v, rows_v in results)
    served_versions = [v for _, v, _ in results]
    assert "2" in served_versions and served_versions[-1] == "1"


def test_after_sigterm_every_answered_row_is_logged(served):
    workspace, server = served
    # uvicorn shuts down gracefully, then re-raises the signal: the exit status says SIGTERM.
    assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in server.output()
    assert "request log flushed" in server.output()
    log = InferenceLog(workspace, TELCO_SCHEMA).read(columns=["prediction_id", "model_version"])
    assert set(log["prediction_id"]) == ANSWERED
    assert len(log) == len(ANSWERED)
    assert set(log["model_version"]) == {"1", "2"}
