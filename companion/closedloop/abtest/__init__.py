"""A/B tests of champion against challenger: sticky assignment, sample size, sequential stopping,
analysis and promotion of the winner. Taught in chapter :doc:`Explain, check fairness, test in production </book/10_explain_fairness_abtest>`.

Importing this package loads none of its modules; each name is resolved when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> module that defines it; resolved lazily by __getattr__ (PEP 562).
_LAZY = {
    "BUCKETS": "assignment",
    "fnv1a_32": "assignment",
    "bucket": "assignment",
    "Experiment": "assignment",
    "SRMResult": "assignment",
    "srm_check": "assignment",
    "sample_size_two_proportions": "design",
    "obrien_fleming_spending": "design",
    "pocock_spending": "design",
    "GroupSequentialDesign": "design",
    "group_sequential_design": "design",
    "crossing_probability": "design",
    "naive_false_positive_rate": "design",
    "msprt_boundary": "design",
    "operating_characteristics": "design",
    "summarise_arms": "analysis",
    "Decision": "analysis",
    "decide": "analysis",
    "promote_winner": "analysis",
    "arm_outcomes": "analysis",
    "sequential_looks": "analysis",
    "apply_retention": "simulation",
    "simulate_ab": "simulation",
    "plot_looks": "plots",
    "plot_arm_rates": "plots",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"closedloop.abtest.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'closedloop.abtest' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
