"""The data contract: the real Telco file, bad inputs, dtype restoration, the loader, other schemas."""

from __future__ import annotations

import io
import json
import os
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from closedloop.contract.schema import Column, Schema
from closedloop.contract.telco import (
    DATA_HOME_ENV,
    DATA_HUB,
    TELCO_SCHEMA,
    DataUnavailableError,
    fetch,
    load_telco,
)
from closedloop.contract.validation import DataContractError, restore_dtypes, validate

REMOTE = DATA_HUB["telco"]


def problems_of(df: pd.DataFrame, schema: Schema = TELCO_SCHEMA, **kwargs) -> DataContractError:
    """The single error ``validate`` raises for ``df`` (fails the test if it passes)."""
    with pytest.raises(DataContractError) as info:
        validate(df, schema, **kwargs)
    return info.value


@pytest.fixture(scope="session")
def real_csv() -> Path:
    """The verified real file, located once (before any test unsets the data-home variable)."""
    return fetch("telco")


@pytest.fixture()
def sample(telco) -> pd.DataFrame:
    return telco.head(200).copy()


# --------------------------------------------------------------------------------------------
# The real file
# --------------------------------------------------------------------------------------------


def test_telco_shape_and_columns(telco):
    assert telco.shape == (7043, 21)
    assert list(telco.columns) == TELCO_SCHEMA.names


def test_telco_dtypes_follow_the_schema(telco):
    assert {name: str(dtype) for name, dtype in telco.dtypes.items()} == {
        c.name: c.dtype for c in TELCO_SCHEMA.columns}


def test_telco_target(telco):
    assert (telco["Churn"] == "Yes").sum() == 1869
    assert set(telco["Churn"]) == {"No", "Yes"}
    assert TELCO_SCHEMA.target_as_int(telco).sum() == 1869


def test_the_11_blank_total_charges_are_unbilled_customers(telco, real_csv):
    raw = pd.read_csv(real_csv, dtype=str, keep_default_na=False)
    blank = (raw["TotalCharges"].str.strip() == "").to_numpy()
    assert blank.sum() == 11
    assert (telco.loc[blank, "TotalCharges"] == 0.0).all()
    assert (telco.loc[blank, "tenure"] == 0).all()
    assert telco["TotalCharges"].notna().all()


def test_customer_ids_are_unique(telco):
    assert telco["customerID"].is_unique


def test_telco_passes_validation(telco):
    assert validate(telco, TELCO_SCHEMA) is telco


def test_a_blank_total_for_a_billed_customer_is_an_error(tmp_path, monkeypatch, real_csv):
    """The loader must not hide a genuinely missing value as 0.0."""
    import closedloop.contract.telco as data

    raw = pd.read_csv(real_csv, dtype=str, keep_default_na=False)
    raw.loc[raw.index[0], "TotalCharges"] = " "  # tenure of the first customer is 1
    doctored = tmp_path / "doctored.csv"
    raw.to_csv(doctored, index=False)
    monkeypatch.setattr(data, "fetch", lambda *args, **kwargs: doctored)
    with pytest.raises(DataContractError) as info:
        load_telco()
    assert info.value.columns == ["TotalCharges"]


# --------------------------------------------------------------------------------------------
# Bad inputs: one error, naming every offending column
# --------------------------------------------------------------------------------------------


def test_missing_column(sample):
    assert problems_of(sample.drop(columns=["Contract"])).columns == ["Contract"]


def test_extra_column(sample):
    assert problems_of(sample.assign(favourite_colour="blue")).columns == ["favourite_colour"]


def test_extra_column_allowed_explicitly(sample):
    extra = sample.assign(request_id=1)
    assert validate(extra, TELCO_SCHEMA, allow_extra=["request_id"]) is extra  # no error raised


def test_missing_target_allowed_for_scoring_only(sample):
    scoring = sample.drop(columns=["Churn"])
    assert problems_of(scoring).columns == ["Churn"]
    validate(scoring, TELCO_SCHEMA, require_target=False)


@pytest.mark.parametrize("column, values", [
    ("MonthlyCharges", lambda s: s["MonthlyCharges"].astype(str)),
    ("tenure", lambda s: s["tenure"].astype(float)),
    ("SeniorCitizen", lambda s: s["SeniorCitizen"].astype(bool)),
    ("gender", lambda s: s["gender"].map({"Female": 0, "Male": 1})),
    ("customerID", lambda s: np.arange(len(s)) + 0.5),
], ids=["text-as-float", "int-as-float", "bool-as-int", "number-as-category", "float-as-id"])
def test_wrong_dtype(sample, column, values):
    err = problems_of(sample.assign(**{column: values(sample)}))
    assert err.columns == [column]
    assert "dtype" in str(err)


def test_unknown_category(sample):
    bad = sample.assign(InternetService=sample["InternetService"].replace("Fiber optic", "Fibre"))
    err = problems_of(bad)
    assert err.columns == ["InternetService"]
    assert "Fibre" in str(err)


@pytest.mark.parametrize("column, value", [
    ("tenure", -1), ("tenure", 10_000), ("MonthlyCharges", -5.0), ("SeniorCitizen", 2)])
def test_out_of_range(sample, column, value):
    bad = sample.copy()
    bad.loc[bad.index[3], column] = value
    err = problems_of(bad)
    assert err.columns == [column]
    assert str(value) in str(err)


@pytest.mark.parametrize("column", ["PaymentMethod", "OnlineSecurity", "TotalCharges"])
def test_all_null_column_even_if_nullable(sample, column):
    err = problems_of(sample.assign(**{column: None}))
    assert err.columns == [column]
    assert "null" in str(err)


@pytest.mark.parametrize("column", ["gender", "tenure", "Churn"])
def test_nulls_in_a_non_nullable_column(sample, column):
    bad = sample.copy()
    bad[column] = bad[column].astype(object)
    bad.loc[bad.index[:4], column] = None
    err = problems_of(bad)
    assert err.columns == [column]
    assert "4 null" in str(err)


def test_nulls_in_nullable_columns_pass(sample):
    ok = sample.copy()
    ok.loc[ok.index[:4], "OnlineSecurity"] = None
    ok.loc[ok.index[4:8], "StreamingTV"] = np.nan
    ok.loc[ok.index[:4], "TotalCharges"] = np.nan
    assert validate(ok, TELCO_SCHEMA) is ok  # no error raised


def test_empty_frame(sample):
    err = problems_of(sample.iloc[:0])
    assert err.columns == ["<frame>"]
    assert "empty" in str(err)


def test_several_problems_reported_at_once(sample):
    bad = sample.drop(columns=["gender"]).assign(
        tenure=sample["tenure"].astype(float), Contract="Monthly", PaymentMethod=None,
        source_system="crm")
    bad.loc[bad.index[0], "MonthlyCharges"] = 5_000.0
    err = problems_of(bad)
    assert err.columns == sorted(
        ["gender", "tenure", "Contract", "PaymentMethod", "source_system", "MonthlyCharges"])
    assert len(err.problems) == 6
    assert str(err).count("\n  - ") == 6


def test_error_is_a_value_error(sample):
    assert isinstance(problems_of(sample.iloc[:0]), ValueError)


# --------------------------------------------------------------------------------------------
# Dtype restoration
# --------------------------------------------------------------------------------------------


def test_restore_dtypes_undoes_int_to_float_drift(sample):
    stacked = pd.concat([sample, pd.DataFrame({"customerID": ["new"]})], ignore_index=True)
    drifted = stacked.dropna(subset=["tenure"])
    assert drifted["tenure"].dtype == "float64"
    assert "tenure" in problems_of(drifted).columns
    restored = restore_dtypes(drifted, TELCO_SCHEMA)
    validate(restored, TELCO_SCHEMA)
    pd.testing.assert_frame_equal(restored, sample)


def test_restore_dtypes_leaves_its_input_alone(sample):
    drifted = sample.assign(tenure=sample["tenure"].astype(float))
    restore_dtypes(drifted, TELCO_SCHEMA)
    assert drifted["tenure"].dtype == "float64"


def test_restore_dtypes_refuses_to_truncate(sample):
    bad = sample.assign(tenure=sample["tenure"].astype(float))
    bad.loc[bad.index[2], "tenure"] = 12.5
    with pytest.raises(DataContractError) as info:
        restore_dtypes(bad, TELCO_SCHEMA)
    assert info.value.columns == ["tenure"]
    assert "12.5" in str(info.value)


def test_restore_dtypes_refuses_a_null_integer(sample):
    bad = sample.assign(tenure=sample["tenure"].astype(float))
    bad.loc[bad.index[2], "tenure"] = np.nan
    with pytest.raises(DataContractError):
        restore_dtypes(bad, TELCO_SCHEMA)


def test_restore_dtypes_skips_absent_columns(sample):
    partial = sample[["customerID", "tenure"]].astype({"tenure": float})
    assert restore_dtypes(partial, TELCO_SCHEMA)["tenure"].dtype == "int64"


# --------------------------------------------------------------------------------------------
# The loader: one door, sha256-verified, local folder first, then cache, then download
# --------------------------------------------------------------------------------------------


@pytest.fixture()
def offline(monkeypatch):
    """No network: any download attempt raises, as it would on an air-gapped machine."""
    def refuse(*args, **kwargs):
        raise OSError("network is unreachable (test)")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def test_sha256_mismatch_is_an_error(tmp_path, offline):
    home = tmp_path / "home"
    home.mkdir()
    (home / REMOTE.filename).write_text("customerID,Churn\nx,Yes\n")
    with pytest.raises(DataUnavailableError, match="sha256"):
        load_telco(data_home=home, cache_dir=tmp_path / "cache")


def test_no_copy_and_offline_says_what_to_do(tmp_path, offline, monkeypatch):
    monkeypatch.delenv(DATA_HOME_ENV, raising=False)
    with pytest.raises(DataUnavailableError) as info:
        load_telco(cache_dir=tmp_path / "cache")
    message = str(info.value)
    assert DATA_HOME_ENV in message and REMOTE.url in message
    assert not any((tmp_path / "cache").glob("*")), "a failed download must leave nothing behind"


def test_no_copy_in_the_named_folder_and_offline(tmp_path, offline):
    with pytest.raises(DataUnavailableError) as info:
        load_telco(data_home=tmp_path / "empty", cache_dir=tmp_path / "cache")
    assert DATA_HOME_ENV in str(info.value) and str(tmp_path / "empty") in str(info.value)


def test_a_copy_in_the_cache_is_used(tmp_path, offline, monkeypatch, real_csv):
    monkeypatch.delenv(DATA_HOME_ENV, raising=False)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / REMOTE.filename).symlink_to(real_csv)  # a link: never copy the data
    assert fetch("telco", cache_dir=cache) == cache / REMOTE.filename
    assert load_telco(cache_dir=cache).shape == (7043, 21)


def test_the_data_home_wins_over_the_cache(tmp_path, offline, real_csv):
    real = real_csv
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / REMOTE.filename).write_text("stale")
    assert fetch("telco", data_home=real.parent, cache_dir=cache) == real


def test_download_is_verified_and_cached(tmp_path, monkeypatch, real_csv):
    monkeypatch.delenv(DATA_HOME_ENV, raising=False)
    payload = real_csv.read_bytes()
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: io.BytesIO(payload))
    cached = fetch("telco", cache_dir=tmp_path / "cache")
    assert cached == tmp_path / "cache" / REMOTE.filename
    assert cached.read_bytes() == payload


def test_corrupt_download_is_rejected(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_HOME_ENV, raising=False)
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: io.BytesIO(b"<html>"))
    with pytest.raises(DataUnavailableError, match="sha256"):
        fetch("telco", cache_dir=tmp_path / "cache")
    assert not any((tmp_path / "cache").iterdir()), "a corrupt download must leave nothing behind"


def test_env_var_names_the_data_home(tmp_path, offline, monkeypatch, real_csv):
    monkeypatch.setenv(DATA_HOME_ENV, os.fspath(real_csv.parent))
    assert load_telco(cache_dir=tmp_path / "empty-cache").shape == (7043, 21)


# --------------------------------------------------------------------------------------------
# Another table, another contract
# --------------------------------------------------------------------------------------------

LOANS = Schema(
    name="loans",
    target="defaulted",
    positive=1,
    entity_id="loan_id",
    timestamp="applied_at",
    columns=(
        Column("loan_id", "id"),
        Column("applied_at", "timestamp"),
        Column("purpose", "category", ("car", "home", "education")),
        Column("term_months", "integer", low=6, high=360),
        Column("amount", "float", low=500, high=1_000_000),
        Column("income", "float", low=0, nullable=True),
        Column("defaulted", "integer", low=0, high=1),
    ),
)


@pytest.fixture()
def loans() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 60
    return pd.DataFrame({
        "loan_id": [f"L{i}" for i in range(n)],
        "applied_at": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n), "D"),
        "purpose": rng.choice(["car", "home", "education"], n),
        "term_months": rng.choice([12, 36, 60], n),
        "amount": rng.uniform(1_000, 50_000, n),
        "income": np.where(np.arange(n) % 10 == 0, np.nan, 50_000.0),
        "defaulted": rng.integers(0, 2, n),
    })


def test_another_schema_describes_its_own_roles():
    assert LOANS.feature_names == ["purpose", "term_months", "amount", "income"]
    assert LOANS.categorical == ["purpose"]
    assert LOANS.numeric == ["term_months", "amount", "income"]


def test_another_schema_validates_its_own_table(loans):
    assert validate(loans, LOANS) is loans
    assert LOANS.target_as_int(loans).equals(loans["defaulted"].rename("label"))


def test_another_schema_reports_its_own_problems(loans):
    bad = loans.drop(columns=["income"]).assign(
        purpose="crypto", term_months=0, applied_at=loans["applied_at"].astype(str))
    err = problems_of(bad, LOANS)
    assert err.columns == ["applied_at", "income", "purpose", "term_months"]
    assert "'loans'" in str(err)


def test_the_telco_frame_fails_the_loans_contract(telco):
    err = problems_of(telco.head(), LOANS)
    assert set(LOANS.names) - {"loan_id"} <= set(err.columns) | {"loan_id"}
    assert "customerID" in err.columns


def test_a_schema_must_declare_its_target():
    with pytest.raises(ValueError, match="no column"):
        Schema(name="x", columns=(Column("id", "id"),), target="y", positive=1, entity_id="id")


@pytest.mark.parametrize("schema", [TELCO_SCHEMA, LOANS], ids=["telco", "loans"])
def test_schema_round_trips_through_json(schema):
    spec = json.loads(json.dumps(schema.to_dict()))
    assert Schema.from_dict(spec) == schema
    assert Schema.from_dict(spec).to_dict() == schema.to_dict()


def test_a_single_request_with_a_null_in_a_nullable_column_is_valid(telco):
    one = telco.head(1).assign(OnlineSecurity=None, MonthlyCharges=float("nan"))
    validate(one, TELCO_SCHEMA)
    with pytest.raises(DataContractError, match="gender"):
        validate(one.assign(gender=None), TELCO_SCHEMA)
    with pytest.raises(DataContractError, match="all 2 values are null"):
        validate(telco.head(2).assign(OnlineSecurity=None), TELCO_SCHEMA)
