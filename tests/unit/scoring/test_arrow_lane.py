"""The Arrow lane of ``score_file`` writes what the pandas path writes, or steps aside.

Each plain batch is scored twice, once through the lane and once with the lane switched off,
and the two output files, log batches, id hashes and results are compared column by column;
a spy checks that the lane really scored it. Each batch the lane must not judge (a value
outside the categories, a null where none is allowed, numbers as text, a repeated id...)
is shown to fall through to the pandas path, which names the problem as it always did.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.contract.validation import DataContractError
from closedloop.model.compiled import CompiledPredictor
from closedloop.monitoring.store import (
    LOGGED_AT,
    InferenceLog,
    hex_digests,
    hex_ids,
    prediction_digests,
    prediction_ids,
)
from closedloop.scoring import _arrow as lane
from closedloop.scoring import batch as batch_module
from closedloop.scoring._columns import (
    digest_order,
    digests_digest,
    hex_rows_digest,
    text_digest,
)
from closedloop.scoring.batch import _event_times, score_file


@pytest.fixture()
def rows(telco):
    frame = telco.drop(columns="Churn").sample(400, random_state=5).reset_index(drop=True)
    frame["event_time"] = pd.date_range("2026-01-01", periods=len(frame), freq="53s")
    return frame


def _plain(frame):
    return frame


def _nulls_where_allowed(frame):
    frame.loc[::6, "MonthlyCharges"] = np.nan
    frame.loc[::5, "OnlineSecurity"] = None
    return frame


def _zoned_nanoseconds(frame):
    # Paris time with nanoseconds: logged in naive UTC, floored to microseconds
    frame["event_time"] = (pd.date_range("1969-12-31 23:00", periods=len(frame), freq="1001ns",
                                         tz="Europe/Paris"))
    return frame


def _numeric_ids_and_narrow_types(frame):
    frame["customerID"] = np.arange(1000, 1000 + len(frame), dtype=np.int64)
    frame["tenure"] = frame["tenure"].astype(np.int32)
    frame["MonthlyCharges"] = frame["MonthlyCharges"].astype(np.float32)
    return frame


def _categorical_columns(frame):
    for name in TELCO_SCHEMA.categorical:
        frame[name] = frame[name].astype("category")
    return frame


def _no_event_time(frame):
    return frame.drop(columns="event_time")


PLAIN = [_plain, _nulls_where_allowed, _zoned_nanoseconds, _numeric_ids_and_narrow_types,
         _categorical_columns, _no_event_time]


def _score_both(ws, frame, tmp_path, monkeypatch, *, row_group_size=None, **options):
    """Score ``frame`` from Parquet through the lane, then without it; each run in its own
    log. Returns the two (result, output table, log table, id hashes) and the lane's count."""
    source = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), source,
                   row_group_size=row_group_size)
    taken = []
    real = batch_module._score_arrow_lane

    def spy(*args):
        found = real(*args)
        taken.append(found is not None)
        return found

    runs = []
    for use_lane in (True, False):
        monkeypatch.setattr(batch_module, "_score_arrow_lane",
                            spy if use_lane else (lambda *args: None))
        log = InferenceLog(ws)
        for path in log.predictions_dir.glob("*"):  # each run starts from an empty log
            path.unlink() if path.is_file() else [p.unlink() for p in path.glob("*")]
        output = tmp_path / f"out-{use_lane}.parquet"
        done = score_file(ws, source, output, **options)
        (logged,) = log.batch_files()
        hashes = np.load(logged.parent / "_ids" / f"{logged.stem}.npy")
        runs.append((done, pq.read_table(output), pq.read_table(logged), hashes))
    return runs, taken


@pytest.mark.parametrize("shape", PLAIN, ids=lambda f: f.__name__.strip("_"))
def test_a_plain_batch_takes_the_lane_and_writes_what_pandas_writes(
        champion, rows, tmp_path, monkeypatch, shape):
    # Without an event time or a scoring time, the ids come from the file's digest and each
    # run is scored at its own "now": that one column differs.
    keyed = shape is _no_event_time
    options = {} if keyed else {"scored_at": "2026-02-01 08:00"}
    (fast, slow), taken = _score_both(champion, shape(rows), tmp_path, monkeypatch,
                                      row_group_size=150, **options)
    assert taken == [True]                                     # the lane scored it
    same = {"output": "", **({"scored_at": ""} if keyed else {})}
    assert fast[0].to_dict() | same == slow[0].to_dict() | same
    assert fast[1].schema.equals(slow[1].schema, check_metadata=True)
    drop = ["scored_at"] if keyed else []
    assert fast[1].drop(drop).equals(slow[1].drop(drop))       # the output file
    assert fast[2].schema.equals(slow[2].schema)
    drop = [LOGGED_AT, *(["timestamp"] if keyed else [])]
    assert fast[2].drop(drop).equals(slow[2].drop(drop))       # the log batch
    assert np.array_equal(fast[3], slow[3])                    # its id hashes


def test_carried_columns_keep_the_types_pandas_gives_them(champion, rows, tmp_path,
                                                          monkeypatch):
    frame = rows.assign(region=np.where(np.arange(len(rows)) % 3, "north", None),
                        order=pd.array(np.arange(len(rows)), dtype="Int64"))
    frame.loc[::4, "order"] = pd.NA
    (fast, slow), taken = _score_both(champion, frame, tmp_path, monkeypatch,
                                      carry=["region", "order"], scored_at="2026-02-01")
    assert taken == [True]
    assert fast[1].schema.equals(slow[1].schema, check_metadata=True)
    assert fast[1].equals(slow[1])
    assert fast[1].column_names[-3:] == ["event_time", "region", "order"]


def _unknown_category(frame):
    frame.loc[7, "PaymentMethod"] = "Barter"


def _null_where_not_allowed(frame):
    frame.loc[3, "Contract"] = None


def _out_of_range(frame):
    frame.loc[9, "tenure"] = -4


def _numbers_as_text(frame):
    frame["tenure"] = frame["tenure"].astype(str)


def _whole_floats_for_integers(frame):
    frame["tenure"] = frame["tenure"].astype("float64")


def _unexpected_column(frame):
    frame["surprise"] = 1


def _repeated_pair(frame):
    frame.loc[11, ["customerID", "event_time"]] = frame.loc[10, ["customerID", "event_time"]]


def _nan_in_a_non_nullable_number(frame):
    frame["SeniorCitizen"] = frame["SeniorCitizen"].astype("float64")
    frame.loc[2, "SeniorCitizen"] = np.nan


def _huge_integer(frame):
    frame["tenure"] = frame["tenure"].astype(np.int64)
    frame.loc[5, "tenure"] = 2**62 + 1   # above the range, and no float holds it exactly


ASIDE = [_huge_integer, _unknown_category, _null_where_not_allowed, _out_of_range, _numbers_as_text,
         _whole_floats_for_integers, _unexpected_column, _repeated_pair,
         _nan_in_a_non_nullable_number]


@pytest.mark.parametrize("change", ASIDE, ids=lambda f: f.__name__.strip("_"))
def test_the_lane_steps_aside_for_what_it_cannot_see(champion, rows, tmp_path, monkeypatch,
                                                     change):
    change(rows)
    source, output = tmp_path / "in.parquet", tmp_path / "out.parquet"
    rows.to_parquet(source, index=False)
    taken = []
    real = batch_module._score_arrow_lane
    monkeypatch.setattr(batch_module, "_score_arrow_lane",
                        lambda *args: taken.append(real(*args)) or taken[-1])
    log = InferenceLog(champion)
    before = log.batch_files()
    try:
        done = score_file(champion, source, output, scored_at="2026-02-01")
    except DataContractError as err:  # named by the pandas path, nothing written
        with pytest.raises(DataContractError) as again:
            batch_module._prepare(pd.read_parquet(source), TELCO_SCHEMA, None, (), ()) if (
                change is not _repeated_pair) else batch_module._check_repeats(
                pd.read_parquet(source), TELCO_SCHEMA, pd.Timestamp("2026-02-01"),
                "event_time")
        assert str(err) == str(again.value)
        assert not output.exists() and log.batch_files() == before
    else:  # whole floats in an integer column are restored by the pandas path
        assert change is _whole_floats_for_integers and done.rows == len(rows)
    assert taken == [None]


def test_event_micros_floor_as_pandas_does():
    times = pd.Series(pd.to_datetime(["1969-12-31 23:59:59.9999995", "2026-03-01 12:00:00.1",
                                      "2262-04-11"], format="ISO8601"))
    for unit in ("s", "ms", "us", "ns"):
        values = pa.chunked_array([pa.array(times.astype(f"datetime64[{unit}]"))])
        expected = _event_times(times.astype(f"datetime64[{unit}]"), "t", TELCO_SCHEMA)
        assert np.array_equal(lane.event_micros(values),
                              expected.to_numpy().astype("datetime64[us]").astype(np.int64))
    zoned = pa.chunked_array([pa.array(times.dt.tz_localize("Asia/Tokyo"))])
    expected = _event_times(times.dt.tz_localize("Asia/Tokyo"), "t", TELCO_SCHEMA)
    assert np.array_equal(lane.event_micros(zoned),
                          expected.to_numpy().astype("datetime64[us]").astype(np.int64))
    far = pa.chunked_array([pa.array([9_300_000_000_000_000], pa.timestamp("us"))])
    assert lane.event_micros(far) is None                   # beyond pandas' nanoseconds
    assert lane.event_micros(pa.chunked_array([pa.array([1, None], pa.timestamp("s"))])) is None


def test_digests_spell_the_ids_and_name_their_batch():
    entity = pd.Series([f"c{i}" for i in range(300)] + ["é", "x\x1fy"])
    when = pd.Series(pd.date_range("2026-01-01", periods=len(entity), freq="7min"))
    digests = prediction_digests(entity, when, "m", "3")
    ids = prediction_ids(entity, when, "m", "3")
    expected = [hashlib.blake2b(f"m\x1f3\x1f{e}\x1f{t}".encode(), digest_size=16).hexdigest()
                for e, t in zip(entity, when.astype("int64"))]
    assert ids.tolist() == expected == hex_ids(digests).to_pylist()
    assert digests_digest(digests) == text_digest(ids) == text_digest(expected)
    assert digests_digest(digests[:0]) == text_digest([])
    # ids sharing their first 8 bytes are ordered by the rest, and a repeat is seen
    close = np.zeros((4, 16), np.uint8)
    close[:, 15] = [3, 1, 2, 1]
    order, distinct = digest_order(close)
    assert order.tolist()[:1] in ([1], [3]) and order.tolist()[2:] == [2, 0] and not distinct
    assert digest_order(close[:3])[1]
    assert digests_digest(close[:3]) == text_digest(hex_ids(close[:3]).to_pylist())
    keyed = prediction_ids(pa.chunked_array([pa.array(entity)]), when, "m", "3",
                           content_key="k")
    assert keyed.tolist() == [hashlib.blake2b(f"m\x1f3\x1fcontent:k\x1f{e}".encode(),
                                              digest_size=16).hexdigest() for e in entity]


def test_ids_beyond_a_string_array_take_64_bit_offsets(monkeypatch):
    import closedloop.monitoring.store as store

    digests = np.arange(48, dtype=np.uint8).reshape(3, 16)
    small = hex_ids(digests)
    monkeypatch.setattr(store, "_STRING_BYTES", 64)          # as if 3 ids were 2 GiB of text
    large = hex_ids(digests)
    assert small.type == pa.string() and large.type == pa.large_string()
    assert large.to_pylist() == small.to_pylist() == [bytes(r).hex() for r in digests]


def test_ids_read_back_as_their_digests_from_any_layout():
    # What the Spark driver names a batch from: ids read from its staging parts.
    digests = np.random.default_rng(0).integers(0, 256, (50, 16), dtype=np.uint8)
    ids = hex_ids(digests)
    pieces = pa.chunked_array([ids.slice(0, 7).cast(pa.large_string()),
                               ids.slice(7).cast(pa.large_string())])
    for column in (ids, pieces, ids.slice(7)):
        found, text = hex_digests(column)
        assert (found == digests[50 - len(column):]).all()
        assert [bytes(row).decode() for row in text] == column.to_pylist()
    order, _ = digest_order(digests)
    assert hex_rows_digest(hex_digests(ids)[1][order]) == text_digest(ids.to_pylist())
    assert hex_rows_digest(np.empty((0, 32), np.uint8)) == text_digest([])
    for bad, problem in ((pa.array(["ab" * 16, None]), "a null id"),
                         (pa.array(["ab" * 15]), "32 hex digits"),
                         (pa.array(["AB" * 16]), "lower-case hex")):
        with pytest.raises(ValueError, match=problem):
            hex_digests(bad)


def test_matrix_from_arrow_equals_matrix_from_pandas(telco):
    from closedloop.model.train import build_pipeline

    pipe = build_pipeline(TELCO_SCHEMA, {"n_estimators": 20})
    pipe.fit(telco, TELCO_SCHEMA.target_as_int(telco))
    compiled = CompiledPredictor(pipe, 0.5, TELCO_SCHEMA)
    frame = telco.drop(columns="Churn").head(600).copy()
    frame.loc[::5, "OnlineSecurity"] = None
    frame.loc[::7, "TotalCharges"] = np.nan
    frame.loc[::11, "PaymentMethod"] = "Barter"             # unseen: NaN for the booster
    frame.loc[::13, "StreamingTV"] = "Yes please"
    source = pa.Table.from_pandas(frame, preserve_index=False)
    chunked = pa.concat_tables([source.slice(0, 250), source.slice(250)])
    encoded = chunked.cast(pa.schema([
        f.with_type(pa.dictionary(pa.int32(), pa.string())) if f.name in
        TELCO_SCHEMA.categorical else f for f in chunked.schema]))
    expected = compiled.matrix(frame)
    for table in (source, chunked, encoded.unify_dictionaries()
                  if hasattr(encoded, "unify_dictionaries") else encoded):
        assert np.array_equal(compiled.matrix_arrow(table), expected, equal_nan=True)


def test_a_batch_is_not_committed_when_its_output_fails(tmp_path):
    from closedloop.monitoring.store import predictions_arrow_schema

    log = InferenceLog(tmp_path / "ws")
    table = predictions_arrow_schema(TELCO_SCHEMA).empty_table()

    def output_failed():
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        log.write_arrow("b1", table, before_commit=output_failed)
    assert log.batch_files() == [] and not list(log.predictions_dir.glob(".*.tmp"))


def test_dictionary_text_is_stored_and_read_back_as_text(tmp_path):
    log = InferenceLog(tmp_path / "ws")
    from closedloop.monitoring.store import predictions_arrow_schema

    plain = predictions_arrow_schema(TELCO_SCHEMA)
    n = 3
    values = {f.name: pa.nulls(n, f.type) for f in plain}
    values["prediction_id"] = pa.array(["a", "b", "c"])
    values["gender"] = pa.array(["Male", "Female", "Male"]).dictionary_encode()
    table = pa.table(values)
    path, written = log.write_arrow("b2", table)
    back = pq.read_table(path)
    assert written and back.schema.equals(plain)
    assert back.column("gender").to_pylist() == ["Male", "Female", "Male"]
