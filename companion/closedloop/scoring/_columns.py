"""What both scoring engines share: output columns, risk tiers, the model to score with.

Private to :mod:`closedloop.scoring`: the pandas half (:mod:`~closedloop.scoring.batch`) and the
Spark half (:mod:`~closedloop.scoring.spark`) both import from here and never from each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from closedloop.config import Workspace
from closedloop.contract.schema import Schema
from closedloop.contract.telco import TELCO_SCHEMA

if TYPE_CHECKING:
    import pyarrow as pa



DEFAULT_MODEL_NAME = "closedloop-churn"  # same as closedloop.model.registry (not imported: MLflow)


PREDICTION, PREDICTION_PROBA = "prediction", "prediction_proba"


RISK_TIER, MODEL_NAME, MODEL_VERSION, SCORED_AT = (
    "risk_tier", "model_name", "model_version", "scored_at")


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
        # Comparisons, not np.digitize: the same >= the Spark path uses, so ties agree exactly.
        return np.select([proba >= self.high, proba >= self.medium], ["high", "medium"],
                         "low").astype(object)


def output_columns(schema: Schema = TELCO_SCHEMA) -> list[str]:
    """Columns of a scored batch, in order."""
    return [schema.entity_id, PREDICTION, PREDICTION_PROBA, RISK_TIER, MODEL_NAME,
            MODEL_VERSION, SCORED_AT]


def output_arrow_schema(schema: Schema = TELCO_SCHEMA) -> pa.Schema:
    """Arrow schema of the output file of :func:`score_file` (either engine).

    ``scored_at`` is stored in microseconds, which Spark reads (pandas' default nanoseconds it
    does not).
    """
    import pyarrow as pa

    return pa.schema([(schema.entity_id, pa.string()), (PREDICTION, pa.int64()),
                      (PREDICTION_PROBA, pa.float64()), (RISK_TIER, pa.string()),
                      (MODEL_NAME, pa.string()), (MODEL_VERSION, pa.string()),
                      (SCORED_AT, pa.timestamp("us"))])


def _closedloop_model(model: Any) -> Any:
    """The object holding ``pipeline`` and ``threshold`` behind a registry pyfunc or a
    :class:`~closedloop.model.baselines.PipelineModel`; None for any other model."""
    unwrap = getattr(model, "unwrap_python_model", None)
    try:
        inner = unwrap() if unwrap else model
    except Exception:  # not a python-function model: only its predict() is known
        return None
    return inner if hasattr(inner, "pipeline") and hasattr(inner, "threshold") else None


def _scored_at(scored_at: str | pd.Timestamp | None) -> pd.Timestamp:
    when = pd.Timestamp.now(tz="UTC") if scored_at is None else pd.Timestamp(scored_at)
    when = when.tz_convert("UTC").tz_localize(None) if when.tzinfo else when
    return when.floor("us")  # what Parquet files, Spark and the log store: microseconds


def resolve_model(workspace: Workspace, alias: str = "champion", *,
                  model_name: str = DEFAULT_MODEL_NAME) -> tuple[str, str]:
    """The ``models:/`` URI and version number behind ``alias`` (or a version number)."""
    client = workspace.client()
    version = str(alias) if str(alias).isdigit() else str(
        client.get_model_version_by_alias(model_name, alias).version)
    return f"models:/{model_name}/{version}", version
