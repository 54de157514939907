"""Batch scoring through the compiled path: the same rows out as through the pipeline.

:class:`~closedloop.model.compiled.CompiledPredictor` is the default of both engines; every
output column (ids, predictions, probabilities bit for bit, tiers) must equal the scikit-learn
pipeline's (``method="pipeline"``), on Telco and on a differently shaped loans table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.model.baselines import PipelineModel
from closedloop.model.train import build_pipeline
from closedloop.scoring._columns import compile_fitted
from closedloop.scoring.batch import score
from tests.loans import LOAN_SCHEMA, make_loans

SCORED_AT = pd.Timestamp("2026-02-01 08:00")


def _model(frame: pd.DataFrame, schema, n_jobs: int = 1) -> PipelineModel:
    pipe = build_pipeline(schema, {"n_estimators": 60}, n_jobs=n_jobs)
    pipe.fit(frame, schema.target_as_int(frame))
    return PipelineModel(pipe, 0.4, schema)


@pytest.fixture(scope="module")
def cases(telco):
    """(schema, model, raw batch) for Telco and for loans (nulls in a nullable column)."""
    telco_batch = telco.drop(columns=["Churn"]).sample(800, random_state=5).assign(
        tenure=lambda d: d["tenure"].astype("float64"))   # as from a file: restored by scoring
    loans = make_loans(4000, seed=1)
    loan_batch = make_loans(900, seed=2).drop(columns=[LOAN_SCHEMA.target])
    loan_batch.loc[::7, "debt_ratio"] = np.nan
    return {"telco": (TELCO_SCHEMA, _model(telco, TELCO_SCHEMA), telco_batch),
            "loans": (LOAN_SCHEMA, _model(loans, LOAN_SCHEMA), loan_batch)}


@pytest.fixture(scope="module")
def spark():
    from closedloop.scoring.spark import spark_for_scoring

    return spark_for_scoring("local[2]")


def _score(case, method: str) -> pd.DataFrame:
    schema, model, batch = case
    return score(batch, model, schema=schema, model_version="3", scored_at=SCORED_AT,
                 method=method)


@pytest.mark.parametrize("table", ["telco", "loans"])
def test_pandas_compiled_equals_pipeline(cases, table):
    compiled, pipeline = _score(cases[table], "compiled"), _score(cases[table], "pipeline")
    pd.testing.assert_frame_equal(compiled, pipeline, check_exact=True)
    assert np.array_equal(compiled["prediction_proba"].to_numpy(),
                          pipeline["prediction_proba"].to_numpy())  # bit for bit, not close
    assert compiled["risk_tier"].nunique() > 1 and compiled["prediction"].nunique() == 2


@pytest.mark.parametrize("table", ["telco", "loans"])
def test_auto_takes_the_compiled_path_and_checks_once(cases, table, monkeypatch):
    schema, model, batch = cases[table]
    expected = _score(cases[table], "pipeline")
    from closedloop.model import compiled as compiled_module
    from closedloop.scoring import batch as batch_module

    calls = []
    real_validate = batch_module.validate
    monkeypatch.setattr(batch_module, "validate",
                        lambda *a, **k: calls.append(1) or real_validate(*a, **k))
    monkeypatch.setattr(compiled_module, "validate", lambda *a, **k: pytest.fail("checked twice"))
    monkeypatch.setattr(model.pipeline, "predict_proba",
                        lambda *a, **k: pytest.fail("the pipeline was used"), raising=False)
    pd.testing.assert_frame_equal(_score(cases[table], "auto"), expected, check_exact=True)
    assert len(calls) == 1   # the contract check of check_input(), not repeated


def test_a_model_that_does_not_compile_keeps_its_pipeline(cases):
    from sklearn.linear_model import LogisticRegression

    schema, _, batch = cases["loans"]
    X = pd.DataFrame({"income": [1.0, 2.0, 3.0, 4.0]})
    fitted = PipelineModel(LogisticRegression().fit(X, [0, 0, 1, 1]), 0.5)
    assert compile_fitted(fitted, "auto") is None
    with pytest.raises(ValueError, match="cannot be compiled"):
        compile_fitted(fitted, "compiled")
    with pytest.raises(ValueError, match="method must be one of"):
        score(batch, cases["loans"][1], schema=schema, model_version="1", method="fast")


@pytest.mark.slow  # Spark: a session and two jobs per table
@pytest.mark.parametrize("table", ["telco", "loans"])
def test_spark_compiled_equals_pipeline_and_pandas(cases, table, spark):
    from closedloop.scoring.spark import score_spark, spark_to_pandas

    schema, model, batch = cases[table]
    sdf = spark.createDataFrame(batch)
    out = {}
    for method in ("compiled", "pipeline"):
        scored = score_spark(sdf, model, schema=schema, model_version="3", scored_at=SCORED_AT,
                             method=method)
        out[method] = spark_to_pandas(scored, schema)
    pd.testing.assert_frame_equal(out["compiled"], out["pipeline"], check_exact=True)
    pandas = _score(cases[table], "compiled")
    ours = out["compiled"].set_index(schema.entity_id).loc[pandas[schema.entity_id]]
    pd.testing.assert_frame_equal(ours.reset_index(), pandas, check_exact=True)


@pytest.mark.slow  # Spark, and the trees compiled by tl2cgen once
def test_spark_native_equals_compiled(cases, spark, tmp_path, monkeypatch):
    pytest.importorskip("tl2cgen")
    from closedloop.scoring.spark import score_spark, spark_to_pandas

    monkeypatch.setenv("CLOSEDLOOP_NATIVE_CACHE", str(tmp_path))
    schema, model, batch = cases["telco"]
    sdf = spark.createDataFrame(batch)
    out = {method: spark_to_pandas(score_spark(
        sdf, model, schema=schema, model_version="3", scored_at=SCORED_AT, method=method),
        schema) for method in ("native", "compiled")}
    pd.testing.assert_frame_equal(out["native"], out["compiled"], check_exact=True)
    assert len(list(tmp_path.glob("*.so"))) == 1   # built once, on the driver
