"""A registered workspace (v1 @champion, v2 @challenger) and a real server process on it."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from closedloop.config import Workspace
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.model import registry
from closedloop.model.train import TrainConfig

COMPANION = Path(__file__).resolve().parents[3] / "companion"


def register_two(telco, root) -> Workspace:
    workspace = Workspace.resolve(root)
    sample = telco.sample(1500, random_state=0)
    for seed in (1, 2):
        registry.train_and_register(sample, TELCO_SCHEMA, workspace,
                                    TrainConfig(n_trials=0, seed=seed))
    registry.promote(workspace, "1", reason="first champion", force=True)
    return workspace


def ready_client(app, *, timeout: float = 180):
    """A FastAPI ``TestClient`` of ``app`` (a context manager), once ``/health`` says ready."""
    from fastapi.testclient import TestClient

    client = TestClient(app).__enter__()
    deadline = time.monotonic() + timeout
    while client.get("/health").status_code != 200:
        assert time.monotonic() < deadline, "the model(s) did not load"
        time.sleep(0.2)
    return client


def as_records(frame) -> list[dict]:
    """Rows as JSON-ready records: NaN becomes None, as a client would send it."""
    import numpy as np

    return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
            for r in frame.to_dict("records")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``python -m closedloop.cli serve`` in a subprocess on a free port of 127.0.0.1."""

    def __init__(self, workspace: Workspace, *options: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(COMPANION), os.environ.get("PYTHONPATH", "")])}
        self.log = open(workspace.root / f"server-{self.port}.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "closedloop.cli", "serve", "--workdir", str(workspace.root),
             "--port", str(self.port), *options], env=env, stdout=self.log,
            stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 180) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: "
                                   + Path(self.log.name).read_text()[-3000:])
            try:
                response = httpx.get(f"{self.url}/health", timeout=2)
                if response.status_code == 200:
                    return response.json()
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise TimeoutError("the server did not become ready: "
                           + Path(self.log.name).read_text()[-3000:])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode

    def output(self) -> str:
        return Path(self.log.name).read_text()


@pytest.fixture(scope="module")
def served(telco, tmp_path_factory):
    """(workspace, server): v1 served as @champion; the alias is polled every 0.3 s."""
    workspace = register_two(telco, tmp_path_factory.mktemp("served"))
    server = Server(workspace, "--poll-interval", "0.3", "--flush-interval", "0.5",
                    "--max-body-bytes", "65536", "--max-concurrency", "3")
    try:
        server.wait_ready()
        yield workspace, server
    finally:
        server.stop(signal.SIGKILL) if server.process.poll() is None else None
