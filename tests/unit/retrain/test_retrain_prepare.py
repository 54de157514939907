"""Fresh training data: the requested ratio within one row, newest row per entity, clean holdout."""

import pandas as pd
import pytest

from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.contract.validation import validate
from closedloop.retrain.prepare import labelled_rows, prepare_training_data


@pytest.fixture(scope="module")
def recent(telco):
    """1,500 'production' rows of 1,200 customers: 300 scored twice, the second time later."""
    first = telco.head(1200).assign(timestamp=pd.date_range("2026-03-01", periods=1200,
                                                            freq="h"))
    again = telco.head(300).assign(timestamp=pd.Timestamp("2026-06-01"), tenure=99)
    return pd.concat([first, again], ignore_index=True)


@pytest.mark.parametrize("share", [0.7, 0.5, 0.9, 0.33, 1.0])
def test_ratio_within_one_row_and_no_holdout_row_in_training(telco, recent, share):
    prepared = prepare_training_data(recent, telco.iloc[1200:], recent_share=share,
                                     holdout_share=0.2, seed=3)
    s = prepared.summary
    assert abs(s["recent_rows"] - share * s["train_rows"]) <= 1
    assert s["recent_rows"] + s["historical_rows"] == len(prepared.train) == s["train_rows"]
    key = TELCO_SCHEMA.entity_id
    assert not set(prepared.train[key]) & set(prepared.holdout[key])
    assert s["entity_overlap"] == 0
    validate(prepared.train, TELCO_SCHEMA)
    validate(prepared.holdout, TELCO_SCHEMA)


def test_newest_row_per_entity_and_newest_rows_held_out(telco, recent):
    prepared = prepare_training_data(recent, telco.iloc[1200:])
    s = prepared.summary
    assert s["duplicates_dropped"] == 300 and s["holdout_rows"] == 240  # 20 % of 1,200
    # The 300 re-scored customers are the newest rows: they are in the holdout, as re-scored.
    assert (prepared.holdout["tenure"] == 99).sum() == 240
    assert (prepared.train["tenure"] == 99).sum() == 60
    assert not prepared.train[TELCO_SCHEMA.entity_id].duplicated().any()


def test_historical_rows_of_recent_entities_are_dropped(telco, recent):
    # History holds every Telco customer, including the 1,200 recent ones: only the other 5,843
    # may be drawn, and the recent (newer) version of a customer wins.
    prepared = prepare_training_data(recent, telco, recent_share=0.5)
    key = TELCO_SCHEMA.entity_id
    assert not prepared.train[key].duplicated().any()
    assert not set(prepared.train[key]) & set(prepared.holdout[key])


def test_too_little_history_keeps_the_ratio_with_fewer_recent_rows(telco, recent):
    prepared = prepare_training_data(recent, telco.iloc[6900:], recent_share=0.7)
    s = prepared.summary
    assert s["historical_rows"] == 143
    assert abs(s["recent_rows"] - 0.7 * s["train_rows"]) <= 1 and s["recent_rows"] < 960


def test_bad_settings_are_named(telco, recent):
    with pytest.raises(ValueError, match=r"recent_share must be in \(0, 1\] \(got 0\)"):
        prepare_training_data(recent, telco, recent_share=0)
    with pytest.raises(ValueError, match="need a 'timestamp' column"):
        prepare_training_data(recent.drop(columns="timestamp"), telco)
    with pytest.raises(ValueError, match="2 distinct recent entities cannot give a holdout"):
        prepare_training_data(recent.head(2), telco, holdout_share=0.2)


def test_labelled_rows_turn_ground_truth_into_the_target(telco):
    log = telco.head(4).drop(columns="Churn").assign(
        timestamp=pd.Timestamp("2026-01-01"),
        ground_truth=pd.array([1, 0, None, 1], dtype="Int64"), prediction=1)
    rows = labelled_rows(log)
    assert rows["Churn"].tolist() == ["Yes", "No", "Yes"]
    validate(rows.drop(columns="timestamp"), TELCO_SCHEMA)
