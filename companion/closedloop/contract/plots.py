"""Figures of the data contract stage.

See Also
--------
Chapter :doc:`Data contract and features </book/02_data_contract>` for :func:`plot_rate_by`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure


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
    # at most 10.5 in wide: a wider figure shrinks on the page until its labels are unreadable
    fig, axes = plt.subplots(1, len(by), figsize=(min(10.5, 3.6 * len(by) + 0.6), 3.8),
                             squeeze=False)
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
