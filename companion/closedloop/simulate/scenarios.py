"""Drift scenarios: what changes in the stream, from which day, how fast.

See Also
--------
Chapter :doc:`Drift and estimated performance </book/06_drift_and_estimation>`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from closedloop.contract.schema import Schema
from closedloop.contract.telco import TELCO_SCHEMA

# Telco's billing identity (TotalCharges ~ tenure x MonthlyCharges) is kept when these exist.
_CHARGES = ("tenure", "MonthlyCharges", "TotalCharges")

ScenarioKind = Literal["none", "covariate", "concept", "data_quality"]


Effect = Literal["none", "scale", "shift", "mix", "recode", "logit", "nulls", "as_text"]


_EFFECT_KIND: Mapping[str, str] = {
    "none": "none", "scale": "covariate", "shift": "covariate", "mix": "covariate",
    "recode": "covariate", "logit": "concept", "nulls": "data_quality",
    "as_text": "data_quality",
}

Operator = Literal["equals", "at_most", "at_least", "one_of"]
_OPERATORS: tuple[str, ...] = ("equals", "at_most", "at_least", "one_of")


@dataclass(frozen=True)
class Condition:
    """One condition on a column: ``equals``, ``at_most``, ``at_least`` or ``one_of`` a value.

    Written as data ``{"column": "tenure", "at_most": 12}``; see :meth:`from_dict`.
    """

    column: str
    op: Operator
    value: Any

    def __post_init__(self) -> None:
        if self.op not in _OPERATORS:
            raise ValueError(f"condition on {self.column!r}: operator {self.op!r} is not one "
                             f"of {', '.join(_OPERATORS)}")
        if self.op in ("at_most", "at_least") and not _is_number(self.value):
            raise ValueError(f"condition on {self.column!r}: {self.op} expects a number, "
                             f"got {self.value!r}")
        if self.op == "one_of":
            if isinstance(self.value, str) or not isinstance(self.value, (list, tuple)):
                raise ValueError(f"condition on {self.column!r}: one_of expects a list of "
                                 f"values, got {self.value!r}")
            object.__setattr__(self, "value", tuple(self.value))

    @classmethod
    def from_dict(cls, spec: Any, where: str = "segment") -> Condition:
        """A condition from ``{"column": NAME, OPERATOR: VALUE}`` (exactly one operator)."""
        if not isinstance(spec, Mapping):
            raise ValueError(f"{where} expects a mapping such as "
                             f'{{"column": "tenure", "at_most": 12}}, got {spec!r}')
        column = spec.get("column")
        if not isinstance(column, str) or not column:
            raise ValueError(f"{where}.column expects a column name (text), got {column!r}")
        ops = [k for k in spec if k != "column"]
        unknown = [k for k in ops if k not in _OPERATORS]
        if unknown or len(ops) != 1:
            raise ValueError(f"{where} expects exactly one operator among "
                             f"{', '.join(_OPERATORS)} beside 'column', got {sorted(ops)}")
        return cls(column, ops[0], spec[ops[0]])  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        value = list(self.value) if self.op == "one_of" else self.value
        return {"column": self.column, self.op: value}


@dataclass(frozen=True)
class Scenario:
    """A named change of the stream from ``start_day``, at full strength after ``ramp_days``.

    ``effect`` says what happens to ``column`` at weight ``w = strength x ramp(day)``:

    - ``scale`` (covariate): numeric values times ``1 + w`` (multiplicative); scaling Telco's
      MonthlyCharges also bills the extra in TotalCharges for the months since the increase.
    - ``shift`` (covariate): numeric values plus ``w`` (additive), clipped to the contract.
    - ``mix`` (covariate): a share ``w`` of the day's customers comes from the segment (see
      below): the mix shifts, each customer's features stay internally consistent.
    - ``recode`` (covariate): a share ``w`` of the rows not at category ``value`` of ``column``
      move to ``value`` (a category mix changes).
    - ``logit`` (concept): the true log-odds of the positive class rise by ``w`` in the segment;
      features are untouched.
    - ``nulls`` (data quality): a share ``w`` of ``column`` arrives null.
    - ``as_text`` (data quality): the whole numeric column arrives as strings (``"12"``);
      ``strength`` is unused.

    The segment of ``mix`` and ``logit`` is ``segment``, conditions that must all hold; when it
    is empty, it is ``column == value`` for a category and ``column <= value`` for a number
    (``condition`` picks another operator). Labels are always drawn from the clean features:
    a data-quality incident corrupts what the model sees, not what happens to the customer.
    Declare a scenario as data with :meth:`from_dict` or :func:`load_scenario`.
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
    condition: Operator | None = None
    segment: tuple[Condition, ...] = ()

    def __post_init__(self) -> None:
        if _EFFECT_KIND.get(self.effect) != self.kind:
            raise ValueError(f"scenario {self.name!r}: effect {self.effect!r} is "
                             f"{_EFFECT_KIND.get(self.effect, 'unknown')}, not {self.kind}")
        segmented = self.effect in ("mix", "logit") and self.segment
        if self.effect != "none" and self.column is None and not segmented:
            raise ValueError(f"scenario {self.name!r}: effect {self.effect!r} needs a column")
        if self.start_day < 0 or self.ramp_days < 0:
            raise ValueError(f"scenario {self.name!r}: start_day and ramp_days must be >= 0")
        if self.condition is not None and self.condition not in _OPERATORS:
            raise ValueError(f"scenario {self.name!r}: condition {self.condition!r} is not one "
                             f"of {', '.join(_OPERATORS)}")
        object.__setattr__(self, "segment", tuple(self.segment))

    def weight(self, day: int) -> float:
        """Effect size on ``day``: 0 before ``start_day``, ramping linearly to ``strength``."""
        if self.kind == "none" or day < self.start_day:
            return 0.0
        ramp = min(1.0, (day - self.start_day + 1) / self.ramp_days) if self.ramp_days else 1.0
        return self.strength * ramp

    def conditions(self, schema: Schema = TELCO_SCHEMA) -> tuple[Condition, ...]:
        """The segment of ``mix`` and ``logit``: ``segment``, else one condition on ``column``."""
        if self.segment:
            return self.segment
        column = str(self.column)
        op = self.condition or ("at_most" if column in schema.numeric else "equals")
        return (Condition(column, op, self.value),)

    def columns(self, schema: Schema = TELCO_SCHEMA) -> tuple[str, ...]:
        """Columns whose values (or, for concept drift, whose labels) the scenario changes."""
        if self.effect in ("none", "logit"):
            return (schema.target,) if self.effect == "logit" else ()
        if self.effect == "mix":
            return tuple(dict.fromkeys(c.column for c in self.conditions(schema)))
        charges = set(_CHARGES) <= set(schema.numeric)
        return _CHARGES[1:] if (self.effect == "scale" and self.column == _CHARGES[1]
                                and charges) else (str(self.column),)

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Scenario:
        """A scenario declared as data (the format of :func:`load_scenario`).

        Keys: ``name`` (required), ``effect`` (required: none, scale, shift, mix, recode, logit,
        nulls, as_text), ``kind`` (optional, implied by ``effect``), ``description``,
        ``column``, ``value``, ``strength``, ``start_day``, ``ramp_days``, ``condition``
        and ``segment`` (a condition ``{"column": "tenure", "at_most": 12}`` or a list of them).

        Raises
        ------
        ValueError
            Naming the field and the value expected.

        Examples
        --------
        >>> s = Scenario.from_dict({"name": "loyal_leave", "effect": "logit", "strength": 2,
        ...                         "segment": {"column": "Contract", "equals": "Two year"}})
        >>> s.kind, s.segment[0].value, s.weight(30)
        ('concept', 'Two year', 2.0)
        """
        if not isinstance(spec, Mapping):
            raise ValueError(f"a scenario is a mapping of fields, got {type(spec).__name__}")
        fields = ("name", "kind", "description", "effect", "column", "value", "strength",
                  "start_day", "ramp_days", "condition", "segment")
        unknown = sorted(set(spec) - set(fields))
        if unknown:
            raise ValueError(f"scenario: unknown field(s) {unknown}; expected among "
                             f"{', '.join(fields)}")
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"scenario field 'name' expects a non-empty text, got {name!r}")
        effect = spec.get("effect", "none")
        if effect not in _EFFECT_KIND:
            raise ValueError(f"scenario {name!r}: field 'effect' expects one of "
                             f"{', '.join(_EFFECT_KIND)}, got {effect!r}")
        kind = spec.get("kind", _EFFECT_KIND[effect])
        for key in ("description", "column", "condition"):
            if spec.get(key) is not None and not isinstance(spec[key], str):
                raise ValueError(f"scenario {name!r}: field {key!r} expects text, "
                                 f"got {spec[key]!r}")
        if not _is_number(spec.get("strength", 0.0)):
            raise ValueError(f"scenario {name!r}: field 'strength' expects a number, "
                             f"got {spec['strength']!r}")
        for key in ("start_day", "ramp_days"):
            value = spec.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"scenario {name!r}: field {key!r} expects a whole number of "
                                 f"days >= 0, got {value!r}")
        value = spec.get("value")
        if value is not None and not isinstance(value, str) and not _is_number(value):
            raise ValueError(f"scenario {name!r}: field 'value' expects a category (text) or "
                             f"a number, got {value!r}")
        raw = spec.get("segment", ())
        raw = [raw] if isinstance(raw, Mapping) else raw
        if not isinstance(raw, (list, tuple)):
            raise ValueError(f"scenario {name!r}: field 'segment' expects a condition "
                             f'such as {{"column": "tenure", "at_most": 12}} or a list of them, '
                             f"got {raw!r}")
        segment = tuple(Condition.from_dict(c, f"scenario {name!r}: field 'segment'")
                        for c in raw)
        if effect in ("mix", "logit") and not segment and spec.get("column") is None:
            raise ValueError(f"scenario {name!r}: effect {effect!r} needs field 'segment' "
                             f'(e.g. {{"column": "tenure", "at_most": 12}}) or \'column\'')
        if effect in ("scale", "shift", "recode", "nulls", "as_text") and not spec.get("column"):
            raise ValueError(f"scenario {name!r}: effect {effect!r} needs field 'column' "
                             "(a column name)")
        if effect == "recode" and value is None:
            raise ValueError(f"scenario {name!r}: effect 'recode' needs field 'value' (the "
                             "category the rows move to)")
        return cls(name=name, kind=kind, description=spec.get("description", ""),
                   effect=effect, column=spec.get("column"), value=value,
                   strength=float(spec.get("strength", 0.0)),
                   start_day=spec.get("start_day", 30), ramp_days=spec.get("ramp_days", 0),
                   condition=spec.get("condition"), segment=segment)

    def to_dict(self) -> dict[str, Any]:
        """The data form read back by :meth:`from_dict` (fields at their default omitted)."""
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "effect": self.effect}
        for key in ("description", "column", "value", "condition"):
            if getattr(self, key) not in (None, ""):
                out[key] = getattr(self, key)
        out.update(strength=self.strength, start_day=self.start_day, ramp_days=self.ramp_days)
        if self.segment:
            out["segment"] = [c.to_dict() for c in self.segment]
        return out


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario declared in a JSON or YAML file (see :meth:`Scenario.from_dict`).

    Examples
    --------
    A YAML file::

        name: loyalty_erosion_12m
        effect: logit          # none, scale, shift, mix, recode, logit, nulls, as_text
        strength: 2.5          # log-odds added at full strength
        start_day: 30
        ramp_days: 14
        segment: {column: tenure, at_least: 24}
    """
    path = Path(path)
    text = path.read_text()
    try:
        if path.suffix.lower() == ".json":
            spec = json.loads(text)
        else:
            import yaml

            spec = yaml.safe_load(text)
    except ValueError as err:  # json.JSONDecodeError
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    except Exception as err:  # yaml.YAMLError
        raise ValueError(f"{path}: not valid YAML ({err})") from err
    try:
        return Scenario.from_dict(spec)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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


def as_scenario(scenario: str | Scenario | Mapping[str, Any]) -> Scenario:
    """A scenario from itself, its registered name or its data form (:meth:`Scenario.from_dict`).

    Examples
    --------
    >>> as_scenario({"name": "x", "effect": "nulls", "column": "tenure", "strength": 0.1}).kind
    'data_quality'
    """
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, Mapping):
        return Scenario.from_dict(scenario)
    return get_scenario(scenario)


_resolve = as_scenario
