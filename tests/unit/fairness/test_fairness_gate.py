"""The fairness gate check: no worse than the champion by more than delta, off by default."""

import json

import pandas as pd
import pytest

from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.gates.config import PRESETS, GateConfig
from closedloop.gates.run import GateReport, run_gates
from closedloop.model.baselines import PipelineModel
from closedloop.model.train import DEFAULT_PARAMS, build_pipeline, split_data

FAST = dict(n_bootstrap=100, latency_calls=3, max_single_row_p99_ms=None, max_batch_p99_ms=None,
            robustness_rows=100)


class SeniorsIgnored:
    """A challenger that never flags a senior citizen: its recall gap between groups widens."""

    def __init__(self, model):
        self.model = model

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = self.model.predict(frame)
        seniors = frame["SeniorCitizen"].to_numpy() == 1
        out.loc[seniors, "prediction_proba"] *= 0.01  # labels stay consistent with the scores
        out.loc[seniors, "prediction"] = 0
        return out


@pytest.fixture(scope="module")
def champion_and_holdout(telco):
    splits = split_data(telco, TELCO_SCHEMA)
    pipeline = build_pipeline(TELCO_SCHEMA, {**DEFAULT_PARAMS, "n_estimators": 80})
    pipeline.fit(splits.train, TELCO_SCHEMA.target_as_int(splits.train))
    return PipelineModel(pipeline, 0.35, TELCO_SCHEMA), splits.test


def test_off_by_default_and_on_in_the_fair_preset():
    assert GateConfig().fairness is None
    assert all(PRESETS[name].fairness is None
               for name in ("telecom_churn", "retail_churn", "fraud_detection"))
    fair = PRESETS["telecom_churn_fair"]
    assert fair.fairness == {"sensitive": ["SeniorCitizen"],
                             "metric": "equal_opportunity_difference", "delta": 0.05}
    assert fair.floors == PRESETS["telecom_churn"].floors
    assert "fairness.equal_opportunity_difference" not in PRESETS["telecom_churn"].summary()
    assert fair.summary()["fairness.equal_opportunity_difference"] == 0.05


def test_the_section_is_completed_validated_and_round_trips():
    config = GateConfig(fairness={"sensitive": "SeniorCitizen"})
    assert config.fairness == {"sensitive": ["SeniorCitizen"],
                               "metric": "equal_opportunity_difference", "delta": 0.05}
    assert GateConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    merged = GateConfig.from_dict({"preset": "telecom_churn_fair", "fairness": {"delta": 0.1}})
    assert merged.fairness["delta"] == 0.1 and merged.fairness["sensitive"] == ["SeniorCitizen"]
    with pytest.raises(ValueError, match="unknown fairness metric"):
        GateConfig(fairness={"sensitive": ["x"], "metric": "parity"})
    with pytest.raises(ValueError, match="sensitive column"):
        GateConfig(fairness={"metric": "tpr_difference"})
    with pytest.raises(ValueError, match="unknown setting"):
        GateConfig(fairness={"sensitive": ["x"], "limit": 1})


def test_a_challenger_that_widens_the_gap_fails_and_the_champion_itself_passes(
        champion_and_holdout):
    champion, holdout = champion_and_holdout
    config = PRESETS["telecom_churn_fair"].override(**FAST)
    same = run_gates(champion, holdout, TELCO_SCHEMA, config, champion=champion)
    check = same["fairness.SeniorCitizen.equal_opportunity_difference"]
    assert check.passed and check.details["difference"] == 0 and check.group == "fairness"
    worse = run_gates(SeniorsIgnored(champion), holdout, TELCO_SCHEMA, config, champion=champion)
    check = worse["fairness.SeniorCitizen.equal_opportunity_difference"]
    assert not check.passed and check.value > check.threshold
    assert check.details["difference_low"] > 0.05
    assert "worse than" in check.explanation
    assert GateReport.from_json(worse.to_json())[check.name] == check


def test_without_a_champion_the_check_reports_and_passes(champion_and_holdout):
    champion, holdout = champion_and_holdout
    config = GateConfig(fairness={"sensitive": ["SeniorCitizen", "Missing"]}, **FAST)
    report = run_gates(champion, holdout, TELCO_SCHEMA, config)
    first = report["fairness.SeniorCitizen.equal_opportunity_difference"]
    assert first.passed and "no champion yet" in first.explanation
    missing = report["fairness.Missing.equal_opportunity_difference"]
    assert not missing.passed and "no column 'Missing'" in missing.explanation
    plain = run_gates(champion, holdout, TELCO_SCHEMA, GateConfig(**FAST))
    assert not [c for c in plain.checks if c.group == "fairness"]
