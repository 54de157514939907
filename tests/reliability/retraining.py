"""What the retraining kill tests share: the quick configuration, the killed subprocess, and
the checks made after it (``test_retrain_kills*.py``)."""

import os
import subprocess
import sys
from pathlib import Path

from closedloop.gates.config import PRESETS
from closedloop.model import ledger, registry
from closedloop.retrain.runs import RETRAIN_EXPERIMENT
from closedloop.retrain.workflow import RetrainConfig

AS_OF = "2026-05-01"  # the deployed workspace's (conftest.AS_OF)
COMPANION = str(Path(__file__).resolve().parents[2] / "companion")
QUICK = RetrainConfig(gates=PRESETS["telecom_churn"].override(n_bootstrap=200,
                                                               robustness_rows=200),
                      compare_bootstrap=300)
SCRIPT = """
import sys
from closedloop.gates.config import PRESETS
from closedloop.retrain.workflow import RetrainConfig, run_retraining
config = RetrainConfig(gates=PRESETS["telecom_churn"].override(n_bootstrap=200,
                                                               robustness_rows=200),
                       compare_bootstrap=300)
run = run_retraining(sys.argv[1], config=config, as_of=sys.argv[2], if_triggered=True)
print(run)
"""


def killed_at(ws, point):
    """Run the retraining in a subprocess that SIGKILLs itself at ``point``."""
    env = {k: v for k, v in os.environ.items()
           if k not in (ledger.FAULT_ENV, ledger.FAULT_DELAY_ENV)}
    env.update({ledger.FAULT_ENV: point, "PYTHONPATH": COMPANION})
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(ws.root), AS_OF], env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == -9, (done.returncode, done.stdout, done.stderr[-3000:])


def runs(ws):
    client = ws.client()
    experiment = client.get_experiment_by_name(RETRAIN_EXPERIMENT).experiment_id
    return client.search_runs([experiment], max_results=1000)


def check_consistent(ws):
    """No run RUNNING; every alias names an existing version."""
    assert not [r.info.run_name for r in runs(ws) if r.info.status == "RUNNING"]
    found = ws.client().search_model_versions(f"name = '{registry.DEFAULT_MODEL_NAME}'")
    versions = {str(v.version) for v in found}
    for alias, version in registry.aliases(ws).items():
        assert version in versions, (alias, version)


def number_of_versions(ws):
    client = ws.client()
    return len(client.search_model_versions(f"name = '{registry.DEFAULT_MODEL_NAME}'"))
