"""Registry names through the target: ``closedloop-churn`` locally, ``catalog.schema.name`` in UC.

MLflow's ``databricks-uc`` registry cannot run offline, so the loop's registry code runs here on
the folder's sqlite store with Unity Catalog's *names* (a target that qualifies names like
``databricks`` but keeps MLflow in the folder) and behind a client that applies Unity Catalog's
rules (:class:`UnityCatalogRules`: a name that is not ``catalog.schema.model`` is refused, and so
is a ``filter_string`` search of registered models, as ``mlflow``'s UC store refuses it). Every
name a registry call receives is recorded.
"""

import re
from dataclasses import dataclass

import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from closedloop.config import DEFAULT_MODEL_NAME, Workspace
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.model import CompiledPredictor, holdout, ledger, promotion, registry
from closedloop.model.train import TrainConfig
from closedloop.platform.target import Target

FULL = "ml.churn.closedloop_churn"
THREE_PART = re.compile(r"^[A-Za-z_]\w*\.[A-Za-z_]\w*\.[A-Za-z_]\w*$")
NAMED = ("create_registered_model", "get_registered_model", "create_model_version",
         "get_model_version", "get_model_version_by_alias", "set_model_version_tag",
         "delete_model_version_tag", "set_registered_model_alias",
         "delete_registered_model_alias")


@dataclass(frozen=True)
class UcNamesOnTheFolder(Target):
    """Unity Catalog's model names, MLflow and the log in the workspace folder."""

    def tracking_uri(self, workspace=None):
        return (workspace or self.workspace()).store_uri

    def registry_uri(self, workspace=None):
        return self.tracking_uri(workspace)

    def experiment_name(self, name=None):
        return name or "closedloop"

    def log_class(self):
        return None


class UnityCatalogRules(MlflowClient):
    """An ``MlflowClient`` on the sqlite store that records every model name it is given and
    refuses what Unity Catalog refuses: two-part or hyphenated names, filtered model searches."""

    names: list = []

    def search_registered_models(self, filter_string=None, *args, **kwargs):
        if filter_string is not None:
            raise MlflowException("Argument 'filter_string' is unsupported for models in the "
                                  "Unity Catalog.")
        return super().search_registered_models(None, *args, **kwargs)

    def search_model_versions(self, filter_string=None, *args, **kwargs):
        found = re.fullmatch(r"name\s*=\s*'([^']*)'", filter_string or "")
        assert found, f"Unity Catalog searches versions by name only, got {filter_string!r}"
        self._check(found.group(1))
        return super().search_model_versions(filter_string, *args, **kwargs)

    def _check(self, name):
        self.names.append(name)
        if not THREE_PART.match(str(name)):
            raise MlflowException(f"{name!r} is not a three-level name "
                                  "(catalog.schema.model)", error_code="INVALID_PARAMETER_VALUE")


def _named(method):
    def call(self, name, *args, **kwargs):
        self._check(name)
        return getattr(MlflowClient, method)(self, name, *args, **kwargs)
    return call


for _method in NAMED:
    setattr(UnityCatalogRules, _method, _named(_method))


@pytest.fixture()
def uc_workspace(tmp_path, monkeypatch):
    names = []
    monkeypatch.setattr(UnityCatalogRules, "names", names)

    def client(self):
        self.create()
        return UnityCatalogRules(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)

    monkeypatch.setattr(Workspace, "client", client)
    target = UcNamesOnTheFolder("databricks", catalog="ml", schema="churn")
    return Workspace.resolve(tmp_path / "ws", target=target), names


def test_the_name_is_the_registrys_own_on_each_target(tmp_path):
    plain = Workspace.resolve(tmp_path)
    local = Workspace.resolve(tmp_path, target=Target.resolve("local", env={}))
    uc = Workspace.resolve(tmp_path, target=Target.resolve("databricks", catalog="ml",
                                                           schema="churn", env={}))
    for ws in (plain, local):
        assert ws.model_name() == ws.model_name(DEFAULT_MODEL_NAME) == "closedloop-churn"
        assert ws.model_name("loans-default") == "loans-default"
    assert uc.model_name() == uc.model_name(DEFAULT_MODEL_NAME) == FULL
    assert uc.model_name(FULL) == FULL  # idempotent: a name may pass twice
    assert uc.model_name("loans-default") == "ml.churn.loans_default"
    assert uc.model_name("other.place.model") == "other.place.model"
    # no folder store yet: locally no registry to ask; a remote registry always has one
    assert not plain.has_registry and not local.has_registry and uc.has_registry
    assert registry.aliases(plain) == {} and not plain.mlflow_db.exists()


def test_every_registry_call_of_the_loop_receives_the_three_part_name(uc_workspace, telco,
                                                                      tmp_path):
    from closedloop.gates.version import gate_status
    from closedloop.retrain.runs import close_stale_runs
    from closedloop.scoring import score_file
    from closedloop.scoring._columns import resolve_model
    from closedloop.serving.service import ModelService

    ws, names = uc_workspace
    sample = telco.sample(2000, random_state=0)
    for seed in (1, 2):  # default model_name everywhere below: the target qualifies it
        registry.train_and_register(sample, TELCO_SCHEMA, ws, TrainConfig(n_trials=0, seed=seed))
        if seed == 1:
            promotion.promote(ws, reason="first champion", force=True)
    assert registry.aliases(ws) == {"champion": "1", "challenger": "2"}
    assert list(registry.versions(ws)["version"]) == ["1", "2"]
    assert registry.model_params(ws) == registry.model_params(ws, model_name=FULL)
    assert holdout.resolve_version(ws, "challenger") == "2"
    assert holdout.load_contract(ws).name == TELCO_SCHEMA.name
    assert len(holdout.load_holdout(ws, "1")) > 0
    assert gate_status(ws, "2")["verdict"] == "missing"
    assert resolve_model(ws) == (f"models:/{FULL}/1", "1")
    assert ModelService(ws).resolve() == "1"
    assert CompiledPredictor.from_registry(ws).model_name == FULL
    assert len(registry.load_model(ws).predict(sample.head(5))) == 5

    promotion.promote(ws, reason="second", force=True)
    promotion.rollback(ws, reason="back to v1")
    assert registry.aliases(ws)["champion"] == "1"
    assert list(promotion.audit_log(ws)["action"]) == ["promote", "promote", "rollback"]
    assert len(ledger.history(ws)) > 0
    assert ledger.history(ws).equals(ledger.history(ws, FULL))
    assert close_stale_runs(ws, DEFAULT_MODEL_NAME) == []

    batch = tmp_path / "batch.parquet"
    sample.head(50).drop(columns=[TELCO_SCHEMA.target]).to_parquet(batch)
    done = score_file(ws, batch, tmp_path / "scored.parquet", scored_at="2026-03-02")
    assert done.model_name == FULL
    assert set(pd.read_parquet(tmp_path / "scored.parquet")["model_name"]) == {FULL}

    assert names and set(names) == {FULL}, sorted(set(names))
    store = MlflowClient(tracking_uri=ws.store_uri, registry_uri=ws.store_uri)
    assert [m.name for m in store.search_registered_models()] == [FULL]


def test_without_the_target_the_uc_rules_refuse_the_short_name(uc_workspace, telco):
    """The stand-in bites: the same call with the target's qualification bypassed fails."""
    ws, names = uc_workspace
    bare = Workspace(ws.root, UcNamesOnTheFolder("databricks", catalog="ml", schema="churn"))
    with pytest.raises(MlflowException, match="three-level"):
        bare.client().get_registered_model(DEFAULT_MODEL_NAME)
    with pytest.raises(MlflowException, match="filter_string"):
        bare.client().search_registered_models(filter_string=f"name = '{FULL}'")
    assert names == [DEFAULT_MODEL_NAME]
