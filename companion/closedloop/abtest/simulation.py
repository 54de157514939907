"""A simulated champion-versus-challenger test with delayed outcomes, look by look, and the
outcomes a retention campaign realises on a simulated stream.

See Also
--------
Chapter :doc:`Explain, check fairness, test in production </book/10_explain_fairness_abtest>`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from typing import Any

from closedloop.abtest.analysis import decide, wilson_interval
from closedloop.abtest.assignment import Experiment
from closedloop.abtest.design import group_sequential_design
from closedloop.contract.schema import Schema
from closedloop.contract.telco import TELCO_SCHEMA


def apply_retention(stream: pd.DataFrame, flagged: Any, *, success_rate: float,
                    schema: Schema = TELCO_SCHEMA, seed: int = 0) -> pd.DataFrame:
    """The stream's outcomes once each flagged customer has received a retention offer.

    A simulated stream's target is what each customer would do if nobody acted. A model in
    production acts: every customer it flags gets an offer, which keeps a would-be churner with
    probability ``success_rate`` (the business template's, e.g. 0.3 for ``telecom``). So the
    realised churn of an arm depends on how many of its churners the arm's model flagged: that
    is what an A/B test of two churn models measures.

    Parameters
    ----------
    stream : pandas.DataFrame
        Simulated rows with the contract's target (e.g.
        :meth:`closedloop.simulate.stream.StreamSimulator.stream`).
    flagged : array-like of bool
        Row-aligned with ``stream``: whether the model that scored the row flagged it (its
        ``prediction`` is 1).
    success_rate : float
        Share of flagged churners the offer keeps, in [0, 1].
    schema : Schema
        The contract (its target and positive value).
    seed : int
        Seeds who is kept (a ``numpy.random.default_rng``).

    Returns
    -------
    pandas.DataFrame
        A copy of ``stream`` whose target is the negative value for the churners kept;
        ``attrs["kept"]`` counts them.

    Examples
    --------
    >>> stream = pd.DataFrame({"Churn": ["Yes", "Yes", "No", "Yes"]})
    >>> apply_retention(stream, [True, True, True, False], success_rate=1.0)["Churn"].tolist()
    ['No', 'No', 'No', 'Yes']
    """
    flagged = np.asarray(flagged, dtype=bool)
    if len(flagged) != len(stream):
        raise ValueError(f"flagged has {len(flagged)} values, the stream {len(stream)} rows")
    if not 0 <= success_rate <= 1:
        raise ValueError(f"success_rate must be in [0, 1] (got {success_rate})")
    target = schema.target
    if target not in stream.columns:
        raise ValueError(f"the stream has no target column {target!r}")
    churner = (stream[target] == schema.positive).to_numpy()
    kept = flagged & churner & (np.random.default_rng(seed).random(len(stream)) < success_rate)
    negative = next(v for v in _target_values(stream[target], schema) if v != schema.positive)
    out = stream.copy()
    out.loc[kept, target] = negative
    out.attrs["kept"] = int(kept.sum())
    return out


def _target_values(values: pd.Series, schema: Schema) -> list[Any]:
    column = schema[schema.target]
    declared = list(column.categories or ())
    return declared or ([False, True] if values.dtype == bool else [0, 1])


def simulate_ab(*, p_champion: float = 0.265, p_challenger: float = 0.245,
                customers_per_day: int = 250, days: int = 90, label_delay: int = 30,
                looks: int = 5, experiment: Experiment | None = None, alpha: float = 0.05,
                spending: str = "obrien_fleming", seed: int = 0) -> pd.DataFrame:
    """Run a churn A/B test over time and read it at scheduled looks.

    ``customers_per_day`` new customers (ids ``cust-0``, ``cust-1``, ...) arrive each day and
    are assigned by ``experiment``; each churns with its arm's true rate (a seeded
    ``numpy.random.default_rng``) and the outcome is known ``label_delay`` days after arrival.
    The looks are spread evenly over the days on which outcomes arrive (the first labels come
    on day ``label_delay``), the last on day ``days``; the boundaries are recomputed at the
    information fractions actually reached (Lan-DeMets), and every look is decided with
    :func:`~closedloop.abtest.analysis.decide`.

    Returns
    -------
    pandas.DataFrame
        One row per look: ``look``, ``day``, ``fraction``, per arm ``n_*``, ``rate_*``,
        ``ci_low_*``, ``ci_high_*``; ``difference`` with its repeated interval
        (``diff_ci_low``, ``diff_ci_high``), ``z``, ``boundary``, ``naive_boundary`` (1.96 at
        alpha 0.05), ``action``, ``stop`` (the first look that stops) and ``after_stop``
        (looks one would not have needed). ``attrs`` hold the design, the experiment and the
        true rates.

    Examples
    --------
    >>> table = simulate_ab(p_challenger=0.225, seed=1)  # a large improvement stops early
    >>> table["day"].tolist(), table["action"].tolist()[:2], table["stop"].tolist()
    ([42, 54, 66, 78, 90], ['continue', 'challenger_wins'], [False, True, False, False, False])
    """
    if not 0 <= label_delay < days:
        raise ValueError(f"label_delay must be in [0, days) (got {label_delay}, days {days})")
    experiment = experiment or Experiment("simulated", salt="simulate_ab")
    rng = np.random.default_rng(seed)
    total = customers_per_day * days
    arrival = np.arange(total) // customers_per_day
    arms = experiment.assign(np.char.add("cust-", np.arange(total).astype(str)))
    truth = {"champion": p_champion, "challenger": p_challenger}
    p = np.array([truth.get(a, np.nan) for a in arms], dtype=float)
    churned = rng.random(total) < np.nan_to_num(p)
    span = days - label_delay
    look_days = label_delay + np.round(np.arange(1, looks + 1) * span / looks).astype(int)
    frames = []
    for day in look_days:
        known = (arrival + label_delay < day) & (arms != None)  # noqa: E711
        frames.append(pd.DataFrame({"arm": arms[known], "churned": churned[known].astype(int)}))
    sizes = np.array([len(f) for f in frames], dtype=float)
    design = group_sequential_design(alpha=alpha, spending=spending, fractions=sizes / sizes[-1])
    rows, stopped = [], False
    for k, (day, frame) in enumerate(zip(look_days, frames), start=1):
        d = decide(frame, design, k, experiment=experiment.name)
        row = {"look": k, "day": int(day), "fraction": design.fractions[k - 1]}
        for arm in ("champion", "challenger"):
            n, rate = d.n[arm], d.rates[arm]
            low, high = wilson_interval(rate * n, n)
            row.update({f"n_{arm}": n, f"rate_{arm}": rate, f"ci_low_{arm}": float(low),
                        f"ci_high_{arm}": float(high)})
        row.update(difference=d.difference, diff_ci_low=d.ci[0], diff_ci_high=d.ci[1], z=d.z,
                   boundary=d.boundary, naive_boundary=float(norm.isf(alpha / 2)),
                   action=d.action, stop=d.stopped and not stopped, after_stop=stopped)
        stopped = stopped or d.stopped
        rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs.update(design=design.to_dict(), experiment=experiment.to_dict(), truth=truth,
                       label_delay=label_delay)
    return table
