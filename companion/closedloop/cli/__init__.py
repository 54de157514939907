"""The ``closedloop`` command line: one sub-command per API entry point.

The commands follow the loop: ``train``, ``validate``, ``promote``, ``rollback``, ``status``,
``simulate``, ``score``, ``backfill``, ``monitor``, ``roi``, ``retrain`` and ``loop``, each in the
module of its stage (:mod:`~closedloop.cli.model`, :mod:`~closedloop.cli.gates`, ...), assembled
by :func:`~closedloop.cli.parser.build_parser`; last, ``book run`` executes the book's chapters
(:mod:`~closedloop.cli.book`). Every command takes ``--workdir`` (default ``$CLOSEDLOOP_WORKDIR`` or
``./closedloop-work``) and ``--json`` (machine-readable output on stdout; logs and progress go to
stderr). Exit codes: 0 done, 1 a check failed, 2 a usage, data-contract or registry error (the
message says what to fix). ``python -m closedloop.cli`` runs the same command.
"""

from closedloop.cli.parser import build_parser, main

__all__ = ["build_parser", "main"]
