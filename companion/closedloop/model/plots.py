"""Figures of the model stage: the hyperparameter search and the holdout curves.

See Also
--------
Chapter :doc:`Training, tuning and the registry </book/03_training>` for
:func:`plot_trials` and :func:`plot_roc_pr`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_trials(trials: pd.DataFrame, metric: str) -> Figure:
    """The HPO history: each trial's validation score and the best score so far.

    ``trials`` is the table :func:`closedloop.model.train.tune` returns (a ``number`` column and the
    ``metric`` column, in any order).

    Examples
    --------
    >>> table = pd.DataFrame({"number": [0, 1, 2], "valid_roc_auc": [0.80, 0.78, 0.83]})
    >>> line = plot_trials(table, "valid_roc_auc").axes[0].lines[0]
    >>> [float(v) for v in line.get_ydata()]
    [0.8, 0.8, 0.83]
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    ordered = trials.sort_values("number")
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.step(ordered["number"], ordered[metric].cummax(), where="post", color="#D55E00",
            label="best so far")
    ax.scatter(ordered["number"], ordered[metric], color="#0072B2", s=22, label="trial", zorder=3)
    ax.set(xlabel="trial", ylabel=metric, title="Hyperparameter search (validation split)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(frameon=False, loc="lower right")
    fig.tight_layout()
    return fig


def plot_roc_pr(y_true: np.ndarray, proba: np.ndarray, threshold: float, *,
                title: str = "holdout") -> Figure:
    """ROC and precision-recall curves, with the operating point at ``threshold`` marked.

    The PR panel draws the no-skill line at the positive rate: on imbalanced data that, not 0.5,
    is what a model has to beat.

    Examples
    --------
    >>> fig = plot_roc_pr(np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.9]), 0.5)
    >>> [ax.get_xlabel() for ax in fig.axes]
    ['false positive rate', 'recall']
    """
    import matplotlib.pyplot as plt
    from sklearn import metrics as skm

    y_true, proba = np.asarray(y_true), np.asarray(proba, dtype=float)
    predicted = proba >= threshold
    fig, (roc_ax, pr_ax) = plt.subplots(1, 2, figsize=(10, 4.2))
    fpr, tpr, _ = skm.roc_curve(y_true, proba)
    roc_ax.plot(fpr, tpr, color="#0072B2",
                label=f"ROC AUC {skm.roc_auc_score(y_true, proba):.3f}")
    roc_ax.plot([0, 1], [0, 1], linestyle="--", color="0.6", label="no skill")
    roc_ax.scatter([predicted[y_true == 0].mean()], [predicted[y_true == 1].mean()],
                   color="#D55E00", zorder=3, label=f"threshold {threshold:.2f}")
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC, {title}")
    precision, recall, _ = skm.precision_recall_curve(y_true, proba)
    pr_ax.plot(recall, precision, color="#0072B2",
               label=f"PR AUC {skm.average_precision_score(y_true, proba):.3f}")
    pr_ax.axhline(y_true.mean(), linestyle="--", color="0.6", label="no skill (prevalence)")
    pr_ax.scatter([predicted[y_true == 1].mean()], [y_true[predicted].mean()],
                  color="#D55E00", zorder=3, label=f"threshold {threshold:.2f}")
    pr_ax.set(xlabel="recall", ylabel="precision", title=f"Precision-recall, {title}")
    for ax in (roc_ax, pr_ax):
        ax.legend(frameon=False, loc="lower right" if ax is roc_ax else "upper right")
        ax.set(xlim=(0, 1), ylim=(0, 1.02))
    fig.tight_layout()
    return fig
