"""Labels of the simulated stream: the true churn model and the delay before a label arrives.

See Also
--------
Chapter "Ground truth and production accuracy" (``book/05_ground_truth.ipynb``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from closedloop.contract.schema import Schema
from closedloop.contract.telco import TELCO_SCHEMA


def _category_codes(values: pd.Series | np.ndarray, categories: tuple[str, ...]) -> np.ndarray:
    """Codes; -1 for null or unknown, which indexes the trailing null/zero slot of lookups."""
    return pd.Categorical(values, categories=list(categories)).codes.astype(np.int16)


@dataclass(frozen=True, eq=False)
class TrueChurnModel:
    """The fixed "ground truth": a logistic model of churn fitted once on the reference data.

    One-hot categoricals and standardised numerics, L2-penalised with a fixed ``C``: lbfgs is
    deterministic, so the same reference gives the same truth. Scoring looks up one coefficient
    per category code instead of building a one-hot matrix, so it is fast on millions of rows.

    Examples
    --------
    >>> from closedloop.contract.telco import load_telco
    >>> telco = load_telco()
    >>> truth = TrueChurnModel.fit(telco)
    >>> round(float(truth.proba(telco).mean()), 2)
    0.27
    """

    schema: Schema
    intercept: float
    category_coef: Mapping[str, np.ndarray]  # per column: one per category, then 0 for null
    numeric_mean: Mapping[str, float]
    numeric_scale: Mapping[str, float]
    numeric_coef: Mapping[str, float]

    @classmethod
    def fit(cls, reference: pd.DataFrame, schema: Schema = TELCO_SCHEMA, *,
            C: float = 1.0) -> TrueChurnModel:
        """Fit the truth on ``reference`` (already typed to ``schema``)."""
        blocks, sizes = [], []
        for name in schema.categorical:
            categories = schema[name].categories
            codes = _category_codes(reference[name], categories)
            blocks.append((codes[:, None] == np.arange(len(categories))).astype(float))
            sizes.append(len(categories))
        numeric = reference[schema.numeric].to_numpy(float)
        mean, scale = np.nanmean(numeric, axis=0), np.nanstd(numeric, axis=0)
        scale[scale == 0] = 1.0
        blocks.append(np.nan_to_num((numeric - mean) / scale))
        model = LogisticRegression(C=C, max_iter=5000)
        model.fit(np.hstack(blocks), schema.target_as_int(reference).to_numpy())
        coef = model.coef_[0]
        splits = np.split(coef[:sum(sizes)], np.cumsum(sizes)[:-1])
        return cls(
            schema=schema, intercept=float(model.intercept_[0]),
            category_coef={n: np.append(c, 0.0) for n, c in zip(schema.categorical, splits)},
            numeric_mean=dict(zip(schema.numeric, mean.tolist())),
            numeric_scale=dict(zip(schema.numeric, scale.tolist())),
            numeric_coef=dict(zip(schema.numeric, coef[sum(sizes):].tolist())),
        )

    def logit_from_arrays(self, codes: Mapping[str, np.ndarray],
                          numerics: Mapping[str, np.ndarray]) -> np.ndarray:
        """Log-odds from category codes and numeric arrays; a null counts as zero effect."""
        out = np.full(len(next(iter({**codes, **numerics}.values()))), self.intercept)
        for name, coef in self.category_coef.items():
            out += coef[codes[name]]
        for name, coef in self.numeric_coef.items():
            z = (numerics[name] - self.numeric_mean[name]) / self.numeric_scale[name]
            out += coef * np.nan_to_num(z)
        return out

    def logit(self, df: pd.DataFrame) -> np.ndarray:
        """Log-odds of churn for every row of ``df`` (numbers as text are parsed)."""
        codes = {n: _category_codes(df[n].to_numpy(), self.schema[n].categories)
                 for n in self.category_coef}
        numerics = {n: pd.to_numeric(df[n], errors="coerce").to_numpy(float)
                    for n in self.numeric_coef}
        return self.logit_from_arrays(codes, numerics)

    def proba(self, df: pd.DataFrame) -> np.ndarray:
        """True probability of churn for every row of ``df``."""
        return _sigmoid(self.logit(df))

    def coefficients(self) -> pd.Series:
        """Every coefficient, indexed ``column=value`` (categories) or ``column`` (per std)."""
        items = {"intercept": self.intercept}
        for name, coef in self.category_coef.items():
            items.update({f"{name}={c}": v for c, v in zip(self.schema[name].categories, coef)})
        items.update(self.numeric_coef)
        return pd.Series(items, name="coefficient")


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
