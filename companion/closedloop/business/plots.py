"""Figures of the business stage.

See Also
--------
Chapter :doc:`Batch inference and business impact </book/07_batch_and_business>` for
:func:`plot_profit_curve`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_profit_curve(curves: dict | object, *, title: str = "profit curve") -> Figure:
    """Net value against the targeting threshold, with the business- and F1-optimal thresholds.

    ``curves`` is one :class:`~closedloop.business.value.ProfitCurve` or a ``{label: curve}`` dict
    (several models on the same customers). The curve's objective (realised value with labels,
    expected value without) is drawn solid, the expected value dashed when both exist; a
    circle marks the business-optimal threshold and a cross the F1-optimal one, so the money
    left on the table by optimising F1 is the vertical gap between them.

    Examples
    --------
    >>> from closedloop.business.templates import BusinessModel
    >>> from closedloop.business.value import profit_curve
    >>> curve = profit_curve([1, 0, 1, 0], [0.9, 0.6, 0.4, 0.1], BusinessModel("d", 1000, 100, .5))
    >>> fig = plot_profit_curve(curve)
    >>> [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    ['model: realised net', 'model: expected net', 'business-optimal 0.40', 'F1-optimal 0.40']
    """
    import matplotlib.pyplot as plt

    curves = curves if isinstance(curves, dict) else {"model": curves}
    colours = ["#0072B2", "#D55E00", "#009E73", "#CC79A7"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for (label, curve), colour in zip(curves.items(), colours * len(curves)):
        table, currency = curve.table, curve.business.currency
        ax.plot(table["threshold"], table[curve.objective], color=colour,
                label=f"{label}: {curve.objective.replace('_', ' ')}")
        if curve.objective != "expected_net":
            ax.plot(table["threshold"], table["expected_net"], color=colour, linestyle="--",
                    linewidth=1, label=f"{label}: expected net")
        ax.scatter([curve.best_threshold], [curve.best_value], color=colour, zorder=3, s=40,
                   label=f"business-optimal {curve.best_threshold:.2f}")
        ax.axvline(curve.best_threshold, color=colour, linestyle=":", linewidth=1)
        if curve.f1_threshold is not None:
            ax.scatter([curve.f1_threshold], [curve.f1_value], color=colour, marker="x", s=60,
                       zorder=3, label=f"F1-optimal {curve.f1_threshold:.2f}")
    ax.axhline(0, color="0.5", linewidth=0.8)
    ax.set(xlabel="threshold (target customers with a score at or above it)",
           ylabel=f"net value ({currency})", title=title, xlim=(0, 1))
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
