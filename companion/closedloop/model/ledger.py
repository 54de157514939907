"""The alias ledger, the intent record and the lock that make promotion and rollback crash-safe.

Everything lives in ``<workdir>/registry/``, next to the MLflow store, as plain files a person can
read when MLflow cannot be:

``intent-<model>.json``
    The transaction in flight: the aliases before and after, the promotion or rollback record, and
    its state (``pending``, or ``aborting`` once the process decided to undo it). Written
    atomically (temporary file, ``fsync``, :func:`os.replace`, ``fsync`` of the folder) before the
    first alias moves, removed after the last write. Its presence means "an alias move may be
    half done": :func:`~closedloop.model.promotion.recover` finishes or undoes it.
``ledger-<model>.jsonl``
    Append-only JSON lines, one ``fsync`` per line. ``kind = "move"``: one alias moved (when,
    alias, from version, to version, action ``promote``, ``rollback`` or ``recover``, reason, gate
    verdict, forced, process id, host, user, transaction id); ``kind = "commit"``: a transaction
    finished, with the version serving before and after it; ``kind = "abort"``: a transaction was
    undone. A line cut short by a crash (the last line, unparsable) is ignored.
``lock-<model>``
    An advisory :func:`fcntl.flock` lock held for the whole of a promotion, rollback or recovery,
    so a recovery never races a live transaction. The kernel drops it when its process dies,
    SIGKILL included.

A file, not an MLflow tag, holds the intent because an intent must survive the store being
unavailable (the failure it protects against) and must be replaced atomically; a registered-model
tag is neither.

Fault injection: :func:`fault` is called at named points of a transaction. With
``CLOSEDLOOP_FAULT=<point>[,<point>...]`` the process kills itself with SIGKILL at that point
(``<point>=raise`` raises :class:`InjectedFault` instead); ``CLOSEDLOOP_FAULT_DELAY=<seconds>``
sleeps at every point (so a test can kill at a random moment inside a transaction). When neither
variable is set a point costs one dictionary lookup. The points are :data:`FAULT_POINTS`.

See Also
--------
:func:`~closedloop.model.promotion.promote`, :func:`~closedloop.model.promotion.rollback`,
:func:`~closedloop.model.promotion.recover`.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from closedloop.config import Workspace

FAULT_ENV = "CLOSEDLOOP_FAULT"
FAULT_DELAY_ENV = "CLOSEDLOOP_FAULT_DELAY"
#: Named points where :func:`fault` may kill the process. ``after_<alias>``: that alias has moved
#: in the store but the ledger does not say so yet; ``after_intent``: the intent is on disk, no
#: alias has moved; ``after_audit``: the audit is written, the transaction is not committed.
#: ``recover:*`` are the same points inside a recovery.
FAULT_POINTS = tuple(f"{action}:{step}" for action in ("promote", "rollback", "recover")
                     for step in ("after_intent", "after_previous_champion", "after_champion",
                                  "after_challenger", "after_audit")
                     if not (action == "rollback" and step == "after_challenger"))

#: Columns of :func:`history`.
HISTORY_COLUMNS = ["at", "alias", "from_version", "to_version", "action", "reason",
                   "gate_verdict", "forced", "txn", "pid", "host", "user"]


class InjectedFault(ConnectionError):
    """Raised at a fault point named with ``=raise`` in ``CLOSEDLOOP_FAULT``."""


def fault(point: str) -> None:
    """Kill the process (or raise, or sleep) at ``point`` if ``CLOSEDLOOP_FAULT`` names it.

    Examples
    --------
    >>> fault("promote:after_champion")  # the variable is unset: nothing happens
    """
    delay = os.environ.get(FAULT_DELAY_ENV)
    if delay:
        time.sleep(float(delay))
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    for item in spec.split(","):
        name, _, how = item.strip().partition("=")
        if name == point:
            if how == "raise":
                raise InjectedFault(f"fault injected at {point}")
            os.kill(os.getpid(), signal.SIGKILL)


def registry_dir(workspace: Workspace) -> Path:
    """``<workdir>/registry``, created if needed (by the writers only: reading the ledger or
    the intent creates nothing)."""
    folder = _folder(workspace)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _folder(workspace: Workspace) -> Path:
    return workspace.root / "registry"


def _safe(model_name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in model_name)


def intent_path(workspace: Workspace, model_name: str) -> Path:
    """Where the intent of ``model_name``'s transaction in flight is kept."""
    return _folder(workspace) / f"intent-{_safe(model_name)}.json"


def ledger_path(workspace: Workspace, model_name: str) -> Path:
    """The append-only alias ledger of ``model_name``."""
    return _folder(workspace) / f"ledger-{_safe(model_name)}.jsonl"


def new_txn() -> str:
    """A fresh transaction id."""
    return uuid.uuid4().hex[:12]


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_intent(workspace: Workspace, model_name: str, intent: dict[str, Any]) -> None:
    """Write (or replace) the intent atomically: a reader sees the old one or the new one."""
    registry_dir(workspace)
    path = intent_path(workspace, model_name)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as handle:
        handle.write(json.dumps(intent, indent=1))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def read_intent(workspace: Workspace, model_name: str) -> dict[str, Any] | None:
    """The intent in flight, or None."""
    path = intent_path(workspace, model_name)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def clear_intent(workspace: Workspace, model_name: str) -> None:
    """Remove the intent (idempotent)."""
    path = intent_path(workspace, model_name)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        _fsync_dir(path.parent)


def _who() -> dict[str, Any]:
    try:
        user = getpass.getuser()
    except Exception:  # no login name (some containers)
        user = str(os.getuid())
    return {"pid": os.getpid(), "host": socket.gethostname(), "user": user}


def append(workspace: Workspace, model_name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """Append ``entry`` (plus time, model, process id, host and user) durably; return it."""
    full = {"at": datetime.now(timezone.utc).isoformat(timespec="microseconds"),
            "model": model_name, **entry, **_who()}
    line = (json.dumps(full) + "\n").encode()
    registry_dir(workspace)
    fd = os.open(ledger_path(workspace, model_name), os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    return full


def entries(workspace: Workspace, model_name: str) -> list[dict[str, Any]]:
    """Every ledger line of ``model_name``, oldest first (a torn last line is skipped)."""
    path = ledger_path(workspace, model_name)
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    found = []
    for i, line in enumerate(lines):
        try:
            found.append(json.loads(line))
        except json.JSONDecodeError:
            if i != len(lines) - 1:
                raise
    return found


def moves(workspace: Workspace, model_name: str, txn: str | None = None) -> list[dict[str, Any]]:
    """The ``move`` entries (of transaction ``txn`` only, if given)."""
    return [e for e in entries(workspace, model_name)
            if e.get("kind") == "move" and (txn is None or e.get("txn") == txn)]


def last_commit(workspace: Workspace, model_name: str) -> dict[str, Any] | None:
    """The latest ``commit`` entry, or None."""
    commits = [e for e in entries(workspace, model_name) if e.get("kind") == "commit"]
    return commits[-1] if commits else None


def replay(start: dict[str, str], found: list[dict[str, Any]]) -> dict[str, str]:
    """The aliases that ``start`` becomes once the ``move`` entries ``found`` are applied.

    Examples
    --------
    >>> replay({"champion": "1"}, [{"kind": "move", "alias": "champion", "to_version": "2"},
    ...                            {"kind": "move", "alias": "challenger", "to_version": None}])
    {'champion': '2'}
    """
    state = dict(start)
    for entry in found:
        if entry.get("kind") != "move":
            continue
        if entry["to_version"] is None:
            state.pop(entry["alias"], None)
        else:
            state[entry["alias"]] = entry["to_version"]
    return state


def history(workspace: Workspace, model_name: str = "closedloop-churn") -> pd.DataFrame:
    """Every alias move of ``model_name``, oldest first (columns :data:`HISTORY_COLUMNS`).

    Parameters
    ----------
    workspace : Workspace
        The workspace whose ``registry/`` folder holds the ledger.
    model_name : str
        The registered model.

    Returns
    -------
    pandas.DataFrame
        One row per alias move; ``from_version`` or ``to_version`` is None when the alias did
        not exist before or was removed.

    Raises
    ------
    NoRegistryError
        When the workspace has no model registry (nothing is created).
    """
    from closedloop.model.registry import require_store

    require_store(workspace)
    rows = moves(workspace, workspace.model_name(model_name))
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS) if rows else pd.DataFrame(
        columns=HISTORY_COLUMNS)


@contextlib.contextmanager
def lock(workspace: Workspace, model_name: str, *, wait: bool = True) -> Iterator[bool]:
    """Hold the registry lock of ``model_name``; yields False if ``wait=False`` and it is taken.

    Reentrant within one process is not supported: take it once per transaction.
    """
    import fcntl

    path = registry_dir(workspace) / f"lock-{_safe(model_name)}"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
