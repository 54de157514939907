"""Business impact: what acting on the scores is worth, priced on precision and recall, the
profit curve and a one-page summary. Taught in chapter :doc:`Batch inference and business impact </book/07_batch_and_business>`.

Importing this package loads none of its modules; each name is resolved when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> module that defines it; resolved lazily by __getattr__ (PEP 562).
_LAZY = {
    "BusinessModel": "templates",
    "TEMPLATES": "templates",
    "template": "templates",
    "BusinessImpact": "value",
    "assess": "value",
    "ProfitCurve": "value",
    "profit_curve": "value",
    "top_at_risk": "value",
    "compare_segments": "value",
    "ExecutiveSummary": "summary",
    "executive_summary": "summary",
    "impact_table": "summary",
    "champion_summary": "summary",
    "plot_profit_curve": "plots",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"closedloop.business.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'closedloop.business' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
