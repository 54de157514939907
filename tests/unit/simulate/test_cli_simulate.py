"""``closedloop simulate`` and ``closedloop loop`` on another table, with a scenario file."""

import json

import pandas as pd

from closedloop.cli import main
from closedloop.contract.validation import validate
from closedloop.simulate.stream import STREAM_COLUMNS
from tests.loans import LOAN_SCHEMA, make_loans


def run(capsys, *argv):
    code = main([*argv, "--quiet"])
    out = capsys.readouterr()
    return code, out.out, out.err


def _files(tmp_path):
    make_loans(2_000, 1).to_csv(tmp_path / "loans.csv", index=False)
    (tmp_path / "loans.json").write_text(json.dumps(LOAN_SCHEMA.to_dict()))
    (tmp_path / "risky.yaml").write_text(
        "name: risky\neffect: logit\nstrength: 1.5\nstart_day: 1\n"
        "segment: {column: debt_ratio, at_least: 1.0}\n")
    return [str(tmp_path / n) for n in ("loans.csv", "loans.json", "risky.yaml")]


def test_simulate_another_table_with_a_scenario_file(capsys, tmp_path):
    data, schema, scenario = _files(tmp_path)
    out_file, labels_file = tmp_path / "stream.parquet", tmp_path / "labels.parquet"
    code, out, err = run(capsys, "simulate", "--data", data, "--schema", schema,
                         "--scenario-file", scenario, "--days", "3", "--rows-per-day", "50",
                         "--output", str(out_file), "--labels-output", str(labels_file),
                         "--json")
    assert code == 0, err
    assert json.loads(out)["scenario"] == "risky"
    stream, labels = pd.read_parquet(out_file), pd.read_parquet(labels_file)
    assert set(labels.columns) == {"loan_id", "event_time", "defaulted", "label_available_at",
                                   "true_churn_proba"}
    validate(stream, LOAN_SCHEMA, require_target=False, allow_extra=STREAM_COLUMNS)


def test_simulate_usage_errors(capsys, tmp_path):
    data, schema, scenario = _files(tmp_path)
    output = str(tmp_path / "s.parquet")
    code, _, err = run(capsys, "simulate", "--data", data, "--output", output)
    assert code == 2 and "--schema" in err
    code, _, err = run(capsys, "simulate", "--data", data, "--schema", schema,
                       "--scenario", "price_increase", "--output", output)
    assert code == 2 and "MonthlyCharges" in err
    code, _, err = run(capsys, "simulate", "--scenario", "none", "--scenario-file", scenario,
                       "--output", output)
    assert code == 2 and "not both" in err
    (tmp_path / "bad.json").write_text('{"name": "x", "effect": "logit", "strength": "big"}')
    code, _, err = run(capsys, "simulate", "--data", data, "--schema", schema,
                       "--scenario-file", str(tmp_path / "bad.json"), "--output", output)
    assert code == 2 and "'strength'" in err
    code, out, _ = run(capsys, "simulate", "--schema", schema, "--list-scenarios", "--json")
    assert code == 0 and json.loads(out)["scenarios"]


def test_loop_on_another_table_with_a_scenario_file(capsys, tmp_path):
    data, schema, scenario = _files(tmp_path)
    code, out, err = run(capsys, "loop", "--workdir", str(tmp_path / "w"), "--data", data,
                         "--schema", schema, "--scenario-file", scenario, "--months", "2",
                         "--rows-per-day", "40", "--policy", "never", "--policy", "monthly",
                         "--template", "financial_services", "--customer-value", "900", "--json")
    assert code == 0, err
    payload = json.loads(out)
    # A table of its own is priced with economics of its own, not Telco's
    assert payload["config"]["business"]["customer_value"] == 900
    assert payload["config"]["business"]["name"] == "financial_services"
    assert "risky" in payload["written"]
