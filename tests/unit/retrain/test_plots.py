"""The replay figure marks the drift start and every promotion, and keeps every policy seen."""

from __future__ import annotations

import matplotlib

matplotlib.use("agg")

import numpy as np
import pandas as pd
import pytest

from closedloop.retrain.loop import LoopConfig, LoopResult
from closedloop.retrain.plots import plot_replay

POLICIES = ["never", "monthly", "performance", "drift_estimate"]


def _result(scenario: str = "loyalty_erosion") -> LoopResult:
    rows = []
    for policy in POLICIES:
        for day in range(90):
            rows.append({"policy": policy, "day": day, "rows": 10, "tp": 3, "fp": 2, "fn": 1,
                         "value": 100.0 * (policy == "monthly"), "model_version": "1"})
    events = pd.DataFrame({"policy": ["monthly", "monthly", "performance"],
                           "day": [30, 60, 45], "outcome": ["promoted", "refused", "promoted"]})
    return LoopResult(LoopConfig(months=3, scenario=scenario), pd.DataFrame(rows), events, {})


def _verticals(axis) -> list[float]:
    return [line.get_xdata()[0] for line in axis.get_lines()
            if len(set(np.atleast_1d(line.get_xdata()))) == 1]


def test_every_policy_has_its_own_line_style_and_marker_in_both_panels():
    fig = plot_replay(_result())
    top, bottom = fig.axes
    labelled = [line for line in top.get_lines() if line.get_label() in POLICIES]
    assert [line.get_label() for line in labelled] == POLICIES
    # never and drift_estimate draw the same numbers here: distinct styles keep both visible
    assert len({(line.get_linestyle(), line.get_marker()) for line in labelled}) == 4
    assert sorted(line.get_label() for line in bottom.get_lines()
                  if line.get_label() in POLICIES) == sorted(POLICIES)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == POLICIES


def test_the_drift_start_and_only_promotions_are_marked():
    fig = plot_replay(_result())
    top, _ = fig.axes
    verticals = _verticals(top)
    assert verticals.count(1.0) == 2          # drift start (day 30) and a promotion on day 30
    assert 45 / 30 in verticals               # performance's promotion
    assert 2.0 not in verticals               # the refused attempt on day 60 is not drawn
    assert any(t.get_text() == "drift starts" for t in top.texts)


def test_no_drift_start_without_a_drift():
    top, _ = plot_replay(_result("none")).axes
    assert not any(t.get_text() == "drift starts" for t in top.texts)
    assert 1.0 in _verticals(top)             # the promotion is still there


def test_an_unknown_metric_is_named():
    with pytest.raises(ValueError, match="metric: expected one of .* got 'auc'"):
        plot_replay(_result(), metric="auc")
