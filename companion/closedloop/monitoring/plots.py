"""Figures of the monitoring stage: label arrival, metrics over time, drift and the estimate.

See Also
--------
Chapter :doc:`Ground truth and production accuracy </book/05_ground_truth>` for
:func:`plot_label_timeline` and :func:`plot_metrics_over_time`; chapter :doc:`Drift and estimated performance </book/06_drift_and_estimation>` for :func:`plot_drift_heatmap`,
:func:`plot_psi_bands`, :func:`plot_estimate` and :func:`plot_scaling`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def plot_label_timeline(coverage: pd.DataFrame, *,
                        title: str = "Labels arrive late: coverage by prediction day") -> Figure:
    """The delayed-label timeline: label coverage of each prediction window, as of several dates.

    ``coverage`` is the table :func:`closedloop.monitoring.metrics.label_coverage` returns
    (``window_start``, ``as_of``, ``label_coverage``). One line per ``as_of`` date, darker for
    later dates, each ending at its date (a dotted vertical line).

    Examples
    --------
    >>> table = pd.DataFrame({
    ...     "window_start": pd.to_datetime(["2026-01-01", "2026-01-02"] * 2),
    ...     "as_of": pd.to_datetime(["2026-01-03"] * 2 + ["2026-01-09"] * 2),
    ...     "label_coverage": [0.2, 0.0, 1.0, 0.9]})
    >>> [len(line.get_xdata()) for line in plot_label_timeline(table).axes[0].lines[::2]]
    [2, 2]
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    dates = sorted(coverage["as_of"].unique())
    colours = plt.get_cmap("Blues")(np.linspace(0.4, 1.0, len(dates)))
    for date, colour in zip(dates, colours):
        part = coverage[coverage["as_of"] == date].sort_values("window_start")
        ax.plot(part["window_start"], part["label_coverage"], color=colour, marker="o",
                markersize=3, label=f"as of {pd.Timestamp(date):%Y-%m-%d}")
        ax.axvline(date, color=colour, linestyle=":", linewidth=1)
    ax.set(xlabel="prediction day", ylabel="share of predictions labelled", ylim=(-0.02, 1.05),
           title=title)
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def plot_metrics_over_time(table: pd.DataFrame, metrics: Sequence[str] = ("accuracy",
                                                                          "f1_binary"), *,
                           group: str | None = None, min_labelled: int = 1,
                           events: dict[str, object] | None = None,
                           title: str = "Production accuracy") -> Figure:
    """Metrics per time window over label coverage: what is known, and on how many labels.

    ``table`` is a :func:`closedloop.monitoring.metrics.profile` table. The top panel draws each
    metric per window, at the window's middle (one line per value of ``group`` when given,
    e.g. ``"Contract"``), leaving out windows with fewer than ``min_labelled`` labels; the
    bottom panel shows the share of each window's predictions that are labelled. ``events`` marks dates (a label for
    each) on both panels, e.g. when a drift scenario starts.

    Examples
    --------
    >>> table = pd.DataFrame({
    ...     "window_start": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"]),
    ...     "row_count": [10, 10, 10], "labelled_count": [10, 5, 0],
    ...     "accuracy": [0.8, 0.7, np.nan], "f1_binary": [0.6, 0.5, np.nan]})
    >>> fig = plot_metrics_over_time(table, min_labelled=6)
    >>> [[float(y) for y in line.get_ydata()] for line in fig.axes[0].lines]
    [[0.8], [0.6]]
    """
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1.2]})
    shown = table[table["labelled_count"] >= min_labelled]
    groups = [(None, shown)] if group is None else list(shown.groupby(group, dropna=False))
    styles = ["-", "--", ":", "-."]
    for m, metric in enumerate(metrics):
        for g, (value, part) in enumerate(groups):
            part = part.sort_values("window_start")
            label = metric if value is None else f"{metric}, {group}={value}"
            top.plot(_window_middle(part), part[metric], marker="o", markersize=3,
                     linestyle=styles[m % len(styles)], label=label,
                     color=f"C{g if group else m}")
    totals = table.groupby("window_start")[["labelled_count", "row_count"]].sum()
    middle = _window_middle(table.drop_duplicates("window_start").set_index("window_start")
                            .reindex(totals.index).reset_index())
    days = np.diff(totals.index.to_numpy()).astype("timedelta64[s]").astype(float) / 86_400
    bottom.bar(middle, totals["labelled_count"] / totals["row_count"], color="#56B4E9",
               width=0.8 * (np.median(days) if len(days) else 1.0), edgecolor="none")
    for i, (name, when) in enumerate((events or {}).items()):
        for ax in (top, bottom):
            ax.axvline(pd.Timestamp(when), color="#D55E00", linestyle="--", linewidth=1)
        _event_label(top, name, when, i, color="#D55E00")
    top.set(ylabel="metric (labelled rows)", title=title)
    top.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    bottom.set(ylabel="label\ncoverage", ylim=(0, 1.05), xlabel="prediction window")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def _event_label(ax: Axes, name: str, when: object, i: int, color: str = "0.3") -> None:
    """Label the event line at ``when`` inside the top of ``ax``; the i-th event a line lower,
    on a white box, so labels of nearby events and the data under them stay readable."""
    ax.annotate(name, (pd.Timestamp(when), 1.0), xycoords=("data", "axes fraction"),
                xytext=(3, -13 - 13 * i), textcoords="offset points", color=color,
                fontsize=9, bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85,
                                  "pad": 1})


def _window_middle(table: pd.DataFrame) -> pd.Series:
    """Middle of each window (its start when the table has no ``window_end``)."""
    start = pd.to_datetime(table["window_start"])
    if "window_end" not in table.columns:
        return start
    return start + (pd.to_datetime(table["window_end"]) - start) / 2


#: Colours of the PSI bands, from stable to significant (colour-blind safe).
PSI_BAND_COLOURS: tuple[str, str, str] = ("#E8F1F8", "#F0E442", "#D55E00")


def plot_drift_heatmap(table: pd.DataFrame, *, drift_type: str = "BASELINE",
                       bands: tuple[float, float] = (0.1, 0.25),
                       events: dict[str, object] | None = None,
                       title: str = "Drift from the baseline (PSI)") -> Figure:
    """The drift heat map: columns x windows, coloured by PSI band, drift decisions marked.

    ``table`` is a :func:`closedloop.monitoring.drift.drift_metrics` table. Each cell's colour is
    its PSI band (below ``bands[0]`` stable, up to ``bands[1]`` moderate, beyond significant); a
    dot marks a column whose values drifted by the decision rule, a square one whose null rate
    did, a "T" one that arrived with the wrong type. ``events`` marks dates (a label each),
    e.g. the start of a drift scenario.

    Examples
    --------
    >>> t = pd.DataFrame({"window_start": pd.to_datetime(["2026-01-05"] * 2 + ["2026-01-12"] * 2),
    ...                   "drift_type": "BASELINE", "column_name": ["a", "b"] * 2,
    ...                   "population_stability_index": [0.01, 0.2, 0.02, 0.6],
    ...                   "drift_reason": ["", "", "", "values"]})
    >>> fig = plot_drift_heatmap(t)
    >>> fig.axes[0].images[0].get_array().shape, len(fig.axes[0].collections[0].get_offsets())
    ((2, 2), 1)
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    chosen = table[table["drift_type"] == drift_type]
    order = list(dict.fromkeys(chosen["column_name"]))
    psi = chosen.pivot(index="column_name", columns="window_start",
                       values="population_stability_index").loc[order]
    reason = chosen.pivot(index="column_name", columns="window_start",
                          values="drift_reason").loc[order].fillna("")
    width = min(10.0, max(6.0, 0.42 * psi.shape[1] + 3))  # wider would shrink on the page
    fig, ax = plt.subplots(figsize=(width, 0.3 * len(order) + 1.8))
    norm = BoundaryNorm([0.0, *bands, np.inf], 3)
    ax.imshow(psi.to_numpy(float), cmap=ListedColormap(PSI_BAND_COLOURS), norm=norm,
              aspect="auto", interpolation="nearest")
    marks = {"values": ("o", "black", "values drifted"), "nulls": ("s", "none", "null rate"),
             "type": ("$T$", "black", "wrong type")}
    for key, (marker, face, label) in marks.items():
        rows, cols = np.nonzero(reason.apply(lambda c: c.str.contains(key)).to_numpy())
        ax.scatter(cols, rows, marker=marker, s=28, facecolors=face, edgecolors="black",
                   linewidths=1.0, label=label)
    starts = list(psi.columns)
    for name, when in (events or {}).items():
        # the left edge of the window holding the event
        x = np.searchsorted(np.asarray(starts, dtype="datetime64[ns]"),
                            np.datetime64(pd.Timestamp(when)), side="right") - 1.5
        ax.axvline(x, color="#0072B2", linewidth=2)
        ax.annotate(name, (x, 0.0), xycoords=("data", "axes fraction"), xytext=(3, 3),
                    textcoords="offset points", color="#0072B2", fontsize=8,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
    ax.set_yticks(range(len(order)), order, fontsize=8)
    step = max(1, len(starts) // 16)
    ax.set_xticks(range(0, len(starts), step),
                  [f"{pd.Timestamp(s):%m-%d}" for s in starts[::step]], fontsize=8, rotation=45)
    ax.set(xlabel="window start", title=title)
    patches = [Patch(facecolor=c, edgecolor="0.5", label=l) for c, l in zip(
        PSI_BAND_COLOURS, (f"PSI < {bands[0]}", f"{bands[0]} to {bands[1]}", f">= {bands[1]}"))]
    handles = patches + ax.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False,
              fontsize=8)
    fig.tight_layout()
    return fig


def plot_psi_bands(table: pd.DataFrame, columns: Sequence[str], *,
                   drift_type: str = "BASELINE", bands: tuple[float, float] = (0.1, 0.25),
                   title: str = "PSI over time, against its bands") -> Figure:
    """PSI of a few columns per window, drawn over the stable / moderate / significant bands.

    Examples
    --------
    >>> t = pd.DataFrame({"window_start": pd.to_datetime(["2026-01-05", "2026-01-12"]),
    ...                   "drift_type": "BASELINE", "column_name": "a",
    ...                   "population_stability_index": [0.02, 0.4]})
    >>> [float(y) for y in plot_psi_bands(t, ["a"]).axes[0].lines[0].get_ydata()]
    [0.02, 0.4]
    """
    import matplotlib.pyplot as plt

    chosen = table[table["drift_type"] == drift_type]
    fig, ax = plt.subplots(figsize=(9, 3.8))
    top = max(bands[1] * 1.6, float(chosen["population_stability_index"].max()) * 1.1)
    for (low, high), colour in zip([(0, bands[0]), bands, (bands[1], top)], PSI_BAND_COLOURS):
        ax.axhspan(low, high, color=colour, alpha=0.45, linewidth=0)
    lines = ("#0072B2", "#000000", "#009E73", "#CC79A7", "#56B4E9")  # none of the band colours
    for i, column in enumerate(columns):
        part = chosen[chosen["column_name"] == column].sort_values("window_start")
        ax.plot(part["window_start"], part["population_stability_index"], marker="o",
                markersize=3, label=column, color=lines[i % len(lines)])
    ax.set(ylabel="PSI", ylim=(0, top), xlabel="window start", title=title)
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def plot_estimate(table: pd.DataFrame, metrics: Sequence[str] = ("accuracy", "f1_binary"), *,
                  events: dict[str, object] | None = None,
                  title: str = "Estimated (CBPE) and realised performance") -> Figure:
    """Estimated metric per window with its sampling band, and the realised metric once known.

    ``table`` is a :meth:`closedloop.monitoring.estimate.CBPE.estimate` table. One panel per
    metric: the band (shaded), the estimate (line), the realised value where labels have
    arrived (dots; crosses when outside the band). ``events`` marks dates, a label each.

    Examples
    --------
    >>> t = pd.DataFrame({"window_start": pd.to_datetime(["2026-01-05", "2026-01-12"]),
    ...                   "metric": "accuracy", "estimated": [0.8, 0.8], "lower": [0.75, 0.75],
    ...                   "upper": [0.85, 0.85], "realised": [0.82, 0.6]})
    >>> ax = plot_estimate(t, ["accuracy"]).axes[0]
    >>> [len(c.get_offsets()) for c in ax.collections[1:]]
    [1, 1]
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(metrics), 1, figsize=(10, 2.6 * len(metrics) + 0.6),
                             sharex=True, squeeze=False)
    for ax, metric in zip(axes[:, 0], metrics):
        part = table[table["metric"] == metric].sort_values("window_start")
        x = part["window_start"]
        ax.fill_between(x, part["lower"], part["upper"], color="#56B4E9", alpha=0.3,
                        linewidth=0, label="sampling band")
        ax.plot(x, part["estimated"], color="#0072B2", label="estimated (no labels)")
        known = part[part["realised"].notna()]
        inside = known["realised"].between(known["lower"], known["upper"])
        ax.scatter(known.loc[inside, "window_start"], known.loc[inside, "realised"],
                   color="#D55E00", s=16, zorder=3, label="realised, in band")
        ax.scatter(known.loc[~inside, "window_start"], known.loc[~inside, "realised"],
                   color="#D55E00", marker="x", s=30, zorder=3, label="realised, outside")
        for i, (name, when) in enumerate((events or {}).items()):
            ax.axvline(pd.Timestamp(when), color="0.3", linestyle="--", linewidth=1)
            _event_label(ax, name, when, i)
        ax.set(ylabel=metric)
    axes[0, 0].set_title(title)
    axes[0, 0].legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes[-1, 0].set_xlabel("prediction window")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


#: Line colour of each work in :func:`plot_scaling` (its baseline is dashed, same colour).
_SCALING_COLOURS = {"drift": "tab:blue", "estimate": "tab:orange", "scoring": "tab:green"}


def plot_scaling(results: dict | Sequence[dict], *, windows: int = 1,
                 title: str = "How the cost grows with rows") -> Figure:
    """Seconds against rows on log-log axes: one solid line per work, its baseline dashed.

    ``results`` is what ``benchmarks/bench_scaling.py`` writes (the dict with a ``results``
    list, or that list): one record per work and size with ``work``, ``rows``, ``windows``,
    ``seconds``, ``baseline`` and ``baseline_seconds``. Only the records with ``windows``
    windows are drawn.

    Examples
    --------
    >>> rows = [{"work": "drift", "rows": n, "windows": 1, "seconds": n / 1e6,
    ...          "baseline": "numpy", "baseline_seconds": n / 2e5} for n in (10**4, 10**6)]
    >>> fig = plot_scaling(rows)
    >>> [line.get_label() for line in fig.axes[0].lines]
    ['drift', 'drift baseline: numpy']
    """
    import matplotlib.pyplot as plt

    records = results["results"] if isinstance(results, dict) else list(results)
    table = pd.DataFrame([r for r in records if r.get("windows", 1) == windows])
    if table.empty:
        raise ValueError(f"no result with {windows} window(s) to plot")
    missing = {"work", "rows", "seconds", "baseline", "baseline_seconds"} - set(table.columns)
    if missing:
        raise ValueError(f"the results lack the field(s) {sorted(missing)}")
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for work, part in table.groupby("work", sort=False):
        part = part.sort_values("rows")
        colour = _SCALING_COLOURS.get(str(work), None)
        ax.plot(part["rows"], part["seconds"], marker="o", color=colour, label=str(work))
        ax.plot(part["rows"], part["baseline_seconds"], marker="s", linestyle="--",
                color=colour, alpha=0.7, label=f"{work} baseline: {part['baseline'].iloc[0]}")
    ax.set(xscale="log", yscale="log", xlabel="rows", ylabel="seconds (best run)", title=title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
