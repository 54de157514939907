"""Drift from DuckDB aggregates over the Parquet log equals the pandas path on the same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.monitoring.aggregates import (
    drift_from_log,
    estimate_from_log,
    log_columns,
    log_samples,
    value_counts_sql,
)
from closedloop.monitoring.drift import DriftConfig, drift_metrics
from closedloop.monitoring.estimate import CBPE
from closedloop.monitoring.report import monitor
from closedloop.monitoring.store import InferenceLog

DAY0 = pd.Timestamp("2026-01-05")


@pytest.fixture(scope="module")
def logged(telco, tmp_path_factory):
    """Eight days of predictions by two versions (overlapping on days 3-4), with nulls in a
    categorical and a numeric feature and a few labels; plus a labelled baseline."""
    rng = np.random.default_rng(0)
    log = InferenceLog(tmp_path_factory.mktemp("aggregates"), TELCO_SCHEMA)
    for version, days in (("1", range(0, 5)), ("2", range(3, 8))):
        for day in days:
            rows = telco.sample(250, replace=True, random_state=10 * day + int(version))
            rows = rows.reset_index(drop=True)
            rows["customerID"] = [f"{version}-{day}-{i}" for i in range(len(rows))]
            rows.loc[rng.random(len(rows)) < 0.05, "Contract"] = None
            rows.loc[rng.random(len(rows)) < 0.03, "TotalCharges"] = np.nan
            if day >= 5:  # drift: older customers, more seniors
                rows["tenure"] = np.minimum(rows["tenure"] + 12, 72)
                rows.loc[rng.random(len(rows)) < 0.2, "SeniorCitizen"] = 1
            proba = rng.random(len(rows)).round(4)
            scored = pd.DataFrame({"prediction": (proba >= 0.5).astype(int),
                                   "prediction_proba": proba})
            log.append(rows, model_name="m", model_version=version,
                       timestamp=DAY0 + pd.Timedelta(days=day, hours=int(version)),
                       scored=scored)
    ids = log.read(columns=["prediction_id"])["prediction_id"]
    labels = pd.DataFrame({"prediction_id": ids.iloc[::3].to_numpy(),
                           "ground_truth": rng.integers(0, 2, len(ids.iloc[::3]))})
    from closedloop.monitoring.ground_truth import backfill
    backfill(log, labels.assign(label_arrived_at=DAY0 + pd.Timedelta(days=9)))
    base = telco.sample(1_500, random_state=1).reset_index(drop=True)
    proba = rng.random(len(base))
    base = base.assign(prediction_proba=proba, prediction=(proba >= 0.5).astype(int),
                       ground_truth=TELCO_SCHEMA.target_as_int(base))
    return log, base


def _same(expected: pd.DataFrame, actual: pd.DataFrame) -> None:
    assert list(expected.columns) == list(actual.columns)
    pd.testing.assert_frame_equal(expected.reset_index(drop=True), actual.reset_index(drop=True),
                                  check_dtype=False, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("granularity", ["1d", "1w"])
def test_drift_from_log_equals_pandas_path(logged, granularity):
    log, base = logged
    frame = log.read()
    expected = drift_metrics(frame, base, granularity=granularity, schema=log.schema)
    actual = drift_from_log(log, base, granularity=granularity)
    _same(expected, actual)
    assert set(actual["value_test"]) == {"ks", "chi_squared"}
    assert (actual["null_rate"] > 0).any()
    assert actual["model_id"].str.contains(",").any()  # windows with both versions


def test_drift_from_log_without_baseline_and_with_config(logged):
    log, _ = logged
    config = DriftConfig(bins=7, max_discrete_values=0, min_psi=0.05)
    expected = drift_metrics(log.read(), None, schema=log.schema, config=config)
    _same(expected, drift_from_log(log, config=config))


def test_drift_from_log_per_version_and_filters(logged):
    log, base = logged
    frame = log.read(start=DAY0 + pd.Timedelta(days=1), end=DAY0 + pd.Timedelta(days=7))
    for version in ("1", "2"):
        rows = frame[frame["model_version"] == version]
        expected = drift_metrics(rows, base, schema=log.schema).assign(model_version=version)
        actual = drift_from_log(log, base, baselines={}, start=DAY0 + pd.Timedelta(days=1),
                                end=DAY0 + pd.Timedelta(days=7))
        _same(expected, actual[actual["model_version"] == version])


def test_numeric_samples_are_the_exact_value_counts(logged):
    """KS from the value counts is scipy's KS on the raw window (no binning)."""
    log, base = logged
    frame = log.read()
    (samples,) = log_samples(log, "1d").values()
    first = frame[frame["timestamp"] < DAY0 + pd.Timedelta(days=1)]
    tenure = samples.reduced["TotalCharges"][0].reduced
    raw = first["TotalCharges"].dropna().to_numpy()
    assert tenure.n == raw.size and tenure.nulls == first["TotalCharges"].isna().sum()
    np.testing.assert_array_equal(np.repeat(tenure.values, tenure.counts), np.sort(raw))
    table = drift_from_log(log, base, columns=["TotalCharges", "tenure"])
    row = table[(table["drift_type"] == "BASELINE")
                & (table["column_name"] == "TotalCharges")].iloc[0]
    reference = stats.ks_2samp(base["TotalCharges"].dropna(), raw)
    assert row["ks_statistic"] == pytest.approx(reference.statistic, abs=1e-12)
    assert row["wasserstein_distance"] == pytest.approx(
        stats.wasserstein_distance(base["TotalCharges"].dropna(), raw), rel=1e-9)


def test_value_counts_sql_covers_every_column(logged):
    log, _ = logged
    sql = value_counts_sql(log_columns(log), "1d", by_version=True)
    counts = log.query(sql)
    assert set(counts["col"]) == set(range(-1, len(log_columns(log))))
    per_column = counts.groupby(["window_start", "model_version", "col"])["count"].sum()
    assert per_column.groupby(level=[0, 1]).nunique().eq(1).all()  # every column, every row


def test_monitor_on_the_log_equals_the_pandas_path(logged):
    log, base = logged
    for kwargs in ({"baseline": base}, {"baseline": base, "baselines": {"2": base.head(800)}},
                   {"baseline": None}):
        old = monitor(log, granularity="1d", engine="pandas", **kwargs)
        new = monitor(log, granularity="1d", **kwargs)
        _same(old.drift, new.drift)
        _same(old.profile, new.profile)
        if len(old.estimate):
            _same(old.estimate, new.estimate)
        else:
            assert new.estimate.empty
        assert (old.rows, old.notes, old.by_version) == (new.rows, new.notes, new.by_version)


def test_monitor_labels_as_of(logged):
    log, base = logged
    before = DAY0 + pd.Timedelta(days=8)
    old = monitor(log, base, labels_as_of=before, engine="pandas")
    new = monitor(log, base, labels_as_of=before)
    _same(old.drift, new.drift)
    assert (new.drift.loc[new.drift["column_name"] == "ground_truth", "null_rate"] == 1).all()


def test_estimate_from_log_equals_the_estimate_on_the_read_frame(logged, tmp_path):
    """The estimate from the score, prediction and label columns read straight from the log
    equals CBPE on the frame the log reads as (labelled log through DuckDB; unlabelled log
    straight from Parquet), per version and with a time range."""
    log, base = logged
    cbpe = CBPE().fit(base)
    columns = ["timestamp", "prediction", "prediction_proba", "ground_truth"]
    for kwargs in ({}, {"model_version": "2"},
                   {"start": DAY0 + pd.Timedelta(days=2), "end": DAY0 + pd.Timedelta(days=6)}):
        rows = log.read(columns=columns, start=kwargs.get("start"), end=kwargs.get("end"),
                        model_version=kwargs.get("model_version"))
        expected = cbpe.estimate(rows, "1d")
        actual = estimate_from_log(log, cbpe, "1d", **kwargs)
        _same(expected, actual)
        assert actual["labelled_count"].gt(0).all() and actual["realised"].notna().all()
    # the same predictions without labels: read from Parquet, no DuckDB join
    bare = InferenceLog(tmp_path / "bare", log.schema)
    for path in log.batch_files():
        (bare.predictions_dir).mkdir(parents=True, exist_ok=True)
        (bare.predictions_dir / path.name).write_bytes(path.read_bytes())
    expected = cbpe.estimate(bare.read(columns=columns), "1w")
    actual = estimate_from_log(bare, cbpe, "1w")
    _same(expected, actual)
    assert actual["realised"].isna().all() and len(actual) == 2 * len(cbpe.metrics)
    version = estimate_from_log(bare, cbpe, "1d", model_version="1")
    _same(cbpe.estimate(bare.read(columns=columns, model_version="1"), "1d"), version)
    assert estimate_from_log(bare, cbpe, "1d", model_version="9").empty


def test_a_log_shared_with_another_contract_is_monitored_as_the_pandas_path_does(
        telco, tmp_path):
    """A workspace whose log also holds batches of another table (the book's shared
    workspace): a feature those batches lack reads as null in them, on both paths."""
    from closedloop.contract.schema import Schema

    other = Schema("other", tuple(c for c in TELCO_SCHEMA.columns if c.name != "tenure"),
                   target="Churn", positive="Yes", entity_id="customerID")
    rng = np.random.default_rng(3)
    for day, schema in enumerate((TELCO_SCHEMA, other, TELCO_SCHEMA)):
        rows = telco.sample(200, random_state=day).reset_index(drop=True)
        rows["customerID"] = [f"{day}-{i}" for i in range(len(rows))]
        proba = rng.random(len(rows))
        InferenceLog(tmp_path, schema).append(
            rows if schema is TELCO_SCHEMA else rows.drop(columns="tenure"),
            model_name=schema.name, model_version="1", timestamp=DAY0 + pd.Timedelta(days=day),
            scored=pd.DataFrame({"prediction": (proba >= 0.5).astype(int),
                                 "prediction_proba": proba}))
    log = InferenceLog(tmp_path, TELCO_SCHEMA)
    base = telco.sample(500, random_state=9).reset_index(drop=True)
    proba = rng.random(len(base))
    base = base.assign(prediction_proba=proba, prediction=(proba >= 0.5).astype(int),
                       ground_truth=TELCO_SCHEMA.target_as_int(base))
    fast, reference = (monitor(log, base, granularity="1d", engine=e)
                       for e in ("duckdb", "pandas"))
    _same(reference.drift, fast.drift)
    tenure = fast.drift[fast.drift["column_name"] == "tenure"]
    assert len(tenure) and tenure["window_start"].nunique() == 3
    with pytest.raises(KeyError, match="no column 'nonexistent'"):
        log_samples(log, columns={"nonexistent": "numeric"})


def test_a_category_missing_from_some_batch_files_reads_as_null(telco, tmp_path):
    from closedloop.contract.schema import Schema

    other = Schema("other", tuple(c for c in TELCO_SCHEMA.columns if c.name != "Contract"),
                   target="Churn", positive="Yes", entity_id="customerID")
    for day, schema in enumerate((TELCO_SCHEMA, other)):
        rows = telco.sample(100, random_state=day).reset_index(drop=True)
        rows["customerID"] = [f"{day}-{i}" for i in range(len(rows))]
        InferenceLog(tmp_path, schema).append(
            rows if schema is TELCO_SCHEMA else rows.drop(columns="Contract"),
            model_name=schema.name, model_version="1", timestamp=DAY0 + pd.Timedelta(days=day),
            scored=pd.DataFrame({"prediction": [0] * 100, "prediction_proba": [0.1] * 100}))
    log = InferenceLog(tmp_path, TELCO_SCHEMA)
    fast, reference = (monitor(log, None, granularity="1d", engine=e)
                       for e in ("duckdb", "pandas"))
    _same(reference.drift, fast.drift)
    assert (fast.drift["column_name"] == "Contract").any()


def test_a_log_row_without_a_model_version_is_named_not_grouped_at_random(telco, tmp_path):
    """A batch file edited by hand (or a table another job filled) with null model versions:
    the scan refuses it, naming the file, instead of grouping those rows with other versions."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    log = InferenceLog(tmp_path, TELCO_SCHEMA)
    rows = telco.sample(400, random_state=0).reset_index(drop=True).assign(
        t=DAY0 + pd.to_timedelta(np.arange(400) * 6, unit="h"))
    log.append(rows, model_name="m", model_version="1", timestamp="t",
               scored=pd.DataFrame({"prediction": [0] * 400, "prediction_proba": [0.1] * 400}))
    [path] = log.batch_files()
    table = pq.read_table(path)
    versions = pa.array(["1"] * 100 + [None] * 300, pa.string())
    pq.write_table(table.set_column(table.schema.get_field_index("model_version"),
                                    "model_version", versions), path)
    for by_version in ({}, None):
        with pytest.raises(ValueError, match=f"300 row.*{path.name}.*model_version"):
            drift_from_log(log, None, granularity="1d", baselines=by_version)


def test_integer_columns_counted_per_window_equal_the_sorted_samples(telco, tmp_path,
                                                                    monkeypatch):
    """Integer columns are counted per window instead of sorted: the same samples, nulls
    included, across files and versions, and the sort again when the values span too much."""
    from closedloop.monitoring import aggregates

    log = InferenceLog(tmp_path, TELCO_SCHEMA)
    rng = np.random.default_rng(5)
    for day in range(4):
        rows = telco.sample(300, random_state=day).reset_index(drop=True)
        rows["customerID"] = [f"{day}-{i}" for i in range(len(rows))]
        rows["tenure"] = rows["tenure"].astype("Int64")
        rows.loc[rng.random(len(rows)) < 0.1, "tenure"] = pd.NA   # nulls in an integer column
        if day == 3:
            rows["tenure"] = rows["tenure"] * 1000   # a wide span in one file
        proba = rng.random(len(rows))
        log.append(rows, model_name="m", model_version=str(1 + day % 2),
                   timestamp=DAY0 + pd.Timedelta(hours=20 * day),
                   scored=pd.DataFrame({"prediction": (proba >= 0.5).astype(int),
                                        "prediction_proba": proba}))
    columns = {"tenure": "numeric", "SeniorCitizen": "numeric"}

    def samples(by_version):
        found = log_samples(log, "1d", columns=columns, by_version=by_version)
        return {(v, c): [(s.reduced.values.tolist(), s.reduced.counts.tolist(), s.reduced.nulls)
                         for s in found[v].reduced[c]] for v in found for c in columns}

    counted = {v: samples(v) for v in (False, True)}
    assert counted[False][(None, "tenure")][0][2] > 0   # the nulls are counted
    monkeypatch.setattr(aggregates, "_COUNTED_CELLS", 100)   # tenure now sorted
    assert {v: samples(v) for v in (False, True)} == counted
    monkeypatch.setattr(aggregates.LogScan, "_count_integers", lambda self, name: None)
    assert {v: samples(v) for v in (False, True)} == counted
