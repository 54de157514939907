"""The simulator on tables other than Telco: contract, noise that keeps point masses, a label
model as good as a trained model, and scenarios declared as data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from closedloop.contract.schema import Column, Schema
from closedloop.contract.telco import TELCO_SCHEMA, load_telco
from closedloop.contract.validation import validate
from closedloop.model.train import TrainConfig, evaluate, train
from closedloop.simulate.labels import LabelModel, TrueChurnModel
from closedloop.simulate.scenarios import (
    SCENARIOS,
    Condition,
    Scenario,
    get_scenario,
    list_scenarios,
    load_scenario,
)
from closedloop.simulate.stream import STREAM_COLUMNS, StreamSimulator
from tests.loans import LOAN_SCHEMA, make_loans

#: Loans plus a zero-inflated balance and a bounded integer count.
WIDE_SCHEMA = Schema(
    name="loans_wide", target="defaulted", positive=1, entity_id="loan_id",
    columns=(*LOAN_SCHEMA.columns, Column("balance", "float", low=0, high=1e6),
             Column("late_payments", "integer", low=0, high=12)),
)


def _wide(rows: int = 4_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = make_loans(rows, seed)
    df["balance"] = np.where(rng.random(rows) < 0.36, 0.0,
                             np.round(rng.lognormal(7, 1, rows), 2))
    df["late_payments"] = np.minimum(rng.poisson(1.5, rows), 12).astype("int64")
    return df[WIDE_SCHEMA.names]


@pytest.fixture(scope="module")
def wide() -> pd.DataFrame:
    return _wide()


@pytest.fixture(scope="module")
def wide_sim(wide: pd.DataFrame) -> StreamSimulator:
    return StreamSimulator(wide, schema=WIDE_SCHEMA, seed=0, population=10_000)


def test_another_schema_streams_within_its_contract(wide, wide_sim):
    stream = wide_sim.stream(days=3, rows_per_day=2_000)
    validate(stream, WIDE_SCHEMA, allow_extra=STREAM_COLUMNS)
    assert list(stream.columns) == WIDE_SCHEMA.names + list(STREAM_COLUMNS)
    assert stream["defaulted"].dtype == "int64" and set(stream["defaulted"]) == {0, 1}
    assert stream["defaulted"].mean() == pytest.approx(wide["defaulted"].mean(), abs=0.03)
    assert stream["debt_ratio"].isna().mean() == pytest.approx(0.05, abs=0.015)


def test_noise_keeps_point_masses_ranges_and_integers(wide, wide_sim):
    stream = wide_sim.stream(days=2, rows_per_day=5_000)
    zeros = (stream["balance"] == 0).mean()
    assert zeros == pytest.approx((wide["balance"] == 0).mean(), abs=0.02)
    assert zeros > 0.3
    assert stream["balance"].min() >= 0 and stream["debt_ratio"].max() <= 5
    counts = stream["late_payments"]
    assert counts.dtype == "int64" and counts.between(0, 12).all()
    shares = counts.value_counts(normalize=True)
    reference = wide["late_payments"].value_counts(normalize=True)
    assert shares.sub(reference, fill_value=0).abs().max() < 0.02
    # Values that are not point masses are jittered, not copied.
    positive = stream.loc[stream["balance"] > 0, "balance"]
    assert not positive.isin(set(wide["balance"])).all()


def test_label_model_is_seeded_calibrated_and_not_only_linear(wide):
    first, again = LabelModel.fit(wide, WIDE_SCHEMA), TrueChurnModel.fit(wide, WIDE_SCHEMA)
    np.testing.assert_array_equal(first.logit(wide), again.logit(wide))
    assert first.proba(wide).mean() == pytest.approx(wide["defaulted"].mean(), abs=0.02)
    other = LabelModel.fit(wide, WIDE_SCHEMA, seed=1)
    assert not np.array_equal(first.logit(wide), other.logit(wide))
    assert first.feature_importance()["debt_ratio"] > first.feature_importance()["income"]


@pytest.mark.parametrize("table", ["telco", "loans"])
def test_a_stationary_stream_keeps_the_trained_models_f1(table):
    if table == "telco":
        reference, schema = load_telco(), TELCO_SCHEMA
    else:
        reference, schema = make_loans(8_000, 0), LOAN_SCHEMA
    result = train(reference, schema, TrainConfig(n_trials=0, seed=0))
    sim = StreamSimulator(reference, schema=schema, seed=0, population=20_000)
    stream = sim.stream(days=30, rows_per_day=1_000)
    proba = result.pipeline.predict_proba(stream.drop(columns=list(STREAM_COLUMNS)))[:, 1]
    f1 = evaluate(schema.target_as_int(stream), proba, result.threshold)["f1"]
    print(f"{table}: F1 test {result.metrics['f1']:.4f} stream {f1:.4f}")  # shown with -s
    assert abs(f1 - result.metrics["f1"]) < 0.03


# --- scenarios as data


def test_scenario_from_dict_round_trips_and_declares_every_kind():
    specs = [
        {"name": "a", "effect": "shift", "column": "income", "strength": 500.0},
        {"name": "b", "effect": "scale", "column": "income", "strength": 0.2, "ramp_days": 5},
        {"name": "c", "effect": "recode", "column": "purpose", "value": "other",
         "strength": 0.5},
        {"name": "d", "effect": "mix", "strength": 0.5,
         "segment": {"column": "debt_ratio", "at_least": 1.5}},
        {"name": "e", "effect": "logit", "strength": 2.0,
         "segment": [{"column": "purpose", "one_of": ["car", "home"]},
                     {"column": "debt_ratio", "at_most": 1.0}]},
        {"name": "f", "effect": "nulls", "column": "purpose", "strength": 0.3},
        {"name": "g", "effect": "as_text", "column": "income", "start_day": 0},
    ]
    kinds = []
    for spec in specs:
        scenario = Scenario.from_dict(spec)
        assert Scenario.from_dict(scenario.to_dict()) == scenario
        kinds.append(scenario.kind)
    assert set(kinds) == {"covariate", "concept", "data_quality"}
    for named in SCENARIOS.values():
        assert Scenario.from_dict(named.to_dict()) == named


@pytest.mark.parametrize(("spec", "field"), [
    ({"effect": "logit"}, "'name'"),
    ({"name": "x", "effect": "tilt"}, "'effect'"),
    ({"name": "x", "effect": "scale", "column": "income", "strength": "big"}, "'strength'"),
    ({"name": "x", "effect": "scale", "column": "income", "start_day": -1}, "'start_day'"),
    ({"name": "x", "effect": "scale", "column": "income", "ramp_days": 1.5}, "'ramp_days'"),
    ({"name": "x", "effect": "scale"}, "'column'"),
    ({"name": "x", "effect": "logit", "strength": 1}, "'segment'"),
    ({"name": "x", "effect": "logit", "segment": {"column": "tenure", "below": 3}}, "operator"),
    ({"name": "x", "effect": "logit", "segment": {"column": "tenure", "at_most": "3"}},
     "expects a number"),
    ({"name": "x", "effect": "recode", "column": "purpose"}, "'value'"),
    ({"name": "x", "effect": "none", "colour": "red"}, "colour"),
    ({"name": "x", "effect": "scale", "kind": "concept", "column": "income"}, "covariate"),
])
def test_bad_scenario_data_names_the_field(spec, field):
    with pytest.raises(ValueError, match=field):
        Scenario.from_dict(spec)


def test_load_scenario_reads_json_and_yaml(tmp_path):
    spec = {"name": "loyal_leave", "effect": "logit", "strength": 2.5, "start_day": 10,
            "segment": {"column": "Contract", "equals": "Two year"}}
    (tmp_path / "s.json").write_text(json.dumps(spec))
    (tmp_path / "s.yaml").write_text(
        "name: loyal_leave\neffect: logit\nstrength: 2.5\n"
        "start_day: 10\nsegment: {column: Contract, equals: Two year}\n")
    assert load_scenario(tmp_path / "s.json") == load_scenario(tmp_path / "s.yaml")
    assert load_scenario(tmp_path / "s.yaml").segment == (
        Condition("Contract", "equals", "Two year"),)
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ValueError, match="bad.yaml"):
        load_scenario(tmp_path / "bad.yaml")


def test_a_declared_segment_reproduces_the_named_scenario():
    telco = load_telco()
    sim = StreamSimulator(telco, seed=0, population=5_000)
    declared = Scenario.from_dict({"name": "loyal", "effect": "logit", "strength": 2.5,
                                   "segment": {"column": "Contract", "equals": "Two year"}})
    pd.testing.assert_frame_equal(sim.batch(31, 2_000, declared),
                                  sim.batch(31, 2_000, "loyalty_erosion"))
    young = Scenario.from_dict({"name": "young", "effect": "mix", "strength": 0.5,
                                "ramp_days": 30,
                                "segment": {"column": "tenure", "at_most": 12}})
    pd.testing.assert_frame_equal(sim.batch(70, 2_000, young),
                                  sim.batch(70, 2_000, "tenure_shift"))


def test_scenarios_on_another_schema(wide, wide_sim):
    shift = Scenario.from_dict({"name": "richer", "effect": "shift", "column": "income",
                                "strength": 1_000.0, "start_day": 0})
    calm, drifted = wide_sim.batch(1, 3_000), wide_sim.batch(1, 3_000, shift)
    assert (drifted["income"] - calm["income"]).median() == pytest.approx(1_000, abs=1)
    risky = Scenario.from_dict({"name": "risky", "effect": "logit", "strength": 3.0,
                                "start_day": 0,
                                "segment": [{"column": "purpose", "equals": "car"},
                                            {"column": "debt_ratio", "at_least": 1.0}]})
    hit = wide_sim.batch(1, 3_000, risky)
    segment = (calm["purpose"] == "car") & (calm["debt_ratio"] >= 1.0)
    assert hit.loc[segment, "defaulted"].mean() > calm.loc[segment, "defaulted"].mean()
    pd.testing.assert_series_equal(hit.loc[~segment, "defaulted"],
                                   calm.loc[~segment, "defaulted"])
    with pytest.raises(ValueError, match="MonthlyCharges"):
        wide_sim.batch(40, 10, "price_increase")
    with pytest.raises(ValueError, match="not a category of 'purpose'"):
        wide_sim.batch(0, 10, {"name": "x", "effect": "logit", "strength": 1,
                               "segment": {"column": "purpose", "equals": "boat"}})
    with pytest.raises(ValueError, match="needs a numeric column"):
        wide_sim.check({"name": "x", "effect": "logit", "strength": 1,
                        "segment": {"column": "purpose", "at_most": 3}})
    assert len(list_scenarios(WIDE_SCHEMA)) == len(SCENARIOS)
    assert get_scenario("none").columns(WIDE_SCHEMA) == ()
