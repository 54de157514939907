"""One page for a manager: who is at risk, what to do, what it costs, what it returns.

See Also
--------
Chapter :doc:`Batch inference and business impact </book/07_batch_and_business>`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from closedloop.business.templates import BusinessModel
from closedloop.business.value import BusinessImpact, _proba, assess, top_at_risk
from closedloop.contract.schema import Schema
from closedloop.scoring import RiskTiers


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
    title: str = "Risk batch: executive summary"

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
        return {"title": self.title, "model": self.model, "action": self.action, "impact": self.impact.to_dict(),
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
        return (f"## {self.title}\n\nModel: {self.model}\n\n"
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
        return (f"<h4>{html.escape(self.title)}</h4><p>Model: "
                f"{html.escape(self.model)}</p><p><b>Recommended action.</b> "
                f"{html.escape(self.action)}</p><table>{rows}</table><p><small>Assumptions "
                f"({html.escape(b.name)}): customer value {_money(b.customer_value, b.currency)},"
                f" intervention cost {_money(b.intervention_cost, b.currency)}, success rate "
                f"{_pct(b.success_rate)}.</small></p>" + (f"<ul>{notes}</ul>" if notes else ""))


def executive_summary(scored: pd.DataFrame, business: BusinessModel, *, y: Any = None,
                      threshold: float | None = None, tiers: RiskTiers = RiskTiers(),
                      model: str = "", top: int = 10, notes: tuple[str, ...] = (),
                      title: str = "Risk batch: executive summary") -> ExecutiveSummary:
    """Summarise a scored batch for a manager.

    Customers with ``prediction_proba >= threshold`` (default: the break-even probability of
    ``business``, which maximises the expected net value) are the ones to contact. ``title``
    heads the page (:func:`champion_summary` names the contract's target in it).

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
                            top_at_risk(scored, business, top), tuple(notes), title)


def impact_table(impacts: Mapping[str, BusinessImpact]) -> pd.DataFrame:
    """Several :class:`~closedloop.business.value.BusinessImpact` side by side, one column each (e.g. two models).

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

    Without ``frame`` the batch is the model's own holdout, as stored with it
    (:func:`closedloop.model.holdout.holdout_for`; for a version registered before models stored
    it, rebuilt from ``data``, the table it was trained on): rows no model saw, with real
    outcomes, so the realised value can be set beside the expected one. A ``frame`` that carries
    the target column gets its realised value too. ``schema`` defaults to the model's contract;
    if given it must be the same.
    """
    from closedloop.model.holdout import (
        check_contract,
        holdout_for,
        load_contract,
        resolve_version,
    )
    from closedloop.model.registry import DEFAULT_MODEL_NAME, load_model
    from closedloop.scoring.batch import score

    name = model_name or DEFAULT_MODEL_NAME
    version = resolve_version(workspace, alias, model_name=name)
    contract = load_contract(workspace, version, model_name=name)
    if schema is not None:
        check_contract(schema, contract, what=f"{name} v{version}")
    schema = contract
    notes = []
    if frame is None:
        frame = holdout_for(workspace, version, data, schema, model_name=name)
        notes.append(f"Batch: the {len(frame):,} held-out customers of {name} v{version}, "
                     "with their real outcomes.")
    extra = [c for c in frame.columns if c not in schema.names]
    scored = score(frame, load_model(workspace, version, model_name=name), schema=schema,
                   model_name=name, model_version=version, tiers=tiers, allow_extra=extra)
    labelled = schema.target in frame.columns and frame[schema.target].notna().all()
    y = schema.target_as_int(frame).to_numpy() if labelled else None
    return executive_summary(scored, business, y=y, threshold=threshold, tiers=tiers,
                             model=f"{name} v{version}", notes=tuple(notes),
                             title=f"{schema.target} risk batch: executive summary")
