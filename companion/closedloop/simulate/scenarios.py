"""Drift scenarios: what changes in the stream, from which day, how fast.

See Also
--------
Chapter "Drift and estimated performance" (``book/06_drift_and_estimation.ipynb``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

import pandas as pd

from closedloop.contract.schema import Schema
from closedloop.contract.telco import TELCO_SCHEMA

# Telco's billing identity (TotalCharges ~ tenure x MonthlyCharges) is kept when these exist.
_CHARGES = ("tenure", "MonthlyCharges", "TotalCharges")

ScenarioKind = Literal["none", "covariate", "concept", "data_quality"]


Effect = Literal["none", "scale", "mix", "recode", "logit", "nulls", "as_text"]


_EFFECT_KIND: Mapping[str, str] = {
    "none": "none", "scale": "covariate", "mix": "covariate", "recode": "covariate",
    "logit": "concept", "nulls": "data_quality", "as_text": "data_quality",
}


@dataclass(frozen=True)
class Scenario:
    """A named change of the stream from ``start_day``, at full strength after ``ramp_days``.

    ``effect`` says what happens to ``column`` at weight ``w = strength x ramp(day)``:

    - ``scale`` (covariate): numeric values times ``1 + w``; scaling MonthlyCharges also bills
      the extra in TotalCharges for the months since the increase.
    - ``mix`` (covariate): a share ``w`` of the day's customers comes from the segment
      ``column <= value`` (numeric) or ``column == value``: the mix shifts, each customer's
      features stay internally consistent.
    - ``recode`` (covariate): a share ``w`` of the rows not at ``value`` move to ``value``.
    - ``logit`` (concept): the true log-odds of churn rise by ``w`` where ``column == value``;
      features are untouched.
    - ``nulls`` (data quality): a share ``w`` of ``column`` arrives null.
    - ``as_text`` (data quality): the whole numeric column arrives as strings (``"12"``);
      ``strength`` is unused.

    Labels are always drawn from the clean features: a data-quality incident corrupts what the
    model sees, not what happens to the customer.
    """

    name: str
    kind: ScenarioKind
    description: str = ""
    effect: Effect = "none"
    column: str | None = None
    value: str | float | None = None
    strength: float = 0.0
    start_day: int = 30
    ramp_days: int = 0

    def __post_init__(self) -> None:
        if _EFFECT_KIND.get(self.effect) != self.kind:
            raise ValueError(f"scenario {self.name!r}: effect {self.effect!r} is "
                             f"{_EFFECT_KIND.get(self.effect, 'unknown')}, not {self.kind}")
        if self.effect != "none" and self.column is None:
            raise ValueError(f"scenario {self.name!r}: effect {self.effect!r} needs a column")
        if self.start_day < 0 or self.ramp_days < 0:
            raise ValueError(f"scenario {self.name!r}: start_day and ramp_days must be >= 0")

    def weight(self, day: int) -> float:
        """Effect size on ``day``: 0 before ``start_day``, ramping linearly to ``strength``."""
        if self.kind == "none" or day < self.start_day:
            return 0.0
        ramp = min(1.0, (day - self.start_day + 1) / self.ramp_days) if self.ramp_days else 1.0
        return self.strength * ramp

    def columns(self, schema: Schema = TELCO_SCHEMA) -> tuple[str, ...]:
        """Columns whose values (or, for concept drift, whose labels) the scenario changes."""
        if self.effect in ("none", "logit"):
            return (schema.target,) if self.effect == "logit" else ()
        return _CHARGES[1:] if self.effect == "scale" and self.column == _CHARGES[1] else (
            str(self.column),)


#: The named scenarios, by name (see :func:`list_scenarios`).
SCENARIOS: Mapping[str, Scenario] = {s.name: s for s in (
    Scenario("none", "none", "no change: a stationary stream"),
    Scenario("price_increase", "covariate", "MonthlyCharges +20% from start_day (a price rise)",
             "scale", "MonthlyCharges", strength=0.2),
    Scenario("tenure_shift", "covariate",
             "half the customers come from tenure <= 12 months (an acquisition push), ramped "
             "over 30 days", "mix", "tenure", value=12, strength=0.5, ramp_days=30),
    Scenario("contract_shift", "covariate", "half the term contracts move to Month-to-month, "
             "ramped over 30 days", "recode", "Contract", value="Month-to-month",
             strength=0.5, ramp_days=30),
    Scenario("concept_drift", "concept", "churn log-odds +1 for Fiber optic customers (a rival "
             "fibre offer); features unchanged", "logit", "InternetService",
             value="Fiber optic", strength=1.0),
    Scenario("loyalty_erosion", "concept", "churn log-odds +2.5 for two-year contracts (a "
             "rival poaches the loyal customers); features unchanged", "logit", "Contract",
             value="Two year", strength=2.5),
    Scenario("null_spike", "data_quality", "30% of PaymentMethod arrives null (a failing join)",
             "nulls", "PaymentMethod", strength=0.3),
    Scenario("wrong_dtype", "data_quality", "tenure arrives as strings (an upstream type change)",
             "as_text", "tenure", strength=1.0),
)}


def get_scenario(name: str, **overrides: object) -> Scenario:
    """The registered scenario ``name``, with fields replaced by ``overrides``.

    Examples
    --------
    >>> get_scenario("price_increase", strength=0.1, start_day=7).weight(7)
    0.1
    >>> get_scenario("nope")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown scenario 'nope'; known scenarios: none, price_increase, ...
    """
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; known scenarios: {', '.join(SCENARIOS)}")
    return replace(SCENARIOS[name], **overrides)  # type: ignore[arg-type]


def list_scenarios(schema: Schema = TELCO_SCHEMA) -> pd.DataFrame:
    """One row per registered scenario: name, kind, description, columns affected, timing.

    Examples
    --------
    >>> list_scenarios().set_index("name").loc["price_increase", "columns"]
    'MonthlyCharges, TotalCharges'
    """
    return pd.DataFrame([
        {"name": s.name, "kind": s.kind, "description": s.description,
         "columns": ", ".join(s.columns(schema)), "strength": s.strength,
         "start_day": s.start_day, "ramp_days": s.ramp_days} for s in SCENARIOS.values()
    ])


def _resolve(scenario: str | Scenario) -> Scenario:
    return scenario if isinstance(scenario, Scenario) else get_scenario(scenario)
