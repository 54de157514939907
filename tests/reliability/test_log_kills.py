"""The inference log survives SIGKILL: whole-or-nothing batches, exact re-runs, reaped leftovers.

Each case copies a workspace whose version 1 (Telco, no HPO) is promoted, built once per run
(``telco_champion`` in ``conftest.py``). The real
``python -m closedloop.cli score`` and ``backfill`` run in subprocesses that kill themselves at a
named fault point (``CLOSEDLOOP_FAULT``, see :func:`closedloop.monitoring._storage.fault`) or are
killed after a random delay (seeded; the seed is printed). Afterwards every committed batch is
whole, a re-run of the same command succeeds and ends exactly where an uninterrupted run does
(same rows, no duplicates), and the leftovers of the killed writer are reaped by the next write.
Two concurrent writers and a reader lose and duplicate nothing.
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from closedloop.config import Workspace
from closedloop.monitoring.store import InferenceLog, prediction_ids
from closedloop.scoring._columns import content_digest
from tests.reliability.workspaces import copy_workspace

pytestmark = pytest.mark.slow

COMPANION = str(Path(__file__).resolve().parents[2] / "companion")
REPO = str(Path(__file__).resolve().parents[2])
FAULT_ENV, DELAY_ENV = "CLOSEDLOOP_FAULT", "CLOSEDLOOP_FAULT_DELAY"
ROWS = 200


def env(**extra):
    """This environment without fault injection, this tree's package first, plus ``extra``."""
    clean = {k: v for k, v in os.environ.items() if k not in (FAULT_ENV, DELAY_ENV)}
    return {**clean, "PYTHONPATH": os.pathsep.join([COMPANION, REPO]),
            "MLFLOW_DISABLE_TELEMETRY": "true", **extra}


def cli(*argv, extra=None, wait=True):
    command = [sys.executable, "-m", "closedloop.cli", *argv]
    if not wait:
        return subprocess.Popen(command, env=env(**(extra or {})), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, env=env(**(extra or {})), capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Two input files of ROWS Telco customers each (no label)."""
    from closedloop.contract.telco import load_telco

    folder = tmp_path_factory.mktemp("log_kills")
    telco = load_telco().drop(columns=["Churn"])
    telco.iloc[:ROWS].to_parquet(folder / "in1.parquet", index=False)
    telco.iloc[ROWS:2 * ROWS].to_parquet(folder / "in2.parquet", index=False)
    return folder


@pytest.fixture()
def case(telco_champion, inputs, tmp_path):
    """A copy of the workspace whose version 1 is champion (nothing logged), and the inputs."""
    copy_workspace(telco_champion, tmp_path / "ws")
    for name in ("in1.parquet", "in2.parquet"):
        shutil.copy(inputs / name, tmp_path / name)
    return tmp_path


def score_argv(case, source="in1.parquet", output="out.parquet"):
    return ["score", "--workdir", str(case / "ws"), "--input", str(case / source), "--output",
            str(case / output), "--quiet"]


def expected_ids(case, source="in1.parquet"):
    """The prediction ids an uninterrupted run logs: model v1, the file's content digest."""
    frame = pd.read_parquet(case / source)
    return set(prediction_ids(frame["customerID"], pd.Series([pd.Timestamp(0)] * len(frame)),
                              "closedloop-churn", "1", content_key=content_digest(case / source)))


def assert_whole(log):
    """Every committed batch file is readable and whole (each input has ROWS rows)."""
    for path in log.batch_files():
        assert len(pd.read_parquet(path)) == ROWS, path
    raw = log.query("SELECT count(*) AS n, count(DISTINCT prediction_id) AS d FROM predictions")
    assert raw["n"].iloc[0] == raw["d"].iloc[0]


def age_leftovers(folder):
    """Make the hidden leftovers of a killed writer look an hour old; return them."""
    found = [p for p in folder.glob(".*") if p.name != ".lock"] if folder.is_dir() else []
    for path in found:
        os.utime(path, (time.time() - 3600,) * 2)
    return found


@pytest.mark.parametrize("point", ["score:after_output", "score:after_log_partial"])
def test_a_killed_score_is_rerun_exactly(case, point):
    log = InferenceLog(Workspace(case / "ws"))
    killed = cli(*score_argv(case), extra={FAULT_ENV: point})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (case / "out.parquet").exists()   # the output is in place before the log
    assert log.batch_files() == []           # ... and the batch is not committed
    leftovers = age_leftovers(log.predictions_dir)
    # The log batch is written beside the output file: killed once the output is in place,
    # its temporary file may be there or not; killed before its commit, it is there.
    assert leftovers or point == "score:after_output"
    rerun = cli(*score_argv(case))           # a plain retry: same file, same output
    assert rerun.returncode == 0, rerun.stderr
    assert_whole(log)
    assert set(log.read()["prediction_id"]) == expected_ids(case) and len(log) == ROWS
    assert not any(p.exists() for p in leftovers)   # reaped by the next write
    again = cli(*score_argv(case))           # once more: nothing logged twice
    assert again.returncode == 0 and len(log.batch_files()) == 1


@pytest.mark.parametrize("point", ["backfill:after_check", "backfill:after_label_partial",
                                   "backfill:after_append"])
def test_a_killed_backfill_is_rerun_exactly(case, point):
    log = InferenceLog(Workspace(case / "ws"))
    assert cli(*score_argv(case)).returncode == 0
    ids = log.read()["prediction_id"]
    labels = case / "labels.parquet"
    pd.DataFrame({"prediction_id": ids, "ground_truth": [i % 2 for i in range(len(ids))],
                  "label_arrived_at": pd.Timestamp("2026-02-01")}).to_parquet(labels)
    argv = ["backfill", "--workdir", str(case / "ws"), "--labels", str(labels), "--json"]
    killed = cli(*argv, extra={FAULT_ENV: point})
    assert killed.returncode == -signal.SIGKILL
    stored = log.read()["ground_truth"]
    assert stored.notna().sum() in (0, ROWS)   # whole or nothing
    leftovers = age_leftovers(log.labels_dir)
    rerun = cli(*argv)
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    assert report["conflicting"] == 0 and report["matched"] + report["already_present"] == ROWS
    final = log.read().set_index("prediction_id")["ground_truth"]
    assert final.notna().all() and (final.loc[ids].to_numpy() == [i % 2 for i in
                                                                 range(len(ids))]).all()
    assert len(log.batch_files(labels=True)) == 1
    assert not any(p.exists() for p in leftovers if p.suffix == ".tmp")   # reaped


def test_scores_killed_at_random_moments_are_rerun_exactly(case):
    seed = int(os.environ.get("CLOSEDLOOP_KILL_SEED", random.SystemRandom().randrange(10**6)))
    print(f"random kill seed: {seed} (CLOSEDLOOP_KILL_SEED={seed} replays it)")
    rng = random.Random(seed)
    log = InferenceLog(Workspace(case / "ws"))
    for attempt in range(3):
        # Each fault point sleeps 0.3 s, so the kill lands inside the writes more often.
        proc = cli(*score_argv(case), extra={DELAY_ENV: "0.3"}, wait=False)
        time.sleep(rng.uniform(2.0, 12.0))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        assert_whole(log)
        assert len(log) in (0, ROWS), f"seed {seed}, attempt {attempt}"
        age_leftovers(log.predictions_dir)
        age_leftovers(case)
    rerun = cli(*score_argv(case))
    assert rerun.returncode == 0, f"seed {seed}: {rerun.stderr}"
    assert_whole(log)
    assert set(log.read()["prediction_id"]) == expected_ids(case) and len(log) == ROWS
    hidden = [p.name for p in [*log.predictions_dir.glob(".*"), *case.glob(".*")]]
    assert hidden == [], f"seed {seed}: leftovers {hidden}"


def test_two_concurrent_writers_and_a_reader_lose_and_duplicate_nothing(case):
    log = InferenceLog(Workspace(case / "ws"))
    writers = [cli(*score_argv(case, "in1.parquet", "a.parquet"), wait=False),
               cli(*score_argv(case, "in2.parquet", "b.parquet"), wait=False),
               cli(*score_argv(case, "in1.parquet", "c.parquet"), wait=False)]
    seen = set()
    while any(w.poll() is None for w in writers):
        assert_whole(log)
        seen.add(len(log))
        time.sleep(0.05)
    for writer in writers:
        assert writer.communicate()[0] is not None and writer.returncode == 0
    assert seen <= {0, ROWS, 2 * ROWS}       # a reader never sees part of a batch
    assert_whole(log)
    ids = set(log.read()["prediction_id"])
    assert ids == expected_ids(case, "in1.parquet") | expected_ids(case, "in2.parquet")
    assert len(log) == 2 * ROWS and len(log.batch_files()) == 2
