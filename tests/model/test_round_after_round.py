"""Round after round: every version carries its contract, holdout and training rows, so the
commands that judge, price, monitor and retrain the champion need no table after retrainings."""

import json

import pandas as pd
import pytest

from closedloop.cli import main
from closedloop.config import Workspace
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.model import registry
from closedloop.model.holdout import (
    holdout_for,
    load_contract,
    load_holdout,
    load_training_rows,
)
from closedloop.model.train import TrainConfig, split_data
from tests.loans import LOAN_SCHEMA, make_loans

#: Gates a champion passes on its own holdout on a shared test machine: no latency SLA.
LOOSE = ("floors: {roc_auc: 0.6}\nmin_minority_f1: 0.2\n"
         "max_single_row_p99_ms: null\nmax_batch_p99_ms: null\nn_bootstrap: 100\n"
         "robustness_rows: 200\nnon_inferiority: {roc_auc: 0.1, f1: 0.15}\n")


def run(capsys, *argv):
    code = main([*argv, "--quiet"])
    out = capsys.readouterr()
    return code, out.out, out.err


# -- the stored holdout: no shuffled copy, no training row ----------------------------------------

@pytest.fixture(scope="module")
def loans_ws(tmp_path_factory):
    ws = Workspace.resolve(tmp_path_factory.mktemp("contract"))
    registry.train_and_register(make_loans(1500), LOAN_SCHEMA, ws,
                                TrainConfig(n_trials=0, seed=3, n_jobs=1), model_name="loans")
    return ws


def test_a_version_stores_its_contract_and_exact_holdout(loans_ws):
    loans = make_loans(1500)
    splits = split_data(loans, LOAN_SCHEMA, TrainConfig(n_trials=0, seed=3))
    assert load_contract(loans_ws, "challenger", model_name="loans") == LOAN_SCHEMA
    holdout = load_holdout(loans_ws, "1", model_name="loans")
    assert holdout["loan_id"].tolist() == splits.test["loan_id"].tolist()
    assert list(holdout.columns) == LOAN_SCHEMA.names
    pd.testing.assert_frame_equal(holdout_for(loans_ws, "1", model_name="loans"), holdout)
    pd.testing.assert_frame_equal(holdout_for(loans_ws, "1", loans, model_name="loans"), holdout)


def test_a_shuffled_copy_of_the_training_table_is_refused(loans_ws):
    shuffled = make_loans(1500).sample(frac=1, random_state=0)
    with pytest.raises(ValueError, match="other data .hash [0-9a-f]{64}.*hash [0-9a-f]{64}"):
        holdout_for(loans_ws, "1", shuffled, model_name="loans")


def test_no_training_row_is_in_the_stored_holdout(loans_ws):
    holdout = load_holdout(loans_ws, "1", model_name="loans")
    train = load_training_rows(loans_ws, "1", model_name="loans")
    assert len(holdout) + len(train) == 1500
    assert not set(holdout["loan_id"]) & set(train["loan_id"])


# -- the whole loop through the command line -----------------------------------------------------

def _score_and_label(capsys, workdir, tmp_path):
    """Simulate 120 days of a loyalty-erosion stream; score it in four monthly batches; write
    the labels (one per scored customer, in the batch's window) as a backfill file."""
    stream_file, labels_file = tmp_path / "stream.parquet", tmp_path / "truth.parquet"
    # A strong drift (two-year customers' churn log-odds +5), so that a retrained model is
    # shown better by the paired comparison of step 6 and the loop really goes round.
    assert run(capsys, "simulate", "--days", "120", "--rows-per-day", "120", "--scenario",
               "loyalty_erosion", "--strength", "5", "--seed", "0", "--output", str(stream_file),
               "--labels-output", str(labels_file))[0] == 0
    stream, truth = pd.read_parquet(stream_file), pd.read_parquet(labels_file)
    # `closedloop score` logs a batch at its --scored-at time and does not take the stream's
    # extra columns (event_time, ...), so the stream is scored in monthly batches, one row per
    # customer each, and its labels are given that batch's window.
    stream["batch"] = (stream["event_time"] - stream["event_time"].min()).dt.days // 30
    truth["batch"] = stream["batch"].to_numpy()
    labels = []
    for batch, rows in stream.groupby("batch"):
        keep = ~rows["customerID"].duplicated()
        scored_at = rows["event_time"].max().normalize() + pd.Timedelta(hours=12)
        batch_file = tmp_path / f"batch{batch}.parquet"
        rows[keep][[c for c in TELCO_SCHEMA.names if c in rows.columns]].to_parquet(batch_file)
        code, _, err = run(capsys, "score", "--workdir", workdir, "--input", str(batch_file),
                           "--output", str(tmp_path / f"scored{batch}.parquet"),
                           "--scored-at", str(scored_at))
        assert code == 0, err
        known = truth[truth["batch"] == batch][keep.to_numpy()]
        labels.append(pd.DataFrame({
            "customerID": known["customerID"].to_numpy(),
            "window_start": scored_at.normalize(),
            "window_end": scored_at.normalize() + pd.Timedelta(days=1),
            "Churn": known["Churn"].to_numpy(),
            "label_arrived_at": known["label_available_at"].clip(
                lower=scored_at + pd.Timedelta(hours=1)).to_numpy()}))
    path = tmp_path / "labels.parquet"
    pd.concat(labels, ignore_index=True).to_parquet(path)
    return path


@pytest.mark.slow
def test_validate_roi_monitor_and_retrain_need_no_data_round_after_round(capsys, tmp_path):
    workdir = str(tmp_path / "w")
    (tmp_path / "loose.yaml").write_text(LOOSE)
    loose = ["--config", str(tmp_path / "loose.yaml")]
    w = ["--workdir", workdir]
    assert run(capsys, "train", *w, "--trials", "0")[0] == 0
    code, out, err = run(capsys, "validate", *w, *loose)
    assert code == 0, out + err
    assert run(capsys, "promote", *w, "--reason", "first model")[0] == 0
    labels = _score_and_label(capsys, workdir, tmp_path)
    code, out, err = run(capsys, "backfill", *w, "--labels", str(labels), "--json")
    assert code == 0 and json.loads(out)["matched"] > 3000, out + err

    code, out, err = run(capsys, "retrain", *w, "--as-of", "2026-06-15", "--gates",
                         str(tmp_path / "loose.yaml"), "--json")
    payload = json.loads(out)
    assert code == 0 and payload["outcome"] == "promoted", payload["reason"] + err
    champion = payload["champion_after"]
    assert champion == "2"

    # The retrained champion: no --data, no --schema, no Telco fallback.
    # (no challenger after a promotion: validate gates the champion)
    code, out, err = run(capsys, "validate", *w, *loose, "--json")
    assert code == 0 and json.loads(out)["model_version"] == champion, out + err
    code, out, err = run(capsys, "roi", *w, "--json")
    assert code == 0 and f"v{champion}" in json.loads(out)["model"], err
    code, out, err = run(capsys, "monitor", *w, "--granularity", "1mo", "--json")
    assert code == 0 and json.loads(out)["rows"] > 0, err
    ws = Workspace.resolve(workdir)
    holdout = load_holdout(ws, champion)
    assert not set(holdout["customerID"]) & set(load_training_rows(ws, champion)["customerID"])

    # A second round: the history is the champion's stored training rows.
    code, out, err = run(capsys, "retrain", *w, "--as-of", "2026-06-20", "--gates",
                         str(tmp_path / "loose.yaml"), "--json")
    second = json.loads(out)
    assert code in (0, 1), err
    assert [s["name"] for s in second["steps"]][:6] == [
        "assess", "prepare", "validate", "champion_params", "retrain", "compare"]
    assert all(s["status"] == "ok" for s in second["steps"][:5]), second["reason"]
    for argv in (["validate", *loose], ["roi"], ["monitor"]):
        code, out, err = run(capsys, argv[0], *w, *argv[1:])
        assert code == 0, f"{argv}: {out}{err}"
