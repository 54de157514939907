"""The production stream: a seeded simulator calibrated on a reference table, with drift
scenarios and delayed labels. Taught in chapters :doc:`/book/05_ground_truth` and
:doc:`/book/06_drift_and_estimation`.

Importing this package loads none of its modules; each name is resolved when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> module that defines it; resolved lazily by __getattr__ (PEP 562).
_LAZY = {
    "STREAM_COLUMNS": "stream",
    "StreamSimulator": "stream",
    "simulate_stream": "stream",
    "Scenario": "scenarios",
    "SCENARIOS": "scenarios",
    "get_scenario": "scenarios",
    "list_scenarios": "scenarios",
    "load_scenario": "scenarios",
    "as_scenario": "scenarios",
    "target_values": "stream",
    "Condition": "scenarios",
    "LabelModel": "labels",
    "TrueChurnModel": "labels",
    "LabelDelay": "labels",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"closedloop.simulate.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'closedloop.simulate' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
