"""Command of the business stage: ``roi``.

``roi`` prices the decisions the ``@champion``'s scores drive with a business template (telecom,
retail or financial services; its value, cost and success rate can be overridden): the expected
value on any batch, and the realised value too when the batch carries the real outcomes (by
default, the champion's holdout).

See Also
--------
Chapter :doc:`Batch inference and business impact </book/07_batch_and_business>`.
"""

from __future__ import annotations

import argparse
from typing import Any

from closedloop.cli._common import (
    EXIT_OK,
    UNIT_INTERVAL,
    Command,
    _emit,
    _model_dataset,
    _read_table,
    add_data_options,
)


def cmd_roi(args: argparse.Namespace) -> int:
    from closedloop.business.summary import champion_summary

    business = business_from_args(args)
    frame = None
    # The model's contract; the champion's stored holdout unless --data (older versions) is given
    data, schema, _ = _model_dataset(args, args.alias)
    if args.input:  # any batch; realised value too if it carries the target column
        from closedloop.contract.validation import restore_dtypes

        frame = restore_dtypes(_read_table(args.input, "--input"), schema)
    summary = champion_summary(args.workspace, business, frame, data=data, schema=schema,
                               alias=args.alias, model_name=args.model_name,
                               threshold=args.threshold)
    _emit(args, summary.to_dict(), summary.to_markdown())
    return EXIT_OK


def business_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~closedloop.business.templates.BusinessModel` that the business options name."""
    from closedloop.business.templates import template

    fields = {"customer_value": args.customer_value,
              "intervention_cost": args.intervention_cost, "success_rate": args.success_rate}
    return template(args.template, **{k: v for k, v in fields.items() if v is not None})


def add_business_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--template`` and the overrides of its three numbers (``roi`` and ``loop``)."""
    parser.add_argument("--template", default="telecom",
                        help="business template: telecom, retail or financial_services")
    parser.add_argument("--customer-value", type=float,
                        help="override the template's value (>= 0)")
    parser.add_argument("--intervention-cost", type=float,
                        help="override the template's cost (>= 0)")
    parser.add_argument("--success-rate", type=float,
                        help="override the template's success rate, in [0, 1]")


def add_roi_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``closedloop roi``."""
    add_business_options(parser)
    parser.add_argument("--input", help="customers to score (.parquet/.csv; default: the "
                                        "champion's holdout, with real outcomes)")
    parser.add_argument("--threshold", type=UNIT_INTERVAL,
                        help="contact customers scoring at least this, in [0, 1] (default: "
                             "the break-even probability)")
    parser.add_argument("--alias", default="champion",
                        help="alias or version number to score with")
    add_data_options(parser, "the champion's training table (default: the holdout stored with "
                             "it; needed only for an older version)",
                     "the data contract, a JSON file (default: the model's; if given it must "
                     "be the same)")


COMMANDS: dict[str, Command] = {
    "roi": (cmd_roi, "expected and realised value of acting on the @champion's scores",
            add_roi_arguments),
}
