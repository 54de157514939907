"""The production stream: a seeded simulator calibrated on the reference data, with drift scenarios.

Telco has 7,043 undated rows; monitoring, retraining and scale need a production stream. A
:class:`StreamSimulator` emits daily batches of any size from a population resampled from the
reference, draws each label from a fixed :class:`~closedloop.simulate.labels.LabelModel`, dates its arrival with a
:class:`~closedloop.simulate.labels.LabelDelay`, and applies a named :class:`~closedloop.simulate.scenarios.Scenario` (:data:`~closedloop.simulate.scenarios.SCENARIOS`). Day ``d`` depends
on ``(seed, d)`` alone, with one generator each for customers, clock, labels, delays and scenario:
a day is the same alone or inside a long stream, and the same customers arrive at the same times
under every scenario, so a scenario changes only what it claims.

See Also
--------
Chapter "A production stream" (simulation, drift scenarios and delayed labels).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from closedloop.contract.schema import Schema
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.contract.validation import validate
from closedloop.simulate.labels import LabelDelay, LabelModel, _category_codes, _sigmoid
from closedloop.simulate.scenarios import _CHARGES, Condition, Scenario, _resolve

#: Columns a simulated batch has beyond the contract (pass as ``validate(allow_extra=...)``).
STREAM_COLUMNS: tuple[str, ...] = ("event_time", "label_available_at", "true_churn_proba")

_NS_PER_DAY = 86_400 * 10**9
_POINT_MASS = 0.01  # a value held by at least this share of the reference rows is kept exact
_POOL, _DAY = 0, 1  # spawn-key tags keep pool and daily generators apart
_CUSTOMERS, _CLOCK, _LABELS, _DELAY, _SCENARIO = range(5)


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


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

    Works for any :class:`~closedloop.contract.schema.Schema` whose target is a category with
    two values or a 0/1 number. The population is ``population`` customers resampled from the
    reference rows. A resampled customer keeps its categories, so combinations such as "No
    internet service" with InternetService "No" stay consistent; numerics get Gaussian noise
    of ``noise`` standard deviations, except point masses: a value held by at least 1 % of the
    reference rows (an exact zero, a 0/1 flag) stays exactly that value, at the same rate. A
    jittered value that would leave the observed or declared range, or land on a point mass,
    keeps its reference value; integers stay integers and floats keep the reference's
    precision. Where the schema has Telco's tenure, MonthlyCharges and TotalCharges,
    TotalCharges is rebuilt from the jittered tenure and MonthlyCharges with the customer's
    own billing ratio. Ids (``SIM-0000042``) are stable. Labels are drawn from
    ``true_model``, a :class:`~closedloop.simulate.labels.LabelModel` (gradient boosting,
    calibrated) fitted on the reference.

    Each day draws its customers from the population (without replacement when ``rows`` fits, so
    customers recur across days, not within one) at uniform random times, sorted. The population
    is stationary: tenure does not grow with elapsed time, so the ``none`` stream has no drift at
    all and every change comes from a :class:`~closedloop.simulate.scenarios.Scenario`.

    Parameters
    ----------
    reference : DataFrame
        Labelled rows honouring ``schema`` (e.g. :func:`closedloop.contract.telco.load_telco`).
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
    true_model : LabelModel, optional
        The ground truth; ``LabelModel.fit(reference, schema)`` when omitted.

    Examples
    --------
    >>> from closedloop.contract.telco import load_telco
    >>> sim = StreamSimulator(load_telco(), seed=1, population=1_000)
    >>> day = sim.batch(day=3, rows=5)
    >>> day.shape, str(day["event_time"].dt.date.iloc[0])
    ((5, 24), '2026-01-04')
    >>> day.equals(sim.stream(days=4, rows_per_day=5).iloc[15:].reset_index(drop=True))
    True
    """

    def __init__(self, reference: pd.DataFrame, *, seed: int = 0, population: int = 50_000,
                 start: str = "2026-01-01", schema: Schema = TELCO_SCHEMA, noise: float = 0.05,
                 true_model: LabelModel | None = None) -> None:
        if seed < 0 or population < 1:
            raise ValueError("seed must be >= 0 and population >= 1")
        validate(reference, schema)
        self.schema, self.seed, self.population = schema, seed, population
        self.start = pd.Timestamp(start)
        self.true_model = true_model or LabelModel.fit(reference, schema)
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
        # Carried-through columns (never features) travel with the resampled reference row.
        self._carried = {n: reference[n].to_numpy(object)[rows] for n in schema.carried}
        self._logit = self.true_model.logit_from_arrays(self._codes, self._numerics)
        self._labels = target_values(schema)

    def _jitter(self, reference: pd.DataFrame, rows: np.ndarray, rng: np.random.Generator,
                noise: float) -> dict[str, np.ndarray]:
        """Resampled numerics with noise that keeps point masses, ranges and integers."""
        out = {}
        for name in self.schema.numeric:
            base = reference[name].to_numpy(float)
            x = base[rows]
            present = base[~np.isnan(base)]
            values, counts = np.unique(present, return_counts=True)
            masses = values[counts >= _POINT_MASS * max(len(base), 1)]
            spread = np.std(present) if present.size else 0.0
            if noise > 0 and spread > 0 and values.size > masses.size:
                moved = self._clip(name, x + rng.normal(0.0, noise * spread, x.size),
                                   present.min(), present.max(), check=False)
                # A point mass (an exact zero, a 0/1 flag) stays put; a jittered value that
                # leaves the range or lands on a point mass keeps its reference value.
                keep = (np.isnan(x) | np.isin(x, masses) | np.isin(moved, masses)
                        | ~self._inside(name, moved, present.min(), present.max()))
                x = np.where(keep, x, moved)
            out[name] = self._clip(name, x)
        if set(_CHARGES) <= set(out):
            # Telco's billing identity: TotalCharges ~ tenure x MonthlyCharges.
            tenure, monthly, total = (reference[n].to_numpy(float) for n in _CHARGES)
            billed = tenure * monthly
            ratio = np.divide(total, billed, out=np.ones_like(total), where=billed > 0)[rows]
            out[_CHARGES[2]] = self._clip(_CHARGES[2], ratio * out[_CHARGES[0]]
                                          * out[_CHARGES[1]])
        return out

    def _inside(self, name: str, x: np.ndarray, low: float, high: float) -> np.ndarray:
        """Where ``x`` lies within the observed range and the contract's ``low``/``high``."""
        column = self.schema[name]
        low = low if column.low is None else max(low, column.low)
        high = high if column.high is None else min(high, column.high)
        return (x >= low) & (x <= high)

    def _clip(self, name: str, x: np.ndarray, low: float = -np.inf,
              high: float = np.inf, check: bool = True) -> np.ndarray:
        """Clip to the range and the contract, round to the reference's precision."""
        column, decimals = self.schema[name], self._decimals[name]
        low = low if column.low is None else max(low, column.low)
        x = np.clip(x, low, high if column.high is None else min(high, column.high))
        if column.kind == "integer":
            x = np.rint(x)
            return x.astype(np.int64) if check and not np.isnan(x).any() else x
        return x if decimals is None else np.round(x, decimals)

    def _mask(self, codes: Mapping[str, np.ndarray], numerics: Mapping[str, np.ndarray],
              scenario: Scenario) -> np.ndarray:
        """The scenario's segment: rows meeting all of its conditions."""
        mask = np.ones(len(next(iter({**codes, **numerics}.values()))), bool)
        for condition in scenario.conditions(self.schema):
            mask &= self._meets(codes, numerics, condition)
        return mask

    def _meets(self, codes: Mapping[str, np.ndarray], numerics: Mapping[str, np.ndarray],
               condition: Condition) -> np.ndarray:
        column, op, value = condition.column, condition.op, condition.value
        values = list(value) if op == "one_of" else [value]
        if column in codes:
            categories = self.schema[column].categories
            return np.isin(codes[column], [categories.index(str(v)) for v in values])
        x = numerics[column]
        if op == "at_most":
            return x <= float(value)
        if op == "at_least":
            return x >= float(value)
        return np.isin(x, np.asarray(values, float))

    def check(self, scenario: str | Scenario | Mapping[str, Any]) -> Scenario:
        """The scenario (a name, a :class:`~closedloop.simulate.scenarios.Scenario` or its data form), checked against the schema.

        Raises
        ------
        ValueError
            Naming the scenario, the column and what was expected, when it does not fit.
        """
        scenario = _resolve(scenario)
        column, schema = scenario.column, self.schema
        needs = {"scale": schema.numeric, "shift": schema.numeric, "as_text": schema.numeric,
                 "recode": schema.categorical}.get(scenario.effect, schema.feature_names)
        if column is not None and column not in needs:
            raise ValueError(f"scenario {scenario.name!r}: effect {scenario.effect!r} cannot "
                             f"apply to column {column!r} of schema {schema.name!r} (expected "
                             f"one of {', '.join(needs)})")
        if scenario.effect == "recode" and str(scenario.value) not in schema[column].categories:
            raise ValueError(f"scenario {scenario.name!r}: {scenario.value!r} is not a "
                             f"category of {column!r} (expected one of "
                             f"{', '.join(schema[column].categories)})")
        if scenario.effect in ("mix", "logit"):
            for condition in scenario.conditions(schema):
                self._check_condition(scenario, condition)
        return scenario

    def _check_condition(self, scenario: Scenario, condition: Condition) -> None:
        schema, column = self.schema, condition.column
        if column not in schema.feature_names:
            raise ValueError(f"scenario {scenario.name!r}: segment column {column!r} is not a "
                             f"feature of schema {schema.name!r} (expected one of "
                             f"{', '.join(schema.feature_names)})")
        values = condition.value if condition.op == "one_of" else (condition.value,)
        if column in schema.categorical:
            if condition.op in ("at_most", "at_least"):
                raise ValueError(f"scenario {scenario.name!r}: {condition.op} needs a numeric "
                                 f"column, {column!r} is a category (use equals or one_of)")
            bad = [v for v in values if str(v) not in schema[column].categories]
            if bad:
                raise ValueError(f"scenario {scenario.name!r}: {bad[0]!r} is not a category "
                                 f"of {column!r} (expected one of "
                                 f"{', '.join(schema[column].categories)})")
        elif not all(_is_number(v) for v in values):
            raise ValueError(f"scenario {scenario.name!r}: segment on numeric column "
                             f"{column!r} expects numbers, got {condition.value!r}")

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
        if scenario.effect == "shift":
            rows.numerics[column] = self._clip(column, rows.numerics[column] + weight)
        elif scenario.effect == "scale":
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
        scenario, delay = self.check(scenario), label_delay or LabelDelay()
        weight = scenario.weight(day)
        index = self._customers(day, rows, scenario, weight)
        data = _Rows(index, {n: c[index] for n, c in self._codes.items()},
                     {n: x[index] for n, x in self._numerics.items()})
        if weight:
            self._drift(data, scenario, weight, day)
        if weight and scenario.effect in ("scale", "shift", "recode"):
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
        columns = {schema.entity_id: self._ids[data.index],
                   schema.target: self._labels[churn.view("i1")],
                   **{n: self._values[n][c] for n, c in data.codes.items()},
                   **data.numerics, **data.text,
                   **{n: values[data.index] for n, values in self._carried.items()}}
        if schema.timestamp is not None:  # the contract's own event-time column
            columns[schema.timestamp] = event.view("datetime64[ns]")
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


def target_values(schema: Schema) -> np.ndarray:
    """The target's (negative, positive) values, typed as the contract stores the target.

    Examples
    --------
    >>> target_values(TELCO_SCHEMA).tolist()
    ['No', 'Yes']
    """
    target = schema[schema.target]
    if target.kind == "category":
        negatives = [c for c in target.categories if c != schema.positive]
        if len(negatives) != 1 or schema.positive not in target.categories:
            raise ValueError(f"target {target.name!r} of schema {schema.name!r} needs exactly "
                             f"two categories, one of them the positive {schema.positive!r} "
                             f"(got {list(target.categories)})")
        return np.array([negatives[0], schema.positive], object)
    if target.kind in ("integer", "float"):
        positive = float(schema.positive)
        low = 0.0 if target.low is None else target.low
        high = 1.0 if target.high is None else target.high
        negative = low if low != positive else high
        if negative == positive:
            negative = 1.0 - positive
        return np.array([negative, positive], target.dtype)
    raise ValueError(f"target {target.name!r} of schema {schema.name!r} is a {target.kind} "
                     "column; the simulator needs a category or a number")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)


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
    >>> from closedloop.contract.telco import load_telco
    >>> df = simulate_stream(load_telco(), days=2, rows_per_day=100, scenario="null_spike",
    ...                      population=1_000)
    >>> len(df), list(df.columns[-3:]) == list(STREAM_COLUMNS)
    (200, True)
    """
    simulator = StreamSimulator(reference, seed=seed, population=population, start=start)
    return simulator.stream(days, rows_per_day, scenario, label_delay)
