"""The platform switch: the same loop on a laptop or on a Databricks workspace, chosen by a
target. Taught in chapter :doc:`From laptop to workspace </book/11_laptop_to_workspace>`.

Importing this package loads none of its modules (nor ``databricks-sdk``); each name is resolved
when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> module that defines it; resolved lazily by __getattr__ (PEP 562).
_LAZY = {
    "Target": "target",
    "TARGETS": "target",
    "TARGET_ENV": "target",
    "DeltaInferenceLog": "delta_log",
    "PlatformError": "errors",
    "MonitorTimeout": "errors",
    "MonitorFailed": "errors",
    "MonitorSpec": "databricks",
    "business_value_metric": "databricks",
    "DatabricksMonitor": "databricks",
    "statement_runner": "metric_tables",
    "workspace_client": "databricks",
    "drift_from_databricks": "metric_tables",
    "profile_from_databricks": "metric_tables",
    "DRIFT_COLUMN_MAP": "metric_tables",
    "PROFILE_COLUMN_MAP": "metric_tables",
    "monitor_step": "jobs",
    "decide": "jobs",
    "bundle_tasks": "jobs",
    "plot_job_graph": "plots",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"closedloop.platform.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'closedloop.platform' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
