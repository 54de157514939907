"""Figures of the A/B test: the z statistic against its boundaries, and the arm rates by look.

See Also
--------
Chapter :doc:`Explain, check fairness, test in production </book/10_explain_fairness_abtest>`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ARM_COLOURS = {"champion": "#0072B2", "challenger": "#E69F00"}


def plot_looks(table: pd.DataFrame, *, x: str = "day",
               title: str = "z statistic at each look") -> Figure:
    """The z statistic at each look with the group-sequential (O'Brien-Fleming) boundaries and
    the naive +-1.96 lines; the look that stopped is circled, later looks are greyed.

    ``table`` is the per-look table of :func:`~closedloop.abtest.simulation.simulate_ab` (or
    any frame with ``z``, ``boundary``, ``naive_boundary``, ``stop``, ``after_stop`` and the
    ``x`` column).

    Examples
    --------
    >>> table = pd.DataFrame({"day": [10, 20], "z": [-1.0, -3.0], "boundary": [2.8, 1.98],
    ...                       "naive_boundary": 1.96, "stop": [False, True],
    ...                       "after_stop": [False, False]})
    >>> [line.get_label() for line in plot_looks(table).axes[0].get_lines()][:3]
    ['z (challenger - champion)', 'sequential boundary', 'naive 1.96']
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    xs = table[x].to_numpy()
    z = table["z"].to_numpy(dtype=float)
    bound = np.minimum(table["boundary"].to_numpy(dtype=float), 8.0)
    naive = table["naive_boundary"].to_numpy(dtype=float)
    ax.plot(xs, z, marker="o", color="0.15", label="z (challenger - champion)")
    ax.plot(xs, bound, color="#D55E00", linewidth=2, label="sequential boundary")
    ax.plot(xs, naive, color="#CC79A7", linestyle="--", label="naive 1.96")
    ax.plot(xs, -bound, color="#D55E00", linewidth=2)
    ax.plot(xs, -naive, color="#CC79A7", linestyle="--")
    ax.fill_between(xs, -bound, bound, color="#009E73", alpha=0.07, label="continue")
    after = table["after_stop"].to_numpy(dtype=bool)
    if after.any():
        ax.scatter(xs[after], z[after], color="0.7", zorder=3, label="after stopping")
    stop = table["stop"].to_numpy(dtype=bool)
    if stop.any():
        ax.scatter(xs[stop], z[stop], s=160, facecolors="none", edgecolors="#D55E00",
                   linewidths=2, zorder=4, label="stop")
    ax.axhline(0, color="0.5", linewidth=0.8)
    ax.set_xlabel(x)
    ax.set_ylabel("z")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig


def plot_arm_rates(table: pd.DataFrame, *, x: str = "day",
                   arms: tuple[str, ...] = ("champion", "challenger"),
                   title: str = "realised rate by arm") -> Figure:
    """Each arm's realised rate with its Wilson interval at every look (and the true rates when
    ``table.attrs["truth"]`` has them, as a simulation's table does).

    Examples
    --------
    >>> table = pd.DataFrame({"day": [10, 20], "rate_champion": [.27, .26],
    ...     "ci_low_champion": [.2, .22], "ci_high_champion": [.34, .3],
    ...     "rate_challenger": [.25, .24], "ci_low_challenger": [.18, .2],
    ...     "ci_high_challenger": [.32, .28]})
    >>> plot_arm_rates(table).axes[0].get_ylabel()
    'rate'
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    xs = table[x].to_numpy(dtype=float)
    width = 0.012 * (xs.max() - xs.min() if len(xs) > 1 else 1)
    truth = table.attrs.get("truth", {})
    for i, arm in enumerate(arms):
        rate = table[f"rate_{arm}"].to_numpy(dtype=float)
        low = table[f"ci_low_{arm}"].to_numpy(dtype=float)
        high = table[f"ci_high_{arm}"].to_numpy(dtype=float)
        colour = ARM_COLOURS.get(arm, f"C{i}")
        ax.errorbar(xs + (i - (len(arms) - 1) / 2) * width, rate,
                    yerr=[rate - low, high - rate], marker="o", capsize=3, color=colour,
                    label=arm)
        if arm in truth:
            ax.axhline(truth[arm], color=colour, linestyle=":", linewidth=1,
                       label=f"true {arm} rate")
    ax.set_xlabel(x)
    ax.set_ylabel("rate")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig
