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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from closedloop.contract.schema import Schema, validate
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.simulate.labels import LabelDelay, TrueChurnModel, _category_codes, _sigmoid
from closedloop.simulate.scenarios import _CHARGES, Scenario, _resolve

#: Columns a simulated batch has beyond the contract (pass as ``validate(allow_extra=...)``).
STREAM_COLUMNS: tuple[str, ...] = ("event_time", "label_available_at", "true_churn_proba")

_NS_PER_DAY = 86_400 * 10**9
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
        Rows honouring ``schema`` (e.g. :func:`closedloop.contract.schema.load_telco`).
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
    >>> from closedloop.contract.telco import load_telco
    >>> df = simulate_stream(load_telco(), days=2, rows_per_day=100, scenario="null_spike",
    ...                      population=1_000)
    >>> len(df), list(df.columns[-3:]) == list(STREAM_COLUMNS)
    (200, True)
    """
    simulator = StreamSimulator(reference, seed=seed, population=population, start=start)
    return simulator.stream(days, rows_per_day, scenario, label_delay)
