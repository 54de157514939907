"""`closedloop backfill`: JSON counts, twice = once, exit 2 naming the column of a bad file."""

from __future__ import annotations

import json

import pandas as pd

from closedloop.cli import main
from closedloop.monitoring import InferenceLog
from closedloop.monitoring.ground_truth import labels_from_stream
from closedloop.simulate.labels import LabelDelay
from closedloop.simulate.stream import StreamSimulator


def run(capsys, *argv):
    code = main([*argv, "--quiet"])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_backfill_command(capsys, telco, tmp_path):
    stream = StreamSimulator(telco, seed=2, population=1_000).stream(
        days=4, rows_per_day=25, label_delay=LabelDelay("fixed", days=1))
    proba = stream["true_churn_proba"]
    workdir = tmp_path / "ws"
    InferenceLog(workdir).append(stream.assign(prediction=(proba > 0.5).astype(int),
                                               prediction_proba=proba),
                                 model_name="m", model_version=1, timestamp="event_time")
    labels = tmp_path / "labels.csv"
    labels_from_stream(stream).to_csv(labels, index=False)
    args = ("backfill", "--workdir", str(workdir), "--labels", str(labels), "--json")
    code, out, _ = run(capsys, *args, "--as-of", "2026-01-03")
    assert code == 0 and json.loads(out)["matched"] == 25
    first = json.loads(run(capsys, *args)[1])
    second = json.loads(run(capsys, *args)[1])
    assert (first["matched"], first["already_present"]) == (75, 25)
    assert (second["matched"], second["already_present"], second["batch_id"]) == (0, 100, None)
    flipped = labels_from_stream(stream).head(2).assign(ground_truth=lambda f: 1 - f.ground_truth)
    flipped.to_parquet(tmp_path / "flipped.parquet")
    code, out, _ = run(capsys, "backfill", "--workdir", str(workdir), "--labels",
                       str(tmp_path / "flipped.parquet"), "--fail-on-conflict")
    assert code == 1 and "conflicting 2" in out and "never overwritten" in out
    export = tmp_path / "export.parquet"   # what `closedloop simulate --labels-output` writes
    stream[["customerID", "event_time", "Churn", "label_available_at"]].to_parquet(export)
    code, out, _ = run(capsys, "backfill", "--workdir", str(workdir), "--labels", str(export),
                       "--json")
    assert code == 0 and json.loads(out)["already_present"] == 100
    pd.read_csv(labels).drop(columns=["label_arrived_at"]).to_csv(labels, index=False)
    code, _, err = run(capsys, *args)
    assert code == 2 and "label_arrived_at" in err
