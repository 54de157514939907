"""The feature set is fixed by the contract, not by the data."""

import numpy as np
import pandas as pd
import pytest

from closedloop.contract.features import FeatureBuilder, default_derived
from closedloop.contract.schema import Column, Schema
from closedloop.contract.telco import TELCO_SCHEMA


def test_feature_columns_do_not_depend_on_the_categories_present(telco):
    builder = FeatureBuilder(TELCO_SCHEMA).fit(telco)
    full = builder.transform(telco)
    only_dsl = builder.transform(telco[telco["InternetService"] == "DSL"].head(20))
    assert list(full.columns) == list(only_dsl.columns) == builder.feature_names()
    assert full["Contract"].cat.categories.tolist() == ["Month-to-month", "One year", "Two year"]
    assert only_dsl["InternetService"].cat.categories.tolist() == ["DSL", "Fiber optic", "No"]


def test_derived_features_are_computed_as_documented(telco):
    row = telco.head(1).copy()
    row[["OnlineSecurity", "OnlineBackup", "TechSupport"]] = "Yes"
    row[["DeviceProtection", "StreamingTV", "StreamingMovies"]] = "No"
    row[["tenure", "MonthlyCharges", "TotalCharges"]] = [10, 80.0, 700.0]
    out = FeatureBuilder(TELCO_SCHEMA).fit(telco).transform(row)
    assert out["num_optional_services"].iloc[0] == 3
    assert out["avg_price_increase"].iloc[0] == pytest.approx(80.0 - 70.0)
    new_customer = row.assign(tenure=0, TotalCharges=0.0)
    assert FeatureBuilder(TELCO_SCHEMA).fit(telco).transform(new_customer)[
        "avg_price_increase"].iloc[0] == 0.0


def test_a_schema_without_the_inputs_gets_no_telco_features():
    schema = Schema("other", (Column("id", "id"), Column("x", "float"), Column("y", "category",
                    ("a", "b"))), target="y", positive="b", entity_id="id")
    assert default_derived(schema) == ()
    frame = pd.DataFrame({"id": ["1", "2"], "x": [1.0, np.nan], "y": ["a", "b"]})
    assert FeatureBuilder(schema).fit(frame).transform(frame).columns.tolist() == ["x"]


def test_missing_feature_column_is_named(telco):
    with pytest.raises(KeyError, match="tenure"):
        FeatureBuilder(TELCO_SCHEMA).fit(telco.drop(columns=["tenure"]))
