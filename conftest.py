"""Test-run environment for the whole repository (tests/ and the package's doctests).

Points the data loader at the shared Telco copy beside the repository when no other folder is
set, and keeps MLflow and Spark offline and local.
"""

import os
from pathlib import Path

_SHARED_DATA = Path(__file__).resolve().parent.parent / "shared" / "data" / "telco"
if "CLOSEDLOOP_DATA_HOME" not in os.environ and _SHARED_DATA.is_dir():
    os.environ["CLOSEDLOOP_DATA_HOME"] = str(_SHARED_DATA)
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
