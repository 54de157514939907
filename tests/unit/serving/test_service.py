"""The service in process: a version failing its smoke test is not swapped in; the request log."""

import pandas as pd
import pytest

from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.model import registry
from closedloop.monitoring.store import InferenceLog
from closedloop.serving import service as service_module
from closedloop.serving.request_log import RequestLog
from closedloop.serving.service import ModelService, SmokeTestError
from tests.unit.serving.conftest import register_two


@pytest.fixture(scope="module")
def workspace(telco, tmp_path_factory):
    return register_two(telco, tmp_path_factory.mktemp("service"))


def test_a_version_failing_its_smoke_test_is_not_swapped_in(workspace, monkeypatch, telco):
    service = ModelService(workspace)
    assert service.reload()["version"] == "1"
    record = telco.drop(columns=[TELCO_SCHEMA.target]).iloc[0].to_dict()
    before = service.score([record], "r")[1]["predictions"][0]
    real = service_module.smoke_test

    def failing(predictor, records):
        if predictor.model_version == "2":
            raise SmokeTestError("broken on purpose")
        real(predictor, records)
    monkeypatch.setattr(service_module, "smoke_test", failing)
    registry.promote(workspace, "2", reason="broken candidate", force=True)
    result = service.poll()
    assert result["changed"] is False and result["failed"]["version"] == "2"
    assert "broken on purpose" in service.status()["failed_version"]["error"]
    assert service.status()["model_version"] == "1"
    after = service.score([record], "r")[1]["predictions"][0]
    assert after == before
    assert service.poll()["failed"]["version"] == "2"  # the poller does not reload it again
    monkeypatch.setattr(service_module, "smoke_test", real)
    assert service.reload() == {"changed": True, "version": "2", "previous_version": "1"}
    assert "failed_version" not in service.status()


def test_request_log_writes_by_size_and_on_close(tmp_path, telco):
    from closedloop.config import Workspace

    ws = Workspace.resolve(tmp_path / "ws")
    log = RequestLog(ws, max_rows=10, interval=3600).start()
    records = telco.drop(columns=[TELCO_SCHEMA.target]).head(13).to_dict("records")
    when = pd.Timestamp("2026-03-01 12:00", tz="UTC")
    for i, record in enumerate(records):
        log.add(TELCO_SCHEMA, "m", "1", [record], [f"req{i}-0"], [0], [0.25], when)
    log.close()
    assert log.written == 13 and log.failed == 0 and log.buffered == 0
    stored = InferenceLog(ws, TELCO_SCHEMA).read()
    assert sorted(stored["prediction_id"]) == sorted(f"req{i}-0" for i in range(13))
    assert (stored["timestamp"] == pd.Timestamp("2026-03-01 12:00")).all()
    by_id = stored.set_index("prediction_id")
    assert [by_id.loc[f"req{i}-0", "tenure"] for i in range(13)] == [r["tenure"] for r in records]
