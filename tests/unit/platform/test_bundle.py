"""The bundle (databricks.yml + resources/*.yml) is valid offline and runs the loop in order.

Every job goes through ``databricks.bundles.jobs.Job.from_dict`` (databricks-bundles), which
rejects unknown fields and invalid enum values, so a typo fails here rather than at deploy time.
"""

import copy
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
LOOP_ORDER = ["train", "validate", "promote", "batch_score", "monitor_refresh",
              "retrain_decision", "retrain"]

jobs_module = pytest.importorskip("databricks.bundles.jobs")


def _bundle():
    return yaml.safe_load((ROOT / "databricks.yml").read_text())


def _jobs():
    jobs = {}
    for pattern in _bundle()["include"]:
        for path in sorted(ROOT.glob(pattern)):
            jobs.update(yaml.safe_load(path.read_text())["resources"]["jobs"])
    return jobs


def test_the_bundle_builds_the_wheel_and_includes_the_resources():
    bundle = _bundle()
    assert bundle["bundle"]["name"] == "closedloop"
    [artifact] = bundle["artifacts"].values()
    assert artifact["type"] == "whl" and "--wheel" in artifact["build"]
    assert {"dev", "prod"} <= set(bundle["targets"])
    assert sorted(_jobs()) == ["closedloop_chapters", "closedloop_loop"]


@pytest.mark.parametrize("name", ["closedloop_chapters", "closedloop_loop"])
def test_every_job_loads_with_the_bundle_models(name):
    job = jobs_module.Job.from_dict(_jobs()[name])
    assert job.tasks and all(task.task_key for task in job.tasks)


def test_every_variable_used_is_declared():
    declared = set(_bundle()["variables"])
    used = set()
    for path in [ROOT / "databricks.yml", *sorted((ROOT / "resources").glob("*.yml"))]:
        used |= set(re.findall(r"\$\{var\.([A-Za-z_]+)\}", path.read_text()))
    assert used <= declared


def _graph(job):
    return {t["task_key"]: [d["task_key"] for d in t.get("depends_on", [])] for t in job["tasks"]}


def test_the_loop_job_runs_the_stages_in_the_loop_order():
    job = _jobs()["closedloop_loop"]
    graph = _graph(job)
    assert list(graph) == LOOP_ORDER
    assert graph == {key: LOOP_ORDER[i - 1:i] for i, key in enumerate(LOOP_ORDER)}
    tasks = {t["task_key"]: t for t in job["tasks"]}
    condition = tasks["retrain_decision"]["condition_task"]
    assert condition["left"] == "{{tasks.monitor_refresh.values.retrain}}"
    assert (condition["op"], condition["right"]) == ("EQUAL_TO", "true")
    assert tasks["retrain"]["depends_on"] == [{"task_key": "retrain_decision", "outcome": "true"}]
    for key in set(LOOP_ORDER) - {"retrain_decision"}:
        assert tasks[key]["python_wheel_task"]["package_name"] == "closedloop"
        assert tasks[key]["libraries"] == [{"whl": "../dist/*.whl"}]


def test_the_wheel_entry_points_exist():
    pyproject = (ROOT / "pyproject.toml").read_text()
    entry_points = {t["python_wheel_task"]["entry_point"] for t in _jobs()["closedloop_loop"]
                    ["tasks"] if "python_wheel_task" in t}
    for entry_point in entry_points:
        assert re.search(rf'^{re.escape(entry_point)} = "closedloop\.', pyproject, re.M)


def test_the_chapters_are_notebook_tasks_in_book_order():
    job = _jobs()["closedloop_chapters"]
    paths = [t["notebook_task"]["notebook_path"] for t in job["tasks"]]
    assert paths == sorted(paths)
    for path in paths:
        assert (ROOT / "resources" / path).resolve().is_file(), path
    graph = _graph(job)
    keys = list(graph)
    assert all(graph[k] == keys[i - 1:i] for i, k in enumerate(keys))


@pytest.mark.parametrize("path, value, message", [
    (("tasks", 5, "condition_task", "op"), "EQUALS", "ConditionTaskOp"),
    (("schedule", "pause_status"), "STOPPED", "PauseStatus"),
    (("tasks", 0, "python_wheel_task", "entrypoint"), "closedloop", "Unexpected field"),
])
def test_a_wrong_enum_or_field_in_a_copy_is_rejected(path, value, message):
    job = copy.deepcopy(_jobs()["closedloop_loop"])
    node = job
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ValueError, match=message):
        jobs_module.Job.from_dict(job)
