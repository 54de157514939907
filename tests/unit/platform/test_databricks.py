"""The Databricks adapter against the fake workspace, through the real databricks-sdk.

No Python mock stands in for the SDK: every call goes over HTTP to a server on 127.0.0.1 that
answers as the workspace's REST API does (closedloop/platform/fake_workspace.py).
"""

import pandas as pd
import pytest

from closedloop.monitoring.drift import DRIFT_COLUMNS
from closedloop.platform.databricks import DatabricksMonitor, MonitorSpec, business_value_metric
from closedloop.platform.errors import MonitorFailed, MonitorTimeout

TABLE, SCHEMA = "ml.churn.inference_log", "ml.churn"
MONITORS = "/api/data-quality/v1/monitors"


@pytest.fixture()
def spec(fake):
    fake.add_table(TABLE)
    fake.add_table("ml.churn.baseline")
    return MonitorSpec(TABLE, SCHEMA, granularities=("1d", "1w"), slicing_exprs=("Contract",),
                       baseline_table="ml.churn.baseline")


def _monitor(client):
    return DatabricksMonitor(client, poll_interval=0.01, max_interval=0.05)


def test_create_wait_refresh_and_read_end_to_end(fake, client, spec):
    from databricks.sdk.service.dataquality import DataProfilingStatus, RefreshState

    monitor = _monitor(client)
    assert not monitor.legacy  # the installed SDK has the data-quality API
    created = monitor.ensure(spec)
    assert created.status == DataProfilingStatus.DATA_PROFILING_STATUS_PENDING
    sent = fake.requests[[m for m, p, _, _ in fake.requests].index("POST")][3]
    log = sent["data_profiling_config"]["inference_log"]
    assert sent["object_id"] == fake.tables[TABLE]["table_id"]
    assert sent["data_profiling_config"]["output_schema_id"] == fake.schemas[SCHEMA]["schema_id"]
    assert log == {"problem_type": "INFERENCE_PROBLEM_TYPE_CLASSIFICATION",
                   "timestamp_column": "timestamp", "prediction_column": "prediction",
                   "label_column": "ground_truth", "model_id_column": "model_version",
                   "granularities": ["AGGREGATION_GRANULARITY_1_DAY",
                                     "AGGREGATION_GRANULARITY_1_WEEK"]}
    assert sent["data_profiling_config"]["custom_metrics"][0]["name"] == "business_value"

    active = monitor.wait_active(TABLE, timeout=30)
    assert active.status == DataProfilingStatus.DATA_PROFILING_STATUS_ACTIVE
    done = monitor.refresh(TABLE, timeout=30)
    assert done.state == RefreshState.MONITOR_REFRESH_STATE_SUCCESS
    assert fake.calls("GET", f"{MONITORS}/table/") >= 3 + 2  # polled through PENDING, RUNNING

    report = monitor.report(spec, warehouse_id="wh-1")
    assert list(report.drift.columns) == list(DRIFT_COLUMNS)
    assert ":table" not in set(report.drift["column_name"])
    assert report.rows == 1000 + 1010
    assert report.granularity == "1d"
    assert report.drift["window_start"].dtype == "datetime64[ns]"
    alerts = report.alerts()
    assert alerts["column_name"].tolist() == ["tenure"]
    assert alerts["window_start"].tolist() == [pd.Timestamp("2026-01-06")]
    assert report.profile["business_value"].tolist() == [1200.0, 900.0]
    assert report.profile["precision_binary"].tolist() == pytest.approx([0.62, 0.58])
    assert "drift alerts: 1" in report.summary()
    assert fake.calls("GET", "/api/2.0/sql/statements/") == 2  # the second chunk of each table


def test_an_existing_monitor_is_updated_not_recreated(fake, client, spec):
    monitor = _monitor(client)
    monitor.ensure(spec)
    again = MonitorSpec(TABLE, SCHEMA, slicing_exprs=("Contract", "PaymentMethod"))
    state = monitor.ensure(again)
    assert fake.calls("POST", MONITORS) == 1 and fake.calls("PATCH", MONITORS) == 1
    _, _, query, _ = next(r for r in fake.requests if r[0] == "PATCH")
    assert "data_profiling_config.slicing_exprs" in query["update_mask"].split(",")
    assert state.raw.data_profiling_config.slicing_exprs == ["Contract", "PaymentMethod"]
    assert state.raw.data_profiling_config.monitor_version == 2


def test_a_monitor_stuck_pending_times_out_naming_status_and_time(fake, client, spec):
    fake.activate_after = None  # never becomes active
    monitor = _monitor(client)
    monitor.ensure(spec)
    with pytest.raises(MonitorTimeout) as caught:
        monitor.wait_active(TABLE, timeout=0.2)
    message = str(caught.value)
    assert "DATA_PROFILING_STATUS_PENDING" in message
    assert " after " in message and " s (timeout 0.2 s)" in message
    assert isinstance(caught.value, TimeoutError)


def test_a_failed_monitor_raises_with_the_workspace_message(fake, client, spec):
    fake.monitor_outcome = "DATA_PROFILING_STATUS_FAILED"
    monitor = _monitor(client)
    monitor.ensure(spec)
    with pytest.raises(MonitorFailed, match="DATA_PROFILING_STATUS_FAILED after .* s: the "
                                            "output schema is not writable"):
        monitor.wait_active(TABLE, timeout=30)


def test_a_failed_refresh_raises_with_its_state_and_message(fake, client, spec):
    fake.refresh_script = ("MONITOR_REFRESH_STATE_PENDING", "MONITOR_REFRESH_STATE_RUNNING",
                           "MONITOR_REFRESH_STATE_FAILED")
    monitor = _monitor(client)
    monitor.ensure(spec)
    monitor.wait_active(TABLE, timeout=30)
    with pytest.raises(MonitorFailed, match="refresh 1 .* MONITOR_REFRESH_STATE_FAILED .*"
                                            "column ground_truth not found"):
        monitor.refresh(TABLE, timeout=30)


def test_a_503_then_a_429_are_retried_transparently_by_the_sdk(fake, client, spec):
    from databricks.sdk.service.dataquality import DataProfilingStatus

    fake.fail("GET", "/api/2.1/unity-catalog/tables/", 503, "Service temporarily unavailable")
    fake.fail("POST", MONITORS, 429, "Too many requests")
    monitor = _monitor(client)
    state = monitor.ensure(spec)
    assert state.status == DataProfilingStatus.DATA_PROFILING_STATUS_PENDING
    assert fake.calls("GET", "/api/2.1/unity-catalog/tables/") == 2
    assert fake.calls("POST", MONITORS) == 2
    assert all(f.times == 0 for f in fake.faults)


def test_a_403_surfaces_at_once_with_the_server_message(fake, client, spec):
    from databricks.sdk.errors import PermissionDenied

    fake.fail("POST", MONITORS, 403, "User does not have MANAGE on table ml.churn.inference_log",
              times=5)
    with pytest.raises(PermissionDenied, match="does not have MANAGE on table"):
        _monitor(client).ensure(spec)
    assert fake.calls("POST", MONITORS) == 1  # not retried


def test_a_missing_table_is_a_404_at_once(fake, client):
    from databricks.sdk.errors import NotFound

    fake.add_schema(SCHEMA)
    with pytest.raises(NotFound, match="Table 'ml.churn.nope' does not exist"):
        _monitor(client).ensure(MonitorSpec("ml.churn.nope", SCHEMA))
    assert fake.calls("GET", "/api/2.1/unity-catalog/tables/") == 1


def test_an_invalid_request_is_a_400_with_the_message(fake, client, spec):
    from databricks.sdk.errors import BadRequest

    monitor = _monitor(client)
    monitor.ensure(spec)  # still pending: a refresh is refused
    with pytest.raises(BadRequest, match="Monitor is not active"):
        monitor.start_refresh(TABLE)


def test_a_refresh_can_be_listed_and_cancelled(fake, client, spec):
    from databricks.sdk.service.dataquality import RefreshState

    fake.refresh_script = ("MONITOR_REFRESH_STATE_PENDING", "MONITOR_REFRESH_STATE_RUNNING")
    monitor = _monitor(client)
    monitor.ensure(spec)
    monitor.wait_active(TABLE, timeout=30)
    started = monitor.start_refresh(TABLE)
    monitor.cancel_refresh(TABLE, started.refresh_id)
    [listed] = monitor.refreshes(TABLE)
    assert listed.state == RefreshState.MONITOR_REFRESH_STATE_CANCELED
    with pytest.raises(MonitorFailed, match="CANCELED"):
        monitor._wait(lambda: monitor.refresh_state(TABLE, started.refresh_id),
                      lambda r: r.state, done=set(),
                      failed={RefreshState.MONITOR_REFRESH_STATE_CANCELED}, what="refresh",
                      timeout=5)


def test_a_query_callable_replaces_the_warehouse(fake, client, spec):
    from closedloop.platform.metric_tables import statement_runner

    monitor = _monitor(client)
    monitor.ensure(spec)
    monitor.wait_active(TABLE, timeout=30)
    monitor.refresh(TABLE, timeout=30)
    seen = []
    run = statement_runner(client, "wh-1")

    def query(sql):
        seen.append(sql)
        return run(sql)

    report = monitor.report(spec, query=query)
    assert seen == ["SELECT * FROM `ml`.`churn`.`inference_log_profile_metrics`",
                    "SELECT * FROM `ml`.`churn`.`inference_log_drift_metrics`"]
    assert len(report.drift) == 4


def test_the_business_metric_is_a_valid_custom_metric():
    from databricks.sdk.service import dataquality as dq

    metric = business_value_metric(50, -5)
    assert "{{prediction_col}}" in metric.definition and "{{label_col}}" in metric.definition
    assert dq.DataProfilingCustomMetricType[
        f"DATA_PROFILING_CUSTOM_METRIC_TYPE_{metric.kind.upper()}"]


def test_unsupported_granularities_are_refused():
    with pytest.raises(ValueError, match="no workspace equivalent"):
        MonitorSpec(TABLE, SCHEMA, granularities=("6h",))


def test_the_job_step_refreshes_decides_and_sets_the_task_value(fake, client):
    from closedloop.platform.jobs import monitor_step
    from closedloop.platform.target import Target

    fake.add_table(TABLE)
    fake.add_table("ml.churn.baseline")
    target = Target.resolve("databricks", env={}, catalog="ml", schema="churn",
                            warehouse_id="wh-1")
    values = {}
    report, retrain = monitor_step(client, target, baseline_table="ml.churn.baseline",
                                   set_task_value=values.__setitem__, timeout=30,
                                   poll_interval=0.01)
    assert retrain and values == {"retrain": "true"}
    assert report.baseline == "ml.churn.baseline"


def test_without_the_data_quality_api_the_deprecated_one_is_used(fake, client, spec):
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service.dataquality import DataProfilingStatus, RefreshState

    class OlderClient(WorkspaceClient):  # the real SDK, as an SDK without data_quality sees it
        data_quality = None

    monitor = _monitor(OlderClient(config=client.config))
    assert monitor.legacy
    created = monitor.ensure(spec)
    assert created.status == DataProfilingStatus.DATA_PROFILING_STATUS_PENDING
    assert monitor.wait_active(TABLE, timeout=30).status == (
        DataProfilingStatus.DATA_PROFILING_STATUS_ACTIVE)
    assert monitor.refresh(TABLE, timeout=30).state == RefreshState.MONITOR_REFRESH_STATE_SUCCESS
    assert fake.calls("POST", f"/api/2.1/unity-catalog/tables/{TABLE}/monitor") == 2
    assert fake.calls("POST", MONITORS) == 0
    assert len(monitor.report(spec, warehouse_id="wh-1").drift) == 4
