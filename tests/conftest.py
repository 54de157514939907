"""Shared fixtures: the real Telco data (loaded once) and a fresh workspace per test."""

import os
from pathlib import Path

import pytest

_SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "telco"
if "CLOSEDLOOP_DATA_HOME" not in os.environ and _SHARED_DATA.is_dir():
    os.environ["CLOSEDLOOP_DATA_HOME"] = str(_SHARED_DATA)
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


@pytest.fixture(scope="session")
def telco():
    from closedloop.data import load_telco

    return load_telco()


@pytest.fixture()
def workspace(tmp_path):
    from closedloop.config import Workspace

    return Workspace.resolve(tmp_path / "workdir")
