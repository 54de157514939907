"""The gates on real Telco models: the LightGBM passes, degenerate and weaker models do not."""

import numpy as np
import pytest

from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.gates.config import PRESETS
from closedloop.gates.run import run_gates
from closedloop.model.baselines import InvertedModel, MajorityClassModel, PipelineModel, RandomModel
from closedloop.model.train import TrainConfig, retrain_with_params, split_data, train

PRESET = PRESETS["telecom_churn"].override(n_bootstrap=500, latency_calls=10)
#: Degenerate models are judged on quality and robustness; their latency is not the point.
NO_LATENCY = PRESET.override(max_single_row_p99_ms=None, max_batch_p99_ms=None)
# One LightGBM thread: on a shared machine, two threads spin-wait each other and run 10x slower.
SPLIT = TrainConfig(n_trials=0, seed=42, n_jobs=1)


@pytest.fixture(scope="module")
def holdout(telco):
    return split_data(telco, TELCO_SCHEMA, SPLIT).test


@pytest.fixture(scope="module")
def champion(telco):
    return PipelineModel.from_result(train(telco, TELCO_SCHEMA, SPLIT), TELCO_SCHEMA)


def shuffled_labels_model(telco):
    rng = np.random.default_rng(0)
    shuffled = telco.assign(Churn=rng.permutation(telco["Churn"].to_numpy()))
    return PipelineModel.from_result(train(shuffled, TELCO_SCHEMA, SPLIT), TELCO_SCHEMA)


def test_the_telco_lightgbm_passes_the_telecom_churn_preset(champion, holdout):
    report = run_gates(champion, holdout, TELCO_SCHEMA, PRESET)
    assert report.passed, str(report)
    assert report["floor.roc_auc"].value > 0.83
    assert report["robustness.nan_values"].value == "contract error"


@pytest.mark.parametrize(("name", "must_fail"), [
    ("all-majority", {"predicts_both_classes", "floor.recall", "minority_f1",
                      "robustness.nan_values", "champion.roc_auc"}),
    ("random", {"floor.roc_auc", "calibration.brier_skill", "robustness.int_as_float",
                "champion.roc_auc"}),
    ("shuffled labels", {"floor.roc_auc", "floor.precision", "champion.roc_auc"}),
    ("inverted", {"floor.roc_auc", "calibration.ece", "champion.roc_auc", "champion.f1"}),
])
def test_degenerate_models_fail_named_checks(telco, champion, holdout, name, must_fail):
    prevalence = float(TELCO_SCHEMA.target_as_int(holdout).mean())
    model = {"all-majority": lambda: MajorityClassModel(prevalence),
             "random": lambda: RandomModel(prevalence, random_state=1),
             "shuffled labels": lambda: shuffled_labels_model(telco),
             "inverted": lambda: InvertedModel(champion)}[name]()
    report = run_gates(model, holdout, TELCO_SCHEMA, NO_LATENCY, champion=champion)
    assert not report.passed
    failed = {check.name for check in report.failed}
    assert must_fail <= failed, f"{name}: expected {must_fail - failed} to fail\n{report}"


def test_a_weaker_challenger_that_clears_every_floor_is_still_rejected(telco, champion, holdout):
    weak = retrain_with_params(telco, TELCO_SCHEMA,
                               {"n_estimators": 4, "num_leaves": 4, "learning_rate": 0.1}, SPLIT)
    report = run_gates(PipelineModel.from_result(weak, TELCO_SCHEMA), holdout, TELCO_SCHEMA,
                       NO_LATENCY, champion=champion)
    assert all(c.passed for c in report.checks if c.name.startswith("floor."))
    auc = report["champion.roc_auc"]
    assert not report.passed and not auc.passed
    assert auc.details["ci_high"] < -PRESET.non_inferiority["roc_auc"]
    assert "worse than the champion beyond the margin" in auc.explanation


def test_a_challenger_within_noise_passes_with_its_interval(telco, champion, holdout):
    twin = train(telco, TELCO_SCHEMA, TrainConfig(n_trials=0, seed=43, split_seed=42, n_jobs=1))
    report = run_gates(PipelineModel.from_result(twin, TELCO_SCHEMA), holdout, TELCO_SCHEMA,
                       NO_LATENCY, champion=champion)
    assert report.passed, str(report)
    for metric in ("roc_auc", "f1"):
        check = report[f"champion.{metric}"]
        low, high = check.details["ci_low"], check.details["ci_high"]
        assert -PRESET.non_inferiority[metric] <= low < 0.005 and high > 0, check.explanation
        assert "% CI [" in check.explanation
    delong = report["champion.roc_auc"].details["delong"]
    bootstrap = report["champion.roc_auc"].details["bootstrap_ci"]
    assert delong["ci_low"] == pytest.approx(bootstrap[0], abs=0.002)
