"""closedloop: the companion package of *Closed-Loop MLOps*.

One subpackage per stage of the loop, in its order: :mod:`~closedloop.contract` (the data
contract and features), :mod:`~closedloop.simulate` (the production stream),
:mod:`~closedloop.model` (training, registry, promotion), :mod:`~closedloop.gates` (quality
gates), :mod:`~closedloop.scoring` (batch scoring), :mod:`~closedloop.business` (value and ROI),
:mod:`~closedloop.monitoring` (inference log, ground truth, drift, estimates) and
:mod:`~closedloop.retrain` (triggers and the retraining workflow); :mod:`~closedloop.config` is
the workspace, :mod:`~closedloop.plots` the shared figure style and :mod:`~closedloop.cli` the
command line.

Importing the package does nothing but define names: no folders, no tracking URI, no logging
configuration. The modules that pull in MLflow, LightGBM or Optuna are imported on first use of
one of their names, so ``import closedloop`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from closedloop.config import Workspace
from closedloop.contract.schema import Column, Schema, SchemaError, load_schema
from closedloop.contract.telco import TELCO_SCHEMA, DataUnavailableError, load_telco
from closedloop.contract.validation import DataContractError, restore_dtypes, validate

__version__ = "0.2.0"

# name -> module that defines it; resolved lazily by __getattr__ (PEP 562).
_LAZY = {
    "FeatureBuilder": "contract.features", "DerivedFeature": "contract.features",
    "StreamSimulator": "simulate.stream", "STREAM_COLUMNS": "simulate.stream",
    "simulate_stream": "simulate.stream", "Scenario": "simulate.scenarios",
    "SCENARIOS": "simulate.scenarios", "get_scenario": "simulate.scenarios",
    "list_scenarios": "simulate.scenarios", "LabelDelay": "simulate.labels",
    "TrueChurnModel": "simulate.labels", "LabelModel": "simulate.labels",
    "load_scenario": "simulate.scenarios",
    "TrainConfig": "model.train", "TrainResult": "model.train",
    "retrain_with_params": "model.train", "evaluate": "model.train", "split_data": "model.train",
    "train_and_register": "model.registry", "promote": "model.promotion",
    "rollback": "model.promotion", "aliases": "model.registry", "audit_log": "model.promotion",
    "load_model": "model.registry", "model_params": "model.registry",
    "versions": "model.registry", "RegistryError": "model.registry",
    "GateConfig": "gates.config", "PRESETS": "gates.config", "get_preset": "gates.config",
    "derive_floors": "gates.config", "GateReport": "gates.run", "run_gates": "gates.run",
    "CheckResult": "gates.checks", "compare_models": "gates.compare",
    "gate_version": "gates.version", "log_gate_report": "gates.version",
    "RiskTiers": "scoring.tiers", "score": "scoring.batch", "score_file": "scoring.batch",
    "ScoreResult": "scoring.batch", "score_spark": "scoring.spark",
    "BusinessModel": "business.templates", "TEMPLATES": "business.templates",
    "template": "business.templates",
    "InferenceLog": "monitoring.store", "read_log": "monitoring.store",
    "backfill": "monitoring.ground_truth", "BackfillResult": "monitoring.ground_truth",
    "RetrainPolicy": "retrain.triggers", "run_retraining": "retrain.workflow",
    "simulate_loop": "retrain.loop",
    "Experiment": "abtest.assignment", "srm_check": "abtest.assignment",
    "group_sequential_design": "abtest.design",
    "sample_size_two_proportions": "abtest.design", "decide": "abtest.analysis",
    "promote_winner": "abtest.analysis", "simulate_ab": "abtest.simulation",
    "Target": "platform.target", "DatabricksMonitor": "platform.databricks",
    "MonitorSpec": "platform.databricks",
    "explain": "explain.reasons", "Explanation": "explain.reasons",
    "reason_columns": "explain.reasons", "global_importance": "explain.reasons",
    "FairnessReport": "fairness.metrics", "fairness_report": "fairness.metrics",
    "fairness_by_window": "fairness.metrics",
}

__all__ = [
    "Column", "DataContractError", "DataUnavailableError", "Schema", "SchemaError", "TELCO_SCHEMA",
    "Workspace", "load_schema", "load_telco", "restore_dtypes", "validate", *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"closedloop.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'closedloop' has no attribute {name!r}")
