"""Label-free performance estimation (CBPE): the arithmetic, the band, and that the estimate tracks
the realised metrics under covariate drift and misses concept drift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.model.train import TrainConfig, train
from closedloop.monitoring.estimate import (
    CBPE,
    ESTIMATE_COLUMNS,
    _bootstrap_std,
    _realised,
    estimate_performance,
    expected_metrics,
)
from closedloop.simulate.stream import StreamSimulator


def _synthetic(n: int, seed: int, score=lambda p: p) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = rng.beta(1.2, 2.5, n)
    s = score(p)
    return pd.DataFrame({"timestamp": pd.Timestamp("2026-01-05"), "prediction_proba": s,
                         "prediction": (s >= 0.4).astype(int),
                         "ground_truth": (rng.random(n) < p).astype(int)})


def test_expected_confusion_matrix_and_auc_by_hand():
    p = np.array([0.9, 0.6, 0.3, 0.2, 0.6])
    predicted = np.array([1, 1, 0, 0, 1], bool)
    m = expected_metrics(p, predicted, p)
    tp, fp, fn, tn = 2.1, 0.9, 0.5, 1.5
    assert m["accuracy"] == pytest.approx((tp + tn) / 5)
    assert m["precision_binary"] == pytest.approx(tp / (tp + fp))
    assert m["recall_binary"] == pytest.approx(tp / (tp + fn))
    assert m["f1_binary"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    wins = pairs = 0.0
    for i in range(5):
        for j in range(5):
            if i != j:
                w = p[i] * (1 - p[j])
                wins += w * (1.0 if p[i] > p[j] else 0.5 if p[i] == p[j] else 0.0)
                pairs += w
    assert m["roc_auc"] == pytest.approx(wins / pairs)


def test_realised_metrics_equal_scikit_learn():
    frame = _synthetic(3_000, 1)
    frame.loc[frame.index[::3], "ground_truth"] = None    # a third not labelled yet
    frame["ground_truth"] = frame["ground_truth"].astype("Int64")
    predicted = frame["prediction"].to_numpy().astype(bool)
    out, labelled = _realised(frame, "ground_truth", predicted,
                              frame["prediction_proba"].to_numpy())
    known = frame[frame["ground_truth"].notna()]
    y, yhat = known["ground_truth"].astype(int), known["prediction"]
    assert labelled == len(known) == 2_000
    assert out["roc_auc"] == pytest.approx(skm.roc_auc_score(y, known["prediction_proba"]),
                                           abs=1e-12)
    assert out["f1_binary"] == pytest.approx(skm.f1_score(y, yhat), abs=1e-12)
    assert out["precision_binary"] == pytest.approx(skm.precision_score(y, yhat), abs=1e-12)
    assert out["recall_binary"] == pytest.approx(skm.recall_score(y, yhat), abs=1e-12)
    assert out["accuracy"] == pytest.approx(skm.accuracy_score(y, yhat), abs=1e-12)


def test_bootstrap_spread_matches_the_binomial_variance_of_accuracy():
    p = np.random.default_rng(2).uniform(size=2_000)
    predicted = p >= 0.5
    std = _bootstrap_std(p, predicted, p, 2_000, np.random.default_rng(0))
    # accuracy is a mean of independent Bernoulli(p or 1 - p) indicators
    assert std["accuracy"] == pytest.approx(np.sqrt(np.sum(p * (1 - p))) / p.size, rel=0.05)


def test_calibration_is_used_only_where_it_helps():
    calibrated = CBPE().fit(_synthetic(6_000, 3))
    assert not calibrated.calibrated_
    skewed = CBPE().fit(_synthetic(6_000, 3, score=lambda p: p ** 2))
    assert skewed.calibrated_
    assert skewed.report_["brier_isotonic_cv"] < skewed.report_["brier_raw"]
    with pytest.raises(RuntimeError, match="fit"):
        CBPE().calibrate(np.array([0.5]))


def test_estimate_table_layout_and_unlabelled_windows():
    frame = _synthetic(2_000, 4)
    later = _synthetic(1_000, 5).assign(timestamp=pd.Timestamp("2026-01-13"), ground_truth=None)
    table = estimate_performance(pd.concat([frame, later], ignore_index=True), frame, "1w")
    assert list(table.columns) == list(ESTIMATE_COLUMNS)
    assert table.groupby("window_start").size().tolist() == [5, 5]
    second = table[table["window_start"] == "2026-01-12"]
    assert second["realised"].isna().all() and second["realised_in_band"].isna().all()
    assert (second["labelled_count"] == 0).all() and (second["row_count"] == 1_000).all()
    assert ((table["lower"] <= table["estimated"]) & (table["estimated"] <= table["upper"])).all()


# --- on the simulated stream with the real model

REFERENCE_END = pd.Timestamp("2026-01-31")   # days 0-29: before every scenario starts
MONITORED_FROM = pd.Timestamp("2026-02-02")  # whole weeks from the first Monday after


@pytest.fixture(scope="module")
def model(telco):
    return train(telco, TELCO_SCHEMA, TrainConfig(n_trials=0, n_jobs=1))


@pytest.fixture(scope="module")
def simulator(telco) -> StreamSimulator:
    return StreamSimulator(telco, seed=0, population=20_000)


def _estimates(scenario: str, model, simulator) -> pd.DataFrame:
    stream = simulator.stream(days=120, rows_per_day=300, scenario=scenario)
    proba = model.pipeline.predict_proba(stream)[:, 1]
    log = stream.assign(timestamp=stream["event_time"], prediction_proba=proba,
                        prediction=(proba >= model.threshold).astype(int),
                        ground_truth=TELCO_SCHEMA.target_as_int(stream))
    reference = log[log["timestamp"] < REFERENCE_END]
    table = CBPE().fit(reference).estimate(log[log["timestamp"] >= MONITORED_FROM], "1w")
    assert table["labelled_count"].eq(table["row_count"]).all()
    return table


def _coverage(table: pd.DataFrame, metric: str) -> float:
    return float(table.loc[table["metric"] == metric, "realised_in_band"].mean())


@pytest.mark.parametrize("scenario", ["none", "tenure_shift", "price_increase"])
def test_realised_accuracy_and_f1_fall_in_the_band_without_concept_drift(scenario, model,
                                                                           simulator):
    table = _estimates(scenario, model, simulator)
    assert len(table["window_start"].unique()) == 13
    assert _coverage(table, "accuracy") >= 0.8
    assert _coverage(table, "f1_binary") >= 0.8
    if scenario == "tenure_shift":  # performance really drops, and the estimate sees it
        accuracy = table[table["metric"] == "accuracy"].set_index("window_start")
        assert accuracy["realised"].iloc[-6:].mean() < accuracy["realised"].iloc[0] - 0.03
        assert accuracy["estimated"].iloc[-6:].mean() < accuracy["estimated"].iloc[0] - 0.03


def test_concept_drift_escapes_the_estimate(model, simulator):
    table = _estimates("concept_drift", model, simulator)
    for metric in ("f1_binary", "precision_binary"):
        rows = table[table["metric"] == metric]
        # Fibre customers churn more; the model already flags most of them, so its alarms come
        # true more often. The probabilities did not change, so neither did the estimate.
        assert (rows["realised"] > rows["upper"]).mean() >= 0.8
        assert rows["estimated"].std() < 0.01
