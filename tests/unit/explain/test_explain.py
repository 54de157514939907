"""Reasons per prediction: additivity to the raw score, the split of derived features, words."""

import json

import numpy as np
import pandas as pd
import pytest

from closedloop.contract.features import FeatureBuilder
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.explain import plots
from closedloop.explain.reasons import (
    Explanation,
    explain,
    feature_contributions,
    global_importance,
    parent_columns,
    probability_change,
    reason_columns,
)
from closedloop.model.baselines import PipelineModel
from closedloop.model.registry import ClosedLoopModel
from closedloop.model.train import DEFAULT_PARAMS, build_pipeline, split_data


@pytest.fixture(scope="module")
def fitted(telco):
    splits = split_data(telco, TELCO_SCHEMA)
    pipeline = build_pipeline(TELCO_SCHEMA, {**DEFAULT_PARAMS, "n_estimators": 80})
    pipeline.fit(splits.train, TELCO_SCHEMA.target_as_int(splits.train))
    return pipeline, splits.test.head(400)


def test_contributions_plus_baseline_equal_the_raw_score(fitted):
    pipeline, rows = fitted
    explanation = explain(pipeline, rows, TELCO_SCHEMA)
    X = pipeline.named_steps["features"].transform(rows)
    raw = pipeline.named_steps["model"].predict(X, raw_score=True)
    total = explanation.contributions.to_numpy().sum(axis=1) + explanation.base
    np.testing.assert_allclose(total, raw, rtol=0, atol=1e-9)
    assert list(explanation.contributions.columns) == TELCO_SCHEMA.feature_names
    np.testing.assert_allclose(explanation.probability, pipeline.predict_proba(rows)[:, 1],
                               atol=1e-9)


def test_a_derived_feature_is_split_equally_between_its_parents(fitted):
    pipeline, rows = fitted
    parents = parent_columns(pipeline.named_steps["features"])
    assert parents["avg_price_increase"] == ("MonthlyCharges", "TotalCharges", "tenure")
    assert len(parents["num_optional_services"]) == 6
    per_feature = feature_contributions(pipeline, rows)
    summed = explain(pipeline, rows, TELCO_SCHEMA).contributions
    expected = (per_feature["tenure"] + per_feature["avg_price_increase"] / 3)
    np.testing.assert_allclose(summed["tenure"], expected, atol=1e-12)
    expected = per_feature["TechSupport"] + per_feature["num_optional_services"] / 6
    np.testing.assert_allclose(summed["TechSupport"], expected, atol=1e-12)


def test_every_wrapper_of_the_pipeline_is_accepted(fitted):
    pipeline, rows = fitted
    direct = explain(pipeline, rows.head(5)).contributions
    for model in (PipelineModel(pipeline, 0.5, TELCO_SCHEMA),
                  ClosedLoopModel().bind(pipeline, 0.5, TELCO_SCHEMA)):
        pd.testing.assert_frame_equal(explain(model, rows.head(5)).contributions, direct)
    with pytest.raises(TypeError, match="pipeline"):
        explain(object(), rows)


def test_reasons_are_the_strongest_columns_with_their_probability_change(fitted):
    pipeline, rows = fitted
    explanation = explain(pipeline, rows, TELCO_SCHEMA, top=3)
    assert all(len(r) == 3 for r in explanation.reasons)
    first = explanation.reasons[0]
    strength = explanation.contributions.iloc[0].abs().sort_values(ascending=False)
    assert [r.column for r in first] == list(strength.index[:3])
    for reason in first:
        assert reason.value == rows.iloc[0][reason.column]
        base = explanation.baseline
        change = 1 / (1 + np.exp(-(base + reason.contribution))) - 1 / (1 + np.exp(-base))
        assert reason.probability_change == pytest.approx(change)
        verb = "raises" if reason.contribution > 0 else "lowers"
        assert reason.text == (f"{reason.column} = {rows.iloc[0][reason.column]} {verb} the "
                               f"churn risk by {abs(change):.2f}".replace(".0 ", " "))


def test_words_use_the_outcome_label_and_never_the_sensitive_columns(fitted):
    pipeline, rows = fitted
    plain = explain(pipeline, rows, TELCO_SCHEMA, top=19, outcome="leaving")
    assert "SeniorCitizen" in plain.to_frame()["column"].tolist()
    assert plain.reasons[0][0].text.endswith(
        f"the leaving risk by {abs(plain.reasons[0][0].probability_change):.2f}")
    guarded = explain(pipeline, rows, TELCO_SCHEMA, top=19, sensitive=["SeniorCitizen"])
    assert "SeniorCitizen" not in guarded.to_frame()["column"].tolist()
    assert "SeniorCitizen" in guarded.contributions.columns  # still counted, just not said
    assert not reason_columns(guarded).apply(
        lambda c: c.str.contains("SeniorCitizen", na=False)).any().any()
    allowed = explain(pipeline, rows, TELCO_SCHEMA, top=19, sensitive=["SeniorCitizen"],
                      allow_sensitive=True)
    assert "SeniorCitizen" in allowed.to_frame()["column"].tolist()


def test_structured_forms_agree(fitted):
    pipeline, rows = fitted
    explanation = explain(pipeline, rows.head(20), TELCO_SCHEMA)
    long = explanation.to_frame()
    assert list(long.columns) == ["row", "rank", "column", "value", "contribution",
                                  "probability_change", "text"]
    assert len(long) == sum(len(r) for r in explanation.reasons) == 80
    flat = reason_columns(explanation)
    assert list(flat.columns) == ["reason_1", "reason_2", "reason_3", "reason_4"]
    assert flat.index.equals(rows.head(20).index)
    assert flat.iloc[0].tolist() == [r.text for r in explanation.reasons[0]]
    as_dict = json.loads(json.dumps(explanation.to_dict()))
    assert as_dict["rows"][0]["reasons"][0]["text"] == explanation.reasons[0][0].text
    assert "Explanation" in explanation._repr_html_()
    assert reason_columns(explanation, top=2).shape == (20, 2)


def test_zero_contributions_are_never_reasons():
    contributions = pd.DataFrame({"a": [0.5, 0.0], "b": [0.0, 0.0]})
    e = Explanation(contributions, np.zeros(2), pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]}),
                    "churn")
    assert [len(r) for r in e.reasons] == [1, 0]
    assert reason_columns(e).iloc[1].isna().all()
    assert e.reasons[0][0].text == "a = 1 raises the churn risk by 0.12"
    assert probability_change(0.0, 0.0) == 0.0


def test_global_importance_and_figures(fitted):
    pipeline, rows = fitted
    explanation = explain(pipeline, rows, TELCO_SCHEMA)
    importance = global_importance(explanation)
    assert importance.index[0] == "Contract" and importance.is_monotonic_decreasing
    pd.testing.assert_series_equal(global_importance(pipeline, rows, TELCO_SCHEMA), importance)
    fig = plots.plot_summary(explanation, top=8)
    assert len(fig.axes[1].get_yticklabels()) == 8


@pytest.mark.filterwarnings("ignore:LightGBM binary classifier:UserWarning")
def test_shap_agrees_with_the_native_contributions(fitted):
    shap = pytest.importorskip("shap")
    pipeline, rows = fitted
    X = pipeline.named_steps["features"].transform(rows.head(50))
    booster = pipeline.named_steps["model"].booster_
    native = feature_contributions(pipeline, rows.head(50)).to_numpy()
    values = shap.TreeExplainer(booster).shap_values(X)
    values = values[1] if isinstance(values, list) else values
    np.testing.assert_allclose(values, native[:, :-1], atol=1e-6)


def test_the_parents_follow_the_builder_not_the_data():
    builder = FeatureBuilder(TELCO_SCHEMA, derived=())
    assert set(parent_columns(builder)) == set(TELCO_SCHEMA.feature_names)
