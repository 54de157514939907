"""`closedloop monitor`: profile + drift + estimate of a real inference log, baseline = the
champion's held-out rows (rebuilt from its run) or a given file."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from closedloop.cli import main
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.model.promotion import promote
from closedloop.model.registry import load_model, train_and_register
from closedloop.model.train import TrainConfig, split_data
from closedloop.monitoring import InferenceLog
from closedloop.monitoring.ground_truth import backfill, labels_from_stream
from closedloop.monitoring.report import holdout_reference, monitor
from closedloop.simulate.labels import LabelDelay
from closedloop.simulate.scenarios import get_scenario
from closedloop.simulate.stream import StreamSimulator


@pytest.fixture(scope="module")
def logged(telco, tmp_path_factory):
    """A workspace with a @champion and 28 days of its predictions under a price rise from
    day 7; labels (7 days late) backfilled up to day 21."""
    from closedloop.config import Workspace

    workspace = Workspace.resolve(tmp_path_factory.mktemp("monitor") / "w")
    train_and_register(telco, TELCO_SCHEMA, workspace, TrainConfig(n_trials=0, n_jobs=1))
    promote(workspace, "1", reason="test", force=True)
    stream = StreamSimulator(telco, seed=1, population=5_000).stream(
        28, 200, get_scenario("price_increase", start_day=7), LabelDelay("fixed", days=7))
    scored = load_model(workspace).predict(stream)
    log = InferenceLog(workspace)
    log.append(stream, model_name="closedloop-churn", model_version="1",
               timestamp="event_time", scored=scored)
    backfill(log, labels_from_stream(stream, as_of="2026-01-22"))
    return workspace, log


def test_holdout_reference_is_the_validation_and_test_split(logged, telco):
    workspace, _ = logged
    reference = holdout_reference(workspace, telco, TELCO_SCHEMA)
    splits = split_data(telco, TELCO_SCHEMA, TrainConfig(n_trials=0, n_jobs=1))
    expected = set(splits.valid["customerID"]) | set(splits.test["customerID"])
    assert set(reference["customerID"]) == expected and len(reference) == len(expected)
    assert reference["ground_truth"].isin([0, 1]).all()
    with pytest.raises(ValueError, match="other data"):
        holdout_reference(workspace, telco.head(100), TELCO_SCHEMA)


def test_monitor_report(logged, telco):
    workspace, log = logged
    report = monitor(log, holdout_reference(workspace, telco, TELCO_SCHEMA), granularity="1w")
    assert report.rows == 28 * 200
    alerts = report.alerts()
    assert "MonthlyCharges" in set(alerts["column_name"])
    assert not alerts["window_start"].eq(pd.Timestamp("2025-12-29")).any()   # before the rise
    assert set(report.estimate["metric"]) >= {"accuracy", "f1_binary", "roc_auc"}
    assert report.estimate["realised"].notna().any() and report.estimate["realised"].isna().any()
    assert len(report.profile) == report.profile["window_start"].nunique()
    json.dumps(report.to_dict())  # serialisable as it is
    only = monitor(log, None, granularity="1w")
    assert only.estimate.empty and only.notes and only.alerts().empty


@pytest.mark.slow
def test_monitor_command(logged, capsys, tmp_path, telco):
    workspace, _ = logged
    code = main(["monitor", "--workdir", str(workspace.root), "--granularity", "1w", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    payload = json.loads(out)
    assert {"profile", "drift", "estimate", "alerts", "baseline"} <= set(payload)
    assert "held-out" in payload["baseline"]
    assert any(a["column_name"] == "MonthlyCharges" for a in payload["alerts"])
    # A given baseline file; the text output; an empty log is a usage error.
    holdout_reference(workspace, telco, TELCO_SCHEMA).to_parquet(tmp_path / "base.parquet")
    assert main(["monitor", "--workdir", str(workspace.root), "--baseline",
                 str(tmp_path / "base.parquet")]) == 0
    assert "drift alerts" in capsys.readouterr().out
    assert main(["monitor", "--workdir", str(tmp_path / "empty"), "--baseline",
                 str(tmp_path / "base.parquet")]) == 2
    assert "empty" in capsys.readouterr().err


def test_monitor_per_model_version_uses_each_versions_baseline(logged, telco):
    workspace, log = logged
    reference = holdout_reference(workspace)  # v1 carries its held-out rows: no table needed
    pd.testing.assert_frame_equal(reference, holdout_reference(workspace, telco, TELCO_SCHEMA))
    # Version 1's rows against its own baseline; a version missing from the mapping gets none.
    report = monitor(log, None, granularity="1w", baselines={"1": reference})
    assert report.by_version and set(report.drift["model_version"]) == {"1"}
    assert set(report.estimate["model_version"]) == {"1"}
    assert "model_version" in report.alerts().columns and "estimated" in report.summary()
    unbaselined = monitor(log, None, granularity="1w", baselines={"2": reference})
    assert unbaselined.estimate.empty and "for version 1" in unbaselined.notes[0]
