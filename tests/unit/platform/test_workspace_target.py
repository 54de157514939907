"""The target switch wired in: the workspace, the command line, the chapter's two branches.

Against the stand-in workspace only (closedloop/platform/fake_workspace.py): no test here talks to
a live Databricks workspace, and none calls MLflow against ``databricks``.
"""

import pandas as pd
import pytest

from closedloop.cli._common import build_workspace
from closedloop.cli.parser import build_parser
from closedloop.config import MlflowTarget, Workspace
from closedloop.platform.databricks import DatabricksMonitor, MonitorSpec, workspace_client
from closedloop.platform.jobs import bundle_tasks, monitor_step
from closedloop.platform.plots import plot_job_graph, task_levels
from closedloop.platform.target import Target

TABLE, SCHEMA = "ml.churn.inference_log", "ml.churn"


@pytest.fixture()
def on_fake(fake, monkeypatch, tmp_path):
    """The environment a workspace notebook sees, pointing at the stand-in."""
    import os

    for name in list(os.environ):
        if name.startswith(("DATABRICKS_", "ARM_", "AZURE_", "GOOGLE_", "CLOSEDLOOP_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))
    monkeypatch.setenv("DATABRICKS_HOST", fake.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", fake.token)
    return fake


def test_a_local_target_changes_nothing(tmp_path):
    plain = Workspace.resolve(tmp_path)
    local = Workspace.resolve(tmp_path, target=Target.resolve("local", env={}))
    assert isinstance(local.target, MlflowTarget)
    for ws in (plain, local):
        assert ws.tracking_uri == ws.registry_uri == ws.store_uri == plain.tracking_uri
        assert ws.experiment_name() == "closedloop"
        assert ws.experiment_name("closedloop-gates") == "closedloop-gates"
    client = local.client()
    assert client._tracking_client.tracking_uri == plain.store_uri
    assert client._registry_uri == plain.store_uri


def test_a_local_target_runs_mlflow_in_the_folder(tmp_path):
    import mlflow

    ws = Workspace.resolve(tmp_path, target=Target.resolve("local", env={}))
    before = mlflow.get_tracking_uri()
    with ws.mlflow() as experiment_id:
        assert mlflow.get_tracking_uri() == ws.store_uri
        found = mlflow.get_experiment(experiment_id)
    assert found.name == "closedloop"
    assert found.artifact_location == (ws.artifacts_dir / "closedloop").as_uri()
    assert mlflow.get_tracking_uri() == before


def test_a_databricks_target_points_the_client_at_databricks(on_fake, tmp_path):
    target = Target.resolve("databricks", catalog="ml", schema="churn", host=on_fake.url)
    ws = Workspace.resolve(tmp_path, target=target)
    assert (ws.tracking_uri, ws.registry_uri) == ("databricks", "databricks-uc")
    assert ws.store_uri.startswith("sqlite:///")  # the folder keeps its own store
    assert ws.experiment_name() == "/Shared/closedloop"
    assert ws.experiment_name("closedloop-gates") == "/Shared/closedloop-gates"
    assert ws.experiment_name("/Users/me/x") == "/Users/me/x"
    client = ws.client()  # built, not used: no MLflow call goes to Databricks here
    assert client._tracking_client.tracking_uri == "databricks"
    assert client._registry_uri == "databricks-uc"
    assert on_fake.requests == []
    assert target.workspace().tracking_uri == "databricks"


def test_the_cli_builds_the_workspace_on_the_target(on_fake, tmp_path, monkeypatch):
    parser = build_parser()
    args = parser.parse_args(["status", "--workdir", str(tmp_path)])
    ws = build_workspace(args)
    assert ws.tracking_uri == Workspace.resolve(tmp_path).tracking_uri
    assert args.model_name == "closedloop-churn"

    args = parser.parse_args(["status", "--workdir", str(tmp_path), "--target", "databricks",
                              "--catalog", "ml", "--schema-name", "churn"])
    ws = build_workspace(args)
    assert (ws.tracking_uri, ws.registry_uri) == ("databricks", "databricks-uc")
    assert args.model_name == "ml.churn.closedloop_churn"
    assert ws.root == tmp_path.resolve()

    monkeypatch.setenv("CLOSEDLOOP_TARGET", "databricks")  # the default comes from the env
    monkeypatch.setenv("CLOSEDLOOP_CATALOG", "ml")
    monkeypatch.setenv("CLOSEDLOOP_SCHEMA", "churn")
    args = parser.parse_args(["status", "--model-name", "ml.churn.closedloop_churn"])
    assert build_workspace(args).registry_uri == "databricks-uc"
    assert args.model_name == "ml.churn.closedloop_churn"  # a full name stays as it is


def test_an_incomplete_target_is_a_usage_error(tmp_path, monkeypatch, capsys):
    from closedloop.cli.parser import main

    monkeypatch.delenv("CLOSEDLOOP_CATALOG", raising=False)
    monkeypatch.delenv("CLOSEDLOOP_SCHEMA", raising=False)
    code = main(["status", "--workdir", str(tmp_path), "--target", "databricks"])
    assert code == 2
    assert "needs catalog" in capsys.readouterr().err


def test_the_chapters_databricks_branch_uses_the_environments_workspace(on_fake):
    # The chapter, with target="databricks", calls workspace_client() with no stand-in: the
    # SDK reads DATABRICKS_HOST / DATABRICKS_TOKEN, here pointing at the stand-in.
    on_fake.add_table(TABLE)
    target = Target.resolve("databricks", catalog="ml", schema="churn", warehouse_id="wh-1")
    client = workspace_client(retry_timeout_seconds=30)
    assert client.config.host == on_fake.url
    report, retrain = monitor_step(client, target, poll_interval=0.01, timeout=30)
    assert len(report.drift) and isinstance(retrain, bool)
    assert on_fake.calls("POST", "/api/data-quality/v1/monitors") >= 1


def test_the_chapters_local_branch_uses_the_stand_in(fake):
    fake.add_table(TABLE)
    monitor = DatabricksMonitor(workspace_client(fake, retry_timeout_seconds=30),
                                poll_interval=0.01)
    monitor.ensure(MonitorSpec(TABLE, SCHEMA))
    assert monitor.wait_active(TABLE, timeout=30).status.name == "DATA_PROFILING_STATUS_ACTIVE"


def test_the_bundle_tasks_and_their_graph():
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    tasks = bundle_tasks(root)
    assert tasks.equals(pd.concat([bundle_tasks(p) for p in sorted(root.glob("resources/*.yml"))],
                                  ignore_index=True))
    loop = tasks[tasks.job == "closedloop_loop"]
    assert loop.task.tolist()[:2] == ["train", "validate"]
    assert loop.set_index("task").loc["retrain", "outcome"] == "true"
    assert list(task_levels(loop).values()) == list(range(len(loop)))
    figure = plot_job_graph(tasks, "closedloop_loop")
    labels = [t.get_text().split("\n")[0] for t in figure.axes[0].texts if t.get_text()]
    assert set(loop.task) <= set(labels)
    with pytest.raises(ValueError, match="pass job="):
        plot_job_graph(tasks)
    with pytest.raises(ValueError, match="cycle"):
        task_levels(pd.DataFrame({"task": ["a", "b"], "depends_on": [("b",), ("a",)]}))
