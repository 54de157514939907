"""Fairness: per-group rates and disparities with bootstrap intervals, as a gate check against
the champion and as a monitor per time window. Taught in chapter :doc:`Explain, check fairness, test in production </book/10_explain_fairness_abtest>`.

Importing this package loads none of its modules; each name is resolved when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> module that defines it; resolved lazily by __getattr__ (PEP 562).
_LAZY = {
    "GROUP_RATES": "metrics",
    "DISPARITIES": "metrics",
    "ALIASES": "metrics",
    "HIGHER_IS_FAIRER": "metrics",
    "metric_name": "metrics",
    "FairnessReport": "metrics",
    "fairness_report": "metrics",
    "assess": "metrics",
    "compare_fairness": "metrics",
    "fairness_by_window": "metrics",
    "plot_group_rates": "plots",
    "plot_fairness_by_window": "plots",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"closedloop.fairness.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'closedloop.fairness' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
