"""FairnessTrigger: strictly beyond the threshold, never on missing evidence."""

import pandas as pd
import pytest

from closedloop.retrain.triggers import Evidence, FairnessTrigger, RetrainPolicy

ROWS = pd.DataFrame({"ground_truth": [1, 1, 0, 1, 1, 0, None, None],
                     "prediction": [1, 1, 0, 1, 0, 0, 1, 1],
                     "SeniorCitizen": [1, 1, 1, 0, 0, 0, 0, 0],
                     "label_arrived_at": pd.to_datetime(["2026-01-10"] * 6 + [None] * 2)})


@pytest.mark.parametrize("threshold, fired", [(0.49, True), (0.5, False), (0.6, False)])
def test_fires_strictly_above_the_threshold(threshold, fired):
    result = FairnessTrigger("SeniorCitizen", "tpr_difference", threshold,
                             min_rows=1).evaluate(ROWS)
    assert result.fired is fired and result.value == pytest.approx(0.5)
    assert result.trigger == "fairness" and "6 labelled rows" in result.reason


def test_a_ratio_fires_strictly_below_the_threshold():
    # selection rates: seniors 2/3, others 1/3 (labelled rows only) -> ratio 0.5
    assert FairnessTrigger("SeniorCitizen", "dp_ratio", 0.8, min_rows=1).evaluate(ROWS).fired
    assert not FairnessTrigger("SeniorCitizen", "dp_ratio", 0.5, min_rows=1).evaluate(
        ROWS).fired


@pytest.mark.parametrize("frame, kwargs", [
    (ROWS, {"min_rows": 7}),                                  # too few labelled rows
    (ROWS[ROWS["SeniorCitizen"] == 1], {"min_rows": 1}),      # one group only
    (ROWS.assign(ground_truth=None), {"min_rows": 0}),        # no labels at all
    (ROWS.drop(columns=["SeniorCitizen"]), {"min_rows": 1}),  # no such column
])
def test_never_fires_on_missing_evidence(frame, kwargs):
    result = FairnessTrigger("SeniorCitizen", "tpr_difference", 0.0, **kwargs).evaluate(frame)
    assert not result.fired and result.value is None
    assert result.reason.startswith("not measured")


def test_window_and_policy():
    trigger = FairnessTrigger("SeniorCitizen", "tpr_difference", 0.1, min_rows=1,
                              window_days=5)
    assert trigger.evaluate(ROWS, as_of=pd.Timestamp("2026-01-12")).fired
    assert trigger.evaluate(ROWS, as_of=pd.Timestamp("2026-01-20")).value is None  # too old
    assert trigger.check(Evidence(pd.Timestamp("2026-01-12"))).value is None  # no rows given
    decision = RetrainPolicy("fair", (trigger.with_rows(ROWS),)).evaluate(
        Evidence(pd.Timestamp("2026-01-12")))
    assert decision.retrain and decision.fired[0].trigger == "fairness"
    with pytest.raises(ValueError, match="unknown fairness metric"):
        FairnessTrigger("SeniorCitizen", "accuracy")
