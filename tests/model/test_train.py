"""Training: determinism, holdout discipline, minimum performance, other schemas."""

import pytest

from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.model import train as training
from closedloop.model.train import TrainConfig, choose_threshold, retrain_with_params, split_data
from tests.loans import LOAN_SCHEMA, make_loans


def test_split_is_a_disjoint_stratified_partition(telco):
    splits = split_data(telco, TELCO_SCHEMA, TrainConfig(seed=7))
    ids = [set(part["customerID"]) for part in (splits.train, splits.valid, splits.test)]
    assert sum(map(len, ids)) == len(telco) == len(set().union(*ids))
    rates = [TELCO_SCHEMA.target_as_int(p).mean() for p in (splits.train, splits.valid, splits.test)]
    assert max(rates) - min(rates) < 0.01


def test_same_seed_same_model_and_numbers(telco):
    config = TrainConfig(n_trials=3, seed=11)
    first = training.train(telco, TELCO_SCHEMA, config)
    second = training.train(telco, TELCO_SCHEMA, config)
    assert first.params == second.params
    assert first.metrics == second.metrics and first.threshold == second.threshold
    other = training.train(telco, TELCO_SCHEMA, TrainConfig(n_trials=3, seed=12))
    assert other.metrics != first.metrics


class _Recorder:
    """Wraps build_pipeline to record which customers every fit and predict call sees."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, set[str]]] = []

    def __call__(self, *args, **kwargs):
        pipeline = _ORIGINAL_BUILD(*args, **kwargs)
        recorder = self
        fit, predict_proba = pipeline.fit, pipeline.predict_proba

        def recording_fit(X, y=None):
            recorder.calls.append(("fit", set(X["customerID"])))
            return fit(X, y)

        def recording_predict(X):
            recorder.calls.append(("predict", set(X["customerID"])))
            return predict_proba(X)

        pipeline.fit, pipeline.predict_proba = recording_fit, recording_predict
        return pipeline


_ORIGINAL_BUILD = training.build_pipeline


def test_test_split_is_touched_only_by_the_final_evaluation(telco, monkeypatch):
    recorder = _Recorder()
    monkeypatch.setattr(training, "build_pipeline", recorder)
    config = TrainConfig(n_trials=3, seed=3)
    training.train(telco, TELCO_SCHEMA, config)
    test_ids = set(split_data(telco, TELCO_SCHEMA, config).test["customerID"])
    touching = [i for i, (_, ids) in enumerate(recorder.calls) if ids & test_ids]
    assert touching == [len(recorder.calls) - 1]
    assert recorder.calls[-1][0] == "predict" and recorder.calls[-1][1] == test_ids


def test_threshold_is_the_f1_optimum_on_validation(telco):
    config = TrainConfig(n_trials=0, seed=5)
    result = training.train(telco, TELCO_SCHEMA, config)
    valid = split_data(telco, TELCO_SCHEMA, config).valid
    proba = result.pipeline.predict_proba(valid)[:, 1]
    assert result.threshold == choose_threshold(TELCO_SCHEMA.target_as_int(valid), proba)
    assert result.valid_metrics["f1"] >= training.evaluate(
        TELCO_SCHEMA.target_as_int(valid), proba, 0.5)["f1"]


def test_telco_minimum_performance(telco):
    result = training.train(telco, TELCO_SCHEMA, TrainConfig(n_trials=0))
    assert result.metrics["roc_auc"] >= 0.83
    assert result.metrics["pr_auc"] > 0.5 > TELCO_SCHEMA.target_as_int(telco).mean()


def test_retrain_with_params_uses_exactly_those_params(telco):
    params = {"n_estimators": 120, "num_leaves": 7}
    result = retrain_with_params(telco, TELCO_SCHEMA, params)
    model = result.pipeline.named_steps["model"]
    assert model.n_estimators == 120 and model.num_leaves == 7
    with pytest.raises(ValueError, match="max_depthh"):
        retrain_with_params(telco, TELCO_SCHEMA, {"max_depthh": 3})


def test_a_differently_shaped_table_trains_with_its_own_schema():
    loans = make_loans(3000)
    result = training.train(loans, LOAN_SCHEMA, TrainConfig(n_trials=2, seed=1))
    assert result.pipeline.named_steps["features"].feature_names() == [
        "income", "debt_ratio", "purpose"]
    assert result.metrics["roc_auc"] > 0.7
