"""Batch scoring: pandas and Spark agree, bad input writes nothing, tiers, dtypes, the CLI.

One model is trained (no HPO) and promoted once for the module; one local[2] SparkSession.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from closedloop.config import Workspace
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.contract.validation import DataContractError
from closedloop.model.train import TrainConfig
from closedloop.monitoring.store import InferenceLog
from closedloop.scoring._columns import output_columns
from closedloop.scoring.batch import check_input, score, score_file
from closedloop.scoring.spark import score_spark, spark_to_pandas
from closedloop.scoring.tiers import RiskTiers

SCORED_AT = pd.Timestamp("2026-02-01 08:00")


@pytest.fixture(scope="module")
def model(telco):
    # Without MLflow: the registry pyfunc wraps exactly this
    # (closedloop.model.baselines.PipelineModel).
    from closedloop.model.baselines import PipelineModel
    from closedloop.model.train import train

    result = train(telco, TELCO_SCHEMA, TrainConfig(n_trials=0))
    return PipelineModel.from_result(result, TELCO_SCHEMA)


@pytest.fixture(scope="module")
def trained(telco, tmp_path_factory):
    from closedloop.config import Workspace
    from closedloop.model.promotion import promote
    from closedloop.model.registry import train_and_register

    ws = Workspace(tmp_path_factory.mktemp("scoring") / "ws")
    result = train_and_register(telco, TELCO_SCHEMA, ws, TrainConfig(n_trials=0))
    promote(ws, reason="test", force=True)
    return ws, result.model_version


@pytest.fixture(scope="module")
def batch(telco):
    # Input as it arrives from a file: no label, integers as floats (restored by scoring).
    return telco.drop(columns=["Churn"]).sample(600, random_state=3).assign(
        tenure=lambda d: d["tenure"].astype("float64"))


@pytest.fixture(scope="module")
def spark():
    from closedloop.scoring.spark import spark_for_scoring

    return spark_for_scoring("local[2]")


def test_risk_tiers_at_the_boundaries():
    tiers = RiskTiers()
    proba = np.array([0.0, np.nextafter(0.4, 0), 0.4, np.nextafter(0.7, 0), 0.7, 1.0])
    assert tiers.assign(proba).tolist() == ["low", "low", "medium", "medium", "high", "high"]
    with pytest.raises(ValueError):
        RiskTiers(high=0.3, medium=0.5)


def test_pandas_scoring_restores_dtypes_and_logs(model, batch, tmp_path):
    version = "7"
    log = InferenceLog(tmp_path / "ws")
    out = score(batch, model, model_version=version, scored_at=SCORED_AT, log=log,
                tiers=RiskTiers(high=0.6, medium=0.3))
    assert list(out.columns) == output_columns()
    assert out.dtypes[["prediction", "prediction_proba", "scored_at"]].astype(str).tolist() == [
        "int64", "float64", "datetime64[ns]"]
    assert out["customerID"].tolist() == batch["customerID"].tolist()
    expected = model.predict(check_input(batch)[TELCO_SCHEMA.feature_names])
    assert np.array_equal(out["prediction_proba"], expected["prediction_proba"])
    assert set(out["risk_tier"]) == {"low", "medium", "high"}
    assert (out.loc[out["risk_tier"] == "high", "prediction_proba"] >= 0.6).all()
    logged = log.read()
    assert len(logged) == len(batch) and logged["model_version"].eq(version).all()
    assert logged["tenure"].dtype == "int64"


def test_pandas_and_spark_give_identical_predictions(model, batch, spark):
    ours = score(batch, model, model_version="7", scored_at=SCORED_AT)
    # Raw input (tenure as float): the Spark path restores the dtypes as the pandas one does.
    sdf = spark.createDataFrame(batch)
    theirs = spark_to_pandas(score_spark(sdf, model, model_version="7", scored_at=SCORED_AT))
    theirs = theirs.set_index("customerID").loc[ours["customerID"]].reset_index()
    assert theirs.dtypes.equals(ours.dtypes)
    assert np.array_equal(theirs["prediction"], ours["prediction"])
    np.testing.assert_allclose(theirs["prediction_proba"], ours["prediction_proba"],
                               rtol=0, atol=1e-12)
    pd.testing.assert_frame_equal(theirs.drop(columns="prediction_proba"),
                                  ours.drop(columns="prediction_proba"))


@pytest.mark.parametrize("engine", ["pandas", "spark"])
def test_contract_violation_writes_nothing(batch, tmp_path, engine, request):
    if engine == "spark":
        request.getfixturevalue("spark")
    # No model is needed: the check comes before the model is even looked up.
    ws = Workspace(tmp_path / "ws")
    bad = batch.drop(columns=["gender"]).assign(Contract="Weekly")
    source = tmp_path / "in.parquet"
    bad.to_parquet(source)
    before = len(InferenceLog(ws).batch_files())
    with pytest.raises(DataContractError) as err:
        score_file(ws, source, tmp_path / "out.parquet", engine=engine)
    assert err.value.columns == ["Contract", "gender"]
    assert not (tmp_path / "out.parquet").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]  # nor a temp file
    assert len(InferenceLog(ws).batch_files()) == before == 0


@pytest.mark.parametrize("workers_write", [True, False], ids=["workers write", "spark writes"])
def test_spark_file_equals_pandas_file_and_log(trained, batch, tmp_path, spark, workers_write,
                                               monkeypatch):
    import pyarrow.parquet as pq

    from closedloop.scoring import spark as spark_engine

    # Locally the workers write the staging parts; on a cluster Spark's writer does.
    monkeypatch.setattr(spark_engine, "_workers_share_disk", lambda session: workers_write)
    ws, _ = trained
    source = tmp_path / "in.parquet"
    # Distinct prediction times per row, in microseconds (Spark reads no nanosecond Parquet).
    times = pd.Timestamp("2026-02-01") + pd.to_timedelta(np.arange(len(batch)) * 1_500_001,
                                                         unit="us")
    batch.assign(event_time=times.astype("datetime64[us]")).to_parquet(source, index=False)
    log = InferenceLog(ws)
    files: dict[str, tuple] = {}

    def run(engine: str) -> None:
        from closedloop.monitoring._storage import id_hashes, read_id_hashes

        output = tmp_path / f"{engine}.parquet"
        score_file(ws, source, output, engine=engine, scored_at=SCORED_AT, timestamp="event_time")
        [logged] = log.batch_files()  # a retry finds its batch already logged
        files[engine] = (pq.read_table(output), pq.read_table(logged), logged.name)
        # the id hashes kept beside the batch for the log's de-duplication, in its row order
        kept = read_id_hashes(logged, len(batch))
        assert kept is not None
        np.testing.assert_array_equal(kept, id_hashes(files[engine][1].column("prediction_id")))

    try:
        run("spark")
        first = log.batch_files()[0].stat().st_mtime_ns
        run("spark")
        assert log.batch_files()[0].stat().st_mtime_ns == first
        shutil.rmtree(log.predictions_dir)
        run("pandas")
    finally:
        shutil.rmtree(log.predictions_dir, ignore_errors=True)  # other tests expect no log here
    (out_spark, log_spark, name_spark), (out_pandas, log_pandas, name_pandas) = (
        files["spark"], files["pandas"])
    assert out_spark.equals(out_pandas) and len(out_pandas) == len(batch)
    assert name_spark == name_pandas  # the batch id: a digest of the prediction ids
    assert log_spark.schema.equals(log_pandas.schema)
    assert log_spark.drop(["logged_at"]).equals(log_pandas.drop(["logged_at"]))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "in.parquet", "pandas.parquet", "spark.parquet"]  # no temporary file or folder left


def test_spark_and_pandas_name_a_batch_without_times_alike(trained, batch, tmp_path, spark):
    """No event time, no scoring time: the ids come from the file's digest in both engines
    (the Spark workers compute them from Arrow batches, the pandas lane from its table)."""
    import pyarrow.parquet as pq

    ws, _ = trained
    source = tmp_path / "in.parquet"
    batch.to_parquet(source, index=False)
    log, found = InferenceLog(ws), {}
    try:
        for engine in ("spark", "pandas"):
            score_file(ws, source, tmp_path / f"{engine}.parquet", engine=engine)
            [logged] = log.batch_files()
            found[engine] = (logged.name, pq.read_table(logged).column("prediction_id"))
            shutil.rmtree(log.predictions_dir)
    finally:
        shutil.rmtree(log.predictions_dir, ignore_errors=True)  # other tests expect no log here
    assert found["spark"][0] == found["pandas"][0]
    assert found["spark"][1].equals(found["pandas"][1]) and len(found["pandas"][1]) == len(batch)


def test_cli_scores_a_file(trained, batch, tmp_path, capsys):
    from closedloop.cli import main

    ws, version = trained
    source, output = tmp_path / "in.csv", tmp_path / "out.parquet"
    batch.to_csv(source, index=False)
    code = main(["score", "--workdir", str(ws.root), "--input", str(source), "--output",
                 str(output), "--json", "--scored-at", "2026-02-02"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == len(batch) and report["model_version"] == version
    written = pd.read_parquet(output)
    assert list(written.columns) == output_columns() and len(written) == len(batch)
    bad, missing = tmp_path / "bad.csv", tmp_path / "never.parquet"
    batch.drop(columns=["tenure"]).to_csv(bad, index=False)
    code = main(["score", "--workdir", str(ws.root), "--input", str(bad), "--output",
                 str(missing)])
    assert code == 2 and not missing.exists()
    assert "tenure" in capsys.readouterr().err
    assert len(InferenceLog(ws).read()) == len(batch)  # the good batch only


@pytest.mark.slow  # about a minute on two cores, most of it Spark's
def test_spark_and_pandas_agree_on_a_csv_stream_with_numeric_ids(trained, batch, tmp_path, spark):
    import pyarrow.parquet as pq

    ws, _ = trained
    log = InferenceLog(ws)
    # A customer twice (other days), numeric ids, event times in the file, an extra column.
    rows = pd.concat([batch.head(40), batch.head(40)], ignore_index=True)
    times = pd.Timestamp("2026-02-01") + pd.to_timedelta(np.arange(len(rows)) * 3_600_000_001,
                                                         unit="us")
    source = tmp_path / "in.csv"
    rows.assign(customerID=np.tile(np.arange(1000, 1040), 2), event_time=times,
                region="north").to_csv(source, index=False)
    files, before = {}, set(log.batch_files())
    try:
        for engine in ("pandas", "spark"):
            output = tmp_path / f"{engine}.parquet"
            done = score_file(ws, source, output, engine=engine, scored_at=SCORED_AT,
                              carry=["region"])
            assert (done.event_time, done.carried) == ("event_time", ("event_time", "region"))
            [logged] = set(log.batch_files()) - before
            files[engine] = (pq.read_table(output), pq.read_table(logged).drop(["logged_at"]))
            logged.unlink()
    finally:
        for path in set(log.batch_files()) - before:  # other tests expect their log only
            path.unlink()
    assert files["spark"][0].equals(files["pandas"][0])
    assert files["spark"][1].equals(files["pandas"][1])
    out, logged = files["pandas"][0].to_pandas(), files["pandas"][1].to_pandas()
    assert out.columns[-2:].tolist() == ["event_time", "region"]
    assert out["customerID"].tolist() == [str(i) for i in np.tile(np.arange(1000, 1040), 2)]
    assert (logged["timestamp"].to_numpy() == times.to_numpy()).all()
    assert logged["prediction_id"].is_unique


# ------------------------------------------------------- exactly once, output before log, types


@pytest.fixture()
def own_log(trained):
    """The shared workspace's log, with the batches a test adds removed afterwards."""
    ws, _ = trained
    log = InferenceLog(ws)
    before = set(log.batch_files())
    yield log
    for path in set(log.batch_files()) - before:  # other tests expect their log only
        path.unlink()


def test_a_plain_retry_of_a_file_without_event_time_logs_once(trained, batch, tmp_path,
                                                              own_log):
    ws, _ = trained
    source = tmp_path / "in.parquet"
    batch.head(50).to_parquet(source, index=False)
    before = set(own_log.batch_files())
    first = score_file(ws, source, tmp_path / "a.parquet")
    again = score_file(ws, source, tmp_path / "b.parquet")   # another time, same content
    assert (first.log_written, again.log_written) == (True, False)
    assert len(set(own_log.batch_files()) - before) == 1
    # A retry to the same output replaces the file that holds this very batch.
    assert score_file(ws, source, tmp_path / "a.parquet").log_written is False
    batch.head(51).to_parquet(source, index=False)   # a changed file is a new batch
    assert score_file(ws, source, tmp_path / "c.parquet").log_written is True
    assert len(set(own_log.batch_files()) - before) == 2
    # With --scored-at the given time is the identity: two times, two batches.
    score_file(ws, source, tmp_path / "d.parquet", scored_at="2026-03-01")
    score_file(ws, source, tmp_path / "e.parquet", scored_at="2026-03-02")
    assert len(set(own_log.batch_files()) - before) == 4


@pytest.mark.parametrize("engine", ["pandas", "spark"])
def test_a_bad_output_path_is_refused_and_nothing_is_logged(trained, batch, tmp_path, engine,
                                                            own_log):
    from closedloop.scoring._columns import OutputError

    ws, _ = trained
    source = tmp_path / "in.parquet"
    batch.head(20).to_parquet(source, index=False)
    folder, taken = tmp_path / "folder", tmp_path / "taken.parquet"
    folder.mkdir()
    taken.write_bytes(b"somebody else's file")
    before = set(own_log.batch_files())
    with pytest.raises(OutputError, match=str(folder)):
        score_file(ws, source, folder, engine=engine)
    with pytest.raises(OutputError, match="exists.*--overwrite"):
        score_file(ws, source, taken, engine=engine)
    assert taken.read_bytes() == b"somebody else's file"
    assert set(own_log.batch_files()) == before   # no prediction logged that nobody received
    if engine == "spark":  # one Spark job: the replaced file and the logged batch
        replaced = score_file(ws, source, taken, engine=engine, overwrite=True)
        assert replaced.log_written and len(pd.read_parquet(taken)) == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "in.parquet",
                                                          "taken.parquet"]


def test_a_file_of_one_row_group_is_scored_on_every_core(trained, batch, tmp_path, spark):
    # Spark plans the file as two splits by bytes, but one split holds every row: the task
    # that has them predicts on both cores instead of one.
    from closedloop.scoring.spark import _read, _row_groups, _threads_per_task

    source = tmp_path / "in.parquet"
    pd.concat([batch] * 20).to_parquet(source, index=False, row_group_size=1_000_000)
    # Splits of a quarter of the file, as a large file gets splits of 128 MB.
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(source.stat().st_size // 4))
    try:
        sdf = _read(spark, source)
        assert sdf.rdd.getNumPartitions() > 1 and _row_groups(source) == 1
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    assert _threads_per_task(sdf) == 1 and _threads_per_task(sdf, _row_groups(source)) == 2
    batch.to_csv(tmp_path / "in.csv", index=False)
    assert _row_groups(tmp_path / "in.csv") is None


def test_native_trees_on_every_core_of_a_spark_worker(trained, batch, tmp_path, spark,
                                                     monkeypatch):
    # The one task holding the rows predicts on both cores; Spark's workers cap OpenMP at the
    # task's one core (OMP_NUM_THREADS), which tl2cgen would refuse to exceed.
    pytest.importorskip("tl2cgen")
    monkeypatch.setenv("CLOSEDLOOP_NATIVE_CACHE", str(tmp_path / "native"))
    ws, _ = trained
    source = tmp_path / "in.parquet"
    batch.to_parquet(source, index=False)   # one row group
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(source.stat().st_size // 4))
    try:
        for method in ("native", "compiled"):
            score_file(ws, source, tmp_path / f"{method}.parquet", engine="spark",
                       method=method, log=False, scored_at=SCORED_AT)
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "native.parquet"),
                                  pd.read_parquet(tmp_path / "compiled.parquet"))


def _refused_by_both_engines(ws, frame, tmp_path, output, **options):
    """The contract errors of scoring ``frame`` (written to ``tmp_path/in.parquet``) with each
    engine, each to ``tmp_path/<engine>/<output>``."""
    source = tmp_path / "in.parquet"
    frame.to_parquet(source, index=False)
    errors = {}
    for engine in ("pandas", "spark"):
        with pytest.raises(DataContractError) as err:
            score_file(ws, source, tmp_path / engine / output, engine=engine, **options)
        errors[engine] = err.value
    return errors


def test_bad_rows_are_named_alike_by_both_engines_and_nothing_is_written(
        trained, batch, tmp_path, spark, own_log):
    # Every column is there with its type: only the rows are wrong. The Spark engine checks
    # them while the scoring job reads them (one pass), so the refusal comes after the model
    # ran: the staging files and the output's new folder must go too.
    ws, _ = trained
    bad = batch.head(50).reset_index(drop=True)
    bad.loc[3, "Contract"] = "Weekly"
    bad.loc[7, "tenure"] = 2.5
    bad.loc[9, "MonthlyCharges"] = -5.0
    bad.loc[11, "gender"] = None
    before = set(own_log.batch_files())
    errors = _refused_by_both_engines(ws, bad, tmp_path, "deep/out.parquet")
    assert errors["spark"].columns == errors["pandas"].columns == [
        "Contract", "MonthlyCharges", "gender", "tenure"]
    assert "Weekly" in str(errors["spark"]) and "-5.0" in str(errors["spark"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]
    assert set(own_log.batch_files()) == before


@pytest.mark.parametrize("workers_write", [True, False], ids=["workers write", "spark writes"])
def test_an_entity_twice_at_one_time_is_refused_alike_by_both_engines(
        trained, batch, tmp_path, spark, own_log, workers_write, monkeypatch):
    # Two rows with one prediction id: found by the Spark driver in the staged ids, after
    # the job; named as the pandas engine names them, and nothing is written.
    from closedloop.scoring import spark as spark_engine

    monkeypatch.setattr(spark_engine, "_workers_share_disk", lambda session: workers_write)
    ws, _ = trained
    twice = batch.head(40).reset_index(drop=True).assign(
        event_time=pd.Timestamp("2026-02-01 09:00"))
    twice.loc[30, "customerID"] = twice.loc[12, "customerID"]
    before = set(own_log.batch_files())
    errors = _refused_by_both_engines(ws, twice, tmp_path, "out.parquet", event_time="event_time")
    assert str(errors["spark"]) == str(errors["pandas"])
    assert twice.loc[12, "customerID"] in str(errors["spark"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]
    assert set(own_log.batch_files()) == before


def test_the_cli_refuses_an_existing_output_unless_overwrite(trained, batch, tmp_path, capsys,
                                                             own_log):
    from closedloop.cli import main

    ws, _ = trained
    source, output = tmp_path / "in.parquet", tmp_path / "out.parquet"
    batch.head(10).to_parquet(source, index=False)
    output.write_bytes(b"old")
    args = ["score", "--workdir", str(ws.root), "--input", str(source), "--output", str(output)]
    assert main(args) == 2 and "--overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0 and len(pd.read_parquet(output)) == 10
    assert main(["score", "--workdir", str(ws.root), "--input", str(source), "--output",
                 str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_stale_leftovers_beside_the_output_are_reaped(trained, batch, tmp_path, own_log):
    import os
    import time

    ws, _ = trained
    source, output = tmp_path / "in.parquet", tmp_path / "out.parquet"
    batch.head(10).to_parquet(source, index=False)
    stale_file, stale_dir = tmp_path / ".out.parquet.abc.tmp", tmp_path / ".out.parquet.d.spark"
    stale_file.write_bytes(b"x")
    stale_dir.mkdir()
    (stale_dir / "part-0.parquet").write_bytes(b"x")
    for path in (stale_file, stale_dir):
        os.utime(path, (time.time() - 3600,) * 2)
    score_file(ws, source, output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet", "out.parquet"]


def test_numbers_as_text_are_refused_by_both_engines_alike(telco, tmp_path, spark):
    from closedloop.simulate.scenarios import get_scenario
    from closedloop.simulate.stream import StreamSimulator

    stream = StreamSimulator(telco, seed=1, population=500).stream(
        days=1, rows_per_day=30, scenario=get_scenario("wrong_dtype", start_day=0)).drop(
        columns=["label_available_at", "true_churn_proba"])   # the simulator's own columns
    assert stream["tenure"].map(type).eq(str).all()
    source = tmp_path / "in.parquet"   # microseconds: Spark reads no nanosecond Parquet times
    stream.assign(event_time=stream["event_time"].astype("datetime64[us]")).to_parquet(
        source, index=False)
    ws, messages = Workspace(tmp_path / "ws"), {}
    for engine in ("pandas", "spark"):   # refused before any model is looked up
        with pytest.raises(DataContractError) as err:
            score_file(ws, source, tmp_path / "out.parquet", engine=engine)
        assert err.value.columns == ["tenure"]
        messages[engine] = str(err.value)
    assert messages["pandas"] == messages["spark"]
    assert "30 value(s) arrive as text in an integer column (rows 0, 1, 2, 3, 4, ...)" in (
        messages["pandas"]) and "refused, not parsed" in messages["pandas"]
    assert not InferenceLog(ws).batch_files()


def test_a_corrupt_file_is_named_not_a_java_traceback(trained, tmp_path, capsys, spark):
    from closedloop.cli import main
    from closedloop.scoring._columns import InputFileError

    ws, _ = trained
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 this is not a Parquet file at all")
    for engine in ("pandas", "spark"):
        with pytest.raises(InputFileError, match="corrupt.parquet"):
            score_file(ws, corrupt, tmp_path / "out.parquet", engine=engine)
    code = main(["score", "--workdir", str(ws.root), "--input", str(corrupt), "--output",
                 str(tmp_path / "out.parquet"), "--engine", "spark", "--master", "local[2]"])
    err = capsys.readouterr().err
    assert code == 2 and "corrupt.parquet" in err and "\tat " not in err


@pytest.mark.parametrize("engine", ["pandas", "spark"])
def test_score_file_compiled_equals_pipeline(trained, batch, tmp_path, engine, request,
                                            own_log):
    import pyarrow.parquet as pq

    from closedloop.monitoring._storage import id_hashes_path

    if engine == "spark":
        request.getfixturevalue("spark")
    ws, _ = trained
    source = tmp_path / "in.parquet"
    batch.to_parquet(source, index=False)
    tables, logged = {}, {}
    for method in ("compiled", "pipeline"):
        output = tmp_path / f"{method}.parquet"
        before = set(own_log.batch_files())
        score_file(ws, source, output, engine=engine, scored_at=SCORED_AT, method=method)
        tables[method] = pq.read_table(output)
        [batch_file] = set(own_log.batch_files()) - before
        logged[method] = pq.read_table(batch_file).drop(["logged_at"])
        batch_file.unlink()   # the same ids: the next method logs the batch anew
        id_hashes_path(batch_file).unlink(missing_ok=True)
    assert tables["compiled"].equals(tables["pipeline"]) and len(tables["compiled"]) == len(batch)
    assert logged["compiled"].equals(logged["pipeline"])   # same prediction ids and times


def test_a_value_that_cannot_take_its_type_is_named_with_every_other_problem(batch):
    bad = batch.head(20).assign(tenure=lambda d: d["tenure"] + 0.5, Contract="Weekly")
    with pytest.raises(DataContractError) as err:
        check_input(bad)
    problems = dict(err.value.problems)
    # the values that cannot become integers, not only the dtype they arrived in
    assert problems["tenure"].startswith("20 value(s) not integers (rows 0, 1, 2, 3, 4, ...)")
    assert "not among the categories" in problems["Contract"]
    assert sorted(problems) == ["Contract", "tenure"]
