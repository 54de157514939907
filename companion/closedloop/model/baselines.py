"""Models as predictors: a fitted pipeline, and the degenerate models the gates must reject.

Every class here honours the :class:`~closedloop.gates.checks.Predictor` contract: ``predict(frame)``
returns ``prediction`` (0/1) and ``prediction_proba``. :class:`PipelineModel` is the prediction
logic of the registry's pyfunc without MLflow around it. The others are the no-skill and broken
models a quality gate exists to stop: predicting the majority class for everyone, guessing at
random, or ranking customers upside down. A gate that lets one of them through is not a gate.

See Also
--------
Chapter :doc:`Quality gates </book/04_quality_gates>`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from closedloop.contract.schema import Schema
from closedloop.contract.validation import validate


def _frame(proba: np.ndarray, labels: np.ndarray, index: pd.Index) -> pd.DataFrame:
    return pd.DataFrame({"prediction": np.asarray(labels).astype("int64"),
                         "prediction_proba": np.asarray(proba, dtype="float64")}, index=index)


class PipelineModel:
    """A fitted classifier (anything with ``predict_proba``) and its decision threshold.

    With a ``schema`` the input is validated against the data contract first, exactly as the
    registered pyfunc does; columns beyond the features (ids, the label) are allowed.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    >>> model = PipelineModel(LogisticRegression().fit(X, [0, 0, 1, 1]), threshold=0.5)
    >>> model.predict(X)["prediction"].tolist()
    [0, 0, 1, 1]
    """

    def __init__(self, pipeline: Any, threshold: float, schema: Schema | None = None) -> None:
        self.pipeline, self.threshold, self.schema = pipeline, float(threshold), schema

    @classmethod
    def from_result(cls, result: Any, schema: Schema) -> PipelineModel:
        """The model of a :class:`~closedloop.model.train.TrainResult`, with its contract."""
        return cls(result.pipeline, result.threshold, schema)

    def predict(self, model_input: pd.DataFrame) -> pd.DataFrame:
        if self.schema is not None:
            validate(model_input, self.schema, require_target=False, require_id=False,
                     allow_extra=model_input.columns)
        proba = self.pipeline.predict_proba(model_input)[:, 1]
        return _frame(proba, proba >= self.threshold, model_input.index)


class MajorityClassModel:
    """Predicts the majority class for everyone, with the base rate as its probability.

    On Telco this model is 73 % accurate: it passes any accuracy floor below the share of
    customers who stay, which is why floors must be derived from the class balance.

    Examples
    --------
    >>> MajorityClassModel(0.25).predict(pd.DataFrame({"x": [1, 2]})).values.tolist()
    [[0.0, 0.25], [0.0, 0.25]]
    """

    def __init__(self, positive_rate: float) -> None:
        self.positive_rate = float(positive_rate)

    def predict(self, model_input: pd.DataFrame) -> pd.DataFrame:
        n = len(model_input)
        return _frame(np.full(n, self.positive_rate), np.full(n, int(self.positive_rate > 0.5)),
                      model_input.index)


class RandomModel:
    """Uniform random scores; flags the top ``positive_rate`` share, so its label mix looks right.

    Every call draws new numbers: the same row scored twice gets two answers.

    Examples
    --------
    >>> out = RandomModel(0.3, random_state=0).predict(pd.DataFrame({"x": range(1000)}))
    >>> round(float(out["prediction"].mean()), 1)
    0.3
    """

    def __init__(self, positive_rate: float, random_state: int = 0) -> None:
        self.positive_rate = float(positive_rate)
        self._rng = np.random.default_rng(random_state)

    def predict(self, model_input: pd.DataFrame) -> pd.DataFrame:
        proba = self._rng.random(len(model_input))
        return _frame(proba, proba >= 1 - self.positive_rate, model_input.index)


class InvertedModel:
    """Another model with its probabilities turned upside down (``1 - p``) and labels flipped:
    the classic sign error. Its output is self-consistent; only its ranking is wrong.

    Examples
    --------
    >>> base = MajorityClassModel(0.25)
    >>> InvertedModel(base).predict(pd.DataFrame({"x": [1]})).values.tolist()
    [[1.0, 0.75]]
    """

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, model_input: pd.DataFrame) -> pd.DataFrame:
        out = self.model.predict(model_input)
        return _frame(1 - out["prediction_proba"], 1 - out["prediction"], out.index)
