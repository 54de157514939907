"""Fresh training data: recent labelled production rows mixed with history at a verified ratio.

:func:`prepare_training_data` is step 2 of the retraining workflow. In order:

1. the recent rows are deduplicated by entity, keeping each entity's newest row (a customer
   scored every week is one customer, described as they are now);
2. the newest ``holdout_share`` of them become the fresh holdout: the rows the challenger and
   the champion are compared on, the closest thing to next month's data;
3. historical rows of a holdout entity, or of any entity already in the recent rows (whose
   newer row wins), are dropped, so no holdout entity appears in training at all;
4. recent and historical training rows are mixed at ``recent_share`` (default 70/30): if there
   is not enough history for the ratio, recent rows are dropped (oldest first) instead. The
   achieved ratio is checked to be within one row of the request, and recorded.

See Also
--------
Chapter :doc:`Automated retraining </book/08_automated_retraining>`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from closedloop.contract.schema import Schema
from closedloop.contract.telco import TELCO_SCHEMA


@dataclass
class PreparedData:
    """The training rows and the fresh holdout of one retraining, with the numbers behind them."""

    train: pd.DataFrame
    holdout: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)

    def _repr_html_(self) -> str:
        return "<b>PreparedData</b>" + pd.Series(self.summary, dtype=object).to_frame(
            "value").to_html()


def prepare_training_data(recent: pd.DataFrame, historical: pd.DataFrame,
                          schema: Schema = TELCO_SCHEMA, *, recent_share: float = 0.7,
                          holdout_share: float = 0.2, timestamp: str = "timestamp",
                          seed: int = 0) -> PreparedData:
    """Mix recent labelled rows with history at ``recent_share``; hold out the newest rows.

    Parameters
    ----------
    recent : DataFrame
        Labelled production rows: the contract's columns (target included) and ``timestamp``.
    historical : DataFrame
        Rows honouring the contract (e.g. the original training table); no time needed, they
        count as older than every recent row.
    recent_share : float
        Share of recent rows in the training data, in (0, 1].
    holdout_share : float
        Share of the (deduplicated) recent rows kept as the fresh holdout, in (0, 1).
    seed : int
        Seeds which historical rows are drawn.

    Returns
    -------
    PreparedData
        ``train`` (recent rows first) and ``holdout`` have the contract's columns; ``summary``
        holds the counts, the requested and achieved ratio and the entity overlap (always 0).

    Examples
    --------
    >>> from closedloop.contract.telco import load_telco
    >>> telco = load_telco()
    >>> recent = telco.head(1000).assign(timestamp=pd.Timestamp("2026-03-01"))
    >>> prepared = prepare_training_data(recent, telco.iloc[1000:])
    >>> prepared.summary["recent_rows"], prepared.summary["historical_rows"]
    (800, 343)
    >>> len(prepared.holdout), prepared.summary["entity_overlap"]
    (200, 0)
    """
    if not 0 < recent_share <= 1:
        raise ValueError(f"recent_share must be in (0, 1] (got {recent_share})")
    if not 0 < holdout_share < 1:
        raise ValueError(f"holdout_share must be in (0, 1) (got {holdout_share})")
    if timestamp not in recent.columns:
        raise ValueError(f"the recent rows need a {timestamp!r} column to keep the newest row")
    key = schema.entity_id
    # Passthrough columns are not in the inference log and no model needs them.
    columns = [c for c in schema.names if c not in schema.passthrough]
    ordered = recent.sort_values([timestamp, key], kind="stable")
    newest = ordered.drop_duplicates(key, keep="last")
    duplicates = len(recent) - len(newest)
    holdout_rows = int(round(len(newest) * holdout_share))
    if holdout_rows < 1 or holdout_rows == len(newest):
        raise ValueError(f"{len(newest)} distinct recent entities cannot give a holdout of "
                         f"{holdout_share:.0%} and training rows: need more labelled rows")
    holdout, recent_train = newest.iloc[-holdout_rows:], newest.iloc[:-holdout_rows]
    seen = set(newest[key].astype(str))
    history = historical[~historical[key].astype(str).isin(seen)]
    history = history.drop_duplicates(key, keep="last")
    wanted_history = round(len(recent_train) * (1 - recent_share) / recent_share)
    if wanted_history > len(history):  # too little history: fewer recent rows, same ratio
        keep_recent = math.floor(len(history) * recent_share / (1 - recent_share))
        recent_train = recent_train.iloc[len(recent_train) - keep_recent:]
        wanted_history = len(history)
    drawn = history.sample(n=wanted_history, random_state=np.random.RandomState(seed)) \
        if wanted_history < len(history) else history
    # Recent rows first, then historical: summary["recent_rows"] says where one ends.
    train = pd.concat([recent_train[columns], drawn[columns]], ignore_index=True)
    total = len(train)
    achieved = len(recent_train) / total if total else float("nan")
    if total == 0 or abs(len(recent_train) - recent_share * total) > 1:
        raise ValueError(f"could not mix {recent_share:.0%} recent rows: {len(recent_train)} "
                         f"recent of {total} (check the history has rows)")
    overlap = len(set(train[key].astype(str)) & set(holdout[key].astype(str)))
    summary = {
        "recent_input_rows": int(len(recent)), "duplicates_dropped": int(duplicates),
        "recent_rows": int(len(recent_train)), "historical_rows": int(len(drawn)),
        "train_rows": int(total), "holdout_rows": int(len(holdout)),
        "requested_recent_share": float(recent_share), "recent_share": float(achieved),
        "entity_overlap": int(overlap),
        "recent_from": str(recent_train[timestamp].min()) if len(recent_train) else None,
        "holdout_from": str(holdout[timestamp].min()),
        "holdout_to": str(holdout[timestamp].max()),
    }
    return PreparedData(train, holdout[columns].reset_index(drop=True), summary)


def labelled_rows(log: pd.DataFrame, schema: Schema = TELCO_SCHEMA) -> pd.DataFrame:
    """Inference-log rows whose label has arrived, as contract rows (target from ground truth).

    The 0/1 ``ground_truth`` becomes the contract's target values (``Yes``/``No`` for Telco);
    ``timestamp`` is kept for :func:`prepare_training_data`.
    """
    from closedloop.simulate.stream import target_values

    done = log[log["ground_truth"].notna()]
    # (negative, positive) typed as the contract stores the target: "No"/"Yes", or 0/1.
    target = target_values(schema)[done["ground_truth"].to_numpy(int)]
    features = [c for c in schema.names
                if c != schema.target and c not in schema.passthrough and c in done.columns]
    return done[[*features, "timestamp"]].assign(**{schema.target: target}).reset_index(
        drop=True)
