"""Spark computes the same profile as DuckDB (one local[2] session for the module).

Tolerance: counts are equal; every rate, metric, AUC and quantile agrees to 1e-9 (both engines
sum the same terms, in a different order).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from closedloop.monitoring import InferenceLog, assign_windows
from closedloop.monitoring.columns import category_frequencies, column_profile
from closedloop.monitoring.ground_truth import backfill, labels_from_stream
from closedloop.monitoring.metrics import profile
from closedloop.monitoring.windows import window_start_sql
from closedloop.simulate.labels import LabelDelay
from closedloop.simulate.scenarios import get_scenario
from closedloop.simulate.stream import StreamSimulator

pytest.importorskip("pyspark")

TOL = 1e-9


@pytest.fixture(scope="module")
def spark():
    from closedloop.monitoring.spark import spark_session

    # Not stopped: the JVM takes seconds to start, and later modules reuse the session.
    return spark_session("local[2]")


@pytest.fixture(scope="module")
def log(telco, tmp_path_factory):
    sim = StreamSimulator(telco, seed=11, population=3_000)
    stream = sim.stream(days=16, rows_per_day=80, scenario=get_scenario("null_spike",
                                                                        start_day=5),
                        label_delay=LabelDelay("uniform", min_days=1, max_days=10))
    proba = stream["true_churn_proba"].round(2)   # ties, as real scores have
    log = InferenceLog(tmp_path_factory.mktemp("spark") / "ws")
    for version, part in (("1", stream.iloc[::2]), ("2", stream.iloc[1::2])):
        log.append(part, model_name="m", model_version=version, timestamp="event_time",
                   scored=pd.DataFrame({"prediction": (proba >= 0.4).astype(int),
                                        "prediction_proba": proba}).loc[part.index])
    backfill(log, labels_from_stream(stream, as_of="2026-01-12"))
    return log


def assert_same(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    assert list(ours.columns) == list(theirs.columns) and len(ours) == len(theirs) > 0
    for name in ours.columns:
        a, b = ours[name], theirs[name]
        if pd.api.types.is_float_dtype(a):
            np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=0, atol=TOL,
                                       err_msg=name)
        else:
            assert a.astype(object).tolist() == b.astype(object).tolist(), name


def test_spark_profile_equals_duckdb(spark, log):
    from closedloop.monitoring.spark import profile_spark

    assert_same(profile_spark(log, "1w", slices=("Contract", "PaymentMethod"), spark=spark),
                profile(log, "1w", slices=("Contract", "PaymentMethod")))
    as_of = {"labels_as_of": "2026-01-08", "start": "2026-01-03", "end": "2026-01-12"}
    assert_same(profile_spark(log, "1d", spark=spark, **as_of), profile(log, "1d", **as_of))


def test_spark_column_profile_and_frequencies_equal_duckdb(spark, log):
    from closedloop.monitoring.spark import category_frequencies_spark, column_profile_spark

    columns = ["tenure", "MonthlyCharges", "prediction_proba", "PaymentMethod", "prediction"]
    assert_same(column_profile_spark(log, "1w", columns=columns, spark=spark),
                column_profile(log, "1w", columns=columns))
    assert_same(category_frequencies_spark(log, "1w", spark=spark),
                category_frequencies(log, "1w"))


def test_spark_reads_the_log_and_windows_like_pandas(spark, log):
    from closedloop.monitoring.spark import read_log_spark

    ours = read_log_spark(log, spark).toPandas().sort_values(["timestamp", "prediction_id"])
    theirs = log.read().sort_values(["timestamp", "prediction_id"])
    assert ours["prediction_id"].tolist() == theirs["prediction_id"].tolist()
    assert ours["ground_truth"].fillna(-1).astype(int).tolist() == \
        theirs["ground_truth"].fillna(-1).astype(int).tolist()
    ts = pd.Series(pd.to_datetime("1999-06-01") + pd.to_timedelta(
        np.random.default_rng(0).integers(0, 40 * 365 * 86_400, 300), unit="s"), name="ts")
    frame = spark.createDataFrame(ts.to_frame().astype("datetime64[us]"))
    frame.createOrReplaceTempView("times")
    grains = ["1h", "6h", "1d", "1w", "1mo", "3mo"]
    got = spark.sql("SELECT ts, " + ", ".join(
        f"{window_start_sql('ts', g, 'spark')} AS w{i}" for i, g in enumerate(grains))
        + " FROM times").toPandas().sort_values("ts").reset_index(drop=True)
    ordered = ts.sort_values().reset_index(drop=True)
    for i, grain in enumerate(grains):
        expected = assign_windows(ordered, grain)
        assert (pd.to_datetime(got[f"w{i}"]).astype("datetime64[ns]") == expected).all(), grain
