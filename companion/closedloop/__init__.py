"""closedloop: the companion package of *Closed-Loop MLOps*.

One module per stage of the loop: :mod:`~closedloop.config` (the workspace), :mod:`~closedloop.data`
(the data contract), :mod:`~closedloop.simulate` (the production stream),
:mod:`~closedloop.features`, :mod:`~closedloop.train`, :mod:`~closedloop.registry` and
:mod:`~closedloop.cli`.

Importing the package does nothing but define names: no folders, no tracking URI, no logging
configuration. The modules that pull in MLflow, LightGBM or Optuna are imported on first use of
one of their names, so ``import closedloop`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from closedloop.config import Workspace
from closedloop.data import (
    TELCO_SCHEMA,
    Column,
    DataContractError,
    DataUnavailableError,
    Schema,
    load_telco,
    restore_dtypes,
    validate,
)

__version__ = "0.1.0"

# name -> module that defines it; resolved lazily by __getattr__ (PEP 562).
_LAZY = {
    "FeatureBuilder": "features", "DerivedFeature": "features",
    "TrainConfig": "train", "TrainResult": "train",
    "retrain_with_params": "train", "evaluate": "train", "split_data": "train",
    "train_and_register": "registry", "promote": "registry", "rollback": "registry",
    "aliases": "registry", "audit_log": "registry", "load_model": "registry",
    "model_params": "registry", "versions": "registry", "RegistryError": "registry",
    "GateConfig": "gates", "GateReport": "gates", "PRESETS": "gates", "get_preset": "gates",
    "derive_floors": "gates", "run_gates": "gates", "CheckResult": "checks",
    "compare_models": "compare", "gate_version": "validation",
    "log_gate_report": "validation",
    "StreamSimulator": "simulate", "Scenario": "simulate", "LabelDelay": "simulate",
    "SCENARIOS": "simulate", "STREAM_COLUMNS": "simulate", "TrueChurnModel": "simulate",
    "get_scenario": "simulate", "simulate_stream": "simulate", "list_scenarios": "simulate",
    "InferenceLog": "monitoring.store", "read_log": "monitoring.store",
    "backfill": "monitoring.ground_truth", "BackfillResult": "monitoring.ground_truth",
    "BusinessModel": "business", "TEMPLATES": "business", "template": "business",
    "RiskTiers": "scoring", "score": "scoring", "score_spark": "scoring",
    "score_file": "scoring", "ScoreResult": "scoring",
    "RetrainPolicy": "retrain.triggers", "run_retraining": "retrain.workflow",
    "simulate_loop": "retrain.loop",
}

__all__ = [
    "Column", "DataContractError", "DataUnavailableError", "Schema", "TELCO_SCHEMA", "Workspace",
    "load_telco", "restore_dtypes", "validate", *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"closedloop.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'closedloop' has no attribute {name!r}")
