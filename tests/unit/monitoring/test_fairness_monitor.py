"""Fairness in monitoring: a disparity per window of the log's labelled rows, and the trigger
reading the same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from closedloop.fairness import fairness_by_window
from closedloop.monitoring import InferenceLog
from closedloop.monitoring.ground_truth import backfill, labels_from_stream
from closedloop.monitoring.report import fairness_windows
from closedloop.monitoring.windows import add_windows
from closedloop.retrain.triggers import Evidence, FairnessTrigger, RetrainPolicy
from closedloop.simulate.labels import LabelDelay
from closedloop.simulate.scenarios import get_scenario
from closedloop.simulate.stream import StreamSimulator

SENSITIVE = ["SeniorCitizen", "gender"]


@pytest.fixture(scope="module")
def log(telco, tmp_path_factory):
    """21 days of predictions by a rule that favours seniors; labels (3 days late) to day 14."""
    from closedloop.config import Workspace

    workspace = Workspace.resolve(tmp_path_factory.mktemp("fair") / "w")
    stream = StreamSimulator(telco, seed=2, population=3_000).stream(
        21, 150, get_scenario("none"), LabelDelay("fixed", days=3))
    proba = np.where(stream["SeniorCitizen"] == 1, 0.8, 0.3) * (
        stream["Contract"] == "Month-to-month") + 0.05
    scored = pd.DataFrame({"prediction": (proba >= 0.5).astype(int), "prediction_proba": proba})
    store = InferenceLog(workspace)
    store.append(stream, model_name="closedloop-churn", model_version="1",
                 timestamp="event_time", scored=scored)
    backfill(store, labels_from_stream(stream, as_of="2026-01-15"))
    return store


def test_fairness_windows_is_fairness_by_window_on_the_labelled_log(log):
    table = fairness_windows(log, SENSITIVE, granularity="7d", n_bootstrap=20)
    frame = add_windows(log.read(), "7d")
    direct = fairness_by_window(frame, SENSITIVE, window="window_start", n_bootstrap=20)
    pd.testing.assert_frame_equal(table, direct)
    assert set(table["column"]) == set(SENSITIVE) and len(table) >= 2
    assert table["labelled_rows"].sum() // len(SENSITIVE) == log.read()[
        "ground_truth"].notna().sum()
    senior = table[table["column"] == "SeniorCitizen"]
    assert (senior["metric"] == "equal_opportunity_difference").all()
    assert (senior["value"] > 0.3).all()  # the rule finds senior churners far more often


def test_fairness_windows_respects_labels_as_of_and_versions(log):
    early = fairness_windows(log, ["SeniorCitizen"], labels_as_of="2026-01-08",
                             n_bootstrap=0)
    later = fairness_windows(log, ["SeniorCitizen"], n_bootstrap=0)
    assert early["labelled_rows"].sum() < later["labelled_rows"].sum()
    versions = fairness_windows(log, ["SeniorCitizen"], by_version=True, n_bootstrap=0,
                                metric="dp_ratio")
    assert list(versions.columns[:2]) == ["window_start", "model_version"]
    assert set(versions["model_version"]) == {"1"}
    with pytest.raises(ValueError, match="not in the inference log"):
        fairness_windows(log, ["no_such_column"])


def test_fairness_trigger_on_the_logged_rows(log):
    rows = log.read()
    as_of = pd.Timestamp("2026-01-16")
    trigger = FairnessTrigger("SeniorCitizen", "equal_opportunity_difference", 0.2,
                              min_rows=100)
    result = trigger.evaluate(rows, as_of=as_of)
    assert result.fired and result.value > 0.2
    assert not FairnessTrigger("SeniorCitizen", threshold=0.99, min_rows=100).evaluate(
        rows, as_of=as_of).fired
    policy = RetrainPolicy("fair", (trigger.with_rows(rows),))
    assert policy.evaluate(Evidence(as_of, model_version="1")).retrain
    # no evidence: before any label arrived, or another version's rows
    assert not policy.evaluate(Evidence(pd.Timestamp("2026-01-02"))).retrain
    other = policy.evaluate(Evidence(as_of, model_version="9")).results[0]
    assert not other.fired and other.value is None
