"""A fixed feature set, derived from the data contract and never from the data.

``pd.get_dummies`` on raw data makes the feature set depend on which categories happen to be present
in a batch: a model trained on one month cannot score the next. Here the categorical columns are cast
to a :class:`pandas.CategoricalDtype` whose categories come from the :class:`~closedloop.contract.schema.Schema`,
so LightGBM sees the same columns and the same category codes for every batch, and a missing
category is simply a missing value.

Derived features are declared (:class:`DerivedFeature`) with the input columns they need; the
built-in ones apply to any schema that has those columns, so a reader's own table gets none of
the Telco-specific ones by accident.

See Also
--------
Chapter :doc:`Data contract and features </book/02_data_contract>`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from closedloop.contract.schema import Schema

OPTIONAL_SERVICES = (
    "OnlineSecurity", "OnlineBackup", "DeviceProtection", "TechSupport", "StreamingTV",
    "StreamingMovies",
)


@dataclass(frozen=True)
class DerivedFeature:
    """A feature computed from contract columns.

    ``compute`` takes the input frame and returns one float per row; it must be a module-level
    function so the fitted pipeline pickles by reference.
    """

    name: str
    inputs: tuple[str, ...]
    compute: Callable[[pd.DataFrame], pd.Series]
    description: str

    def applies_to(self, schema: Schema) -> bool:
        return set(self.inputs) <= set(schema.names)


def _num_optional_services(df: pd.DataFrame) -> pd.Series:
    return df[list(OPTIONAL_SERVICES)].eq("Yes").sum(axis=1).astype("float64")


def _avg_price_increase(df: pd.DataFrame) -> pd.Series:
    # Current monthly charge minus the average charge so far: a customer whose bill has risen is
    # more likely to leave. Tenure 0 has no history, hence no observable increase: 0.
    tenure = df["tenure"].astype("float64")
    average = df["TotalCharges"] / tenure.where(tenure > 0)
    return (df["MonthlyCharges"] - average).where(tenure > 0, 0.0).astype("float64")


NUM_OPTIONAL_SERVICES = DerivedFeature(
    "num_optional_services", OPTIONAL_SERVICES, _num_optional_services,
    "number of the six optional services the customer subscribes to",
)
AVG_PRICE_INCREASE = DerivedFeature(
    "avg_price_increase", ("MonthlyCharges", "TotalCharges", "tenure"), _avg_price_increase,
    "MonthlyCharges minus TotalCharges / tenure (0 when tenure is 0)",
)
BUILTIN_DERIVED: tuple[DerivedFeature, ...] = (NUM_OPTIONAL_SERVICES, AVG_PRICE_INCREASE)


def default_derived(schema: Schema) -> tuple[DerivedFeature, ...]:
    """The built-in derived features whose input columns ``schema`` has."""
    return tuple(d for d in BUILTIN_DERIVED if d.applies_to(schema))


class FeatureBuilder(TransformerMixin, BaseEstimator):
    """Select the contract's feature columns, add derived features, fix categorical dtypes.

    Parameters
    ----------
    schema : Schema
        The data contract; its feature columns (all but target, entity id and timestamp) are used.
    derived : sequence of DerivedFeature or None
        Derived features to add; ``None`` means :func:`default_derived`.

    Examples
    --------
    >>> from closedloop.contract.telco import TELCO_SCHEMA
    >>> builder = FeatureBuilder(TELCO_SCHEMA)
    >>> builder.feature_names()[-2:]
    ['num_optional_services', 'avg_price_increase']
    """

    def __init__(self, schema: Schema, derived: Sequence[DerivedFeature] | None = None) -> None:
        self.schema = schema
        self.derived = derived

    def _derived(self) -> tuple[DerivedFeature, ...]:
        return default_derived(self.schema) if self.derived is None else tuple(self.derived)

    def feature_names(self) -> list[str]:
        """Model input columns, in order: contract features, then derived ones."""
        return self.schema.feature_names + [d.name for d in self._derived()]

    def fit(self, X: pd.DataFrame, y: object = None) -> FeatureBuilder:
        missing = [name for name in self.schema.feature_names if name not in X.columns]
        if missing:
            raise KeyError(f"input lacks the contract's feature columns {missing}")
        self.n_features_in_ = len(self.schema.feature_names)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = X[self.schema.feature_names].copy()
        for name in self.schema.categorical:
            categories = pd.CategoricalDtype(list(self.schema[name].categories))
            out[name] = out[name].astype("object").astype(categories)
        for name in self.schema.numeric:
            out[name] = out[name].astype("float64")
        for feature in self._derived():
            out[feature.name] = feature.compute(X).to_numpy(dtype=np.float64)
        return out

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(self.feature_names(), dtype=object)
