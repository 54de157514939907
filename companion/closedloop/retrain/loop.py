"""The closed loop, replayed: a year of a drifting stream under several retraining policies.

:func:`simulate_loop` generates one seeded stream (:class:`closedloop.simulate.stream.StreamSimulator`,
a drift scenario, delayed labels) and replays it day by day once per policy, from the same first
champion. Each day the champion scores the day's customers, the rows go to the policy's log,
labels whose arrival time has passed become visible, the evidence is measured
(:func:`~closedloop.retrain.triggers.collect_evidence`), the policy decides, and a retraining
runs the workflow's steps: fresh data at the 70/30 ratio with a fresh holdout, contract check,
the champion's hyperparameters, refit, comparison on the holdout (the same paired rule as step 6
of the workflow: by default the challenger must be shown better), quality gates, promotion. As
in the workflow, the cool-down starts only when an attempt reaches training, and a promoted
version's reference F1 is its F1 on the fresh holdout it was judged on.

Every customer's outcome is known to the simulator, so each policy is charged what its model's
decisions actually earn (:func:`closedloop.business.value.assess` on the realised outcomes: saved
customers minus the cost of every intervention), day by day.

What differs from :func:`~closedloop.retrain.workflow.run_retraining`: the log is an in-memory
frame and models are promoted in memory, not in MLflow, so that a year of four policies replays
in about a minute. The functions that measure, decide, prepare, fit, compare and gate are the
same.

See Also
--------
Chapter :doc:`Automated retraining </book/08_automated_retraining>`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from closedloop.contract.schema import Schema
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.contract.validation import DataContractError, validate
from closedloop.retrain.prepare import labelled_rows, prepare_training_data
from closedloop.retrain.steps import (
    compare_on_holdout,
    fit_challenger,
    gate_config,
    model_reference,
)
from closedloop.retrain.triggers import (
    Reference,
    RetrainPolicy,
    collect_evidence,
    get_policy,
)
from closedloop.retrain.workflow import RetrainConfig

#: The policies compared by default.
DEFAULT_POLICIES = ("never", "monthly", "performance", "drift_estimate")


@dataclass(frozen=True)
class LoopConfig:
    """Settings of a closed-loop replay.

    Parameters
    ----------
    months : int
        Length of the replay (30-day months).
    rows_per_day : int
        Customers scored per day.
    scenario : str, Scenario or mapping
        The drift: a registered name (see :func:`closedloop.simulate.scenarios.list_scenarios`),
        a :class:`~closedloop.simulate.scenarios.Scenario` (e.g. from
        :func:`~closedloop.simulate.scenarios.load_scenario`) or its data form
        (:meth:`~closedloop.simulate.scenarios.Scenario.from_dict`).
    label_delay_days : int
        Days until a customer's outcome is known.
    business : str or BusinessModel
        What prices the decisions: a template of :data:`~closedloop.business.templates.TEMPLATES`
        or your own :class:`~closedloop.business.templates.BusinessModel`.
    gates : str or GateConfig
        Quality gates of each retraining (default: the ``telecom_churn`` preset with fewer
        latency calls and bootstrap replicates, to keep a replay quick).
    retrain : RetrainConfig
        Ratio, holdout share, windows and the comparison of each retraining.
    min_recent_rows : int
        A retraining with fewer labelled production rows stops at step 2.
    seed : int
        Seeds the stream, the models and the history samples.
    population : int
        Simulated customers.
    """

    months: int = 12
    rows_per_day: int = 200
    scenario: Any = "loyalty_erosion"
    label_delay_days: int = 30
    business: Any = "telecom"
    gates: Any = None
    retrain: RetrainConfig = RetrainConfig()
    min_recent_rows: int = 500
    seed: int = 0
    population: int = 20_000
    start: str = "2026-01-01"

    @property
    def days(self) -> int:
        return 30 * self.months

    def gate_config(self) -> Any:
        from closedloop.gates.config import PRESETS

        if self.gates is not None:
            return self.gates
        return PRESETS["telecom_churn"].override(latency_calls=5, n_bootstrap=200,
                                                 robustness_rows=200)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        scenario = self.scenario
        out["scenario"] = scenario if isinstance(scenario, str) else (
            scenario.get("name") if isinstance(scenario, dict) else scenario.name)
        out["gates"] = getattr(self.gate_config(), "name", str(self.gates))
        out["retrain"] = self.retrain.to_dict()
        return out


@dataclass
class LoopResult:
    """What a replay measured: one row per policy and day, the retraining attempts, timings."""

    config: LoopConfig
    daily: pd.DataFrame
    events: pd.DataFrame
    seconds: dict[str, float]
    notes: list[str] = field(default_factory=list)

    def monthly(self) -> pd.DataFrame:
        """Per policy and month: rows, realised F1 of the decisions, value, champion version."""
        d = self.daily.assign(month=self.daily["day"] // 30 + 1)
        g = d.groupby(["policy", "month"], sort=False)
        out = g[["rows", "tp", "fp", "fn", "value"]].sum()
        out["f1"] = 2 * out["tp"] / (2 * out["tp"] + out["fp"] + out["fn"]).clip(lower=1)
        out["model_version"] = g["model_version"].last()
        return out.reset_index()

    def summary(self) -> pd.DataFrame:
        """One row per policy: total value, its gain over ``never``, F1, retrainings, time."""
        months = self.monthly()
        rows = []
        for policy, part in self.daily.groupby("policy", sort=False):
            tp, fp, fn = (part[c].sum() for c in ("tp", "fp", "fn"))
            events = self.events[self.events["policy"] == policy] if len(self.events) else \
                self.events
            rows.append({
                "policy": policy, "total_value": float(part["value"].sum()),
                "f1": float(2 * tp / max(2 * tp + fp + fn, 1)),
                "last_month_f1": float(months[months["policy"] == policy]["f1"].iloc[-1]),
                "retrainings": int(len(events)),
                "promotions": int((events["outcome"] == "promoted").sum()) if len(events) else 0,
                "retraining_seconds": float(events["seconds"].sum()) if len(events) else 0.0,
                "compute_seconds": self.seconds.get(policy, float("nan"))})
        table = pd.DataFrame(rows)
        if "never" in set(table["policy"]):
            never = float(table.loc[table["policy"] == "never", "total_value"].iloc[0])
            table.insert(2, "value_vs_never", table["total_value"] - never)
        return table

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable: config, summary, monthly table and events."""
        return {"config": self.config.to_dict(), "seconds": self.seconds, "notes": self.notes,
                "summary": _records(self.summary()), "monthly": _records(self.monthly()),
                "events": _records(self.events)}

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str)

    def _repr_html_(self) -> str:
        scenario = self.config.to_dict()["scenario"]
        return (f"<b>Closed loop</b>: {self.config.months} months of {scenario}, "
                f"{self.config.rows_per_day} customers a day"
                + self.summary().round(3).to_html(index=False))

    def plot(self, metric: str = "f1") -> Any:
        """Monthly ``metric`` per policy with promotions and the drift start marked, and
        cumulative value (against ``never`` when it was replayed):
        :func:`closedloop.retrain.plots.plot_replay`."""
        from closedloop.retrain.plots import plot_replay

        return plot_replay(self, metric)


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(table.to_json(orient="records", date_format="iso"))


@dataclass
class _Champion:
    pipeline: Any
    threshold: float
    params: dict[str, Any]
    version: int
    reference: Reference


def simulate_loop(reference: pd.DataFrame, policies: Sequence[str | RetrainPolicy] = (
        DEFAULT_POLICIES), config: LoopConfig = LoopConfig(), *,
        schema: Schema = TELCO_SCHEMA, progress: bool = False) -> LoopResult:
    """Replay ``config.months`` of a drifting stream once per policy; measure what each earns.

    Parameters
    ----------
    reference : DataFrame
        The historical labelled table: it calibrates the simulator, trains the first champion
        and is the history mixed into every retraining.
    policies : sequence of str or RetrainPolicy
        Names from :data:`closedloop.retrain.triggers.POLICIES` or policies of your own.
    config : LoopConfig
        Length, volume, scenario, delays, economics, gates, seed.
    progress : bool
        Show a progress bar over the policies.

    Returns
    -------
    LoopResult
        Deterministic for a seed, except the timings.
    """
    from closedloop.business.templates import template
    from closedloop.model.train import DEFAULT_PARAMS, TrainConfig, split_data
    from closedloop.simulate.labels import LabelDelay
    from closedloop.simulate.scenarios import as_scenario
    from closedloop.simulate.stream import StreamSimulator

    validate(reference, schema)
    policies = [get_policy(p) for p in policies]
    scenario = as_scenario(config.scenario)
    simulator = StreamSimulator(reference, seed=config.seed, population=config.population,
                                start=config.start, schema=schema)
    simulator.check(scenario)  # a scenario that does not fit the schema fails here, clearly
    delay = LabelDelay("fixed", days=config.label_delay_days,
                       max_days=max(90, config.label_delay_days))
    days = list(simulator.iter_days(config.days, config.rows_per_day, scenario, delay))
    first = fit_challenger(reference, schema, DEFAULT_PARAMS, seed=config.seed)
    holdout = split_data(reference, schema, TrainConfig(seed=config.seed)).test
    first_reference = _reference(first, holdout, schema, 1, simulator.start, config)
    business = (template(config.business) if isinstance(config.business, str)
                else config.business)
    stream = pd.concat(days, ignore_index=True)
    day_ends = np.cumsum([len(d) for d in days])
    result = LoopResult(config, pd.DataFrame(), pd.DataFrame(), {})
    daily, events = [], []
    for policy in _progress(policies, len(policies), "policies", progress):
        started = time.perf_counter()
        champion = _Champion(first.pipeline, first.threshold, dict(first.params), 1,
                             first_reference)
        replay = _Replay(policy, champion, reference, stream, schema, config, simulator.start)
        replay.run(day_ends)
        result.seconds[policy.name] = time.perf_counter() - started
        daily += replay.daily(day_ends, business)
        events += replay.events
    result.daily = pd.DataFrame(daily)
    result.events = pd.DataFrame(events, columns=[
        "policy", "day", "date", "triggers", "outcome", "reason", "model_version", "seconds"])
    return result


def _progress(items: Any, total: int, name: str, enabled: bool) -> Any:
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, total=total, desc=name, leave=False)


def _reference(result: Any, holdout: pd.DataFrame, schema: Schema, version: int,
               trained_at: pd.Timestamp, config: LoopConfig) -> Reference:
    from closedloop.model.baselines import PipelineModel

    # F1 measured on ``holdout`` as the realised F1 is: the performance trigger's yardstick.
    return model_reference(PipelineModel(result.pipeline, result.threshold), holdout, schema,
                           str(version), None, trained_at, result.pipeline,
                           config.retrain.evidence.top_k)


class _Replay:
    """One policy's replay: the stream scored as the days pass, the champion, the attempts.

    The whole stream is generated up front, so each champion scores it in one call from the
    day it is promoted (batching, not foresight: day ``d`` is still scored by the model that was
    champion on day ``d``); the log on a given day is the slice of the stream up to that day.
    """

    def __init__(self, policy: RetrainPolicy, champion: _Champion, historical: pd.DataFrame,
                 stream: pd.DataFrame, schema: Schema, config: LoopConfig,
                 start: pd.Timestamp) -> None:
        self.policy, self.historical, self.stream = policy, historical, stream
        self.schema, self.config, self.start = schema, config, start
        n = len(stream)
        self.proba, self.predicted = np.zeros(n), np.zeros(n, dtype=np.int64)
        self.version = np.zeros(n, dtype=np.int64)
        self.times = stream["event_time"].to_numpy()
        self.events: list[dict[str, Any]] = []
        self.last_attempt: pd.Timestamp | None = None
        window = config.retrain.evidence.window_days
        # How far back the evidence and the fresh data reach.
        self.reach = pd.Timedelta(days=max(config.retrain.recent_days,
                                           window + config.label_delay_days))
        self.promote(champion, 0)

    def promote(self, champion: _Champion, first_row: int) -> None:
        self.champion, self.first_row = champion, first_row
        rest = self.stream.iloc[first_row:][self.schema.feature_names]
        self.scores = champion.pipeline.predict_proba(rest)[:, 1] if len(rest) else np.zeros(0)

    def run(self, day_ends: np.ndarray) -> None:
        begin = 0
        for day, end in enumerate(day_ends):
            offset = begin - self.first_row
            proba = self.scores[offset:offset + end - begin]
            self.proba[begin:end] = proba
            self.predicted[begin:end] = proba >= self.champion.threshold
            self.version[begin:end] = self.champion.version
            begin = end
            if self.policy.triggers:
                self.decide(self.start + pd.Timedelta(days=day + 1), end)

    def view(self, as_of: pd.Timestamp, end: int) -> pd.DataFrame:
        """The log as monitoring sees it at ``as_of``: labels only once they have arrived."""
        first = int(np.searchsorted(self.times, (as_of - self.reach).to_datetime64()))
        rows = self.stream.iloc[first:end]
        arrived = rows["label_available_at"] < as_of
        truth = self.schema.target_as_int(rows)
        return rows.assign(
            timestamp=rows["event_time"], model_version=self.version[first:end].astype(str),
            prediction=self.predicted[first:end], prediction_proba=self.proba[first:end],
            ground_truth=truth.where(arrived).astype("Int64"),
            label_arrived_at=rows["label_available_at"].where(arrived))

    def decide(self, as_of: pd.Timestamp, end: int) -> None:
        cooldown = pd.Timedelta(days=self.policy.cooldown_days)
        if self.last_attempt is not None and as_of < self.last_attempt + cooldown:
            return  # cooling down: no decision can fire, nothing to measure
        view = self.view(as_of, end)
        evidence = collect_evidence(view, self.champion.reference, as_of, schema=self.schema,
                                    config=self.config.retrain.evidence, needs=self.policy.needs)
        decision = self.policy.evaluate(evidence, self.last_attempt)
        if not decision.retrain:
            return
        started = time.perf_counter()
        outcome, reason = self.retrain(view, as_of, end)
        self.events.append({
            "policy": self.policy.name, "day": int((as_of - self.start).days), "date": as_of,
            "triggers": "; ".join(r.reason for r in decision.fired), "outcome": outcome,
            "reason": reason, "model_version": self.champion.version,
            "seconds": time.perf_counter() - started})

    def retrain(self, view: pd.DataFrame, as_of: pd.Timestamp, end: int) -> tuple[str, str]:
        """Steps 2-9 in memory; returns (outcome, reason)."""
        from closedloop.gates.run import run_gates
        from closedloop.model.baselines import PipelineModel

        config, schema, old = self.config.retrain, self.schema, self.champion
        since = as_of - pd.Timedelta(days=config.recent_days)
        recent = labelled_rows(view[view["timestamp"] >= since], schema)
        if len(recent) < self.config.min_recent_rows:
            return "stopped", (f"step 2: {len(recent)} labelled recent rows, fewer than "
                               f"{self.config.min_recent_rows}")
        prepared = prepare_training_data(recent, self.historical, schema,
                                         recent_share=config.recent_share,
                                         holdout_share=config.holdout_share, seed=config.seed)
        try:
            validate(prepared.train, schema)
            validate(prepared.holdout, schema)
        except DataContractError as err:
            return "stopped", f"step 3: {err}"
        self.last_attempt = as_of  # reached training: the cool-down starts
        fitted = fit_challenger(prepared.train, schema, old.params, seed=config.seed)
        challenger = PipelineModel(fitted.pipeline, fitted.threshold, schema)
        champion = PipelineModel(old.pipeline, old.threshold, schema)
        comparison = compare_on_holdout(challenger, champion, prepared.holdout, schema,
                                        metric=config.compare_metric, rule=config.compare_rule,
                                        margin=config.compare_margin,
                                        confidence=config.compare_confidence,
                                        n_bootstrap=config.compare_bootstrap,
                                        random_state=config.seed)
        if not comparison["accepted"]:
            return "stopped", f"step 6: {comparison['summary']}"
        gates = gate_config(self.config.gate_config(), prepared.holdout, schema,
                            derive=config.derive_floors, skill=config.floor_skill)
        report = run_gates(challenger, prepared.holdout, schema, gates, champion=champion)
        if not report.passed:
            return "stopped", "step 8: gates failed (" + ", ".join(
                c.name for c in report.failed) + ")"
        version = old.version + 1
        self.promote(_Champion(fitted.pipeline, fitted.threshold, old.params, version,
                               _reference(fitted, prepared.holdout, schema, version, as_of,
                                          self.config)), end)
        return "promoted", f"v{version}: {comparison['summary']}"

    def daily(self, day_ends: np.ndarray, business: Any) -> list[dict[str, Any]]:
        """One row per day: the champion's decisions priced on the customers' real outcomes."""
        from closedloop.business.value import assess

        truth = self.schema.target_as_int(self.stream).to_numpy()
        rows, begin = [], 0
        for day, end in enumerate(day_ends):
            y, p, flagged = truth[begin:end], self.proba[begin:end], self.predicted[begin:end]
            impact = assess(p, business, targeted=flagged == 1, y=y)
            rows.append({
                "policy": self.policy.name, "day": day,
                "date": self.start + pd.Timedelta(days=day),
                "model_version": int(self.version[begin]) if end > begin else 0,
                "rows": int(end - begin), "tp": int(((flagged == 1) & (y == 1)).sum()),
                "fp": int(((flagged == 1) & (y == 0)).sum()),
                "fn": int(((flagged == 0) & (y == 1)).sum()),
                "value": float(impact.realised_net)})
            begin = end
        return rows
