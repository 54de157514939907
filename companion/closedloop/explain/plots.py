"""Figures of the explanations: global importance and the spread of contributions per column.

See Also
--------
Chapter :doc:`Explain, check fairness, test in production </book/10_explain_fairness_abtest>`
for :func:`plot_summary`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from closedloop.explain.reasons import Explanation, global_importance

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def plot_importance(explanation: Explanation, top: int = 15, ax: Axes | None = None) -> Figure:
    """Horizontal bars: mean absolute contribution (log-odds) of the ``top`` strongest columns."""
    import matplotlib.pyplot as plt

    importance = global_importance(explanation).head(top)[::-1]
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.3 * len(importance) + 1.2))
    ax.barh(importance.index, importance.to_numpy(), color="#0072B2")
    ax.set_xlabel("mean |contribution| (log-odds)")
    ax.set_title("global importance")
    return ax.figure


def _colour_values(values: pd.Series) -> np.ndarray:
    """Feature values scaled to [0, 1] for colouring: ranks for numbers, codes for categories."""
    if pd.api.types.is_numeric_dtype(values):
        ranked = values.rank(pct=True).to_numpy(dtype=float)
        return np.where(np.isnan(ranked), 0.5, ranked)
    codes = pd.Categorical(values.astype("object")).codes.astype(float)
    return codes / max(codes.max(), 1.0)


def plot_beeswarm(explanation: Explanation, top: int = 10, max_points: int = 2000,
                  ax: Axes | None = None, random_state: int = 0) -> Figure:
    """One row of dots per column (the ``top`` strongest): each dot a prediction, placed at its
    contribution, jittered vertically, coloured by the column's value (low to high, or the
    category's position); a matplotlib stand-in for the SHAP beeswarm."""
    import matplotlib.pyplot as plt

    columns = list(global_importance(explanation).head(top).index)[::-1]
    rng = np.random.default_rng(random_state)
    rows = np.arange(len(explanation))
    if len(rows) > max_points:
        rows = np.sort(rng.choice(rows, max_points, replace=False))
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.35 * len(columns) + 1.2))
    scatter: Any = None
    for y, column in enumerate(columns):
        x = explanation.contributions[column].to_numpy()[rows]
        colours = _colour_values(explanation.values[column].iloc[rows])
        scatter = ax.scatter(x, y + rng.uniform(-0.3, 0.3, len(rows)), c=colours, s=6,
                             cmap="viridis", vmin=0, vmax=1, alpha=0.7, linewidths=0)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(range(len(columns)), columns)
    ax.set_xlabel(f"contribution to the {explanation.outcome} score (log-odds)")
    ax.set_title("contributions per prediction")
    if scatter is not None:
        bar = ax.figure.colorbar(scatter, ax=ax, ticks=[0, 1], pad=0.01)
        bar.ax.set_yticklabels(["low", "high"])
        bar.set_label("column value")
    return ax.figure


def plot_summary(explanation: Explanation, top: int = 10) -> Figure:
    """Global importance beside the per-prediction dot plot, for the same ``top`` columns.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> contributions = pd.DataFrame(rng.normal(size=(50, 3)), columns=["a", "b", "c"])
    >>> values = pd.DataFrame({"a": rng.normal(size=50), "b": ["x", "y"] * 25, "c": 1.0})
    >>> e = Explanation(contributions, np.zeros(50), values, "churn")
    >>> [ax.get_title() for ax in plot_summary(e).axes[:2]]
    ['global importance', 'contributions per prediction']
    """
    import matplotlib.pyplot as plt

    rows = min(top, explanation.contributions.shape[1])
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 0.35 * rows + 1.6),
                                      gridspec_kw={"width_ratios": [1, 1.6]})
    plot_importance(explanation, top=top, ax=left)
    plot_beeswarm(explanation, top=top, ax=right)
    fig.tight_layout()
    return fig
