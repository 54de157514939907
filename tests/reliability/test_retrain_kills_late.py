"""A retraining killed after registering or after promoting: the next run abandons the
registered version and promotes a new one, or recognises the promotion instead of repeating it.

The set-up and checks are those of ``test_retrain_kills.py`` (``retraining.py``).
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
)

pytestmark = pytest.mark.slow



def test_a_crash_after_registering_abandons_the_version_and_the_rerun_promotes(ws):
    killed_at(ws, "retrain:after_register")
    assert registry.aliases(ws) == {CHAMPION: "1", "challenger": "2"}
    run = run_retraining(ws, config=QUICK, as_of=AS_OF, if_triggered=True)
    assert run.decision.cooling_down_until is None and run.outcome == "promoted", run.reason
    check_consistent(ws)
    assert run.challenger_version == "3"
    assert registry.aliases(ws) == {CHAMPION: "3", PREVIOUS_CHAMPION: "1"}
    tags = ws.client().get_model_version(registry.DEFAULT_MODEL_NAME, "2").tags
    assert "crashed retraining run" in tags["closedloop.abandoned"]


@pytest.mark.parametrize("point", ["retrain:after_promote", "promote:after_champion"])
def test_a_crash_after_promoting_is_recognised_not_repeated(ws, point):
    killed_at(ws, point)
    run = run_retraining(ws, config=QUICK, as_of=AS_OF, if_triggered=True)
    # The re-run finishes the killed run as promoted instead of registering a copy ...
    assert run.outcome == "promoted" and run.steps == [] and run.challenger_version == "2"
    assert "promoted to @champion, then the run was interrupted" in run.reason
    check_consistent(ws)
    assert number_of_versions(ws) == 2
    # ... and the pre-incident model is still @previous_champion.
    assert registry.aliases(ws) == {CHAMPION: "2", PREVIOUS_CHAMPION: "1"}
    parent = ws.client().get_run(run.run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["closedloop.outcome"] == "promoted"
    # A promotion that happened is an attempt: the cool-down runs from it.
    again = run_retraining(ws, config=QUICK, as_of=AS_OF, if_triggered=True)
    assert again.outcome == "not_triggered" and again.decision.cooling_down_until is not None
    check_consistent(ws)
