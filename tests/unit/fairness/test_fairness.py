"""Group fairness: equal to fairlearn on the same data, intervals, windows, the Telco facts."""

import json

import numpy as np
import pandas as pd
import pytest

from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.fairness import plots
from closedloop.fairness.metrics import (
    DISPARITIES,
    assess,
    compare_fairness,
    fairness_by_window,
    fairness_report,
    metric_name,
)
from closedloop.model.baselines import PipelineModel
from closedloop.model.train import DEFAULT_PARAMS, build_pipeline, choose_threshold, split_data


def synthetic(n=3000, seed=0, groups=("a", "b", "c")):
    rng = np.random.default_rng(seed)
    group = rng.choice(groups, n, p=[0.5, 0.3, 0.2][:len(groups)])
    y = (rng.random(n) < np.where(group == groups[0], 0.2, 0.4)).astype(int)
    p = np.where(rng.random(n) < 0.75, y, 1 - y)
    p = np.where((group == groups[-1]) & (rng.random(n) < 0.3), 0, p)
    return pd.DataFrame({"ground_truth": y, "prediction": p, "g": group,
                         "senior": rng.integers(0, 2, n)})


def test_equal_to_fairlearn_on_the_same_data():
    fm = pytest.importorskip("fairlearn.metrics")  # fairlearn needs Python >= 3.11
    frame = synthetic()
    report = fairness_report(frame, ["g", "senior"], n_bootstrap=0)
    for column in ("g", "senior"):
        y, p, s = frame["ground_truth"], frame["prediction"], frame[column]
        expected = {
            "demographic_parity_difference": fm.demographic_parity_difference(
                y, p, sensitive_features=s),
            "demographic_parity_ratio": fm.demographic_parity_ratio(y, p, sensitive_features=s),
            "equalized_odds_difference": fm.equalized_odds_difference(
                y, p, sensitive_features=s)}
        if hasattr(fm, "equal_opportunity_difference"):
            expected["equal_opportunity_difference"] = fm.equal_opportunity_difference(
                y, p, sensitive_features=s)
        for metric, value in expected.items():
            assert report.value(metric, column) == pytest.approx(value, abs=1e-12), metric
        frame_metrics = fm.MetricFrame(
            metrics={"selection_rate": fm.selection_rate, "tpr": fm.true_positive_rate,
                     "fpr": fm.false_positive_rate},
            y_true=y, y_pred=p, sensitive_features=s).by_group
        mine = report.groups[report.groups["column"] == column].set_index("group")
        for rate in ("selection_rate", "tpr", "fpr"):
            np.testing.assert_allclose(mine[rate].to_numpy(),
                                       frame_metrics[rate].to_numpy(), atol=1e-12)


def test_precision_per_group_and_string_labels():
    frame = synthetic().assign(label=lambda f: np.where(f["ground_truth"] == 1, "Yes", "No"))
    report = fairness_report(frame, ["g"], target="label", positive="Yes", n_bootstrap=0)
    part = frame[frame["g"] == "b"]
    expected = part.loc[part["prediction"] == 1, "ground_truth"].mean()
    assert report.groups.set_index("group").loc["b", "precision"] == pytest.approx(expected)
    same = fairness_report(frame, ["g"], n_bootstrap=0)
    pd.testing.assert_frame_equal(report.to_frame(), same.to_frame())


def test_the_bootstrap_is_seeded_and_brackets_the_estimate():
    frame = synthetic()
    one = fairness_report(frame, ["g"], n_bootstrap=300, random_state=3)
    two = fairness_report(frame, ["g"], n_bootstrap=300, random_state=3)
    pd.testing.assert_frame_equal(one.to_frame(), two.to_frame())
    table = one.to_frame()
    assert (table["ci_low"] <= table["value"]).all() and (table["value"] <= table["ci_high"]).all()
    groups = one.groups
    assert (groups["tpr_low"] <= groups["tpr"]).all()
    assert (groups["tpr"] <= groups["tpr_high"]).all()
    other = fairness_report(frame, ["g"], n_bootstrap=300, random_state=4)
    assert not other.to_frame().equals(table)


def test_the_report_serialises_and_names_are_checked():
    report = fairness_report(synthetic(), ["g"], n_bootstrap=50)
    assert set(report.to_frame()["metric"]) == set(DISPARITIES)
    assert json.loads(json.dumps(report.to_dict()))["disparities"][0]["column"] == "g"
    assert "Fairness" in report._repr_html_() and "FairnessReport" in repr(report)
    assert metric_name("tpr_difference") == "equal_opportunity_difference"
    with pytest.raises(ValueError, match="unknown fairness metric"):
        metric_name("parity")
    with pytest.raises(KeyError, match="lacks"):
        fairness_report(synthetic(), ["nope"])
    assert len(plots.plot_group_rates(report).axes) == 4


def test_the_paired_comparison_is_zero_for_the_same_model():
    frame = synthetic()
    same = compare_fairness(frame["ground_truth"], frame["prediction"], frame["prediction"],
                            frame["g"], n_bootstrap=100)
    assert same["difference"] == 0 and same["difference_low"] == same["difference_high"] == 0
    fair = np.where(np.random.default_rng(1).random(len(frame)) < 0.8, frame["ground_truth"],
                    1 - frame["ground_truth"])
    better = compare_fairness(frame["ground_truth"], fair, frame["prediction"], frame["g"],
                              "tpr_difference", n_bootstrap=200)
    assert better["difference"] < 0 and better["difference_high"] < 0.05


def test_fairness_by_window_uses_labelled_rows_only():
    frame = synthetic(2800)
    frame["timestamp"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(
        np.arange(len(frame)) * 30, unit="min")  # 48 rows a day, about 8 weeks
    frame.loc[frame.index[-300:], "ground_truth"] = np.nan  # labels not yet arrived
    table = fairness_by_window(frame, ["g"], n_bootstrap=50)
    assert (pd.DatetimeIndex(table["window_start"]).dayofweek == 0).all()  # weeks from Monday
    assert table["labelled_rows"].sum() == 2500
    first = frame[frame["timestamp"] < pd.Timestamp("2024-01-08")]
    expected = fairness_report(first, ["g"], n_bootstrap=0).value("tpr_difference")
    assert table["value"].iloc[0] == pytest.approx(expected)
    by_column = fairness_by_window(frame.assign(w=frame["timestamp"].dt.to_period("M")), ["g"],
                                   window="w", n_bootstrap=0)
    assert len(by_column) == 2
    assert plots.plot_fairness_by_window(table, limit=0.1).axes[0].get_ylabel() == (
        "equal_opportunity_difference")


def test_telco_senior_citizens_fail_parity_but_tpr_is_the_signal(telco):
    splits = split_data(telco, TELCO_SCHEMA)
    pipeline = build_pipeline(TELCO_SCHEMA, DEFAULT_PARAMS)
    pipeline.fit(splits.train, TELCO_SCHEMA.target_as_int(splits.train))
    threshold = choose_threshold(TELCO_SCHEMA.target_as_int(splits.valid),
                                 pipeline.predict_proba(splits.valid)[:, 1])
    model = PipelineModel(pipeline, threshold, TELCO_SCHEMA)
    report = assess(model, splits.test, TELCO_SCHEMA, ["SeniorCitizen"], n_bootstrap=500)
    groups = report.groups.set_index("group")
    assert groups.loc[1, "base_rate"] > 1.5 * groups.loc[0, "base_rate"]  # seniors churn more
    assert report.value("demographic_parity_ratio") < 0.8  # the four-fifths rule fails
    low, high = report.interval("tpr_difference")  # measured: 0.165, [0.07, 0.26]
    assert 0 < low < report.value("tpr_difference") < high
