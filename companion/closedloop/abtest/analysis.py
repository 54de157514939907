"""Reading an A/B test: realised outcomes by arm, the decision at a look, promotion of a winner.

The z statistic is the pooled two-proportion z-test of the challenger's rate minus the
champion's (negative: the challenger churns less). At a look it is compared with the
group-sequential boundary of :mod:`closedloop.abtest.design`; the interval reported with it is
the repeated confidence interval ``difference +- boundary * se`` (unpooled standard error), which
keeps its coverage whenever the test stops, beside the naive fixed-sample interval.

In production the outcomes come from the inference log: scoring (batch or the service) logs
each row of an experiment with its ``experiment`` and ``arm``, the labels are backfilled
weeks later, and :func:`arm_outcomes` joins the two into one labelled row per customer, ready
for :func:`summarise_arms` and :func:`decide`.

See Also
--------
Chapter :doc:`Explain, check fairness, test in production </book/10_explain_fairness_abtest>`.
"""

from __future__ import annotations

import dataclasses
import html
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from closedloop.abtest.assignment import Experiment
from closedloop.abtest.design import GroupSequentialDesign

if TYPE_CHECKING:
    from closedloop.config import Workspace
    from closedloop.contract.schema import Schema
    from closedloop.monitoring.store import InferenceLog

ARMS = ("champion", "challenger")
#: The actions a decision can take.
ACTIONS = ("continue", "challenger_wins", "champion_wins", "no_difference")


def wilson_interval(events: Any, n: Any, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion, vectorised.

    Examples
    --------
    >>> low, high = wilson_interval(265, 1000)
    >>> round(float(low), 4), round(float(high), 4)
    (0.2386, 0.2932)
    """
    x, n = np.asarray(events, dtype=float), np.asarray(n, dtype=float)
    z = norm.isf((1 - level) / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def summarise_arms(frame: pd.DataFrame, *, arm: str = "arm", outcome: str = "churned",
                   arms: Sequence[str] = ARMS, business: Any = None,
                   targeted: str | None = None, level: float = 0.95) -> pd.DataFrame:
    """Realised outcomes by arm: customers, events, rate with its Wilson interval, value.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per analysed customer with a labelled outcome (rows with a missing arm or
        outcome are left out).
    arm, outcome : str
        Columns of the arm name and of the 0/1 outcome (1 = churned).
    arms : sequence of str
        The arms to report, in order.
    business : BusinessModel or str, optional
        The economics (a :class:`~closedloop.business.templates.BusinessModel` or a template name such as
        ``"telecom"``). Adds ``value_per_customer``: minus the customer value lost to churn and,
        with ``targeted``, minus the cost of the interventions. The outcomes were realised
        after each arm's interventions, so the saves are already in the churn rate.
    targeted : str, optional
        Column flagging the customers the arm's model targeted.
    level : float
        Confidence level of the intervals.

    Examples
    --------
    >>> frame = pd.DataFrame({"arm": ["champion"] * 4 + ["challenger"] * 4,
    ...                       "churned": [1, 0, 0, 0, 1, 1, 0, 0]})
    >>> summary = summarise_arms(frame, business="telecom")
    >>> summary["rate"].to_dict(), summary["value_per_customer"].to_dict()
    ({'champion': 0.25, 'challenger': 0.5}, {'champion': -500.0, 'challenger': -1000.0})
    """
    data = frame.dropna(subset=[arm, outcome])
    grouped = data.groupby(arm, observed=True)
    n = grouped.size().reindex(list(arms), fill_value=0)
    events = grouped[outcome].sum().reindex(list(arms), fill_value=0).astype(int)
    out = pd.DataFrame({"n": n.astype(int), "events": events})
    out.index.name = arm
    out["rate"] = out["events"] / out["n"].where(out["n"] > 0)
    out["ci_low"], out["ci_high"] = wilson_interval(out["events"], out["n"], level)
    if business is not None:
        if isinstance(business, str):
            from closedloop.business.templates import template

            business = template(business)
        value = -out["rate"] * business.customer_value
        if targeted is not None:
            share = grouped[targeted].mean().reindex(list(arms))
            value = value - share * business.intervention_cost
        out["value_per_customer"] = value
    return out


def arm_outcomes(log: InferenceLog | Workspace | str | os.PathLike[str],
                 experiment: Experiment | str, *, schema: Schema | None = None,
                 outcome: str = "churned", labels_as_of: str | pd.Timestamp | None = None,
                 start: str | pd.Timestamp | None = None,
                 end: str | pd.Timestamp | None = None) -> pd.DataFrame:
    """The labelled outcomes of an experiment, read from the inference log: one row per customer.

    Joins the rows logged with the experiment's name (the log's optional ``experiment`` and
    ``arm`` columns, written by batch scoring with an experiment and by the service routing
    one) with their backfilled labels. A customer scored several times counts once, at its
    first logged prediction in the experiment (its exposure); rows whose label has not arrived
    are left out.

    Parameters
    ----------
    log : InferenceLog, Workspace or path
        The inference log (or the workspace whose log it is).
    experiment : Experiment or str
        The experiment, or its name. With an :class:`~closedloop.abtest.assignment.Experiment`
        every logged arm is checked against :meth:`~closedloop.abtest.assignment.Experiment.assign`
        of the customer's id.
    schema : Schema, optional
        The data contract of the log (default: the log's, else Telco's).
    outcome : str
        Name of the 0/1 outcome column of the result (the log's ``ground_truth``).
    labels_as_of : str or Timestamp, optional
        Only labels arrived by then: the outcomes as they were known at a look.
    start, end : str or Timestamp, optional
        Only predictions with ``start <= timestamp < end``.

    Returns
    -------
    pandas.DataFrame
        Columns: entity id, ``timestamp``, ``model_version``, ``arm``, ``prediction``,
        ``prediction_proba`` and ``outcome``, ordered by time; ``attrs["unlabelled"]`` counts
        the customers of the experiment still waiting for their label.

    Raises
    ------
    ValueError
        When a customer was logged in two arms, or (given an ``Experiment``) in an arm its
        assignment does not give: the assignment or the logging is broken, and the test must
        not be read.
    """
    from closedloop.monitoring.store import (
        ARM,
        EXPERIMENT,
        GROUND_TRUTH,
        MODEL_VERSION,
        PREDICTION,
        PREDICTION_PROBA,
        TIMESTAMP,
        InferenceLog,
        restore_log_dtypes,
    )

    if not isinstance(log, InferenceLog):
        from closedloop.contract.telco import TELCO_SCHEMA

        log = InferenceLog(log, schema or TELCO_SCHEMA)
    name = experiment.name if isinstance(experiment, Experiment) else str(experiment)
    entity = log.schema.entity_id
    columns = [entity, TIMESTAMP, MODEL_VERSION, ARM, PREDICTION, PREDICTION_PROBA,
               GROUND_TRUTH]
    where = [f"{EXPERIMENT} = '{name.replace(chr(39), chr(39) * 2)}'", f"{ARM} IS NOT NULL"]
    where += [f"{TIMESTAMP} {op} TIMESTAMP '{pd.Timestamp(t)}'"
              for op, t in ((">=", start), ("<", end)) if t is not None]
    quoted = ", ".join(f'"{c}"' for c in columns)
    frame = log.query(f"SELECT {quoted} FROM inference_log WHERE {' AND '.join(where)} "
                      f'ORDER BY {TIMESTAMP}, "{entity}", prediction_id',
                      labels_as_of=labels_as_of)
    frame = restore_log_dtypes(frame, log.schema)
    frame[entity] = frame[entity].astype(str)
    arms_per = frame.groupby(entity)[ARM].nunique()
    if (arms_per > 1).any():
        raise ValueError(f"experiment {name!r}: {int((arms_per > 1).sum())} customer(s) logged "
                         f"in more than one arm (first: {arms_per[arms_per > 1].index[0]}); "
                         "the assignment is not sticky, do not read this test")
    if isinstance(experiment, Experiment) and len(frame):
        expected = experiment.assign(frame[entity].to_numpy(dtype=object))
        wrong = frame[ARM].to_numpy(dtype=object) != expected
        if wrong.any():
            raise ValueError(f"experiment {name!r}: {int(wrong.sum())} logged row(s) in an arm "
                             f"that assign() does not give (first: customer "
                             f"{frame[entity].iloc[int(np.argmax(wrong))]}); the experiment "
                             "was changed while running, or the log is not this experiment's")
    first = frame.drop_duplicates(entity, keep="first")
    labelled = first[first[GROUND_TRUTH].notna()]
    out = labelled.rename(columns={GROUND_TRUTH: outcome}).reset_index(drop=True)
    out[outcome] = out[outcome].astype("int64")
    out.attrs["unlabelled"] = int(len(first) - len(labelled))
    return out


def sequential_looks(log: InferenceLog | Workspace | str | os.PathLike[str],
                     experiment: Experiment | str, looks_at: Sequence[str | pd.Timestamp], *,
                     schema: Schema | None = None, alpha: float = 0.05,
                     spending: str = "obrien_fleming", lower_is_better: bool = True,
                     challenger_version: str | None = None,
                     start: str | pd.Timestamp | None = None) -> pd.DataFrame:
    """Read an experiment from the inference log at scheduled looks, as its analyst would.

    At each moment of ``looks_at`` the outcomes known then (:func:`arm_outcomes` with
    ``labels_as_of`` the look) are decided with :func:`decide`; the boundaries are those of a
    group-sequential design at the information fractions reached (each look's customers over
    the last look's, Lan-DeMets spending), as :func:`~closedloop.abtest.simulation.simulate_ab`
    does for a simulated test.

    Parameters
    ----------
    log : InferenceLog, Workspace or path
        The log holding the experiment's rows and their backfilled labels.
    experiment : Experiment or str
        The experiment (its arms are checked against the assignment) or its name.
    looks_at : sequence of str or Timestamp
        The looks, in time order; the last is the planned end of the test.
    schema : Schema, optional
        The log's data contract (as in :func:`arm_outcomes`).
    alpha, spending : float, str
        Of the design (:func:`~closedloop.abtest.design.group_sequential_design`).
    lower_is_better : bool
        As in :func:`decide` (churn: True).
    challenger_version : str, optional
        Recorded on the decisions (``attrs["decisions"]``).
    start : str or Timestamp, optional
        The start of the test, from which ``day`` counts (default: midnight of the first
        logged exposure).

    Returns
    -------
    pandas.DataFrame
        One row per look, with the columns of
        :func:`~closedloop.abtest.simulation.simulate_ab`'s table (``look``, ``day``: days since
        ``start``, ``fraction``, per arm ``n_*``, ``rate_*``, ``ci_low_*``,
        ``ci_high_*``, ``difference``, ``diff_ci_low``, ``diff_ci_high``, ``z``, ``boundary``,
        ``naive_boundary``, ``action``, ``stop``, ``after_stop``) and ``as_of``, so
        :func:`~closedloop.abtest.plots.plot_looks` and
        :func:`~closedloop.abtest.plots.plot_arm_rates` draw it. ``attrs`` hold the design
        and each look's :class:`Decision` (``decisions``).
    """
    from closedloop.abtest.design import group_sequential_design

    moments = [pd.Timestamp(t) for t in looks_at]
    if not moments or any(b <= a for a, b in zip(moments, moments[1:])):
        raise ValueError(f"looks_at must be one or more increasing times (got {list(looks_at)})")
    frames = [arm_outcomes(log, experiment, schema=schema, labels_as_of=t) for t in moments]
    sizes = np.array([len(f) for f in frames], dtype=float)
    if sizes[-1] == 0 or (sizes == 0).any():
        raise ValueError(f"every look needs labelled outcomes (customers per look: "
                         f"{sizes.astype(int).tolist()})")
    design = group_sequential_design(alpha=alpha, spending=spending,
                                     fractions=sizes / sizes[-1])
    name = experiment.name if isinstance(experiment, Experiment) else str(experiment)
    first = pd.Timestamp(start) if start is not None else min(
        f["timestamp"].min() for f in frames).normalize()
    rows, decisions, stopped = [], [], False
    for k, (moment, frame) in enumerate(zip(moments, frames), start=1):
        d = decide(frame, design, k, lower_is_better=lower_is_better, experiment=name,
                   challenger_version=challenger_version)
        row: dict[str, Any] = {"look": k, "as_of": moment,
                               "day": float((moment - first) / pd.Timedelta(days=1)),
                               "fraction": design.fractions[k - 1]}
        for arm in ARMS:
            low, high = wilson_interval(d.rates[arm] * d.n[arm], d.n[arm])
            row.update({f"n_{arm}": d.n[arm], f"rate_{arm}": d.rates[arm],
                        f"ci_low_{arm}": float(low), f"ci_high_{arm}": float(high)})
        row.update(difference=d.difference, diff_ci_low=d.ci[0], diff_ci_high=d.ci[1], z=d.z,
                   boundary=d.boundary, naive_boundary=float(norm.isf(alpha / 2)),
                   action=d.action, stop=d.stopped and not stopped, after_stop=stopped)
        stopped = stopped or d.stopped
        rows.append(row)
        decisions.append(d)
    table = pd.DataFrame(rows)
    table.attrs.update(design=design.to_dict(), experiment=name, decisions=decisions)
    return table


def _counts(data: Any, arm: str, outcome: str) -> dict[str, tuple[int, int]]:
    if isinstance(data, Mapping):
        return {a: (int(data[a][0]), int(data[a][1])) for a in ARMS}
    if {"n", "events"} <= set(data.columns):
        return {a: (int(data.loc[a, "n"]), int(data.loc[a, "events"])) for a in ARMS}
    summary = summarise_arms(data, arm=arm, outcome=outcome)
    return {a: (int(summary.loc[a, "n"]), int(summary.loc[a, "events"])) for a in ARMS}


@dataclass(frozen=True)
class Decision:
    """What to do at one look of a champion-versus-challenger test.

    ``action`` is one of ``continue``, ``challenger_wins``, ``champion_wins`` (a boundary was
    crossed) or ``no_difference`` (the last look, no boundary crossed: keep the champion).
    ``difference`` is the challenger's rate minus the champion's, ``z`` its pooled z statistic,
    ``ci`` the repeated confidence interval at the look's boundary, ``naive_ci`` the
    fixed-sample interval (valid only if this look was the only one).
    """

    action: str
    look: int
    looks: int
    fraction: float
    z: float
    boundary: float
    difference: float
    ci: tuple[float, float]
    naive_ci: tuple[float, float]
    n: dict[str, int]
    rates: dict[str, float]
    alpha: float
    lower_is_better: bool = True
    experiment: str | None = None
    challenger_version: str | None = None

    @property
    def stopped(self) -> bool:
        return self.action != "continue"

    @property
    def challenger_won(self) -> bool:
        return self.action == "challenger_wins"

    @property
    def summary(self) -> str:
        name = f"A/B test {self.experiment}" if self.experiment else "A/B test"
        return (f"{name}, look {self.look} of {self.looks}: {self.action} (z = {self.z:+.2f}, "
                f"boundary +-{self.boundary:.2f}; challenger - champion = "
                f"{self.difference:+.4f}, repeated CI [{self.ci[0]:+.4f}, {self.ci[1]:+.4f}])")

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.update(ci=list(self.ci), naive_ci=list(self.naive_ci), stopped=self.stopped,
                   challenger_won=self.challenger_won)
        return out

    def __str__(self) -> str:
        return self.summary

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
                       f"<td>{html.escape(str(v))}</td></tr>" for k, v in self.to_dict().items())
        return f"<table><caption>{html.escape(self.action)}</caption>{rows}</table>"


def decide(data: Any, design: GroupSequentialDesign, look: int, *, arm: str = "arm",
           outcome: str = "churned", lower_is_better: bool = True, level: float = 0.95,
           experiment: str | None = None, challenger_version: str | None = None) -> Decision:
    """Apply the group-sequential boundary at look ``look`` (1-based) of ``design``.

    Parameters
    ----------
    data : DataFrame or mapping
        The labelled outcomes so far: a frame with ``arm`` and ``outcome`` columns, the result
        of :func:`summarise_arms`, or ``{"champion": (n, events), "challenger": (n, events)}``.
    design : GroupSequentialDesign
        The looks and boundaries (recompute it at the fractions reached with
        :meth:`~closedloop.abtest.design.GroupSequentialDesign.at_fractions` if the looks drift
        from the plan).
    look : int
        Which look this is.
    lower_is_better : bool
        True when a lower rate is better (churn); the challenger wins on a crossing of the
        lower boundary.
    level : float
        Level of the naive interval.
    experiment, challenger_version : str, optional
        Recorded on the decision (the version is the one :func:`promote_winner` promotes).

    Examples
    --------
    >>> from closedloop.abtest.design import group_sequential_design
    >>> design = group_sequential_design(5)
    >>> counts = {"champion": (4000, 1080), "challenger": (4000, 940)}
    >>> decide(counts, design, look=3).action
    'challenger_wins'
    >>> decide(counts, design, look=1).action  # the same data is not enough at the first look
    'continue'
    """
    counts = _counts(data, arm, outcome)
    (n_a, x_a), (n_b, x_b) = counts["champion"], counts["challenger"]
    if min(n_a, n_b) == 0:
        raise ValueError(f"both arms need labelled outcomes (got {n_a} and {n_b})")
    p_a, p_b = x_a / n_a, x_b / n_b
    pooled = (x_a + x_b) / (n_a + n_b)
    se_null = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    se = math.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    diff = p_b - p_a
    z = diff / se_null if se_null > 0 else 0.0
    c = design.boundary(look)
    crossed = abs(z) >= c
    if crossed:
        action = "challenger_wins" if (z < 0) == lower_is_better else "champion_wins"
    else:
        action = "no_difference" if look == design.looks else "continue"
    half = c * se if math.isfinite(c) else math.inf
    naive = float(norm.isf((1 - level) / 2)) * se
    return Decision(action, look, design.looks, design.fractions[look - 1], z, c, diff,
                    (diff - half, diff + half), (diff - naive, diff + naive),
                    {"champion": n_a, "challenger": n_b},
                    {"champion": p_a, "challenger": p_b}, design.alpha, lower_is_better,
                    experiment, challenger_version)


def promote_winner(workspace: Any, decision: Decision, *, reason: str,
                   model_name: str | None = None, version: str | None = None) -> Any:
    """Promote the challenger if, and only if, the decision says it won.

    Calls :func:`~closedloop.model.promotion.promote` (never with ``force``): the quality gates
    still apply, and a gate that failed or ran against another champion refuses the promotion
    with :class:`~closedloop.model.registry.RegistryError`. The audit trail's reason gets the
    decision's summary appended.

    Parameters
    ----------
    workspace : Workspace
        The workspace of the registry.
    decision : Decision
        The decision at the look that stopped the test.
    reason : str
        Why (recorded in the audit trail).
    model_name : str, optional
        The registered model (default: the registry's default).
    version : str, optional
        The version to promote; default ``decision.challenger_version``, else the
        ``@challenger`` alias.

    Returns
    -------
    AliasMove
        The recorded move.

    Raises
    ------
    ValueError
        When the decision is not a win of the challenger (nothing is promoted).
    """
    from closedloop.model import registry

    if not decision.challenger_won:
        raise ValueError(f"not promoting: {decision.summary}; only a challenger_wins decision "
                         "promotes")
    kwargs = {"model_name": model_name} if model_name else {}
    return registry.promote(workspace, version or decision.challenger_version,
                            reason=f"{reason} [{decision.summary}]", **kwargs)
