"""Shared fixtures: the real Telco data (loaded once) and a fresh workspace per test."""

import pytest


@pytest.fixture(scope="session")
def telco():
    from closedloop.contract.telco import load_telco

    return load_telco()


@pytest.fixture()
def workspace(tmp_path):
    from closedloop.config import Workspace

    return Workspace.resolve(tmp_path / "workdir")
