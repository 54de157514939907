"""Risk tiers: the probability thresholds that sort scored rows into low, medium and high.

See Also
--------
Chapter :doc:`Batch inference and business impact </book/07_batch_and_business>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    pass


_LABELS = np.array(["low", "medium", "high"], dtype=object)


@dataclass(frozen=True)
class RiskTiers:
    """Probability thresholds of the risk tiers: ``high`` at or above ``high``, ``medium`` at or
    above ``medium``, ``low`` below.

    Examples
    --------
    >>> RiskTiers().assign(np.array([0.1, 0.4, 0.69, 0.7])).tolist()
    ['low', 'medium', 'medium', 'high']
    >>> RiskTiers(high=0.5, medium=0.2).assign(np.array([0.2, 0.5])).tolist()
    ['medium', 'high']
    """

    high: float = 0.7
    medium: float = 0.4

    def __post_init__(self) -> None:
        if not 0.0 <= self.medium <= self.high <= 1.0:
            raise ValueError(f"need 0 <= medium <= high <= 1 (got medium={self.medium}, "
                             f"high={self.high})")

    @property
    def labels(self) -> tuple[str, str, str]:
        """The tier names, lowest risk first."""
        return ("low", "medium", "high")

    def assign(self, proba: np.ndarray | pd.Series) -> np.ndarray:
        """The tier of each probability (an object array of ``low``/``medium``/``high``)."""
        proba = np.asarray(proba, dtype=np.float64)
        # Comparisons, not np.digitize: the same >= the Spark path uses, so ties agree exactly
        # (NaN compares false: low). medium <= high, so the two counts give 0, 1 or 2: one
        # take from the three label objects, no string built per row.
        level = (proba >= self.medium).view(np.int8) + (proba >= self.high).view(np.int8)
        return _LABELS.take(level)
