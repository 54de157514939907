"""The closed-loop replay: retraining on realised performance pays under concept drift."""

import json

import pandas as pd
import pytest

from closedloop.cli import main
from closedloop.retrain.loop import LoopConfig, simulate_loop

#: Four months, 300 customers a day: the drift starts on day 30, its labels arrive from day 60;
#: enough rows that a challenger that learned the drift is shown better on its fresh holdout.
SMALL = LoopConfig(months=4, rows_per_day=300, scenario="loyalty_erosion", seed=0)


@pytest.fixture(scope="module")
def replay(telco):
    return simulate_loop(telco, ["never", "performance"], SMALL)


def test_triggered_policy_earns_more_than_never_retraining(replay):
    summary = replay.summary().set_index("policy")
    # The direction only, on this fixed seed; the chapter shows the numbers for a year.
    assert summary.loc["performance", "total_value"] > summary.loc["never", "total_value"]
    assert summary.loc["performance", "promotions"] >= 1
    assert summary.loc["never", "retrainings"] == 0
    promoted = replay.events[replay.events["outcome"] == "promoted"]
    assert promoted["triggers"].str.contains("realised F1 drop").all()
    # No model can be promoted before the drift's labels have arrived (day 30 + 30-day delay).
    assert promoted["day"].min() > 60


def test_both_policies_saw_the_same_customers(replay):
    days = replay.daily.pivot(index="day", columns="policy", values="rows")
    assert (days["never"] == days["performance"]).all()
    assert days["never"].sum() == 120 * SMALL.rows_per_day
    before = replay.daily[replay.daily["day"] < 60].pivot(index="day", columns="policy",
                                                          values="value")
    assert (before["never"] == before["performance"]).all()  # same champion until a promotion


def test_replay_is_deterministic_for_a_seed(telco, replay):
    again = simulate_loop(telco, ["performance"], SMALL)
    mine = replay.daily[replay.daily["policy"] == "performance"].reset_index(drop=True)
    pd.testing.assert_frame_equal(again.daily, mine)
    columns = ["day", "outcome", "reason", "model_version"]
    pd.testing.assert_frame_equal(again.events[columns], replay.events[
        replay.events["policy"] == "performance"][columns].reset_index(drop=True))


def test_result_serialises_and_plots(replay):
    payload = json.loads(replay.to_json())
    assert [row["policy"] for row in payload["summary"]] == ["never", "performance"]
    assert len(payload["monthly"]) == 2 * SMALL.months
    fig = replay.plot()
    assert len(fig.axes) == 2


def test_cli_loop(workspace, tmp_path, capsys):
    figure = tmp_path / "loop.png"
    code = main(["loop", "--workdir", str(workspace.root), "--months", "2", "--rows-per-day",
                 "40", "--policy", "never", "--policy", "monthly", "--scenario", "price_increase",
                 "--figure", str(figure), "--json", "--quiet"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0 and figure.stat().st_size > 0
    assert [row["policy"] for row in payload["summary"]] == ["never", "monthly"]
    assert json.loads(open(payload["written"]).read())["config"]["scenario"] == "price_increase"
    assert main(["loop", "--workdir", str(workspace.root), "--policy", "hourly"]) == 2
