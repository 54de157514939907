"""Step 6's paired rule, the reference F1, stale runs, derived limits, latency intervals."""

import os
import socket
import time

import numpy as np
import pandas as pd
import pytest

from closedloop.contract.schema import Column, Schema
from closedloop.gates.config import (
    DERIVED_LIMITS,
    FIXED_WHEN_DERIVED,
    GateConfig,
    derive_floors,
)
from closedloop.gates.robustness import MIN_SINGLE_ROW_CALLS, check_latency, quantile_interval
from closedloop.retrain.runs import HOST, PID, stale_reason
from closedloop.retrain.steps import compare_on_holdout, model_reference
from closedloop.retrain.workflow import RetrainConfig

SCHEMA = Schema("toy", (Column("id", "id"), Column("x", "integer", low=0),
                        Column("y", "integer", low=0, high=1)), target="y", positive=1,
                entity_id="id")


class Scores:
    """A model whose probabilities are given per row (the holdout's ``x`` is the row index)."""

    def __init__(self, proba, threshold=0.5):
        self.proba, self.threshold = np.asarray(proba, float), threshold

    def predict(self, frame):
        p = self.proba[frame["x"].to_numpy(int)]
        return pd.DataFrame({"prediction": (p >= self.threshold).astype(int),
                             "prediction_proba": p})


def holdout(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    return pd.DataFrame({"id": np.arange(n).astype(str), "x": np.arange(n),
                         "y": y.astype(int)}), y


def noisy(y, flip, seed):
    """Scores that call each row right except a random ``flip`` share."""
    rng = np.random.default_rng(seed)
    wrong = rng.random(len(y)) < flip
    return np.where(y ^ wrong, 0.8, 0.2) + rng.normal(0, 0.01, len(y))


def test_two_equal_models_are_not_shown_better():
    frame, y = holdout()
    a, b = Scores(noisy(y, 0.2, 1)), Scores(noisy(y, 0.2, 2))
    result = compare_on_holdout(a, b, frame, SCHEMA, n_bootstrap=300)
    assert not result["accepted"] and result["rule"] == "superior"
    assert result["ci_low"] < 0 < result["ci_high"]
    assert "95% CI" in result["summary"] and "refused" in result["summary"]
    # Non-inferiority with a generous margin accepts the same noise.
    loose = compare_on_holdout(a, b, frame, SCHEMA, rule="non_inferior", margin=0.1,
                               n_bootstrap=300)
    assert loose["accepted"] and loose["difference"] == result["difference"]


def test_a_clearly_better_challenger_is_accepted():
    frame, y = holdout()
    better, worse = Scores(noisy(y, 0.05, 1)), Scores(noisy(y, 0.3, 2))
    result = compare_on_holdout(better, worse, frame, SCHEMA, n_bootstrap=300)
    assert result["accepted"] and result["ci_low"] > 0
    assert result["challenger"]["f1"] > result["champion"]["f1"]


def test_config_rejects_an_unknown_rule():
    with pytest.raises(ValueError, match="compare_rule"):
        RetrainConfig(compare_rule="higher")
    assert RetrainConfig().compare_rule == "superior"


def test_reference_f1_is_measured_on_the_holdout_like_the_realised_f1():
    frame, y = holdout()
    model = Scores(noisy(y, 0.2, 3))
    reference = model_reference(model, frame, SCHEMA, "2", None, None)
    out = model.predict(frame)
    tp = int(((out["prediction"] == 1) & (frame["y"] == 1)).sum())
    expected = 2 * tp / (int(out["prediction"].sum()) + int(frame["y"].sum()))
    assert reference.f1 == pytest.approx(expected)
    assert model_reference(model, frame, SCHEMA, "2", 0.5, None).f1 == 0.5  # given: kept


def test_a_run_is_stale_when_its_process_is_gone_or_it_is_too_old():
    here = socket.gethostname()
    now = time.time() * 1000
    assert stale_reason({PID: str(os.getpid()), HOST: here}, 0, stale_after_hours=1) is None
    gone = 2 ** 22 + 12345  # above the default pid_max: no such process
    assert "is gone" in stale_reason({PID: str(gone), HOST: here}, now, stale_after_hours=1)
    elsewhere = {PID: "1", HOST: "another-host"}
    assert stale_reason(elsewhere, now, stale_after_hours=1) is None
    old = now - 2 * 3600 * 1000
    assert "after 2.0 h" in stale_reason(elsewhere, old, stale_after_hours=1)
    assert stale_reason({}, old, stale_after_hours=1) is not None


def test_derived_floors_derive_every_class_balance_limit():
    y = np.r_[np.zeros(735), np.ones(265)]
    config = derive_floors(y, skill=0.1, base=GateConfig(max_false_positive_rate=0.5))
    p = 0.265
    assert config.min_minority_f1 == pytest.approx(config.floors["f1"])  # positives: minority
    assert config.max_false_negative_rate == pytest.approx(1 - (p + 0.1 * (1 - p)))
    assert config.max_false_positive_rate == pytest.approx(p * 0.9)
    assert config.max_ece == GateConfig().max_ece  # named as fixed, with its reason
    assert {"max_ece", "min_brier_skill"} <= set(FIXED_WHEN_DERIVED)
    assert {"min_minority_f1", "max_false_negative_rate"} <= set(DERIVED_LIMITS)
    off = derive_floors(y, base=GateConfig(max_false_negative_rate=None, min_minority_f1=None))
    assert off.max_false_negative_rate is None and off.min_minority_f1 is None


def test_latency_p99_rests_on_enough_calls_and_reports_its_interval():
    frame, y = holdout(50)
    checks = check_latency(Scores(noisy(y, 0.2, 1)), frame[["x"]], max_single_row_p99_ms=1e4,
                           max_batch_p99_ms=1e5, batch_rows=10, calls=5, batch_calls=3)
    single, batch = checks
    assert single.details["calls"] == MIN_SINGLE_ROW_CALLS
    low, high = single.details["p99_ci_ms"]
    assert low <= single.value and high is not None
    assert batch.details["calls"] == 3 and batch.details["p99_ci_ms"][1] is None
    assert "of 400 calls" in single.explanation
    assert quantile_interval(np.arange(1, 401)) == (392.0, 400.0)
