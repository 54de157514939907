"""Real-time scoring: a REST service answering one customer (or a few) at a time with the champion.
Taught in chapter :doc:`Real-time serving and the batch-versus-real-time decision </book/09_real_time_serving>`.

The service loads the ``@champion`` once, pins its version, scores through the compiled path
(:mod:`closedloop.model.compiled`), logs every answered row to the inference log off the request
path, and swaps in a newly promoted version without dropping a request.

Importing this package loads none of its modules; each name is resolved when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> module that defines it; resolved lazily by __getattr__ (PEP 562).
_LAZY = {
    "ServeOptions": "app",
    "create_app": "app",
    "serve": "app",
    "LoadedModel": "service",
    "ModelService": "service",
    "SmokeTestError": "service",
    "RequestLog": "request_log",
    "serving_cost": "cost",
    "plot_latency": "plots",
    "plot_decision_flow": "plots",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"closedloop.serving.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'closedloop.serving' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
