"""The inference log: typed round trip, atomic and idempotent appends, two real writer processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.contract.validation import DataContractError
from closedloop.monitoring import InferenceLog, assign_windows, read_log
from closedloop.monitoring.store import PREDICTIONS_TABLE
from closedloop.monitoring.windows import Granularity, window_start_sql
from closedloop.simulate.scenarios import get_scenario
from closedloop.simulate.stream import StreamSimulator


@pytest.fixture(scope="module")
def stream(telco):
    sim = StreamSimulator(telco, seed=5, population=2_000)
    frame = sim.stream(days=3, rows_per_day=40, scenario=get_scenario("null_spike", start_day=1))
    proba = frame["true_churn_proba"].round(3)
    return frame.assign(prediction=(proba >= 0.5).astype("int64"), prediction_proba=proba)


def test_round_trip_keeps_the_contract_dtypes(stream, workspace):
    log = InferenceLog(workspace)
    result = log.append(stream, model_name="churn", model_version=3, timestamp="event_time")
    assert result.written and result.rows == len(stream)
    frame = log.read()
    assert list(frame.columns) == log.columns
    expected = stream.sort_values(["event_time", "customerID"]).reset_index(drop=True)
    for name in TELCO_SCHEMA.feature_names:
        pd.testing.assert_series_equal(frame[name], expected[name], check_names=False)
    assert frame["timestamp"].tolist() == expected["event_time"].tolist()
    assert str(frame["ground_truth"].dtype) == "Int64" and frame["ground_truth"].isna().all()
    assert frame["model_version"].eq("3").all() and frame["prediction_id"].is_unique
    assert frame["PaymentMethod"].isna().any()   # a data-quality incident is logged as it was


def test_same_batch_twice_is_written_once(stream, workspace):
    log = InferenceLog(workspace)
    first = log.append(stream, model_name="m", model_version=1, timestamp="event_time")
    again = log.append(stream, model_name="m", model_version=1, timestamp="event_time")
    assert first.written and not again.written and again.batch_id == first.batch_id
    assert len(log) == len(stream) and len(log.batch_files()) == 1


def test_overlapping_batches_never_show_a_row_twice(stream, workspace):
    log = InferenceLog(workspace)
    log.append(stream.iloc[:80], model_name="m", model_version=1, timestamp="event_time")
    log.append(stream.iloc[40:], model_name="m", model_version=1, timestamp="event_time")
    assert len(log.batch_files()) == 2
    frame = log.read()
    assert len(frame) == len(stream) and frame["prediction_id"].is_unique
    # Another model version scoring the same rows makes new predictions, not duplicates.
    log.append(stream, model_name="m", model_version=2, timestamp="event_time")
    assert len(log) == 2 * len(stream)
    assert len(log.read(model_version="2")) == len(stream)


def _old_predictions_view(log):
    """The de-duplication before the shadowed-rows one: a row_number() window over all columns."""
    con = log.connect()
    return con, ("SELECT * EXCLUDE (_rank) FROM (SELECT *, row_number() OVER (PARTITION BY "
                 "prediction_id ORDER BY logged_at, batch_id) AS _rank FROM predictions_raw) "
                 "WHERE _rank = 1")


def test_the_cheap_de_duplication_keeps_the_rows_of_the_row_number_view(stream, workspace):
    log = InferenceLog(workspace)
    first = stream.iloc[:70]
    log.append(first, model_name="m", model_version=1, timestamp="event_time")
    # The same batch re-appended with 10 more rows and different outputs (a rerun whose model
    # output changed): a new file whose first 70 rows repeat logged prediction ids.
    rerun = stream.iloc[:80].assign(prediction_proba=0.5, prediction=1)
    log.append(rerun, model_name="m", model_version=1, timestamp="event_time")
    # And a third, later batch overlapping the second one's tail.
    log.append(stream.iloc[75:], model_name="m", model_version=1, timestamp="event_time")
    assert len(log.batch_files()) == 3
    shadowed = log.shadowed_rows().to_pandas()
    assert len(shadowed) == 70 + 5   # 70 ids logged twice, 5 logged by batches 2 and 3
    con, old_sql = _old_predictions_view(log)
    try:
        raw = con.execute("SELECT count(*) FROM predictions_raw").fetchall()[0][0]
        order = "ORDER BY prediction_id"
        old = con.sql(f"{old_sql} {order}").df()
        new = con.sql(f"SELECT * FROM predictions {order}").df()
    finally:
        con.close()
    assert raw == 70 + 80 + len(stream) - 75 and len(new) == len(stream)
    pd.testing.assert_frame_equal(new, old)
    # the first-logged copy wins: the first 70 rows keep the first batch's outputs
    frame = log.read().set_index("prediction_id")
    kept = frame.loc[new["prediction_id"][new["batch_id"] == first_batch(log)]]
    assert len(kept) == 70 and not kept["prediction_proba"].eq(0.5).all()
    assert frame["prediction_proba"].eq(0.5).sum() == 10   # the rerun's 10 new rows only


def first_batch(log):
    return log.query("SELECT batch_id FROM predictions_raw ORDER BY logged_at LIMIT 1")[
        "batch_id"].iloc[0]


def test_the_shadowed_rows_are_cached_per_set_of_files(stream, workspace):
    log = InferenceLog(workspace)
    log.append(stream.iloc[:50], model_name="m", model_version=1, timestamp="event_time")
    assert log.shadowed_rows().num_rows == 0   # one file: nothing to look up
    log.append(stream.iloc[:60], model_name="m", model_version=1, timestamp="event_time")
    found = log.shadowed_rows()
    assert found.num_rows == 50 and log.shadowed_rows() is found   # cached
    log.append(stream.iloc[55:], model_name="m", model_version=1, timestamp="event_time")
    assert log.shadowed_rows().num_rows == 55   # a new file: looked up again
    assert len(log) == len(stream)


def test_the_id_hashes_kept_beside_each_batch_give_the_same_shadowed_rows(stream, workspace):
    """Each written batch keeps its id hashes in ``_ids`` (what the look-up reads instead of
    the ids); missing, stale or unreadable ones are computed from the ids again."""
    import shutil

    from closedloop.monitoring import _storage, store

    log = InferenceLog(workspace)
    log.append(stream.iloc[:70], model_name="m", model_version=1, timestamp="event_time")
    log.append(stream.iloc[:80].assign(prediction_proba=0.5, prediction=1), model_name="m",
               model_version=1, timestamp="event_time")
    kept = sorted((log.predictions_dir / _storage.ID_HASHES).glob("*.npy"))
    assert [p.stem for p in kept] == [p.stem for p in log.batch_files()]
    assert not list(kept[0].parent.glob(".*"))   # no temporary file left behind

    def shadowed():
        store._SHADOWED.clear()
        table = log.shadowed_rows().to_pandas()
        return table.sort_values(list(table.columns), ignore_index=True)

    expected = shadowed()
    assert len(expected) == 70
    np.save(kept[0], np.arange(3, dtype=np.uint64))      # stale: not one hash per row
    kept[1].write_bytes(b"not an array")                  # unreadable
    pd.testing.assert_frame_equal(shadowed(), expected)
    shutil.rmtree(kept[0].parent)                         # a log written before them
    pd.testing.assert_frame_equal(shadowed(), expected)
    assert len(log) == 80


def test_read_filters_by_half_open_time_range(stream, workspace):
    log = InferenceLog(workspace)
    log.append(stream, model_name="m", model_version=1, timestamp="event_time")
    day = read_log(workspace, "2026-01-02", "2026-01-03")
    assert len(day) == 40 and day["timestamp"].dt.date.astype(str).eq("2026-01-02").all()
    assert len(log.read(end="2026-01-02")) == 40


def test_bad_batches_are_rejected_naming_the_column(stream, workspace):
    log = InferenceLog(workspace)
    with pytest.raises(DataContractError) as err:
        log.append(stream.drop(columns=["tenure"]), model_name="m", model_version=1,
                   timestamp="event_time")
    assert err.value.columns == ["tenure"]
    day = stream.head(40)   # one day: no customer twice
    with pytest.raises(DataContractError, match="prediction_proba"):
        log.append(day.assign(prediction_proba=1.5), model_name="m", model_version=1)
    with pytest.raises(DataContractError, match="MonthlyCharges"):
        log.append(day.assign(MonthlyCharges="cheap"), model_name="m", model_version=1)
    with pytest.raises(DataContractError, match="prediction_id: repeated"):
        log.append(pd.concat([day, day]), model_name="m", model_version=1)
    # Numbers that arrive as text are refused, not parsed: the type change upstream is seen.
    with pytest.raises(DataContractError) as err:
        log.append(stream.assign(tenure=stream["tenure"].astype(str)), model_name="m",
                   model_version=1, timestamp="event_time")
    assert err.value.columns == ["tenure"]
    assert f"{len(stream)} value(s) arrive as text in an integer column (rows 0, 1, 2" in str(
        err.value) and "refused, not parsed" in str(err.value)
    assert len(log) == 0
    assert not list(log.predictions_dir.glob(".*"))   # no temporary file left behind


def test_the_next_write_reaps_stale_leftovers_of_killed_writers(stream, workspace):
    import os

    log = InferenceLog(workspace)
    log.predictions_dir.mkdir(parents=True)
    stale, fresh = (log.predictions_dir / f".{n}.123.abc.tmp" for n in ("old", "new"))
    stale.write_bytes(b"half a batch")
    fresh.write_bytes(b"a live writer's batch")
    os.utime(stale, (time.time() - 3600,) * 2)
    log.append(stream.head(40), model_name="m", model_version=1, timestamp="event_time")
    assert not stale.exists() and fresh.exists()   # a young one may belong to a live writer


def test_a_content_key_replaces_the_time_in_the_ids(stream, workspace):
    log = InferenceLog(workspace)
    day = stream.head(40)
    first = log.append(day, model_name="m", model_version=1, timestamp=pd.Timestamp("2026-01-01"),
                       content_key="abc")
    again = log.append(day, model_name="m", model_version=1, timestamp=pd.Timestamp("2026-01-02"),
                       content_key="abc")
    assert first.written and not again.written and first.batch_id == again.batch_id
    assert log.append(day, model_name="m", model_version=1, timestamp=pd.Timestamp("2026-01-02"),
                      content_key="abd").written


def test_batch_scores_at_one_time_and_zone_aware_times_become_utc(stream, workspace):
    log = InferenceLog(workspace)
    at = pd.Timestamp("2026-03-01 12:00", tz="Europe/Paris")
    log.append(stream.head(5), model_name="m", model_version=1, timestamp=at)
    assert log.read()["timestamp"].eq(pd.Timestamp("2026-03-01 11:00")).all()


@pytest.mark.parametrize("grain", ["1h", "6h", "1d", "2d", "1w", "1mo", "3mo"])
def test_pandas_and_duckdb_windows_agree(grain):
    import duckdb

    rng = np.random.default_rng(0)
    ts = pd.Series(pd.to_datetime("1999-06-01") + pd.to_timedelta(
        rng.integers(0, 40 * 365 * 86_400, 500), unit="s"))
    frame = pd.DataFrame({"ts": ts})
    sql = duckdb.sql(f"SELECT {window_start_sql('ts', grain)} AS w FROM frame").df()["w"]
    got = assign_windows(ts, grain)
    assert (pd.to_datetime(sql).astype("datetime64[ns]") == got).all()
    assert (got <= ts).all() and (Granularity.parse(grain).end(got) > ts).all()


WRITER = textwrap.dedent("""
    import sys
    import time
    import pandas as pd
    from closedloop.contract.telco import TELCO_SCHEMA, load_telco
    from closedloop.monitoring import InferenceLog

    workdir, writer = sys.argv[1], int(sys.argv[2])
    base = load_telco().head(60)
    log = InferenceLog(workdir)
    for batch in range(12):
        size = 5 + (writer * 12 + batch) % 50     # sizes known to the reader
        rows = base.head(size).assign(
            customerID=[f"W{writer}-B{batch}-{i}" for i in range(size)],
            prediction=0, prediction_proba=0.25)
        log.append(rows, model_name="m", model_version=str(writer),
                   timestamp=pd.Timestamp("2026-01-01") + pd.Timedelta(minutes=batch))
        time.sleep(0.05)   # spread the batches out so the reader polls between them
""")


def test_two_processes_append_at_once_and_a_reader_sees_only_whole_batches(tmp_path):
    workdir = tmp_path / "ws"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(workdir), str(w)])
               for w in (0, 1)]
    log, seen = InferenceLog(workdir), []
    while any(p.poll() is None for p in writers):
        if (workdir / "tables" / PREDICTIONS_TABLE).is_dir():
            per_batch = log.query(
                "SELECT model_version, split_part(customerID, '-', 2) AS batch, count(*) AS n "
                "FROM inference_log GROUP BY ALL")
            seen.append(per_batch)
        time.sleep(0.05)
    assert [p.returncode for p in writers] == [0, 0]
    for snapshot in seen:   # every batch the reader saw was complete
        expected = [5 + (int(v) * 12 + int(b[1:])) % 50
                    for v, b in zip(snapshot["model_version"], snapshot["batch"])]
        assert snapshot["n"].tolist() == expected
    frame = log.read()
    sizes = [5 + (w * 12 + b) % 50 for w in (0, 1) for b in range(12)]
    assert len(frame) == sum(sizes) and frame["prediction_id"].is_unique
    assert len(log.batch_files()) == 24
    # The reader did read while the writers ran: some snapshot held only part of the batches.
    assert any(len(snapshot) < 24 for snapshot in seen), [len(s) for s in seen]
