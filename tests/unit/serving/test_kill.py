"""A SIGKILLed service loses at most its unflushed buffer, never a batch, and logs nothing it did
not answer.

The request log is flushed by row count only (``--flush-rows 10``, a flush interval far longer
than the test), so what is buffered when the process dies is bounded by the flush size: the test
waits until the flusher has caught up with every full buffer, then kills the process without
warning (no shutdown, no final flush).
"""

import signal
import time

import httpx
import pytest

from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.monitoring.store import InferenceLog
from tests.unit.serving.conftest import Server, register_two

pytestmark = pytest.mark.slow

FLUSH_ROWS = 10
REQUESTS = 3 * FLUSH_ROWS + FLUSH_ROWS // 2  # single-row requests, one after the other


def test_sigkill_loses_at_most_the_unflushed_buffer(telco, tmp_path):
    workspace = register_two(telco, tmp_path / "ws")
    server = Server(workspace, "--poll-interval", "0", "--flush-rows", str(FLUSH_ROWS),
                    "--flush-interval", "3600")
    log = InferenceLog(workspace, TELCO_SCHEMA)
    rows = telco.drop(columns=[TELCO_SCHEMA.target]).head(REQUESTS).to_dict("records")
    answered: list[str] = []  # prediction ids, in the order the answers arrived
    try:
        server.wait_ready()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for i, row in enumerate(rows):
                response = client.post("/predict", json=row,
                                       headers={"X-Request-ID": f"kill-{i:03d}"})
                assert response.status_code == 200, response.text
                answered.extend(r["prediction_id"] for r in response.json()["predictions"])
        # Every full buffer is handed to the flusher; wait until it has written them (the
        # rows left over are fewer than FLUSH_ROWS and wait for a flush that never comes).
        deadline = time.monotonic() + 120
        while len(log) < REQUESTS - (FLUSH_ROWS - 1):
            assert time.monotonic() < deadline, "the flusher never caught up"
            assert server.process.poll() is None, server.output()
            time.sleep(0.2)
    finally:
        code = server.stop(signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert "request log flushed" not in server.output()  # no graceful shutdown happened

    # Readable: every committed batch file opens (a half-written batch would fail the read).
    assert sorted(log.predictions_dir.glob("*.parquet"))
    logged = log.read(columns=["prediction_id", "model_version"])
    assert logged["prediction_id"].is_unique
    assert set(logged["model_version"]) == {"1"}
    # Nothing that was not answered.
    ids = list(logged["prediction_id"])
    assert set(ids) <= set(answered)
    # What is missing is the newest rows only (the buffer), and fewer than one flush's worth.
    assert set(ids) == set(answered[:len(ids)])
    missing = len(answered) - len(ids)
    assert 0 <= missing < FLUSH_ROWS
