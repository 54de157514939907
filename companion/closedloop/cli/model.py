"""Commands of the model stage: ``train``, ``promote``, ``rollback``, ``status`` and ``history``.

``train`` tunes, trains and registers a version as ``@challenger``; ``promote`` and ``rollback``
move the ``@champion`` alias (with a reason kept in the audit trail and the alias ledger);
``status`` first finishes or undoes a move an interrupted process left half done, then prints
the aliases, the versions, the audit trail and the last ledger entries; ``history`` prints every
alias move the ledger holds.

See Also
--------
Chapter :doc:`Training, tuning and the registry </book/03_training>`.
"""

from __future__ import annotations

import argparse

from closedloop.cli._common import (
    EXIT_OK,
    Command,
    _dataset,
    _emit,
    add_data_options,
    whole_number,
)

#: Ledger entries ``closedloop status`` shows.
STATUS_HISTORY_ROWS = 6


def cmd_train(args: argparse.Namespace) -> int:
    from closedloop.contract.validation import validate
    from closedloop.model.registry import train_and_register
    from closedloop.model.train import TrainConfig

    df, schema, source = _dataset(args)
    validate(df, schema)  # a table that breaks its contract is refused before anything is written
    config = TrainConfig(n_trials=args.trials, seed=args.seed)
    result = train_and_register(df, schema, args.workspace, config, model_name=args.model_name,
                                data_source=source, progress=not args.quiet)
    metrics = "\n".join(f"  {k:<10} {v:.4f}" for k, v in result.metrics.items())
    _emit(args, result.to_dict(),
          f"registered {args.model_name} v{result.model_version} as @challenger "
          f"(threshold {result.threshold:.3f})\ntest metrics:\n{metrics}")
    return EXIT_OK


def cmd_promote(args: argparse.Namespace) -> int:
    from closedloop.model.promotion import promote

    move = promote(args.workspace, args.version, reason=args.reason, model_name=args.model_name,
                   force=args.force)
    _emit(args, move.to_dict(), f"v{move.version} is @champion (was v{move.previous_version})"
                                + (" FORCED without passed gates" if move.forced else ""))
    return EXIT_OK


def cmd_rollback(args: argparse.Namespace) -> int:
    from closedloop.model.promotion import rollback

    move = rollback(args.workspace, reason=args.reason, model_name=args.model_name)
    _emit(args, move.to_dict(), f"rolled back: v{move.version} is @champion again "
                                f"(v{move.previous_version} is @previous_champion)")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from closedloop.model.ledger import history
    from closedloop.model.promotion import audit_log, recover
    from closedloop.model.registry import aliases, versions

    recovered = recover(args.workspace, args.model_name, wait=False)
    table, audit = versions(args.workspace, args.model_name), audit_log(
        args.workspace, args.model_name)
    recent = history(args.workspace, args.model_name).tail(STATUS_HISTORY_ROWS)
    payload = {"aliases": aliases(args.workspace, args.model_name),
               "versions": table.to_dict("records"), "audit": audit.to_dict("records"),
               "history": recent.to_dict("records"),
               "recovered": None if recovered is None else {
                   "txn": recovered.txn, "outcome": recovered.outcome,
                   "action": recovered.move.action, "version": recovered.move.version}}
    note = "" if recovered is None else (
        f"recovered an interrupted {recovered.move.action} of v{recovered.move.version}: "
        f"{recovered.outcome.replace('_', ' ')}\n")
    columns = ["at", "alias", "from_version", "to_version", "action", "reason"]
    text = (f"{note}{args.model_name}: {payload['aliases']}\n"
            f"{table.to_string(index=False) if len(table) else 'no versions'}\n\n"
            f"{audit.to_string(index=False) if len(audit) else 'no promotions yet'}\n\n"
            f"last alias moves:\n"
            f"{recent[columns].to_string(index=False) if len(recent) else 'none'}")
    _emit(args, payload, text)
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    from closedloop.model.ledger import history, read_intent

    table = history(args.workspace, args.model_name)
    pending = read_intent(args.workspace, args.model_name)
    note = "" if pending is None else (
        f"\na {pending['action']} (transaction {pending['txn']}) is in flight or was "
        "interrupted: closedloop status finishes or undoes it")
    columns = ["at", "alias", "from_version", "to_version", "action", "reason", "forced",
               "gate_verdict", "user", "host", "pid"]
    _emit(args, table.to_dict("records"),
          (table[columns].to_string(index=False) if len(table) else "no alias moves yet") + note)
    return EXIT_OK


def _add_reason(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", required=True, help="why (kept in the audit trail)")


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``closedloop train``."""
    parser.add_argument("--trials", type=whole_number(0), default=20,
                        help="Optuna trials, a whole number >= 0 (0: no HPO)")
    parser.add_argument("--seed", type=int, default=42)
    add_data_options(parser, "your own table (.csv/.parquet) instead of Telco")


def add_promote_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``closedloop promote``."""
    parser.add_argument("--version", help="version to promote (default @challenger)")
    parser.add_argument("--force", action="store_true", help="promote without a passed "
                        "gate verdict (recorded in the audit trail)")
    _add_reason(parser)


def add_rollback_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``closedloop rollback``."""
    _add_reason(parser)


def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    """``closedloop status`` takes only the common options."""


def add_history_arguments(parser: argparse.ArgumentParser) -> None:
    """``closedloop history`` takes only the common options."""


COMMANDS: dict[str, Command] = {
    "train": (cmd_train, "tune, train and register a model as @challenger", add_train_arguments),
    "promote": (cmd_promote, "make a version (default @challenger) the @champion",
                add_promote_arguments),
    "rollback": (cmd_rollback, "give @champion back to @previous_champion",
                 add_rollback_arguments),
    "status": (cmd_status, "aliases, versions and the promotion audit trail",
               add_status_arguments),
    "history": (cmd_history, "every alias move (the alias ledger)", add_history_arguments),
}
