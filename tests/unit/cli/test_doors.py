"""Bad input at every door of the command line: exit 2, a message naming the argument, file or
value and what was expected, no traceback, and nothing written (no ``mlflow.db`` in an empty or
new workdir, no output file, no log batch, no moved alias).

Each case is one command line run in-process through :func:`closedloop.cli.main`. ``{ws}`` is
the workdir of the case: an empty folder, or (``model=True``) a copy of one module-scoped
workspace holding a trained and promoted model; ``{f}`` is a folder of input files shared by
every case. The workdir and ``{f}`` are snapshotted (paths, sizes, mtimes) before and after.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from closedloop.cli import main
from tests.loans import LOAN_SCHEMA, make_loans
from tests.reliability.workspaces import copy_workspace


@dataclass(frozen=True)
class Case:
    argv: str
    fragments: tuple[str, ...]
    code: int = 2
    model: bool = False


def case(argv: str, *fragments: str, **kwargs) -> pytest.param:
    marks = kwargs.pop("marks", ())
    return pytest.param(Case(argv, fragments, **kwargs), id=argv, marks=marks)


BATCH = "--input {f}/batch.parquet --output {f}/scored.parquet"

CASES = [
    # --schema that is not a schema file
    case("train --trials 0 --data {f}/loans.csv --schema {f}/empty.json", "empty.json",
         "missing keys"),
    case("train --trials 0 --data {f}/loans.csv --schema {f}/list.json", "list.json",
         "got a list"),
    case("train --trials 0 --data {f}/loans.csv --schema {f}/folder", "folder",
         "is a folder"),
    # --workdir that is a file
    case("train --trials 0 --workdir {f}/a_file", "a_file", "is a file"),
    case(f"score {BATCH} --workdir {{f}}/a_file", "a_file", "is a file"),
    case("status --workdir {f}/a_file", "a_file", "is a file"),
    case("promote --reason r --workdir {f}/a_file", "a_file", "is a file"),
    case("monitor --workdir {f}/a_file", "a_file", "is a file"),
    case("backfill --labels {f}/labels.parquet --workdir {f}/a_file", "a_file", "is a file"),
    # versions and aliases that do not exist
    case(f"score --alias nosuch {BATCH}", "nosuch", model=True),
    case("promote --version 99 --reason r", "99", "expected one of", model=True),
    case("roi --alias nosuch", "nosuch", model=True),
    case("validate --version 99", "99", model=True),
    case("serve --alias nosuch --port 0", "--alias nosuch", "champion", model=True),
    case("serve --alias 99 --port 0", "--alias 99", "expected one of 1", model=True),
    case("promote --version abc --reason r", "'abc'", model=True),
    # read-only (or failing) commands in an empty workdir create nothing
    case("promote --reason r", "no model registered", "run closedloop train"),
    case("rollback --reason r", "no model registered"),
    case("status", "no model registered"),
    case("history", "no model registered"),
    case("status --workdir {ws}/new", "no model registered in {ws}/new"),
    case("history --workdir {ws}/new", "no model registered in {ws}/new"),
    case("rollback --reason r --workdir {ws}/new", "no model registered in {ws}/new"),
    case("retrain", "no model registered"),
    case("validate", "no model registered"),
    case("monitor", "no model registered"),
    case("roi", "no model registered"),
    case(f"score {BATCH}", "no model registered"),
    case("train --trials 0 --data {f}/loans-boat.csv --schema {f}/loans.json", "purpose",
         "boat"),
    # out-of-range arguments, refused at parse time
    case("train --trials -1", "--trials", "-1", "whole number >= 0"),
    case("roi --threshold 2", "--threshold", "2", "[0, 1]", model=True),
    case("roi --success-rate 1.5", "success_rate", "[0, 1]", "1.5", model=True),
    case("roi --customer-value -3", "customer_value", ">= 0", "-3", model=True),
    case("monitor --alpha 5", "--alpha", "expected a number in (0, 1), got 5", model=True),
    case("monitor --alpha 0", "--alpha", "(0, 1), got 0", model=True),
    case("simulate --rows-per-day 0 --output {f}/new.parquet", "--rows-per-day", "got 0"),
    case("simulate --days -3 --output {f}/new.parquet", "--days", "got -3"),
    case("simulate --days three --output {f}/new.parquet", "--days", "got three"),
    case("loop --months 0", "--months", ">= 1, got 0"),
    case("retrain --recent-days -5", "--recent-days", "got -5", model=True),
    case("retrain --recent-share 1.5", "--recent-share", "got 1.5", model=True),
    case("score --high 1.5 " + BATCH, "--high", "got 1.5", model=True),
    case("score --high 0.2 --medium 0.5 " + BATCH, "medium=0.5", "high=0.2", model=True),
    case("serve --port 70000", "--port", "got 70000", model=True),
    # retraining that cannot assess its triggers
    case("retrain --if-triggered", "--if-triggered", "cannot assess", "0 logged row(s)",
         model=True),
    case("retrain --if-triggered --policy performance", "--if-triggered", "cannot assess",
         "performance", model=True),
    case("retrain --if-triggered --data {f}/batch.parquet", "--data", "batch.parquet",
         "Churn", model=True),
    case("retrain --data {f}/missing.parquet", "--data", "missing.parquet", "no such file",
         model=True),
    # outputs that exist are kept unless --overwrite
    case("simulate --days 2 --rows-per-day 5 --output {f}/batch.parquet", "--output",
         "batch.parquet", "--overwrite"),
    case("simulate --days 2 --rows-per-day 5 --output {f}/new.parquet "
         "--labels-output {f}/labels.parquet", "--labels-output", "labels.parquet",
         "--overwrite"),
    case("simulate --days 2 --rows-per-day 5 --output {f}/folder", "--output", "is a folder"),
    case("loop --months 1 --figure {f}/figure.png", "--figure", "figure.png", "--overwrite"),
    case("loop --months 1 --figure {f}/figure.nope", "--figure", "figure.nope", ".png"),
    # batches and label files
    case("score --input {f}/missing.parquet --output {f}/scored.parquet", "--input",
         "missing.parquet", "no such file", model=True),
    case("score --input {f}/folder --output {f}/scored.parquet", "--input", "folder",
         "is a folder", model=True),
    case("backfill --labels {f}/null-label.parquet", "null-label.parquet", "Churn",
         model=True),
    case("roi --input {f}/missing.parquet", "--input", "missing.parquet", model=True),
    case("score --input {f}/batch.parquet --output {f}/folder", "folder", model=True),
]


def run(capsys, argv: list[str]) -> tuple[int, str, str]:
    try:
        code = main([*argv, "--quiet"])
    except SystemExit as done:  # argparse's own usage errors
        code = done.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A workspace with one model, trained without HPO and promoted (forced)."""
    ws = tmp_path_factory.mktemp("trained") / "ws"
    assert main(["train", "--workdir", str(ws), "--trials", "0", "--quiet"]) == 0
    assert main(["promote", "--workdir", str(ws), "--force", "--reason", "doors",
                 "--quiet"]) == 0
    return ws


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """Inputs of the cases: broken schemas, a folder, a file, a batch and its labels."""
    folder = tmp_path_factory.mktemp("files")
    (folder / "empty.json").write_text("{}")
    (folder / "list.json").write_text("[]")
    (folder / "folder").mkdir()
    (folder / "a_file").write_text("not a workspace")
    (folder / "figure.png").write_bytes(b"an existing figure")
    (folder / "loans.json").write_text(json.dumps(LOAN_SCHEMA.to_dict()))
    make_loans(300).to_csv(folder / "loans.csv", index=False)
    make_loans(300).assign(purpose="boat").to_csv(folder / "loans-boat.csv", index=False)
    assert main(["simulate", "--days", "2", "--rows-per-day", "20", "--quiet",
                 "--output", str(folder / "batch.parquet"),
                 "--labels-output", str(folder / "labels.parquet")]) == 0
    labels = pd.read_parquet(folder / "labels.parquet")
    labels.loc[3, "Churn"] = None
    labels.to_parquet(folder / "null-label.parquet", index=False)
    return folder


def snapshot(*folders: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folders`` with its size and mtime (a folder: its mtime)."""
    found = {}
    for folder in folders:
        if folder.exists():
            for path in [folder, *folder.rglob("*")]:
                stat = path.stat()
                found[str(path)] = (stat.st_size if path.is_file() else 0, stat.st_mtime_ns)
    return found


@pytest.mark.parametrize("door", CASES)
def test_bad_input_is_refused_with_a_message_and_writes_nothing(door, capsys, tmp_path,
                                                                files, request):
    ws = tmp_path / "ws"
    if door.model:
        copy_workspace(request.getfixturevalue("trained"), ws)
    else:
        ws.mkdir()
    argv = door.argv.format(ws=ws, f=files).split()
    if "--workdir" not in argv:
        argv += ["--workdir", str(ws)]
    before_ws, before_files = snapshot(ws), snapshot(files)
    code, _, err = run(capsys, argv)
    assert code == door.code, err
    assert "Traceback" not in err
    for fragment in door.fragments:
        assert fragment.format(ws=ws, f=files) in err, (fragment, err)
    assert snapshot(files) == before_files
    assert snapshot(ws) == before_ws
    assert not (ws / "mlflow.db").exists() or door.model


def test_simulate_overwrites_only_when_told(capsys, tmp_path):
    out = tmp_path / "stream.parquet"
    argv = ["simulate", "--days", "1", "--rows-per-day", "5", "--output", str(out)]
    assert run(capsys, argv)[0] == 0
    code, _, err = run(capsys, argv)
    assert code == 2 and "--overwrite" in err
    assert run(capsys, [*argv, "--overwrite"])[0] == 0
