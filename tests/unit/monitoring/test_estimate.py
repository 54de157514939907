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
    _realised,
    estimate_performance,
    expected_metrics,
    sampling_std,
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


def test_analytic_spread_matches_a_simulation_of_the_labels():
    rng = np.random.default_rng(2)
    p = rng.uniform(size=2_000)
    scores = np.round(p, 2)   # ties in the ranking, as a real model's scores have
    predicted = p >= 0.4
    std = sampling_std(p, predicted, scores)
    # accuracy is a mean of independent Bernoulli(p or 1 - p) indicators: exact
    assert std["accuracy"] == pytest.approx(np.sqrt(np.sum(p * (1 - p))) / p.size, rel=1e-12)
    # the others (delta method for recall, F1, AUC) against 4,000 simulated label draws
    y = rng.random((4_000, p.size)) < p
    tp, fn = (y & predicted).sum(1), (y & ~predicted).sum(1)
    positives = y.sum(1)
    ranks = pd.Series(scores).rank().to_numpy()
    simulated = {
        "precision_binary": tp / predicted.sum(), "recall_binary": tp / (tp + fn),
        "f1_binary": 2 * tp / (predicted.sum() + tp + fn),
        "roc_auc": (y @ ranks - positives * (positives + 1) / 2) / (
            positives * (p.size - positives))}
    for metric, values in simulated.items():
        assert std[metric] == pytest.approx(values.std(), rel=0.06), metric


@pytest.mark.parametrize("fraction", [0.05, 0.2, 1.0])
def test_band_covers_the_realised_metric_of_a_calibrated_model(fraction):
    """The band is for the metric it is compared with: with a perfectly calibrated model and a
    1.96-sigma band, about 95 % of windows hold their realised metric, whatever the share of
    labels in (a band for the whole window held it in about 30 % of windows at 5 % labelled)."""
    rng = np.random.default_rng(7)
    windows, size = 300, 2_000
    p = rng.beta(1.2, 2.5, windows * size)
    y = (rng.random(p.size) < p).astype(float)
    frame = pd.DataFrame({
        "window_start": np.repeat(pd.date_range("2026-01-01", periods=windows), size),
        "prediction_proba": p, "prediction": (p >= 0.4).astype(int),
        "ground_truth": np.where(rng.random(p.size) < fraction, y, np.nan)})
    table = CBPE(calibration="none", width=1.96).fit(frame).estimate(frame, "1d")
    population = "window" if fraction == 1.0 else "labelled"
    assert (table["band_population"] == population).all()
    for metric in ("accuracy", "f1_binary"):
        assert 0.90 <= _coverage(table, metric) <= 0.99, metric


def test_partly_labelled_window_has_the_band_of_its_labelled_rows():
    frame = _synthetic(3_000, 6)
    frame["ground_truth"] = frame["ground_truth"].astype(float).where(
        np.arange(len(frame)) % 4 == 0)
    cbpe = CBPE(calibration="none").fit(frame)
    row = cbpe.estimate(frame, "1w").set_index("metric").loc["f1_binary"]
    known = frame[frame["ground_truth"].notna()]
    p = known["prediction_proba"].to_numpy()
    predicted = known["prediction"].to_numpy().astype(bool)
    assert row["band_population"] == "labelled" and row["band_rows"] == 750
    assert row["band_estimated"] == pytest.approx(expected_metrics(p, predicted, p)["f1_binary"])
    assert row["sampling_std"] == pytest.approx(sampling_std(p, predicted, p)["f1_binary"])
    # the point estimate is still the whole window's
    everything = frame["prediction_proba"].to_numpy()
    assert row["estimated"] == pytest.approx(expected_metrics(
        everything, frame["prediction"].to_numpy().astype(bool), everything)["f1_binary"])


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
    assert (table["band_population"] == "window").all()   # all labelled, or none
    assert (table["band_rows"] == table["row_count"]).all()
    assert (table["band_estimated"] == table["estimated"]).all()
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
        # true more often. The probabilities did not change, so neither did the estimate: the
        # realised value is above it in every week, and beyond its 3-sigma band in most weeks
        # (the analytic band is a little wider than the 400-draw bootstrap it replaced).
        assert (rows["realised"] > rows["estimated"]).all()
        assert (rows["realised"] > rows["upper"]).mean() >= 2 / 3
        assert rows["estimated"].std() < 0.01
