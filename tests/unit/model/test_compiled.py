"""The compiled scoring path gives the pipeline's probabilities exactly, and the same verdicts."""

import numpy as np
import pandas as pd
import pytest

from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.contract.validation import DataContractError, validate
from closedloop.model.compiled import CompiledPredictor, RecordContractError
from closedloop.model.train import build_pipeline
from tests.loans import LOAN_SCHEMA, make_loans

PARAMS = {"n_estimators": 60, "num_leaves": 15}


def _fit(df, schema):
    pipe = build_pipeline(schema, PARAMS)
    return pipe.fit(df, schema.target_as_int(df))


@pytest.fixture(scope="module")
def telco_model(telco):
    return CompiledPredictor(_fit(telco, TELCO_SCHEMA), 0.4, TELCO_SCHEMA)


@pytest.fixture(scope="module")
def loans():
    return make_loans(3000, seed=3)


@pytest.fixture(scope="module")
def loan_model(loans):
    return CompiledPredictor(_fit(loans, LOAN_SCHEMA), 0.5, LOAN_SCHEMA)


def _with_nulls(df, schema, every=7):
    out = df.copy()
    for i, column in enumerate(c for c in schema.features if c.nullable):
        out.loc[out.index[i::every], column.name] = None if column.kind == "category" else np.nan
    return out


def _assert_same(compiled, frame):
    expected = compiled.pipeline.predict_proba(frame)[:, 1]
    got = compiled.predict_proba(frame, check=False)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    np.testing.assert_allclose(compiled.predict_records(records, check=False), expected,
                               rtol=0, atol=1e-12)


def test_telco_whole_table_matches_the_pipeline(telco_model, telco):
    rows = telco.drop(columns=[TELCO_SCHEMA.target])
    _assert_same(telco_model, rows)
    assert np.array_equal(telco_model.predict(rows)["prediction_proba"],
                          telco_model.pipeline.predict_proba(rows)[:, 1])


def test_telco_nulls_and_unknown_categories_are_missing_values(telco_model, telco):
    rows = _with_nulls(telco.drop(columns=[TELCO_SCHEMA.target]), TELCO_SCHEMA)
    assert rows[["MonthlyCharges", "TotalCharges"]].isna().any().all()
    rows.loc[rows.index[::5], "Contract"] = "Weekly"       # unknown to the contract
    rows.loc[rows.index[1::11], "PaymentMethod"] = "Gold"
    rows.loc[rows.index[2::13], "tenure"] = 0             # no history: price increase 0
    _assert_same(telco_model, rows)


def test_loans_match_the_pipeline_with_nulls_and_unknowns(loan_model, loans):
    rows = loans.drop(columns=[LOAN_SCHEMA.target])
    assert rows["debt_ratio"].isna().any()
    _assert_same(loan_model, rows)
    rows = rows.copy()
    rows.loc[rows.index[::9], "purpose"] = "boat"
    _assert_same(loan_model, rows)


def test_the_booster_gets_the_pipelines_matrix(loan_model, loans):
    features = loan_model.pipeline.named_steps["features"].transform(loans)
    X = loan_model.matrix(loans)
    assert list(features.columns) == loan_model.feature_names
    codes = features["purpose"].cat.codes.to_numpy()
    np.testing.assert_array_equal(X[:, loan_model.feature_names.index("purpose")], codes)


def test_a_frame_is_checked_by_the_contract(telco_model, telco):
    bad = telco.drop(columns=[TELCO_SCHEMA.target]).head(3).assign(Contract="Weekly")
    with pytest.raises(DataContractError, match="Contract"):
        telco_model.predict_proba(bad)


@pytest.mark.parametrize("change, field", [
    ({"tenure": -1}, "tenure"), ({"tenure": 3.5}, "tenure"), ({"tenure": "3"}, "tenure"),
    ({"tenure": True}, "tenure"), ({"MonthlyCharges": 5000.0}, "MonthlyCharges"),
    ({"Contract": "Weekly"}, "Contract"), ({"Contract": 1}, "Contract"),
    ({"Contract": None}, "Contract"), ({"shoe_size": 44}, "shoe_size"),
])
def test_records_break_the_rules_validate_enforces(telco_model, telco, change, field):
    record = telco.drop(columns=[TELCO_SCHEMA.target]).iloc[0].to_dict()
    record.update(change)
    with pytest.raises(RecordContractError) as caught:
        telco_model.check_records([record])
    assert [(p.row, p.field) for p in caught.value.record_problems] == [(0, field)]
    frame = pd.DataFrame([record])
    with pytest.raises(DataContractError) as by_frame:
        validate(frame, TELCO_SCHEMA, require_target=False, require_id=False)
    assert by_frame.value.columns == [field]


def test_missing_fields_and_many_rows_are_all_reported(telco_model, telco):
    good = telco.drop(columns=[TELCO_SCHEMA.target]).iloc[0].to_dict()
    broken = {k: v for k, v in good.items() if k != "gender"}
    with pytest.raises(RecordContractError) as caught:
        telco_model.check_records([good, broken, {**good, "tenure": 999}])
    assert [(p.row, p.field) for p in caught.value.record_problems] == [
        (1, "gender"), (2, "tenure")]
    telco_model.check_records([good, {**good, "TotalCharges": None}])  # nullable: fine


def test_compiles_a_registered_pyfunc_wrapper(telco_model):
    class Wrapper:
        def unwrap_python_model(self):
            return telco_model
    compiled = CompiledPredictor.from_model(Wrapper(), model_name="m", model_version="7")
    assert (compiled.model_name, compiled.model_version) == ("m", "7")
    assert compiled.feature_names == telco_model.feature_names
