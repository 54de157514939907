"""The production-stream simulator: determinism, calibration, and that each scenario shifts what it
claims (and nothing else)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from closedloop.contract.telco import TELCO_SCHEMA, load_telco
from closedloop.contract.validation import DataContractError, validate
from closedloop.simulate.labels import LabelDelay, TrueChurnModel
from closedloop.simulate.scenarios import SCENARIOS, Scenario, get_scenario, list_scenarios
from closedloop.simulate.stream import STREAM_COLUMNS, StreamSimulator, simulate_stream

ROWS = 5_000
FEATURES = TELCO_SCHEMA.feature_names


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return load_telco()


@pytest.fixture(scope="module")
def sim(reference: pd.DataFrame) -> StreamSimulator:
    return StreamSimulator(reference, seed=0)


@pytest.fixture(scope="module")
def calm(sim: StreamSimulator) -> pd.DataFrame:
    """50,000 rows of the ``none`` stream."""
    return sim.stream(days=5, rows_per_day=10_000)


def _churn_rate(df: pd.DataFrame) -> float:
    return float((df["Churn"] == "Yes").mean())


def _after(scenario: Scenario) -> int:
    """The first day at full strength."""
    return scenario.start_day + max(scenario.ramp_days - 1, 0)


# --- determinism


def test_same_seed_same_stream_and_different_seed_differs(reference, sim):
    again = StreamSimulator(reference, seed=0)
    kwargs = dict(days=3, rows_per_day=20_000, scenario="concept_drift",
                  label_delay=LabelDelay("geometric", days=10), first_day=29)
    first = sim.stream(**kwargs)
    pd.testing.assert_frame_equal(first, again.stream(**kwargs))
    other = StreamSimulator(reference, seed=1).stream(**kwargs)
    assert not first["customerID"].equals(other["customerID"])
    assert not np.allclose(first["MonthlyCharges"], other["MonthlyCharges"])


def test_a_day_is_the_same_alone_or_inside_a_stream(sim):
    whole = sim.stream(days=8, rows_per_day=500, scenario="tenure_shift", first_day=28)
    alone = sim.batch(33, 500, scenario="tenure_shift")
    pd.testing.assert_frame_equal(alone, whole.iloc[2_500:3_000].reset_index(drop=True))
    days = list(sim.iter_days(2, 500, first_day=33))
    pd.testing.assert_frame_equal(days[0], sim.batch(33, 500))


# --- none: contract + calibration


def test_none_honours_the_contract_with_stream_columns(calm):
    validate(calm, TELCO_SCHEMA, allow_extra=STREAM_COLUMNS)
    assert list(calm.columns) == TELCO_SCHEMA.names + list(STREAM_COLUMNS)
    assert calm["event_time"].dtype == "datetime64[ns]"
    assert calm["label_available_at"].dtype == "datetime64[ns]"
    assert calm["event_time"].is_monotonic_increasing
    days = (calm["event_time"] - pd.Timestamp("2026-01-01")).dt.days
    assert days.value_counts().sort_index().tolist() == [10_000] * 5


def test_none_is_calibrated_on_telco(reference, calm):
    assert abs(_churn_rate(calm) - _churn_rate(reference)) < 0.02
    for column in TELCO_SCHEMA.categorical:
        gap = calm[column].value_counts(normalize=True).sub(
            reference[column].value_counts(normalize=True), fill_value=0).abs().max()
        assert gap < 0.03, column
    for column in TELCO_SCHEMA.numeric:
        assert calm[column].mean() == pytest.approx(reference[column].mean(), rel=0.03), column


def test_categories_stay_consistent_and_ids_are_stable(sim, calm):
    no_internet = calm["InternetService"] == "No"
    assert (calm.loc[no_internet, "OnlineSecurity"] == "No internet service").all()
    assert (calm.loc[~no_internet, "OnlineSecurity"] != "No internet service").all()
    no_phone = calm["PhoneService"] == "No"
    assert (no_phone == (calm["MultipleLines"] == "No phone service")).all()
    assert (calm.loc[calm["tenure"] == 0, "TotalCharges"] == 0).all()
    # A customer seen on two days has the same features both times.
    assert calm.groupby("customerID")[FEATURES].nunique().max().max() == 1
    assert calm["customerID"].str.fullmatch(r"SIM-\d{7}").all()


def test_true_model_matches_the_stream_and_telco(reference, sim, calm):
    truth = sim.true_model
    np.testing.assert_allclose(truth.proba(calm), calm["true_churn_proba"], rtol=1e-9)
    assert truth.proba(reference).mean() == pytest.approx(_churn_rate(reference), abs=0.01)
    assert roc_auc_score(reference["Churn"] == "Yes", truth.logit(reference)) > 0.8
    again = TrueChurnModel.fit(reference)
    np.testing.assert_array_equal(truth.logit(reference), again.logit(reference))


def _auc(train: pd.DataFrame, test: pd.DataFrame) -> float:
    def xy(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
        x = df[FEATURES].copy()
        for column in TELCO_SCHEMA.categorical:
            x[column] = pd.Categorical(x[column], categories=TELCO_SCHEMA[column].categories)
        return x, df["Churn"] == "Yes"

    model = HistGradientBoostingClassifier(categorical_features="from_dtype", max_iter=100,
                                           learning_rate=0.05, random_state=0)
    model.fit(*xy(train))
    x, y = xy(test)
    return roc_auc_score(y, model.predict_proba(x)[:, 1])


def test_a_model_learns_the_stream_about_as_well_as_telco(reference, calm):
    real_train, real_test = train_test_split(reference, test_size=0.3, random_state=0,
                                             stratify=reference["Churn"])
    real, simulated = _auc(real_train, real_test), _auc(calm.iloc[:35_000], calm.iloc[35_000:])
    print(f"ROC AUC real {real:.3f} simulated {simulated:.3f}")  # shown with -s
    assert abs(real - simulated) < 0.05, (real, simulated)


# --- covariate drift


@pytest.mark.parametrize(("name", "column", "statistic", "low", "high"), [
    ("price_increase", "MonthlyCharges", lambda s: s.mean(), 1.19, 1.21),
    ("tenure_shift", "tenure", lambda s: (s <= 12).mean(), 1.8, 2.4),
    ("contract_shift", "Contract", lambda s: (s == "Month-to-month").mean(), 1.3, 1.5),
])
def test_covariate_drift_shifts_its_column_after_start_day_only(sim, name, column, statistic,
                                                               low, high):
    scenario = SCENARIOS[name]
    before = sim.batch(scenario.start_day - 1, ROWS, scenario)
    pd.testing.assert_frame_equal(before, sim.batch(scenario.start_day - 1, ROWS))
    day = _after(scenario)
    drifted, calm = sim.batch(day, ROWS, scenario), sim.batch(day, ROWS)
    assert low < statistic(drifted[column]) / statistic(calm[column]) < high
    # An unrelated column keeps its distribution.
    assert abs((drifted["gender"] == "Male").mean() - (calm["gender"] == "Male").mean()) < 0.03
    validate(drifted, TELCO_SCHEMA, allow_extra=STREAM_COLUMNS)


def test_price_increase_bills_the_new_price_in_total_charges(sim):
    scenario = SCENARIOS["price_increase"]
    calm = sim.batch(scenario.start_day + 65, ROWS)
    drifted = sim.batch(scenario.start_day + 65, ROWS, scenario)
    extra = (drifted["MonthlyCharges"] - calm["MonthlyCharges"]) * calm["tenure"].clip(upper=3)
    np.testing.assert_allclose(drifted["TotalCharges"], calm["TotalCharges"] + extra, atol=0.02)


def test_ramp_reaches_full_strength_gradually():
    scenario = get_scenario("contract_shift", start_day=10, ramp_days=4)
    weights = [scenario.weight(day) for day in range(9, 16)]
    assert weights == [0.0, 0.125, 0.25, 0.375, 0.5, 0.5, 0.5]


# --- concept drift


def test_concept_drift_changes_labels_in_its_segment_only(sim):
    scenario = SCENARIOS["concept_drift"]
    day = scenario.start_day + 1
    drifted, calm = sim.batch(day, 20_000, scenario), sim.batch(day, 20_000)
    pd.testing.assert_frame_equal(drifted[FEATURES], calm[FEATURES])  # P(x) unchanged
    fiber = calm["InternetService"] == "Fiber optic"
    assert _churn_rate(drifted[fiber]) > _churn_rate(calm[fiber]) + 0.1
    pd.testing.assert_series_equal(drifted.loc[~fiber, "Churn"], calm.loc[~fiber, "Churn"])
    before = sim.batch(scenario.start_day - 1, ROWS, scenario)
    pd.testing.assert_frame_equal(before, sim.batch(scenario.start_day - 1, ROWS))


# --- data quality


def test_null_spike_nulls_its_share_of_its_column_only(sim):
    scenario = SCENARIOS["null_spike"]
    drifted = sim.batch(scenario.start_day, ROWS, scenario)
    nulls = drifted.isna().mean()
    assert nulls[scenario.column] == pytest.approx(scenario.strength, abs=0.03)
    assert nulls.drop(scenario.column).eq(0).all()
    with pytest.raises(DataContractError) as err:
        validate(drifted, TELCO_SCHEMA, allow_extra=STREAM_COLUMNS)
    assert err.value.columns == [scenario.column]
    # The label reflects what happened to the customer, not the broken feed.
    calm = sim.batch(scenario.start_day, ROWS)
    pd.testing.assert_series_equal(drifted["Churn"], calm["Churn"])
    assert sim.batch(scenario.start_day - 1, ROWS, scenario).notna().all().all()


def test_null_spike_in_a_numeric_column(sim):
    scenario = get_scenario("null_spike", column="MonthlyCharges", strength=0.5, start_day=0)
    values = sim.batch(3, ROWS, scenario)["MonthlyCharges"]
    assert values.dtype == "float64" and values.isna().mean() == pytest.approx(0.5, abs=0.03)


def test_wrong_dtype_sends_strings_and_fails_the_contract_on_that_column(sim):
    scenario = SCENARIOS["wrong_dtype"]
    drifted = sim.batch(scenario.start_day, ROWS, scenario)
    assert drifted["tenure"].dtype == object
    assert drifted["tenure"].map(type).eq(str).all()
    with pytest.raises(DataContractError) as err:
        validate(drifted, TELCO_SCHEMA, allow_extra=STREAM_COLUMNS)
    assert err.value.columns == ["tenure"]
    calm = sim.batch(scenario.start_day, ROWS)
    assert drifted["tenure"].astype("int64").equals(calm["tenure"])
    assert sim.batch(scenario.start_day - 1, ROWS, scenario)["tenure"].dtype == "int64"


# --- label delay


def _delay_days(df: pd.DataFrame) -> pd.Series:
    delay = df["label_available_at"] - df["event_time"]
    assert (delay % pd.Timedelta(days=1) == pd.Timedelta(0)).all()
    return delay.dt.days


def test_fixed_label_delay_is_exact(sim):
    assert _delay_days(sim.batch(0, ROWS)).eq(30).all()  # the default
    assert _delay_days(sim.batch(0, ROWS, label_delay=LabelDelay("fixed", days=7))).eq(7).all()


def test_uniform_and_geometric_label_delays_follow_their_distribution(sim):
    uniform = _delay_days(sim.batch(0, 20_000, label_delay=LabelDelay("uniform", min_days=5,
                                                                      max_days=15)))
    assert uniform.min() == 5 and uniform.max() == 15
    assert uniform.value_counts(normalize=True).sub(1 / 11).abs().max() < 0.01
    geometric = _delay_days(sim.batch(0, 20_000, label_delay=LabelDelay(
        "geometric", days=10, min_days=2, max_days=1_000)))
    assert geometric.min() == 2 and geometric.mean() == pytest.approx(10, rel=0.03)
    capped = _delay_days(sim.batch(0, 20_000, label_delay=LabelDelay("geometric", days=10,
                                                                     max_days=20)))
    assert capped.max() == 20
    with pytest.raises(ValueError):
        LabelDelay("sometimes")
    with pytest.raises(ValueError):
        LabelDelay("uniform", min_days=10, max_days=5)


def test_label_delay_does_not_change_the_rows(sim):
    delayed = sim.batch(4, ROWS, label_delay=LabelDelay("uniform", max_days=60))
    calm = sim.batch(4, ROWS)
    pd.testing.assert_frame_equal(delayed.drop(columns="label_available_at"),
                                  calm.drop(columns="label_available_at"))


# --- registry and edges


def test_unknown_scenario_is_a_clear_error(sim):
    with pytest.raises(ValueError, match="unknown scenario 'price_hike'.*price_increase"):
        sim.batch(0, 10, scenario="price_hike")
    with pytest.raises(ValueError, match="is not a category"):
        sim.batch(0, 10, scenario=get_scenario("concept_drift", value="Cable"))
    with pytest.raises(ValueError, match="cannot apply"):
        sim.batch(0, 10, scenario=get_scenario("price_increase", column="Contract"))
    with pytest.raises(ValueError, match="covariate"):
        Scenario("bad", "concept", effect="scale", column="tenure")


def test_list_scenarios_describes_every_scenario():
    table = list_scenarios()
    assert set(table["name"]) >= {"none", "price_increase", "tenure_shift", "contract_shift",
                                  "concept_drift", "null_spike", "wrong_dtype"}
    assert set(table["kind"]) == {"none", "covariate", "concept", "data_quality"}
    row = table.set_index("name").loc["concept_drift"]
    assert row["columns"] == "Churn" and "Fiber" in row["description"]


def test_tiny_empty_and_oversized_batches(reference, sim):
    tiny = simulate_stream(reference, days=1, rows_per_day=10, seed=3, population=100)
    assert len(tiny) == 10 and tiny["customerID"].is_unique
    validate(tiny, TELCO_SCHEMA, allow_extra=STREAM_COLUMNS)
    assert sim.batch(0, 0).shape == (0, len(TELCO_SCHEMA.names) + len(STREAM_COLUMNS))
    small = StreamSimulator(reference, seed=0, population=50)
    crowded = small.batch(0, 500)
    assert len(crowded) == 500 and crowded["customerID"].nunique() == 50
    with pytest.raises(ValueError):
        sim.batch(-1, 10)
