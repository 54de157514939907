"""Test-run environment for the whole repository (tests/ and the package's doctests).

Points the data loader at the shared Telco copy beside the repository when no other folder is
set, keeps MLflow and Spark offline and local, and closes the figures each test draws.
"""

import os
import sys
from pathlib import Path

import pytest

_SHARED_DATA = Path(__file__).resolve().parent.parent / "shared" / "data" / "telco"
if "CLOSEDLOOP_DATA_HOME" not in os.environ and _SHARED_DATA.is_dir():
    os.environ["CLOSEDLOOP_DATA_HOME"] = str(_SHARED_DATA)
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


@pytest.fixture(autouse=True)
def _close_figures():
    """Close the figures a test or a docstring example drew: pyplot keeps every figure until it
    is closed, and warns past 20 in one process (which depends on how tests share workers)."""
    yield
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")
