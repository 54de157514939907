"""A/B routing for the service: each request row answered by its entity's arm.

With an :class:`~closedloop.abtest.assignment.Experiment` of two arms, the service holds two
:class:`~closedloop.serving.service.ModelService`: the champion's (its first arm, and every row
outside the experiment or without an entity id) and the challenger's (its second arm). A row's
arm is :meth:`~closedloop.abtest.assignment.Experiment.assign` of its entity id, so an entity
always gets the same arm (sticky), whichever worker answers. Every answered row says its
``arm`` (``None`` outside the experiment) and the ``model_version`` that computed it.

Each row is logged with the version that answered it (one log batch per version), the
experiment's name and its arm, in the inference log's optional ``experiment`` and ``arm``
columns (:mod:`closedloop.monitoring.store`): the A/B analysis reads the arms from the log
(:func:`closedloop.abtest.analysis.arm_outcomes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from closedloop.abtest.assignment import Experiment
from closedloop.model.compiled import RecordContractError, RecordProblem
from closedloop.serving.service import LoadedModel, ModelService

__all__ = ["as_experiment", "score_experiment"]


def as_experiment(experiment: Experiment | Mapping[str, Any] | None) -> Experiment | None:
    """An :class:`~closedloop.abtest.assignment.Experiment` from itself or its
    :meth:`~closedloop.abtest.assignment.Experiment.to_dict`; None stays None.

    Raises ValueError unless it has exactly two arms (champion first, challenger second).
    """
    if experiment is None:
        return None
    if not isinstance(experiment, Experiment):
        experiment = Experiment(**dict(experiment))
    if len(experiment.arms) != 2:
        raise ValueError(f"the service routes two arms, champion then challenger (got "
                         f"{list(experiment.arms)})")
    return experiment


def arms_of(experiment: Experiment, records: list[Any], entity: str) -> list[str | None]:
    """Each record's arm: ``None`` outside the experiment or without an entity id."""
    keyed = [i for i, r in enumerate(records)
             if isinstance(r, dict) and r.get(entity) is not None]
    arms: list[str | None] = [None] * len(records)
    if keyed:
        assigned = experiment.assign(np.asarray([str(records[i][entity]) for i in keyed],
                                                dtype=object))
        for i, arm in zip(keyed, assigned):
            arms[i] = arm
    return arms


def score_experiment(experiment: Experiment, services: tuple[ModelService, ModelService],
                     loaded: tuple[LoadedModel, LoadedModel], records: list[Any],
                     request_id: str, *, explain: bool = False, top: int = 4
                     ) -> tuple[list[tuple[LoadedModel, list[int]]], dict[str, Any]]:
    """Score each record with its arm's version.

    Parameters
    ----------
    experiment : Experiment
        Two arms: the first answered by ``services[0]`` (the champion), the second by
        ``services[1]`` (the challenger).
    services : tuple of ModelService
        The champion's and the challenger's services.
    loaded : tuple of LoadedModel
        The versions the request holds (each finishes on the version it began on).
    records : list
        The request's rows.
    request_id : str
        Prefix of each row's ``prediction_id`` (its position in the request follows).
    explain, top : bool, int
        As in :meth:`~closedloop.serving.service.ModelService.score`.

    Returns
    -------
    tuple
        ``[(version, positions)]`` per version that answered rows (for the request log), and
        the response body: ``request_id``, ``model_name``, ``model_version`` (the version that
        answered every row, else the versions joined by ``,``), ``experiment`` (its name) and
        ``predictions`` in the request's order, each with its ``arm``.

    Raises
    ------
    RecordContractError
        When a record violates its version's contract; the problems name the rows by their
        position in the request. Nothing is scored.
    """
    entity = loaded[0].schema.entity_id
    arms = arms_of(experiment, records, entity)
    challenger = experiment.arms[1]
    groups = [[i for i, a in enumerate(arms) if a != challenger],
              [i for i, a in enumerate(arms) if a == challenger]]
    problems: list[RecordProblem] = []
    for version, positions in zip(loaded, groups):
        if positions:
            try:
                version.predictor.check_records([records[i] for i in positions])
            except RecordContractError as err:
                problems += [RecordProblem(positions[p.row], p.field, p.value, p.message)
                             for p in err.record_problems]
    if problems:
        raise RecordContractError(sorted(problems, key=lambda p: p.row), loaded[0].schema.name)
    rows: list[dict[str, Any] | None] = [None] * len(records)
    used = []
    for service, version, positions in zip(services, loaded, groups):
        if not positions:
            continue
        _, body = service.score([records[i] for i in positions], request_id, version,
                                explain=explain, top=top)
        for position, row in zip(positions, body["predictions"]):
            rows[position] = {**row, "prediction_id": f"{request_id}-{position}",
                              "arm": arms[position]}
        used.append((version, positions))
    versions = list(dict.fromkeys(v.version for v, _ in used)) or [loaded[0].version]
    body = {"request_id": request_id, "model_name": loaded[0].model_name,
            "model_version": ",".join(versions), "experiment": experiment.name,
            "predictions": rows}
    return used, body
