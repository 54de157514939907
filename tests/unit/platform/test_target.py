"""The target switch: local by default, Databricks from parameters or the environment."""

import pytest

from closedloop.config import Workspace
from closedloop.platform.target import TARGET_ENV, Target


def test_local_is_the_default_and_matches_the_workspace(tmp_path):
    target = Target.resolve(env={}, workdir=str(tmp_path))
    ws = Workspace.resolve(tmp_path)
    assert target.name == "local" and target.is_local
    assert target.tracking_uri() == target.registry_uri() == ws.tracking_uri
    assert target.model_name() == "closedloop-churn"
    assert target.inference_table_name() == str(ws.tables_dir / "inference_log")
    assert target.monitoring == "local" and target.engine == "local"
    assert target.experiment_name() == "closedloop"


def test_databricks_from_the_environment():
    env = {TARGET_ENV: "databricks", "DATABRICKS_HOST": "https://adb-1.azuredatabricks.net",
           "CLOSEDLOOP_CATALOG": "ml", "CLOSEDLOOP_SCHEMA": "churn",
           "CLOSEDLOOP_WAREHOUSE_ID": "wh-1"}
    target = Target.resolve(env=env)
    assert (target.tracking_uri(), target.registry_uri()) == ("databricks", "databricks-uc")
    assert target.model_name() == "ml.churn.closedloop_churn"
    assert target.model_name("closedloop-churn") == "ml.churn.closedloop_churn"
    assert target.inference_table_name() == "ml.churn.inference_log"
    assert target.table_name("baseline") == "ml.churn.baseline"
    assert target.output_schema() == "ml.churn"
    assert target.monitoring == "data_quality" and target.engine == "spark"
    assert target.experiment_name() == "/Shared/closedloop"
    assert target.warehouse_id == "wh-1"
    assert Target.resolve(env=target.as_env()) == target


def test_parameters_win_over_the_environment():
    env = {TARGET_ENV: "databricks", "CLOSEDLOOP_CATALOG": "ml", "CLOSEDLOOP_SCHEMA": "churn"}
    target = Target.resolve(env=env, schema="staging", inference_table="predictions")
    assert target.inference_table_name() == "ml.staging.predictions"
    assert Target.resolve("local", env=env).is_local


def test_the_target_is_frozen():
    with pytest.raises(AttributeError):
        Target.resolve(env={}).name = "databricks"


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "cloud"}, "unknown target 'cloud'"),
    ({"name": "databricks", "catalog": "ml"}, r"needs schema \(\$CLOSEDLOOP_SCHEMA\)"),
    ({"name": "databricks", "catalog": "ml", "schema": "churn-prod"}, "not a Unity Catalog"),
])
def test_bad_targets_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Target.resolve(kwargs.pop("name"), env={}, **kwargs)


def test_unknown_fields_are_refused():
    with pytest.raises(TypeError, match="unknown target field"):
        Target.resolve(env={}, catlog="ml")
