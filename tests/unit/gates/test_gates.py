"""Gate configuration, the report, and every check on models built to fail it."""

import json
import time

import numpy as np
import pandas as pd
import pytest

from closedloop import gates
from closedloop.gates.checks import (
    check_calibration,
    check_floors,
    expected_calibration_error,
    reliability_table,
    score,
)
from closedloop.gates.config import PRESETS, GateConfig, derive_floors
from closedloop.gates.robustness import check_latency, check_robustness
from closedloop.gates.run import GateReport, run_gates
from closedloop.model.baselines import InvertedModel, MajorityClassModel, PipelineModel, RandomModel
from closedloop.model.train import TrainConfig, split_data, train
from tests.loans import LOAN_SCHEMA, make_loans

#: Fast settings for tests: few bootstrap replicates and latency calls, no latency SLA.
FAST = GateConfig(n_bootstrap=200, latency_calls=3, max_single_row_p99_ms=None,
                  max_batch_p99_ms=None, robustness_rows=200)


@pytest.fixture(scope="module")
def loans():
    """A model for another schema (positives are the majority here) and its holdout."""
    table = make_loans(1500)
    config = TrainConfig(n_trials=0, seed=1, n_jobs=1)
    result = train(table, LOAN_SCHEMA, config)
    return PipelineModel.from_result(result, LOAN_SCHEMA), split_data(table, LOAN_SCHEMA,
                                                                        config).test


# -- configuration ---------------------------------------------------------------------------

def test_the_telecom_preset_has_the_issue_floors():
    assert PRESETS["telecom_churn"].floors == {
        "accuracy": 0.70, "precision": 0.55, "recall": 0.50, "f1": 0.55, "roc_auc": 0.75}
    assert {"telecom_churn", "retail_churn", "fraud_detection"} <= set(PRESETS)
    assert "accuracy" not in PRESETS["fraud_detection"].floors
    with pytest.raises(ValueError, match="known presets"):
        gates.get_preset("bank")


def test_overrides_change_single_thresholds_and_reject_typos():
    config = PRESETS["telecom_churn"].override(f1=0.6, accuracy=None,
                                               max_false_negative_rate=0.3)
    assert config.floors["f1"] == 0.6 and "accuracy" not in config.floors
    assert config.max_false_negative_rate == 0.3
    assert PRESETS["telecom_churn"].floors["f1"] == 0.55  # the preset itself is untouched
    with pytest.raises(ValueError, match="max_fnr"):
        config.override(max_fnr=0.3)
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        GateConfig(floors={"auc": 0.7})


def test_config_files_extend_a_preset(tmp_path):
    path = tmp_path / "strict.yaml"
    path.write_text("preset: telecom_churn\nfloors: {recall: 0.7, accuracy: null}\n"
                    "non_inferiority: {pr_auc: 0.01}\nn_bootstrap: 300\n")
    config = GateConfig.from_file(path)
    assert config.name == "strict" and config.n_bootstrap == 300
    assert config.floors == {"precision": 0.55, "recall": 0.7, "f1": 0.55, "roc_auc": 0.75}
    assert config.non_inferiority == {"roc_auc": 0.02, "f1": 0.03, "pr_auc": 0.01}
    (tmp_path / "same.json").write_text(json.dumps(config.to_dict()))
    assert GateConfig.from_file(tmp_path / "same.json") == config  # its own name wins
    for bad, message in (("floors: {recal: 0.5}", "unknown metric"),
                         ("max_fnr: 0.2", "unknown gate setting"), ("floors: [", "not valid YAML")):
        (tmp_path / "bad.yaml").write_text(bad)
        with pytest.raises(ValueError, match=message):
            GateConfig.from_file(tmp_path / "bad.yaml")


def test_derived_floors_follow_the_class_balance():
    telco_like = derive_floors(np.r_[np.zeros(735), np.ones(265)])
    fraud_like = derive_floors(np.r_[np.zeros(998), np.ones(2)])
    assert telco_like.floors["pr_auc"] == pytest.approx(0.265 + 0.25 * 0.735)
    assert telco_like.floors["f1"] == pytest.approx(0.419 + 0.25 * 0.581, abs=1e-3)
    assert "accuracy" not in telco_like.floors
    assert fraud_like.floors["pr_auc"] < 0.26 and fraud_like.min_minority_share == 0.001
    assert derive_floors([0, 1, 1, 1], skill=0.5).floors["roc_auc"] == 0.75


def test_an_all_majority_model_meets_a_generic_accuracy_floor_but_not_derived_floors():
    y = np.r_[np.zeros(735, int), np.ones(265, int)]
    output = MajorityClassModel(0.265).predict(pd.DataFrame(index=range(1000)))
    generic = check_floors(y, output, {"accuracy": 0.70})
    derived = check_floors(y, output, derive_floors(y).floors)
    assert generic[0].passed and generic[0].value == pytest.approx(0.735)
    assert not any(c.passed for c in derived)


# -- the report ------------------------------------------------------------------------------

def test_report_round_trips_through_json_and_renders_failures(loans):
    model, holdout = loans
    report = run_gates(InvertedModel(model), holdout, LOAN_SCHEMA, FAST, champion=model,
                       model_label="upside down", model_version="7")
    again = GateReport.from_json(report.to_json())
    assert again.to_dict() == json.loads(report.to_json())
    assert again.verdict == "failed" == json.loads(report.to_json())["verdict"]
    html = report._repr_html_()
    assert html.count("background:#fde2e2") == len(report.failed) > 0
    assert "FAILED" in html and "upside down" in html and "FAILED" in str(report)
    assert report["champion.roc_auc"].details["ci_high"] < -0.02
    frame = report.to_frame()
    assert list(frame.columns) == ["group", "check", "value", "threshold", "passed",
                                   "explanation"] and len(frame) == len(report.checks)
    with pytest.raises(KeyError):
        report["nope"]
    assert not GateReport([], {}).passed  # no checks, no pass


def test_a_good_model_passes_and_a_first_model_says_why_it_was_not_compared(loans):
    model, holdout = loans
    # Its threshold is tuned for F1 of class 1, which leaves class 0 (the minority) at 0.48.
    report = run_gates(model, holdout, LOAN_SCHEMA, FAST.override(min_minority_f1=0.4))
    assert report.passed, str(report)
    assert "first model" in report["champion.roc_auc"].explanation
    # Positives are the majority in this table: the minority checks look at class 0.
    assert report["minority_f1"].details["minority_class"] == 0
    assert report["robustness.int_as_float"].value == "not applicable"


# -- output, floors, calibration -------------------------------------------------------------

class Returns:
    def __init__(self, frame=None, error=None):
        self.frame, self.error = frame, error

    def predict(self, model_input):
        if self.error:
            raise self.error
        return self.frame


@pytest.mark.parametrize(("frame", "message"), [
    (pd.DataFrame({"prediction": [0, 1]}), "no column"),
    (pd.DataFrame({"prediction": [0, 1, 1], "prediction_proba": [.1, .9, .8]}), "3 rows"),
    (pd.DataFrame({"prediction": [0, 1], "prediction_proba": [.1, np.nan]}), "not finite"),
    (pd.DataFrame({"prediction": [0, 2], "prediction_proba": [.1, .9]}), "not 0/1"),
    (pd.DataFrame({"prediction": [1, 0], "prediction_proba": [.1, .9]}), "disagrees"),
    ([0, 1], "not a DataFrame"),
])
def test_broken_outputs_fail_the_output_contract(frame, message):
    output, check = score(Returns(frame), pd.DataFrame({"x": [1, 2]}))
    assert output is None and not check.passed and message in check.explanation


def test_a_model_that_cannot_score_fails_every_check_it_touches_without_raising(loans):
    _, holdout = loans
    report = run_gates(Returns(error=RuntimeError("model file corrupt")), holdout, LOAN_SCHEMA,
                       FAST)
    assert not report.passed and "corrupt" in report["output_contract"].explanation
    assert all(not report[f"robustness.{n}"].passed for n in ("nan_values", "extra_column"))


def test_floors_use_the_models_own_labels_not_a_half_threshold():
    y = np.array([0, 0, 1, 1])
    output = pd.DataFrame({"prediction": [0, 1, 1, 1], "prediction_proba": [.1, .3, .35, .4]})
    recall = check_floors(y, output, {"recall": 1.0})[0]
    assert recall.passed and recall.value == 1.0  # at 0.5 the recall would be 0


def test_calibration_summary_and_failures():
    rng = np.random.default_rng(0)
    proba = rng.random(4000)
    y = (rng.random(4000) < proba).astype(int)  # calibrated by construction
    assert expected_calibration_error(y, proba) < 0.03
    table = reliability_table(y, proba)
    assert len(table) == 10 and table["rows"].sum() == 4000
    frame = pd.DataFrame({"prediction": (proba > .5).astype(int), "prediction_proba": proba})
    good = check_calibration(y, frame, min_brier_skill=0.1, max_ece=0.05)
    flipped = frame.assign(prediction_proba=1 - proba, prediction=(proba <= .5).astype(int))
    bad = check_calibration(y, flipped, min_brier_skill=0.1, max_ece=0.05)
    assert [c.passed for c in good] == [True, True] and [c.passed for c in bad] == [False, False]
    assert good[1].details["reliability"]["rows"][0] > 0


def test_degenerate_models_fail_named_checks(loans):
    model, holdout = loans
    rate = float(LOAN_SCHEMA.target_as_int(holdout).mean())
    expectations = {
        "majority": (MajorityClassModel(rate), "predicts_both_classes"),
        "random": (RandomModel(rate), "calibration.brier_skill"),
        "inverted": (InvertedModel(model), "champion.roc_auc"),
    }
    for name, (degenerate, check) in expectations.items():
        report = run_gates(degenerate, holdout, LOAN_SCHEMA, FAST, champion=model)
        assert not report[check].passed, (name, str(report))


# -- robustness ------------------------------------------------------------------------------

class OnNaN:
    """Wraps a model; rows with any NaN get ``fill`` (or every row does, with ``whole=True``)."""

    def __init__(self, model, fill, whole=True):
        self.model, self.fill, self.whole = model, fill, whole

    def predict(self, model_input):
        out = self.model.predict(model_input.fillna({"debt_ratio": 0.5, "purpose": "other"}))
        hit = model_input.isna().any(axis=1).to_numpy()
        if hit.any():
            rows = slice(None) if self.whole else hit
            out.loc[out.index[rows], "prediction_proba"] = self.fill
        return out


def robustness(model, holdout, **kwargs):
    checks = check_robustness(model, holdout[LOAN_SCHEMA.feature_names], LOAN_SCHEMA,
                              rows=200, contract_errors=("DataContractError",), **kwargs)
    return {c.name.removeprefix("robustness."): c for c in checks}


def test_the_contract_checked_model_rejects_bad_input_clearly(loans):
    model, holdout = loans
    results = robustness(model, holdout)
    assert all(c.passed for c in results.values()), results
    assert results["nan_values"].value == "contract error"
    assert results["extra_column"].value == "valid predictions"


@pytest.mark.parametrize(("fill", "whole", "outcome"), [
    (0.5, True, "constant predictions"),  # a silent constant for the whole batch
    (np.nan, False, "invalid output"),  # NaN scores for the rows with NaN
])
def test_silent_answers_to_nan_input_are_caught(loans, fill, whole, outcome):
    model, holdout = loans
    raw = PipelineModel(model.pipeline, model.threshold)  # no contract: accepts NaN
    results = robustness(OnNaN(raw, fill, whole), holdout)
    assert not results["nan_values"].passed and results["nan_values"].value == outcome


def test_nan_is_not_filled_before_the_model_sees_it(loans):
    model, holdout = loans
    seen = []

    class Spy:
        def predict(self, model_input):
            seen.append(int(model_input.isna().sum().sum()))
            return model.predict(model_input.fillna({"debt_ratio": 0.5, "purpose": "other"}))

    robustness(Spy(), holdout, nan_share=0.1)
    assert max(seen) >= 0.1 * 200 * len(LOAN_SCHEMA.feature_names) * 0.7


def test_a_model_that_answers_differently_for_the_same_values_fails(loans):
    model, holdout = loans
    raw = PipelineModel(model.pipeline, model.threshold)

    class DropsText:  # numbers sent as text are silently treated as missing
        def predict(self, model_input):
            fixed = model_input.copy()
            for column in ("income", "debt_ratio"):
                if fixed[column].dtype == object:
                    fixed[column] = np.nan
            return raw.predict(fixed)

    results = robustness(DropsText(), holdout)
    assert results["numbers_as_strings"].value == "changed predictions"
    assert "silent wrong answer" in results["numbers_as_strings"].explanation
    # An unrelated crash deep inside the model is not a clear contract error either.
    crashing = robustness(Returns(error=TypeError("unsupported operand")), holdout)
    assert crashing["missing_column"].value == "crashed (TypeError)"


# -- latency ---------------------------------------------------------------------------------

class Slow:
    def __init__(self, model, seconds):
        self.model, self.seconds = model, seconds

    def predict(self, model_input):
        time.sleep(self.seconds)
        return self.model.predict(model_input)


def test_latency_is_measured_after_warm_up_against_the_sla(loans):
    model, holdout = loans
    features = holdout[LOAN_SCHEMA.feature_names].dropna()
    slow = check_latency(Slow(model, 0.02), features, max_single_row_p99_ms=5,
                         max_batch_p99_ms=10_000, batch_rows=100, calls=5, batch_calls=2)
    single, batch = slow
    assert not single.passed and single.value >= 20 and batch.passed
    assert single.details["p50_ms"] <= single.details["p95_ms"] <= single.details["p99_ms"]
    # A single row with a missing debt ratio is a valid request (the column is nullable) ...
    nulls = holdout[LOAN_SCHEMA.feature_names]
    nulls = nulls[nulls["debt_ratio"].isna()]
    assert len(nulls) and check_latency(model, nulls, calls=len(nulls), warmup=0,
                                        max_single_row_p99_ms=1000, max_batch_p99_ms=None)[0].passed
    # ... one with a purpose outside the contract is not, and the check reports the error.
    broken = holdout[LOAN_SCHEMA.feature_names].assign(purpose="boat")
    failing = check_latency(model, broken, calls=5, max_single_row_p99_ms=1000,
                            max_batch_p99_ms=None, warmup=0)
    assert failing[0].value == "error" and "DataContractError" in failing[0].explanation
