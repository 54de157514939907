"""Training: one scikit-learn pipeline, seeded Optuna HPO, a threshold chosen on validation.

The holdout discipline is the point of this module. The data are split once into train, validation
and test (stratified, seeded). Hyperparameters are tuned on validation; the decision threshold is
chosen on validation; the test split is touched exactly once, by the final :func:`evaluate`, and
never by tuning or early stopping.

See Also
--------
Chapter :doc:`Training, tuning and the registry </book/03_training>`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn import metrics as skm
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from closedloop.contract.features import DerivedFeature, FeatureBuilder
from closedloop.contract.schema import Schema
from closedloop.contract.validation import validate

#: Metrics reported for every model, all binary (class 1 = the schema's positive value).
METRIC_NAMES = ("roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "brier", "log_loss")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run.

    ``n_trials=0`` skips HPO and trains with :data:`DEFAULT_PARAMS` (or the ``params`` given to
    :func:`retrain_with_params`). ``objective`` is the validation metric Optuna maximises.
    ``seed`` seeds the sampler and LightGBM; ``split_seed`` (default: ``seed``) seeds the split,
    so two models can differ in their own randomness and still be judged on the same holdout.
    """

    n_trials: int = 20
    seed: int = 42
    split_seed: int | None = None
    valid_size: float = 0.2
    test_size: float = 0.2
    objective: str = "roc_auc"
    # One thread: on a few thousand rows LightGBM's threads cost more than they save, and on a
    # shared 2-core machine two threads were measured 30x slower than one.
    n_jobs: int = 1


#: Fixed LightGBM settings (determinism and quiet logs), never tuned.
FIXED_PARAMS: dict[str, Any] = {
    "deterministic": True, "force_row_wise": True, "verbose": -1, "subsample_freq": 1,
}
#: Reasonable hyperparameters when no HPO is run.
DEFAULT_PARAMS: dict[str, Any] = {
    "n_estimators": 300, "learning_rate": 0.03, "num_leaves": 15, "min_child_samples": 40,
    "subsample": 0.8, "colsample_bytree": 0.7, "reg_lambda": 1.0,
}


@dataclass(frozen=True)
class Splits:
    """Train / validation / test frames (all contract columns, target included)."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame

    def summary(self, schema: Schema) -> dict[str, Any]:
        parts = {"train": self.train, "valid": self.valid, "test": self.test}
        return {
            f"{name}_{stat}": value
            for name, frame in parts.items()
            for stat, value in (("rows", len(frame)),
                                ("positive_rate", float(schema.target_as_int(frame).mean())))
        }


def split_data(df: pd.DataFrame, schema: Schema, config: TrainConfig = TrainConfig()) -> Splits:
    """Stratified, seeded three-way split. The test part is the untouched holdout."""
    y = schema.target_as_int(df)
    seed = config.seed if config.split_seed is None else config.split_seed
    rest, test = train_test_split(df, test_size=config.test_size, stratify=y, random_state=seed)
    valid_share = config.valid_size / (1 - config.test_size)
    train, valid = train_test_split(rest, test_size=valid_share,
                                    stratify=schema.target_as_int(rest), random_state=seed)
    return Splits(train.reset_index(drop=True), valid.reset_index(drop=True),
                  test.reset_index(drop=True))


def build_pipeline(schema: Schema, params: dict[str, Any], *, seed: int = 42, n_jobs: int = 1,
                   derived: Sequence[DerivedFeature] | None = None) -> Pipeline:
    """Features + LightGBM as one pipeline, the single artifact that is saved and served."""
    model = LGBMClassifier(**{**FIXED_PARAMS, **params}, random_state=seed, n_jobs=n_jobs)
    return Pipeline([("features", FeatureBuilder(schema, derived)), ("model", model)])


def suggest_params(trial: Any) -> dict[str, Any]:
    """The HPO search space (an Optuna trial in, LightGBM hyperparameters out)."""
    return {
        "n_estimators": trial.suggest_int("n_estimators", 100, 800, step=50),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 4, 64, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 10, 200, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 30.0, log=True),
    }


def evaluate(y_true: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, float]:
    """The binary metrics of :data:`METRIC_NAMES`; label metrics at ``threshold``.

    Examples
    --------
    >>> m = evaluate(np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.9]), threshold=0.5)
    >>> m["roc_auc"], m["f1"]
    (0.75, 0.5)
    """
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=np.float64)
    predicted = (proba >= threshold).astype(int)
    return {
        "roc_auc": float(skm.roc_auc_score(y_true, proba)),
        "pr_auc": float(skm.average_precision_score(y_true, proba)),
        "f1": float(skm.f1_score(y_true, predicted, zero_division=0)),
        "precision": float(skm.precision_score(y_true, predicted, zero_division=0)),
        "recall": float(skm.recall_score(y_true, predicted, zero_division=0)),
        "accuracy": float(skm.accuracy_score(y_true, predicted)),
        "brier": float(skm.brier_score_loss(y_true, proba)),
        "log_loss": float(skm.log_loss(y_true, proba, labels=[0, 1])),
    }


def choose_threshold(y_true: np.ndarray, proba: np.ndarray) -> float:
    """The probability threshold that maximises F1 (on validation data, never on test).

    Examples
    --------
    >>> choose_threshold(np.array([0, 0, 1, 1]), np.array([0.1, 0.3, 0.35, 0.8]))
    0.35
    """
    precision, recall, thresholds = skm.precision_recall_curve(y_true, proba)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[int(np.argmax(f1[:-1]))])


@dataclass
class TrainResult:
    """What one training run produced. ``metrics`` are on the test holdout, ``valid_metrics`` on
    validation (where the threshold was chosen)."""

    pipeline: Pipeline
    params: dict[str, Any]
    threshold: float
    metrics: dict[str, float]
    valid_metrics: dict[str, float]
    split_summary: dict[str, Any]
    config: TrainConfig
    trials: pd.DataFrame = field(default_factory=pd.DataFrame)
    run_id: str | None = None
    model_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (what the CLI prints with ``--json``)."""
        return {
            "run_id": self.run_id, "model_version": self.model_version,
            "threshold": self.threshold, "params": self.params,
            "test_metrics": self.metrics, "valid_metrics": self.valid_metrics,
            "split": self.split_summary, "config": asdict(self.config),
            "n_trials": len(self.trials),
        }

    def _repr_html_(self) -> str:
        table = pd.DataFrame({"validation": self.valid_metrics, "test (holdout)": self.metrics})
        title = f"<b>TrainResult</b> threshold={self.threshold:.3f}, trials={len(self.trials)}"
        return title + table.round(4).to_html()

    def __repr__(self) -> str:
        return f"TrainResult({json.dumps(self.to_dict(), default=str)})"


def tune(splits: Splits, schema: Schema, config: TrainConfig,
         derived: Sequence[DerivedFeature] | None = None, *, log_trials: bool = False,
         progress: bool = False) -> pd.DataFrame:
    """Seeded TPE search on the validation split; returns one row per trial, best first.

    With ``log_trials`` each trial is a nested MLflow run under the active run.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X_train, y_train = splits.train, schema.target_as_int(splits.train)
    X_valid, y_valid = splits.valid, schema.target_as_int(splits.valid)

    def objective(trial: optuna.Trial) -> float:
        params = suggest_params(trial)
        pipeline = build_pipeline(schema, params, seed=config.seed, n_jobs=config.n_jobs,
                                  derived=derived)
        proba = pipeline.fit(X_train, y_train).predict_proba(X_valid)[:, 1]
        score = evaluate(y_valid, proba, threshold=0.5)[config.objective]
        with _nested_run(log_trials, f"trial-{trial.number}") as mlflow:
            if mlflow is not None:
                mlflow.log_params(params)
                mlflow.log_metric(f"valid_{config.objective}", score)
        return score

    sampler = optuna.samplers.TPESampler(seed=config.seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=config.n_trials, show_progress_bar=progress)
    trials = study.trials_dataframe(attrs=("number", "value", "params"))
    trials = trials.rename(columns=lambda c: c.removeprefix("params_"))
    return trials.rename(columns={"value": f"valid_{config.objective}"}).sort_values(
        f"valid_{config.objective}", ascending=False, kind="stable").reset_index(drop=True)


@contextlib.contextmanager
def _nested_run(enabled: bool, name: str) -> Iterator[Any]:
    if not enabled:
        yield None
        return
    import mlflow

    with mlflow.start_run(run_name=name, nested=True):
        yield mlflow


def fit_final(splits: Splits, schema: Schema, params: dict[str, Any], config: TrainConfig,
              derived: Sequence[DerivedFeature] | None = None) -> TrainResult:
    """Fit on train, choose the threshold on validation, evaluate once on test."""
    pipeline = build_pipeline(schema, params, seed=config.seed, n_jobs=config.n_jobs,
                              derived=derived)
    pipeline.fit(splits.train, schema.target_as_int(splits.train))
    valid_proba = pipeline.predict_proba(splits.valid)[:, 1]
    y_valid = schema.target_as_int(splits.valid).to_numpy()
    threshold = choose_threshold(y_valid, valid_proba)
    test_proba = pipeline.predict_proba(splits.test)[:, 1]
    return TrainResult(
        pipeline=pipeline, params=dict(params), threshold=threshold,
        metrics=evaluate(schema.target_as_int(splits.test), test_proba, threshold),
        valid_metrics=evaluate(y_valid, valid_proba, threshold),
        split_summary=splits.summary(schema), config=config,
    )


def train(df: pd.DataFrame, schema: Schema, config: TrainConfig = TrainConfig(), *,
          derived: Sequence[DerivedFeature] | None = None, log_trials: bool = False,
          progress: bool = False) -> TrainResult:
    """Validate, split, tune (``config.n_trials`` Optuna trials), fit, evaluate on the holdout.

    This function trains only; :func:`closedloop.model.registry.train_and_register` wraps it in an
    MLflow run and registers the result.
    """
    validate(df, schema)
    splits = split_data(df, schema, config)
    trials = pd.DataFrame()
    params = dict(DEFAULT_PARAMS)
    if config.n_trials > 0:
        trials = tune(splits, schema, config, derived, log_trials=log_trials, progress=progress)
        params = {name: _python_scalar(trials.loc[0, name]) for name in DEFAULT_PARAMS}
    result = fit_final(splits, schema, params, config, derived)
    result.trials = trials
    return result


def retrain_with_params(df: pd.DataFrame, schema: Schema, params: dict[str, Any],
                        config: TrainConfig = TrainConfig(n_trials=0), *,
                        derived: Sequence[DerivedFeature] | None = None) -> TrainResult:
    """Train with given hyperparameters (e.g. the champion's), no HPO, same holdout discipline."""
    validate(df, schema)
    unknown = sorted(set(params) - set(DEFAULT_PARAMS))
    if unknown:
        raise ValueError(f"unknown hyperparameter(s) {unknown}; expected {sorted(DEFAULT_PARAMS)}")
    params = {**DEFAULT_PARAMS, **params}
    return fit_final(split_data(df, schema, config), schema, params, config, derived)


def _python_scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
