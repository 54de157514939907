"""Promotion and rollback as crash-safe transactions over the registry's aliases.

:func:`promote` moves ``@challenger`` to ``@champion`` only with a passed gate verdict (or
``force``, recorded); :func:`rollback` gives ``@champion`` back to the version that served before
the last committed move. Each move writes an intent record first, moves the aliases in a fixed
order with a ledger line after each, then audits and commits; :func:`recover` finishes or undoes
a move a dead process left behind (:mod:`closedloop.model.ledger`). :func:`audit_log` lists the
audited moves.

See Also
--------
Chapter :doc:`Training, tuning and the registry </book/03_training>`.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from closedloop.config import Workspace
from closedloop.model import ledger
from closedloop.model.registry import (
    AUDIT_EXPERIMENT,
    CHALLENGER,
    CHAMPION,
    DEFAULT_MODEL_NAME,
    GATE_CHAMPION_TAG,
    GATE_CHECK_PREFIX,
    GATE_VERDICT_TAG,
    PREVIOUS_CHAMPION,
    TAG,
    AliasMove,
    RegistryError,
    aliases,
    registered_model_exists,
    registry_client,
    require_store,
)


def promote(workspace: Workspace, version: str | None = None, *, reason: str,
            model_name: str = DEFAULT_MODEL_NAME, force: bool = False) -> AliasMove:
    """Make ``version`` (default: the ``@challenger``) the ``@champion``, if its gates passed.

    The version's latest gate verdict must be ``passed`` and must have been reached against the
    current champion (see :func:`gate_problem`); ``force=True`` promotes anyway and records
    ``forced`` in the audit trail. The old champion becomes ``@previous_champion``;
    ``@challenger`` is removed from the promoted version.

    Crash-safe (see ``_move``): a transaction left half done by an earlier process is first
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
    model_name = workspace.model_name(model_name)
    _require_registered(workspace, model_name, version)
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
    model_name = workspace.model_name(model_name)
    _require_registered(workspace, model_name)
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


#: Outcomes of :func:`recover`.
ROLLED_FORWARD, UNDONE = "rolled_forward", "undone"


@dataclass(frozen=True)
class Recovery:
    """What :func:`recover` did with a transaction an earlier process left in flight.

    ``outcome`` is ``rolled_forward`` (the move was finished) or ``undone`` (the aliases are as
    before it); ``move`` is the record of the interrupted promotion or rollback.
    """

    txn: str
    outcome: str
    move: AliasMove


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

    Raises
    ------
    NoRegistryError
        When the workspace has no model registry (nothing is created).
    """
    model_name = workspace.model_name(model_name)
    require_store(workspace)
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


def _require_registered(workspace: Workspace, model_name: str,
                        version: str | None = None) -> None:
    """Refuse (:class:`~closedloop.model.registry.RegistryError`, nothing created) a workspace without ``model_name`` and,
    if given, a ``version`` that is not one of its versions."""
    client = registry_client(workspace)
    if not registered_model_exists(client, model_name):
        raise RegistryError(f"{model_name} is not registered in {workspace.root}: train it "
                            "first")
    if version is None:
        return
    known = sorted((str(mv.version) for mv in client.search_model_versions(
        f"name = '{model_name}'")), key=int)
    if str(version) not in known:
        raise RegistryError(f"{model_name} has no version {version!r} (expected one of "
                            f"{', '.join(known) or 'none'})")


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
    """Every promotion and rollback of ``model_name``, oldest first.

    Read only: a store without the ``closedloop-registry`` experiment (no move audited yet)
    gives an empty table and the experiment is not created.

    Raises
    ------
    NoRegistryError
        When the workspace has no model registry (nothing is created).
    """
    columns = ["at", "action", "version", "previous_version", "reason", "forced", "gate_verdict"]
    model_name = workspace.model_name(model_name)
    client = registry_client(workspace)
    experiment = client.get_experiment_by_name(workspace.experiment_name(AUDIT_EXPERIMENT))
    if experiment is None:
        return pd.DataFrame(columns=columns)
    rows, token = [], None
    while True:  # every page; a move that failed midway left a FAILED run: not in the trail
        page = client.search_runs([experiment.experiment_id], filter_string=(
            f"tags.`{TAG}model_name` = '{model_name}' and attributes.status = 'FINISHED'"),
            max_results=1000, page_token=token)
        rows += [{"start_time": run.info.start_time,
                  **{k.removeprefix(TAG): v for k, v in run.data.tags.items()
                     if k.startswith(TAG)}} for run in page]
        token = page.token
        if not token:
            break
    if not rows:
        return pd.DataFrame(columns=columns)
    table = pd.DataFrame(rows).sort_values("start_time", kind="stable")
    return table.reindex(columns=columns).reset_index(drop=True)
