"""Each retraining trigger fires exactly when its threshold is crossed; policies combine them."""

import numpy as np
import pandas as pd
import pytest

from closedloop.retrain.triggers import (
    AgeTrigger,
    DataQualityTrigger,
    DriftTrigger,
    EstimatedPerformanceTrigger,
    Evidence,
    EvidenceConfig,
    PerformanceTrigger,
    Reference,
    RetrainPolicy,
    collect_evidence,
    get_policy,
)

AS_OF = pd.Timestamp("2026-06-01")


def evidence(**fields):
    return Evidence(AS_OF, "1", **fields)


@pytest.mark.parametrize(("realised", "fired"), [(0.70, False), (0.65, False), (0.6499, True),
                                                 (0.40, True)])
def test_performance_fires_on_a_drop_beyond_005(realised, fired):
    # holdout F1 0.70: a drop of exactly 0.05 (0.65, in floating point 0.04999...) does not fire.
    result = PerformanceTrigger(0.05).check(evidence(reference_f1=0.70, realised_f1=realised,
                                                     labelled_rows=900))
    assert result.fired is fired
    assert result.value == pytest.approx(0.70 - realised)
    assert result.threshold == 0.05 and "900 labelled rows" in result.reason


def test_performance_does_not_fire_without_labels():
    result = PerformanceTrigger().check(evidence(reference_f1=0.7, realised_f1=None))
    assert not result.fired and result.value is None
    assert result.reason.startswith("not measured")


@pytest.mark.parametrize(("estimated", "fired"), [(0.66, False), (0.649, True)])
def test_estimated_performance_uses_the_estimate_not_the_labels(estimated, fired):
    result = EstimatedPerformanceTrigger(0.05).check(evidence(
        reference_f1=0.70, realised_f1=0.70, estimated_f1=estimated, window_rows=500))
    assert result.fired is fired


@pytest.mark.parametrize(("psi", "fired"), [(0.25, False), (0.2501, True)])
def test_drift_fires_on_the_worst_column(psi, fired):
    result = DriftTrigger(0.25).check(evidence(psi={"prediction_proba": 0.01, "tenure": psi,
                                                    "Contract": 0.1}))
    assert result.fired is fired and result.value == psi
    assert "PSI of tenure" in result.reason


@pytest.mark.parametrize(("rate", "fired"), [(0.10, False), (0.1001, True)])
def test_data_quality_fires_on_a_null_rate_above_010(rate, fired):
    result = DataQualityTrigger(0.10).check(evidence(null_rates={"tenure": 0.0,
                                                                 "PaymentMethod": rate}))
    assert result.fired is fired and "PaymentMethod" in result.reason


@pytest.mark.parametrize(("days", "fired"), [(30, False), (30.5, True)])
def test_age_fires_after_30_days(days, fired):
    trained = AS_OF - pd.Timedelta(days=days)
    result = AgeTrigger(30).check(evidence(trained_at=trained))
    assert result.fired is fired and result.value == pytest.approx(days)


def test_policy_any_all_custom_and_cooldown():
    drifted = evidence(reference_f1=0.7, realised_f1=0.6, labelled_rows=800,
                       psi={"tenure": 0.1}, trained_at=AS_OF - pd.Timedelta(days=3))
    triggers = (PerformanceTrigger(), DriftTrigger(), AgeTrigger())
    assert RetrainPolicy("any", triggers).evaluate(drifted).retrain
    assert not RetrainPolicy("all", triggers, combine="all").evaluate(drifted).retrain
    two = RetrainPolicy("two", triggers, combine=lambda rs: sum(r.fired for r in rs) >= 2)
    assert not two.evaluate(drifted).retrain
    decision = RetrainPolicy("any", triggers, cooldown_days=7).evaluate(
        drifted, last_retrained_at=AS_OF - pd.Timedelta(days=6))
    assert not decision.retrain and decision.cooling_down_until == pd.Timestamp("2026-06-02")
    assert [r.trigger for r in decision.fired] == ["performance"]  # reasons are kept
    later = RetrainPolicy("any", triggers, cooldown_days=7).evaluate(
        drifted, last_retrained_at=AS_OF - pd.Timedelta(days=7))
    assert later.retrain
    assert later.to_frame()["fired"].tolist() == [True, False, False]
    assert not get_policy("never").evaluate(drifted).retrain


def test_unknown_policy_and_bad_combine_are_named():
    with pytest.raises(ValueError, match="unknown policy 'sometimes'; known policies: never"):
        get_policy("sometimes")
    with pytest.raises(ValueError, match="combine must be 'any', 'all' or a function"):
        RetrainPolicy("x", combine="most")


def _log(rows, *, version="1", proba=None, start="2026-05-02", arrived=None):
    rng = np.random.default_rng(0)
    proba = rng.uniform(size=rows) if proba is None else proba
    times = pd.date_range(start, periods=rows, freq="1min")
    y = (rng.uniform(size=rows) < proba).astype(int)
    return pd.DataFrame({
        "timestamp": times, "model_version": version, "tenure": rng.integers(0, 72, rows),
        "prediction_proba": proba, "prediction": (proba >= 0.5).astype(int),
        "ground_truth": pd.array(y, dtype="Int64"),
        "label_arrived_at": times + pd.Timedelta(days=1) if arrived is None else arrived})


def test_collect_evidence_measures_the_champion_in_the_window():
    from closedloop.contract.schema import Column, Schema

    toy = Schema("toy", (Column("id", "id"), Column("tenure", "integer", low=0),
                         Column("y", "category", ("no", "yes"))), target="y", positive="yes",
                 entity_id="id")
    reference_rows = _log(2000, start="2026-01-01")
    reference = Reference("1", reference_rows, f1=0.9, trained_at=pd.Timestamp("2026-04-01"),
                          top_features=("tenure",))
    log = pd.concat([_log(1000), _log(300, version="0")], ignore_index=True)
    log.loc[:99, "tenure"] = np.nan  # 100 of the 1300 rows in the window: 7.7 %
    found = collect_evidence(log, reference, AS_OF, schema=toy,
                             config=EvidenceConfig(window_days=30, min_labels=500))
    assert found.window_rows == 1000 and found.labelled_rows == 1000  # version 0 is not ours
    y, predicted = log["ground_truth"][:1000].to_numpy(int), log["prediction"][:1000].to_numpy()
    tp = ((y == 1) & (predicted == 1)).sum()
    assert found.realised_f1 == pytest.approx(2 * tp / (y.sum() + predicted.sum()))
    assert found.null_rates["tenure"] == pytest.approx(100 / 1300)
    assert found.psi["prediction_proba"] < 0.1  # same distribution as the reference
    assert 0 < found.estimated_f1 < 1 and found.age_days == pytest.approx(61)
    too_few = collect_evidence(log, reference, AS_OF, schema=toy,
                               config=EvidenceConfig(min_labels=1001), needs=frozenset(
                                   {"realised"}))
    assert too_few.realised_f1 is None and too_few.psi == {} and too_few.estimated_f1 is None
