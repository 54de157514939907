"""The model registry: an MLflow pyfunc that returns label and probability, aliases, audit.

Every model is logged as a :class:`ClosedLoopModel` pyfunc whose ``predict`` returns a frame with
``prediction`` (0/1 at the threshold chosen on validation, stored with the model) and
``prediction_proba``, validated against the data contract before anything is predicted.

Aliases ``challenger``, ``champion`` and ``previous_champion`` say which version plays which role.
:func:`promote` and :func:`rollback` move them as one crash-safe transaction: an intent record is
written first, the aliases move in an order where every prefix leaves the serving version with an
alias (``@previous_champion`` before ``@champion``, ``@challenger`` last), each move is appended
to the alias ledger (:mod:`closedloop.model.ledger`), and a transaction that a crash, a kill or an
unavailable store interrupted is finished or undone by :func:`recover`, which the next
:func:`promote`, :func:`rollback` or ``closedloop status`` runs first. Each committed move is
also recorded as tags on the version and as a run in the ``closedloop-registry`` experiment,
which :func:`audit_log` reads back.

:func:`promote` refuses a version whose latest quality-gate verdict (written by
:func:`closedloop.gates.version.log_gate_report`) is missing or failed, or was reached against
another champion than the current one, unless it is forced; a forced promotion says so in the
audit trail.

See Also
--------
Chapter "Training, tuning and the registry" (``book/03_training.ipynb``); chapter "Quality gates"
(``book/04_quality_gates.ipynb``) for gated promotion.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from closedloop.config import Workspace
from closedloop.contract.schema import Schema
from closedloop.model import ledger
from closedloop.model.baselines import PipelineModel
from closedloop.model.train import TrainConfig, TrainResult, retrain_with_params, train

DEFAULT_MODEL_NAME = "closedloop-churn"
CHALLENGER, CHAMPION, PREVIOUS_CHAMPION = "challenger", "champion", "previous_champion"
ALIASES = (CHALLENGER, CHAMPION, PREVIOUS_CHAMPION)
AUDIT_EXPERIMENT = "closedloop-registry"
TAG = "closedloop."
#: Model-version tag holding the latest gate verdict, ``passed`` or ``failed``.
GATE_VERDICT_TAG = f"{TAG}gate_verdict"
#: Prefix of the one tag per gate check (``closedloop.gate.<check>`` = ``passed`` or ``failed``).
GATE_CHECK_PREFIX = f"{TAG}gate."
#: Model-version tag naming the champion the gates compared the version with (``none``: none).
GATE_CHAMPION_TAG = f"{TAG}gate_champion"
#: Run artifacts every registered version carries (see :mod:`closedloop.model.holdout`).
CONTRACT_ARTIFACT = "contract/schema.json"
HOLDOUT_ARTIFACT = "holdout.parquet"
TRAIN_ARTIFACT = "train.parquet"
VALIDATION_ARTIFACT = "validation.parquet"

try:  # mlflow is a core dependency; the guard only keeps the class definable in light contexts
    with warnings.catch_warnings():
        # Importing MLflow imports tqdm.auto, which in a notebook kernel without ipywidgets warns
        # "IProgress not found" (and then uses the console bar): noise in every chapter.
        warnings.filterwarnings("ignore", message="IProgress not found")
        from mlflow.pyfunc import PythonModel
except ImportError:  # pragma: no cover
    PythonModel = object  # type: ignore[assignment,misc]


class ClosedLoopModel(PythonModel):
    """Pyfunc wrapper: contract check, then ``prediction`` and ``prediction_proba``."""

    def bind(self, pipeline: Any, threshold: float, schema: Schema) -> ClosedLoopModel:
        """Attach a fitted pipeline, its threshold and its contract (what loading does)."""
        self.pipeline, self.threshold, self.schema = pipeline, float(threshold), schema
        return self

    def load_context(self, context: Any) -> None:
        """Load the pipeline, threshold and schema logged as the model's artifacts."""
        meta = json.loads(Path(context.artifacts["meta"]).read_text())
        self.bind(joblib.load(context.artifacts["pipeline"]), meta["threshold"],
                  Schema.from_dict(meta["schema"]))

    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Validate ``model_input`` against the contract, then return one row per input row with
        ``prediction`` (int64, 1 at or above the threshold) and ``prediction_proba`` (float64)."""
        # Columns beyond the features (ids, timestamps, the label) do not change a prediction,
        # so they are allowed; every feature column must honour the contract.
        return PipelineModel(self.pipeline, self.threshold, self.schema).predict(model_input)


class RegistryError(RuntimeError):
    """An alias move that cannot be done (no challenger, no previous champion, ...)."""


@dataclass(frozen=True)
class AliasMove:
    """The record of one promotion or rollback (also the JSON the CLI prints)."""

    action: str
    model_name: str
    version: str
    previous_version: str | None
    reason: str
    at: str
    aliases_before: dict[str, str]
    aliases_after: dict[str, str]
    forced: bool = False
    gate_verdict: str | None = None
    txn: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def log_model(result: TrainResult, schema: Schema, example: pd.DataFrame) -> Any:
    """Log ``result`` as a :class:`ClosedLoopModel` in the active MLflow run; return its info."""
    import mlflow
    from mlflow.models import infer_signature

    features = example[schema.feature_names].head(5)
    with tempfile.TemporaryDirectory() as tmp:
        pipeline_path = Path(tmp) / "pipeline.joblib"
        meta_path = Path(tmp) / "meta.json"
        joblib.dump(result.pipeline, pipeline_path)
        meta_path.write_text(json.dumps({
            "threshold": result.threshold, "schema": schema.to_dict(), "params": result.params,
        }, indent=1))
        output = ClosedLoopModel().bind(result.pipeline, result.threshold, schema)
        with warnings.catch_warnings():
            # MLflow's hint that int columns cannot hold nulls: the contract already forbids them.
            warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
            signature = infer_signature(features, output.predict(None, features))
            return mlflow.pyfunc.log_model(
                name="model", python_model=str(Path(__file__).with_name("_pyfunc_entry.py")),
                signature=signature,
                artifacts={"pipeline": str(pipeline_path), "meta": str(meta_path)},
                input_example=features, pip_requirements=_requirements(),
            )


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in
            ("mlflow", "lightgbm", "scikit-learn", "pandas", "numpy", "joblib")]


def train_and_register(df: pd.DataFrame, schema: Schema, workspace: Workspace,
                       config: TrainConfig = TrainConfig(), *,
                       model_name: str = DEFAULT_MODEL_NAME, data_source: str = "",
                       params: dict[str, Any] | None = None, progress: bool = False,
                       **train_kwargs: Any) -> TrainResult:
    """Train inside an MLflow run, log the pyfunc with lineage, register it as ``@challenger``.

    With ``params=None`` hyperparameters are tuned (``config.n_trials`` trials, each a nested
    run); with ``params`` given (e.g. :func:`model_params` of the champion) they are reused as
    they are, through :func:`closedloop.model.train.retrain_with_params`.

    The run also stores the contract, the holdout (the test split), the training rows (train and
    validation splits) and the validation rows (:func:`log_contract`), so the version can be
    judged, monitored and retrained later without the table it was trained on.
    """
    import mlflow

    from closedloop.model.train import split_data

    with workspace.mlflow(), mlflow.start_run(run_name=f"train-{schema.name}") as run:
        log_lineage(df, schema, data_source)
        if params is None:
            result = train(df, schema, config, log_trials=True, progress=progress, **train_kwargs)
        else:
            result = retrain_with_params(df, schema, params, config, **train_kwargs)
        mlflow.log_params({**result.params, "threshold": result.threshold,
                           **{f"config.{k}": v for k, v in vars(config).items()}})
        mlflow.log_metrics({f"test_{k}": v for k, v in result.metrics.items()})
        mlflow.log_metrics({f"valid_{k}": v for k, v in result.valid_metrics.items()})
        mlflow.log_metrics({k: v for k, v in result.split_summary.items()})
        if len(result.trials):
            mlflow.log_table(result.trials, "hpo_trials.json")
        info = log_model(result, schema, df)
        splits = split_data(df, schema, config)  # the split train() made: same rows, same order
        log_contract(schema, splits.test, pd.concat([splits.train, splits.valid],
                                                    ignore_index=True), splits.valid)
        result.run_id = run.info.run_id
    result.model_version = register(workspace, info.model_uri, result, model_name=model_name)
    return result


def data_hash(df: pd.DataFrame) -> str:
    """Fingerprint of a table, as logged for lineage: SHA-256 of its row hashes in order.

    Row order matters (a shuffled copy has another hash, and would split into another holdout);
    the index does not.

    Examples
    --------
    >>> df = pd.DataFrame({"a": [1, 2, 3]})
    >>> data_hash(df) == data_hash(df.set_axis([7, 8, 9]))
    True
    >>> data_hash(df) == data_hash(df.iloc[::-1])
    False
    """
    import hashlib

    rows = pd.util.hash_pandas_object(df, index=False).to_numpy()
    return hashlib.sha256(rows.tobytes()).hexdigest()


def legacy_data_hash(df: pd.DataFrame) -> str:
    """The 16-digit hash logged before :func:`data_hash` (sum of row hashes, order-insensitive);
    only to recognise the training table of a version registered then."""
    digest = int(pd.util.hash_pandas_object(df, index=False).sum())
    return f"{digest & (2**64 - 1):016x}"


def log_contract(schema: Schema, holdout: pd.DataFrame, train_rows: pd.DataFrame,
                 validation: pd.DataFrame | None = None) -> None:
    """Log a version's contract and data as artifacts of the active MLflow run.

    ``contract/schema.json`` (``schema.to_dict()``), ``holdout.parquet`` (its test rows),
    ``train.parquet`` (the rows it was trained on) and, if given, ``validation.parquet``; each
    table keeps the contract's columns (target and entity id included), in its order.
    """
    import mlflow

    def contract_columns(df: pd.DataFrame) -> pd.DataFrame:
        return df[[c for c in schema.names if c in df.columns]].reset_index(drop=True)

    tables = {HOLDOUT_ARTIFACT: holdout, TRAIN_ARTIFACT: train_rows,
              VALIDATION_ARTIFACT: validation}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "schema.json").write_text(json.dumps(schema.to_dict(), indent=1))
        mlflow.log_artifact(str(folder / "schema.json"), str(Path(CONTRACT_ARTIFACT).parent))
        for name, table in tables.items():
            if table is not None:
                contract_columns(table).to_parquet(folder / name, index=False)
                mlflow.log_artifact(str(folder / name))


def log_lineage(df: pd.DataFrame, schema: Schema, source: str) -> None:
    """Log ``df`` as the training input of the active MLflow run, with its rows and hash as tags."""
    import mlflow

    with warnings.catch_warnings():
        # MLflow hints that int columns cannot hold nulls (the contract already forbids them) and
        # cannot tell what kind of source a free-text description is (it goes in a tag instead).
        warnings.filterwarnings("ignore", category=UserWarning)
        dataset = mlflow.data.from_pandas(df, source=source if Path(source).is_file() else None,
                                          name=schema.name, targets=schema.target)
        mlflow.log_input(dataset, context="training")
    mlflow.set_tags({f"{TAG}data.rows": len(df), f"{TAG}data.hash": data_hash(df),
                     f"{TAG}data.source": source or "in-memory", f"{TAG}schema": schema.name})


def register(workspace: Workspace, model_uri: str, result: TrainResult, *,
             model_name: str = DEFAULT_MODEL_NAME, alias: str = CHALLENGER) -> str:
    """Create a model version from ``model_uri``, tag it with its metrics and hyperparameters,
    and set ``alias`` on it. Returns the version number as a string."""
    client = workspace.client()
    if not client.search_registered_models(filter_string=f"name = '{model_name}'"):
        client.create_registered_model(model_name)
    # The sqlite store resolves a `models:/m-...` source through the global tracking URI.
    with workspace.mlflow():
        version = client.create_model_version(model_name, model_uri, run_id=result.run_id).version
    tags = {f"{TAG}test_metrics": json.dumps(result.metrics),
            f"{TAG}hyperparameters": json.dumps(result.params),
            f"{TAG}threshold": str(result.threshold)}
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, key, value)
    client.set_registered_model_alias(model_name, alias, version)
    return str(version)


def aliases(workspace: Workspace, model_name: str = DEFAULT_MODEL_NAME) -> dict[str, str]:
    """Current ``alias -> version`` of the registered model (empty if it does not exist).

    The store as it is: if a promotion or rollback was interrupted, this may be a state in the
    middle of it (still one where the serving version has an alias). Call :func:`recover` first
    when the answer must be consistent.
    """
    client = workspace.client()
    if not client.search_registered_models(filter_string=f"name = '{model_name}'"):
        return {}
    return {k: str(v) for k, v in client.get_registered_model(model_name).aliases.items()}


def promote(workspace: Workspace, version: str | None = None, *, reason: str,
            model_name: str = DEFAULT_MODEL_NAME, force: bool = False) -> AliasMove:
    """Make ``version`` (default: the ``@challenger``) the ``@champion``, if its gates passed.

    The version's latest gate verdict must be ``passed`` and must have been reached against the
    current champion (see :func:`gate_problem`); ``force=True`` promotes anyway and records
    ``forced`` in the audit trail. The old champion becomes ``@previous_champion``;
    ``@challenger`` is removed from the promoted version.

    Crash-safe (see :func:`_move`): a transaction left half done by an earlier process is first
    finished or undone by :func:`recover`; if that finished a promotion of this same version
    (or of the challenger, when ``version`` is None), its record is returned and nothing more
    is done, so re-running an interrupted ``promote`` ends where an uninterrupted one would.
    On an error the aliases are put back and the error re-raised.

    Parameters
    ----------
    workspace : Workspace
        The workspace holding the MLflow store and the ledger.
    version : str, optional
        The version to promote; default the ``@challenger``.
    reason : str
        Why (kept in the audit trail and the ledger); must not be blank.
    model_name : str
        The registered model.
    force : bool
        Promote even without a passed, current gate verdict.

    Returns
    -------
    AliasMove
    """
    _require_reason(reason)
    with ledger.lock(workspace, model_name):
        recovered = _recover(workspace, model_name)
        if (recovered is not None and recovered.outcome == ROLLED_FORWARD
                and recovered.move.action == "promote"
                and (version is None or str(version) == recovered.move.version)):
            return recovered.move
        before = aliases(workspace, model_name)
        version = str(version or before.get(CHALLENGER) or "")
        if not version:
            raise RegistryError(f"{model_name} has no @{CHALLENGER} to promote; pass a version")
        if before.get(CHAMPION) == version:
            raise RegistryError(f"version {version} of {model_name} is already @{CHAMPION}")
        tags = workspace.client().get_model_version(model_name, version).tags
        problem = gate_problem(tags, before.get(CHAMPION))
        if problem and not force:
            raise RegistryError(
                f"version {version} of {model_name} cannot be promoted: {problem}. Run the "
                "quality gates (closedloop validate, or closedloop.gates.gate_version), or "
                "force it")
        after = {k: v for k, v in before.items() if not (k == CHALLENGER and v == version)}
        after[CHAMPION] = version
        if CHAMPION in before:
            after[PREVIOUS_CHAMPION] = before[CHAMPION]
        return _move(workspace, model_name, "promote", version, before, after, reason,
                     forced=force, gate_verdict=tags.get(GATE_VERDICT_TAG, "missing"))


def gate_problem(tags: dict[str, str], champion: str | None) -> str | None:
    """Why a version with these tags may not be promoted over ``champion`` (None: it may).

    Examples
    --------
    >>> gate_problem({}, None)
    'it has no quality-gate verdict'
    >>> gate_problem({GATE_VERDICT_TAG: "failed", GATE_CHECK_PREFIX + "floor.f1": "failed"}, "1")
    'its quality gates failed (floor.f1)'
    >>> gate_problem({GATE_VERDICT_TAG: "passed", GATE_CHAMPION_TAG: "none"}, "3")
    'its gates ran with no champion, but the champion is now version 3'
    """
    verdict = tags.get(GATE_VERDICT_TAG)
    if verdict is None:
        return "it has no quality-gate verdict"
    if verdict != "passed":
        failed = sorted(k.removeprefix(GATE_CHECK_PREFIX) for k, v in tags.items()
                        if k.startswith(GATE_CHECK_PREFIX) and v != "passed")
        return f"its quality gates failed ({', '.join(failed) or verdict})"
    compared = tags.get(GATE_CHAMPION_TAG, "none")
    if compared != (champion or "none"):
        against = "no champion" if compared == "none" else f"champion version {compared}"
        now = f"version {champion}" if champion else "none"
        return f"its gates ran with {against}, but the champion is now {now}"
    return None


def rollback(workspace: Workspace, *, reason: str,
             model_name: str = DEFAULT_MODEL_NAME) -> AliasMove:
    """Give ``@champion`` back to the version that served before the last committed move.

    The target is read from the ledger (:mod:`closedloop.model.ledger`): the version that was
    ``@champion`` before the last promotion or rollback that committed, whatever the aliases
    say now; without a ledger entry (a workspace older than the ledger) it is
    ``@previous_champion``. The demoted version becomes ``@previous_champion``, so a second
    rollback undoes the first. Crash-safe like :func:`promote`: if :func:`recover` finishes an
    interrupted rollback, that rollback's record is returned and no second rollback is done.

    Parameters
    ----------
    workspace : Workspace
        The workspace holding the MLflow store and the ledger.
    reason : str
        Why (kept in the audit trail and the ledger); must not be blank.
    model_name : str
        The registered model.

    Returns
    -------
    AliasMove
    """
    _require_reason(reason)
    with ledger.lock(workspace, model_name):
        recovered = _recover(workspace, model_name)
        if (recovered is not None and recovered.outcome == ROLLED_FORWARD
                and recovered.move.action == "rollback"):
            return recovered.move
        before = aliases(workspace, model_name)
        commit = ledger.last_commit(workspace, model_name)
        target = commit["serving_before"] if commit else before.get(PREVIOUS_CHAMPION)
        if CHAMPION not in before or target is None:
            raise RegistryError(f"{model_name} has no @{PREVIOUS_CHAMPION} to roll back to "
                                "(no version served before the last promotion)")
        if target == before[CHAMPION]:
            raise RegistryError(f"version {target} of {model_name}, which served before the "
                                f"last promotion, is already @{CHAMPION}")
        after = {**before, CHAMPION: target, PREVIOUS_CHAMPION: before[CHAMPION]}
        return _move(workspace, model_name, "rollback", target, before, after, reason)


@dataclass(frozen=True)
class Recovery:
    """What :func:`recover` did with a transaction an earlier process left in flight.

    ``outcome`` is ``rolled_forward`` (the move was finished) or ``undone`` (the aliases are as
    before it); ``move`` is the record of the interrupted promotion or rollback.
    """

    txn: str
    outcome: str
    move: AliasMove


ROLLED_FORWARD, UNDONE = "rolled_forward", "undone"
#: The order a transaction moves aliases in: the serving champion is recorded as
#: ``@previous_champion`` before ``@champion`` moves, ``@challenger`` is cleared last. Every
#: prefix leaves the serving version with an alias. Undoing walks it backwards.
MOVE_ORDER = (PREVIOUS_CHAMPION, CHAMPION, CHALLENGER)


def recover(workspace: Workspace, model_name: str = DEFAULT_MODEL_NAME, *,
            wait: bool = True) -> Recovery | None:
    """Finish or undo a promotion or rollback that an earlier process left half done.

    Call it before reading the aliases when they must be consistent (``closedloop status``,
    the quality gates); :func:`promote` and :func:`rollback` call it themselves. Idempotent:
    recovering twice is recovering once.

    The rule: the intent record (``<workdir>/registry/intent-<model>.json``) says what the
    transaction wanted. Alias moves the killed process made but did not write to the ledger are
    written first (action ``recover``). Then, if ``@champion`` already points at the target
    (the commit point) and the process had not decided to abort, the remaining moves and the
    audit record are completed (roll forward); otherwise every alias is put back as it was,
    the version's audit tags are restored and any audit run of the transaction is withdrawn
    (undo). Either way the ledger gets a ``commit`` or ``abort`` entry and the intent goes.

    Parameters
    ----------
    workspace : Workspace
        The workspace holding the MLflow store and the ledger.
    model_name : str
        The registered model.
    wait : bool
        Wait for a promotion or rollback in progress in another process; with False, return
        None at once if one holds the lock.

    Returns
    -------
    Recovery or None
        None if nothing was in flight (or, with ``wait=False``, another process is moving it).
    """
    with ledger.lock(workspace, model_name, wait=wait) as held:
        return _recover(workspace, model_name) if held else None


def _recover(workspace: Workspace, model_name: str) -> Recovery | None:
    intent = ledger.read_intent(workspace, model_name)
    if intent is None:
        return None
    client = workspace.client()
    record = AliasMove(**intent["record"])
    current = aliases(workspace, model_name)
    _reconcile(workspace, model_name, intent, current)
    _withdraw_unfinished_audit(workspace, client, intent["txn"], keep_finished=True)
    if intent["state"] == "pending" and current.get(CHAMPION) == intent["after"].get(CHAMPION):
        _apply(workspace, client, model_name, intent, intent["after"], "recover", MOVE_ORDER)
        if not _audit_runs(workspace, client, intent["txn"], "FINISHED"):
            _write_audit(workspace, client, record)
        ledger.fault("recover:after_audit")
        _commit(workspace, model_name, intent, recovered=True)
        return Recovery(intent["txn"], ROLLED_FORWARD, record)
    _undo(workspace, client, model_name, intent)
    return Recovery(intent["txn"], UNDONE, record)


def _move(workspace: Workspace, model_name: str, action: str, version: str,
          before: dict[str, str], after: dict[str, str], reason: str, *, forced: bool = False,
          gate_verdict: str | None = None) -> AliasMove:
    """Move the aliases from ``before`` to ``after`` as one crash-safe transaction.

    Write order: the intent (atomically, before anything else), then each alias in
    :data:`MOVE_ORDER`, each followed by its ledger line, then the audit (version tags and a run
    in the ``closedloop-registry`` experiment), then a ``commit`` ledger line, then the intent is
    removed. On an exception before the audit is complete the intent is marked ``aborting`` and
    everything is undone; if the undo fails too (the store is gone) the intent stays for
    :func:`recover`, which finishes the undo. Caller holds the lock.
    """
    _require_reason(reason)
    txn = ledger.new_txn()
    record = AliasMove(action, model_name, version, before.get(CHAMPION), reason,
                       datetime.now(timezone.utc).isoformat(timespec="seconds"), before, after,
                       forced, gate_verdict, txn)
    client = workspace.client()
    tags = client.get_model_version(model_name, version).tags
    intent = {"txn": txn, "state": "pending", "action": action, "record": record.to_dict(),
              "before": before, "after": after,
              "audit_tags_before": {k: tags[k] for k in _audit_tag_keys(action) if k in tags}}
    ledger.write_intent(workspace, model_name, intent)
    ledger.fault(f"{action}:after_intent")
    try:
        _apply(workspace, client, model_name, intent, after, action, MOVE_ORDER)
        _write_audit(workspace, client, record)
        ledger.fault(f"{action}:after_audit")
    except BaseException:
        intent["state"] = "aborting"
        with contextlib.suppress(Exception):
            ledger.write_intent(workspace, model_name, intent)
        with contextlib.suppress(Exception):
            _undo(workspace, client, model_name, intent)
        raise
    # Past the audit the move is done: if the commit line cannot be written, the pending intent
    # makes the next recover() finish it, never undo it.
    _commit(workspace, model_name, intent)
    return record


def _apply(workspace: Workspace, client: Any, model_name: str, intent: dict[str, Any],
           target: dict[str, str], action: str, order: tuple[str, ...]) -> None:
    """Move each alias of ``order`` to ``target``, one ledger line after each move."""
    current = aliases(workspace, model_name)
    for alias in order:
        have, want = current.get(alias), target.get(alias)
        if have == want:
            continue
        if want is None:
            client.delete_registered_model_alias(model_name, alias)
        else:
            client.set_registered_model_alias(model_name, alias, want)
        ledger.fault(f"{action}:after_{alias}")
        _log_move(workspace, model_name, intent, alias, have, want, action)


def _log_move(workspace: Workspace, model_name: str, intent: dict[str, Any], alias: str,
              old: str | None, new: str | None, action: str, **extra: Any) -> None:
    record = intent["record"]
    ledger.append(workspace, model_name, {
        "kind": "move", "txn": intent["txn"], "alias": alias, "from_version": old,
        "to_version": new, "action": action, "txn_action": intent["action"],
        "version": record["version"], "reason": record["reason"],
        "gate_verdict": record["gate_verdict"], "forced": record["forced"], **extra})


def _reconcile(workspace: Workspace, model_name: str, intent: dict[str, Any],
               current: dict[str, str]) -> None:
    """Write to the ledger the moves of ``intent`` that happened but were not recorded."""
    seen = ledger.replay(intent["before"], ledger.moves(workspace, model_name, intent["txn"]))
    for alias in MOVE_ORDER:
        if seen.get(alias) != current.get(alias):
            _log_move(workspace, model_name, intent, alias, seen.get(alias), current.get(alias),
                      "recover", recorded_after_crash=True)


def _undo(workspace: Workspace, client: Any, model_name: str, intent: dict[str, Any]) -> None:
    """Put every alias back as it was before ``intent``, withdraw its audit, record the abort."""
    _apply(workspace, client, model_name, intent, intent["before"], "recover",
           tuple(reversed(MOVE_ORDER)))
    version, action = intent["record"]["version"], intent["action"]
    current = client.get_model_version(model_name, version).tags
    wanted = {k: v for k, v in current.items() if k not in _audit_tag_keys(action)}
    _restore_tags(client, model_name, version, {**wanted, **intent["audit_tags_before"]})
    _withdraw_unfinished_audit(workspace, client, intent["txn"], keep_finished=False)
    if not any(e.get("kind") == "abort" and e.get("txn") == intent["txn"]
               for e in ledger.entries(workspace, model_name)):
        ledger.append(workspace, model_name, {"kind": "abort", "txn": intent["txn"],
                                              "action": action, "version": version})
    ledger.clear_intent(workspace, model_name)


def _commit(workspace: Workspace, model_name: str, intent: dict[str, Any], *,
            recovered: bool = False) -> None:
    if not any(e.get("kind") == "commit" and e.get("txn") == intent["txn"]
               for e in ledger.entries(workspace, model_name)):
        record = intent["record"]
        ledger.append(workspace, model_name, {
            "kind": "commit", "txn": intent["txn"], "action": intent["action"],
            "version": record["version"], "reason": record["reason"],
            "serving_before": intent["before"].get(CHAMPION),
            "serving_after": intent["after"].get(CHAMPION), "recovered": recovered})
    ledger.clear_intent(workspace, model_name)


def _audit_tag_keys(action: str) -> set[str]:
    return {f"{TAG}{action}d_at", f"{TAG}{action}_reason", f"{TAG}{action}_previous_champion",
            f"{TAG}{action}_forced"}


def _audit_runs(workspace: Workspace, client: Any, txn: str, status: str | None = None) -> list:
    experiment = client.get_experiment_by_name(AUDIT_EXPERIMENT)
    if experiment is None:
        return []
    query = f"tags.`{TAG}txn` = '{txn}'"
    if status:
        query += f" and attributes.status = '{status}'"
    return client.search_runs([experiment.experiment_id], filter_string=query)


def _withdraw_unfinished_audit(workspace: Workspace, client: Any, txn: str, *,
                               keep_finished: bool) -> None:
    """Mark the audit runs of ``txn`` KILLED (only the RUNNING ones if ``keep_finished``)."""
    for run in _audit_runs(workspace, client, txn):
        if run.info.status == "RUNNING" or (not keep_finished and run.info.status == "FINISHED"):
            client.set_terminated(run.info.run_id, "KILLED")


def _require_reason(reason: str) -> None:
    if not reason.strip():
        raise ValueError("a promotion or rollback needs a reason (it goes into the audit trail)")


def _restore_tags(client: Any, model_name: str, version: str, wanted: dict[str, str]) -> None:
    current = client.get_model_version(model_name, version).tags
    for key in current.keys() - wanted.keys():
        client.delete_model_version_tag(model_name, version, key)
    for key, value in wanted.items():
        if current.get(key) != value:
            client.set_model_version_tag(model_name, version, key, value)


def _write_audit(workspace: Workspace, client: Any, record: AliasMove) -> None:
    """Tag the version and log a run in ``closedloop-registry`` (tagged with the transaction id,
    from its creation, so :func:`recover` can tell whether the audit of a transaction exists)."""
    import mlflow

    tags = {f"{TAG}{record.action}d_at": record.at, f"{TAG}{record.action}_reason": record.reason,
            f"{TAG}{record.action}_previous_champion": str(record.previous_version)}
    if record.action == "promote":
        tags[f"{TAG}promote_forced"] = str(record.forced).lower()
    for key, value in tags.items():
        client.set_model_version_tag(record.model_name, record.version, key, value)
    metrics = client.get_model_version(record.model_name, record.version).tags.get(
        f"{TAG}test_metrics", "{}")
    run_tags = {f"{TAG}{k}": json.dumps(v) if isinstance(v, dict) else str(v)
                for k, v in record.to_dict().items()}
    with workspace.mlflow(AUDIT_EXPERIMENT), mlflow.start_run(
            run_name=f"{record.action}-v{record.version}", tags=run_tags):
        mlflow.log_metrics({f"test_{k}": v for k, v in json.loads(metrics).items()})


def audit_log(workspace: Workspace, model_name: str = DEFAULT_MODEL_NAME) -> pd.DataFrame:
    """Every promotion and rollback of ``model_name``, oldest first."""
    import mlflow

    columns = ["at", "action", "version", "previous_version", "reason", "forced", "gate_verdict"]
    with workspace.mlflow(AUDIT_EXPERIMENT) as experiment_id:
        # A move that failed midway leaves a FAILED run behind: it is not part of the trail.
        runs = mlflow.search_runs([experiment_id], filter_string=(
            f"tags.`{TAG}model_name` = '{model_name}' and attributes.status = 'FINISHED'"))
    if runs.empty:
        return pd.DataFrame(columns=columns)
    table = runs.sort_values("start_time", kind="stable")
    table = table.rename(columns=lambda c: c.removeprefix(f"tags.{TAG}"))
    return table.reindex(columns=columns).reset_index(drop=True)


def load_model(workspace: Workspace, alias: str = CHAMPION, *,
               model_name: str = DEFAULT_MODEL_NAME) -> Any:
    """Load ``models:/<model_name>@<alias>`` as a pyfunc; a version number instead of an alias
    (``"3"``) loads that version."""
    import mlflow

    ref = f"{model_name}/{alias}" if str(alias).isdigit() else f"{model_name}@{alias}"
    with workspace.mlflow():
        return mlflow.pyfunc.load_model(f"models:/{ref}")


def model_params(workspace: Workspace, alias: str = CHAMPION, *,
                 model_name: str = DEFAULT_MODEL_NAME) -> dict[str, Any]:
    """The hyperparameters stored with the version behind ``alias`` (typed, from JSON)."""
    version = workspace.client().get_model_version_by_alias(model_name, alias)
    return json.loads(version.tags[f"{TAG}hyperparameters"])


def versions(workspace: Workspace, model_name: str = DEFAULT_MODEL_NAME) -> pd.DataFrame:
    """One row per version: aliases, threshold and holdout metrics."""
    client = workspace.client()
    roles = {}
    for alias, version in aliases(workspace, model_name).items():
        roles.setdefault(version, []).append(alias)
    rows = []
    for mv in client.search_model_versions(f"name = '{model_name}'"):
        metrics = json.loads(mv.tags.get(f"{TAG}test_metrics", "{}"))
        rows.append({"version": str(mv.version), "aliases": ",".join(roles.get(str(mv.version), [])),
                     "threshold": float(mv.tags.get(f"{TAG}threshold", "nan")),
                     **{f"test_{k}": v for k, v in metrics.items()}, "run_id": mv.run_id})
    table = pd.DataFrame(rows)
    return table.sort_values("version", key=lambda v: v.astype(int)).reset_index(drop=True) \
        if len(table) else table
