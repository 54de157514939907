"""Automated retraining: triggers, the nine-step workflow, and the closed-loop simulation.

Modules, one job each: :mod:`~closedloop.retrain.triggers` (evidence, the five triggers,
policies and their decisions), :mod:`~closedloop.retrain.prepare` (fresh training data at a
verified recent/historical ratio, with a fresh holdout), :mod:`~closedloop.retrain.workflow`
(the nine steps as child MLflow runs of one audited parent run, with the steps' work in
:mod:`~closedloop.retrain.steps` and the MLflow record in :mod:`~closedloop.retrain.runs`) and
:mod:`~closedloop.retrain.loop` (a year of a drifting stream replayed under several policies,
drawn by :mod:`~closedloop.retrain.plots`).
Importing this package loads none of them; each name is resolved when first used.

See Also
--------
Chapter :doc:`Automated retraining </book/08_automated_retraining>`.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> module that defines it; resolved lazily by __getattr__ (PEP 562).
_LAZY = {
    "Evidence": "triggers", "EvidenceConfig": "triggers", "Reference": "triggers",
    "TriggerResult": "triggers", "PerformanceTrigger": "triggers",
    "EstimatedPerformanceTrigger": "triggers", "DriftTrigger": "triggers",
    "DataQualityTrigger": "triggers", "AgeTrigger": "triggers", "RetrainPolicy": "triggers",
    "RetrainDecision": "triggers", "POLICIES": "triggers", "get_policy": "triggers",
    "default_policy": "triggers", "collect_evidence": "triggers",
    "PreparedData": "prepare", "prepare_training_data": "prepare",
    "labelled_rows": "prepare",
    "RetrainConfig": "workflow", "RetrainRun": "workflow", "StepRecord": "runs",
    "run_retraining": "workflow", "load_reference": "workflow", "STEPS": "runs",
    "Assessment": "workflow", "assess_retraining": "workflow",
    "LoopConfig": "loop", "LoopResult": "loop", "simulate_loop": "loop",
    "plot_replay": "plots",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"closedloop.retrain.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'closedloop.retrain' has no attribute {name!r}")
