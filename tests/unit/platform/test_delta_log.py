"""The inference log as tables through Spark: the code path of ``target="databricks"``.

Delta Lake is not installed here, so the writer runs with ``table_format="parquet"`` on a local
Spark session (the tables ``spark_catalog.<schema>.inference_log`` and ``.ground_truth``): the
same reads, writes and checks as on Databricks, with another file format underneath.
"""

import pandas as pd
import pytest

from closedloop.config import Workspace
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.monitoring.ground_truth import backfill
from closedloop.monitoring.store import LOGGED_AT, InferenceLog
from closedloop.platform.delta_log import DeltaInferenceLog
from closedloop.platform.target import Target

pytest.importorskip("pyspark")

WHEN = pd.Timestamp("2026-03-02 09:30")


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    from pyspark.sql import SparkSession

    warehouse = tmp_path_factory.mktemp("warehouse")
    session = (SparkSession.builder.master("local[1]").appName("closedloop-delta-log-test")
               .config("spark.sql.warehouse.dir", str(warehouse))
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "1")
               .config("spark.driver.host", "127.0.0.1").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture()
def logs(spark, tmp_path, request):
    """The table log (parquet stand-in for Delta) and a folder log, both empty."""
    schema = f"churn_{request.node.name[-20:].replace('[', '_').replace(']', '_')}".lower()
    schema = "".join(c if c.isalnum() else "_" for c in schema)
    spark.sql(f"CREATE DATABASE IF NOT EXISTS spark_catalog.{schema}")
    target = Target.resolve("databricks", catalog="spark_catalog", schema=schema, env={})
    table_log = DeltaInferenceLog(Workspace.resolve(tmp_path / "ws", target=target),
                                  TELCO_SCHEMA, spark=spark, table_format="parquet")
    yield table_log, InferenceLog(tmp_path / "folder", TELCO_SCHEMA)
    spark.sql(f"DROP DATABASE IF EXISTS spark_catalog.{schema} CASCADE")


def _batch(telco, rows=slice(0, 40)):
    batch = telco.iloc[rows].reset_index(drop=True)
    proba = (batch["tenure"] % 10) / 10.0
    return batch.assign(prediction=(proba >= 0.5).astype("int64"), prediction_proba=proba)


def test_a_databricks_workspace_opens_the_table_log_and_a_local_one_the_folder(tmp_path):
    uc = Target.resolve("databricks", catalog="ml", schema="churn", env={})
    on_uc = InferenceLog(Workspace.resolve(tmp_path, target=uc))
    assert type(on_uc) is DeltaInferenceLog
    assert (on_uc.predictions_table, on_uc.labels_table, on_uc.table_format) == (
        "ml.churn.inference_log", "ml.churn.ground_truth", "delta")
    local = Target.resolve("local", workdir=str(tmp_path), env={})
    for workspace in (Workspace.resolve(tmp_path, target=local), Workspace.resolve(tmp_path),
                      tmp_path):
        assert type(InferenceLog(workspace)) is InferenceLog
    with pytest.raises(ValueError, match="table_format must be one of"):
        DeltaInferenceLog(Workspace.resolve(tmp_path, target=uc), table_format="csv")
    with pytest.raises(ValueError, match="predictions_table is needed"):
        DeltaInferenceLog(tmp_path)
    with pytest.raises(NotImplementedError, match="ml.churn.inference_log"):
        on_uc.batch_files()


def test_the_table_log_reads_back_what_the_folder_log_reads(logs, telco, spark):
    table_log, folder_log = logs
    assert len(table_log) == 0 and table_log.read().empty
    first = table_log.append(_batch(telco), model_name="ml.churn.closedloop_churn",
                             model_version="3", timestamp=WHEN)
    folder_log.append(_batch(telco), model_name="ml.churn.closedloop_churn", model_version="3",
                      timestamp=WHEN)
    assert first.written and first.rows == 40 and first.path == table_log.predictions_table
    assert spark.catalog.tableExists(table_log.predictions_table)
    assert spark.table(table_log.predictions_table).count() == 40
    got, want = table_log.read(), folder_log.read()
    assert list(got.columns) == list(want.columns)
    pd.testing.assert_frame_equal(got.drop(columns=[LOGGED_AT]), want.drop(columns=[LOGGED_AT]))
    assert dict(got.dtypes) == dict(want.dtypes)


def test_a_retried_batch_is_not_written_twice_and_an_overlap_is_read_once(logs, telco, spark):
    table_log, _ = logs
    table_log.append(_batch(telco), model_name="m", model_version="1", timestamp=WHEN)
    again = table_log.append(_batch(telco), model_name="m", model_version="1", timestamp=WHEN)
    assert not again.written
    assert spark.table(table_log.predictions_table).count() == 40
    overlap = table_log.append(_batch(telco, slice(20, 60)), model_name="m", model_version="1",
                               timestamp=WHEN)
    assert overlap.written
    assert spark.table(table_log.predictions_table).count() == 80  # stored as appended
    assert len(table_log) == 60  # read once per prediction id
    assert table_log.read()["prediction_id"].is_unique


def test_labels_backfilled_into_the_table_join_as_they_do_locally(logs, telco):
    table_log, folder_log = logs
    for log in logs:
        log.append(_batch(telco), model_name="m", model_version="1", timestamp=WHEN)
    labels = telco.head(30)[["customerID", "Churn"]].assign(
        window_start="2026-03-01", window_end="2026-03-03", label_arrived_at="2026-04-01")
    done = backfill(table_log, labels)
    assert (done.matched, done.predictions_labelled) == (30, 30)
    assert backfill(table_log, labels).already_present == 30  # nothing new the second time
    backfill(folder_log, labels)
    got, want = table_log.read(), folder_log.read()
    assert got["ground_truth"].notna().sum() == 30
    pd.testing.assert_series_equal(got["ground_truth"], want["ground_truth"])
    early = table_log.read(labels_as_of="2026-03-15")
    assert early["ground_truth"].isna().all()


def test_monitoring_a_table_log_gives_the_folder_logs_report(logs, telco):
    """A table log has no batch files to scan: ``monitor`` reads it as a frame and reports
    what the folder log's column scan reports on the same rows."""
    from closedloop.monitoring.report import monitor

    baseline = _batch(telco, slice(100, 400))
    baseline = baseline.assign(ground_truth=baseline["Churn"].eq("Yes").astype("int64"))
    for log in logs:
        for day in range(3):
            log.append(_batch(telco, slice(40 * day, 40 * day + 40)), model_name="m",
                       model_version="1", timestamp=WHEN + pd.Timedelta(days=day))
    on_table, on_folder = (monitor(log, baseline, granularity="1d") for log in logs)
    assert not logs[0].scans_files and logs[1].scans_files
    assert on_table.rows == on_folder.rows == 120
    pd.testing.assert_frame_equal(on_table.drift, on_folder.drift, check_exact=False,
                                  atol=1e-9)


def test_both_scoring_engines_log_into_the_table_log_not_the_folder(spark, telco, tmp_path):
    """On a target whose log is tables, a scored batch reaches the table (once, a retry
    writes nothing) and no batch file is left in the workspace folder."""
    import dataclasses

    from closedloop.model import registry
    from closedloop.model.promotion import promote
    from closedloop.model.train import TrainConfig
    from closedloop.scoring.batch import score_file

    spark.sql("CREATE DATABASE IF NOT EXISTS spark_catalog.scored")

    class ParquetTables(DeltaInferenceLog):  # the Delta code path, parquet underneath
        def __init__(self, workspace, schema=TELCO_SCHEMA):
            super().__init__(workspace, schema, spark=spark, table_format="parquet",
                             predictions_table="spark_catalog.scored.inference_log",
                             labels_table="spark_catalog.scored.ground_truth")

    @dataclasses.dataclass(frozen=True)
    class TablesLog(Target):  # MLflow in the folder, the log in tables
        def log_class(self):
            return ParquetTables

    target = TablesLog(**dataclasses.asdict(Target.resolve("local", workdir=str(tmp_path),
                                                            env={})))
    ws = Workspace.resolve(tmp_path, target=target)
    registry.train_and_register(telco.head(1500), TELCO_SCHEMA, ws, TrainConfig(n_trials=0))
    promote(ws, "1", reason="test", force=True)
    batch = tmp_path / "batch.parquet"
    telco.iloc[2000:2300].drop(columns="Churn").to_parquet(batch, index=False)
    log = InferenceLog(ws)
    assert type(log) is ParquetTables
    for engine, rows in (("pandas", 300), ("spark", 600)):
        when = "2026-03-01" if engine == "pandas" else "2026-03-02"
        for attempt in range(2):  # the retry of the same batch logs nothing
            score_file(ws, batch, tmp_path / f"{engine}-{attempt}.parquet", engine=engine,
                       scored_at=when, master="local[1]")
        assert spark.table(log.predictions_table).count() == rows, engine
    assert not (ws.tables_dir / "inference_log").exists()
    assert len(log) == 600 and log.read()["model_version"].astype(str).eq("1").all()
    spark.sql("DROP DATABASE IF EXISTS spark_catalog.scored CASCADE")


def test_spark_monitoring_reads_the_table_log_as_it_reads_the_folder(logs, telco, spark):
    from closedloop.monitoring.spark import profile_spark

    for log in logs:
        for day in range(2):
            log.append(_batch(telco, slice(40 * day, 40 * day + 40)), model_name="m",
                       model_version="1", timestamp=WHEN + pd.Timedelta(days=day))
    on_table, on_folder = (profile_spark(log, "1d", spark=spark) for log in logs)
    assert on_table["row_count"].tolist() == [40, 40]  # two daily windows, one version
    pd.testing.assert_frame_equal(on_table, on_folder)
