"""The command line mirrors the API: JSON out, exit codes 0 / 2, same seed same numbers."""

import json

import pandas as pd
import pytest

from closedloop.cli import main
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.contract.validation import validate
from closedloop.simulate.stream import STREAM_COLUMNS
from tests.loans import LOAN_SCHEMA, make_loans


def run(capsys, *argv):
    code = main([*argv, "--quiet"])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_train_prints_metrics_and_is_reproducible(capsys, tmp_path):
    results = []
    for name in ("a", "b"):
        code, out, _ = run(capsys, "train", "--workdir", str(tmp_path / name), "--trials", "2",
                           "--seed", "9", "--json")
        assert code == 0
        results.append(json.loads(out))
    assert results[0]["model_version"] == "1"
    assert results[0]["test_metrics"] == results[1]["test_metrics"]
    assert results[0]["test_metrics"]["roc_auc"] > 0.8


def test_promote_rollback_status_and_usage_errors(capsys, tmp_path):
    workdir = str(tmp_path / "w")
    for seed in ("1", "2"):
        assert run(capsys, "train", "--workdir", workdir, "--trials", "0", "--seed", seed)[0] == 0
    code, _, err = run(capsys, "rollback", "--workdir", workdir, "--reason", "nothing yet")
    assert code == 2 and "previous_champion" in err
    code, _, err = run(capsys, "promote", "--workdir", workdir, "--version", "1", "--reason", "a")
    assert code == 2 and "no quality-gate verdict" in err  # gates first, or --force
    assert run(capsys, "promote", "--workdir", workdir, "--version", "1", "--reason", "a",
               "--force")[0] == 0
    code, out, _ = run(capsys, "promote", "--workdir", workdir, "--reason", "b", "--json",
                       "--force")
    assert code == 0 and json.loads(out)["aliases_after"] == {
        "champion": "2", "previous_champion": "1"}
    assert run(capsys, "rollback", "--workdir", workdir, "--reason", "c")[0] == 0
    code, out, _ = run(capsys, "status", "--workdir", workdir, "--json")
    status = json.loads(out)
    assert status["aliases"] == {"champion": "1", "previous_champion": "2"}
    assert [row["action"] for row in status["audit"]] == ["promote", "promote", "rollback"]
    assert status["recovered"] is None
    assert [(r["alias"], r["to_version"]) for r in status["history"][-2:]] == [
        ("previous_champion", "2"), ("champion", "1")]
    code, out, _ = run(capsys, "history", "--workdir", workdir, "--json")
    moves = json.loads(out)
    assert code == 0 and len(moves) == 6 and moves[-2:] == status["history"][-2:]
    assert {m["action"] for m in moves} == {"promote", "rollback"}
    code, out, _ = run(capsys, "history", "--workdir", workdir)
    assert code == 0 and "rollback" in out and "from_version" in out


def test_train_on_your_own_table_with_its_schema(capsys, tmp_path):
    make_loans(1500).to_parquet(tmp_path / "loans.parquet")
    (tmp_path / "loans.json").write_text(json.dumps(LOAN_SCHEMA.to_dict()))
    code, out, _ = run(capsys, "train", "--workdir", str(tmp_path / "w"), "--trials", "0",
                       "--data", str(tmp_path / "loans.parquet"),
                       "--schema", str(tmp_path / "loans.json"), "--json")
    assert code == 0 and json.loads(out)["test_metrics"]["roc_auc"] > 0.7
    code, _, err = run(capsys, "train", "--workdir", str(tmp_path / "w"),
                       "--data", str(tmp_path / "loans.parquet"))
    assert code == 2 and "--schema" in err


def test_train_on_a_table_that_breaks_its_contract_exits_2_naming_the_column(capsys, tmp_path):
    make_loans(300).assign(purpose="boat").to_csv(tmp_path / "loans.csv", index=False)
    (tmp_path / "loans.json").write_text(json.dumps(LOAN_SCHEMA.to_dict()))
    code, _, err = run(capsys, "train", "--workdir", str(tmp_path / "w"), "--trials", "0",
                       "--data", str(tmp_path / "loans.csv"),
                       "--schema", str(tmp_path / "loans.json"))
    assert code == 2 and "purpose" in err and "boat" in err


def test_simulate_writes_the_stream_and_separate_labels(capsys, tmp_path):
    out_file, labels_file = tmp_path / "s" / "stream.parquet", tmp_path / "s" / "labels.parquet"
    code, out, _ = run(capsys, "simulate", "--days", "3", "--rows-per-day", "50",
                       "--scenario", "price_increase", "--start-day", "1", "--seed", "4",
                       "--output", str(out_file), "--labels-output", str(labels_file), "--json")
    assert code == 0 and json.loads(out)["rows"] == 150
    stream, labels = pd.read_parquet(out_file), pd.read_parquet(labels_file)
    assert "Churn" not in stream.columns and len(labels) == len(stream) == 150
    assert set(labels.columns) == {"customerID", "event_time", "Churn", "label_available_at",
                                   "true_churn_proba"}
    validate(stream, TELCO_SCHEMA, require_target=False, allow_extra=STREAM_COLUMNS)
    assert not list(tmp_path.glob("s/*.partial"))


def test_simulate_is_deterministic_and_lists_scenarios(capsys, tmp_path):
    files = [tmp_path / f"{n}.parquet" for n in "ab"]
    for path in files:
        assert run(capsys, "simulate", "--days", "2", "--rows-per-day", "20", "--seed", "1",
                   "--output", str(path))[0] == 0
    pd.testing.assert_frame_equal(pd.read_parquet(files[0]), pd.read_parquet(files[1]))
    code, out, _ = run(capsys, "simulate", "--list-scenarios", "--json")
    names = {row["name"] for row in json.loads(out)["scenarios"]}
    assert {"none", "price_increase", "concept_drift", "null_spike", "wrong_dtype"} <= names
    code, _, err = run(capsys, "simulate", "--scenario", "nope", "--output", str(files[0]))
    assert code == 2 and "known scenarios" in err


@pytest.mark.parametrize("argv", [["simulate"], ["promote", "--workdir", "x", "--reason", "r"]])
def test_usage_errors_exit_2(capsys, tmp_path, argv):
    argv = [a if a != "x" else str(tmp_path / "empty") for a in argv]
    assert run(capsys, *argv)[0] == 2
