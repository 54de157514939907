"""Business templates: what a saved customer is worth, what acting costs, how often it works.

See Also
--------
Chapter :doc:`Batch inference and business impact </book/07_batch_and_business>`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


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
