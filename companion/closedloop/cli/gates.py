"""Command of the quality-gate stage: ``validate``.

``validate`` runs the quality gates on a registered version (default ``@challenger``, else the
``@champion``) with a
preset or a settings file, on the holdout and contract stored with the version, records the
verdict, and exits 1 when a gate fails.

See Also
--------
Chapter :doc:`Quality gates </book/04_quality_gates>`.
"""

from __future__ import annotations

import argparse

from closedloop.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    Command,
    UsageError,
    _emit,
    _model_dataset,
    add_data_options,
    whole_number,
)


def cmd_validate(args: argparse.Namespace) -> int:
    from closedloop.gates.config import GateConfig, get_preset
    from closedloop.gates.version import gate_version
    from closedloop.model.registry import CHALLENGER, CHAMPION, aliases

    if args.preset and args.config:
        raise UsageError("give --preset or --config, not both")
    config = (GateConfig.from_file(args.config) if args.config
              else get_preset(args.preset or "telecom_churn"))
    changes = {"n_bootstrap": args.bootstrap, "random_state": args.seed}
    config = config.override(**{k: v for k, v in changes.items() if v is not None})
    current = aliases(args.workspace, args.model_name)
    # The version gate_version will gate: the one asked for, the challenger, else the champion
    ref = args.version or current.get(CHALLENGER) or current.get(CHAMPION)
    if ref is None:
        raise UsageError(f"{args.model_name} has no @{CHALLENGER} (nor @{CHAMPION}) to "
                         "validate; pass --version")
    df, schema, _ = _model_dataset(args, ref)
    report = gate_version(args.workspace, df, schema, args.version, config,
                          model_name=args.model_name)
    _emit(args, report.to_dict(), str(report))
    return EXIT_OK if report.passed else EXIT_FAILED


def add_validate_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``closedloop validate``."""
    parser.add_argument("--version", help="version to gate (default @challenger, else "
                                          "@champion)")
    parser.add_argument("--preset", help="gate preset (default telecom_churn)")
    parser.add_argument("--config", help="gate settings, a YAML or JSON file")
    parser.add_argument("--bootstrap", type=whole_number(1),
                        help="bootstrap replicates, >= 1 (default: the config's)")
    parser.add_argument("--seed", type=int,
                        help="seeds the bootstrap and the robustness sample")
    add_data_options(parser, "the table the version was trained on (default: the holdout "
                             "stored with the version; needed only for an older version)",
                     "its data contract, a JSON file (default: the version's; if given it "
                     "must be the same)")


COMMANDS: dict[str, Command] = {
    "validate": (cmd_validate, "run the quality gates on a version (default @challenger, "
                               "else @champion)",
                 add_validate_arguments),
}
