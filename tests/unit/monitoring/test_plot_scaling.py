"""The scaling figure: one line per work and one per baseline, log-log, from the benchmark JSON."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from closedloop.monitoring.plots import plot_scaling  # noqa: E402


def _results():
    rows = []
    for work, base, slope in (("drift", "numpy/scipy drift", 1e-6),
                              ("scoring", "raw predict_proba", 1e-5)):
        for n in (10_000, 100_000, 1_000_000):
            rows.append({"work": work, "rows": n, "windows": 1, "seconds": slope * n,
                         "baseline": base, "baseline_seconds": 3 * slope * n})
    rows.append({"work": "drift", "rows": 2_400_000, "windows": 30, "seconds": 9.0,
                 "baseline": "numpy/scipy drift", "baseline_seconds": 1.0})
    return {"results": rows}


def test_one_solid_line_per_work_and_a_dashed_one_per_baseline():
    fig = plot_scaling(_results())
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    labels = [line.get_label() for line in ax.lines]
    assert labels == ["drift", "drift baseline: numpy/scipy drift", "scoring",
                      "scoring baseline: raw predict_proba"]
    drift, drift_base = ax.lines[:2]
    assert list(drift.get_xdata()) == [10_000, 100_000, 1_000_000]   # one window only
    assert drift_base.get_linestyle() == "--" and drift.get_linestyle() == "-"
    assert list(drift_base.get_ydata()) == pytest.approx([0.03, 0.3, 3.0])


def test_the_30_window_records_are_drawn_on_request_and_bad_input_is_named():
    fig = plot_scaling(_results()["results"], windows=30)
    assert [list(line.get_ydata()) for line in fig.axes[0].lines] == [[9.0], [1.0]]
    with pytest.raises(ValueError, match="no result with 7 window"):
        plot_scaling(_results(), windows=7)
    with pytest.raises(ValueError, match="baseline_seconds"):
        plot_scaling([{"work": "drift", "rows": 1, "windows": 1, "seconds": 1.0,
                       "baseline": "x"}])
