"""`simulate` -> `score` -> `backfill` -> `monitor` compose as the README runs them.

One model is trained (no HPO) and promoted once for the module; each test starts from an
empty inference log.
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from closedloop.cli import main
from closedloop.monitoring import InferenceLog


def run(capsys, *argv):
    code = main([*argv, "--quiet"])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("pipeline") / "w")
    assert main(["train", "--workdir", workdir, "--trials", "0", "--quiet"]) == 0
    assert main(["promote", "--workdir", workdir, "--version", "1", "--reason", "test",
                 "--force", "--quiet"]) == 0
    return workdir


@pytest.fixture()
def workdir(trained):
    shutil.rmtree(InferenceLog(trained).workspace.tables_dir, ignore_errors=True)
    yield trained
    shutil.rmtree(InferenceLog(trained).workspace.tables_dir, ignore_errors=True)


def simulate(capsys, tmp_path, days: int, rows: int, name: str = "stream"):
    stream, labels = tmp_path / f"{name}.parquet", tmp_path / f"{name}-labels.parquet"
    code, _, err = run(capsys, "simulate", "--days", str(days), "--rows-per-day", str(rows),
                       "--scenario", "price_increase", "--seed", "0", "--output", str(stream),
                       "--labels-output", str(labels))
    assert code == 0, err
    return stream, labels


def test_the_stream_scores_as_written_and_its_labels_backfill(capsys, tmp_path, workdir):
    stream, labels = simulate(capsys, tmp_path, days=30, rows=20)
    scored = tmp_path / "scored.parquet"
    code, out, err = run(capsys, "score", "--workdir", workdir, "--input", str(stream),
                         "--output", str(scored), "--scored-at", "2026-03-01", "--json")
    assert code == 0, err
    assert json.loads(out)["event_time"] == "event_time"
    rows = pd.read_parquet(stream)
    written = pd.read_parquet(scored)
    assert (written["event_time"].to_numpy() == rows["event_time"].to_numpy()).all()
    assert written["scored_at"].eq(pd.Timestamp("2026-03-01")).all()
    log = InferenceLog(workdir).read()
    assert sorted(log["timestamp"]) == sorted(rows["event_time"])  # the event times, not now
    assert log["prediction_id"].is_unique
    code, out, _ = run(capsys, "monitor", "--workdir", workdir, "--granularity", "1d", "--json")
    assert code == 0
    windows = {row["window_start"] for row in json.loads(out)["profile"]}
    assert len(windows) == 30
    # The labels file `simulate --labels-output` wrote, with its own Churn column (Yes/No).
    args = ("backfill", "--workdir", workdir, "--labels", str(labels), "--json")
    code, out, err = run(capsys, *args)
    assert code == 0, err
    first = json.loads(out)
    assert (first["matched"], first["unmatched"], first["predictions_labelled"]) == (600, 0, 600)
    assert json.loads(run(capsys, *args)[1])["already_present"] == 600
    truth = pd.read_parquet(labels)
    merged = InferenceLog(workdir).read().merge(truth, left_on=["customerID", "timestamp"],
                                                right_on=["customerID", "event_time"])
    assert merged["ground_truth"].eq((merged["Churn"] == "Yes").astype(int)).all()


def test_a_long_stream_with_returning_customers_scores(capsys, tmp_path, workdir):
    stream, _ = simulate(capsys, tmp_path, days=120, rows=60)
    rows = pd.read_parquet(stream)
    assert rows["customerID"].duplicated().any()   # the same customer on several days
    code, _, err = run(capsys, "score", "--workdir", workdir, "--input", str(stream),
                       "--output", str(tmp_path / "scored.parquet"))
    assert code == 0, err
    log = InferenceLog(workdir).read(columns=["prediction_id", "customerID", "timestamp"])
    assert len(log) == len(rows) and log["prediction_id"].is_unique
    # Rescoring the same file (another scoring time) gives the same ids: nothing is added.
    assert run(capsys, "score", "--workdir", workdir, "--input", str(stream), "--output",
               str(tmp_path / "again.parquet"), "--scored-at", "2030-01-01")[0] == 0
    assert len(InferenceLog(workdir)) == len(rows)
    # One customer twice at one event time is one prediction id: refused, rows named.
    twice = tmp_path / "twice.parquet"
    pd.concat([rows.head(5), rows.iloc[[2]]]).to_parquet(twice)
    code, _, err = run(capsys, "score", "--workdir", workdir, "--input", str(twice),
                       "--output", str(tmp_path / "never.parquet"))
    assert code == 2 and "prediction_id" in err and "(customerID, event_time)" in err
    assert "1 row(s)" in err and "row 5" in err and "repeats row 2" in err
    assert not (tmp_path / "never.parquet").exists()


def test_csv_with_numeric_ids_scores_and_backfills(capsys, tmp_path, workdir):
    stream, labels = simulate(capsys, tmp_path, days=3, rows=20)
    rows = pd.read_parquet(stream)
    numbers = {c: 1000 + i for i, c in enumerate(rows["customerID"].unique())}
    source = tmp_path / "batch.csv"
    rows.assign(customerID=rows["customerID"].map(numbers), region="north").to_csv(
        source, index=False)
    scored = tmp_path / "scored.parquet"
    code, _, err = run(capsys, "score", "--workdir", workdir, "--input", str(source),
                       "--output", str(scored), "--carry", "region")
    assert code == 0, err
    written = pd.read_parquet(scored)
    assert written.columns[-2:].tolist() == ["event_time", "region"]
    assert written["customerID"].tolist() == [str(numbers[c]) for c in rows["customerID"]]
    truth = pd.read_parquet(labels)
    label_file = tmp_path / "labels.csv"
    truth.assign(customerID=truth["customerID"].map(numbers),
                 label_arrived_at=truth["label_available_at"])[
        ["customerID", "event_time", "Churn", "label_arrived_at"]].to_csv(label_file, index=False)
    args = ("backfill", "--workdir", workdir, "--labels", str(label_file), "--json")
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert (json.loads(out)["matched"], json.loads(out)["unmatched"]) == (60, 0)
    assert InferenceLog(workdir).read()["ground_truth"].notna().all()
    # A missing outcome is reported on the file's own column, not as a cast error.
    pd.read_csv(label_file).assign(Churn=lambda f: f["Churn"].where(f.index > 0)).to_csv(
        label_file, index=False)
    code, _, err = run(capsys, *args)
    assert code == 2 and "Churn: 1 null label(s)" in err and "ground_truth" not in err


def test_the_spark_engine_without_java_is_a_message_not_a_gateway_traceback(
        capsys, tmp_path, workdir, monkeypatch):
    from pyspark.sql import SparkSession

    stream, _ = simulate(capsys, tmp_path, days=2, rows=10)
    # A machine with no JDK: no JAVA_HOME, no java on the PATH, no Spark session running yet
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setattr(SparkSession, "getActiveSession", staticmethod(lambda: None))
    output = tmp_path / "scored.parquet"
    code, _, err = run(capsys, "score", "--workdir", workdir, "--input", str(stream),
                       "--output", str(output), "--engine", "spark")
    assert code == 2, err
    assert "needs Java 17 or newer" in err and "--engine pandas" in err
    assert "Traceback" not in err and not output.exists()
    assert not InferenceLog(workdir).batch_files()
