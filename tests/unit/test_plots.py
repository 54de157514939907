"""Plotting helpers: they take data, return a Figure, and draw what the data says."""

import matplotlib
import pandas as pd
import pytest

from closedloop import plots
from closedloop.contract.plots import plot_rate_by

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def test_plot_loop_draws_every_stage_with_one_arrow_each():
    from matplotlib.figure import Figure
    from matplotlib.text import Annotation

    fig = plots.plot_loop(highlight=["quality gates"])
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    labels = {text.get_text() for text in ax.texts}
    assert {label for label, _ in plots.LOOP_STAGES} <= labels
    arrows = [text for text in ax.texts if isinstance(text, Annotation)]
    assert len(arrows) == len(plots.LOOP_STAGES)  # one arrow per stage, closing the loop


def test_plot_loop_rejects_an_unknown_phase():
    with pytest.raises(KeyError):
        plots.plot_loop([("a", "build"), ("b", "no such phase")])


def test_plot_rate_by_bars_are_the_group_rates():
    frame = pd.DataFrame({"plan": ["b", "a", "a", "b", "b"], "size": [3, 1, 2, 3, 1],
                          "left": [1, 0, 1, 0, 0]})
    fig = plot_rate_by(frame, "left", ["plan", "size"])
    plan, size = fig.axes
    assert [t.get_text() for t in plan.get_xticklabels()] == ["b", "a"]  # first-seen order
    assert [bar.get_height() for bar in plan.patches] == pytest.approx([1 / 3, 1 / 2])
    assert [t.get_text() for t in size.get_xticklabels()] == ["1", "2", "3"]  # numeric: sorted
    assert [bar.get_height() for bar in size.patches] == pytest.approx([0, 1, 1 / 2])
    assert plan.lines[0].get_ydata()[0] == pytest.approx(2 / 5)  # the overall rate


def test_plot_rate_by_accepts_a_separate_label():
    frame = pd.DataFrame({"plan": ["a", "b"]}, index=[10, 20])
    fig = plot_rate_by(frame, pd.Series([1, 0], index=[10, 20]), ["plan"])
    assert [bar.get_height() for bar in fig.axes[0].patches] == pytest.approx([1, 0])
