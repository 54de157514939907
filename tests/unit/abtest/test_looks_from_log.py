"""Looks read from the inference log (``sequential_looks``) and the outcomes a retention campaign
realises (``apply_retention``); a toy contract keeps the log small and needs no model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from closedloop.abtest import (
    Experiment,
    apply_retention,
    decide,
    group_sequential_design,
    plot_looks,
    sequential_looks,
)
from closedloop.contract.schema import Column, Schema
from closedloop.monitoring.store import InferenceLog

TOY = Schema("toy", (Column("id", "id"), Column("tenure", "integer"),
                     Column("left", "category", ("no", "yes"))),
             target="left", positive="yes", entity_id="id")
EXPERIMENT = Experiment("toy-ab", salt="toy", coverage=0.9)
START = pd.Timestamp("2026-05-04")
DELAY = pd.Timedelta(days=10)


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    """3,000 customers over 30 days; the challenger's churn 0.20, the champion's 0.30."""
    rng = np.random.default_rng(5)
    ids = np.array([f"c{i}" for i in range(3000)], dtype=object)
    when = START + pd.to_timedelta(np.arange(3000) // 100, unit="D") + pd.Timedelta(hours=9)
    arms = EXPERIMENT.assign(ids)
    rate = np.where(arms == "challenger", 0.20, 0.30)
    frame = pd.DataFrame({"id": ids, "tenure": rng.integers(0, 70, 3000), "when": when,
                          "prediction": 0, "prediction_proba": 0.5,
                          "churned": (rng.random(3000) < rate).astype(int),
                          "prediction_id": [f"p{i}" for i in range(3000)]})
    store = InferenceLog(tmp_path_factory.mktemp("looks"), TOY)
    for version, rows in (("1", arms != "challenger"), ("2", arms == "challenger")):
        store.append(frame[rows], model_name="m", model_version=version, timestamp="when",
                     experiment="toy-ab", arms=arms[rows])
    store.append_labels(pd.DataFrame({"prediction_id": frame["prediction_id"],
                                      "ground_truth": frame["churned"],
                                      "label_arrived_at": frame["when"] + DELAY}))
    return store, frame.assign(arm=arms)


def test_each_look_decides_the_outcomes_known_then(log):
    store, frame = log
    moments = [START + pd.Timedelta(days=d) for d in (15, 25, 40)]
    table = sequential_looks(store, EXPERIMENT, moments, challenger_version="2", start=START)
    assert table["day"].tolist() == [15.0, 25.0, 40.0]
    known = [frame[(frame["when"] + DELAY <= t) & frame["arm"].notna()] for t in moments]
    sizes = np.array([len(k) for k in known], dtype=float)
    design = group_sequential_design(fractions=sizes / sizes[-1])
    for k, (row, rows) in enumerate(zip(table.itertuples(), known), start=1):
        counts = {arm: (int((rows["arm"] == arm).sum()),
                        int(rows.loc[rows["arm"] == arm, "churned"].sum()))
                  for arm in ("champion", "challenger")}
        expected = decide(counts, design, k)
        assert (row.n_champion, row.n_challenger) == (counts["champion"][0],
                                                      counts["challenger"][0])
        assert row.z == pytest.approx(expected.z) and row.action == expected.action
        assert row.boundary == pytest.approx(expected.boundary)
    assert table["action"].iloc[-1] == "challenger_wins"  # 0.20 against 0.30 is no contest
    assert table["stop"].sum() == 1 and table.attrs["decisions"][-1].challenger_version == "2"
    assert plot_looks(table).axes[0].get_xlabel() == "day"


def test_looks_need_labels_and_increasing_times(log):
    store, _ = log
    with pytest.raises(ValueError, match="labelled outcomes"):
        sequential_looks(store, EXPERIMENT, [START + pd.Timedelta(days=2), START + DELAY * 3])
    with pytest.raises(ValueError, match="increasing"):
        sequential_looks(store, EXPERIMENT, [START + DELAY * 3, START + DELAY * 2])


def test_retention_keeps_only_flagged_churners_at_the_success_rate():
    rng = np.random.default_rng(0)
    stream = pd.DataFrame({"Churn": np.where(rng.random(20_000) < 0.3, "Yes", "No")})
    flagged = rng.random(20_000) < 0.5
    out = apply_retention(stream, flagged, success_rate=0.4, seed=1)
    changed = (out["Churn"] != stream["Churn"]).to_numpy()
    assert (stream.loc[changed, "Churn"] == "Yes").all() and flagged[changed].all()
    assert set(out.loc[changed, "Churn"]) == {"No"} and out.attrs["kept"] == changed.sum()
    share = changed.sum() / ((stream["Churn"] == "Yes") & flagged).sum()
    assert abs(share - 0.4) < 0.03
    again = apply_retention(stream, flagged, success_rate=0.4, seed=1)
    assert again["Churn"].equals(out["Churn"])  # seeded
    assert apply_retention(stream, flagged, success_rate=0.0)["Churn"].equals(stream["Churn"])
    with pytest.raises(ValueError, match="flagged"):
        apply_retention(stream, flagged[:5], success_rate=0.4)
    with pytest.raises(ValueError, match="success_rate"):
        apply_retention(stream, flagged, success_rate=1.5)


def test_a_contract_with_an_arm_column_reads_its_log_but_cannot_log_arms(tmp_path):
    clash = Schema("clash", (Column("id", "id"), Column("arm", "category", ("a", "b")),
                             Column("left", "category", ("no", "yes"))),
                   target="left", positive="yes", entity_id="id")
    store = InferenceLog(tmp_path, clash)
    rows = pd.DataFrame({"id": ["x"], "arm": ["a"], "prediction": [1],
                         "prediction_proba": [0.7]})
    store.append(rows, model_name="m", model_version="1", timestamp=START)
    assert store.read()["arm"].tolist() == ["a"] and store.optional_columns == []
    with pytest.raises(ValueError, match="reserves"):
        store.append(rows.assign(id="y"), model_name="m", model_version="1", timestamp=START,
                     experiment="e", arms=["b"])
