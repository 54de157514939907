"""Batch scoring with the champion, on pandas or Spark: risk tiers, an output file and one
inference-log batch. Taught in chapter :doc:`Batch inference and business impact </book/07_batch_and_business>`.

Importing this package loads none of its modules; each name is resolved when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> module that defines it; resolved lazily by __getattr__ (PEP 562).
_LAZY = {
    "check_input": "batch",
    "score": "batch",
    "ScoreResult": "batch",
    "read_table": "batch",
    "score_file": "batch",
    "RiskTiers": "tiers",
    "output_columns": "_columns",
    "resolve_model": "_columns",
    "validate_spark": "spark",
    "score_spark": "spark",
    "spark_to_pandas": "spark",
    "spark_for_scoring": "spark",
    "SparkFileResult": "spark",
    "score_file_spark": "spark",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"closedloop.scoring.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'closedloop.scoring' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
