"""The workspaces of the reliability tier, built once per test run and copied by each test.

Building them (training models, logging a stream) is most of the set-up time, and several test
files start from the same state. Each builder runs once per run: under pytest-xdist every worker
is a session of its own, so the workers share the folder of the run
(``getbasetemp().parent``) and an exclusive :func:`fcntl.flock` on it; whichever worker comes
first builds, the others wait and reuse what it built. Without xdist the build goes in this
session's own temporary folder. Tests never change a built workspace: they work on a copy made
with :func:`tests.reliability.workspaces.copy_workspace`, which points the copy's MLflow store at
its own artifacts.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from closedloop.config import Workspace
from closedloop.model.train import TrainConfig
from tests.reliability.workspaces import copy_workspace

#: ``as_of`` of the deployed workspace: the labels known by then are backfilled.
AS_OF = "2026-05-01"


def shared(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """The folder ``name`` holding what ``build(folder)`` made, built once per test run."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        folder = factory.mktemp(name) / "ws"
        build(folder)
        return folder
    root = factory.getbasetemp().parent  # shared by the workers of this run only
    home, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            if not done.exists():
                shutil.rmtree(home, ignore_errors=True)  # a worker that died midway
                home.mkdir()
                build(home / "ws")
                done.touch()
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    return home / "ws"


@pytest.fixture(scope="session")
def telco_champion(tmp_path_factory, telco) -> Path:
    """A workspace whose ``closedloop-churn`` v1 (Telco, no HPO, seed 42) is ``@champion``;
    nothing logged."""
    from closedloop.contract.telco import TELCO_SCHEMA
    from closedloop.model import registry

    def build(folder: Path) -> None:
        ws = Workspace.resolve(folder)
        registry.train_and_register(telco, TELCO_SCHEMA, ws, TrainConfig(n_trials=0),
                                    data_source="telco")
        registry.promote(ws, reason="first model", force=True)

    return shared(tmp_path_factory, "telco-champion", build)


@pytest.fixture(scope="session")
def telco_deployed(tmp_path_factory, telco, telco_champion) -> Path:
    """:func:`telco_champion` plus 120 days of a loyalty-erosion stream (200 customers a day)
    scored by v1 and logged, with the labels known by :data:`AS_OF` backfilled: the default
    policy fires."""
    from closedloop.contract.telco import TELCO_SCHEMA
    from closedloop.model import registry
    from closedloop.monitoring.ground_truth import backfill, labels_from_stream
    from closedloop.monitoring.store import InferenceLog
    from closedloop.simulate.stream import StreamSimulator

    def build(folder: Path) -> None:
        ws = Workspace.resolve(copy_workspace(telco_champion, folder))
        stream = StreamSimulator(telco, seed=0, population=20_000).stream(120, 200,
                                                                           "loyalty_erosion")
        log = InferenceLog(ws, TELCO_SCHEMA)
        scored = registry.load_model(ws).predict(stream[TELCO_SCHEMA.feature_names])
        log.append(stream, scored=scored, model_name=registry.DEFAULT_MODEL_NAME,
                   model_version="1", timestamp="event_time")
        backfill(log, labels_from_stream(stream, as_of=pd.Timestamp(AS_OF)))

    return shared(tmp_path_factory, "telco-deployed", build)


@pytest.fixture()
def ws(telco_deployed, tmp_path) -> Workspace:
    """A copy of the deployed Telco workspace of its own, for one test to break."""
    return Workspace.resolve(copy_workspace(telco_deployed, tmp_path / "copy"))
