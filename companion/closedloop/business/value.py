"""Business impact: what acting on a model's scores is worth, priced on its precision and recall.

A :class:`BusinessModel` holds three numbers a business owner can argue about: what a customer
who leaves is worth (``customer_value``), what one intervention costs (``intervention_cost``,
a call, a discount, a manual review) and how often it works (``success_rate``). :data:`TEMPLATES`
holds starting points for telecom churn, retail churn and financial-services fraud; override any
field with :func:`template`.

Value is always computed from the model's output, never as ``count x constants``:

- **expected** value, from the probabilities: for each targeted customer,
  ``p * success_rate * customer_value - intervention_cost``. It needs no labels, so it is what a
  batch job can report the day it scores (and it is only as good as the model's calibration);
- **realised** value, once the outcomes are known:
  ``TP * success_rate * customer_value - (TP + FP) * intervention_cost``. A model with more true
  positives for the same number of calls earns more; a model that targets nobody earns nothing.

Targeting every customer whose expected net value is positive means a threshold of
``intervention_cost / (success_rate * customer_value)`` (:meth:`BusinessModel.break_even`);
:func:`profit_curve` shows the whole trade-off and compares the business-optimal threshold with
the F1-optimal one. :func:`executive_summary` puts it on one page.

See Also
--------
Chapter "Batch inference and business impact" (``book/07_batch_and_business.ipynb``).
"""

from __future__ import annotations

import dataclasses
import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from closedloop.data import Schema
from closedloop.scoring import RiskTiers


@dataclass(frozen=True)
class BusinessModel:
    """The economics of acting on a prediction.

    Parameters
    ----------
    name : str
        Short name (the template's, or your own).
    customer_value : float
        Value lost when a positive case is not acted on: a churner's lifetime value, or the loss
        a fraudulent account causes.
    intervention_cost : float
        Cost of acting on one customer, whether or not they were a positive case.
    success_rate : float
        Share of true positives that an intervention saves, in [0, 1].
    currency : str
        Unit of the money amounts, for display only.
    description : str
        What the numbers stand for.

    Examples
    --------
    >>> bm = BusinessModel("demo", customer_value=1000, intervention_cost=50, success_rate=0.25)
    >>> bm.break_even
    0.2
    >>> BusinessModel("bad", 1000, 50, success_rate=1.5)
    Traceback (most recent call last):
    ...
    ValueError: success_rate must be in [0, 1] (got 1.5)
    """

    name: str
    customer_value: float
    intervention_cost: float
    success_rate: float
    currency: str = "USD"
    description: str = ""

    def __post_init__(self) -> None:
        for name in ("customer_value", "intervention_cost", "success_rate"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number (got {value!r})")
            if value < 0:
                raise ValueError(f"{name} must be >= 0 (got {value})")
        if self.success_rate > 1:
            raise ValueError(f"success_rate must be in [0, 1] (got {self.success_rate})")

    @property
    def value_per_save(self) -> float:
        """Expected value of intervening on a certain positive (before its cost)."""
        return self.success_rate * self.customer_value

    @property
    def break_even(self) -> float:
        """Probability above which an intervention pays for itself in expectation."""
        if self.value_per_save == 0:
            return math.inf  # nothing can be saved: no probability justifies any cost
        return self.intervention_cost / self.value_per_save

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: Starting points per industry; every number is an assumption to replace with your own.
TEMPLATES: Mapping[str, BusinessModel] = {
    "telecom": BusinessModel(
        "telecom", customer_value=2000.0, intervention_cost=100.0, success_rate=0.3,
        description="telecom churn: about 30 months of a $65 monthly bill (Telco's means); a "
                    "retention call with a discount keeps three in ten churners"),
    "retail": BusinessModel(
        "retail", customer_value=400.0, intervention_cost=20.0, success_rate=0.2,
        description="retail churn: a loyal shopper's margin over their remaining life; a "
                    "voucher campaign wins back one in five"),
    "financial_services": BusinessModel(
        "financial_services", customer_value=2500.0, intervention_cost=30.0, success_rate=0.8,
        description="financial-services fraud: the average loss of a fraudulent account; a "
                    "manual review stops four in five of them"),
}


def template(name: str, **overrides: Any) -> BusinessModel:
    """A copy of ``TEMPLATES[name]`` with some fields replaced (validated like any other).

    Examples
    --------
    >>> template("telecom", success_rate=0.5).success_rate
    0.5
    >>> template("telecom", churn=1)
    Traceback (most recent call last):
    ...
    ValueError: BusinessModel has no field 'churn'; fields: customer_value, intervention_cost, \
success_rate, currency, description
    """
    if name not in TEMPLATES:
        raise ValueError(f"unknown business template {name!r}; choose from {sorted(TEMPLATES)}")
    fields = [f.name for f in dataclasses.fields(BusinessModel) if f.name != "name"]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(f"BusinessModel has no field {unknown[0]!r}; fields: {', '.join(fields)}")
    return dataclasses.replace(TEMPLATES[name], **overrides)


def _proba(proba: Any) -> np.ndarray:
    if isinstance(proba, pd.DataFrame):
        proba = proba["prediction_proba"]
    values = np.asarray(proba, dtype=np.float64)
    if values.ndim != 1 or not np.all((values >= 0) & (values <= 1)):
        raise ValueError("probabilities must be a 1-D array of numbers in [0, 1]")
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
    >>> from closedloop.data import Column
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


def _money(value: float | None, currency: str) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:,.0f} {currency}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.0%}"


@dataclass(frozen=True)
class ExecutiveSummary:
    """One page for a manager: who is at risk, what to do, what it costs, what it returns."""

    model: str
    impact: BusinessImpact
    tiers: dict[str, int]
    tier_cutoffs: dict[str, float]
    top: pd.DataFrame = field(repr=False)
    notes: tuple[str, ...] = ()

    @property
    def action(self) -> str:
        """The recommended action, in one sentence."""
        i, b = self.impact, self.impact.business
        if i.targeted == 0:
            return ("Contact nobody: no customer's expected saving covers the "
                    f"{_money(b.intervention_cost, b.currency)} an intervention costs.")
        return (f"Contact the {i.targeted:,} customers with a risk score of at least "
                f"{i.threshold if i.threshold is not None else 0:.2f} "
                f"(budget {_money(i.intervention_budget, b.currency)}).")

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "action": self.action, "impact": self.impact.to_dict(),
                "tiers": self.tiers, "tier_cutoffs": self.tier_cutoffs,
                "top": self.top.to_dict("records"), "notes": list(self.notes)}

    def _lines(self) -> list[tuple[str, str]]:
        i, cur = self.impact, self.impact.business.currency
        lines = [
            ("Customers scored", f"{i.customers:,}"),
            ("At risk (high / medium tier)",
             f"{self.tiers.get('high', 0):,} / {self.tiers.get('medium', 0):,}"),
            ("Value at risk (expected losses)", _money(i.value_at_risk, cur)),
            ("Customers to contact", f"{i.targeted:,}"),
            ("Risk-score threshold", "n/a" if i.threshold is None else f"{i.threshold:.3f}"),
            ("Intervention budget", _money(i.intervention_budget, cur)),
            ("Expected net value", _money(i.expected_net, cur)),
            ("Expected ROI", _pct(i.expected_roi)),
        ]
        if i.realised_net is not None:
            lines += [("Realised net value (known outcomes)", _money(i.realised_net, cur)),
                      ("Realised ROI", _pct(i.realised_roi)),
                      ("Precision / recall of the contact list",
                       f"{_pct(i.precision)} / {_pct(i.recall)}")]
        return lines

    def to_markdown(self) -> str:
        """The summary as Markdown (a title, the action, a table, the assumptions)."""
        b = self.impact.business
        rows = "\n".join(f"| {k} | {v} |" for k, v in self._lines())
        assumptions = (f"Assumptions ({b.name}): a saved customer is worth "
                       f"{_money(b.customer_value, b.currency)}, an intervention costs "
                       f"{_money(b.intervention_cost, b.currency)} and works "
                       f"{_pct(b.success_rate)} of the time.")
        notes = "".join(f"\n- {n}" for n in self.notes)
        return (f"## Churn-risk batch: executive summary\n\nModel: {self.model}\n\n"
                f"**Recommended action.** {self.action}\n\n| | |\n|---|---|\n{rows}\n\n"
                f"{assumptions}{notes}\n")

    def __str__(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        b = self.impact.business
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                       f"<td style='text-align:right'>{html.escape(v)}</td></tr>"
                       for k, v in self._lines())
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return (f"<h4>Churn-risk batch: executive summary</h4><p>Model: "
                f"{html.escape(self.model)}</p><p><b>Recommended action.</b> "
                f"{html.escape(self.action)}</p><table>{rows}</table><p><small>Assumptions "
                f"({html.escape(b.name)}): customer value {_money(b.customer_value, b.currency)},"
                f" intervention cost {_money(b.intervention_cost, b.currency)}, success rate "
                f"{_pct(b.success_rate)}.</small></p>" + (f"<ul>{notes}</ul>" if notes else ""))


def executive_summary(scored: pd.DataFrame, business: BusinessModel, *, y: Any = None,
                      threshold: float | None = None, tiers: RiskTiers = RiskTiers(),
                      model: str = "", top: int = 10,
                      notes: tuple[str, ...] = ()) -> ExecutiveSummary:
    """Summarise a scored batch for a manager.

    Customers with ``prediction_proba >= threshold`` (default: the break-even probability of
    ``business``, which maximises the expected net value) are the ones to contact.

    Examples
    --------
    >>> scored = pd.DataFrame({"prediction_proba": [0.9, 0.5, 0.1, 0.05]})
    >>> s = executive_summary(scored, BusinessModel("demo", 1000, 100, 0.5), y=[1, 0, 0, 0])
    >>> s.action
    'Contact the 2 customers with a risk score of at least 0.20 (budget 200 USD).'
    >>> s.tiers, s.impact.realised_net
    ({'high': 1, 'medium': 1, 'low': 2}, 300.0)
    """
    p = _proba(scored)
    assigned = pd.Series(tiers.assign(p)).value_counts()
    counts = {tier: int(assigned.get(tier, 0)) for tier in reversed(tiers.labels)}
    impact = assess(p, business, threshold=threshold, y=y)
    return ExecutiveSummary(model, impact, counts,
                            {"high": float(tiers.high), "medium": float(tiers.medium)},
                            top_at_risk(scored, business, top), tuple(notes))


def impact_table(impacts: Mapping[str, BusinessImpact]) -> pd.DataFrame:
    """Several :class:`BusinessImpact` side by side, one column each (e.g. two models).

    Examples
    --------
    >>> bm = BusinessModel("demo", 1000, 100, 0.5)
    >>> t = impact_table({"a": assess([0.9], bm), "b": assess([0.1], bm)})
    >>> t.loc["targeted"].tolist()
    [1, 0]
    """
    return pd.DataFrame({name: impact.to_series() for name, impact in impacts.items()})


def champion_summary(workspace: Any, business: BusinessModel, frame: pd.DataFrame | None = None,
                     *, data: pd.DataFrame | None = None, schema: Schema | None = None,
                     alias: str = "champion", model_name: str | None = None,
                     threshold: float | None = None,
                     tiers: RiskTiers = RiskTiers()) -> ExecutiveSummary:
    """Score ``frame`` with ``model_name@alias`` and summarise it (what ``closedloop roi`` runs).

    Without ``frame`` the batch is the model's own holdout, rebuilt from ``data`` (default
    Telco) by :func:`closedloop.validation.holdout_for`: rows no model saw, with real outcomes,
    so the realised value can be set beside the expected one. A ``frame`` that carries the
    target column gets its realised value too.
    """
    from closedloop.data import TELCO_SCHEMA, load_telco
    from closedloop.registry import DEFAULT_MODEL_NAME, load_model
    from closedloop.scoring import resolve_model, score
    from closedloop.validation import holdout_for

    schema, name = schema or TELCO_SCHEMA, model_name or DEFAULT_MODEL_NAME
    _, version = resolve_model(workspace, alias, model_name=name)
    notes = []
    if frame is None:
        frame = holdout_for(workspace, version, load_telco() if data is None else data, schema,
                            model_name=name)
        notes.append(f"Batch: the {len(frame):,} held-out customers of {name} v{version}, "
                     "with their real outcomes.")
    extra = [c for c in frame.columns if c not in schema.names]
    scored = score(frame, load_model(workspace, version, model_name=name), schema=schema,
                   model_name=name, model_version=version, tiers=tiers, allow_extra=extra)
    labelled = schema.target in frame.columns and frame[schema.target].notna().all()
    y = schema.target_as_int(frame).to_numpy() if labelled else None
    return executive_summary(scored, business, y=y, threshold=threshold, tiers=tiers,
                             model=f"{name} v{version}", notes=tuple(notes))
