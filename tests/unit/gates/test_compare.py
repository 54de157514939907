"""Champion vs challenger statistics: exact metrics, DeLong against brute force, non-inferiority."""

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from closedloop.gates import compare
from closedloop.gates.compare import (
    bootstrap_weights,
    compare_models,
    delong_test,
    non_inferiority_checks,
    paired_bootstrap,
    weighted_metric,
)


def scored(proba, threshold=0.5):
    proba = np.asarray(proba, dtype=float)
    return pd.DataFrame({"prediction": (proba >= threshold).astype(int),
                         "prediction_proba": proba})


def noisy_scores(y, signal, rng):
    """Scores that separate the classes by ``signal`` standard deviations, squashed to (0, 1)."""
    return 1 / (1 + np.exp(-(signal * y + rng.normal(size=len(y)))))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    y = (rng.random(1500) < 0.27).astype(int)
    # Rounded scores make ties, which both AUC and average precision must treat like sklearn.
    return y, np.round(noisy_scores(y, 1.5, rng), 2), np.round(noisy_scores(y, 1.4, rng), 2)


@pytest.mark.parametrize("metric", sorted(compare.HIGHER_IS_BETTER))
def test_unit_weights_reproduce_sklearn_exactly(data, metric):
    y, proba, _ = data
    labels = (proba >= 0.4).astype(int)
    expected = {
        "roc_auc": skm.roc_auc_score(y, proba), "pr_auc": skm.average_precision_score(y, proba),
        "f1": skm.f1_score(y, labels), "precision": skm.precision_score(y, labels),
        "recall": skm.recall_score(y, labels), "accuracy": skm.accuracy_score(y, labels),
        "brier": skm.brier_score_loss(y, proba), "log_loss": skm.log_loss(y, proba),
    }[metric]
    got = weighted_metric(metric, y, proba, labels, np.ones((1, len(y))))[0]
    assert got == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("metric", ["roc_auc", "pr_auc", "f1", "brier"])
def test_bootstrap_weights_equal_resampling_the_rows(data, metric):
    y, proba, _ = data
    labels = (proba >= 0.4).astype(int)
    weights = next(bootstrap_weights(len(y), 3, random_state=5))
    for row in weights:
        index = np.repeat(np.arange(len(y)), row.astype(int))  # the resample as row indices
        direct = weighted_metric(metric, y[index], proba[index], labels[index],
                                 np.ones((1, len(index))))[0]
        assert weighted_metric(metric, y, proba, labels, row[None, :])[0] == pytest.approx(direct)


def brute_force_delong(y, a, b):
    """DeLong's variance from the m x n comparison matrix (the slow textbook definition)."""
    pos, neg = y == 1, y == 0
    placements = []
    for s in (a, b):
        psi = np.array([[1.0 if x > z else 0.5 if x == z else 0.0 for z in s[neg]]
                        for x in s[pos]])
        placements.append((psi.mean(axis=1), psi.mean(axis=0), psi.mean()))
    (v10a, v01a, auc_a), (v10b, v01b, auc_b) = placements
    m, n = pos.sum(), neg.sum()
    s10, s01 = np.cov(np.vstack([v10a, v10b])), np.cov(np.vstack([v01a, v01b]))
    cov = s10 / m + s01 / n
    return auc_a - auc_b, cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]


def test_fast_delong_matches_the_brute_force_definition():
    rng = np.random.default_rng(3)
    y = np.r_[np.zeros(40, int), np.ones(25, int)]
    a = np.round(noisy_scores(y, 1.2, rng), 1)  # heavy ties
    b = np.round(noisy_scores(y, 0.8, rng), 1)
    result = delong_test(y, a, b)
    difference, variance = brute_force_delong(y, a, b)
    assert result.auc_a == pytest.approx(skm.roc_auc_score(y, a))
    assert result.difference == pytest.approx(difference)
    assert result.std_error ** 2 == pytest.approx(variance)


def test_delong_and_the_paired_bootstrap_agree_on_the_spread(data):
    y, a, b = data
    result = delong_test(y, a, b)
    replicates = paired_bootstrap("roc_auc", y, scored(a), scored(b), n_bootstrap=2000,
                                  random_state=1)
    assert np.nanstd(replicates) == pytest.approx(result.std_error, rel=0.15)
    assert np.nanmean(replicates) == pytest.approx(result.difference, abs=result.std_error / 2)


def test_bootstrap_is_seeded_and_paired(data):
    y, a, b = data
    first = paired_bootstrap("f1", y, scored(a), scored(b), n_bootstrap=300, random_state=7)
    again = paired_bootstrap("f1", y, scored(a), scored(b), n_bootstrap=300, random_state=7)
    np.testing.assert_array_equal(first, again)
    # Paired: a model compared with itself differs by exactly zero in every replicate.
    assert not paired_bootstrap("roc_auc", y, scored(a), scored(a), n_bootstrap=200).any()


def test_orientation_positive_means_the_challenger_is_better(data):
    y, a, _ = data
    worse = np.clip(a + np.random.default_rng(0).normal(0, 0.3, len(a)), 0, 1)
    result = compare_models(y, scored(worse), scored(a), n_bootstrap=200,
                            margins={"roc_auc": 0.01, "brier": 0.01})
    assert result["roc_auc"].difference < 0 and result["brier"].difference < 0


def test_a_challenger_worse_beyond_the_margin_fails_with_its_interval(data):
    y, a, _ = data
    rng = np.random.default_rng(1)
    weak = noisy_scores(y, 0.6, rng)
    checks = non_inferiority_checks(compare_models(
        y, scored(weak), scored(a), margins={"roc_auc": 0.02, "f1": 0.03}, n_bootstrap=500))
    assert [c.passed for c in checks] == [False, False]
    assert "worse than the champion beyond the margin" in checks[0].explanation
    assert checks[0].details["ci_high"] < -0.02 and checks[0].details["method"] == "DeLong"


def test_a_challenger_within_noise_passes_and_reports_its_interval(data):
    y, a, _ = data
    rng = np.random.default_rng(2)
    # Same ranking, a little jitter: the same model retrained with another seed.
    twin = np.clip(a + rng.normal(0, 0.01, len(a)), 0, 1)
    comparisons = compare_models(y, scored(twin), scored(a), margins={"roc_auc": 0.02, "f1": 0.03},
                                 n_bootstrap=500)
    for check in non_inferiority_checks(comparisons):
        assert check.passed, check.explanation
        low, high = check.details["ci_low"], check.details["ci_high"]
        assert low < 0 < high and "CI [" in check.explanation
    auc = comparisons["roc_auc"]
    assert auc.delong is not None and auc.bootstrap_ci[0] < 0 < auc.bootstrap_ci[1]
    assert auc.verdict.startswith("within noise")


def test_bootstrap_decides_auc_when_asked(data):
    y, a, b = data
    result = compare_models(y, scored(a), scored(b), margins={"roc_auc": 0.02},
                            auc_method="bootstrap", n_bootstrap=200)["roc_auc"]
    assert result.method == "paired bootstrap" and (result.ci_low, result.ci_high) == \
        result.bootstrap_ci
    with pytest.raises(ValueError, match="auc_method"):
        compare_models(y, scored(a), scored(b), margins={"roc_auc": 0.02}, auc_method="guess")


def test_unpaired_inputs_are_refused(data):
    y, a, b = data
    with pytest.raises(ValueError, match="one row per holdout row"):
        paired_bootstrap("f1", y, scored(a), scored(b[:-1]))


@pytest.mark.parametrize(("margin", "expected"), [(0.001, False), (0.5, True)])
def test_the_margin_is_what_decides(data, margin, expected):
    y, a, b = data
    result = compare_models(y, scored(b), scored(a), margins={"roc_auc": margin}, n_bootstrap=200)
    assert result["roc_auc"].non_inferior is expected
