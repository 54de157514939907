"""Explanations: each prediction's contributions summed back to the contract's columns, its top
reasons in words, global importance. Taught in chapter :doc:`Explain, check fairness, test in production </book/10_explain_fairness_abtest>`.

Importing this package loads none of its modules; each name is resolved when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> module that defines it; resolved lazily by __getattr__ (PEP 562).
_LAZY = {
    "Reason": "reasons",
    "Explanation": "reasons",
    "explain": "reasons",
    "feature_contributions": "reasons",
    "parent_columns": "reasons",
    "global_importance": "reasons",
    "reason_columns": "reasons",
    "probability_change": "reasons",
    "plot_importance": "plots",
    "plot_beeswarm": "plots",
    "plot_summary": "plots",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"closedloop.explain.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'closedloop.explain' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
