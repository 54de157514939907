"""Arms in the inference log: batch scoring of an experiment logs each row's experiment and
arm; the A/B analysis reads them back with the backfilled labels (``arm_outcomes``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from closedloop.abtest import Experiment, arm_outcomes, decide, group_sequential_design
from closedloop.monitoring.ground_truth import backfill
from closedloop.monitoring.metrics import profile
from closedloop.monitoring.store import InferenceLog
from closedloop.scoring.batch import score_file
from tests.unit.serving.conftest import register_two

EXPERIMENT = Experiment("ab-batch", salt="batch-arms", coverage=0.8)


@pytest.fixture(scope="module")
def scored(telco, tmp_path_factory):
    """v1 @champion, v2 @challenger; one plain batch, then one experiment batch, labelled."""
    root = tmp_path_factory.mktemp("arms")
    workspace = register_two(telco, root)
    frame = telco.sample(400, random_state=3).reset_index(drop=True)
    plain, ab = frame.head(100), frame.tail(300).reset_index(drop=True)
    for part, name, when in ((plain, "plain", "2026-03-01"), (ab, "ab", "2026-03-02")):
        part.drop(columns=["Churn"]).to_parquet(root / f"{name}.parquet")
        score_file(workspace, root / f"{name}.parquet", root / f"{name}-out.parquet",
                   scored_at=when, experiment=EXPERIMENT if name == "ab" else None)
    return workspace, root, plain, ab


def test_batch_experiment_rows_carry_their_experiment_and_assigned_arm(scored):
    workspace, root, plain, ab = scored
    log = InferenceLog(workspace)
    logged = log.read(columns=["customerID", "model_version", "experiment", "arm"])
    assert len(logged) == 400 and list(log.read().columns) == log.columns  # default unchanged
    old = logged[logged["customerID"].isin(plain["customerID"])]
    assert old["arm"].isna().all() and old["experiment"].isna().all()  # no columns: nulls
    new = logged[logged["customerID"].isin(ab["customerID"])].set_index("customerID")
    expected = EXPERIMENT.assign(ab["customerID"].to_numpy(dtype=object))
    assert new.loc[ab["customerID"], "arm"].tolist() == list(expected)
    assert {"champion", "challenger", None} == set(expected)
    inside = pd.notna(expected)
    assert (new.loc[ab["customerID"][inside], "experiment"] == "ab-batch").all()
    assert new.loc[ab["customerID"][~inside], "experiment"].isna().all()
    versions = new.loc[ab["customerID"], "model_version"].to_numpy()
    assert (versions == np.where(expected == "challenger", "2", "1")).all()
    output = pd.read_parquet(root / "ab-out.parquet")
    assert output["arm"].tolist() == list(expected)  # the file and the log agree


def test_monitoring_windows_group_by_the_logged_arm(scored):
    workspace, *_ = scored
    table = profile(InferenceLog(workspace), "1d", by=["arm"])
    day = table[table["window_start"] == pd.Timestamp("2026-03-02")]
    counts = dict(zip(day["arm"].fillna("none"), day["row_count"]))
    assigned = pd.Series(EXPERIMENT.assign(
        scored[3]["customerID"].to_numpy(dtype=object))).fillna("none").value_counts()
    assert counts == assigned.to_dict()


def test_arm_outcomes_joins_logged_arms_with_backfilled_labels(scored, telco):
    workspace, _, plain, ab = scored
    before = arm_outcomes(workspace, EXPERIMENT)
    assert before.empty and before.attrs["unlabelled"] == int(
        pd.notna(EXPERIMENT.assign(ab["customerID"].to_numpy(dtype=object))).sum())
    labels = pd.concat([plain, ab])[["customerID", "Churn"]].assign(
        window_start="2026-03-01", window_end="2026-03-03", label_arrived_at="2026-04-01")
    backfill(workspace, labels.iloc[:-50])  # the last 50 customers' labels are still due
    outcomes = arm_outcomes(workspace, EXPERIMENT, labels_as_of="2026-04-02")
    known = ab.iloc[:-50]
    arms = EXPERIMENT.assign(known["customerID"].to_numpy(dtype=object))
    truth = known.assign(arm=arms).dropna(subset=["arm"]).set_index("customerID")
    assert sorted(outcomes["customerID"]) == sorted(truth.index)
    got = outcomes.set_index("customerID")
    assert (got["arm"] == truth.loc[got.index, "arm"]).all()
    assert (got["churned"] == (truth.loc[got.index, "Churn"] == "Yes").astype(int)).all()
    assert outcomes.attrs["unlabelled"] == int(pd.notna(EXPERIMENT.assign(
        ab["customerID"].iloc[-50:].to_numpy(dtype=object))).sum())
    assert arm_outcomes(workspace, EXPERIMENT, labels_as_of="2026-03-15").empty
    decision = decide(outcomes, group_sequential_design(1), 1)
    for arm in ("champion", "challenger"):
        assert decision.n[arm] == int((truth["arm"] == arm).sum())
    assert arm_outcomes(workspace, "another-experiment").empty


def test_arm_outcomes_refuses_arms_that_the_assignment_does_not_give(scored):
    workspace, *_ = scored
    reshuffled = Experiment("ab-batch", salt="another-salt", coverage=0.8)
    with pytest.raises(ValueError, match="assign"):
        arm_outcomes(workspace, reshuffled)


@pytest.mark.parametrize("option", [["--reasons", "2"], ["--experiment-salt", "s1"]])
def test_spark_refuses_reasons_and_experiments_at_the_door(scored, capsys, option):
    from closedloop.cli import main

    workspace, root, *_ = scored
    files = lambda: sorted((p, p.stat().st_size, p.stat().st_mtime_ns)  # noqa: E731
                           for p in workspace.root.rglob("*"))
    before = files()
    code = main(["score", "--workdir", str(workspace.root), "--input",
                 str(root / "ab.parquet"), "--output", str(root / "spark.parquet"),
                 "--engine", "spark", *option])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert option[0] in err and "--engine spark" in err and "use --engine pandas" in err
    assert not (root / "spark.parquet").exists() and files() == before
