"""The Databricks adapter: the inference-log monitor, its refreshes and its metric tables.

:class:`DatabricksMonitor` drives a workspace's data-quality monitor through ``databricks-sdk``
so that ``closedloop monitor`` means the same on a workspace as on a laptop:

1. :meth:`~DatabricksMonitor.ensure` creates (or updates) an *inference-log* data-profiling monitor
   on the inference table: classification, prediction, label, timestamp and model-version
   columns, granularities, slices, baseline table and a custom business-value metric
   (:func:`business_value_metric`);
2. :meth:`~DatabricksMonitor.wait_active` polls it until it is active, with a timeout and a
   growing interval, comparing SDK enum to SDK enum, and raises :class:`~closedloop.platform.errors.MonitorTimeout` or
   :class:`~closedloop.platform.errors.MonitorFailed` naming the last status and the time waited;
3. :meth:`~DatabricksMonitor.refresh` runs a refresh and waits for its terminal state;
4. :meth:`~DatabricksMonitor.report` reads the profile and drift metric tables (through the SQL
   statement execution API, or any ``query(sql) -> DataFrame`` the caller passes, e.g.
   ``lambda sql: spark.sql(sql).toPandas()``) into the
   :class:`~closedloop.monitoring.report.MonitorReport` local monitoring returns.

Which API each call uses. The data-quality API (``w.data_quality``, REST
``/api/data-quality/v1/monitors``) is used whenever the installed SDK has it (0.162 does):

=====================  ==========================================================================
step                   call (REST)
=====================  ==========================================================================
table UUID             ``w.tables.get(full_name).table_id``
                       (``GET /api/2.1/unity-catalog/tables/{full_name}``)
output schema UUID     ``w.schemas.get(full_name).schema_id``
                       (``GET /api/2.1/unity-catalog/schemas/{full_name}``)
read monitor           ``w.data_quality.get_monitor("table", table_id)``
                       (``GET /api/data-quality/v1/monitors/table/{table_id}``)
create monitor         ``w.data_quality.create_monitor(Monitor(...))``
                       (``POST /api/data-quality/v1/monitors``)
update monitor         ``w.data_quality.update_monitor("table", table_id, monitor, update_mask)``
                       (``PATCH /api/data-quality/v1/monitors/table/{table_id}?update_mask=...``)
run refresh            ``w.data_quality.create_refresh("table", table_id, Refresh(...))``
                       (``POST .../monitors/table/{table_id}/refreshes``)
refresh state          ``w.data_quality.get_refresh("table", table_id, refresh_id)``
                       (``GET .../monitors/table/{table_id}/refreshes/{refresh_id}``)
list / cancel refresh  ``list_refresh`` (``GET .../refreshes``), ``cancel_refresh``
                       (``POST .../refreshes/{refresh_id}/cancel``)
metric tables          ``w.statement_execution.execute_statement`` / ``get_statement`` /
                       ``get_statement_result_chunk_n`` (``/api/2.0/sql/statements``)
=====================  ==========================================================================

Only when the installed SDK has no ``data_quality`` attribute (before it existed) does the adapter
fall back to the deprecated ``w.quality_monitors`` (``create``, ``update``, ``get``,
``run_refresh``, ``get_refresh``, ``list_refreshes``, ``cancel_refresh`` on
``/api/2.1/unity-catalog/tables/{full_name}/monitor``); its statuses are mapped onto the
data-quality enums, so the waiting code compares the same enums on both paths.

Errors. Transient ones are retried by the SDK itself, inside every call
(``databricks.sdk._base_client._BaseClient.do`` wraps each request in
``databricks.sdk.retries.retried``): a 429 or 503 carries ``retry_after_secs`` (the
``Retry-After`` header, 1 s when absent), the call sleeps that long plus up to 1 s of jitter and
tries again, until the client's ``retry_timeout_seconds`` (default 300) runs out, then raises
``TimeoutError``; connection errors and timeouts are retried the same way with a linear backoff
capped at 10 s. Permanent errors (400 ``BadRequest``, 403 ``PermissionDenied``, 404
``NotFound``, all ``databricks.sdk.errors.DatabricksError``) are raised at the first response
with the workspace's message; the adapter lets them through unchanged, except a 404 on
``get_monitor``, which means "no monitor yet" and leads to a create.

Mapping of the drift metrics table onto the local drift table
(:data:`closedloop.monitoring.drift.DRIFT_COLUMNS`), see :data:`~closedloop.platform.metric_tables.DRIFT_COLUMN_MAP`:
``window.start/end`` -> ``window_start/end``, ``window_cmp.start/end`` ->
``window_cmp_start/end``, ``drift_type``, ``granularity`` (``"1 day"`` -> ``"1d"``),
``column_name``, ``data_type`` -> ``column_kind`` (numeric types ``numeric``, others
``categorical``), ``model_id_col`` -> ``model_id``, ``slice_key``, ``slice_value``,
``count_delta``, ``avg_delta``, ``percent_null_delta``, ``ks_test.statistic/pvalue`` ->
``ks_statistic/ks_pvalue``, ``chi_squared_test.statistic/pvalue`` ->
``chi_squared_statistic/pvalue``, ``wasserstein_distance``, ``population_stability_index``,
``js_distance`` -> ``jensen_shannon_distance``, ``tv_distance``, ``l_infinity_distance``. Derived
here: ``value_test`` (whichever test the workspace ran), ``psi_band``, and ``drift_detected`` /
``drift_reason`` (the value test Bonferroni-corrected over the tests of one window, comparison,
model and slice, and the PSI floor, as locally). Not computed by the workspace, left empty:
``count``, ``count_cmp``, the null rates and their chi-square test,
``wasserstein_distance_normalized``; ``type_mismatch`` is False (Delta enforces the schema). The
table-level rows (``column_name == ":table"``) are dropped.

See Also
--------
Chapter :doc:`From laptop to workspace </book/11_laptop_to_workspace>`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from closedloop.monitoring.drift import DriftConfig
from closedloop.monitoring.report import MonitorReport
from closedloop.monitoring.windows import Granularity
from closedloop.platform.errors import MonitorFailed, MonitorTimeout, PlatformError, Query
from closedloop.platform.metric_tables import (
    OUTPUT_GRANULARITIES,
    drift_from_databricks,
    profile_from_databricks,
    statement_runner,
)

#: Local granularity label -> ``AggregationGranularity`` member name.
GRANULARITIES: Mapping[str, str] = {
    "1h": "AGGREGATION_GRANULARITY_1_HOUR", "1d": "AGGREGATION_GRANULARITY_1_DAY",
    "1w": "AGGREGATION_GRANULARITY_1_WEEK", "2w": "AGGREGATION_GRANULARITY_2_WEEKS",
    "3w": "AGGREGATION_GRANULARITY_3_WEEKS", "4w": "AGGREGATION_GRANULARITY_4_WEEKS",
    "1mo": "AGGREGATION_GRANULARITY_1_MONTH",
}
#: The metric tables' ``granularity`` values (and the legacy API's) -> local labels.









@dataclass(frozen=True)
class CustomMetric:
    """A custom metric of the monitor: a SQL aggregate (Jinja template) over the table."""

    name: str
    definition: str
    input_columns: tuple[str, ...] = (":table",)
    output_type: str = "double"
    kind: str = "aggregate"  # aggregate, derived or drift

    def output_data_type(self) -> str:
        """The Spark ``StructField`` JSON the API expects as ``output_data_type``."""
        return json.dumps({"name": "output", "type": self.output_type, "nullable": True,
                           "metadata": {}})


def business_value_metric(value_tp: float = 100.0, value_fp: float = -10.0,
                          value_fn: float = 0.0, value_tn: float = 0.0,
                          name: str = "business_value") -> CustomMetric:
    """The value the model's decisions created in a window: the sum over labelled rows of the
    value of each outcome (true positive: a churner kept; false positive: an offer to a loyal
    customer; ...), as the workspace computes it.

    Examples
    --------
    >>> metric = business_value_metric(80, -5)
    >>> print(metric.definition)  # doctest: +NORMALIZE_WHITESPACE
    SUM(CASE WHEN {{label_col}} IS NULL THEN 0.0 WHEN {{prediction_col}} = 1 AND {{label_col}} = 1
    THEN 80.0 WHEN {{prediction_col}} = 1 AND {{label_col}} = 0 THEN -5.0 WHEN {{prediction_col}} =
    0 AND {{label_col}} = 1 THEN 0.0 ELSE 0.0 END)
    """
    p, y = "{{prediction_col}}", "{{label_col}}"
    definition = (
        f"SUM(CASE WHEN {y} IS NULL THEN 0.0 "
        f"WHEN {p} = 1 AND {y} = 1 THEN {float(value_tp)} "
        f"WHEN {p} = 1 AND {y} = 0 THEN {float(value_fp)} "
        f"WHEN {p} = 0 AND {y} = 1 THEN {float(value_fn)} ELSE {float(value_tn)} END)")
    return CustomMetric(name, definition)


@dataclass(frozen=True)
class MonitorSpec:
    """What to monitor: an inference-log monitor on ``table``.

    Parameters
    ----------
    table : str
        The inference table, ``catalog.schema.table`` (``Target.inference_table_name()``).
    output_schema : str
        ``catalog.schema`` that receives the profile and drift metric tables.
    timestamp_column, prediction_column, label_column, model_id_column : str
        Columns of the inference log (the local log's names by default).
    granularities : sequence of str
        Local granularity labels (``"1d"``, ``"1w"``, ...; see :data:`GRANULARITIES`).
    slicing_exprs : sequence of str
        Slices (column names or SQL expressions), e.g. ``("Contract",)``.
    baseline_table : str, optional
        ``catalog.schema.table`` of the baseline (the champion's held-out rows, scored).
    custom_metrics : sequence of CustomMetric
        Default: the business value (:func:`business_value_metric`).
    schedule : str, optional
        Quartz cron expression of scheduled refreshes (none: refreshed by the loop's job).
    assets_dir : str, optional
        Workspace folder of the dashboard (legacy API: required).
    """

    table: str
    output_schema: str
    timestamp_column: str = "timestamp"
    prediction_column: str = "prediction"
    label_column: str = "ground_truth"
    model_id_column: str = "model_version"
    granularities: tuple[str, ...] = ("1d",)
    slicing_exprs: tuple[str, ...] = ()
    baseline_table: str | None = None
    custom_metrics: tuple[CustomMetric, ...] = field(
        default_factory=lambda: (business_value_metric(),))
    schedule: str | None = None
    timezone: str = "UTC"
    assets_dir: str | None = None

    def __post_init__(self) -> None:
        labels = tuple(Granularity.parse(g).label for g in self.granularities)
        unknown = [g for g in labels if g not in GRANULARITIES]
        if unknown:
            raise ValueError(f"granularities {unknown} have no workspace equivalent: "
                             f"use some of {list(GRANULARITIES)}")
        object.__setattr__(self, "granularities", labels)
        object.__setattr__(self, "slicing_exprs", tuple(self.slicing_exprs))
        object.__setattr__(self, "custom_metrics", tuple(self.custom_metrics))


@dataclass(frozen=True)
class MonitorState:
    """A monitor as the adapter sees it, whichever API returned it."""

    status: Any  # DataProfilingStatus
    profile_metrics_table: str | None
    drift_metrics_table: str | None
    message: str | None
    raw: Any


@dataclass(frozen=True)
class RefreshState:
    """A refresh as the adapter sees it: ``state`` is a ``dataquality.RefreshState``."""

    refresh_id: int
    state: Any
    message: str | None
    raw: Any


class DatabricksMonitor:
    """The inference-log monitor of one workspace (see the module docstring for the calls).

    Parameters
    ----------
    client : databricks.sdk.WorkspaceClient
        The workspace. Its ``retry_timeout_seconds`` bounds the SDK's own retries of 429/503.
    poll_interval : float
        First wait between two polls, in seconds; multiplied by ``backoff`` after each poll up to
        ``max_interval``.
    sleep, clock : callable
        ``time.sleep`` and ``time.monotonic`` by default.

    Examples
    --------
    >>> from databricks.sdk import WorkspaceClient  # doctest: +SKIP
    >>> monitor = DatabricksMonitor(WorkspaceClient())  # doctest: +SKIP
    >>> spec = MonitorSpec("ml.churn.inference_log", "ml.churn")  # doctest: +SKIP
    >>> monitor.ensure(spec); monitor.wait_active(spec.table)  # doctest: +SKIP
    >>> monitor.refresh(spec.table); monitor.report(spec, warehouse_id="abc")  # doctest: +SKIP
    """

    def __init__(self, client: Any, *, poll_interval: float = 10.0, max_interval: float = 60.0,
                 backoff: float = 1.5, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.poll_interval, self.max_interval, self.backoff = poll_interval, max_interval, backoff
        self._sleep, self._clock = sleep, clock
        self._ids: dict[str, str] = {}

    @property
    def legacy(self) -> bool:
        """True when the installed SDK lacks ``data_quality`` (the deprecated API is used)."""
        return getattr(self.client, "data_quality", None) is None

    # -- identifiers ------------------------------------------------------------------------
    def table_id(self, table: str) -> str:
        """The table's UUID (``w.tables.get``), the ``object_id`` of the data-quality API."""
        if table not in self._ids:
            info = self.client.tables.get(table)
            if not info.table_id:
                raise PlatformError(f"table {table} has no table_id in the workspace's answer")
            self._ids[table] = info.table_id
        return self._ids[table]

    def schema_id(self, schema: str) -> str:
        """The schema's UUID (``w.schemas.get``), the ``output_schema_id`` of the monitor."""
        info = self.client.schemas.get(schema)
        if not info.schema_id:
            raise PlatformError(f"schema {schema} has no schema_id in the workspace's answer")
        return info.schema_id

    # -- monitor ----------------------------------------------------------------------------
    def monitor_config(self, spec: MonitorSpec) -> Any:
        """The ``dataquality.Monitor`` that :meth:`ensure` sends for ``spec``."""
        from databricks.sdk.service import dataquality as dq

        schedule = (dq.CronSchedule(quartz_cron_expression=spec.schedule,
                                    timezone_id=spec.timezone) if spec.schedule else None)
        config = dq.DataProfilingConfig(
            output_schema_id=self.schema_id(spec.output_schema),
            assets_dir=spec.assets_dir,
            inference_log=dq.InferenceLogConfig(
                problem_type=dq.InferenceProblemType.INFERENCE_PROBLEM_TYPE_CLASSIFICATION,
                timestamp_column=spec.timestamp_column,
                granularities=[dq.AggregationGranularity[GRANULARITIES[g]]
                               for g in spec.granularities],
                prediction_column=spec.prediction_column,
                model_id_column=spec.model_id_column,
                label_column=spec.label_column),
            baseline_table_name=spec.baseline_table,
            slicing_exprs=list(spec.slicing_exprs) or None,
            custom_metrics=[dq.DataProfilingCustomMetric(
                name=m.name, definition=m.definition, input_columns=list(m.input_columns),
                output_data_type=m.output_data_type(),
                type=dq.DataProfilingCustomMetricType[
                    f"DATA_PROFILING_CUSTOM_METRIC_TYPE_{m.kind.upper()}"])
                for m in spec.custom_metrics] or None,
            schedule=schedule)
        return dq.Monitor(object_type="table", object_id=self.table_id(spec.table),
                          data_profiling_config=config)

    def status(self, table: str) -> MonitorState:
        """The monitor now (``get_monitor``; legacy ``quality_monitors.get``)."""
        if self.legacy:
            return _legacy_state(self.client.quality_monitors.get(table))
        return _state(self.client.data_quality.get_monitor("table", self.table_id(table)))

    def ensure(self, spec: MonitorSpec) -> MonitorState:
        """Create the monitor, or update it to ``spec`` if the table already has one.

        Data-quality API: ``get_monitor``, then ``create_monitor`` (on a 404) or
        ``update_monitor`` with an ``update_mask`` naming the fields ``spec`` sets.
        """
        from databricks.sdk.errors import NotFound

        if self.legacy:
            return self._legacy_ensure(spec)
        api, monitor = self.client.data_quality, self.monitor_config(spec)
        try:
            api.get_monitor("table", monitor.object_id)
        except NotFound:
            return _state(api.create_monitor(monitor))
        config = monitor.data_profiling_config
        fields = [name for name in ("inference_log", "baseline_table_name", "slicing_exprs",
                                    "custom_metrics", "schedule")
                  if getattr(config, name) is not None]
        mask = ",".join(f"data_profiling_config.{name}" for name in fields)
        return _state(api.update_monitor("table", monitor.object_id, monitor, update_mask=mask))

    def wait_active(self, table: str, timeout: float = 600.0) -> MonitorState:
        """Poll the monitor until it is active.

        Raises
        ------
        MonitorFailed
            The status became ``DATA_PROFILING_STATUS_ERROR`` or ``_FAILED`` (with the
            workspace's failure message).
        MonitorTimeout
            Still not active after ``timeout`` seconds; the message names the last status and
            the time waited.
        """
        from databricks.sdk.service.dataquality import DataProfilingStatus as S

        return self._wait(lambda: self.status(table), lambda s: s.status,
                          done={S.DATA_PROFILING_STATUS_ACTIVE},
                          failed={S.DATA_PROFILING_STATUS_ERROR, S.DATA_PROFILING_STATUS_FAILED},
                          what=f"monitor on {table}", timeout=timeout)

    # -- refreshes --------------------------------------------------------------------------
    def start_refresh(self, table: str) -> RefreshState:
        """Start a refresh (``create_refresh``; legacy ``run_refresh``)."""
        if self.legacy:
            return _legacy_refresh(self.client.quality_monitors.run_refresh(table))
        from databricks.sdk.service.dataquality import Refresh

        object_id = self.table_id(table)
        return _refresh(self.client.data_quality.create_refresh(
            "table", object_id, Refresh(object_type="table", object_id=object_id)))

    def refresh_state(self, table: str, refresh_id: int) -> RefreshState:
        """One refresh now (``get_refresh``; legacy ``quality_monitors.get_refresh``)."""
        if self.legacy:
            return _legacy_refresh(self.client.quality_monitors.get_refresh(table, refresh_id))
        return _refresh(self.client.data_quality.get_refresh(
            "table", self.table_id(table), refresh_id))

    def refreshes(self, table: str) -> list[RefreshState]:
        """Every refresh of the monitor (``list_refresh``; legacy ``list_refreshes``)."""
        if self.legacy:
            found = self.client.quality_monitors.list_refreshes(table).refreshes or []
            return [_legacy_refresh(r) for r in found]
        return [_refresh(r) for r in
                self.client.data_quality.list_refresh("table", self.table_id(table))]

    def cancel_refresh(self, table: str, refresh_id: int) -> None:
        """Cancel a refresh (``cancel_refresh`` on either API)."""
        if self.legacy:
            self.client.quality_monitors.cancel_refresh(table, refresh_id)
        else:
            self.client.data_quality.cancel_refresh("table", self.table_id(table), refresh_id)

    def refresh(self, table: str, timeout: float = 3600.0) -> RefreshState:
        """Run a refresh and wait for its terminal state.

        Raises
        ------
        MonitorFailed
            The refresh ended ``MONITOR_REFRESH_STATE_FAILED`` or ``_CANCELED``.
        MonitorTimeout
            Not finished after ``timeout`` seconds (it keeps running: cancel it with
            :meth:`cancel_refresh` and the id the message gives).
        """
        from databricks.sdk.service.dataquality import RefreshState as R

        started = self.start_refresh(table)
        return self._wait(lambda: self.refresh_state(table, started.refresh_id),
                          lambda r: r.state, done={R.MONITOR_REFRESH_STATE_SUCCESS},
                          failed={R.MONITOR_REFRESH_STATE_FAILED,
                                  R.MONITOR_REFRESH_STATE_CANCELED},
                          what=f"refresh {started.refresh_id} of the monitor on {table}",
                          timeout=timeout)

    def _wait(self, fetch: Callable[[], Any], state_of: Callable[[Any], Any], *, done: set,
              failed: set, what: str, timeout: float) -> Any:
        start, interval = self._clock(), self.poll_interval
        while True:
            current = fetch()
            state, elapsed = state_of(current), self._clock() - start
            if state in done:
                return current
            name = getattr(state, "name", str(state))
            if state in failed:
                detail = f": {current.message}" if current.message else ""
                raise MonitorFailed(f"{what} ended {name} after {elapsed:.1f} s{detail}")
            if elapsed >= timeout:
                raise MonitorTimeout(f"{what} still {name} after {elapsed:.1f} s "
                                     f"(timeout {timeout:g} s)")
            self._sleep(max(0.0, min(interval, timeout - elapsed)))
            interval = min(interval * self.backoff, self.max_interval)

    # -- metric tables ----------------------------------------------------------------------
    def report(self, spec: MonitorSpec | str, *, query: Query | None = None,
               warehouse_id: str | None = None, config: DriftConfig = DriftConfig()
               ) -> MonitorReport:
        """The monitor's profile and drift tables as a local
        :class:`~closedloop.monitoring.report.MonitorReport`.

        ``query(sql)`` runs the two ``SELECT`` statements; by default they go through the SQL
        statement execution API on ``warehouse_id`` (:func:`~closedloop.platform.metric_tables.statement_runner`). The estimate
        table is empty: the workspace computes no label-free estimate.
        """
        table = spec.table if isinstance(spec, MonitorSpec) else spec
        state = self.status(table)
        if not state.profile_metrics_table or not state.drift_metrics_table:
            raise PlatformError(f"the monitor on {table} names no metric tables yet "
                                f"(status {getattr(state.status, 'name', state.status)})")
        if query is None:
            if not warehouse_id:
                raise ValueError("pass query= or warehouse_id= to read the metric tables")
            query = statement_runner(self.client, warehouse_id, sleep=self._sleep)
        custom = [m.name for m in spec.custom_metrics] if isinstance(spec, MonitorSpec) else ()
        profile = profile_from_databricks(
            query(f"SELECT * FROM {_quote(state.profile_metrics_table)}"), custom=custom)
        drift = drift_from_databricks(
            query(f"SELECT * FROM {_quote(state.drift_metrics_table)}"), config)
        overall = profile[profile["slice_key"].isna()] if len(profile) else profile
        grains = sorted(set(profile["granularity"].dropna())) if len(profile) else []
        baseline = (spec.baseline_table if isinstance(spec, MonitorSpec) else None) or "none"
        return MonitorReport(
            granularity=",".join(grains) or "n/a", rows=int(overall["row_count"].sum()),
            baseline=baseline, profile=profile, drift=drift,
            estimate=pd.DataFrame(columns=["window_start", "metric", "estimated"]),
            notes=[f"read from {state.profile_metrics_table} and {state.drift_metrics_table}"])

    # -- legacy (quality_monitors) ----------------------------------------------------------
    def _legacy_ensure(self, spec: MonitorSpec) -> MonitorState:
        from databricks.sdk.errors import NotFound
        from databricks.sdk.service import catalog as c

        reverse = {v: k for k, v in OUTPUT_GRANULARITIES.items()}
        kwargs = dict(
            baseline_table_name=spec.baseline_table,
            slicing_exprs=list(spec.slicing_exprs) or None,
            inference_log=c.MonitorInferenceLog(
                problem_type=c.MonitorInferenceLogProblemType.PROBLEM_TYPE_CLASSIFICATION,
                timestamp_col=spec.timestamp_column,
                granularities=[reverse[g] for g in spec.granularities],
                prediction_col=spec.prediction_column, model_id_col=spec.model_id_column,
                label_col=spec.label_column),
            custom_metrics=[c.MonitorMetric(
                name=m.name, definition=m.definition, input_columns=list(m.input_columns),
                output_data_type=m.output_data_type(),
                type=c.MonitorMetricType[f"CUSTOM_METRIC_TYPE_{m.kind.upper()}"])
                for m in spec.custom_metrics] or None,
            schedule=(c.MonitorCronSchedule(quartz_cron_expression=spec.schedule,
                                            timezone_id=spec.timezone)
                      if spec.schedule else None))
        api = self.client.quality_monitors
        try:
            api.get(spec.table)
        except NotFound:
            assets = spec.assets_dir or f"/Shared/closedloop/{spec.table}"
            return _legacy_state(api.create(spec.table, spec.output_schema, assets, **kwargs))
        return _legacy_state(api.update(spec.table, spec.output_schema, **kwargs))


def _state(monitor: Any) -> MonitorState:
    config = monitor.data_profiling_config
    if config is None:
        raise PlatformError(f"monitor {monitor.object_id} has no data profiling configuration")
    return MonitorState(config.status, config.profile_metrics_table_name,
                        config.drift_metrics_table_name, config.latest_monitor_failure_message,
                        monitor)


def _legacy_state(info: Any) -> MonitorState:
    from databricks.sdk.service.dataquality import DataProfilingStatus

    status = (DataProfilingStatus[info.status.name.replace("MONITOR_STATUS",
                                                           "DATA_PROFILING_STATUS")]
              if info.status is not None else None)
    return MonitorState(status, info.profile_metrics_table_name, info.drift_metrics_table_name,
                        info.latest_monitor_failure_msg, info)


def _refresh(refresh: Any) -> RefreshState:
    return RefreshState(refresh.refresh_id, refresh.state, refresh.message, refresh)


def _legacy_refresh(info: Any) -> RefreshState:
    from databricks.sdk.service.dataquality import RefreshState as R

    state = R[f"MONITOR_REFRESH_STATE_{info.state.name}"] if info.state is not None else None
    return RefreshState(info.refresh_id, state, info.message, info)


def _quote(name: str) -> str:
    return ".".join(f"`{part.strip('`')}`" for part in name.split("."))


# -- client --------------------------------------------------------------------------------
def workspace_client(stand_in: Any | None = None, *,
                     retry_timeout_seconds: float | None = None, **config: Any) -> Any:
    """A ``databricks.sdk.WorkspaceClient`` on a stand-in or on the environment's workspace.

    Parameters
    ----------
    stand_in : closedloop.platform.fake_workspace.FakeWorkspace, optional
        A started stand-in: the client talks to its ``url`` with its ``token``. None: the
        workspace the environment names, read by the SDK itself (``DATABRICKS_HOST`` and
        ``DATABRICKS_TOKEN``, a ``~/.databrickscfg`` profile, or the notebook's own
        credentials on a cluster).
    retry_timeout_seconds : float, optional
        Budget of the SDK's own retries of 429 and 503 (the SDK's default, 300 s, if None).
    **config
        Further ``databricks.sdk.config.Config`` fields (``host``, ``token``, ``profile``...),
        which win over the environment.

    Returns
    -------
    databricks.sdk.WorkspaceClient
    """
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.config import Config

    if stand_in is not None:
        config = {"host": stand_in.url, "token": stand_in.token, "auth_type": "pat", **config}
    if retry_timeout_seconds is not None:
        config["retry_timeout_seconds"] = retry_timeout_seconds
    return WorkspaceClient(config=Config(**config))
















