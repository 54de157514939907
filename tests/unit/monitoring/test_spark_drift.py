"""The drift table computed by Spark equals the pandas one (one local[2] session for the module)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from closedloop.monitoring import InferenceLog
from closedloop.monitoring.drift import DRIFT_COLUMNS, drift_metrics
from closedloop.monitoring.ground_truth import backfill, labels_from_stream
from closedloop.simulate.labels import LabelDelay
from closedloop.simulate.scenarios import get_scenario
from closedloop.simulate.stream import StreamSimulator

pytest.importorskip("pyspark")

TOL = 1e-9
KEYS = ["window_start", "drift_type", "column_name"]


@pytest.fixture(scope="module")
def spark():
    from closedloop.monitoring.spark import spark_session

    # Not stopped: the JVM takes seconds to start, and later modules reuse the session.
    return spark_session("local[2]")


def _assert_same_table(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    assert list(ours.columns) == list(theirs.columns) == list(DRIFT_COLUMNS)
    left = ours.sort_values(KEYS).reset_index(drop=True)
    right = theirs.sort_values(KEYS).reset_index(drop=True)
    assert len(left) == len(right) > 0
    for name in DRIFT_COLUMNS:
        a, b = left[name], right[name]
        if pd.api.types.is_float_dtype(a):
            np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=0, atol=TOL,
                                       err_msg=name)
        else:
            pd.testing.assert_series_equal(a.astype(object), b.astype(object), check_names=False)


def test_spark_drift_on_the_inference_log_equals_pandas(spark, telco, tmp_path):
    from closedloop.monitoring.spark_drift import drift_metrics_spark

    simulator = StreamSimulator(telco, seed=3, population=5_000)
    stream = simulator.stream(days=21, rows_per_day=150,
                              scenario=get_scenario("null_spike", start_day=7),
                              label_delay=LabelDelay("fixed", days=7))
    proba = stream["true_churn_proba"]
    scored = pd.DataFrame({"prediction": (proba >= 0.5).astype(int), "prediction_proba": proba})
    log = InferenceLog(tmp_path / "ws")
    log.append(stream, model_name="m", model_version="1", timestamp="event_time", scored=scored)
    backfill(log, labels_from_stream(stream, as_of="2026-01-22"))   # two weeks labelled
    frame = log.read()
    baseline = frame[frame["timestamp"] < pd.Timestamp("2026-01-05")]
    expected = drift_metrics(frame, baseline, granularity="1w")
    assert expected["drift_detected"].any()   # PaymentMethod's nulls
    _assert_same_table(drift_metrics_spark(log, baseline, granularity="1w", spark=spark),
                       expected)


def test_spark_baseline_text_numbers_and_rounding(spark):
    from closedloop.monitoring.spark_drift import drift_metrics_spark

    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame({
        "timestamp": (pd.Timestamp("2026-03-02")
                      + pd.to_timedelta(rng.uniform(0, 3, n), "D")).floor("s"),
        "MonthlyCharges": rng.normal(60, 20, n).round(3),
        "tenure": rng.integers(0, 72, n).astype(str).astype(object),   # an upstream type change
        "Contract": rng.choice(["Month-to-month", "One year", None], n)})
    frame.loc[3, "tenure"] = "unknown"
    baseline = frame.assign(tenure=rng.integers(0, 72, n))
    columns = {"MonthlyCharges": "numeric", "tenure": "numeric", "Contract": "categorical"}
    expected = drift_metrics(frame, baseline, columns=columns)
    ours = drift_metrics_spark(spark.createDataFrame(frame), spark.createDataFrame(baseline),
                               columns=columns)
    _assert_same_table(ours, expected)
    assert ours.loc[ours["column_name"] == "tenure", "type_mismatch"].all()
    rounded = drift_metrics_spark(spark.createDataFrame(frame), baseline, columns=columns,
                                  decimals={"MonthlyCharges": 1})
    key = ["column_name", "drift_type"]
    moved = (rounded.set_index(key)["wasserstein_distance"]
             - expected.set_index(key)["wasserstein_distance"]).dropna()
    assert len(moved) == 2 * 3 + 2 * 2   # two numeric columns; baseline x 3 days, 2 consecutive
    assert moved.abs().max() <= 0.05 + TOL   # half a unit of the last decimal kept
