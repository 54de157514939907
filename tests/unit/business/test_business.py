"""Business impact: value follows the model's precision and recall, never count x constants."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from closedloop import business
from closedloop.business.templates import BusinessModel, template
from closedloop.business.value import assess, profit_curve
from closedloop.model.baselines import MajorityClassModel

TELECOM = business.TEMPLATES["telecom"]


def _customers(n=5_000, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.27).astype(int)
    good = np.clip(0.27 + 0.45 * (y - 0.27) + rng.normal(0, 0.15, n), 0.001, 0.999)
    weak = np.clip(0.27 + 0.08 * (y - 0.27) + rng.normal(0, 0.15, n), 0.001, 0.999)
    return y, good, weak


def test_roi_differs_between_a_good_and_a_weak_model_on_the_same_customers():
    y, good, weak = _customers()
    strong_impact, weak_impact = assess(good, TELECOM, y=y), assess(weak, TELECOM, y=y)
    assert strong_impact.realised_roi > weak_impact.realised_roi + 0.5
    assert strong_impact.realised_net > weak_impact.realised_net
    assert strong_impact.precision > weak_impact.precision


def test_more_true_positives_at_the_same_count_earn_more():
    y = np.array([1, 1, 1, 0, 0, 0])
    sharp = assess(np.zeros(6), TELECOM, targeted=[1, 1, 0, 0, 0, 0], y=y)
    blunt = assess(np.zeros(6), TELECOM, targeted=[1, 0, 0, 1, 0, 0], y=y)
    assert sharp.targeted == blunt.targeted == 2
    assert sharp.intervention_budget == blunt.intervention_budget
    assert sharp.realised_net - blunt.realised_net == pytest.approx(TELECOM.value_per_save)
    assert (sharp.precision, sharp.recall) == (1.0, pytest.approx(2 / 3))


def test_the_realised_formula_is_tp_times_savings_minus_everyone_contacted():
    bm = BusinessModel("t", customer_value=1000, intervention_cost=50, success_rate=0.4)
    impact = assess([0.9, 0.8, 0.7, 0.1], bm, threshold=0.5, y=[1, 0, 1, 1])
    assert (impact.true_positives, impact.false_positives, impact.positives) == (2, 1, 3)
    assert impact.realised_net == 2 * 0.4 * 1000 - 3 * 50
    assert impact.expected_net == pytest.approx((0.9 + 0.8 + 0.7) * 400 - 150)
    assert impact.value_at_risk == pytest.approx(2.5 * 1000)
    assert impact.realised_roi == pytest.approx(impact.realised_net / 150)


def test_an_all_majority_model_targets_nobody_and_earns_nothing():
    y, _, _ = _customers(1_000)
    scored = MajorityClassModel(y.mean()).predict(pd.DataFrame({"x": range(len(y))}))
    costly = template("telecom", intervention_cost=300)  # break-even 0.5, above its score
    for impact in (assess(scored, TELECOM, targeted=scored["prediction"] == 1, y=y),
                   assess(scored, costly, y=y)):
        assert impact.targeted == 0
        assert impact.realised_net == impact.expected_net == impact.intervention_budget == 0
        assert math.isnan(impact.realised_roi)


def test_profit_curve_optimum_is_the_argmax_of_its_table():
    y, good, _ = _customers(3_000, seed=1)
    curve = profit_curve(y, good, TELECOM)
    best = curve.table["realised_net"].idxmax()
    assert curve.best_threshold == curve.table["threshold"][best]
    assert curve.best_value == curve.table["realised_net"].max()
    assert curve.f1_threshold == curve.table["threshold"][curve.table["f1"].idxmax()]
    assert curve.best_value >= curve.f1_value
    row = curve.table.iloc[best]  # the curve agrees with pricing that threshold directly
    assert assess(good, TELECOM, threshold=row["threshold"], y=y).realised_net == \
        pytest.approx(row["realised_net"])


def test_without_labels_the_curve_maximises_expected_value_at_break_even():
    _, good, _ = _customers(3_000, seed=2)
    curve = profit_curve(None, good, TELECOM, points=len(good))  # every score a threshold
    assert curve.objective == "expected_net" and curve.f1_threshold is None
    # Targeting every customer with positive expected value is optimal: the best threshold is
    # the first score at or above break-even.
    assert curve.best_threshold == good[good >= TELECOM.break_even].min()


def test_expected_value_equals_realised_value_when_outcomes_follow_the_probabilities():
    rng = np.random.default_rng(7)
    proba = rng.beta(1.2, 3, 200_000)
    y = (rng.random(len(proba)) < proba).astype(int)
    impact = assess(proba, TELECOM, y=y)
    assert impact.realised_saved == pytest.approx(impact.expected_saved, rel=0.01)
    assert impact.realised_net == pytest.approx(impact.expected_net, rel=0.02)


def test_template_overrides_and_validation_name_the_field():
    assert template("retail", intervention_cost=5).intervention_cost == 5
    assert template("retail", intervention_cost=5).customer_value == \
        business.TEMPLATES["retail"].customer_value
    assert set(business.TEMPLATES) == {"telecom", "retail", "financial_services"}
    with pytest.raises(ValueError, match="intervention_cost must be >= 0"):
        template("telecom", intervention_cost=-1)
    for bad in (-0.1, 1.1):
        with pytest.raises(ValueError, match="success_rate"):
            template("telecom", success_rate=bad)
    with pytest.raises(ValueError, match="customer_value must be a finite number"):
        BusinessModel("x", float("nan"), 1, 0.5)
    with pytest.raises(ValueError, match="unknown business template 'banking'"):
        template("banking")
    with pytest.raises(ValueError, match="no field 'cost'"):
        template("telecom", cost=1)


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        assess([0.2, 1.5], TELECOM)
    with pytest.raises(ValueError, match="labels must be 2 values"):
        assess([0.2, 0.5], TELECOM, y=[1])
    with pytest.raises(ValueError, match="one flag per customer"):
        assess([0.2, 0.5], TELECOM, targeted=[True])


def test_decisions_priced_as_probabilities_are_refused_and_named():
    decisions = np.array([1, 0] * 15)
    y = np.array([1, 0, 0] * 10)
    for price in (lambda p: assess(p, TELECOM, y=y), lambda p: profit_curve(y, p, TELECOM)):
        with pytest.raises(ValueError, match="all 30 values are 0 or 1, which are decisions"):
            price(decisions)
    # the same decisions as targeted=, with real probabilities, are priced
    proba = np.where(decisions == 1, 0.7, 0.1)
    assert assess(proba, TELECOM, targeted=decisions == 1, y=y).targeted == 15
    # a handful of 0s and 1s, or a constant column, may be real scores: still priced
    assert assess([1.0, 0.0, 1.0], TELECOM).targeted == 2
    assert assess(np.zeros(30), TELECOM).targeted == 0


def test_segments_top_list_and_summary_are_values():
    from closedloop.contract.telco import TELCO_SCHEMA

    rng = np.random.default_rng(3)
    df = pd.DataFrame({"customerID": [f"c{i}" for i in range(200)],
                       "tenure": rng.integers(0, 72, 200), "Contract": "Month-to-month"})
    proba = np.where(df["tenure"] < 12, 0.8, 0.1)
    schema = TELCO_SCHEMA.__class__("mini", tuple(TELCO_SCHEMA[c] for c in
                                                  ("customerID", "tenure", "Contract", "Churn")),
                                    target="Churn", positive="Yes", entity_id="customerID")
    segments = business.compare_segments(df, proba, schema)
    tenure = segments.set_index("feature").loc["tenure"]
    assert tenure["high"] < 12 <= tenure["low"]
    scored = df.assign(prediction_proba=proba)
    top = business.top_at_risk(scored, TELECOM, n=5, columns=["customerID"])
    assert list(top.columns) == ["customerID", "prediction_proba", "expected_value"]
    assert (top["prediction_proba"] == 0.8).all()
    summary = business.executive_summary(scored, TELECOM, y=(proba > 0.5).astype(int),
                                         model="m v1")
    assert summary.tiers["high"] == int((proba >= 0.7).sum())
    text = summary.to_markdown()
    for phrase in ("Customers scored", "Recommended action", "Expected ROI", "Realised ROI"):
        assert phrase in text
    assert "<table>" in summary._repr_html_()
    json.dumps(summary.to_dict())  # serialisable as it is
    assert business.impact_table({"a": summary.impact}).loc["customers", "a"] == 200


def test_cli_roi_prices_the_champion_on_its_holdout_and_on_any_batch(capsys, tmp_path, telco):
    from closedloop.cli import main

    workdir = str(tmp_path / "w")
    assert main(["train", "--workdir", workdir, "--trials", "0", "--quiet"]) == 0
    assert main(["promote", "--workdir", workdir, "--reason", "test", "--force"]) == 0
    capsys.readouterr()
    assert main(["roi", "--workdir", workdir, "--json"]) == 0
    holdout = json.loads(capsys.readouterr().out)
    assert holdout["title"] == "Churn risk batch: executive summary"  # the contract's target
    impact = holdout["impact"]
    assert impact["customers"] == 1409 and impact["business"]["name"] == "telecom"
    assert impact["realised_net"] is not None and impact["targeted"] > 0
    batch = tmp_path / "batch.csv"
    telco.drop(columns="Churn").head(300).to_csv(batch, index=False)
    assert main(["roi", "--workdir", workdir, "--input", str(batch), "--template", "retail",
                 "--intervention-cost", "5", "--json"]) == 0
    unlabelled = json.loads(capsys.readouterr().out)["impact"]
    assert unlabelled["customers"] == 300 and unlabelled["realised_net"] is None
    assert unlabelled["business"]["intervention_cost"] == 5
    assert main(["roi", "--workdir", workdir, "--success-rate", "1.5"]) == 2
    assert "success_rate must be in [0, 1]" in capsys.readouterr().err
