"""Reasons per prediction: LightGBM's own contributions, summed back to the contract's columns.

LightGBM computes exact TreeSHAP contributions itself (``booster.predict(X, pred_contrib=True)``):
one value per model feature, in log-odds, plus the expected value (the baseline) in the last
column; per row they add up to the model's raw score. The model's features are not quite the
contract's columns, though: :class:`~closedloop.contract.features.FeatureBuilder` adds derived
features (``avg_price_increase`` is computed from ``MonthlyCharges``, ``TotalCharges`` and
``tenure``). A customer is told about the columns of their record, so each derived feature's
contribution is handed back to the contract columns it is computed from
(:attr:`~closedloop.contract.features.DerivedFeature.inputs`), **split equally** when it has
several: a third of ``avg_price_increase`` goes to each of its three inputs. The split keeps
the additivity (contributions + baseline = raw score, row by row) but is a convention, not a
measurement: TreeSHAP does not say which input of a derived feature mattered.

A contribution ``c`` is reported in log-odds and as a **probability change relative to the
baseline**: ``sigmoid(base + c) - sigmoid(base)``, what the column would do alone to an average
customer. These changes do not add up to the row's probability (the sigmoid is not linear);
the log-odds do.

Sensitive columns (``sensitive=``, or a ``sensitive`` declaration the data contract will carry)
keep their contributions in :attr:`Explanation.contributions` but are never given as reasons
unless ``allow_sensitive=True``: telling a customer "being a senior citizen raises your risk"
is rarely what a business wants to say, even when it is true of the model.

See Also
--------
Chapter :doc:`Explain, check fairness, test in production </book/10_explain_fairness_abtest>`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from closedloop.contract.features import FeatureBuilder, default_derived
from closedloop.contract.schema import Schema

#: How many reasons a prediction gets by default.
DEFAULT_TOP = 4


def _pipeline_of(model: Any) -> Any:
    """The fitted scikit-learn pipeline inside a pipeline, a ClosedLoopModel, a PipelineModel or
    a loaded MLflow pyfunc."""
    if hasattr(model, "named_steps"):
        return model
    if hasattr(model, "unwrap_python_model"):
        model = model.unwrap_python_model()
    pipeline = getattr(model, "pipeline", None)
    if pipeline is None or not hasattr(pipeline, "named_steps"):
        raise TypeError(f"cannot find a fitted pipeline in {type(model).__name__}; pass a "
                        "Pipeline([('features', FeatureBuilder), ('model', LGBMClassifier)])")
    return pipeline


def parent_columns(builder: FeatureBuilder) -> dict[str, tuple[str, ...]]:
    """Each model feature and the contract columns its contribution goes back to.

    A contract feature is its own parent; a derived feature's parents are its declared inputs.

    Examples
    --------
    >>> from closedloop.contract.telco import TELCO_SCHEMA
    >>> parents = parent_columns(FeatureBuilder(TELCO_SCHEMA))
    >>> parents["tenure"], parents["avg_price_increase"]
    (('tenure',), ('MonthlyCharges', 'TotalCharges', 'tenure'))
    """
    parents = {name: (name,) for name in builder.schema.feature_names}
    derived = default_derived(builder.schema) if builder.derived is None else builder.derived
    for feature in derived:
        parents[feature.name] = tuple(dict.fromkeys(feature.inputs))
    return parents


def _aggregation(features: Sequence[str], parents: dict[str, tuple[str, ...]],
                 schema: Schema) -> tuple[list[str], np.ndarray]:
    """Raw columns and the (features x raw columns) matrix that sums contributions to them."""
    raw = list(schema.feature_names)
    raw += [c for f in features for c in parents.get(f, (f,)) if c not in raw]
    position = {name: i for i, name in enumerate(raw)}
    matrix = np.zeros((len(features), len(raw)))
    for i, feature in enumerate(features):
        owners = parents.get(feature, (feature,))
        for owner in owners:
            matrix[i, position[owner]] += 1.0 / len(owners)
    return raw, matrix


def feature_contributions(model: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """The booster's own contributions per model feature, log-odds, before any summing.

    One column per model feature (the pipeline's feature matrix) and ``expected_value``, the
    baseline; per row they add up to the raw score.
    """
    pipeline = _pipeline_of(model)
    X = pipeline.named_steps["features"].transform(frame)
    values = pipeline.named_steps["model"].booster_.predict(X, pred_contrib=True)
    return pd.DataFrame(values, index=frame.index, columns=[*X.columns, "expected_value"])


def probability_change(base: float | np.ndarray, contribution: float | np.ndarray) -> Any:
    """What a contribution does to the baseline probability: ``sigmoid(base + c) - sigmoid(base)``.

    Examples
    --------
    >>> round(float(probability_change(0.0, np.log(3))), 3)
    0.25
    """
    return expit(np.add(base, contribution)) - expit(base)


def _outcome_label(target: str) -> str:
    # "Churn" reads as "the churn risk"; a name such as "SeriousDlqin2yrs" is kept as it is.
    return target.lower() if target[:1].isupper() and target[1:].islower() else target


def _format_value(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return "missing"
    if isinstance(value, (float, np.floating)):
        return f"{int(value)}" if float(value).is_integer() else f"{value:.6g}"
    return str(value)


@dataclass(frozen=True)
class Reason:
    """One reason for one prediction: a contract column, its value, what it did to the score.

    ``contribution`` is in log-odds; ``probability_change`` is
    ``sigmoid(base + contribution) - sigmoid(base)`` (see :func:`probability_change`).
    """

    column: str
    value: Any
    contribution: float
    probability_change: float
    text: str

    def to_dict(self) -> dict[str, Any]:
        value = self.value.item() if isinstance(self.value, np.generic) else self.value
        return {"column": self.column, "value": value, "contribution": self.contribution,
                "probability_change": self.probability_change, "text": self.text}


@dataclass(frozen=True, eq=False)
class Explanation:
    """The contributions of a batch of predictions, per contract column, and their top reasons.

    Attributes
    ----------
    contributions : pandas.DataFrame
        One row per explained row (same index), one column per contract column, log-odds.
    base : numpy.ndarray
        The expected value (baseline raw score) per row; the same for every row of one model.
    values : pandas.DataFrame
        The explained rows' values of those columns (what the reasons quote).
    outcome : str
        What the model predicts, in words (``"churn"``): "raises the churn risk".
    top : int
        At most this many reasons per row.
    excluded : tuple of str
        Columns never given as reasons (the sensitive ones, unless allowed).
    """

    contributions: pd.DataFrame
    base: np.ndarray
    values: pd.DataFrame
    outcome: str
    top: int = DEFAULT_TOP
    excluded: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.contributions)

    @property
    def baseline(self) -> float:
        """The expected value, log-odds."""
        return float(self.base[0]) if len(self.base) else float("nan")

    @property
    def baseline_probability(self) -> float:
        return float(expit(self.baseline))

    @property
    def raw_score(self) -> pd.Series:
        """Baseline plus contributions: the model's raw score (log-odds), per row."""
        return pd.Series(self.base + self.contributions.to_numpy().sum(axis=1),
                         index=self.contributions.index, name="raw_score")

    @property
    def probability(self) -> pd.Series:
        return pd.Series(expit(self.raw_score.to_numpy()), index=self.contributions.index,
                         name="probability")

    @cached_property
    def _ranked(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Column positions, validity, log-odds and probability changes of each row's reasons,
        largest |contribution| first (n rows x top)."""
        contrib = self.contributions.to_numpy(dtype=np.float64)
        strength = np.abs(contrib)
        blocked = np.isin(self.contributions.columns, list(self.excluded))
        strength[:, blocked] = -1.0
        top = min(self.top, contrib.shape[1])
        order = np.argsort(-strength, axis=1, kind="stable")[:, :top]
        chosen = np.take_along_axis(contrib, order, axis=1)
        valid = np.take_along_axis(strength, order, axis=1) > 0
        change = probability_change(self.base[:, None], chosen)
        return order, valid, chosen, change

    @cached_property
    def _texts(self) -> np.ndarray:
        order, valid, _, change = self._ranked
        names = np.asarray(self.contributions.columns, dtype=object)
        values = self.values.to_numpy(dtype=object)
        rows = np.arange(len(order))
        texts = np.full(order.shape, None, dtype=object)
        for rank in range(order.shape[1]):
            cols = order[:, rank]
            texts[:, rank] = [
                f"{name} = {_format_value(value)} {'raises' if delta > 0 else 'lowers'} the "
                f"{self.outcome} risk by {abs(delta):.2f}" if ok else None
                for name, value, delta, ok in zip(names[cols], values[rows, cols],
                                                  change[:, rank], valid[:, rank])]
        return texts

    @cached_property
    def reasons(self) -> list[list[Reason]]:
        """Per row, its reasons (at most :attr:`top`), strongest first."""
        order, valid, chosen, change = self._ranked
        names, values, texts = self.contributions.columns, self.values.to_numpy(dtype=object), \
            self._texts
        return [[Reason(names[order[i, r]], values[i, order[i, r]], float(chosen[i, r]),
                        float(change[i, r]), texts[i, r])
                 for r in range(order.shape[1]) if valid[i, r]] for i in range(len(order))]

    def to_frame(self) -> pd.DataFrame:
        """The reasons, one row per (explained row, rank): ``row`` (the input's index label),
        ``rank``, ``column``, ``value``, ``contribution`` (log-odds), ``probability_change``,
        ``text``."""
        order, valid, chosen, change = self._ranked
        i, r = np.nonzero(valid)
        cols = order[i, r]
        return pd.DataFrame({
            "row": self.contributions.index.to_numpy()[i], "rank": r + 1,
            "column": np.asarray(self.contributions.columns, dtype=object)[cols],
            "value": self.values.to_numpy(dtype=object)[i, cols],
            "contribution": chosen[i, r], "probability_change": change[i, r],
            "text": self._texts[i, r]})

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable: the baseline, and per row its score, probability and reasons."""
        labels = self.contributions.index.tolist()
        scores, probabilities = self.raw_score.tolist(), self.probability.tolist()
        return {
            "outcome": self.outcome, "baseline": self.baseline,
            "baseline_probability": self.baseline_probability, "top": self.top,
            "excluded": list(self.excluded),
            "rows": [{"row": label.item() if isinstance(label, np.generic) else label,
                      "raw_score": score, "probability": p,
                      "reasons": [reason.to_dict() for reason in reasons]}
                     for label, score, p, reasons in zip(labels, scores, probabilities,
                                                         self.reasons)]}

    def __repr__(self) -> str:
        return (f"Explanation({len(self)} rows, {self.contributions.shape[1]} columns, "
                f"baseline probability {self.baseline_probability:.3f}, top {self.top})")

    def _repr_html_(self, max_rows: int = 10) -> str:
        head = (f"<p><b>Explanation</b> of {len(self)} rows: baseline {self.outcome} probability "
                f"{self.baseline_probability:.3f}, at most {self.top} reasons per row"
                + (f", never {html.escape(', '.join(self.excluded))}" if self.excluded else "")
                + "</p>")
        rows = []
        for label, p, reasons in zip(self.contributions.index[:max_rows],
                                     self.probability.iloc[:max_rows], self.reasons[:max_rows]):
            items = "".join(f"<li>{html.escape(r.text)}</li>" for r in reasons)
            rows.append(f"<tr><td>{html.escape(str(label))}</td><td>{p:.3f}</td>"
                        f"<td style='text-align:left'><ul>{items}</ul></td></tr>")
        more = f"<p>... {len(self) - max_rows} more rows</p>" if len(self) > max_rows else ""
        return (head + "<table><thead><tr><th>row</th><th>probability</th><th>reasons</th>"
                f"</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}")


def explain(model_or_pipeline: Any, frame: pd.DataFrame, schema: Schema | None = None,
            top: int = DEFAULT_TOP, *, sensitive: Sequence[str] | None = None,
            allow_sensitive: bool = False, outcome: str | None = None) -> Explanation:
    """Explain each row's prediction by the contract's columns.

    Parameters
    ----------
    model_or_pipeline : Pipeline, ClosedLoopModel, PipelineModel or MLflow pyfunc
        A fitted ``[("features", FeatureBuilder), ("model", LGBMClassifier)]`` pipeline, or a
        model holding one as ``.pipeline``.
    frame : pandas.DataFrame
        The rows to explain (the contract's feature columns; other columns are ignored).
    schema : Schema or None
        The data contract; ``None``: the one the pipeline's feature builder was built with.
    top : int
        At most this many reasons per row (the strongest by absolute contribution; columns
        with a zero contribution are never reasons).
    sensitive : sequence of str or None
        Columns never given as reasons; ``None``: the schema's ``sensitive`` declaration if it
        has one, else none.
    allow_sensitive : bool
        Give sensitive columns as reasons all the same.
    outcome : str or None
        The outcome in words; ``None``: the schema's target name (``"Churn"`` reads "churn").

    Returns
    -------
    Explanation

    Examples
    --------
    >>> from closedloop.contract.telco import TELCO_SCHEMA
    >>> from closedloop.model.train import build_pipeline
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({c.name: rng.choice(c.categories, 200) for c in TELCO_SCHEMA.columns
    ...                    if c.categories})
    >>> df = df.assign(customerID=[f"c{i}" for i in range(200)],
    ...                SeniorCitizen=rng.integers(0, 2, 200), tenure=rng.integers(0, 72, 200),
    ...                MonthlyCharges=rng.uniform(20, 110, 200))
    >>> df["TotalCharges"] = df["MonthlyCharges"] * df["tenure"]
    >>> df["Churn"] = np.where(df["Contract"] == "Month-to-month", "Yes", "No")
    >>> pipeline = build_pipeline(TELCO_SCHEMA, {"n_estimators": 20}).fit(
    ...     df, TELCO_SCHEMA.target_as_int(df))
    >>> explanation = explain(pipeline, df.head(3), top=2)
    >>> explanation.reasons[0][0].column
    'Contract'
    >>> bool(np.allclose(explanation.probability, pipeline.predict_proba(df.head(3))[:, 1]))
    True
    """
    pipeline = _pipeline_of(model_or_pipeline)
    builder = pipeline.named_steps["features"]
    schema = builder.schema if schema is None else schema
    per_feature = feature_contributions(pipeline, frame)
    features = list(per_feature.columns[:-1])
    raw, matrix = _aggregation(features, parent_columns(builder), schema)
    summed = per_feature.to_numpy()[:, :-1] @ matrix
    if sensitive is None:
        sensitive = tuple(getattr(schema, "sensitive", ()) or ())
    return Explanation(
        pd.DataFrame(summed, index=frame.index, columns=raw),
        per_feature["expected_value"].to_numpy(), frame[raw],
        _outcome_label(schema.target) if outcome is None else outcome, int(top),
        () if allow_sensitive else tuple(c for c in sensitive if c in raw))


def global_importance(explanation: Explanation | Any, frame: pd.DataFrame | None = None,
                      schema: Schema | None = None) -> pd.Series:
    """Mean absolute contribution (log-odds) per contract column, largest first.

    Takes an :class:`Explanation`, or a model and the rows to average over.
    """
    if not isinstance(explanation, Explanation):
        if frame is None:
            raise TypeError("global_importance needs an Explanation, or a model and a frame")
        explanation = explain(explanation, frame, schema)
    return (explanation.contributions.abs().mean().sort_values(ascending=False)
            .rename("mean_abs_contribution"))


def reason_columns(explanation: Explanation, top: int | None = None,
                   prefix: str = "reason_") -> pd.DataFrame:
    """The reasons as flat text columns ``reason_1`` ... ``reason_k`` (``None`` where a row has
    fewer), indexed like the explained rows: an optional column set for batch scoring output.
    """
    texts = explanation._texts
    k = texts.shape[1] if top is None else min(top, texts.shape[1])
    return pd.DataFrame({f"{prefix}{r + 1}": texts[:, r] for r in range(k)},
                        index=explanation.contributions.index)
