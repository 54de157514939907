"""The model: training and tuning, the registry with its aliases and audited promotion, the
holdout of each version, baselines. Taught in chapter :doc:`Training, tuning and the registry </book/03_training>`.

Importing this package loads none of its modules; each name is resolved when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> module that defines it; resolved lazily by __getattr__ (PEP 562).
_LAZY = {
    "TrainConfig": "train",
    "DEFAULT_PARAMS": "train",
    "split_data": "train",
    "evaluate": "train",
    "TrainResult": "train",
    "retrain_with_params": "train",
    "DEFAULT_MODEL_NAME": "registry",
    "ALIASES": "registry",
    "RegistryError": "registry",
    "NoRegistryError": "registry",
    "has_store": "registry",
    "AliasMove": "registry",
    "train_and_register": "registry",
    "aliases": "registry",
    "promote": "promotion",
    "rollback": "promotion",
    "audit_log": "promotion",
    "recover": "promotion",
    "Recovery": "promotion",
    "history": "ledger",
    "load_model": "registry",
    "model_params": "registry",
    "versions": "registry",
    "training_run": "holdout",
    "split_config": "holdout",
    "holdout_for": "holdout",
    "load_contract": "holdout",
    "load_holdout": "holdout",
    "load_training_rows": "holdout",
    "check_contract": "holdout",
    "contract_difference": "holdout",
    "PipelineModel": "baselines",
    "MajorityClassModel": "baselines",
    "RandomModel": "baselines",
    "InvertedModel": "baselines",
    "CompiledPredictor": "compiled",
    "plot_trials": "plots",
    "plot_roc_pr": "plots",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"closedloop.model.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'closedloop.model' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
