"""The production stream: a seeded simulator calibrated on the reference data, with drift scenarios.

Telco has 7,043 undated rows; monitoring, retraining and scale need a production stream. A
:class:`StreamSimulator` emits daily batches of any size from a population resampled from the
reference, draws each label from a fixed :class:`TrueChurnModel`, dates its arrival with a
:class:`LabelDelay`, and applies a named :class:`Scenario` (:data:`SCENARIOS`). Day ``d`` depends
on ``(seed, d)`` alone, with one generator each for customers, clock, labels, delays and scenario:
a day is the same alone or inside a long stream, and the same customers arrive at the same times
under every scenario, so a scenario changes only what it claims.

See Also
--------
Chapter "A production stream" (simulation, drift scenarios and delayed labels).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from closedloop.data import TELCO_SCHEMA, Schema, validate

#: Columns a simulated batch has beyond the contract (pass as ``validate(allow_extra=...)``).
STREAM_COLUMNS: tuple[str, ...] = ("event_time", "label_available_at", "true_churn_proba")

_NS_PER_DAY = 86_400 * 10**9
_POOL, _DAY = 0, 1  # spawn-key tags keep pool and daily generators apart
_CUSTOMERS, _CLOCK, _LABELS, _DELAY, _SCENARIO = range(5)
# Telco's billing identity (TotalCharges ~ tenure x MonthlyCharges) is kept when these exist.
_CHARGES = ("tenure", "MonthlyCharges", "TotalCharges")


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


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
    >>> from closedloop.data import load_telco
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


@dataclass
class _Rows:
    """One day's rows in the simulator's compact form: category codes and numeric arrays."""

    index: np.ndarray
    codes: dict[str, np.ndarray]
    numerics: dict[str, np.ndarray]
    logit_shift: np.ndarray | float = 0.0
    text: dict[str, np.ndarray] = field(default_factory=dict)


class StreamSimulator:
    """A seeded production stream calibrated on ``reference``.

    The population is ``population`` customers resampled from the reference rows. A resampled
    customer keeps its categories, so combinations such as "No internet service" with
    InternetService "No" stay consistent; numerics get Gaussian noise of ``noise`` standard
    deviations (0/1 flags excepted), keep the reference's precision and are clipped to the
    observed and contract ranges; TotalCharges is rebuilt from the jittered tenure and
    MonthlyCharges with the customer's own billing ratio. Ids (``SIM-0000042``) are stable.

    Each day draws its customers from the population (without replacement when ``rows`` fits, so
    customers recur across days, not within one) at uniform random times, sorted. The population
    is stationary: tenure does not grow with elapsed time, so the ``none`` stream has no drift at
    all and every change comes from a :class:`Scenario`.

    Parameters
    ----------
    reference : DataFrame
        Rows honouring ``schema`` (e.g. :func:`closedloop.data.load_telco`).
    seed : int
        Everything random derives from ``seed`` and the day.
    population : int
        Number of simulated customers.
    start : str
        Date of day 0.
    schema : Schema
        The contract of ``reference`` and of the emitted batches.
    noise : float
        Jitter of numeric columns, in reference standard deviations.
    true_model : TrueChurnModel, optional
        The ground truth; fitted on ``reference`` when omitted.

    Examples
    --------
    >>> from closedloop.data import load_telco
    >>> sim = StreamSimulator(load_telco(), seed=1, population=1_000)
    >>> day = sim.batch(day=3, rows=5)
    >>> day.shape, str(day["event_time"].dt.date.iloc[0])
    ((5, 24), '2026-01-04')
    >>> day.equals(sim.stream(days=4, rows_per_day=5).iloc[15:].reset_index(drop=True))
    True
    """

    def __init__(self, reference: pd.DataFrame, *, seed: int = 0, population: int = 50_000,
                 start: str = "2026-01-01", schema: Schema = TELCO_SCHEMA, noise: float = 0.05,
                 true_model: TrueChurnModel | None = None) -> None:
        if seed < 0 or population < 1:
            raise ValueError("seed must be >= 0 and population >= 1")
        validate(reference, schema)
        self.schema, self.seed, self.population = schema, seed, population
        self.start = pd.Timestamp(start)
        self.true_model = true_model or TrueChurnModel.fit(reference, schema)
        self._decimals = {n: _decimals(reference[n].to_numpy(float)) for n in schema.numeric}
        rng = _rng(seed, _POOL)
        rows = rng.integers(0, len(reference), population)
        self._codes = {n: _category_codes(reference[n], schema[n].categories)[rows]
                       for n in schema.categorical}
        self._numerics = self._jitter(reference, rows, rng, noise)
        self._values = {n: np.array([*schema[n].categories, None], dtype=object)
                        for n in schema.categorical}
        digits = np.char.zfill(np.arange(population).astype(str), max(7, len(str(population))))
        self._ids = np.char.add("SIM-", digits).astype(object)
        self._logit = self.true_model.logit_from_arrays(self._codes, self._numerics)

    def _jitter(self, reference: pd.DataFrame, rows: np.ndarray, rng: np.random.Generator,
                noise: float) -> dict[str, np.ndarray]:
        out = {}
        for name in self.schema.numeric:
            base = reference[name].to_numpy(float)
            x = base[rows]
            if np.unique(base[~np.isnan(base)]).size > 2:  # a 0/1 flag must stay 0/1
                x = x + rng.normal(0.0, noise * np.nanstd(base), x.size)
            out[name] = self._clip(name, x, np.nanmin(base), np.nanmax(base))
        if set(_CHARGES) <= set(out):
            tenure, monthly, total = (reference[n].to_numpy(float) for n in _CHARGES)
            billed = tenure * monthly
            ratio = np.divide(total, billed, out=np.ones_like(total), where=billed > 0)[rows]
            out[_CHARGES[2]] = self._clip(_CHARGES[2], ratio * out[_CHARGES[0]]
                                          * out[_CHARGES[1]])
        return out

    def _clip(self, name: str, x: np.ndarray, low: float = -np.inf,
              high: float = np.inf) -> np.ndarray:
        column, decimals = self.schema[name], self._decimals[name]
        low = low if column.low is None else max(low, column.low)
        x = np.clip(x, low, high if column.high is None else min(high, column.high))
        if column.kind == "integer":
            return np.rint(x).astype(np.int64)
        return x if decimals is None else np.round(x, decimals)

    def _mask(self, codes: Mapping[str, np.ndarray], numerics: Mapping[str, np.ndarray],
              scenario: Scenario) -> np.ndarray:
        """The segment ``column == value`` (category) or ``column <= value`` (numeric)."""
        column, value = str(scenario.column), scenario.value
        if column in codes:
            return codes[column] == self.schema[column].categories.index(str(value))
        return numerics[column] <= float(value)  # type: ignore[arg-type]

    def _check(self, scenario: Scenario) -> Scenario:
        """Fail before generating anything, naming the scenario, when it does not fit the schema."""
        column, schema = scenario.column, self.schema
        needs = {"scale": schema.numeric, "as_text": schema.numeric,
                 "recode": schema.categorical}.get(scenario.effect, schema.feature_names)
        if column is not None and column not in needs:
            raise ValueError(f"scenario {scenario.name!r}: effect {scenario.effect!r} cannot "
                             f"apply to column {column!r} of schema {schema.name!r}")
        if (scenario.effect in ("mix", "recode", "logit") and column in schema.categorical
                and scenario.value not in schema[column].categories):
            raise ValueError(f"scenario {scenario.name!r}: {scenario.value!r} is not a "
                             f"category of {column!r}")
        return scenario

    def _customers(self, day: int, rows: int, scenario: Scenario, weight: float) -> np.ndarray:
        rng = _rng(self.seed, _DAY, day, _CUSTOMERS)
        if rows <= self.population:
            index = rng.choice(self.population, rows, replace=False)
        else:
            index = rng.integers(0, self.population, rows)
        if scenario.effect == "mix" and weight > 0:
            segment = np.flatnonzero(self._mask(self._codes, self._numerics, scenario))
            mix = _rng(self.seed, _DAY, day, _SCENARIO)
            swap = mix.random(rows) < weight
            index[swap] = segment[mix.integers(0, segment.size, int(swap.sum()))]
        return index

    def _drift(self, rows: _Rows, scenario: Scenario, weight: float, day: int) -> None:
        """Covariate and concept effects, applied before the labels are drawn."""
        column = str(scenario.column)
        if scenario.effect == "scale":
            old = rows.numerics[column]
            rows.numerics[column] = new = self._clip(column, old * (1.0 + weight))
            if column == _CHARGES[1] and set(_CHARGES) <= set(rows.numerics):
                # Only the months billed since the rise carry the new price.
                since = (day - scenario.start_day) // 30 + 1
                extra = (new - old) * np.minimum(rows.numerics[_CHARGES[0]], since)
                rows.numerics[_CHARGES[2]] = self._clip(_CHARGES[2], rows.numerics[_CHARGES[2]]
                                                        + extra)
        elif scenario.effect == "recode":
            move = _rng(self.seed, _DAY, day, _SCENARIO).random(len(rows.index)) < weight
            rows.codes[column][move] = self.schema[column].categories.index(str(scenario.value))
        elif scenario.effect == "logit":
            rows.logit_shift = weight * self._mask(rows.codes, rows.numerics, scenario)

    def _incident(self, rows: _Rows, scenario: Scenario, weight: float, day: int) -> None:
        """Data-quality effects, applied after the labels: they corrupt only what is observed."""
        column = str(scenario.column)
        if scenario.effect == "nulls":
            hit = _rng(self.seed, _DAY, day, _SCENARIO).random(len(rows.index)) < weight
            if column in rows.codes:
                rows.codes[column][hit] = -1
            else:
                rows.numerics[column] = np.where(hit, np.nan, rows.numerics[column])
        elif scenario.effect == "as_text":
            # str() once per distinct value, not per row: millions of rows stay fast.
            unique, inverse = np.unique(rows.numerics.pop(column), return_inverse=True)
            rows.text[column] = np.array([str(v) for v in unique.tolist()], object)[inverse]

    def batch(self, day: int, rows: int, scenario: str | Scenario = "none",
              label_delay: LabelDelay | None = None) -> pd.DataFrame:
        """The ``rows`` events of ``day`` (0 is ``start``) under ``scenario``.

        Depends only on the seed, the day, the scenario and the label delay, never on which other
        days were generated. Columns: the contract's, then :data:`STREAM_COLUMNS`.
        """
        if day < 0 or rows < 0:
            raise ValueError(f"day and rows must be >= 0 (got day={day}, rows={rows})")
        scenario, delay = self._check(_resolve(scenario)), label_delay or LabelDelay()
        weight = scenario.weight(day)
        index = self._customers(day, rows, scenario, weight)
        data = _Rows(index, {n: c[index] for n, c in self._codes.items()},
                     {n: x[index] for n, x in self._numerics.items()})
        if weight:
            self._drift(data, scenario, weight, day)
        if weight and scenario.effect in ("scale", "recode"):
            logit = self.true_model.logit_from_arrays(data.codes, data.numerics)
        else:  # features untouched: the customers' precomputed log-odds are exact
            logit = self._logit[index]
        proba = _sigmoid(logit + data.logit_shift)
        churn = _rng(self.seed, _DAY, day, _LABELS).random(rows) < proba
        if weight:
            self._incident(data, scenario, weight, day)
        micros = _rng(self.seed, _DAY, day, _CLOCK).integers(0, _NS_PER_DAY // 1000, rows)
        event = (self.start + pd.Timedelta(days=day)).value + np.sort(micros) * 1000
        available = event + delay.draw(_rng(self.seed, _DAY, day, _DELAY), rows) * _NS_PER_DAY
        return self._frame(data, churn, proba, event, available)

    def _frame(self, data: _Rows, churn: np.ndarray, proba: np.ndarray, event: np.ndarray,
               available: np.ndarray) -> pd.DataFrame:
        schema = self.schema
        negative = next(c for c in schema[schema.target].categories if c != schema.positive)
        columns = {schema.entity_id: self._ids[data.index],
                   schema.target: np.array([negative, schema.positive], object)[churn.view("i1")],
                   **{n: self._values[n][c] for n, c in data.codes.items()},
                   **data.numerics, **data.text}
        columns = {name: columns[name] for name in schema.names}
        columns.update(event_time=event.view("datetime64[ns]"),
                       label_available_at=available.view("datetime64[ns]"),
                       true_churn_proba=proba)
        # copy=False skips consolidating the columns into 2-D blocks: seconds saved per 2.4M rows.
        return pd.DataFrame(columns, copy=False)

    def iter_days(self, days: int, rows_per_day: int, scenario: str | Scenario = "none",
                  label_delay: LabelDelay | None = None, first_day: int = 0
                  ) -> Iterator[pd.DataFrame]:
        """Yield the batches of days ``first_day .. first_day + days - 1``, one at a time."""
        scenario = _resolve(scenario)
        for day in range(first_day, first_day + days):
            yield self.batch(day, rows_per_day, scenario, label_delay)

    def stream(self, days: int, rows_per_day: int, scenario: str | Scenario = "none",
               label_delay: LabelDelay | None = None, first_day: int = 0) -> pd.DataFrame:
        """All batches of ``days`` consecutive days in one frame, in event-time order."""
        if days < 1:
            raise ValueError(f"days must be >= 1 (got {days})")
        frames = list(self.iter_days(days, rows_per_day, scenario, label_delay, first_day))
        return frames[0] if days == 1 else pd.concat(frames, ignore_index=True)


def _decimals(values: np.ndarray) -> int | None:
    finite = values[np.isfinite(values)]
    return next((d for d in range(7) if np.allclose(finite, np.round(finite, d), 0, 1e-9)), None)


def simulate_stream(reference: pd.DataFrame, days: int, rows_per_day: int,
                    scenario: str | Scenario = "none", seed: int = 0, start: str = "2026-01-01",
                    label_delay: LabelDelay | None = None,
                    population: int = 50_000) -> pd.DataFrame:
    """Build a :class:`StreamSimulator` on ``reference`` and return ``days`` days of its stream.

    Examples
    --------
    >>> from closedloop.data import load_telco
    >>> df = simulate_stream(load_telco(), days=2, rows_per_day=100, scenario="null_spike",
    ...                      population=1_000)
    >>> len(df), list(df.columns[-3:]) == list(STREAM_COLUMNS)
    (200, True)
    """
    simulator = StreamSimulator(reference, seed=seed, population=population, start=start)
    return simulator.stream(days, rows_per_day, scenario, label_delay)
