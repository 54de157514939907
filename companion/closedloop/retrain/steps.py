"""The work of the retraining steps, shared by the workflow and the closed-loop replay.

Fit a challenger with the champion's parameters, compare the two on the fresh holdout, choose the
gate configuration, and build the reference a version is judged against later.

See Also
--------
Chapter "Automated retraining" (``book/08_automated_retraining.ipynb``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from closedloop.contract.schema import Schema
from closedloop.retrain.triggers import (
    Reference,
    top_features,
)


class StepFailed(RuntimeError):
    """A step refused to continue (not an error in the code: a verdict with its reason)."""


def fit_challenger(train: pd.DataFrame, schema: Schema, params: dict[str, Any], *,
                   seed: int = 0, tune: bool = False, n_trials: int = 20) -> Any:
    """Step 5: a :class:`~closedloop.model.train.TrainResult` fitted on ``train`` with ``params``
    (or with ``n_trials`` of HPO when ``tune``)."""
    from closedloop.model.train import TrainConfig, retrain_with_params
    from closedloop.model.train import train as train_model

    if tune:
        return train_model(train, schema, TrainConfig(n_trials=n_trials, seed=seed))
    return retrain_with_params(train, schema, params, TrainConfig(n_trials=0, seed=seed))


def compare_on_holdout(challenger: Any, champion: Any, holdout: pd.DataFrame, schema: Schema,
                       *, metric: str = "f1", tolerance: float = 0.0) -> dict[str, Any]:
    """Step 6: both models' metrics on the same rows, and whether the challenger is not worse.

    ``challenger`` and ``champion`` return ``prediction`` and ``prediction_proba`` from
    ``predict(frame)`` (registry pyfuncs, or :class:`~closedloop.model.baselines.PipelineModel`).
    """
    from closedloop.model.train import evaluate

    y = schema.target_as_int(holdout).to_numpy()
    metrics = {}
    for role, model in (("challenger", challenger), ("champion", champion)):
        out = model.predict(holdout[schema.feature_names])
        proba = out["prediction_proba"].to_numpy(np.float64)
        # Each model at its own threshold: the decisions it would actually make.
        metrics[role] = _label_metrics(y, proba, out["prediction"].to_numpy(int), evaluate)
    difference = metrics["challenger"][metric] - metrics["champion"][metric]
    not_worse = bool(difference >= -tolerance)
    return {"metric": metric, "tolerance": tolerance, "difference": float(difference),
            "not_worse": not_worse, "challenger": metrics["challenger"],
            "champion": metrics["champion"], "rows": int(len(holdout)),
            "summary": (f"{metric} {metrics['challenger'][metric]:.4f} vs champion "
                        f"{metrics['champion'][metric]:.4f} ({difference:+.4f}): "
                        f"{'not worse' if not_worse else 'worse'}")}


def _label_metrics(y: np.ndarray, proba: np.ndarray, predicted: np.ndarray,
                   evaluate: Callable[..., dict[str, float]]) -> dict[str, float]:
    # evaluate() thresholds probabilities; a model's own 0/1 decisions are its threshold's, so
    # find the smallest probability it called positive (exact for a ClosedLoopModel).
    threshold = float(proba[predicted == 1].min()) if predicted.any() else 1.0 + 1e-9
    return {k: float(v) for k, v in evaluate(y, proba, threshold).items()}


def gate_config(base: Any, holdout: pd.DataFrame, schema: Schema, *, derive: bool,
                skill: float = 0.1) -> Any:
    """Step 8's :class:`~closedloop.gates.config.GateConfig`: ``base`` (a preset name, file or config),
    with floors derived from ``holdout``'s labels (``skill`` of the way from no skill to
    perfect) when ``derive``."""
    from closedloop.gates.config import derive_floors, resolve_config

    config = resolve_config(base)
    if not derive:
        return config
    return derive_floors(schema.target_as_int(holdout).to_numpy(), skill=skill, base=config)


def model_reference(model: Any, holdout: pd.DataFrame, schema: Schema, version: str, f1: float,
                    trained_at: pd.Timestamp | None, pipeline: Any = None,
                    top_k: int = 5) -> Reference:
    """A :class:`~closedloop.retrain.triggers.Reference`: ``holdout`` scored by ``model``."""
    out = model.predict(holdout[schema.feature_names])
    rows = holdout.assign(prediction=out["prediction"].to_numpy(int),
                          prediction_proba=out["prediction_proba"].to_numpy(np.float64),
                          ground_truth=schema.target_as_int(holdout).to_numpy())
    top = top_features(pipeline, schema, top_k) if pipeline is not None else ()
    return Reference(str(version), rows.reset_index(drop=True), float(f1), trained_at, top)
