"""Fixtures: a fake workspace on a free port of 127.0.0.1 and a real SDK client pointed at it."""

import os

import pytest

from closedloop.platform.fake_workspace import FakeWorkspace

pytest.importorskip("databricks.sdk")


@pytest.fixture()
def fake():
    workspace = FakeWorkspace().start()
    yield workspace
    workspace.stop()


@pytest.fixture()
def client(fake, monkeypatch, tmp_path):
    """``WorkspaceClient`` on the fake: an ``http://`` host is accepted as is; the retry budget
    is cut from 300 s to 30 s so a broken retry fails the test instead of hanging it."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.config import Config

    for name in list(os.environ):
        if name.startswith(("DATABRICKS_", "ARM_", "AZURE_", "GOOGLE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))
    config = Config(host=fake.url, token=fake.token, auth_type="pat",
                    retry_timeout_seconds=30, http_timeout_seconds=10)
    return WorkspaceClient(config=config)
