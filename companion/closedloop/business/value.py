"""Business impact: what acting on a model's scores is worth, priced on its precision and recall.

A :class:`~closedloop.business.templates.BusinessModel` holds three numbers a business owner can argue about: what a customer
who leaves is worth (``customer_value``), what one intervention costs (``intervention_cost``,
a call, a discount, a manual review) and how often it works (``success_rate``). :data:`~closedloop.business.templates.TEMPLATES`
holds starting points for telecom churn, retail churn and financial-services fraud; override any
field with :func:`~closedloop.business.templates.template`.

Value is always computed from the model's output, never as ``count x constants``:

- **expected** value, from the probabilities: for each targeted customer,
  ``p * success_rate * customer_value - intervention_cost``. It needs no labels, so it is what a
  batch job can report the day it scores (and it is only as good as the model's calibration);
- **realised** value, once the outcomes are known:
  ``TP * success_rate * customer_value - (TP + FP) * intervention_cost``. A model with more true
  positives for the same number of calls earns more; a model that targets nobody earns nothing.

Targeting every customer whose expected net value is positive means a threshold of
``intervention_cost / (success_rate * customer_value)`` (:meth:`~closedloop.business.templates.BusinessModel.break_even`);
:func:`profit_curve` shows the whole trade-off and compares the business-optimal threshold with
the F1-optimal one. :func:`~closedloop.business.summary.executive_summary` puts it on one page.

See Also
--------
Chapter :doc:`Batch inference and business impact </book/07_batch_and_business>`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from closedloop.business.templates import BusinessModel
from closedloop.contract.schema import Schema
from closedloop.scoring import RiskTiers


#: Fewest scores checked for being decisions in disguise: a handful of 0s and 1s may be real.
_DECISIONS_MIN = 20


def _proba(proba: Any) -> np.ndarray:
    if isinstance(proba, pd.DataFrame):
        proba = proba["prediction_proba"]
    values = np.asarray(proba, dtype=np.float64)
    if values.ndim != 1 or not np.all((values >= 0) & (values <= 1)):
        raise ValueError("probabilities must be a 1-D array of numbers in [0, 1]")
    if len(values) >= _DECISIONS_MIN and np.isin(values, (0.0, 1.0)).all() \
            and len(np.unique(values)) == 2:
        # A 0/1 column priced as probabilities counts every flagged customer as certain to
        # leave: the expected value is inflated, and any threshold is applied a second time.
        raise ValueError(f"probabilities: all {len(values)} values are 0 or 1, which are "
                         "decisions (a scored frame's prediction), not probabilities; pass "
                         "the scored frame or its prediction_proba, and decisions as targeted=")
    return values


def _labels(y: Any, n: int) -> np.ndarray | None:
    if y is None:
        return None
    labels = np.asarray(y).astype(np.int64)
    if labels.shape != (n,) or not np.isin(labels, (0, 1)).all():
        raise ValueError(f"labels must be {n} values, each 0 or 1")
    return labels


def _roi(net: float, spent: float) -> float:
    # ROI of spending nothing is undefined, not zero: NaN keeps it out of averages and argmaxes.
    return net / spent if spent > 0 else math.nan


@dataclass(frozen=True)
class BusinessImpact:
    """What targeting some customers is worth, expected and (with labels) realised.

    Money amounts are in ``business.currency``. ``expected_*`` come from the probabilities,
    ``realised_*`` from the outcomes (None without labels). ROI is net value over the
    intervention budget (NaN when nobody is targeted).
    """

    business: BusinessModel
    customers: int
    targeted: int
    threshold: float | None
    value_at_risk: float
    intervention_budget: float
    expected_saved: float
    expected_net: float
    expected_roi: float
    true_positives: int | None = None
    false_positives: int | None = None
    positives: int | None = None
    realised_saved: float | None = None
    realised_net: float | None = None
    realised_roi: float | None = None

    @property
    def precision(self) -> float | None:
        """Share of targeted customers who were positives (None without labels)."""
        if self.true_positives is None:
            return None
        return self.true_positives / self.targeted if self.targeted else math.nan

    @property
    def recall(self) -> float | None:
        """Share of positives who were targeted (None without labels)."""
        if self.true_positives is None:
            return None
        return self.true_positives / self.positives if self.positives else math.nan

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["business"] = self.business.to_dict()
        return {**out, "precision": self.precision, "recall": self.recall}

    def to_series(self) -> pd.Series:
        """The numbers as one column (the business model's name instead of its fields)."""
        out = self.to_dict()
        out["business"] = self.business.name
        return pd.Series(out, dtype=object)

    def _repr_html_(self) -> str:
        return self.to_series().to_frame("value")._repr_html_()


def assess(proba: Any, business: BusinessModel, *, threshold: float | None = None,
           targeted: Any = None, y: Any = None) -> BusinessImpact:
    """Price the customers a model targets.

    Parameters
    ----------
    proba : array-like or DataFrame
        Probability of the positive class per customer (a scored frame's ``prediction_proba``).
    business : BusinessModel
        The economics.
    threshold : float, optional
        Target customers with ``proba >= threshold``; default ``business.break_even``.
    targeted : array-like of bool, optional
        Target exactly these customers instead (e.g. a model's own ``prediction == 1``).
    y : array-like, optional
        Outcomes; when given, the realised value is computed too.

    Examples
    --------
    >>> bm = BusinessModel("demo", 1000, 100, 0.5)
    >>> impact = assess([0.9, 0.6, 0.1], bm, y=[1, 0, 0])  # break-even 0.2: two targeted
    >>> impact.targeted, impact.expected_net, impact.realised_net, impact.realised_roi
    (2, 550.0, 300.0, 1.5)
    """
    p = _proba(proba)
    labels = _labels(y, len(p))
    if targeted is None:
        threshold = business.break_even if threshold is None else float(threshold)
        mask = p >= threshold
    else:
        mask = np.asarray(targeted, dtype=bool)
        if mask.shape != p.shape:
            raise ValueError(f"targeted must have one flag per customer ({len(p)})")
        threshold = None
    count = int(mask.sum())
    spent = count * business.intervention_cost
    saved = float(p[mask].sum() * business.value_per_save)
    impact = BusinessImpact(business, len(p), count, threshold,
                            float(p.sum() * business.customer_value), spent, saved,
                            saved - spent, _roi(saved - spent, spent))
    if labels is None:
        return impact
    tp = int(labels[mask].sum())
    realised = tp * business.value_per_save
    return dataclasses.replace(impact, true_positives=tp, false_positives=count - tp,
                               positives=int(labels.sum()), realised_saved=realised,
                               realised_net=realised - spent,
                               realised_roi=_roi(realised - spent, spent))


@dataclass(frozen=True)
class ProfitCurve:
    """Net value for every threshold, with the business-optimal and F1-optimal thresholds.

    ``table`` has one row per threshold: customers targeted, expected net value and, with
    labels, true positives, precision, recall, F1 and realised net value. The business-optimal
    threshold maximises the realised net value when labels exist, the expected one otherwise.
    """

    table: pd.DataFrame
    business: BusinessModel
    best_threshold: float
    best_value: float
    f1_threshold: float | None
    f1_value: float | None
    objective: str

    def to_dict(self) -> dict[str, Any]:
        return {"business": self.business.to_dict(), "objective": self.objective,
                "best_threshold": self.best_threshold, "best_value": self.best_value,
                "f1_threshold": self.f1_threshold, "f1_value": self.f1_value,
                "points": len(self.table)}

    def _repr_html_(self) -> str:
        return pd.Series(self.to_dict() | {"business": self.business.name}, dtype=object
                         ).to_frame("value")._repr_html_()


def _candidate_thresholds(p: np.ndarray, points: int) -> np.ndarray:
    unique = np.unique(p)
    if len(unique) <= points:
        return unique
    # Quantiles of the scores, not an even grid: thresholds land where the customers are.
    return np.unique(np.quantile(p, np.linspace(0, 1, points)))


def profit_curve(y: Any, proba: Any, business: BusinessModel, *,
                 thresholds: Any = None, points: int = 400) -> ProfitCurve:
    """Net value of targeting ``proba >= t`` for every threshold ``t``.

    Parameters
    ----------
    y : array-like or None
        Outcomes; None prices expected value only (and there is no F1-optimal threshold).
    proba : array-like or DataFrame
        Probability of the positive class per customer.
    business : BusinessModel
        The economics.
    thresholds : array-like, optional
        Thresholds to evaluate; default the distinct scores (at most ``points`` quantiles).
    points : int
        Most thresholds evaluated when ``thresholds`` is not given.

    Examples
    --------
    >>> bm = BusinessModel("demo", 1000, 100, 0.5)
    >>> curve = profit_curve([1, 0, 1, 0], [0.9, 0.6, 0.4, 0.1], bm)
    >>> curve.table[["threshold", "targeted", "realised_net"]].values.tolist()
    [[0.1, 4.0, 600.0], [0.4, 3.0, 700.0], [0.6, 2.0, 300.0], [0.9, 1.0, 400.0]]
    >>> curve.best_threshold, curve.f1_threshold
    (0.4, 0.4)
    """
    p = _proba(proba)
    labels = _labels(y, len(p))
    grid = (_candidate_thresholds(p, points) if thresholds is None
            else np.sort(np.asarray(thresholds, dtype=np.float64)))
    order = np.argsort(-p, kind="stable")
    descending = p[order]
    # Customers targeted at t are a prefix of the sorted scores: cumulative sums price all t.
    count = np.searchsorted(-descending, -grid, side="right")
    cum_p = np.concatenate([[0.0], np.cumsum(descending)])
    spent = count * business.intervention_cost
    table = pd.DataFrame({"threshold": grid, "targeted": count.astype(np.float64),
                          "expected_net": cum_p[count] * business.value_per_save - spent})
    objective, f1_threshold, f1_value = "expected_net", None, None
    if labels is not None:
        tp = np.concatenate([[0], np.cumsum(labels[order])])[count]
        positives = max(int(labels.sum()), 1)
        precision = np.divide(tp, count, out=np.zeros(len(grid)), where=count > 0)
        recall = tp / positives
        f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(len(grid)),
                       where=precision + recall > 0)
        table = table.assign(true_positives=tp, precision=precision, recall=recall, f1=f1,
                             realised_net=tp * business.value_per_save - spent)
        objective = "realised_net"
        at_f1 = int(np.argmax(f1))
        f1_threshold, f1_value = float(grid[at_f1]), float(table[objective].iloc[at_f1])
    best = int(np.argmax(table[objective].to_numpy()))
    return ProfitCurve(table, business, float(grid[best]), float(table[objective].iloc[best]),
                       f1_threshold, f1_value, objective)


def top_at_risk(scored: pd.DataFrame, business: BusinessModel, n: int = 20, *,
                columns: list[str] | None = None) -> pd.DataFrame:
    """The ``n`` customers most likely to be positives, with the expected net value of acting.

    Examples
    --------
    >>> scored = pd.DataFrame({"id": ["a", "b", "c"], "prediction_proba": [0.2, 0.9, 0.5]})
    >>> top_at_risk(scored, BusinessModel("demo", 1000, 100, 0.5), n=2)
      id  prediction_proba  expected_value
    0  b               0.9           350.0
    1  c               0.5           150.0
    """
    top = scored.nlargest(n, "prediction_proba")
    if columns is not None:
        top = top[list(dict.fromkeys([*columns, "prediction_proba"]))]
    expected = top["prediction_proba"] * business.value_per_save - business.intervention_cost
    return top.assign(expected_value=expected.round(2)).reset_index(drop=True)


def compare_segments(df: pd.DataFrame, proba: Any, schema: Schema, *,
                     tiers: RiskTiers = RiskTiers()) -> pd.DataFrame:
    """How high-risk customers differ from low-risk ones, feature by feature.

    High risk is ``proba >= tiers.high``, low risk ``proba < tiers.medium``. Numeric features
    compare means; categorical ones compare the share of each category. Rows are sorted by the
    size of the gap relative to the feature's spread (numeric) or in share points (categorical),
    largest first, so the features that tell the segments apart come first.

    Examples
    --------
    >>> from closedloop.contract.schema import Column
    >>> s = Schema("t", (Column("id", "id"), Column("plan", "category", ("a", "b")),
    ...                  Column("tenure", "integer"), Column("y", "category", ("No", "Yes"))),
    ...            target="y", positive="Yes", entity_id="id")
    >>> df = pd.DataFrame({"id": list("wxyz"), "plan": list("aabb"), "tenure": [1, 3, 20, 40],
    ...                    "y": list("YYNN")})
    >>> compare_segments(df, [0.9, 0.8, 0.1, 0.2], s)[["feature", "value", "high", "low"]]
      feature value  high   low
    0  tenure  mean   2.0  30.0
    1    plan     a   1.0   0.0
    2    plan     b   0.0   1.0
    """
    p = _proba(proba)
    high, low = df[p >= tiers.high], df[p < tiers.medium]
    rows = []
    for name in schema.numeric:
        spread = float(df[name].std()) or 1.0
        a, b = float(high[name].mean()), float(low[name].mean())
        rows.append((name, "mean", a, b, a - b, abs(a - b) / spread))
    for name in schema.categorical:
        shares = pd.DataFrame({"high": high[name].value_counts(normalize=True),
                               "low": low[name].value_counts(normalize=True)}).fillna(0.0)
        for value, (a, b) in shares.iterrows():
            rows.append((name, str(value), float(a), float(b), float(a - b), abs(a - b)))
    table = pd.DataFrame(rows, columns=["feature", "value", "high", "low", "difference", "gap"])
    table = table.sort_values("gap", ascending=False, kind="stable").reset_index(drop=True)
    return table.drop(columns="gap").assign(
        high_customers=len(high), low_customers=len(low))












