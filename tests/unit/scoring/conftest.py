"""Fixtures shared by the scoring tests."""

import pytest


@pytest.fixture(scope="module")
def champion(telco, tmp_path_factory):
    """A workspace whose champion is a small model trained on 1,500 Telco rows (no HPO):
    one per test module, as scoring logs into the workspace's inference log."""
    from closedloop.config import Workspace
    from closedloop.contract.telco import TELCO_SCHEMA
    from closedloop.model.promotion import promote
    from closedloop.model.registry import train_and_register
    from closedloop.model.train import TrainConfig

    ws = Workspace(tmp_path_factory.mktemp("champion") / "ws")
    train_and_register(telco.head(1500), TELCO_SCHEMA, ws, TrainConfig(n_trials=0))
    promote(ws, reason="test", force=True)
    return ws
