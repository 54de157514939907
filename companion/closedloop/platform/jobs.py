"""The monitoring step of the loop's Databricks job: refresh the monitor, decide, tell the job.

``closedloop-databricks monitor`` (the wheel's second console script, run by the
``monitor_refresh`` task of ``resources/loop.yml``) builds the :class:`~closedloop.platform.
target.Target` from the job's environment, makes sure the inference-log monitor exists and is
active, refreshes it, reads its metric tables into a
:class:`~closedloop.monitoring.report.MonitorReport`, and sets the task value ``retrain``
(``"true"`` or ``"false"``) that the job's condition task reads as
``{{tasks.monitor_refresh.values.retrain}}``.

The decision here is the simplest trigger, "some column drifted from the baseline"
(:func:`decide`); the retraining policies of :mod:`closedloop.retrain.triggers` are a later stage
this one may not import, and the ``retrain --if-triggered`` task applies them again anyway.

See Also
--------
Chapter "From laptop to workspace" (``book/10_laptop_to_workspace.ipynb``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from closedloop.monitoring.report import MonitorReport
from closedloop.platform.databricks import DatabricksMonitor, MonitorSpec, Query
from closedloop.platform.target import Target

#: The task value the job's condition task reads.
TASK_VALUE = "retrain"


def decide(report: MonitorReport) -> bool:
    """Retrain when at least one (window, column) drifted from the baseline."""
    return len(report.alerts()) > 0


def monitor_step(client: Any, target: Target, *, baseline_table: str | None = None,
                 granularities: Sequence[str] = ("1d",), slices: Sequence[str] = (),
                 query: Query | None = None,
                 set_task_value: Callable[[str, str], None] | None = None,
                 timeout: float = 3600.0, poll_interval: float = 10.0
                 ) -> tuple[MonitorReport, bool]:
    """Ensure, wait, refresh, read and decide; returns the report and the decision."""
    monitor = DatabricksMonitor(client, poll_interval=poll_interval)
    spec = MonitorSpec(target.inference_table_name(), target.output_schema(),
                       granularities=tuple(granularities), slicing_exprs=tuple(slices),
                       baseline_table=baseline_table)
    monitor.ensure(spec)
    monitor.wait_active(spec.table, timeout=timeout)
    monitor.refresh(spec.table, timeout=timeout)
    report = monitor.report(spec, query=query, warehouse_id=target.warehouse_id)
    retrain = decide(report)
    if set_task_value is not None:
        set_task_value(TASK_VALUE, "true" if retrain else "false")
    return report, retrain


def _spark_query() -> Query | None:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return None
    spark = SparkSession.getActiveSession()
    return None if spark is None else (lambda sql: spark.sql(sql).toPandas())


def _task_value_setter() -> Callable[[str, str], None] | None:
    try:
        from databricks.sdk.runtime import dbutils
    except ImportError:
        return None
    return lambda key, value: dbutils.jobs.taskValues.set(key=key, value=value)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``closedloop-databricks``; only the ``monitor`` step so far."""
    parser = argparse.ArgumentParser(prog="closedloop-databricks")
    parser.add_argument("step", choices=["monitor"])
    parser.add_argument("--baseline-table", default=None,
                        help="short name of the baseline table in the target's schema")
    parser.add_argument("--granularity", action="append", default=None)
    parser.add_argument("--slice", action="append", default=[])
    parser.add_argument("--timeout", type=float, default=3600.0)
    args = parser.parse_args(argv)
    from databricks.sdk import WorkspaceClient

    target = Target.resolve("databricks")
    baseline = target.table_name(args.baseline_table) if args.baseline_table else None
    report, retrain = monitor_step(
        WorkspaceClient(), target, baseline_table=baseline,
        granularities=args.granularity or ("1d",), slices=args.slice, query=_spark_query(),
        set_task_value=_task_value_setter(), timeout=args.timeout)
    print(report.summary())
    print(f"{TASK_VALUE} = {str(retrain).lower()}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
