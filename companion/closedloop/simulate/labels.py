"""Labels of the simulated stream: the true label model and the delay before a label arrives.

See Also
--------
Chapter :doc:`Ground truth and production accuracy </book/05_ground_truth>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from closedloop.contract.schema import Schema
from closedloop.contract.telco import TELCO_SCHEMA


def _category_codes(values: pd.Series | np.ndarray, categories: tuple[str, ...]) -> np.ndarray:
    """Codes; -1 for null or unknown."""
    return pd.Categorical(values, categories=list(categories)).codes.astype(np.int16)


#: LightGBM settings of the label model: small, regularised, single-threaded, deterministic.
LABEL_MODEL_PARAMS: Mapping[str, Any] = {
    "n_estimators": 150, "learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 40,
    "reg_lambda": 1.0, "colsample_bytree": 0.8, "n_jobs": 1, "deterministic": True,
    "force_row_wise": True, "verbose": -1,
}


@dataclass(frozen=True, eq=False)
class LabelModel:
    """The fixed "ground truth" of a simulated stream, fitted once on the reference table.

    A small gradient-boosting model (LightGBM, single-threaded, seeded) on the schema's
    features, so that the truth captures interactions and thresholds the way a trained model
    does, not only a linear trend. Its raw scores are calibrated by Platt scaling on
    out-of-fold scores (``folds`` cross-fitted models), so that :meth:`proba` is a probability
    and the labels drawn from it are about as predictable as the reference's own. The same
    reference, schema and seed give the same truth.

    Parameters
    ----------
    schema : Schema
        The contract of the rows scored.
    booster : lightgbm.Booster
        The model fitted on the whole reference.
    slope, intercept : float
        Platt scaling: ``logit = slope * raw_score + intercept``.
    seed : int
        The seed the model was fitted with.

    Examples
    --------
    >>> from closedloop.contract.telco import load_telco
    >>> telco = load_telco()
    >>> truth = LabelModel.fit(telco)
    >>> round(float(truth.proba(telco).mean()), 2)
    0.27
    """

    schema: Schema
    booster: Any
    slope: float
    intercept: float
    seed: int = 0

    @classmethod
    def fit(cls, reference: pd.DataFrame, schema: Schema = TELCO_SCHEMA, *, seed: int = 0,
            folds: int = 5, params: Mapping[str, Any] | None = None) -> LabelModel:
        """Fit the truth on ``reference`` (already typed to ``schema``).

        Parameters
        ----------
        reference : DataFrame
            Labelled rows honouring ``schema``.
        schema : Schema
            Its contract: the features and the target.
        seed : int
            Seeds the folds and LightGBM.
        folds : int
            Cross-fitted models whose out-of-fold scores calibrate the probabilities.
        params : mapping, optional
            LightGBM settings replacing :data:`LABEL_MODEL_PARAMS`.

        Returns
        -------
        LabelModel
        """
        from lightgbm import LGBMClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold

        settings = {**LABEL_MODEL_PARAMS, **(params or {}), "random_state": seed}
        x = _matrix(schema, _codes(reference, schema), _numerics(reference, schema))
        y = schema.target_as_int(reference).to_numpy()
        if np.unique(y).size < 2:
            raise ValueError(f"the reference needs both classes of {schema.target!r} "
                             f"(positive {schema.positive!r}) to fit a label model")
        categorical = list(range(len(schema.categorical)))

        def fitted(rows: np.ndarray) -> Any:
            model = LGBMClassifier(**settings)
            model.fit(x[rows], y[rows], categorical_feature=categorical)
            return model.booster_

        raw = np.zeros(len(y))
        splits = StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y)
        for train, test in splits:
            raw[test] = fitted(train).predict(x[test], raw_score=True)
        platt = LogisticRegression(C=1e6, max_iter=1000).fit(raw[:, None], y)
        return cls(schema=schema, booster=fitted(np.arange(len(y))),
                   slope=float(platt.coef_[0, 0]), intercept=float(platt.intercept_[0]),
                   seed=seed)

    def logit_from_arrays(self, codes: Mapping[str, np.ndarray],
                          numerics: Mapping[str, np.ndarray]) -> np.ndarray:
        """Log-odds from category codes (-1: null) and numeric arrays (NaN: null)."""
        x = _matrix(self.schema, codes, numerics)
        if len(x) == 0:
            return np.zeros(0)
        return self.slope * self.booster.predict(x, raw_score=True) + self.intercept

    def logit(self, df: pd.DataFrame) -> np.ndarray:
        """Log-odds of the positive class for every row of ``df`` (numbers as text parsed)."""
        return self.logit_from_arrays(_codes(df, self.schema), _numerics(df, self.schema))

    def proba(self, df: pd.DataFrame) -> np.ndarray:
        """True probability of the positive class for every row of ``df``."""
        return _sigmoid(self.logit(df))

    def feature_importance(self) -> pd.Series:
        """Total gain of each feature's splits, indexed by feature name."""
        names = [*self.schema.categorical, *self.schema.numeric]
        gain = self.booster.feature_importance(importance_type="gain")
        return pd.Series(gain, index=names, name="gain")


#: The historical name of :class:`LabelModel` (Telco's truth is churn).
TrueChurnModel = LabelModel


def _codes(df: pd.DataFrame, schema: Schema) -> dict[str, np.ndarray]:
    return {n: _category_codes(df[n].to_numpy(), schema[n].categories)
            for n in schema.categorical}


def _numerics(df: pd.DataFrame, schema: Schema) -> dict[str, np.ndarray]:
    return {n: pd.to_numeric(df[n], errors="coerce").to_numpy(float) for n in schema.numeric}


def _matrix(schema: Schema, codes: Mapping[str, np.ndarray],
            numerics: Mapping[str, np.ndarray]) -> np.ndarray:
    """Categories (codes, NaN for null) first, then numerics: the label model's input."""
    blocks = [np.where(codes[n] < 0, np.nan, codes[n]).astype(float) for n in schema.categorical]
    blocks += [np.asarray(numerics[n], float) for n in schema.numeric]
    rows = len(blocks[0]) if blocks else 0
    return np.column_stack(blocks) if blocks else np.zeros((rows, 0))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class LabelDelay:
    """Days between a prediction and the arrival of its ground truth, drawn per row.

    ``fixed``: always ``days``. ``uniform``: an integer uniform on ``[min_days, max_days]``.
    ``geometric``: ``min_days`` plus a geometric count with mean ``days``, capped at ``max_days``
    (most labels come soon, a long tail comes late). The default, 30 fixed days, matches Telco's
    label "left within the last month".

    Examples
    --------
    >>> LabelDelay("uniform", min_days=7, max_days=9).draw(np.random.default_rng(0), 5)
    array([9, 8, 8, 7, 7])
    """

    kind: Literal["fixed", "uniform", "geometric"] = "fixed"
    days: float = 30
    max_days: int = 90
    min_days: int = 0

    def __post_init__(self) -> None:
        ok = {"fixed": self.days >= 0 and float(self.days).is_integer(), "uniform": True,
              "geometric": self.min_days <= self.days}.get(self.kind, False)
        if not (ok and 0 <= self.min_days <= self.max_days):
            raise ValueError(f"invalid {self}: kind is fixed (whole days >= 0), uniform or "
                             "geometric (days = mean >= min_days), and 0 <= min_days <= max_days")

    def draw(self, rng: np.random.Generator, rows: int) -> np.ndarray:
        """Whole-day delays (int64) for ``rows`` labels."""
        if self.kind == "fixed":
            return np.full(rows, int(self.days), dtype=np.int64)
        if self.kind == "uniform":
            return rng.integers(self.min_days, self.max_days + 1, rows, dtype=np.int64)
        extra = rng.geometric(1.0 / (self.days - self.min_days + 1.0), rows) - 1
        return np.minimum(self.min_days + extra, self.max_days).astype(np.int64)
