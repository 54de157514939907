"""Figures of the fairness checks: per-group rates with intervals, a disparity over time.

See Also
--------
Chapter :doc:`Explain, check fairness, test in production </book/10_explain_fairness_abtest>`
for :func:`plot_group_rates`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from closedloop.fairness.metrics import GROUP_RATES, FairnessReport

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")


def plot_group_rates(report: FairnessReport, column: str | None = None,
                     rates: Sequence[str] = GROUP_RATES) -> Figure:
    """One panel per rate: each group's value as a dot with its bootstrap interval, the
    groups' actual positive rate (base rate) as a grey tick in the selection-rate panel.

    Examples
    --------
    >>> from closedloop.fairness.metrics import fairness_report
    >>> rng = np.random.default_rng(0)
    >>> frame = pd.DataFrame({"ground_truth": rng.integers(0, 2, 300),
    ...                       "prediction": rng.integers(0, 2, 300),
    ...                       "senior": rng.integers(0, 2, 300)})
    >>> fig = plot_group_rates(fairness_report(frame, ["senior"], n_bootstrap=50))
    >>> [ax.get_title() for ax in fig.axes]
    ['selection_rate', 'tpr', 'fpr', 'precision']
    """
    import matplotlib.pyplot as plt

    column = report.sensitive[0] if column is None else column
    groups = report.groups[report.groups["column"] == column].reset_index(drop=True)
    fig, axes = plt.subplots(1, len(rates), figsize=(3.2 * len(rates), 0.45 * len(groups) + 1.8),
                             sharey=True, squeeze=False)
    y = np.arange(len(groups))
    for ax, rate in zip(axes[0], rates):
        value = groups[rate].to_numpy()
        low = np.nan_to_num(value - groups[f"{rate}_low"].to_numpy())
        high = np.nan_to_num(groups[f"{rate}_high"].to_numpy() - value)
        for i in y:
            ax.errorbar(value[i], i, xerr=[[low[i]], [high[i]]], fmt="o", capsize=3,
                        color=_COLOURS[i % len(_COLOURS)])
        if rate == "selection_rate":
            ax.scatter(groups["base_rate"], y, marker="|", s=200, color="grey",
                       label="actual positive rate")
            ax.legend(loc="lower right", fontsize="small")
        ax.set_title(rate)
        ax.set_xlim(0, 1)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(y, [f"{column} = {g}" for g in groups["group"]])
    axes[0][0].set_ylim(-0.6, len(groups) - 0.4)
    fig.tight_layout()
    return fig


def plot_fairness_by_window(table: pd.DataFrame, limit: float | None = None) -> Figure:
    """A disparity per window (the output of
    :func:`~closedloop.fairness.metrics.fairness_by_window`) with its interval band, one line
    per sensitive column; ``limit`` draws an alert line."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2))
    for i, (column, part) in enumerate(table.groupby("column", sort=False)):
        colour = _COLOURS[i % len(_COLOURS)]
        ax.plot(part["window_start"], part["value"], marker="o", color=colour, label=column)
        ax.fill_between(part["window_start"], part["ci_low"], part["ci_high"], color=colour,
                        alpha=0.2)
    if limit is not None:
        ax.axhline(limit, color="#D55E00", ls="--", lw=1, label=f"limit {limit:g}")
    ax.set_ylabel(table["metric"].iloc[0] if len(table) else "disparity")
    ax.legend(fontsize="small")
    fig.autofmt_xdate()
    return fig
