"""Optional column sets of batch scoring: reasons per prediction, and A/B experiments (pandas).

Two versions are registered once for the module (v1 @champion, v2 @challenger).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from closedloop.abtest.assignment import Experiment
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.explain import explain, reason_columns
from closedloop.model.registry import load_model
from closedloop.monitoring.store import InferenceLog
from closedloop.scoring._columns import output_columns
from closedloop.scoring.batch import check_input, score, score_file
from tests.unit.serving.conftest import register_two

WHEN = "2026-03-01 09:00"
AB_WHEN = "2026-03-02 09:00"  # another batch: rows scored by v1 at WHEN are logged


@pytest.fixture(scope="module")
def ws(telco, tmp_path_factory):
    return register_two(telco, tmp_path_factory.mktemp("extras"))


@pytest.fixture(scope="module")
def batch(telco):
    return telco.drop(columns=["Churn"]).sample(300, random_state=7).reset_index(drop=True)


@pytest.fixture(scope="module")
def models(ws):
    return {v: load_model(ws, v) for v in ("1", "2")}


def test_score_file_appends_reasons_that_match_explain(ws, batch, models, tmp_path):
    source, output = tmp_path / "in.parquet", tmp_path / "out.parquet"
    batch.to_parquet(source)
    result = score_file(ws, source, output, reasons=3, scored_at=WHEN)
    written = pd.read_parquet(output)
    names = ["reason_1", "reason_2", "reason_3"]
    assert list(written.columns) == [*output_columns(), *names]
    assert result.reasons == 3 and result.model_version == "1"
    typed = check_input(batch)
    direct = reason_columns(explain(models["1"], typed, TELCO_SCHEMA, top=3), top=3)
    assert written[names].to_numpy().tolist() == direct[names].to_numpy().tolist()
    plain = score(batch, models["1"], model_version="1", scored_at=WHEN)
    assert np.allclose(written["prediction_proba"], plain["prediction_proba"])
    logged = InferenceLog(ws).read()
    assert len(logged) == len(batch) and not any(c.startswith("reason_") for c in logged)


def test_score_on_a_frame_appends_k_reason_columns(batch, models):
    out = score(batch.head(20), models["1"], model_version="1", scored_at=WHEN, reasons=2)
    assert list(out.columns) == [*output_columns(), "reason_1", "reason_2"]
    direct = reason_columns(explain(models["1"], check_input(batch.head(20)), top=2))
    assert out["reason_1"].tolist() == direct["reason_1"].tolist()
    with pytest.raises(ValueError, match="positive"):
        score(batch.head(2), models["1"], model_version="1", reasons=-1)


def test_spark_says_reasons_and_experiments_are_pandas_only(ws, batch, tmp_path):
    source = tmp_path / "in.parquet"
    batch.to_parquet(source)
    for extra in ({"reasons": 2}, {"experiment": Experiment("e", salt="s")}):
        with pytest.raises(ValueError, match="pandas-only"):
            score_file(ws, source, tmp_path / "out.parquet", engine="spark", **extra)
    assert not (tmp_path / "out.parquet").exists()


def test_score_file_scores_each_arm_with_its_version(ws, batch, models, tmp_path):
    source, output = tmp_path / "in.csv", tmp_path / "ab.parquet"
    batch.to_csv(source, index=False)
    experiment = Experiment("ab", salt="salt-1", coverage=0.8)
    before = len(InferenceLog(ws).read())
    result = score_file(ws, source, output, experiment=experiment, reasons=1, scored_at=AB_WHEN)
    written = pd.read_parquet(output)
    assert list(written.columns) == [*output_columns(), "arm", "reason_1"]
    arms = experiment.assign(batch["customerID"].astype(str).to_numpy())
    assert written["arm"].tolist() == list(arms)
    assert written["customerID"].tolist() == batch["customerID"].tolist()
    challenger = arms == "challenger"
    assert 0 < challenger.sum() < len(batch) and (arms == None).any()  # noqa: E711
    assert (written.loc[challenger, "model_version"] == "2").all()
    assert (written.loc[~challenger, "model_version"] == "1").all()
    for version, mask in (("2", challenger), ("1", ~challenger)):
        expected = score(batch[mask], models[version], model_version=version, scored_at=AB_WHEN)
        assert np.allclose(written.loc[mask, "prediction_proba"], expected["prediction_proba"])
    assert result.arm_versions == {"champion": "1", "challenger": "2"}
    assert result.arms["challenger"] == int(challenger.sum())
    assert sum(result.arms.values()) == len(batch) and result.log_written is True
    logged = InferenceLog(ws).read()
    assert len(logged) == before + len(batch)
    new = logged[logged["timestamp"] == pd.Timestamp(AB_WHEN)]
    by_id = new.groupby("model_version", observed=True)["customerID"].apply(set)
    assert by_id["2"] >= set(batch.loc[challenger, "customerID"])
    again = score_file(ws, source, output, experiment=experiment, scored_at=AB_WHEN)
    assert again.log_written is False  # a retry logs nothing twice


def test_cli_score_reasons_and_experiment(ws, batch, tmp_path, capsys):
    from closedloop.cli import main

    source, output = tmp_path / "in.csv", tmp_path / "out.parquet"
    batch.head(50).to_csv(source, index=False)
    code = main(["score", "--workdir", str(ws.root), "--input", str(source), "--output",
                 str(output), "--json", "--no-log", "--reasons", "2", "--experiment-salt", "s9",
                 "--experiment-split", "0.3"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["reasons"] == 2 and report["arm_versions"] == {"champion": "1",
                                                                "challenger": "2"}
    written = pd.read_parquet(output)
    expected = Experiment("x", salt="s9", split=(0.7, 0.3)).assign(
        batch.head(50)["customerID"].astype(str).to_numpy())
    assert written["arm"].tolist() == list(expected)
    assert {"reason_1", "reason_2"} <= set(written.columns)
