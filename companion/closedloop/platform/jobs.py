"""The monitoring step of the loop's Databricks job: refresh the monitor, decide, tell the job.

``closedloop-databricks monitor`` (the wheel's second console script, run by the
``monitor_refresh`` task of ``resources/loop.yml``) builds the :class:`~closedloop.platform.
target.Target` from the job's environment, makes sure the inference-log monitor exists and is
active, refreshes it, reads its metric tables into a
:class:`~closedloop.monitoring.report.MonitorReport`, and sets the task value ``retrain``
(``"true"`` or ``"false"``) that the job's condition task reads as
``{{tasks.monitor_refresh.values.retrain}}``.

:func:`bundle_tasks` reads the jobs' task graphs from the bundle's resource files, for the
chapter's figure (:func:`closedloop.platform.plots.plot_job_graph`) and for checks.

The decision here is the simplest trigger, "some column drifted from the baseline"
(:func:`decide`); the retraining policies of :mod:`closedloop.retrain.triggers` are a later stage
this one may not import, and the ``retrain --if-triggered`` task applies them again anyway.

See Also
--------
Chapter :doc:`From laptop to workspace </book/11_laptop_to_workspace>`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from closedloop.monitoring.report import MonitorReport
from closedloop.platform.databricks import DatabricksMonitor, MonitorSpec
from closedloop.platform.errors import Query
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


#: The kinds of task :func:`bundle_tasks` recognises (the key of the task's body).
TASK_KINDS = ("python_wheel_task", "notebook_task", "condition_task", "spark_python_task",
              "sql_task", "run_job_task")
BUNDLE_TASK_COLUMNS = ("job", "task", "kind", "runs", "depends_on", "outcome", "order")


def bundle_tasks(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The tasks of every job of a bundle, one row per task, in the files' order.

    Parameters
    ----------
    path : path-like
        A resource file (``resources/loop.yml``) or a bundle folder (its ``databricks.yml``
        ``include`` patterns are read).

    Returns
    -------
    pandas.DataFrame
        Columns: ``job`` (its key), ``task`` (``task_key``),
        ``kind`` (one of :data:`TASK_KINDS`), ``runs`` (the console script's first argument,
        the notebook's file name, or the condition), ``depends_on`` (a tuple of task keys),
        ``outcome`` (the condition outcome a dependency waits for, or None) and ``order`` (the
        task's position in its job).

    Examples
    --------
    >>> from pathlib import Path
    >>> import closedloop
    >>> root = Path(closedloop.__file__).resolve().parents[2]
    >>> tasks = bundle_tasks(root / "resources" / "loop.yml")  # doctest: +SKIP
    >>> tasks.loc[tasks.job == "closedloop_loop", "task"].tolist()[:3]  # doctest: +SKIP
    ['train', 'validate', 'promote']
    """
    import yaml

    path = Path(path)
    if path.is_dir():
        bundle = yaml.safe_load((path / "databricks.yml").read_text())
        files = [f for pattern in bundle.get("include", []) for f in sorted(path.glob(pattern))]
    else:
        files = [path]
    rows = []
    for file in files:
        jobs = (yaml.safe_load(file.read_text()) or {}).get("resources", {}).get("jobs", {})
        for job, body in jobs.items():
            for order, task in enumerate(body.get("tasks", [])):
                kind = next((k for k in TASK_KINDS if k in task), "other")
                depends = task.get("depends_on", [])
                outcomes = {d["outcome"] for d in depends if "outcome" in d}
                rows.append({"job": job, "task": task["task_key"], "kind": kind,
                             "runs": _runs(kind, task.get(kind, {})),
                             "depends_on": tuple(d["task_key"] for d in depends),
                             "outcome": outcomes.pop() if outcomes else None, "order": order})
    return pd.DataFrame(rows, columns=list(BUNDLE_TASK_COLUMNS))


def _runs(kind: str, body: dict) -> str:
    if kind == "python_wheel_task":
        parameters = body.get("parameters") or [""]
        return f"{body.get('entry_point', '')} {parameters[0]}".strip()
    if kind == "notebook_task":
        return Path(body.get("notebook_path", "")).name
    if kind == "condition_task":
        left = str(body.get("left", "")).strip("{} ").replace("tasks.", "")
        return f"{left.replace('.values.', '.')} {body.get('op', '')} {body.get('right', '')}"
    return ""


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
