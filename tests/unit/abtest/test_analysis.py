"""Reading an A/B test: arm summaries, decisions, the simulation, plots and gated promotion."""

import shutil

import matplotlib
import pandas as pd
import pytest

from closedloop.abtest.analysis import decide, promote_winner, summarise_arms
from closedloop.abtest.design import group_sequential_design
from closedloop.abtest.plots import plot_arm_rates, plot_looks
from closedloop.abtest.simulation import simulate_ab

matplotlib.use("Agg")

DESIGN = group_sequential_design(5)
WIN = {"champion": (4000, 1080), "challenger": (4000, 940)}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def test_decisions_follow_the_boundary_and_the_direction():
    assert decide(WIN, DESIGN, 1).action == "continue"
    win = decide(WIN, DESIGN, 3, experiment="rv7", challenger_version="2")
    assert win.challenger_won and win.z < -win.boundary and win.ci[1] < 0
    assert win.ci[0] < win.naive_ci[0]  # the repeated interval is wider
    assert win.to_dict()["challenger_won"] and "<table>" in win._repr_html_()
    lose = {"champion": WIN["challenger"], "challenger": WIN["champion"]}
    assert decide(lose, DESIGN, 3).action == "champion_wins"
    assert decide(lose, DESIGN, 3, lower_is_better=False).action == "challenger_wins"
    even = {"champion": (7000, 1855), "challenger": (7000, 1850)}
    assert decide(even, DESIGN, 5).action == "no_difference"


def test_decide_reads_a_frame_of_outcomes_like_counts():
    frame = pd.DataFrame({"arm": ["champion"] * 100 + ["challenger"] * 100 + [None] * 5,
                          "churned": [1] * 30 + [0] * 70 + [1] * 20 + [0] * 80 + [1] * 5})
    summary = summarise_arms(frame)
    assert summary["n"].tolist() == [100, 100] and summary["rate"].tolist() == [0.3, 0.2]
    assert decide(frame, DESIGN, 5).z == pytest.approx(
        decide({"champion": (100, 30), "challenger": (100, 20)}, DESIGN, 5).z)


def test_simulation_table_and_its_plots():
    table = simulate_ab(p_challenger=0.225, seed=1)
    assert table["stop"].sum() == 1 and table.loc[table["stop"], "action"].item() == \
        "challenger_wins"
    assert table["fraction"].iloc[-1] == 1.0 and table["n_champion"].is_monotonic_increasing
    assert (table["day"].diff().dropna() > 0).all()
    fig = plot_looks(table)
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert "sequential boundary" in labels and "naive 1.96" in labels
    assert "true challenger rate" in [t.get_text() for t in
                                      plot_arm_rates(table).axes[0].get_legend().get_texts()]


# -- promotion through the registry --------------------------------------------------------------

@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    from closedloop.config import Workspace
    from closedloop.model import registry
    from closedloop.model.train import TrainConfig
    from tests.loans import LOAN_SCHEMA, make_loans

    workspace = Workspace.resolve(tmp_path_factory.mktemp("abtest"))
    loans = make_loans(800)
    for seed in (1, 2):
        registry.train_and_register(loans, LOAN_SCHEMA, workspace,
                                    TrainConfig(n_trials=0, seed=seed, split_seed=1, n_jobs=1),
                                    model_name="loans")
    return workspace


def _gate(workspace, version, champion=None):
    from closedloop.gates.checks import CheckResult
    from closedloop.gates.run import GateReport
    from closedloop.gates.version import log_gate_report

    log_gate_report(workspace, GateReport([CheckResult("floor.f1", True, 0.7, 0.5, "test")],
                                          {"name": "test"}, model_name="loans",
                                          model_version=version, champion_version=champion,
                                          champion=f"v{champion}" if champion else None))


def test_promote_winner_promotes_only_a_won_and_gated_challenger(registered, tmp_path):
    from closedloop.config import Workspace
    from closedloop.model import registry
    from closedloop.model.registry import RegistryError

    shutil.copytree(registered.root, tmp_path / "copy")
    ws = Workspace.resolve(tmp_path / "copy")
    _gate(ws, "1")
    registry.promote(ws, "1", reason="first champion", model_name="loans")
    with pytest.raises(ValueError, match="not promoting.*continue"):
        promote_winner(ws, decide(WIN, DESIGN, 1), reason="early", model_name="loans")
    won = decide(WIN, DESIGN, 3, experiment="rv7")
    with pytest.raises(RegistryError, match="no quality-gate verdict"):
        promote_winner(ws, won, reason="won the A/B test", model_name="loans")
    assert registry.aliases(ws, "loans")["champion"] == "1"
    _gate(ws, "2", champion="1")
    move = promote_winner(ws, won, reason="won the A/B test", model_name="loans")
    assert not move.forced and registry.aliases(ws, "loans")["champion"] == "2"
    audit = registry.audit_log(ws, "loans")
    assert "A/B test rv7, look 3 of 5: challenger_wins" in audit["reason"].iloc[-1]
