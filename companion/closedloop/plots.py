"""Shared figure style and the overview of the loop.

Colours are the Okabe-Ito palette (colour-blind safe); every stage's ``plots`` module takes data
and returns a matplotlib ``Figure``, importing matplotlib inside the function so that
``import closedloop`` stays light and works without the ``book`` extra.

See Also
--------
Chapter "Introduction" (``book/01_introduction.ipynb``) for :func:`plot_loop`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

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
