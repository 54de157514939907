"""Ground-truth backfill: twice = once, conflicts reported and never written, contract errors."""

from __future__ import annotations

import pandas as pd
import pytest

from closedloop.monitoring import InferenceLog
from closedloop.monitoring.ground_truth import (
    LabelContractError,
    backfill,
    labels_from_stream,
)
from closedloop.simulate.labels import LabelDelay
from closedloop.simulate.stream import StreamSimulator


@pytest.fixture(scope="module")
def stream(telco):
    sim = StreamSimulator(telco, seed=8, population=3_000)
    frame = sim.stream(days=10, rows_per_day=30,
                       label_delay=LabelDelay("uniform", min_days=1, max_days=8))
    proba = frame["true_churn_proba"]
    return frame.assign(prediction=(proba >= 0.4).astype("int64"), prediction_proba=proba)


@pytest.fixture()
def log(stream, workspace):
    log = InferenceLog(workspace)
    for _, day in stream.groupby(stream["event_time"].dt.date):
        log.append(day, model_name="m", model_version="1", timestamp="event_time")
    return log


def _state(log: InferenceLog) -> pd.DataFrame:
    return log.read()[["prediction_id", "ground_truth", "label_arrived_at"]]


def test_backfill_twice_equals_once(stream, log):
    labels = labels_from_stream(stream, as_of="2026-01-08")
    first = backfill(log, labels)
    after_first, files = _state(log), log.batch_files(labels=True)
    second = backfill(log, labels)
    pd.testing.assert_frame_equal(_state(log), after_first)
    assert log.batch_files(labels=True) == files and second.batch_id is None
    assert first.matched == second.already_present == len(labels) > 0
    assert (first.unmatched, first.conflicting, second.matched) == (0, 0, 0)
    # The labels landed on the right predictions.
    truth = stream.set_index(["customerID", "event_time"])["Churn"].eq("Yes").astype(int)
    got = log.read().dropna(subset=["ground_truth"]).set_index(["customerID", "timestamp"])
    assert (got["ground_truth"] == truth.reindex(got.index)).all()
    assert (got["label_arrived_at"] <= pd.Timestamp("2026-01-08")).all()


def test_later_backfills_add_only_the_new_labels(stream, log):
    backfill(log, labels_from_stream(stream, as_of="2026-01-06"))
    covered = log.read()["ground_truth"].notna().sum()
    result = backfill(log, labels_from_stream(stream))   # everything, cumulative
    assert result.already_present == covered
    assert result.matched == result.predictions_labelled == len(stream) - covered
    assert log.read()["ground_truth"].notna().all()


def test_a_conflicting_label_is_reported_not_overwritten(stream, log):
    labels = labels_from_stream(stream, as_of="2026-01-05")
    backfill(log, labels)
    before = _state(log)
    flipped = labels.head(3).assign(ground_truth=1 - labels["ground_truth"].head(3),
                                    label_arrived_at=pd.Timestamp("2026-02-01"))
    result = backfill(log, pd.concat([flipped, labels.iloc[3:]]))
    assert result.conflicting == 3 and result.matched == 0
    assert result.already_present == len(labels) - 3
    pd.testing.assert_frame_equal(_state(log), before)
    conflicts = result.conflicts
    assert len(conflicts) == 3 and set(conflicts["source"]) == {"log"}
    assert (conflicts["stored"] == 1 - conflicts["incoming"]).all()
    assert result.to_dict()["conflicts"][0]["customerID"] == flipped["customerID"].iloc[0]


def test_rows_of_one_file_that_disagree_are_both_conflicting(stream, log):
    labels = labels_from_stream(stream, as_of="2026-01-04")
    contradiction = labels.head(1).assign(ground_truth=1 - labels["ground_truth"].iloc[0])
    result = backfill(log, pd.concat([labels, contradiction, labels.head(2)]))
    assert result.duplicates == 2 and result.conflicting == 2
    assert result.matched == len(labels) - 1
    assert set(result.conflicts["source"]) == {"file"}
    assert log.read()["ground_truth"].notna().sum() == len(labels) - 1


def test_labels_by_prediction_id_and_unmatched_labels(stream, log):
    frame = log.read().head(5)
    labels = pd.DataFrame({"prediction_id": [*frame["prediction_id"], "no-such-id"],
                           "Churn": ["Yes", "No", "No", "Yes", "No", "Yes"],
                           "label_arrived_at": "2026-02-01"})
    result = backfill(log, labels)
    assert (result.matched, result.unmatched) == (5, 1)
    stored = log.read().set_index("prediction_id")["ground_truth"]
    assert stored[frame["prediction_id"]].tolist() == [1, 0, 0, 1, 0]


def test_one_label_names_every_model_versions_prediction(stream, log):
    day = stream[stream["event_time"] < pd.Timestamp("2026-01-02")]
    log.append(day, model_name="m", model_version="2", timestamp="event_time")   # a shadow
    result = backfill(log, labels_from_stream(day))
    assert result.matched == len(day) and result.predictions_labelled == 2 * len(day)


def test_dry_run_and_as_of(stream, log, tmp_path):
    path = tmp_path / "labels.csv"
    labels_from_stream(stream).to_csv(path, index=False)
    preview = backfill(log, path, as_of="2026-01-05", dry_run=True)
    assert preview.matched > 0 and preview.batch_id is None
    assert log.read()["ground_truth"].isna().all()
    assert backfill(log, path, as_of="2026-01-05").matched == preview.matched


@pytest.mark.parametrize(("change", "column"), [
    (lambda f: f.drop(columns=["label_arrived_at"]), "label_arrived_at"),
    (lambda f: f.drop(columns=["window_end"]), "window_end"),
    (lambda f: f.assign(ground_truth=2), "ground_truth"),
    (lambda f: f.drop(columns=["ground_truth"]).assign(Churn="Maybe"), "Churn"),
    (lambda f: f.assign(label_arrived_at="not a date"), "label_arrived_at"),
    (lambda f: f.assign(window_end=f["window_start"]), "window_end"),
])
def test_label_files_that_break_the_contract_name_the_column(stream, log, change, column):
    with pytest.raises(LabelContractError) as err:
        backfill(log, change(labels_from_stream(stream.head(20))))
    assert column in err.value.columns


def test_labels_by_entity_and_event_time_in_the_targets_own_values(stream, log, tmp_path):
    labels = stream[["customerID", "event_time", "Churn"]].assign(
        label_arrived_at=stream["label_available_at"])
    result = backfill(log, labels)
    assert (result.matched, result.unmatched) == (len(stream), 0)
    read = log.read().merge(labels, left_on=["customerID", "timestamp"],
                            right_on=["customerID", "event_time"])
    assert read["ground_truth"].eq((read["Churn"] == "Yes").astype(int)).all()
    shifted = labels.head(3).assign(event_time=lambda f: f["event_time"] + pd.Timedelta("1s"))
    assert backfill(log, shifted).unmatched == 3   # exact times: a second off names nothing
    with pytest.raises(LabelContractError) as err:
        backfill(log, labels.assign(Churn=labels["Churn"].where(labels.index > 1)))
    assert err.value.columns == ["Churn"] and "2 null label(s)" in str(err.value)


def test_an_integer_target_and_numeric_ids(workspace, tmp_path):
    from tests.loans import LOAN_SCHEMA, make_loans

    loans = make_loans(20).assign(loan_id=[str(100 + i) for i in range(20)])
    at = pd.Timestamp("2026-01-01") + pd.to_timedelta(range(20), unit="h")
    log = InferenceLog(workspace, LOAN_SCHEMA)
    log.append(loans.assign(event_time=at, prediction=1, prediction_proba=0.9), model_name="m",
               model_version="1", timestamp="event_time")
    labels = pd.DataFrame({"loan_id": range(100, 120), "event_time": at,
                           "defaulted": loans["defaulted"], "label_arrived_at": "2026-02-01"})
    labels.to_csv(tmp_path / "labels.csv", index=False)
    result = backfill(log, tmp_path / "labels.csv", schema=LOAN_SCHEMA)
    assert (result.matched, result.unmatched) == (20, 0)
    assert log.read()["ground_truth"].tolist() == loans["defaulted"].tolist()
    with pytest.raises(LabelContractError) as err:
        backfill(log, labels.assign(defaulted=2), schema=LOAN_SCHEMA)
    assert err.value.columns == ["defaulted"]


_CONCURRENT = """
import json, os, sys, time
from pathlib import Path
from closedloop.monitoring.ground_truth import backfill
workdir, labels, go = sys.argv[1:4]
while not Path(go).exists():
    time.sleep(0.005)
result = backfill(workdir, labels)
print(json.dumps({"matched": result.matched, "conflicting": result.conflicting}))
"""


def test_two_backfills_at_once_report_the_contradiction(log, tmp_path):
    import json
    import os
    import subprocess
    import sys

    ids = log.read()["prediction_id"].head(30)
    feeds = []
    for value in (1, 0):   # two feeds that contradict each other on the same predictions
        path = tmp_path / f"labels{value}.parquet"
        pd.DataFrame({"prediction_id": ids, "ground_truth": value,
                      "label_arrived_at": pd.Timestamp("2026-02-01")}).to_parquet(path)
        feeds.append(path)
    go = tmp_path / "go"
    # Each backfill sleeps between its check and its append: unserialised, both would check
    # before either appends, and both would report no conflict.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "CLOSEDLOOP_FAULT_DELAY": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", _CONCURRENT, str(log.workspace.root),
                               str(feed), str(go)], stdout=subprocess.PIPE, text=True, env=env)
             for feed in feeds]
    import time

    time.sleep(3.0)   # both processes are up, waiting at the barrier
    go.touch()
    results = [json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1])
               for p in procs]
    assert all(p.returncode == 0 for p in procs)
    # One of them stored its labels, the other saw them and reported every contradiction.
    assert sorted((r["matched"], r["conflicting"]) for r in results) == [(0, 30), (30, 0)]
    stored = log.read().set_index("prediction_id").loc[ids, "ground_truth"]
    assert stored.nunique() == 1 and stored.notna().all()   # one consistent set
