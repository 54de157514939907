"""A stand-in Databricks workspace for tests and the book, not a workspace: an HTTP server on
127.0.0.1 speaking the REST protocol the adapter uses, so the real ``databricks-sdk`` (its
serialisation, error parsing and retries) is exercised without a network or Python mocks.

It lives in the package (not under ``tests/``) so that the chapter :doc:`From laptop to workspace </book/11_laptop_to_workspace>` can run the adapter live; the unit tests
(``tests/unit/platform``) import it from here. It answers only the calls listed below, keeps its
state in memory, accepts one token (``token``) and fabricates the metric tables; passing against
it says the adapter speaks the protocol as the SDK defines it, not that a real workspace accepts
every request.

Endpoints (paths, methods and JSON field names as in ``databricks/sdk/service/dataquality.py``,
``catalog.py`` and ``sql.py`` of databricks-sdk 0.162):

- ``GET /.well-known/databricks-config`` (the SDK's host-metadata probe at client creation): 404;
- ``GET /api/2.1/unity-catalog/tables/{full_name}``, ``GET .../schemas/{full_name}``;
- ``POST /api/data-quality/v1/monitors``, ``GET`` / ``PATCH`` ``.../monitors/table/{table_id}``;
- ``POST`` / ``GET .../monitors/table/{table_id}/refreshes``,
  ``GET .../refreshes/{refresh_id}``, ``POST .../refreshes/{refresh_id}/cancel``;
- the deprecated quality-monitors API on the same state: ``POST`` / ``GET
  /api/2.1/unity-catalog/tables/{full_name}/monitor``, ``POST .../monitor/refreshes``,
  ``GET .../monitor/refreshes/{refresh_id}``;
- ``POST /api/2.0/sql/statements``, ``GET /api/2.0/sql/statements/{id}`` (``SELECT * FROM``
  one of the metric tables, answered inline as JSON arrays of strings in two chunks) and
  ``GET .../statements/{id}/result/chunks/1``.

State: a new monitor is ``DATA_PROFILING_STATUS_PENDING`` and becomes ``_ACTIVE`` after
``activate_after`` reads (never when None; ``monitor_outcome`` may make it ``_FAILED``); a refresh
walks ``refresh_script`` one step per read (PENDING, RUNNING, SUCCESS by default) and, on
success, writes the profile and drift metric tables. :meth:`FakeWorkspace.fail` queues error
responses (429 and 503 with ``Retry-After: 0``, 403, ...) for the next matching requests.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_CODES = {400: "INVALID_PARAMETER_VALUE", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
          404: "NOT_FOUND", 409: "ALREADY_EXISTS", 429: "REQUEST_LIMIT_EXCEEDED",
          503: "TEMPORARILY_UNAVAILABLE"}
_GRANULARITIES = {
    "AGGREGATION_GRANULARITY_5_MINUTES": "5 minutes",
    "AGGREGATION_GRANULARITY_30_MINUTES": "30 minutes",
    "AGGREGATION_GRANULARITY_1_HOUR": "1 hour", "AGGREGATION_GRANULARITY_1_DAY": "1 day",
    "AGGREGATION_GRANULARITY_1_WEEK": "1 week", "AGGREGATION_GRANULARITY_2_WEEKS": "2 weeks",
    "AGGREGATION_GRANULARITY_3_WEEKS": "3 weeks", "AGGREGATION_GRANULARITY_4_WEEKS": "4 weeks",
    "AGGREGATION_GRANULARITY_1_MONTH": "1 month", "AGGREGATION_GRANULARITY_1_YEAR": "1 year",
}
_PROBLEM_TYPES = {"INFERENCE_PROBLEM_TYPE_CLASSIFICATION", "INFERENCE_PROBLEM_TYPE_REGRESSION"}
_METRIC_TYPES = {"DATA_PROFILING_CUSTOM_METRIC_TYPE_AGGREGATE",
                 "DATA_PROFILING_CUSTOM_METRIC_TYPE_DERIVED",
                 "DATA_PROFILING_CUSTOM_METRIC_TYPE_DRIFT"}
_MONITORS = "/api/data-quality/v1/monitors"


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


@dataclass
class Fault:
    method: str
    path: str  # a prefix of the request path
    status: int
    message: str
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeWorkspace:
    """The workspace's state and behaviour knobs; :attr:`url` once started."""

    activate_after: int | None = 2
    monitor_outcome: str = "DATA_PROFILING_STATUS_ACTIVE"
    refresh_script: tuple[str, ...] = ("MONITOR_REFRESH_STATE_PENDING",
                                       "MONITOR_REFRESH_STATE_RUNNING",
                                       "MONITOR_REFRESH_STATE_SUCCESS")
    token: str = "x"
    tables: dict[str, dict] = field(default_factory=dict)
    schemas: dict[str, dict] = field(default_factory=dict)
    monitors: dict[str, dict] = field(default_factory=dict)
    refreshes: dict[str, list[dict]] = field(default_factory=dict)
    metric_tables: dict[str, tuple[list[tuple[str, str]], list[list[Any]]]] = field(
        default_factory=dict)
    statements: dict[str, dict] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    requests: list[tuple[str, str, dict, Any]] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._monitor_reads: dict[str, int] = {}
        self._refresh_reads: dict[tuple[str, int], int] = {}
        self._chunks: dict[str, dict] = {}

    # -- set-up -----------------------------------------------------------------------------
    def add_table(self, full_name: str) -> str:
        catalog, schema, name = full_name.split(".")
        self.add_schema(f"{catalog}.{schema}")
        table_id = str(uuid.uuid4())
        self.tables[full_name] = {
            "full_name": full_name, "catalog_name": catalog, "schema_name": schema,
            "name": name, "table_id": table_id, "table_type": "MANAGED",
            "data_source_format": "DELTA"}
        return table_id

    def add_schema(self, full_name: str) -> str:
        if full_name not in self.schemas:
            catalog, name = full_name.split(".")
            self.schemas[full_name] = {"full_name": full_name, "catalog_name": catalog,
                                       "name": name, "schema_id": str(uuid.uuid4())}
        return self.schemas[full_name]["schema_id"]

    def fail(self, method: str, path: str, status: int, message: str = "", *, times: int = 1,
             retry_after: str | None = "0") -> None:
        """Answer the next ``times`` requests ``method path*`` with an error."""
        headers = {"Retry-After": retry_after} if status in (429, 503) and retry_after else {}
        self.faults.append(Fault(method, path, status, message or f"injected {status}", times,
                                 headers))

    def calls(self, method: str, prefix: str) -> int:
        return sum(1 for m, p, _, _ in self.requests if m == method and p.startswith(prefix))

    # -- server -----------------------------------------------------------------------------
    def start(self) -> FakeWorkspace:
        workspace = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep the test output clean
                pass

            def _handle(self) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                query = dict(urllib.parse.parse_qsl(parsed.query))
                try:
                    status, payload = workspace.handle(
                        self.command, urllib.parse.unquote(parsed.path), query, body,
                        self.headers.get("Authorization"))
                    headers: dict[str, str] = {}
                except ApiError as err:
                    status, headers = err.status, err.headers
                    payload = {"error_code": _CODES.get(err.status, "UNKNOWN"),
                               "message": err.message}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    # -- protocol ---------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict, body: Any,
               auth: str | None) -> tuple[int, Any]:
        with self._lock:
            self.requests.append((method, path, query, body))
            if path == "/.well-known/databricks-config":
                raise ApiError(404, "no host metadata in the fake workspace")
            if auth != f"Bearer {self.token}":
                raise ApiError(401, "invalid access token")
            for fault in self.faults:
                if fault.method == method and path.startswith(fault.path) and fault.times > 0:
                    fault.times -= 1
                    raise ApiError(fault.status, fault.message, fault.headers)
            return self._route(method, path, query, body)

    def _route(self, method: str, path: str, query: dict, body: Any) -> tuple[int, Any]:
        m = re.fullmatch(r"/api/2\.1/unity-catalog/tables/([^/]+)/monitor(/refreshes(?:/(\d+))?)?",
                         path)
        if m:
            return 200, self._legacy(method, m.group(1), m.group(2), m.group(3), body)
        m = re.fullmatch(r"/api/2\.1/unity-catalog/(tables|schemas)/([^/]+)", path)
        if m and method == "GET":
            store = self.tables if m.group(1) == "tables" else self.schemas
            if m.group(2) not in store:
                kind = "Table" if m.group(1) == "tables" else "Schema"
                raise ApiError(404, f"{kind} '{m.group(2)}' does not exist.")
            return 200, store[m.group(2)]
        if path == _MONITORS and method == "POST":
            return 200, self._create_monitor(body)
        m = re.fullmatch(rf"{_MONITORS}/table/([^/]+)(/refreshes(?:/(\d+)(/cancel)?)?)?", path)
        if m:
            table_id, refreshes, refresh_id, cancel = m.groups()
            monitor = self._monitor(table_id)
            if not refreshes:
                if method == "GET":
                    return 200, self._read_monitor(table_id, monitor)
                if method == "PATCH":
                    return 200, self._update_monitor(monitor, query.get("update_mask"), body)
            elif refresh_id is None and method == "POST":
                return 200, self._create_refresh(table_id, monitor)
            elif refresh_id is None and method == "GET":
                return 200, {"refreshes": self.refreshes.get(table_id, [])}
            elif cancel and method == "POST":
                refresh = self._refresh(table_id, int(refresh_id))
                refresh["state"] = "MONITOR_REFRESH_STATE_CANCELED"
                return 200, {"refresh": refresh}
            elif method == "GET":
                return 200, self._read_refresh(table_id, int(refresh_id), monitor)
        if path == "/api/2.0/sql/statements" and method == "POST":
            return 200, self._execute(body)
        m = re.fullmatch(r"/api/2\.0/sql/statements/([^/]+)", path)
        if m and method == "GET":
            if m.group(1) not in self.statements:
                raise ApiError(404, f"statement {m.group(1)} not found")
            return 200, self.statements[m.group(1)]
        m = re.fullmatch(r"/api/2\.0/sql/statements/([^/]+)/result/chunks/1", path)
        if m and method == "GET" and m.group(1) in self._chunks:
            return 200, self._chunks[m.group(1)]
        raise ApiError(404, f"no such endpoint: {method} {path}")

    # -- monitors ---------------------------------------------------------------------------
    def _monitor(self, table_id: str) -> dict:
        if table_id not in self.monitors:
            raise ApiError(404, f"Monitor for table {table_id} does not exist.")
        return self.monitors[table_id]

    def _table_by_id(self, table_id: str) -> dict:
        for table in self.tables.values():
            if table["table_id"] == table_id:
                return table
        raise ApiError(404, f"Table with id {table_id} does not exist.")

    def _validate(self, config: dict) -> None:
        log = config.get("inference_log")
        if not log:
            raise ApiError(400, "only inference_log data profiling is supported here")
        for name in ("problem_type", "timestamp_column", "granularities", "prediction_column",
                     "model_id_column"):
            if not log.get(name):
                raise ApiError(400, f"inference_log.{name} is required")
        if log["problem_type"] not in _PROBLEM_TYPES:
            raise ApiError(400, f"invalid problem_type {log['problem_type']!r}")
        bad = [g for g in log["granularities"] if g not in _GRANULARITIES]
        if bad:
            raise ApiError(400, f"invalid granularities {bad}")
        for metric in config.get("custom_metrics") or []:
            if metric.get("type") not in _METRIC_TYPES:
                raise ApiError(400, f"invalid custom metric type {metric.get('type')!r}")
            json.loads(metric["output_data_type"])  # a Spark StructField in JSON
        baseline = config.get("baseline_table_name")
        if baseline and baseline not in self.tables:
            raise ApiError(404, f"Table '{baseline}' does not exist.")

    def _create_monitor(self, body: dict) -> dict:
        if body.get("object_type") != "table":
            raise ApiError(400, "object_type must be 'table'")
        table = self._table_by_id(body.get("object_id", ""))
        if body["object_id"] in self.monitors:
            raise ApiError(409, f"Monitor already exists for table {table['full_name']}.")
        config = dict(body.get("data_profiling_config") or {})
        schema = next((s for s in self.schemas.values()
                       if s["schema_id"] == config.get("output_schema_id")), None)
        if schema is None:
            raise ApiError(404, f"Schema with id {config.get('output_schema_id')} not found.")
        self._validate(config)
        out = f"{schema['full_name']}.{table['name']}"
        config.update(status="DATA_PROFILING_STATUS_PENDING", monitor_version=1,
                      monitored_table_name=table["full_name"],
                      profile_metrics_table_name=f"{out}_profile_metrics",
                      drift_metrics_table_name=f"{out}_drift_metrics")
        monitor = {"object_type": "table", "object_id": body["object_id"],
                   "data_profiling_config": config}
        self.monitors[body["object_id"]] = monitor
        self._monitor_reads[body["object_id"]] = 0
        return monitor

    def _read_monitor(self, table_id: str, monitor: dict) -> dict:
        self._monitor_reads[table_id] = self._monitor_reads.get(table_id, 0) + 1
        config = monitor["data_profiling_config"]
        if (config["status"] == "DATA_PROFILING_STATUS_PENDING"
                and self.activate_after is not None
                and self._monitor_reads[table_id] > self.activate_after):
            config["status"] = self.monitor_outcome
            if self.monitor_outcome != "DATA_PROFILING_STATUS_ACTIVE":
                config["latest_monitor_failure_message"] = "the output schema is not writable"
        return monitor

    def _update_monitor(self, monitor: dict, mask: str | None, body: dict) -> dict:
        if not mask:
            raise ApiError(400, "update_mask is required")
        incoming = body.get("data_profiling_config") or {}
        config = monitor["data_profiling_config"]
        for path in mask.split(","):
            head, _, name = path.strip().partition(".")
            if head != "data_profiling_config" or not name:
                raise ApiError(400, f"invalid update_mask field {path!r}")
            config[name] = incoming.get(name)
        self._validate(config)
        config["monitor_version"] += 1
        return monitor

    # -- the deprecated quality-monitors API, mapped onto the same state ------------------------
    def _legacy(self, method: str, full_name: str, refreshes: str | None,
                refresh_id: str | None, body: Any) -> dict:
        if full_name not in self.tables:
            raise ApiError(404, f"Table '{full_name}' does not exist.")
        table_id = self.tables[full_name]["table_id"]
        if not refreshes and method == "POST":
            log = body["inference_log"]
            reverse = {v: k for k, v in _GRANULARITIES.items()}
            config = {"output_schema_id": self.schemas[body["output_schema_name"]]["schema_id"],
                      "inference_log": {
                          "problem_type": "INFERENCE_" + log["problem_type"],
                          "timestamp_column": log["timestamp_col"],
                          "granularities": [reverse[g] for g in log["granularities"]],
                          "prediction_column": log["prediction_col"],
                          "model_id_column": log["model_id_col"],
                          "label_column": log.get("label_col")},
                      "custom_metrics": [
                          {**m, "type": m["type"].replace("CUSTOM_METRIC",
                                                          "DATA_PROFILING_CUSTOM_METRIC")}
                          for m in body.get("custom_metrics") or []]}
            self._create_monitor({"object_type": "table", "object_id": table_id,
                                  "data_profiling_config": config})
        monitor = self._monitor(table_id)
        if not refreshes:
            if method == "GET":
                self._read_monitor(table_id, monitor)
            config = monitor["data_profiling_config"]
            return {"table_name": full_name, "monitor_version": config["monitor_version"],
                    "status": config["status"].replace("DATA_PROFILING_STATUS", "MONITOR_STATUS"),
                    "profile_metrics_table_name": config["profile_metrics_table_name"],
                    "drift_metrics_table_name": config["drift_metrics_table_name"],
                    "output_schema_name": full_name.rsplit(".", 1)[0]}
        if refresh_id is None and method == "POST":
            refresh = dict(self._create_refresh(table_id, monitor))
        elif refresh_id is not None and method == "GET":
            refresh = dict(self._read_refresh(table_id, int(refresh_id), monitor))
        else:
            raise ApiError(404, f"no such endpoint: {method} {full_name}/monitor{refreshes}")
        refresh["state"] = refresh["state"].replace("MONITOR_REFRESH_STATE_", "")
        refresh["trigger"] = "MANUAL"
        return refresh

    # -- refreshes --------------------------------------------------------------------------
    def _create_refresh(self, table_id: str, monitor: dict) -> dict:
        status = monitor["data_profiling_config"]["status"]
        if status != "DATA_PROFILING_STATUS_ACTIVE":
            raise ApiError(400, f"Monitor is not active (status {status}).")
        found = self.refreshes.setdefault(table_id, [])
        refresh = {"object_type": "table", "object_id": table_id, "refresh_id": len(found) + 1,
                   "state": self.refresh_script[0], "trigger": "MONITOR_REFRESH_TRIGGER_MANUAL",
                   "start_time_ms": int(time.time() * 1000)}
        found.append(refresh)
        self._refresh_reads[(table_id, refresh["refresh_id"])] = 0
        return refresh

    def _refresh(self, table_id: str, refresh_id: int) -> dict:
        for refresh in self.refreshes.get(table_id, []):
            if refresh["refresh_id"] == refresh_id:
                return refresh
        raise ApiError(404, f"Refresh {refresh_id} does not exist.")

    def _read_refresh(self, table_id: str, refresh_id: int, monitor: dict) -> dict:
        refresh = self._refresh(table_id, refresh_id)
        if refresh["state"] == "MONITOR_REFRESH_STATE_CANCELED":
            return refresh
        key = (table_id, refresh_id)
        self._refresh_reads[key] += 1
        step = min(self._refresh_reads[key], len(self.refresh_script) - 1)
        refresh["state"] = self.refresh_script[step]
        if refresh["state"] in ("MONITOR_REFRESH_STATE_SUCCESS", "MONITOR_REFRESH_STATE_FAILED"):
            refresh.setdefault("end_time_ms", int(time.time() * 1000))
        if refresh["state"] == "MONITOR_REFRESH_STATE_FAILED":
            refresh["message"] = "Job failed: column ground_truth not found"
        if refresh["state"] == "MONITOR_REFRESH_STATE_SUCCESS":
            self._write_metric_tables(monitor)
        return refresh

    def _write_metric_tables(self, monitor: dict) -> None:
        config = monitor["data_profiling_config"]
        grain = _GRANULARITIES[config["inference_log"]["granularities"][0]]
        windows = [("2026-01-05T00:00:00.000Z", "2026-01-06T00:00:00.000Z"),
                   ("2026-01-06T00:00:00.000Z", "2026-01-07T00:00:00.000Z")]
        custom = [m["name"] for m in config.get("custom_metrics") or []]
        profile_cols = [("window", "STRUCT"), ("granularity", "STRING"),
                        ("model_id_col", "STRING"), ("slice_key", "STRING"),
                        ("slice_value", "STRING"), ("column_name", "STRING"),
                        ("log_type", "STRING"), ("count", "LONG"), ("accuracy_score", "DOUBLE"),
                        ("precision", "STRUCT"), ("recall", "STRUCT"), ("f1_score", "STRUCT"),
                        *[(name, "DOUBLE") for name in custom]]
        profile_rows = []
        for i, (start, end) in enumerate(windows):
            window = json.dumps({"start": start, "end": end})
            for log_type, column in (("INPUT", ":table"), ("INPUT", "tenure"),
                                     ("BASELINE", ":table")):
                score = lambda v: json.dumps({"one_vs_all": {"0": v + 0.05, "1": v},  # noqa: E731
                                              "macro": v + 0.02, "weighted": v + 0.03})
                profile_rows.append([window, grain, "3", None, None, column, log_type,
                                     str(1000 + 10 * i), str(0.81 - 0.05 * i),
                                     score(0.62 - 0.04 * i), score(0.55 - 0.03 * i),
                                     score(0.58 - 0.035 * i),
                                     *[str(1200.0 - 300 * i) for _ in custom]])
        drift_cols = [("window", "STRUCT"), ("window_cmp", "STRUCT"), ("drift_type", "STRING"),
                      ("granularity", "STRING"), ("model_id_col", "STRING"),
                      ("slice_key", "STRING"), ("slice_value", "STRING"),
                      ("column_name", "STRING"), ("data_type", "STRING"),
                      ("count_delta", "DOUBLE"), ("avg_delta", "DOUBLE"),
                      ("percent_null_delta", "DOUBLE"), ("ks_test", "STRUCT"),
                      ("chi_squared_test", "STRUCT"), ("wasserstein_distance", "DOUBLE"),
                      ("population_stability_index", "DOUBLE"), ("js_distance", "DOUBLE"),
                      ("tv_distance", "DOUBLE"), ("l_infinity_distance", "DOUBLE")]
        drift_rows = []
        baseline_window = json.dumps({"start": "2025-12-01T00:00:00.000Z",
                                      "end": "2026-01-01T00:00:00.000Z"})
        for i, (start, end) in enumerate(windows):
            window = json.dumps({"start": start, "end": end})
            psi_tenure = 0.02 if i == 0 else 0.41
            ks = {"statistic": 0.03 if i == 0 else 0.28, "pvalue": 0.6 if i == 0 else 1e-12}
            drift_rows += [
                [window, baseline_window, "BASELINE", grain, "3", None, None, "tenure", "int",
                 "-10", "0.4" if i == 0 else "-8.5", "0.0", json.dumps(ks), None, "0.5",
                 str(psi_tenure), "0.05", None, None],
                [window, baseline_window, "BASELINE", grain, "3", None, None, "Contract",
                 "string", "-10", None, "0.0", None,
                 json.dumps({"statistic": 1.2, "pvalue": 0.55}), None, "0.01", "0.02", "0.02",
                 "0.03"],
                [window, baseline_window, "BASELINE", grain, "3", None, None, ":table", None,
                 "-10", None, None, None, None, None, None, None, None, None],
            ]
        out = config["profile_metrics_table_name"]
        self.metric_tables[out] = (profile_cols, profile_rows)
        self.metric_tables[config["drift_metrics_table_name"]] = (drift_cols, drift_rows)

    # -- SQL --------------------------------------------------------------------------------
    def _execute(self, body: dict) -> dict:
        if not body.get("warehouse_id"):
            raise ApiError(400, "warehouse_id is required")
        statement_id = str(uuid.uuid4())
        m = re.fullmatch(r"\s*SELECT \* FROM ([`\w.]+)\s*", body.get("statement", ""))
        name = m.group(1).replace("`", "") if m else None
        if name not in self.metric_tables:
            response = {"statement_id": statement_id, "status": {
                "state": "FAILED", "error": {"error_code": "BAD_REQUEST",
                                             "message": f"[TABLE_OR_VIEW_NOT_FOUND] {name}"}}}
        else:
            columns, rows = self.metric_tables[name]
            half = max(1, len(rows) // 2)  # two chunks, as a large result would arrive
            response = {
                "statement_id": statement_id, "status": {"state": "SUCCEEDED"},
                "manifest": {"format": "JSON_ARRAY", "total_chunk_count": 2,
                             "schema": {"column_count": len(columns), "columns": [
                                 {"name": c, "type_name": t, "position": i}
                                 for i, (c, t) in enumerate(columns)]}},
                "result": {"chunk_index": 0, "row_count": half, "data_array": rows[:half],
                           "next_chunk_index": 1}}
            self._chunks[statement_id] = {"chunk_index": 1, "row_count": len(rows) - half,
                                          "data_array": rows[half:]}
        self.statements[statement_id] = response
        return response
