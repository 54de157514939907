"""Quality gates: what a challenger must achieve, alone and against the champion, before it may
be promoted. Taught in chapter :doc:`Quality gates </book/04_quality_gates>`.

Importing this package loads none of its modules; each name is resolved when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> module that defines it; resolved lazily by __getattr__ (PEP 562).
_LAZY = {
    "GateConfig": "config",
    "PRESETS": "config",
    "get_preset": "config",
    "resolve_config": "config",
    "derive_floors": "config",
    "CheckResult": "checks",
    "check_floors": "checks",
    "check_errors": "checks",
    "check_minority_class": "checks",
    "check_distribution": "checks",
    "reliability_table": "checks",
    "expected_calibration_error": "checks",
    "check_calibration": "checks",
    "check_robustness": "robustness",
    "check_latency": "robustness",
    "paired_bootstrap": "compare",
    "DeLongResult": "compare",
    "delong_test": "compare",
    "MetricComparison": "compare",
    "compare_models": "compare",
    "GateReport": "run",
    "run_gates": "run",
    "gate_version": "version",
    "log_gate_report": "version",
    "gate_status": "version",
    "load_gate_report": "version",
    "plot_bootstrap_difference": "plots",
    "plot_reliability": "plots",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"closedloop.gates.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'closedloop.gates' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
