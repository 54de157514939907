"""Retraining triggers: what monitoring measured, five rules over it, and policies that combine them.

A trigger never reads the log itself. :func:`collect_evidence` measures, once, everything the
triggers look at (realised and estimated F1, PSI, null rates, model age) into an
:class:`Evidence`; each trigger compares one of those numbers with its threshold and returns a
:class:`TriggerResult` with the measured value, the threshold and a sentence saying why. A
:class:`RetrainPolicy` combines the results (``any``, ``all`` or a function of your own) and
applies a cool-down, so that one incident does not retrain every day; its
:class:`RetrainDecision` keeps every reason.

Every trigger fires only when its value is strictly beyond the threshold ("a drop of more than
0.05"), and none fires on missing evidence: too few labels, no reference, no window rows.

See Also
--------
Chapter :doc:`Automated retraining </book/08_automated_retraining>`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from closedloop.contract.schema import Schema
from closedloop.contract.telco import TELCO_SCHEMA

#: Column of an inference-log frame with the 0/1 outcome, null until it arrives.
GROUND_TRUTH = "ground_truth"
PREDICTION, PREDICTION_PROBA = "prediction", "prediction_proba"


@dataclass(frozen=True)
class Evidence:
    """What monitoring measured for one model at one moment: the input of every trigger.

    ``None`` means "not measured" (too few labelled rows, no reference, no rows in the window);
    a trigger never fires on ``None``.
    """

    as_of: pd.Timestamp
    model_version: str | None = None
    #: The model's F1 on its holdout (for a retrained version: the fresh production holdout of
    #: its retraining), the yardstick of the drops.
    reference_f1: float | None = None
    #: F1 on the predictions whose labels arrived in the window (same threshold, same metric).
    realised_f1: float | None = None
    labelled_rows: int = 0
    #: F1 estimated from the calibrated probabilities of the window's predictions (CBPE).
    estimated_f1: float | None = None
    window_rows: int = 0
    #: Population stability index against the reference, per monitored column.
    psi: Mapping[str, float] = field(default_factory=dict)
    #: Share of missing values in the window, per feature.
    null_rates: Mapping[str, float] = field(default_factory=dict)
    trained_at: pd.Timestamp | None = None

    @property
    def age_days(self) -> float | None:
        """Days since the model was trained (None when unknown)."""
        if self.trained_at is None:
            return None
        return (pd.Timestamp(self.as_of) - pd.Timestamp(self.trained_at)) / pd.Timedelta(days=1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        out = asdict(self)
        out.update(as_of=str(self.as_of), age_days=self.age_days, psi=dict(self.psi),
                   null_rates=dict(self.null_rates),
                   trained_at=None if self.trained_at is None else str(self.trained_at))
        return out


@dataclass(frozen=True)
class TriggerResult:
    """One trigger's verdict: fired or not, the measured value, the threshold, and why."""

    trigger: str
    fired: bool
    value: float | None
    threshold: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Trigger(Protocol):
    """Anything with a ``name``, the evidence it ``needs``, and ``check(evidence)``."""

    name: str
    needs: frozenset[str]

    def check(self, evidence: Evidence) -> TriggerResult: ...


def _result(name: str, value: float | None, threshold: float, what: str,
            missing: str) -> TriggerResult:
    if value is None or not math.isfinite(value):
        return TriggerResult(name, False, None, threshold, f"not measured: {missing}")
    fired = value > threshold
    return TriggerResult(name, fired, float(value), threshold,
                         f"{what} {value:.4g} {'>' if fired else '<='} {threshold:g}")


@dataclass(frozen=True)
class PerformanceTrigger:
    """Fires when realised F1 is more than ``max_drop`` below the model's holdout F1."""

    max_drop: float = 0.05
    name: str = "performance"
    needs: frozenset[str] = frozenset({"realised"})

    def check(self, evidence: Evidence) -> TriggerResult:
        return _f1_drop(self.name, self.max_drop, evidence.reference_f1, evidence.realised_f1,
                        "realised", f"{evidence.labelled_rows} labelled rows",
                        "too few labelled rows or no holdout F1")


@dataclass(frozen=True)
class EstimatedPerformanceTrigger:
    """Fires when the label-free F1 estimate is more than ``max_drop`` below the holdout F1."""

    max_drop: float = 0.05
    name: str = "estimated_performance"
    needs: frozenset[str] = frozenset({"estimate"})

    def check(self, evidence: Evidence) -> TriggerResult:
        return _f1_drop(self.name, self.max_drop, evidence.reference_f1, evidence.estimated_f1,
                        "estimated", f"{evidence.window_rows} rows",
                        "no calibrated reference or no rows in the window")


def _f1_drop(name: str, max_drop: float, reference: float | None, current: float | None,
             kind: str, rows: str, missing: str) -> TriggerResult:
    drop = None if reference is None or current is None else reference - current
    result = _result(name, drop, max_drop, f"{kind} F1 drop", missing)
    if drop is None:
        return result
    detail = f" (holdout {reference:.3f}, {kind} {current:.3f} on {rows})"
    return TriggerResult(result.trigger, result.fired, result.value, result.threshold,
                         result.reason + detail)


@dataclass(frozen=True)
class DriftTrigger:
    """Fires when the PSI of the prediction or of any monitored feature exceeds ``max_psi``."""

    max_psi: float = 0.25
    name: str = "drift"
    needs: frozenset[str] = frozenset({"drift"})

    def check(self, evidence: Evidence) -> TriggerResult:
        column, psi = _worst(evidence.psi)
        return _result(self.name, psi, self.max_psi, f"PSI of {column}",
                       "no reference or no rows in the window")


@dataclass(frozen=True)
class DataQualityTrigger:
    """Fires when the null rate of any feature exceeds ``max_null_rate``."""

    max_null_rate: float = 0.10
    name: str = "data_quality"
    needs: frozenset[str] = frozenset({"nulls"})

    def check(self, evidence: Evidence) -> TriggerResult:
        column, rate = _worst(evidence.null_rates)
        return _result(self.name, rate, self.max_null_rate, f"null rate of {column}",
                       "no rows in the window")


@dataclass(frozen=True)
class AgeTrigger:
    """Fires when the model was trained more than ``max_days`` days ago."""

    max_days: float = 30
    name: str = "age"
    needs: frozenset[str] = frozenset()

    def check(self, evidence: Evidence) -> TriggerResult:
        return _result(self.name, evidence.age_days, self.max_days, "days since training",
                       "training time unknown")


def _worst(values: Mapping[str, float]) -> tuple[str, float | None]:
    finite = {k: v for k, v in values.items() if v is not None and math.isfinite(v)}
    if not finite:
        return "-", None
    column = max(finite, key=finite.__getitem__)
    return column, finite[column]


# ------------------------------------------------------------------------------------ policies


@dataclass(frozen=True)
class RetrainDecision:
    """A policy's decision at one moment: retrain or not, and every trigger's verdict."""

    policy: str
    as_of: pd.Timestamp
    retrain: bool
    results: tuple[TriggerResult, ...]
    #: Why the decision is what it is, in one sentence.
    summary: str
    cooling_down_until: pd.Timestamp | None = None

    @property
    def fired(self) -> list[TriggerResult]:
        """The triggers that fired."""
        return [r for r in self.results if r.fired]

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "as_of": str(self.as_of), "retrain": self.retrain,
                "summary": self.summary, "results": [r.to_dict() for r in self.results],
                "cooling_down_until": None if self.cooling_down_until is None
                else str(self.cooling_down_until)}

    def to_frame(self) -> pd.DataFrame:
        """One row per trigger."""
        return pd.DataFrame([r.to_dict() for r in self.results],
                            columns=["trigger", "fired", "value", "threshold", "reason"])

    def _repr_html_(self) -> str:
        verdict = "RETRAIN" if self.retrain else "no retraining"
        return (f"<b>{verdict}</b> ({self.policy}, {self.as_of}): {self.summary}"
                + self.to_frame().to_html(index=False))


Combine = Callable[[Sequence[TriggerResult]], bool]


@dataclass(frozen=True)
class RetrainPolicy:
    """Triggers, how they combine, and a cool-down between retrainings.

    Parameters
    ----------
    name : str
        Shown in decisions and reports.
    triggers : sequence of Trigger
        The rules; an empty policy never retrains.
    combine : str or callable
        ``"any"`` (retrain when any trigger fires), ``"all"`` (when all fire), or a function
        of the trigger results that returns whether to retrain.
    cooldown_days : float
        After a retraining attempt, no new one for this many days, whatever fires.

    Examples
    --------
    >>> policy = RetrainPolicy("age", (AgeTrigger(30),), cooldown_days=7)
    >>> evidence = Evidence(pd.Timestamp("2026-03-01"), trained_at=pd.Timestamp("2026-01-01"))
    >>> policy.evaluate(evidence).retrain
    True
    >>> policy.evaluate(evidence, last_retrained_at=pd.Timestamp("2026-02-27")).summary
    'age fired, but cooling down until 2026-03-06 00:00:00'
    """

    name: str
    triggers: tuple[Trigger, ...] = ()
    combine: str | Combine = "any"
    cooldown_days: float = 7

    def __post_init__(self) -> None:
        object.__setattr__(self, "triggers", tuple(self.triggers))
        if not callable(self.combine) and self.combine not in ("any", "all"):
            raise ValueError(f"combine must be 'any', 'all' or a function (got {self.combine!r})")
        if self.cooldown_days < 0:
            raise ValueError(f"cooldown_days must be >= 0 (got {self.cooldown_days})")

    @property
    def needs(self) -> frozenset[str]:
        """The evidence the triggers read (so nothing else is measured)."""
        return frozenset().union(*(t.needs for t in self.triggers))

    def evaluate(self, evidence: Evidence,
                 last_retrained_at: pd.Timestamp | None = None) -> RetrainDecision:
        """Check every trigger, combine them, apply the cool-down."""
        results = tuple(t.check(evidence) for t in self.triggers)
        if not results:
            fire = False
        elif callable(self.combine):
            fire = bool(self.combine(results))
        else:
            fire = (any if self.combine == "any" else all)(r.fired for r in results)
        fired = ", ".join(r.trigger for r in results if r.fired)
        until = None
        if last_retrained_at is not None and self.cooldown_days:
            until = pd.Timestamp(last_retrained_at) + pd.Timedelta(days=self.cooldown_days)
            until = until if pd.Timestamp(evidence.as_of) < until else None
        if not results:
            summary = "no triggers: this policy never retrains"
        elif fire and until is not None:
            summary = f"{fired} fired, but cooling down until {until}"
        elif fire:
            summary = f"{fired} fired ({self.combine if isinstance(self.combine, str) else 'custom'})"
        else:
            summary = f"not triggered ({len(results)} trigger(s), {fired or 'none'} fired)"
        return RetrainDecision(self.name, pd.Timestamp(evidence.as_of), fire and until is None,
                               results, summary, until)


def default_policy(cooldown_days: float = 7) -> RetrainPolicy:
    """All five triggers at the thresholds of the issue, combined with ``any``."""
    return RetrainPolicy("default", (PerformanceTrigger(), EstimatedPerformanceTrigger(),
                                     DriftTrigger(), DataQualityTrigger(), AgeTrigger()),
                         cooldown_days=cooldown_days)


#: The policies compared by the closed-loop simulation, by name.
POLICIES: dict[str, RetrainPolicy] = {p.name: p for p in (
    RetrainPolicy("never"),
    RetrainPolicy("monthly", (AgeTrigger(30),), cooldown_days=30),
    RetrainPolicy("performance", (PerformanceTrigger(),), cooldown_days=30),
    RetrainPolicy("drift_estimate", (DriftTrigger(), EstimatedPerformanceTrigger()),
                  cooldown_days=30),
    default_policy(),
)}


def get_policy(policy: str | RetrainPolicy) -> RetrainPolicy:
    """A policy of :data:`POLICIES` by name (a policy is returned as it is)."""
    if isinstance(policy, RetrainPolicy):
        return policy
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; known policies: {', '.join(POLICIES)}")
    return POLICIES[policy]


# ------------------------------------------------------------------------------------ evidence


@dataclass(frozen=True)
class EvidenceConfig:
    """How evidence is measured.

    ``window_days``: the monitoring window before ``as_of`` (predictions for drift, estimate and
    nulls; label arrivals for realised F1). ``min_labels``: fewer labelled rows than this and the
    realised F1 is not measured. ``top_k``: the most important features watched for drift, with
    the prediction.
    """

    window_days: float = 30
    min_labels: int = 500
    top_k: int = 5


@dataclass
class Reference:
    """What "normal" is for one model: its holdout scored by it, and what it was trained with.

    ``rows`` has the features, ``prediction``, ``prediction_proba`` and ``ground_truth``.
    """

    model_version: str
    rows: pd.DataFrame
    f1: float
    trained_at: pd.Timestamp | None = None
    top_features: tuple[str, ...] = ()
    _cbpe: Any = field(default=None, repr=False)

    def cbpe(self) -> Any:
        """The CBPE estimator fitted on the holdout (fitted once, on first use)."""
        if self._cbpe is None:
            from closedloop.monitoring.estimate import CBPE

            self._cbpe = CBPE().fit(self.rows)
        return self._cbpe


def top_features(pipeline: Any, schema: Schema, k: int) -> tuple[str, ...]:
    """The ``k`` contract features with the highest LightGBM gain importance in ``pipeline``."""
    model = pipeline.named_steps["model"]
    gains = model.booster_.feature_importance(importance_type="gain")
    ranked = pd.Series(gains, index=model.booster_.feature_name()).sort_values(
        ascending=False, kind="stable")
    return tuple([n for n in ranked.index if n in schema.feature_names][:k])


def collect_evidence(log: pd.DataFrame, reference: Reference | None, as_of: pd.Timestamp, *,
                     schema: Schema = TELCO_SCHEMA, config: EvidenceConfig = EvidenceConfig(),
                     needs: frozenset[str] = frozenset({"realised", "estimate", "drift",
                                                        "nulls"})) -> Evidence:
    """Measure what the triggers look at, from an inference-log frame, for the reference's model.

    Parameters
    ----------
    log : DataFrame
        Inference-log rows (:meth:`closedloop.monitoring.store.InferenceLog.read`): ``timestamp``,
        ``model_version``, the features, ``prediction``, ``prediction_proba``, ``ground_truth``
        and ``label_arrived_at``.
    reference : Reference or None
        The current champion's :class:`Reference`; without one only null rates are measured.
    as_of : Timestamp
        The moment of the decision: only predictions made and labels arrived before it count.
    needs : frozenset of str
        Which of ``realised``, ``estimate``, ``drift`` and ``nulls`` to measure
        (:attr:`RetrainPolicy.needs`): the rest is skipped.
    """
    as_of = pd.Timestamp(as_of)
    start = as_of - pd.Timedelta(days=config.window_days)
    time = log["timestamp"]
    mine = log if reference is None else log[log["model_version"].astype(str)
                                             == reference.model_version]
    window = mine[(mine["timestamp"] >= start) & (mine["timestamp"] < as_of)]
    null_rates = {}
    if "nulls" in needs:
        recent = log[(time >= start) & (time < as_of)]
        null_rates = {n: float(recent[n].isna().mean()) for n in schema.feature_names} \
            if len(recent) else {}
    if reference is None:
        return Evidence(as_of, None, window_rows=len(window), null_rates=null_rates)
    realised, labelled = None, 0
    if "realised" in needs:
        arrived = mine["label_arrived_at"]
        done = mine[(arrived >= start) & (arrived < as_of) & mine[GROUND_TRUTH].notna()]
        labelled = len(done)
        if labelled >= config.min_labels:
            realised = _f1(done[GROUND_TRUTH].to_numpy(int), done[PREDICTION].to_numpy(int))
    estimated = None
    if "estimate" in needs and len(window):
        from closedloop.monitoring.estimate import expected_metrics

        scores = window[PREDICTION_PROBA].to_numpy(np.float64)
        estimated = expected_metrics(reference.cbpe().calibrate(scores),
                                     window[PREDICTION].to_numpy().astype(bool), scores)["f1_binary"]
    psi = {}
    if "drift" in needs and len(window):
        psi = _psi(reference, window, schema)
    return Evidence(as_of, reference.model_version, reference.f1, realised, labelled,
                    None if estimated is None else float(estimated), len(window), psi,
                    null_rates, reference.trained_at)


def reference_f1(rows: pd.DataFrame) -> float:
    """F1 of the ``prediction`` column against ``ground_truth``: the realised F1's definition.

    Applied to a :class:`Reference`'s scored holdout it gives the yardstick of the performance
    triggers, measured exactly as :func:`collect_evidence` measures the realised F1.

    Examples
    --------
    >>> reference_f1(pd.DataFrame({"ground_truth": [1, 1, 0, 0], "prediction": [1, 0, 1, 0]}))
    0.5
    """
    return _f1(rows[GROUND_TRUTH].to_numpy(int), rows[PREDICTION].to_numpy(int))


def _f1(y: np.ndarray, predicted: np.ndarray) -> float:
    tp = float(np.sum((y == 1) & (predicted == 1)))
    denominator = float(np.sum(y == 1) + np.sum(predicted == 1))
    return 2 * tp / denominator if denominator else 0.0


def _psi(reference: Reference, window: pd.DataFrame, schema: Schema) -> dict[str, float]:
    from closedloop.monitoring.drift import column_drift, drift_columns

    kinds = drift_columns(reference.rows, schema)
    out = {}
    for name in (PREDICTION_PROBA, *reference.top_features):
        kind = kinds.get(name, "numeric")
        stats = column_drift(reference.rows[name], window[name], kind)
        out[name] = float(stats["population_stability_index"])
    return out


# ------------------------------------------------------------------------------------ fairness


@dataclass(frozen=True)
class FairnessTrigger:
    """Fires when a fairness disparity on recent labelled rows is strictly beyond a threshold.

    :class:`Evidence` carries no rows, so this trigger reads them itself: either call
    :meth:`~closedloop.model.train.evaluate` with the inference-log frame, or attach the frame with :meth:`with_rows`
    and put the result in a :class:`RetrainPolicy` (its :meth:`check` then evaluates the rows as
    of the evidence's ``as_of``, restricted to the evidence's model version when it names one).
    Without rows, with fewer than ``min_rows`` labelled rows in the window, with fewer than two
    groups in ``column``, or when the metric is undefined (a group without positives), it does
    not fire ("not measured").

    Parameters
    ----------
    column : str
        The sensitive column (a feature stored in the log).
    metric : str
        A disparity of :data:`~closedloop.fairness.metrics.DISPARITIES` (or an alias). A lower-is-fairer
        disparity fires when it exceeds ``threshold``; ``demographic_parity_ratio``
        (higher is fairer) fires when it falls strictly below ``threshold``.
    threshold : float
        The limit.
    window_days : float
        Only labels arrived (``label_arrived_at``; else predictions made, ``timestamp``) in the
        ``window_days`` before ``as_of`` count.
    min_rows : int
        Fewer labelled rows in the window and nothing is measured.

    Examples
    --------
    >>> rows = pd.DataFrame({"ground_truth": [1, 1, 0, 1, 1, 0], "prediction": [1, 1, 0, 1, 0, 0],
    ...                      "SeniorCitizen": [1, 1, 1, 0, 0, 0]})
    >>> trigger = FairnessTrigger("SeniorCitizen", "tpr_difference", 0.3, min_rows=1)
    >>> trigger.evaluate(rows).reason
    'equal_opportunity_difference of SeniorCitizen 0.5 > 0.3 (6 labelled rows)'
    """

    column: str
    metric: str = "equal_opportunity_difference"
    threshold: float = 0.1
    window_days: float = 30
    min_rows: int = 100
    name: str = "fairness"
    needs: frozenset[str] = frozenset()
    rows: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        from closedloop.fairness.metrics import metric_name

        object.__setattr__(self, "metric", metric_name(self.metric))

    def with_rows(self, frame: pd.DataFrame) -> FairnessTrigger:
        """The same trigger holding ``frame`` (inference-log rows) for :meth:`check`."""
        from dataclasses import replace

        return replace(self, rows=frame)

    def check(self, evidence: Evidence) -> TriggerResult:
        """Evaluate the attached rows as of ``evidence.as_of`` (not measured without rows)."""
        if self.rows is None:
            return TriggerResult(self.name, False, None, self.threshold,
                                 "not measured: no labelled rows given (use with_rows)")
        rows = self.rows
        if evidence.model_version is not None and "model_version" in rows.columns:
            rows = rows[rows["model_version"].astype(str) == str(evidence.model_version)]
        return self.evaluate(rows, as_of=evidence.as_of)

    def evaluate(self, frame: pd.DataFrame, as_of: pd.Timestamp | None = None) -> TriggerResult:
        """The verdict on ``frame``'s labelled rows (those in the window before ``as_of``).

        Parameters
        ----------
        frame : DataFrame
            Inference-log rows (:meth:`closedloop.monitoring.store.InferenceLog.read`): the
            ``column``, ``prediction``, ``ground_truth`` (null until the label arrives) and,
            with ``as_of``, ``label_arrived_at`` or ``timestamp``.
        as_of : Timestamp, optional
            The moment of the decision; None: every labelled row counts.

        Returns
        -------
        TriggerResult
        """
        from closedloop.fairness.metrics import HIGHER_IS_FAIRER, fairness_report

        if self.column not in frame.columns:
            return TriggerResult(self.name, False, None, self.threshold,
                                 f"not measured: no column {self.column!r} in the rows")
        labelled = frame[frame[GROUND_TRUTH].notna()] if GROUND_TRUTH in frame.columns \
            else frame.iloc[:0]
        if as_of is not None and len(labelled):
            when = "label_arrived_at" if "label_arrived_at" in labelled.columns else "timestamp"
            times = pd.to_datetime(labelled[when])
            as_of = pd.Timestamp(as_of)
            start = as_of - pd.Timedelta(days=self.window_days)
            labelled = labelled[(times >= start) & (times < as_of)]
        rows, groups = len(labelled), labelled[self.column].nunique(dropna=False)
        if rows < self.min_rows or groups < 2:
            return TriggerResult(self.name, False, None, self.threshold,
                                 f"not measured: {rows} labelled rows (need {self.min_rows}) "
                                 f"in {groups} group(s) of {self.column}")
        value = fairness_report(labelled, [self.column], n_bootstrap=0).value(self.metric,
                                                                              self.column)
        higher = self.metric in HIGHER_IS_FAIRER
        what = f"{self.metric} of {self.column}"
        result = _result(self.name, None if value is None else (-value if higher else value),
                         -self.threshold if higher else self.threshold, what,
                         f"{what} undefined on {rows} labelled rows")
        if result.value is None:
            return TriggerResult(self.name, False, None, self.threshold, result.reason)
        sign = ("<" if result.fired else ">=") if higher else (">" if result.fired else "<=")
        return TriggerResult(self.name, result.fired, float(value), self.threshold,
                             f"{what} {value:.4g} {sign} {self.threshold:g} "
                             f"({rows} labelled rows)")
