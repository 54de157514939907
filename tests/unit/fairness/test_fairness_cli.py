"""``closedloop retrain --fairness COLUMN``: the FairnessTrigger in the policy, through the CLI,
on a tiny workspace (a champion, two simulated days scored, their labels backfilled)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from closedloop.cli import main
from closedloop.cli.parser import build_parser
from closedloop.cli.retrain import fairness_policy
from closedloop.config import Workspace
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.monitoring.store import InferenceLog
from closedloop.retrain.triggers import Evidence, FairnessTrigger

AS_OF = "2026-02-20"  # the labels of the two days (delay 30 days) have arrived


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fair-cli")
    ws = root / "ws"
    for argv in (["train", "--trials", "0"], ["promote", "--force", "--reason", "fair cli"],
                 ["simulate", "--days", "2", "--rows-per-day", "300", "--output",
                  str(root / "batch.parquet"), "--labels-output", str(root / "labels.parquet")],
                 ["score", "--input", str(root / "batch.parquet"), "--output",
                  str(root / "scored.parquet")],
                 ["backfill", "--labels", str(root / "labels.parquet")]):
        assert main([*argv, "--workdir", str(ws), "--quiet"]) == 0, argv
    return ws


def retrain(capsys, ws: Path, *options: str) -> tuple[int, dict | None, str]:
    code = main(["retrain", "--workdir", str(ws), "--if-triggered", "--policy", "monthly",
                 "--as-of", AS_OF, "--json", "--quiet", *options])
    out = capsys.readouterr()
    return code, json.loads(out.out) if code == 0 else None, out.err


def test_the_decision_lists_the_fairness_trigger_measured_on_the_log(ws, capsys):
    code, run, err = retrain(capsys, ws, "--fairness", "SeniorCitizen",
                             "--fairness-threshold", "0.99", "--fairness-min-rows", "50")
    assert code == 0, err
    decision = run["decision"]
    assert decision["policy"] == "monthly+fairness" and decision["retrain"] is False
    results = {r["trigger"]: r for r in decision["results"]}
    assert set(results) == {"age", "fairness"}
    fairness = results["fairness"]
    rows = InferenceLog(ws).read(None, AS_OF, labels_as_of=AS_OF)
    expected = FairnessTrigger("SeniorCitizen", "equal_opportunity_difference", 0.99,
                               min_rows=50).evaluate(rows, as_of=pd.Timestamp(AS_OF))
    assert fairness["value"] == pytest.approx(expected.value) and expected.value is not None
    assert fairness["fired"] is False and fairness["threshold"] == 0.99
    assert "equal_opportunity_difference of SeniorCitizen" in fairness["reason"]
    code, run, _ = retrain(capsys, ws)  # without --fairness the policy is unchanged
    assert code == 0 and [r["trigger"] for r in run["decision"]["results"]] == ["age"]


def test_the_cli_policy_fires_when_the_disparity_is_beyond_the_threshold(ws):
    args = build_parser().parse_args(
        ["retrain", "--workdir", str(ws), "--policy", "monthly", "--as-of", AS_OF,
         "--fairness", "SeniorCitizen", "--fairness-metric", "dp_ratio",
         "--fairness-threshold", "1", "--fairness-min-rows", "50"])
    args.workspace = Workspace.resolve(ws)
    policy = fairness_policy(args, TELCO_SCHEMA)
    decision = policy.evaluate(Evidence(pd.Timestamp(AS_OF)))
    fired = [r.trigger for r in decision.fired]
    assert fired == ["fairness"] and decision.retrain  # a ratio below 1 is below 1
    assert policy.triggers[-1].metric == "demographic_parity_ratio"


@pytest.mark.parametrize("options, fragments", [
    (["--fairness", "Churn"], ["--fairness Churn", "not a feature"]),
    (["--fairness", "SeniorCitizen", "--fairness-metric", "accuracy"],
     ["--fairness-metric", "accuracy"]),
    (["--fairness", "SeniorCitizen", "--fairness-metric", "dp_ratio",
      "--fairness-threshold", "2"], ["--fairness-threshold 2", "[0, 1]"]),
])
def test_bad_fairness_options_exit_2_before_anything_runs(ws, capsys, options, fragments):
    runs = sorted((ws / "artifacts").rglob("*")) if (ws / "artifacts").exists() else []
    code, _, err = retrain(capsys, ws, *options)
    assert code == 2 and "Traceback" not in err
    assert all(f in err for f in fragments), err
    assert (sorted((ws / "artifacts").rglob("*")) if (ws / "artifacts").exists()
            else []) == runs  # no step-1 run was recorded
