"""Figures for the book: every plotting function takes data and returns a matplotlib ``Figure``.

matplotlib is imported inside the functions, so ``import closedloop`` stays light and works without
the ``book`` extra installed.

See Also
--------
Chapter "Introduction" (``book/01_introduction.ipynb``) for :func:`plot_loop`; chapter "Data contract
and features" (``book/02_data_contract.ipynb``) for :func:`plot_rate_by`; chapter "Training, tuning
and the registry" (``book/03_training.ipynb``) for :func:`plot_trials` and :func:`plot_roc_pr`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The stages of the closed loop, in order, each with the phase it belongs to.
LOOP_STAGES: tuple[tuple[str, str], ...] = (
    ("data contract", "build"),
    ("features", "build"),
    ("train (+HPO)", "build"),
    ("register\n@challenger", "release"),
    ("quality gates", "release"),
    ("promote\n@champion", "release"),
    ("score\n(batch | REST)", "operate"),
    ("inference log", "operate"),
    ("delayed ground\ntruth backfill", "monitor"),
    ("drift / realised /\nestimated accuracy", "monitor"),
    ("triggers", "monitor"),
    ("retrain", "build"),
)

#: One colour per phase of the loop (colour-blind safe, Okabe-Ito palette).
PHASE_COLOURS: dict[str, str] = {
    "build": "#56B4E9",
    "release": "#E69F00",
    "operate": "#009E73",
    "monitor": "#CC79A7",
}


def plot_loop(stages: Sequence[tuple[str, str]] = LOOP_STAGES,
              highlight: Sequence[str] = ()) -> Figure:
    """Draw the closed loop as a ring of stages joined by arrows, coloured by phase.

    Parameters
    ----------
    stages : sequence of tuple
        ``(label, phase)`` pairs in loop order; the last stage feeds back into the first.
        ``phase`` must be a key of :data:`PHASE_COLOURS`.
    highlight : sequence of str
        Labels of stages to draw with a thick outline (e.g. those a chapter covers).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_loop(highlight=["data contract"])
    >>> len(fig.axes)
    1
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(10, 7))
    angles = np.pi / 2 - 2 * np.pi * np.arange(len(stages)) / len(stages)
    xy = np.column_stack([1.3 * np.cos(angles), np.sin(angles)])  # wide: labels are wide
    for (label, phase), (x, y) in zip(stages, xy):
        ax.text(x, y, label, ha="center", va="center", fontsize=10, zorder=3, bbox={
            "boxstyle": "round,pad=0.45", "facecolor": PHASE_COLOURS[phase],
            "edgecolor": "black", "linewidth": 2.5 if label in highlight else 0.8})
    for start, end in zip(xy, np.roll(xy, -1, axis=0)):
        ax.annotate("", xy=start + 0.7 * (end - start), xytext=start + 0.3 * (end - start),
                    arrowprops={"arrowstyle": "-|>", "color": "0.3", "lw": 1.5}, zorder=2)
    ax.text(0, 0, "the closed loop", ha="center", va="center", fontsize=14, style="italic")
    ax.legend(handles=[Patch(facecolor=c, edgecolor="black", label=p)
                       for p, c in PHASE_COLOURS.items()],
              loc="lower right", bbox_to_anchor=(1.08, -0.02), frameon=False, title="phase")
    ax.set(xlim=(-1.7, 1.7), ylim=(-1.2, 1.2), aspect="equal")
    ax.axis("off")
    fig.tight_layout()
    return fig


def plot_rate_by(df: pd.DataFrame, label: pd.Series | str, by: Sequence[str],
                 *, title: str = "positive rate") -> Figure:
    """Bar charts of the positive-class rate per value of each column in ``by``.

    One panel per column, bars in the order the values first appear for categoricals (sorted for
    ordered or numeric columns), each bar annotated with its row count, and a dashed line at the
    overall rate. Bin a numeric column first (``pd.cut``) to show it here.

    Parameters
    ----------
    df : pandas.DataFrame
        The rows to summarise.
    label : pandas.Series or str
        The 0/1 label aligned with ``df``, or the name of a 0/1 column of ``df``
        (e.g. ``schema.target_as_int(df)``).
    by : sequence of str
        Columns of ``df`` to group by, one panel each.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> frame = pd.DataFrame({"plan": ["a", "a", "b", "b"], "left": [1, 0, 0, 0]})
    >>> fig = plot_rate_by(frame, "left", ["plan"])
    >>> [float(bar.get_height()) for bar in fig.axes[0].patches]
    [0.5, 0.0]
    """
    import matplotlib.pyplot as plt

    y = (df[label] if isinstance(label, str) else pd.Series(label, index=df.index)).astype(float)
    fig, axes = plt.subplots(1, len(by), figsize=(4.5 * len(by), 3.8), squeeze=False)
    for ax, column in zip(axes[0], by):
        stats = y.groupby(df[column], observed=True, sort=_sortable(df[column])).agg(
            ["mean", "size"])
        bars = ax.bar(stats.index.astype(str), stats["mean"], color="#56B4E9", edgecolor="black")
        ax.bar_label(bars, labels=[f"n={n:,}" for n in stats["size"]], fontsize=8, padding=2)
        ax.axhline(y.mean(), color="0.3", linestyle="--", linewidth=1, label="overall")
        ax.set(title=column, ylabel="rate", ylim=(0, min(1.0, stats["mean"].max() * 1.25 + 0.02)))
        ax.tick_params(axis="x", labelrotation=20)
    axes[0][0].legend(frameon=False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _sortable(values: pd.Series) -> bool:
    """Sort numeric and ordered categorical groups; keep first-seen order for plain text."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return True
    return pd.api.types.is_numeric_dtype(values)


def plot_trials(trials: pd.DataFrame, metric: str) -> Figure:
    """The HPO history: each trial's validation score and the best score so far.

    ``trials`` is the table :func:`closedloop.train.tune` returns (a ``number`` column and the
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
