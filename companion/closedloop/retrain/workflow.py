"""The nine-step retraining workflow, each step a child MLflow run under one audited parent run.

:func:`run_retraining` runs, in order:

1. **assess**: measure the champion's evidence from the inference log and ask the policy;
2. **prepare**: recent labelled rows + history at the verified ratio, a fresh holdout
   (:func:`closedloop.retrain.prepare.prepare_training_data`);
3. **validate**: both tables against the data contract;
4. **champion_params**: the champion's hyperparameters, from the registry;
5. **retrain**: fit with them (no HPO unless asked);
6. **compare**: challenger and champion on the same fresh holdout, with the paired statistics of
   the gates: by default the challenger goes on only if it is shown better (the interval of its
   improvement lies above zero; ``RetrainConfig.compare_rule``);
7. **register**: log and register the challenger, only if step 6 accepted it; its F1 on the
   fresh holdout becomes the yardstick of the performance trigger
   (``closedloop.reference_f1`` on the version, ``reference.parquet`` on its run);
8. **gates**: the quality gates (:func:`closedloop.gates.run.run_gates`) on the fresh holdout,
   against the champion, logged where :func:`~closedloop.model.promotion.promote` reads them;
9. **promote**: make it the champion, with the decision's reasons in the audit trail.

A step that fails stops the run: the parent and the step are marked ``FAILED`` with the reason,
and the champion is untouched (only step 9 moves it, and :func:`~closedloop.model.promotion.promote` is
all-or-nothing). Nothing is half-written either: a crash after step 7 leaves a registered
challenger that no alias but ``@challenger`` points at, and re-running starts again from step 1.

A process killed midway leaves its runs ``RUNNING``; the next :func:`run_retraining` closes them
first (:func:`closedloop.retrain.runs.close_stale_runs`): ``FAILED`` as ``crashed``, which does
not start the cool-down, or, when the killed run had already promoted its version, ``FINISHED``
as ``promoted``, and the re-run returns that promotion instead of registering a copy. The
cool-down counts only attempts that reached step 5 (a challenger was being trained): a run that
stops for want of labels can be retried the next day.

The parent and step runs are created with the MLflow client rather than as nested active runs,
so steps that open runs of their own (logging the model, the gates, the promotion audit) work
unchanged inside them.

See Also
--------
Chapter :doc:`Automated retraining </book/08_automated_retraining>`.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from closedloop.config import Workspace
from closedloop.contract.schema import Schema
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.contract.validation import validate
from closedloop.model.ledger import fault
from closedloop.retrain.prepare import PreparedData, labelled_rows, prepare_training_data
from closedloop.retrain.runs import (
    CHAMPION_BEFORE,
    CRASHED,
    OUTCOME,
    REGISTERED,
    RETRAIN_EXPERIMENT,
    STEPS,
    StepRecord,
    _Steps,
    close_stale_runs,
)
from closedloop.retrain.steps import (
    StepFailed,
    compare_on_holdout,
    fit_challenger,
    gate_config,
    model_reference,
)
from closedloop.retrain.triggers import (
    Evidence,
    EvidenceConfig,
    Reference,
    RetrainDecision,
    RetrainPolicy,
    TriggerResult,
    collect_evidence,
    default_policy,
    get_policy,
    reference_f1,
    top_features,
)

#: The triggers that need no inference log (a model's age is always known).
LOG_FREE_TRIGGERS = frozenset({"age"})
REFERENCE_ARTIFACT = "reference.parquet"
#: Version tag: the version's F1 on the fresh holdout of its retraining (the trigger's yardstick).
REFERENCE_F1_TAG = "closedloop.reference_f1"
#: Version tag: when the version went into production on the inference log's clock (ISO time).
#: The age trigger reads it instead of the registry's creation time, so a back-dated log (a
#: replay, a chapter, a backfilled history) measures age on its own dates, not the wall clock.
TRAINED_AT_TAG = "closedloop.trained_at"
DEFAULT_MODEL_NAME = "closedloop-churn"  # same as closedloop.model.registry (not imported: MLflow)


@dataclass(frozen=True)
class RetrainConfig:
    """Settings of one retraining.

    Parameters
    ----------
    recent_days : float
        Labelled production rows predicted in the last ``recent_days`` days are the fresh data.
    recent_share, holdout_share : float
        Share of recent rows in training (default 70/30 with history); share of recent rows
        held out (see :func:`~closedloop.retrain.prepare.prepare_training_data`).
    compare_metric : str
        Step 6 compares challenger and champion in this metric on the fresh holdout, with the
        paired statistics of the gates (:func:`~closedloop.retrain.steps.compare_on_holdout`).
    compare_rule : str
        ``"superior"`` (default): the challenger goes on only if the lower end of the
        ``compare_confidence`` interval of its improvement is above 0. A working champion is
        replaced for a shown improvement, not a point estimate: with a point comparison a
        replay without drift promoted almost every other challenger on noise and lost money.
        ``"non_inferior"``: it goes on when the lower end is at least ``-compare_margin``
        (no worse within the margin; the gates of step 8 ask that question anyway).
    compare_margin, compare_confidence, compare_bootstrap : float, float, int
        The non-inferiority margin (in metric units), the interval's two-sided confidence and
        the number of paired bootstrap replicates.
    gates : str or GateConfig
        Step 8's gate configuration (preset name, file or config).
    derive_floors : bool
        Replace the gates' fixed floors by floors derived from the fresh holdout's base rate
        (:func:`~closedloop.gates.config.derive_floors`). Fixed floors are calibrated on the
        population the first model saw; once drift has moved the base rate, they can reject a
        challenger that beats the champion and so keep the worse model (the closed-loop
        simulation shows it). The comparison with the champion is unchanged.
    floor_skill : float
        How far derived floors sit from no skill towards perfect (0.1: a sanity bar; the
        comparison with the champion is the real bar).
    tune, n_trials : bool, int
        Step 5 tunes hyperparameters (``n_trials`` Optuna trials) instead of reusing the
        champion's.
    evidence : EvidenceConfig
        Step 1's monitoring window.
    seed : int
        Seeds the history sample and training.
    stale_after_hours : float
        A retraining run still ``RUNNING`` whose process cannot be checked (another host, no
        pid recorded) counts as crashed after this many hours (see
        :func:`~closedloop.retrain.runs.close_stale_runs`).
    """

    recent_days: float = 90
    recent_share: float = 0.7
    holdout_share: float = 0.2
    compare_metric: str = "f1"
    compare_rule: str = "superior"
    compare_margin: float = 0.01
    compare_confidence: float = 0.95
    compare_bootstrap: int = 1000
    gates: Any = "telecom_churn"
    derive_floors: bool = True
    floor_skill: float = 0.1
    tune: bool = False
    n_trials: int = 20
    evidence: EvidenceConfig = EvidenceConfig()
    seed: int = 0
    stale_after_hours: float = 6.0

    def __post_init__(self) -> None:
        from closedloop.retrain.steps import COMPARE_RULES

        if self.compare_rule not in COMPARE_RULES:
            raise ValueError(f"compare_rule must be one of {COMPARE_RULES}, "
                             f"not {self.compare_rule!r}")
        if not 0 < self.compare_confidence < 1 or self.compare_margin < 0:
            raise ValueError("compare_confidence must be in (0, 1) and compare_margin >= 0")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["gates"] = self.gates if isinstance(self.gates, str) else getattr(
            self.gates, "name", "custom")
        return out




@dataclass
class RetrainRun:
    """What one :func:`run_retraining` did: every step, the outcome and why."""

    #: ``promoted``, ``not_triggered`` or ``stopped`` (a step failed or refused).
    outcome: str
    reason: str
    steps: list[StepRecord]
    decision: RetrainDecision | None = None
    champion_before: str | None = None
    champion_after: str | None = None
    challenger_version: str | None = None
    run_id: str | None = None
    as_of: str | None = None

    @property
    def promoted(self) -> bool:
        return self.outcome == "promoted"

    @property
    def seconds(self) -> float:
        return float(sum(s.seconds for s in self.steps))

    def to_frame(self) -> pd.DataFrame:
        """One row per step: number, name, status, seconds and a one-line summary."""
        return pd.DataFrame([{"step": s.number, "name": s.name, "status": s.status,
                              "seconds": round(s.seconds, 2),
                              "summary": s.details.get("summary", "")} for s in self.steps])

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "reason": self.reason, "run_id": self.run_id,
                "as_of": self.as_of, "champion_before": self.champion_before,
                "champion_after": self.champion_after,
                "challenger_version": self.challenger_version, "seconds": self.seconds,
                "decision": None if self.decision is None else self.decision.to_dict(),
                "steps": [s.to_dict() for s in self.steps]}

    def __str__(self) -> str:
        return f"retraining {self.outcome}: {self.reason} ({self.seconds:.1f} s)"

    def _repr_html_(self) -> str:
        return f"<b>{self}</b>" + self.to_frame().to_html(index=False)


@dataclass(frozen=True)
class Assessment:
    """Step 1 of a retraining, measured without writing anything (:func:`assess_retraining`).

    The champion's evidence from the inference log and the policy's decision on it. Pass it to
    :func:`run_retraining` (``assessment=``) to run the workflow on this decision: step 1 then
    records it instead of measuring again.
    """

    model_name: str
    as_of: pd.Timestamp
    #: The ``@champion`` version the evidence is about.
    champion: str
    decision: RetrainDecision
    evidence: Evidence
    #: Why no reference could be built for the champion (the triggers that compare with one
    #: then go unmeasured), or None.
    note: str | None = None

    @property
    def watched(self) -> list[TriggerResult]:
        """The results of the policy's triggers that read the inference log (all but
        :data:`LOG_FREE_TRIGGERS`)."""
        return [r for r in self.decision.results if r.trigger not in LOG_FREE_TRIGGERS]

    @property
    def assessed(self) -> bool:
        """False when the policy has triggers that read the inference log and none of them
        could be measured (no rows in the window, no labels): "not triggered" would then only
        mean "not assessed"."""
        return not self.watched or any(r.value is not None for r in self.watched)

    def to_dict(self) -> dict[str, Any]:
        """Step 1's details: the decision's summary, the evidence, the triggers and the note."""
        return {"summary": self.decision.summary, "retrain": self.decision.retrain,
                "note": self.note, "evidence": self.evidence.to_dict(),
                "triggers": {r.trigger: r.to_dict() for r in self.decision.results}}




# ------------------------------------------------------------------------- steps shared with
# the closed-loop simulation, which runs them in memory without the registry












# ------------------------------------------------------------------------------- the workflow






def load_reference(workspace: Workspace, historical: pd.DataFrame | None = None,
                   schema: Schema | None = None, *, alias: str = "champion",
                   model_name: str = DEFAULT_MODEL_NAME, top_k: int = 5) -> Reference:
    """The :class:`~closedloop.retrain.triggers.Reference` of the model behind ``alias``.

    A version registered by :func:`run_retraining` carries its scored fresh holdout as the
    ``reference.parquet`` artifact of its run and its F1 there as the ``closedloop.reference_f1``
    tag: the performance trigger's yardstick is the holdout it was judged on, not the internal
    test split of its training mix; any other version's held-out rows come from
    :func:`closedloop.monitoring.report.holdout_reference`: the ones it stores, or for a version
    registered before models stored them, rebuilt from ``historical`` (the table it was trained
    on). ``schema`` defaults to the version's own contract. The model's age counts from the
    version's :data:`TRAINED_AT_TAG` when it has one, else from its registry creation time.
    """
    from closedloop.model.holdout import (
        load_contract,
        resolve_version,
        stored_artifacts,
    )
    from closedloop.model.registry import HOLDOUT_ARTIFACT, TAG, load_model, registry_client

    model_name = workspace.model_name(model_name)  # catalog.schema.name in Unity Catalog
    client = registry_client(workspace)  # no registry: an error naming the folder
    version = client.get_model_version(model_name, resolve_version(workspace, alias,
                                                                   model_name=model_name))
    schema = schema or load_contract(workspace, version.version, model_name=model_name)
    trained_at = pd.Timestamp(version.tags[TRAINED_AT_TAG]) if TRAINED_AT_TAG in version.tags \
        else pd.Timestamp(int(version.creation_timestamp), unit="ms")
    f1 = float(json.loads(version.tags.get(f"{TAG}test_metrics", "{}")).get("f1", np.nan))
    pipeline = load_model(workspace, alias, model_name=model_name).unwrap_python_model().pipeline
    names = {a.path for a in client.list_artifacts(version.run_id)}
    stored = HOLDOUT_ARTIFACT in stored_artifacts(workspace, version.version,
                                                  model_name=model_name)
    if REFERENCE_ARTIFACT in names:
        with tempfile.TemporaryDirectory() as tmp:
            rows = pd.read_parquet(client.download_artifacts(version.run_id, REFERENCE_ARTIFACT,
                                                             tmp))
        f1 = float(version.tags.get(REFERENCE_F1_TAG, reference_f1(rows)))
    elif stored or historical is not None:
        from closedloop.monitoring.report import holdout_reference

        rows = holdout_reference(workspace, None if stored else historical, schema, alias=alias,
                                 model_name=model_name)
    else:
        raise ValueError(f"{model_name}@{alias} has no {REFERENCE_ARTIFACT}: pass the table it "
                         "was trained on as historical")
    return Reference(str(version.version), rows, f1, trained_at,
                     top_features(pipeline, schema, top_k))


def run_retraining(workspace: Workspace | str, historical: pd.DataFrame | None = None,
                   schema: Schema | None = None, *, policy: str | RetrainPolicy | None = None,
                   if_triggered: bool = False, config: RetrainConfig = RetrainConfig(),
                   as_of: str | pd.Timestamp | None = None,
                   model_name: str = DEFAULT_MODEL_NAME,
                   assessment: Assessment | None = None) -> RetrainRun:
    """Run the nine steps; return what happened. The champion changes only at step 9.

    Parameters
    ----------
    workspace : Workspace or str
        Holds the registry (a ``@champion`` is required) and the inference log.
    historical : DataFrame, optional
        The historical labelled table mixed into training. Default: the rows the champion was
        trained on, as stored with it (:func:`closedloop.model.holdout.load_training_rows`), so
        round after round each retraining has the history of the one before.
    schema : Schema, optional
        The data contract. Default: the champion's; if given it must be the same.
    policy : str or RetrainPolicy, optional
        Evaluated at step 1 (default :func:`~closedloop.retrain.triggers.default_policy`).
    if_triggered : bool
        Stop after step 1 unless the policy fires. Without it the decision is recorded and the
        workflow runs anyway (a manual or scheduled retraining).
    config : RetrainConfig
        Ratios, windows, comparison and gates.
    as_of : str or Timestamp, optional
        The moment of the run (default now, UTC, or the assessment's): only log rows and
        labels before it count.
    assessment : Assessment, optional
        Step 1 as :func:`assess_retraining` measured it (for the same model and moment):
        recorded as step 1 instead of measuring again, so a caller can look at the decision
        before anything is written. It is measured again if closing a crashed run changed
        the cool-down or the champion is no longer the one it assessed.

    Returns
    -------
    RetrainRun
        ``outcome`` is ``promoted``, ``not_triggered`` or ``stopped`` (with the failed step's
        reason); ``run_id`` is the parent MLflow run in the ``closedloop-retraining``
        experiment. If an earlier run was killed after promoting its version, that run is
        closed as promoted and returned (no steps run, nothing registered again).
    """
    from closedloop.model.registry import CHAMPION, aliases

    workspace = workspace if isinstance(workspace, Workspace) else Workspace.resolve(workspace)
    model_name = workspace.model_name(model_name)  # catalog.schema.name in Unity Catalog
    as_of = assessment.as_of if assessment is not None and as_of is None else _as_of(as_of)
    if assessment is not None and (assessment.model_name, assessment.as_of) != (model_name,
                                                                                as_of):
        raise ValueError(f"assessment: it assesses {assessment.model_name} as of "
                         f"{assessment.as_of}, not {model_name} as of {as_of}")
    policy = default_policy() if policy is None else get_policy(policy)
    closed = close_stale_runs(workspace, model_name, stale_after_hours=config.stale_after_hours)
    done = [c for c in closed if c.outcome == "promoted"]
    if done:  # the promotion a killed run made is the result: do not make another
        last = done[-1]
        return RetrainRun("promoted", last.reason, [], None, last.champion_before,
                          aliases(workspace, model_name).get(CHAMPION),
                          last.registered_version, last.run_id, last.as_of)
    before = aliases(workspace, model_name).get(CHAMPION)
    historical, schema = champion_inputs(workspace, historical, schema, before,
                                         model_name=model_name)
    steps = _Steps(workspace, as_of, {"closedloop.policy": policy.name,
                                      "closedloop.model_name": model_name,
                                      CHAMPION_BEFORE: str(before),
                                      "closedloop.config": json.dumps(config.to_dict())})
    state = _State(workspace, historical, schema, policy, config, as_of, model_name, before)
    if assessment is not None and not closed and assessment.champion == before:
        state.assessment = assessment
    outcome, reason = "promoted", ""
    try:
        for name in STEPS:
            details = steps.run(name, getattr(state, name))
            if name == "assess" and if_triggered and not state.decision.retrain:
                outcome, reason = "not_triggered", state.decision.summary
                break
        else:
            reason = details["summary"]
    except Exception as err:  # recorded on the step and the parent run; champion untouched
        outcome = "stopped"
        reason = f"step {steps.records[-1].number} ({steps.records[-1].name}) failed: " + (
            str(err) if isinstance(err, StepFailed) else f"{type(err).__name__}: {err}")
    finally:
        if outcome == "promoted" and len(steps.records) < len(STEPS):
            outcome, reason = "stopped", reason or "interrupted"
        steps.finish(outcome, reason, state.decision)
    return RetrainRun(outcome, reason, steps.records, state.decision, before,
                      aliases(workspace, model_name).get(CHAMPION), state.version,
                      steps.parent_id, str(as_of))


def assess_retraining(workspace: Workspace | str, historical: pd.DataFrame | None = None,
                      schema: Schema | None = None, *,
                      policy: str | RetrainPolicy | None = None,
                      config: RetrainConfig = RetrainConfig(),
                      as_of: str | pd.Timestamp | None = None,
                      model_name: str = DEFAULT_MODEL_NAME) -> Assessment:
    """Step 1 of :func:`run_retraining` alone, writing nothing: the champion's evidence and the
    policy's decision on it.

    Reads the registry, the inference log and the retraining runs (for the cool-down); opens
    no MLflow run and creates no file, experiment or folder. ``closedloop retrain`` calls it
    first, so that a retraining that cannot be assessed is refused before anything is written,
    then passes the result to :func:`run_retraining`.

    Parameters are those of :func:`run_retraining`.

    Returns
    -------
    Assessment

    Raises
    ------
    RegistryError
        When ``model_name`` has no ``@champion``; its subclass
        :class:`~closedloop.model.registry.NoRegistryError` when the workspace has no model
        registry at all (nothing is created).
    """
    from closedloop.model.registry import CHAMPION, RegistryError, aliases, require_store

    workspace = workspace if isinstance(workspace, Workspace) else Workspace.resolve(workspace)
    require_store(workspace)
    model_name = workspace.model_name(model_name)  # as run_retraining names it (Unity Catalog)
    champion = aliases(workspace, model_name).get(CHAMPION)
    if champion is None:
        raise RegistryError(f"{model_name} has no @champion in {workspace.root}: train and "
                            "promote a first model (closedloop train, closedloop promote)")
    historical, schema = champion_inputs(workspace, historical, schema, champion,
                                         model_name=model_name)
    policy = default_policy() if policy is None else get_policy(policy)
    return _measure(workspace, historical, schema, policy, config, _as_of(as_of), model_name,
                    champion)


def _measure(workspace: Workspace, historical: pd.DataFrame | None, schema: Schema,
             policy: RetrainPolicy, config: RetrainConfig, as_of: pd.Timestamp,
             model_name: str, champion: str) -> Assessment:
    """Step 1's work: the log up to ``as_of``, the champion's reference, the decision."""
    from closedloop.monitoring.store import InferenceLog

    frame = InferenceLog(workspace, schema).read(end=as_of, labels_as_of=as_of,
                                                 model_name=model_name)
    reference, note = None, None
    try:
        reference = load_reference(workspace, historical, schema, model_name=model_name,
                                   top_k=config.evidence.top_k)
    except ValueError as err:  # evidence without a reference: only nulls and age
        note = f"no reference for the champion ({err})"
    evidence = collect_evidence(frame, reference, as_of, schema=schema,
                                config=config.evidence, needs=policy.needs)
    decision = policy.evaluate(evidence, _last_attempt(workspace, model_name))
    return Assessment(model_name, as_of, champion, decision, evidence, note)


def _last_attempt(workspace: Workspace, model_name: str) -> pd.Timestamp | None:
    """When the last retraining that reached step 5 (tagged ``attempted`` there) and was not
    killed (a crashed run is closed with outcome ``crashed`` before step 1) ran; read only
    (no experiment is created)."""
    client = workspace.client()
    experiment = client.get_experiment_by_name(workspace.experiment_name(RETRAIN_EXPERIMENT))
    if experiment is None:
        return None
    runs = client.search_runs([experiment.experiment_id], filter_string=(
        f"tags.`closedloop.model_name` = '{model_name}' and "
        "tags.`closedloop.attempted` = 'true'"), order_by=["attributes.start_time DESC"],
        max_results=50)
    runs = [r for r in runs if r.data.tags.get(OUTCOME) != CRASHED]
    return pd.Timestamp(runs[0].data.tags["closedloop.as_of"]) if runs else None


def champion_inputs(workspace: Workspace, historical: pd.DataFrame | None,
                    schema: Schema | None, champion: str | None, *,
                    model_name: str = DEFAULT_MODEL_NAME) -> tuple[pd.DataFrame | None, Schema]:
    """The history and contract of a retraining: those given, else the champion's stored ones.

    A given ``schema`` must be the champion's contract (:class:`ValueError` otherwise). Without
    a champion the contract defaults to Telco and the history stays None (step 1 then stops the
    run: there is nothing to retrain). A champion registered before models stored their
    training rows needs ``historical``.
    """
    if champion is None:
        return historical, schema or TELCO_SCHEMA
    from closedloop.model.holdout import check_contract, load_contract, load_training_rows

    contract = load_contract(workspace, champion, model_name=model_name)
    if schema is not None:
        check_contract(schema, contract, what=f"{model_name} v{champion} (the champion)")
    if historical is None:
        historical = load_training_rows(workspace, champion, model_name=model_name)
    return historical, contract


def _as_of(as_of: str | pd.Timestamp | None) -> pd.Timestamp:
    when = pd.Timestamp.now(tz="UTC") if as_of is None else pd.Timestamp(as_of)
    return when.tz_convert("UTC").tz_localize(None) if when.tzinfo else when


class _State:
    """The nine steps as methods sharing what earlier steps produced."""

    def __init__(self, workspace: Workspace, historical: pd.DataFrame, schema: Schema,
                 policy: RetrainPolicy, config: RetrainConfig, as_of: pd.Timestamp,
                 model_name: str, champion: str | None) -> None:
        from closedloop.monitoring.store import InferenceLog

        self.workspace, self.historical, self.schema = workspace, historical, schema
        self.policy, self.config, self.as_of = policy, config, as_of
        self.model_name, self.champion_version = model_name, champion
        self.log = InferenceLog(workspace, schema)
        self.assessment: Assessment | None = None
        self.decision: RetrainDecision | None = None
        self.evidence: Evidence | None = None
        self.prepared: PreparedData | None = None
        self.version: str | None = None
        self.note: str | None = None

    def assess(self, run_id: str) -> dict[str, Any]:
        if self.champion_version is None:
            raise StepFailed(f"{self.model_name} has no @champion: train and promote a first "
                             "model (closedloop train, closedloop promote)")
        if self.assessment is None:
            self.assessment = _measure(self.workspace, self.historical, self.schema,
                                       self.policy, self.config, self.as_of, self.model_name,
                                       self.champion_version)
        self.evidence, self.decision = self.assessment.evidence, self.assessment.decision
        self.note = self.assessment.note
        return self.assessment.to_dict()

    def _parent(self, run_id: str) -> str:
        return self.workspace.client().get_run(run_id).data.tags["mlflow.parentRunId"]

    def prepare(self, run_id: str) -> dict[str, Any]:
        start = self.as_of - pd.Timedelta(days=self.config.recent_days)
        recent = labelled_rows(self.log.read(start, self.as_of, labels_as_of=self.as_of,
                                             model_name=self.model_name), self.schema)
        if recent.empty:
            raise StepFailed(f"no labelled production rows between {start} and {self.as_of}: "
                             "backfill ground truth first")
        try:
            self.prepared = prepare_training_data(
                recent, self.historical, self.schema, recent_share=self.config.recent_share,
                holdout_share=self.config.holdout_share, seed=self.config.seed)
        except ValueError as err:
            raise StepFailed(str(err)) from err
        fault("retrain:after_prepare")
        s = self.prepared.summary
        return {**s, "summary": (f"{s['recent_rows']} recent + {s['historical_rows']} historical "
                                 f"rows ({s['recent_share']:.3f} recent, asked "
                                 f"{s['requested_recent_share']}); holdout {s['holdout_rows']} "
                                 f"rows, entity overlap {s['entity_overlap']}")}

    def validate(self, run_id: str) -> dict[str, Any]:
        for table in (self.prepared.train, self.prepared.holdout):
            validate(table, self.schema)
        return {"summary": f"train ({len(self.prepared.train)} rows) and holdout "
                           f"({len(self.prepared.holdout)} rows) honour {self.schema.name}"}

    def champion_params(self, run_id: str) -> dict[str, Any]:
        from closedloop.model.registry import model_params

        self.params = model_params(self.workspace, model_name=self.model_name)
        return {"champion": self.champion_version, "params": self.params,
                "summary": f"hyperparameters of v{self.champion_version}: "
                           + ", ".join(f"{k}={v}" for k, v in self.params.items())}

    def retrain(self, run_id: str) -> dict[str, Any]:
        # Reaching training is an attempt: the cool-down starts (unless the process dies).
        self.workspace.client().set_tag(self._parent(run_id), "closedloop.attempted", "true")
        c = self.config
        self.result = fit_challenger(self.prepared.train, self.schema, self.params, seed=c.seed,
                                     tune=c.tune, n_trials=c.n_trials)
        return {"threshold": self.result.threshold, "test": self.result.metrics,
                "summary": f"fitted on {len(self.prepared.train)} rows, threshold "
                           f"{self.result.threshold:.3f}, own-test F1 "
                           f"{self.result.metrics['f1']:.3f}"
                           + (f" after {c.n_trials} HPO trials" if c.tune else " (no HPO)")}

    def compare(self, run_id: str) -> dict[str, Any]:
        from closedloop.model.baselines import PipelineModel
        from closedloop.model.registry import load_model

        self.challenger = PipelineModel(self.result.pipeline, self.result.threshold, self.schema)
        self.champion = load_model(self.workspace, model_name=self.model_name)
        c = self.config
        comparison = compare_on_holdout(self.challenger, self.champion,
                                        self.prepared.holdout, self.schema,
                                        metric=c.compare_metric, rule=c.compare_rule,
                                        margin=c.compare_margin,
                                        confidence=c.compare_confidence,
                                        n_bootstrap=c.compare_bootstrap, random_state=c.seed)
        self.accepted = comparison["accepted"]
        return comparison

    def register(self, run_id: str) -> dict[str, Any]:
        import mlflow

        from closedloop.model.registry import log_contract, log_lineage, log_model, register

        if not self.accepted:
            rule = "shown better than" if self.config.compare_rule == "superior" else \
                "shown non-inferior to"
            raise StepFailed(f"the challenger is not {rule} the champion on the fresh holdout "
                             "(step 6): not registered")
        # The yardstick of the performance trigger: F1 on the fresh holdout, as realised F1 is.
        reference = model_reference(self.challenger, self.prepared.holdout,
                                    self.schema, "new", None, None)
        with self.workspace.mlflow(RETRAIN_EXPERIMENT), mlflow.start_run(run_id=run_id):
            log_lineage(self.prepared.train, self.schema, "retraining: recent + historical")
            mlflow.log_params({**self.result.params, "threshold": self.result.threshold,
                               "config.seed": self.config.seed, "config.split_seed": "None",
                               "config.valid_size": 0.2, "config.test_size": 0.2})
            mlflow.log_metrics({f"test_{k}": v for k, v in self.result.metrics.items()})
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / REFERENCE_ARTIFACT
                reference.rows.to_parquet(path, index=False)
                mlflow.log_artifact(str(path))
            # The version carries its contract, its fresh holdout and its training table, so it
            # can be judged, monitored and retrained later without this run's in-memory mix.
            log_contract(self.schema, self.prepared.holdout, self.prepared.train)
            info = log_model(self.result, self.schema, self.prepared.train)
            mlflow.log_metric("reference_f1", reference.f1)
        client = self.workspace.client()
        client.update_run(run_id, status="RUNNING")  # start_run's exit marked it FINISHED
        fault("retrain:in_register")
        self.result.run_id = run_id
        self.version = register(self.workspace, info.model_uri, self.result,
                                model_name=self.model_name)
        client.set_model_version_tag(self.model_name, self.version, REFERENCE_F1_TAG,
                                     repr(reference.f1))
        client.set_tag(self._parent(run_id), REGISTERED, self.version)
        fault("retrain:after_register")
        return {"version": self.version, "reference_f1": reference.f1,
                "summary": f"registered as v{self.version} @challenger, holdout F1 "
                           f"{reference.f1:.4f} (the performance trigger's yardstick)"}

    def gates(self, run_id: str) -> dict[str, Any]:
        from closedloop.gates.run import run_gates
        from closedloop.gates.version import log_gate_report
        from closedloop.model.registry import load_model

        gates = gate_config(self.config.gates, self.prepared.holdout, self.schema,
                            derive=self.config.derive_floors, skill=self.config.floor_skill)
        report = run_gates(load_model(self.workspace, self.version, model_name=self.model_name),
                           self.prepared.holdout, self.schema, gates,
                           champion=self.champion, model_label=f"v{self.version}",
                           champion_label=f"v{self.champion_version}",
                           model_name=self.model_name, model_version=self.version,
                           champion_version=self.champion_version,
                           notes=["holdout: the fresh holdout of this retraining"])
        log_gate_report(self.workspace, report)
        failed = [c.name for c in report.failed]
        if not report.passed:
            raise StepFailed(f"quality gates failed: {', '.join(failed)}")
        return {"verdict": report.verdict, "checks": len(report.checks),
                "summary": f"all {len(report.checks)} gate checks passed"}

    def promote(self, run_id: str) -> dict[str, Any]:
        from closedloop.model.promotion import promote

        reasons = "; ".join(r.reason for r in self.decision.fired) or self.decision.summary
        move = promote(self.workspace, self.version, model_name=self.model_name,
                       reason=f"retraining run (policy {self.policy.name}): {reasons}")
        fault("retrain:after_promote")
        return {"version": self.version, "previous": move.previous_version,
                "summary": f"v{self.version} promoted to @champion "
                           f"(was v{move.previous_version})"}
