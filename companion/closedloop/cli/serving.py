"""Command of the serving stage: ``serve``.

``serve`` runs the real-time scoring service (:func:`~closedloop.serving.app.serve`): the alias
(``@champion`` by default) loaded once with its version pinned, ``POST /predict``,
``GET /health``, ``GET /metadata`` and ``POST /reload`` on ``127.0.0.1`` unless told otherwise,
every answered row logged to the workspace's inference log, a promotion picked up without a
restart. It runs until SIGINT or SIGTERM, then flushes the log and exits.

See Also
--------
Chapter :doc:`Batch inference and business impact </book/07_batch_and_business>`.
"""

from __future__ import annotations

import argparse

from closedloop.cli._common import (
    EXIT_OK,
    Command,
    _require_model_ref,
    number,
    whole_number,
)
from closedloop.cli.scoring import add_experiment_arguments, experiment_from_args


def cmd_serve(args: argparse.Namespace) -> int:
    from closedloop.serving.app import serve

    _require_model_ref(args, args.alias)  # refused now, not polled for ever
    serve(str(args.workspace.root), host=args.host, port=args.port, alias=args.alias,
          model_name=args.model_name, workers=args.workers, max_body_bytes=args.max_body_bytes,
          max_concurrency=args.max_concurrency, poll_interval=args.poll_interval,
          flush_rows=args.flush_rows, flush_interval=args.flush_interval,
          log_level="warning" if args.quiet else "info",
          experiment=experiment_from_args(args), challenger_alias=args.challenger_alias)
    return EXIT_OK


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``closedloop serve``."""
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=whole_number(0, 65535), default=8000,
                        help="TCP port, 0-65535 (0: any free port)")
    parser.add_argument("--alias", default="champion",
                        help="alias (or version number) to serve")
    parser.add_argument("--workers", type=whole_number(1), default=1,
                        help="worker processes, >= 1")
    parser.add_argument("--poll-interval", type=number(0), default=10.0,
                        help="seconds between two look-ups of the alias (0: only POST /reload)")
    parser.add_argument("--max-body-bytes", type=whole_number(1), default=1_048_576,
                        help="largest request body accepted (413 beyond)")
    parser.add_argument("--max-concurrency", type=whole_number(1), default=64,
                        help="requests in flight at most (503 beyond)")
    parser.add_argument("--flush-rows", type=whole_number(1), default=1000,
                        help="write the request log once this many rows are buffered")
    parser.add_argument("--flush-interval", type=number(0, low_open=True), default=1.0,
                        help="write the request log at least this often (seconds)")
    add_experiment_arguments(parser)


COMMANDS: dict[str, Command] = {
    "serve": (cmd_serve, "run the real-time scoring service (REST) with the @champion",
              add_serve_arguments),
}
