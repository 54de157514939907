"""A retraining killed midway: the next run cleans up, the cool-down ignores it, nothing twice.

One workspace per run (``telco_deployed`` in ``conftest.py``): v1 (trained on Telco) is the
champion and 120 days of a loyalty-erosion stream (200 customers a day, as in the workflow
tests) are logged with the labels known by ``AS_OF``, so the default policy fires. Each case
copies it and runs :func:`closedloop.retrain.workflow.run_retraining` in a subprocess that
kills itself with SIGKILL at a named point (:data:`closedloop.retrain.runs.FAULT_POINTS`, or
one inside the promotion transaction, :data:`closedloop.model.ledger.FAULT_POINTS`), then runs
it again in this process and checks: no run is left ``RUNNING``, the crash did not start the
cool-down, nothing was registered or promoted twice, and the aliases point at versions that
exist.

Killed before registering here; after registering or promoting in
``test_retrain_kills_late.py`` (two files, so that the two workers of a run can take one each).
"""

import pytest

from closedloop.model import registry
from closedloop.model.registry import CHAMPION, PREVIOUS_CHAMPION
from closedloop.retrain.workflow import run_retraining
from tests.reliability.retraining import (
    AS_OF,
    QUICK,
    check_consistent,
    killed_at,
    number_of_versions,
    runs,
)

pytestmark = pytest.mark.slow



@pytest.mark.parametrize("point", ["retrain:after_prepare", "retrain:in_register"])
def test_a_crash_before_registering_leaves_nothing_and_no_cooldown(ws, point):
    killed_at(ws, point)
    crashed = [r for r in runs(ws) if "closedloop.as_of" in r.data.tags]
    assert [r.info.status for r in crashed] == ["RUNNING"]  # what the kill left behind
    assert number_of_versions(ws) == 1
    run = run_retraining(ws, config=QUICK, as_of=AS_OF, if_triggered=True)
    # The crash did not start the 7-day cool-down: the policy fires and the run goes through.
    assert run.decision.retrain and run.decision.cooling_down_until is None
    assert run.outcome == "promoted", run.reason
    check_consistent(ws)
    client = ws.client()
    old = client.get_run(crashed[0].info.run_id)
    assert old.info.status == "FAILED" and old.data.tags["closedloop.outcome"] == "crashed"
    assert "is gone" in old.data.tags["closedloop.reason"]
    steps = client.search_runs([old.info.experiment_id],
                               f"tags.mlflow.parentRunId = '{old.info.run_id}'")
    # The step that was running when the process died is FAILED, even register's, which an
    # inner mlflow.start_run had closed as FINISHED.
    last = max(steps, key=lambda r: int(r.data.tags["closedloop.step_number"]))
    assert last.info.status == "FAILED" and "interrupted" in last.data.tags["closedloop.failure"]
    assert number_of_versions(ws) == 2
    assert registry.aliases(ws) == {CHAMPION: "2", PREVIOUS_CHAMPION: "1"}
