"""Gate reports in MLflow, promotion that obeys them, and ``closedloop validate``."""

import json
import shutil

import mlflow
import pytest

from closedloop.cli import main
from closedloop.config import Workspace
from closedloop.gates import version as validation
from closedloop.gates.checks import CheckResult
from closedloop.gates.run import GateReport
from closedloop.model import registry
from closedloop.model.holdout import holdout_for
from closedloop.model.registry import CHALLENGER, CHAMPION, RegistryError
from closedloop.model.train import TrainConfig, split_data
from tests.loans import LOAN_SCHEMA, make_loans

LOANS = make_loans(1500)
#: Loose enough for a loans model on a 300-row holdout; no latency SLA on a shared test machine.
LOOSE = ("floors: {roc_auc: 0.7}\nmin_minority_f1: 0.4\n"
         "max_single_row_p99_ms: null\nmax_batch_p99_ms: null\nn_bootstrap: 200\n"
         "robustness_rows: 200\nnon_inferiority: {roc_auc: 0.1, f1: 0.15}\n")


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    """v1 and v2 of a loans model on the same split (v2 is @challenger, nothing promoted)."""
    workspace = Workspace.resolve(tmp_path_factory.mktemp("gated"))
    for seed in (1, 2):
        registry.train_and_register(LOANS, LOAN_SCHEMA, workspace,
                                    TrainConfig(n_trials=0, seed=seed, split_seed=1, n_jobs=1),
                                    model_name="loans")
    return workspace


@pytest.fixture()
def ws(registered, tmp_path):
    shutil.copytree(registered.root, tmp_path / "copy")
    return Workspace.resolve(tmp_path / "copy")


def report_for(version, *, passed=True, champion=None, checks=("floor.f1", "floor.roc_auc")):
    results = [CheckResult(name, passed or i > 0, 0.7, 0.5, "test") for i, name in
               enumerate(checks)]
    return GateReport(results, {"name": "test"}, model_name="loans", model_version=version,
                      champion_version=champion, champion=f"v{champion}" if champion else None)


def test_promote_refuses_a_version_that_was_never_gated(ws):
    with pytest.raises(RegistryError, match="version 1 of loans cannot be promoted: it has no "
                                            "quality-gate verdict"):
        registry.promote(ws, "1", reason="looks fine", model_name="loans")
    assert registry.aliases(ws, "loans") == {CHALLENGER: "2"}
    assert registry.audit_log(ws, "loans").empty


def test_gate_version_logs_the_report_and_promote_reads_the_verdict(ws, tmp_path):
    (tmp_path / "loose.yaml").write_text(LOOSE)
    report = validation.gate_version(ws, LOANS, LOAN_SCHEMA, "1", str(tmp_path / "loose.yaml"),
                                     model_name="loans")
    assert report.passed, str(report)
    status = validation.gate_status(ws, "1", model_name="loans")
    assert status["verdict"] == "passed" and status["champion"] == "none"
    assert status["checks"] == {c.name: "passed" for c in report.checks}
    logged = validation.load_gate_report(ws, "1", model_name="loans")
    assert logged.to_dict() == json.loads(report.to_json())
    run = ws.client().get_run(status["run_id"])
    assert run.data.metrics["floor.roc_auc"] == pytest.approx(report["floor.roc_auc"].value)
    move = registry.promote(ws, "1", reason="gates passed", model_name="loans")
    assert not move.forced and move.gate_verdict == "passed"
    assert registry.aliases(ws, "loans")[CHAMPION] == "1"


def test_a_failed_verdict_blocks_promotion_unless_forced_and_the_force_is_recorded(ws):
    validation.log_gate_report(ws, report_for("2", passed=False))
    with pytest.raises(RegistryError, match=r"its quality gates failed \(floor.f1\)"):
        registry.promote(ws, reason="please", model_name="loans")
    move = registry.promote(ws, reason="incident override, ticket 42", model_name="loans",
                            force=True)
    assert move.forced and move.gate_verdict == "failed"
    audit = registry.audit_log(ws, "loans")
    assert audit[["version", "forced", "gate_verdict"]].values.tolist() == [["2", "True", "failed"]]
    tags = ws.client().get_model_version("loans", "2").tags
    assert tags["closedloop.promote_forced"] == "true"


def test_a_verdict_reached_against_another_champion_is_stale(ws):
    validation.log_gate_report(ws, report_for("2"))  # gated with no champion
    validation.log_gate_report(ws, report_for("1"))
    registry.promote(ws, "1", reason="first", model_name="loans")
    with pytest.raises(RegistryError, match="ran with no champion, but the champion is now "
                                            "version 1"):
        registry.promote(ws, "2", reason="not compared with v1", model_name="loans")
    validation.log_gate_report(ws, report_for("2", champion="1"))
    assert registry.promote(ws, "2", reason="compared", model_name="loans").gate_verdict == \
        "passed"


def test_a_new_report_replaces_the_old_check_tags(ws):
    validation.log_gate_report(ws, report_for("2", checks=("floor.f1", "floor.recall")))
    validation.log_gate_report(ws, report_for("2", checks=("floor.f1",)))
    assert validation.gate_status(ws, "2", model_name="loans")["checks"] == {"floor.f1": "passed"}


def test_logging_that_fails_midway_withdraws_the_old_verdict(ws, monkeypatch):
    validation.log_gate_report(ws, report_for("2"))

    def broken(*args, **kwargs):
        raise OSError("artifact store unreachable")

    monkeypatch.setattr(mlflow, "log_text", broken)
    with pytest.raises(OSError):
        validation.log_gate_report(ws, report_for("2"))
    assert validation.gate_status(ws, "2", model_name="loans")["verdict"] == "missing"
    with pytest.raises(RegistryError, match="no quality-gate verdict"):
        registry.promote(ws, "2", reason="stale pass", model_name="loans")


def test_the_holdout_is_rebuilt_from_the_training_run_and_only_from_the_same_table(ws):
    expected = split_data(LOANS, LOAN_SCHEMA, TrainConfig(seed=1)).test
    rebuilt = holdout_for(ws, "2", LOANS, LOAN_SCHEMA, model_name="loans")
    assert rebuilt["loan_id"].tolist() == expected["loan_id"].tolist()
    with pytest.raises(ValueError, match="cannot be rebuilt"):
        holdout_for(ws, "2", LOANS.head(1000), LOAN_SCHEMA, model_name="loans")
    with pytest.raises(RegistryError, match="no version 9"):
        holdout_for(ws, "9", LOANS, LOAN_SCHEMA, model_name="loans")


# -- the command line --------------------------------------------------------------------------

def cli(capsys, *argv):
    code = main([*argv, "--quiet", "--model-name", "loans"])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_validate_exit_codes_and_gated_promotion(ws, capsys, tmp_path):
    LOANS.to_parquet(tmp_path / "loans.parquet")
    (tmp_path / "loans.json").write_text(json.dumps(LOAN_SCHEMA.to_dict()))
    (tmp_path / "loose.yaml").write_text(LOOSE)
    (tmp_path / "strict.yaml").write_text(LOOSE.replace("roc_auc: 0.7", "roc_auc: 0.99"))
    common = ["--workdir", str(ws.root), "--data", str(tmp_path / "loans.parquet"),
              "--schema", str(tmp_path / "loans.json")]

    code, out, _ = cli(capsys, "validate", *common, "--config", str(tmp_path / "strict.yaml"),
                       "--json")
    assert code == 1 and json.loads(out)["verdict"] == "failed"
    code, _, err = cli(capsys, "promote", "--workdir", str(ws.root), "--reason", "r")
    assert code == 2 and "floor.roc_auc" in err
    code, out, _ = cli(capsys, "validate", *common, "--version", "1", "--config",
                       str(tmp_path / "loose.yaml"), "--seed", "3")
    assert code == 0 and "PASSED" in out
    assert cli(capsys, "promote", "--workdir", str(ws.root), "--version", "1",
               "--reason", "passed")[0] == 0
    code, out, _ = cli(capsys, "validate", *common, "--config", str(tmp_path / "loose.yaml"),
                       "--bootstrap", "100", "--json")
    payload = json.loads(out)
    assert code == 0 and payload["champion_version"] == "1" and payload["model_version"] == "2"
    assert payload["config"]["n_bootstrap"] == 100 and payload["notes"] == []
    assert cli(capsys, "promote", "--workdir", str(ws.root), "--reason", "gated")[0] == 0


@pytest.mark.parametrize(("extra", "message"), [
    (["--preset", "telecom_churn", "--config", "x.yaml"], "not both"),
    (["--preset", "bank"], "known presets"),
    (["--version", "9"], "no version 9"),
    # A shuffled copy of the training table is another table: its split would leak rows.
    (["--data", "SHUFFLED"], "hash"),
    # The model carries its contract: another one given with --schema is refused, by name.
    (["--schema", "TELCO"], "'telco' differs from 'loans'"),
])
def test_validate_usage_and_data_errors_exit_2(ws, capsys, tmp_path, extra, message):
    from closedloop.contract.telco import TELCO_SCHEMA

    LOANS.sample(frac=1, random_state=0).to_parquet(tmp_path / "shuffled.parquet")
    (tmp_path / "telco.json").write_text(json.dumps(TELCO_SCHEMA.to_dict()))
    files = {"SHUFFLED": str(tmp_path / "shuffled.parquet"), "TELCO": str(tmp_path / "telco.json")}
    code, _, err = cli(capsys, "validate", "--workdir", str(ws.root),
                       *[files.get(a, a) for a in extra])
    assert code == 2 and message in err


def test_validate_needs_no_data_the_version_carries_its_holdout(ws, capsys, tmp_path):
    (tmp_path / "loose.yaml").write_text(LOOSE)
    code, out, _ = cli(capsys, "validate", "--workdir", str(ws.root), "--config",
                       str(tmp_path / "loose.yaml"), "--json")
    assert code == 0 and json.loads(out)["model_version"] == "2"


def test_validate_without_a_challenger_exits_2(ws, capsys):
    ws.client().delete_registered_model_alias("loans", CHALLENGER)
    code, _, err = cli(capsys, "validate", "--workdir", str(ws.root))
    assert code == 2 and "no @challenger" in err
