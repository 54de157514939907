"""The work of the retraining steps, shared by the workflow and the closed-loop replay.

Fit a challenger with the champion's parameters, compare the two on the fresh holdout, choose the
gate configuration, and build the reference a version is judged against later.

See Also
--------
Chapter :doc:`Automated retraining </book/08_automated_retraining>`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from closedloop.contract.schema import Schema
from closedloop.retrain.triggers import (
    Reference,
    reference_f1,
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


#: Step 6's rules: the challenger must be shown better, or shown no worse than ``-margin``.
COMPARE_RULES = ("superior", "non_inferior")


def compare_on_holdout(challenger: Any, champion: Any, holdout: pd.DataFrame, schema: Schema,
                       *, metric: str = "f1", rule: str = "superior", margin: float = 0.01,
                       confidence: float = 0.95, n_bootstrap: int = 1000,
                       random_state: int = 0) -> dict[str, Any]:
    """Step 6: both models on the same rows, and whether the challenger earns the promotion.

    The decision uses the paired statistics of the quality gates
    (:func:`closedloop.gates.compare.compare_models`: paired bootstrap, DeLong for ROC AUC): the
    ``confidence`` interval of the improvement ``challenger - champion`` in ``metric``.

    Parameters
    ----------
    challenger, champion : model
        Return ``prediction`` and ``prediction_proba`` from ``predict(frame)`` (registry
        pyfuncs, or :class:`~closedloop.model.baselines.PipelineModel`); label metrics are at
        each model's own threshold, the decisions it would actually make.
    holdout : DataFrame
        The fresh holdout, labelled.
    schema : Schema
        The data contract.
    metric : str
        A key of :data:`closedloop.gates.compare.HIGHER_IS_BETTER`.
    rule : str
        ``"superior"`` (default): accepted when the interval's lower end is above 0, i.e. the
        improvement is shown, not a point estimate. ``"non_inferior"``: accepted when the lower
        end is at least ``-margin`` (the gates' question; it promotes a challenger that is only
        within noise of the champion).
    margin : float
        The non-inferiority margin, in ``metric`` units (used by ``"non_inferior"``; reported
        with ``"superior"``).
    confidence : float
        Two-sided confidence of the interval (0.95: a one-sided 2.5 % test).
    n_bootstrap, random_state : int
        Paired bootstrap replicates and their seed.

    Returns
    -------
    dict
        ``accepted``, the interval (``difference``, ``ci_low``, ``ci_high``, ``method``), the
        rule's settings, both models' metrics and a one-line ``summary``.
    """
    from closedloop.gates.compare import compare_models
    from closedloop.model.train import evaluate

    if rule not in COMPARE_RULES:
        raise ValueError(f"rule must be one of {COMPARE_RULES}, not {rule!r}")
    y = schema.target_as_int(holdout).to_numpy()
    metrics, outputs = {}, {}
    for role, model in (("challenger", challenger), ("champion", champion)):
        out = model.predict(holdout[schema.feature_names])
        outputs[role] = pd.DataFrame({
            "prediction": out["prediction"].to_numpy(int),
            "prediction_proba": out["prediction_proba"].to_numpy(np.float64)})
        metrics[role] = _label_metrics(y, outputs[role]["prediction_proba"].to_numpy(),
                                       outputs[role]["prediction"].to_numpy(), evaluate)
    c = compare_models(y, outputs["challenger"], outputs["champion"], margins={metric: margin},
                       n_bootstrap=n_bootstrap, confidence=confidence,
                       random_state=random_state)[metric]
    accepted = bool(c.ci_low > 0) if rule == "superior" else c.non_inferior
    verdict = ("better than the champion" if c.ci_low > 0 else
               "non-inferior, not shown better" if c.non_inferior else
               "not shown non-inferior")
    return {"metric": metric, "rule": rule, "margin": float(margin),
            "confidence": float(confidence), "n_bootstrap": int(n_bootstrap),
            "difference": float(c.difference), "ci_low": float(c.ci_low),
            "ci_high": float(c.ci_high), "method": c.method, "verdict": verdict,
            "accepted": accepted, "challenger": metrics["challenger"],
            "champion": metrics["champion"], "rows": int(len(holdout)),
            "summary": (f"{metric} {c.challenger:.4f} vs champion {c.champion:.4f}: "
                        f"{c.difference:+.4f}, {confidence:.0%} CI [{c.ci_low:+.4f}, "
                        f"{c.ci_high:+.4f}]; {verdict}: "
                        f"{'accepted' if accepted else 'refused'} ({rule})")}


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


def model_reference(model: Any, holdout: pd.DataFrame, schema: Schema, version: str,
                    f1: float | None, trained_at: pd.Timestamp | None, pipeline: Any = None,
                    top_k: int = 5) -> Reference:
    """A :class:`~closedloop.retrain.triggers.Reference`: ``holdout`` scored by ``model``.

    ``f1`` None (what a retraining passes): the F1 of ``model``'s decisions on ``holdout``,
    measured as the performance trigger measures the realised F1
    (:func:`~closedloop.retrain.triggers.reference_f1`), so the trigger's yardstick is the fresh
    holdout, not the training split.
    """
    out = model.predict(holdout[schema.feature_names])
    rows = holdout.assign(prediction=out["prediction"].to_numpy(int),
                          prediction_proba=out["prediction_proba"].to_numpy(np.float64),
                          ground_truth=schema.target_as_int(holdout).to_numpy())
    top = top_features(pipeline, schema, top_k) if pipeline is not None else ()
    f1 = reference_f1(rows) if f1 is None else float(f1)
    return Reference(str(version), rows.reset_index(drop=True), f1, trained_at, top)
