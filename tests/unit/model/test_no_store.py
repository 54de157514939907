"""Reading a folder that holds no model registry is an error naming the folder, and creates
nothing: no ``mlflow.db``, no ``registry/`` folder, not even the folder itself."""

import pytest

from closedloop.config import Workspace
from closedloop.model import holdout, ledger, promotion, registry
from closedloop.retrain import workflow

READERS = {
    "versions": lambda ws: registry.versions(ws),
    "model_params": lambda ws: registry.model_params(ws),
    "load_model": lambda ws: registry.load_model(ws),
    "audit_log": lambda ws: promotion.audit_log(ws),
    "history": lambda ws: ledger.history(ws),
    "recover": lambda ws: promotion.recover(ws),
    "promote": lambda ws: promotion.promote(ws, reason="r"),
    "rollback": lambda ws: promotion.rollback(ws, reason="r"),
    "training_run": lambda ws: holdout.training_run(ws, "1"),
    "resolve_version": lambda ws: holdout.resolve_version(ws, "champion"),
    "resolve_version_number": lambda ws: holdout.resolve_version(ws, "1"),
    "stored_artifacts": lambda ws: holdout.stored_artifacts(ws, "1"),
    "load_contract": lambda ws: holdout.load_contract(ws),
    "load_holdout": lambda ws: holdout.load_holdout(ws, "champion"),
    "load_training_rows": lambda ws: holdout.load_training_rows(ws, "1"),
    "load_validation_rows": lambda ws: holdout.load_validation_rows(ws, "1"),
    "holdout_for": lambda ws: holdout.holdout_for(ws, "1"),
    "load_reference": lambda ws: workflow.load_reference(ws),
    "assess_retraining": lambda ws: workflow.assess_retraining(ws),
}


@pytest.mark.parametrize("exists", [True, False], ids=["empty folder", "no folder"])
@pytest.mark.parametrize("name", READERS)
def test_a_read_without_a_registry_names_the_folder_and_creates_nothing(tmp_path, name,
                                                                        exists):
    root = tmp_path / "ws"
    if exists:
        root.mkdir()
    ws = Workspace.resolve(root)
    with pytest.raises(registry.NoRegistryError) as raised:
        READERS[name](ws)
    assert str(root) in str(raised.value)
    assert "no model registry in that folder yet" in str(raised.value)
    assert list(tmp_path.rglob("*")) == ([root] if exists else [])


def test_aliases_and_the_ledger_readers_answer_nothing_and_create_nothing(tmp_path):
    ws = Workspace.resolve(tmp_path / "ws")
    assert registry.aliases(ws) == {} and not registry.has_store(ws)
    assert ledger.read_intent(ws, "m") is None and ledger.entries(ws, "m") == []
    assert ledger.last_commit(ws, "m") is None
    assert list(tmp_path.iterdir()) == []
    assert isinstance(registry.NoRegistryError("x"), registry.RegistryError)
