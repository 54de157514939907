"""Figures of the gate stage: champion-versus-challenger statistics and calibration.

See Also
--------
Chapter :doc:`Quality gates </book/04_quality_gates>` for :func:`plot_bootstrap_difference`
and :func:`plot_reliability`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd  # noqa: F401 (used by the doctests)

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_bootstrap_difference(comparisons: Sequence,
                              title: str = "challenger - champion") -> Figure:
    """The paired-bootstrap distribution of a challenger's improvement, one panel per metric.

    Each panel shades the non-inferiority zone (improvement above minus the margin), marks the
    interval that decided and, for ROC AUC, the DeLong interval beside the bootstrap one.
    ``comparisons`` are :class:`~closedloop.gates.compare.MetricComparison` objects, e.g. the values
    of :func:`closedloop.gates.compare.compare_models`.

    Examples
    --------
    >>> from closedloop.gates.compare import compare_models
    >>> y = np.tile([0, 1], 100)
    >>> out = pd.DataFrame({"prediction": y, "prediction_proba": np.where(y, .7, .3)})
    >>> result = compare_models(y, out, out, margins={"roc_auc": .02, "f1": .03}, n_bootstrap=50)
    >>> [ax.get_xlabel() for ax in plot_bootstrap_difference(list(result.values())).axes]
    ['roc_auc improvement', 'f1 improvement']
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(comparisons), figsize=(min(10.5, 5.2 * len(comparisons)), 4.2),
                             squeeze=False)
    for ax, c in zip(axes[0], comparisons):
        values = np.asarray(c.replicates, dtype=float)
        values = values[np.isfinite(values)]
        counts, _, _ = ax.hist(values, bins=40, color="#56B4E9", edgecolor="white",
                               label="bootstrap replicates")
        low, high = min(values.min(initial=0), -c.margin), max(values.max(initial=0), 0)
        pad = 0.12 * (high - low)
        ax.set_xlim(low - pad, high + pad)
        ax.axvspan(-c.margin, high + pad, color="#009E73", alpha=0.08,
                   label="non-inferior zone (above -margin)")
        ax.axvline(-c.margin, color="#009E73", linestyle="--", linewidth=1.2)
        ax.axvline(0, color="0.3", linewidth=1)
        top = counts.max()
        intervals = [("paired bootstrap", c.bootstrap_ci, "#0072B2", 1.12)]
        if getattr(c, "delong", None) is not None:
            intervals.append(("DeLong", (c.delong.ci_low, c.delong.ci_high), "#D55E00", 1.24))
        for label, (ci_low, ci_high), colour, height in intervals:
            ax.plot([ci_low, ci_high], [top * height] * 2, color=colour, linewidth=3,
                    solid_capstyle="butt", label=f"{label} {c.confidence:.0%} CI")
        ax.set_ylim(0, top * 1.35)
        ax.set(xlabel=f"{c.metric} improvement", ylabel="replicates",
               title=f"{c.metric}: {c.verdict.split(':')[0]}")
    handles = {h.get_label(): h for ax in axes[0] for h in ax.get_legend_handles_labels()[0]}
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=len(handles),
               frameon=False, fontsize=9)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def plot_reliability(y_true: np.ndarray, probas: dict[str, np.ndarray], *,
                     bins: int = 10) -> Figure:
    """Reliability diagram: observed rate against mean predicted probability, per model.

    Points sit in equal-width probability bins, sized by the rows they hold; the diagonal is a
    perfectly calibrated model. The legend gives each model's expected calibration error.

    Examples
    --------
    >>> y = np.array([0, 0, 1, 1, 0, 1])
    >>> fig = plot_reliability(y, {"model": np.array([.1, .2, .8, .7, .3, .9])}, bins=5)
    >>> fig.axes[0].get_xlabel()
    'mean predicted probability'
    """
    import matplotlib.pyplot as plt

    from closedloop.gates.checks import expected_calibration_error, reliability_table

    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.6", label="perfectly calibrated")
    colours = ["#0072B2", "#D55E00", "#009E73", "#CC79A7"]
    for (name, proba), colour in zip(probas.items(), colours * len(probas)):
        table = reliability_table(y_true, proba, bins)
        ece = expected_calibration_error(y_true, proba, bins)
        ax.plot(table["mean_predicted"], table["observed_rate"], color=colour, marker="o",
                markersize=0, label=f"{name} (ECE {ece:.3f})")
        ax.scatter(table["mean_predicted"], table["observed_rate"], color=colour,
                   s=20 + 400 * table["rows"] / table["rows"].sum(), zorder=3)
    ax.set(xlabel="mean predicted probability", ylabel="observed positive rate",
           xlim=(0, 1), ylim=(0, 1), aspect="equal", title="Reliability (holdout)")
    ax.legend(frameon=False, loc="upper left", fontsize=9)
    fig.tight_layout()
    return fig
