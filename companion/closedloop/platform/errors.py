"""Errors of the workspace adapter: a monitor or refresh that failed or did not finish in time.

See Also
--------
Chapter :doc:`From laptop to workspace </book/11_laptop_to_workspace>`.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

Query = Callable[[str], pd.DataFrame]


class PlatformError(RuntimeError):
    """The workspace did something the loop cannot go on from."""


class MonitorFailed(PlatformError):
    """The monitor or one of its refreshes ended in a failed state."""


class MonitorTimeout(PlatformError, TimeoutError):
    """The monitor or a refresh did not reach the awaited state in time."""
