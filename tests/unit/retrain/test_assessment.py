"""Step 1 measured on its own (``assess_retraining``) writes nothing, and the workflow records
the very decision it was given instead of measuring again."""

import pandas as pd
import pytest

from closedloop.config import Workspace
from closedloop.model import registry
from closedloop.model.train import TrainConfig
from closedloop.retrain.runs import RETRAIN_EXPERIMENT
from closedloop.retrain.workflow import assess_retraining, run_retraining
from tests.loans import LOAN_SCHEMA, make_loans
from tests.reliability.workspaces import copy_workspace

MODEL = "loans"
AS_OF = pd.Timestamp("2026-05-01")


@pytest.fixture(scope="module")
def deployed(tmp_path_factory) -> Workspace:
    """A tiny loans model, promoted; nothing logged, no retraining run yet."""
    ws = Workspace.resolve(tmp_path_factory.mktemp("assess") / "ws")
    registry.train_and_register(make_loans(600), LOAN_SCHEMA, ws,
                                TrainConfig(n_trials=0, n_jobs=1), model_name=MODEL)
    registry.promote(ws, reason="first", model_name=MODEL, force=True)
    return ws


def snapshot(folder):
    return {str(p): (p.stat().st_size if p.is_file() else 0, p.stat().st_mtime_ns)
            for p in [folder, *folder.rglob("*")]}


def test_an_assessment_writes_nothing_and_says_when_it_could_not_assess(deployed):
    before = snapshot(deployed.root)
    blind = assess_retraining(deployed, model_name=MODEL, as_of=AS_OF)
    monthly = assess_retraining(deployed, model_name=MODEL, as_of=AS_OF, policy="monthly")
    assert snapshot(deployed.root) == before
    # No experiment was created for the cool-down lookup either.
    assert deployed.client().get_experiment_by_name(RETRAIN_EXPERIMENT) is None
    # An empty log: every trigger that reads it is unmeasured, so "not triggered" is blind.
    assert blind.champion == "1" and blind.as_of == AS_OF and not blind.decision.retrain
    assert blind.watched and all(r.value is None for r in blind.watched)
    assert not blind.assessed
    # The age trigger needs no log: measured (the model is new) and nothing is watched.
    assert monthly.watched == [] and monthly.assessed
    assert monthly.decision.results[0].value is not None


def test_the_workflow_records_the_assessment_it_is_given(deployed, tmp_path):
    ws = Workspace.resolve(copy_workspace(deployed.root, tmp_path / "ws"))
    assessment = assess_retraining(ws, model_name=MODEL, as_of=AS_OF, policy="monthly")
    run = run_retraining(ws, policy="monthly", if_triggered=True, model_name=MODEL,
                         assessment=assessment)
    assert run.outcome == "not_triggered" and len(run.steps) == 1
    assert run.as_of == str(AS_OF) and run.decision is assessment.decision
    assert run.steps[0].details == assessment.to_dict()
    with pytest.raises(ValueError, match="assessment: it assesses loans as of 2026-05-01"):
        run_retraining(ws, policy="monthly", model_name=MODEL, assessment=assessment,
                       as_of="2026-06-01")


def test_no_champion_is_a_registry_error_naming_the_folder(deployed, tmp_path):
    ws = Workspace.resolve(copy_workspace(deployed.root, tmp_path / "ws"))
    ws.client().delete_registered_model_alias(MODEL, "champion")
    with pytest.raises(registry.RegistryError, match=f"loans has no @champion in {ws.root}"):
        assess_retraining(ws, model_name=MODEL, as_of=AS_OF)
