"""The data contract: what a table must look like, checked at every door, and the fixed
features built from it. Taught in chapter :doc:`Data contract and features </book/02_data_contract>`.

Importing this package loads none of its modules; each name is resolved when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> module that defines it; resolved lazily by __getattr__ (PEP 562).
_LAZY = {
    "Column": "schema",
    "Schema": "schema",
    "DataContractError": "validation",
    "SchemaError": "schema",
    "load_schema": "schema",
    "validate": "validation",
    "restore_dtypes": "validation",
    "TELCO_SCHEMA": "telco",
    "DataUnavailableError": "telco",
    "fetch": "telco",
    "load_telco": "telco",
    "DerivedFeature": "features",
    "BUILTIN_DERIVED": "features",
    "default_derived": "features",
    "FeatureBuilder": "features",
    "plot_rate_by": "plots",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"closedloop.contract.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'closedloop.contract' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
