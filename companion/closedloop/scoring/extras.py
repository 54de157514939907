"""Optional column sets of batch scoring: reasons per prediction, and A/B experiments.

Two additions to the output of :func:`closedloop.scoring.batch.score_file` (pandas engine only):

- ``reasons=k`` appends ``reason_1`` ... ``reason_k``: each row's top reasons in words, computed
  by :func:`~closedloop.explain.reasons.explain` with the model that scored the row, and flattened by
  :func:`~closedloop.explain.reasons.reason_columns` (``None`` where a row has fewer reasons). They are
  written to the output file only, never to the inference log (its schema is fixed).
- ``experiment=Experiment(...)`` scores each row with its arm's model: the experiment's first arm
  (``champion``) and the rows outside the experiment with ``alias``, its second arm
  (``challenger``) with ``challenger_alias``. The output gets an ``arm`` column (``None`` outside
  the experiment) and each row's ``model_version`` is the version that scored it. The inference
  log receives one batch per version (each atomic; the output file is written first), whose
  rows carry the log's optional columns ``experiment`` and ``arm`` (see
  :mod:`closedloop.monitoring.store`).

See Also
--------
Chapter :doc:`Explain, check fairness, test in production </book/10_explain_fairness_abtest>`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from closedloop.config import Workspace
from closedloop.contract.schema import Schema
from closedloop.scoring._columns import (
    RISK_TIER,
    check_output,
    output_arrow_schema,
    output_partial,
    publish_output,
    resolve_model,
)
from closedloop.scoring.tiers import RiskTiers

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ARM", "REASON_PREFIX", "ExperimentLike", "add_reasons", "experiment_arms",
           "reason_names"]


class ExperimentLike(Protocol):
    """What scoring needs of an experiment: :class:`closedloop.abtest.assignment.Experiment`
    (scoring does not import the A/B stage, which comes later in the loop)."""

    name: str
    arms: Sequence[str]

    def assign(self, ids: Any) -> np.ndarray: ...

#: Column of the output holding each row's experiment arm.
ARM = "arm"
#: Prefix of the reason columns (``reason_1`` ...).
REASON_PREFIX = "reason_"


def reason_names(k: int) -> list[str]:
    """The names of ``k`` reason columns: ``reason_1`` ... ``reason_k``."""
    return [f"{REASON_PREFIX}{r + 1}" for r in range(k)]


def check_reasons(reasons: Any) -> int | None:
    """``reasons`` as a positive int, or None when not asked (None or 0); ValueError else."""
    if reasons is None or reasons is False or reasons == 0:
        return None
    if isinstance(reasons, bool) or not isinstance(reasons, (int, np.integer)) or reasons < 0:
        raise ValueError(f"reasons must be a positive number of reasons (got {reasons!r})")
    return int(reasons)


def add_reasons(out: pd.DataFrame, model: Any, typed: pd.DataFrame, schema: Schema,
                k: int) -> pd.DataFrame:
    """``out`` with the columns ``reason_1`` ... ``reason_k`` of ``typed``'s rows appended.

    Parameters
    ----------
    out : DataFrame
        The scored rows, row-aligned with ``typed``.
    model : object
        The model that scored them (a registry pyfunc, a ``PipelineModel`` or a pipeline).
    typed : DataFrame
        The checked, typed batch (the contract's features).
    schema : Schema
        The data contract.
    k : int
        The number of reason columns; rows with fewer reasons (and every row when the contract
        has fewer than ``k`` columns) get ``None``.

    Returns
    -------
    DataFrame
        A copy of ``out`` with the reason columns (object dtype: text or ``None``).
    """
    from closedloop.explain import explain, reason_columns

    frame = reason_columns(explain(model, typed.reset_index(drop=True), schema, top=k), top=k)
    out = out.copy()
    for name in reason_names(k):
        out[name] = (frame[name].to_numpy(dtype=object) if name in frame.columns
                     else np.full(len(out), None, dtype=object))
    return out


def experiment_arms(experiment: ExperimentLike, ids: Any) -> np.ndarray:
    """Each id's arm (``None`` outside the experiment), ids taken as text.

    Refuses an experiment without exactly two arms: the first is answered by the champion, the
    second by the challenger.
    """
    if len(experiment.arms) != 2:
        raise ValueError(f"an experiment routed between champion and challenger needs two arms "
                         f"(got {list(experiment.arms)})")
    return experiment.assign(np.asarray(pd.Series(ids).astype(str), dtype=object))


def _output_table(out: pd.DataFrame, schema: Schema, carried: tuple[str, ...],
                  text: list[str], batch_id: str | None) -> pa.Table:
    """``out`` as the output's Arrow table: carried types inferred, ``text`` columns strings."""
    import pyarrow as pa

    from closedloop.scoring._columns import OUTPUT_BATCH_KEY

    extra = list(pa.Schema.from_pandas(out[list(carried)], preserve_index=False)) \
        if carried else []
    extra += [pa.field(name, pa.string()) for name in text]
    table = pa.Table.from_pandas(out, schema=output_arrow_schema(schema, extra),
                                 preserve_index=False)
    return table.replace_schema_metadata({OUTPUT_BATCH_KEY: batch_id} if batch_id else None)


def score_file_extras(workspace: Workspace, input_path: Any, output_path: Any, *, alias: str,
                      schema: Schema, model_name: str, tiers: RiskTiers, when: pd.Timestamp,
                      log: bool, event_time: str | None, carry: tuple[str, ...],
                      allow_extra: tuple[str, ...], content_key: str | None, overwrite: bool,
                      reasons: int | None, experiment: ExperimentLike | None,
                      challenger_alias: str = "challenger") -> dict[str, Any]:
    """The pandas file-to-file path of :func:`~closedloop.scoring.batch.score_file` with reasons
    and/or an experiment (see the module notes).

    Returns
    -------
    dict
        ``version`` (the champion's), ``counts`` (rows per tier), ``time_column``, ``carried``,
        ``written`` (None without a log; False when every log batch was already there),
        ``arms`` (rows per arm, ``"none"`` outside the experiment) and ``arm_versions``
        (arm -> version); the last two None without an experiment.
    """
    import pyarrow.parquet as pq

    from closedloop.model.registry import load_model
    from closedloop.monitoring.store import PREDICTION_ID, InferenceLog, digest, prediction_ids
    from closedloop.scoring.batch import (
        _check_repeats,
        _on_every_core,
        _prepare,
        _score_typed,
        read_table,
    )

    typed, time_column, carried = _prepare(read_table(input_path, schema), schema, event_time,
                                           carry, allow_extra)
    if log:
        _check_repeats(typed, schema, when, time_column)
    arms = None if experiment is None else experiment_arms(experiment, typed[schema.entity_id])
    routes = [(alias, np.ones(len(typed), dtype=bool))]
    if arms is not None:
        challenger = arms == experiment.arms[1]
        routes = [(alias, ~challenger), (challenger_alias, challenger)]
    parts, batches, arm_versions, champion_version = [], [], {}, None
    for position, (route, mask) in enumerate(routes):
        _, version = resolve_model(workspace, route, model_name=model_name)
        champion_version = champion_version or version
        if arms is not None:
            arm_versions[experiment.arms[position]] = version
        rows = np.flatnonzero(mask)
        if not len(rows) and len(rows) < len(typed):  # an arm without rows (not all empty)
            continue
        sub = typed.iloc[rows].reset_index(drop=True)
        model = _on_every_core(load_model(workspace, version, model_name=model_name))
        out = _score_typed(sub, model, schema, model_name, version, tiers, when, None, None,
                           carried)
        if reasons:
            out = add_reasons(out, model, sub, schema, reasons)
        parts.append(out.set_axis(rows))
        if log:
            times = sub[time_column] if time_column else pd.Series(
                np.full(len(sub), when.to_datetime64(), dtype="datetime64[ns]"))
            ids = prediction_ids(sub[schema.entity_id], times, model_name, version,
                                 content_key=None if time_column else content_key)
            batches.append((version, sub.assign(**{PREDICTION_ID: ids}), out, ids,
                            None if arms is None else arms[rows]))
    out = pd.concat(parts).sort_index().reset_index(drop=True) if len(parts) > 1 else parts[0]
    text = reason_names(reasons) if reasons else []
    if arms is not None:
        out.insert(len(out.columns) - len(text), ARM, arms)
        text = [ARM, *text]
    batch_id = digest(np.sort(np.concatenate([b[3] for b in batches]).astype(str))) \
        if batches else None
    output_path = Path(output_path)
    check_output(output_path, overwrite, batch_id=batch_id)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    partial = output_partial(output_path)
    try:  # the output is in place before any log batch is committed
        pq.write_table(_output_table(out, schema, carried, text, batch_id), partial)
        publish_output(partial, output_path)
    finally:
        partial.unlink(missing_ok=True)
    written = None
    if log:
        store = InferenceLog(workspace, schema)
        written = any([store.append(logged, model_name=model_name, model_version=version,
                                    timestamp=time_column or when, scored=scored,
                                    experiment=None if experiment is None else experiment.name,
                                    arms=logged_arms).written
                       for version, logged, scored, _, logged_arms in batches])
    counts = out[RISK_TIER].value_counts()
    arm_counts = None if arms is None else {
        str(a): int(n) for a, n in pd.Series(arms, dtype=object).fillna("none")
        .value_counts().items()}
    return {"version": champion_version, "counts": {t: int(n) for t, n in counts.items()},
            "time_column": time_column,
            "carried": carried, "written": written, "arms": arm_counts,
            "arm_versions": arm_versions or None}
