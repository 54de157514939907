"""Shared figure style, number formatting for prose, and the overview of the loop.

Colours are the Okabe-Ito palette (colour-blind safe); every stage's ``plots`` module takes data
and returns a matplotlib ``Figure``, importing matplotlib inside the function so that
``import closedloop`` stays light and works without the ``book`` extra.
:func:`use_book_style` sets the figure resolution and font sizes once per chapter (nothing is
set at import time). :func:`fmt_number`, :func:`fmt_percent` and :func:`fmt_money` are the one
way a chapter turns a computed number into the text its prose quotes (through
``myst_nb.glue``), so prose and output cannot disagree.

See Also
--------
Chapter :doc:`Introduction </book/01_introduction>` for :func:`plot_loop`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure


#: Font sizes of :func:`use_book_style`: tick labels stay legible when a wide figure is scaled
#: down to the book's content column (about 700 px).
BOOK_RC: dict[str, float | str] = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 9,
    "figure.dpi": 100,
    "savefig.bbox": "tight",
}


def use_book_style(figure_format: str = "retina") -> dict[str, float | str]:
    """Set the figure style of the running notebook: 2x resolution and legible fonts.

    Call it once, in a chapter's setup cell. In an IPython kernel it asks the inline backend
    for ``figure_format`` images (``"retina"``: PNG at twice the pixel density, displayed at
    the normal size; ``"svg"``: vector). Outside IPython it only sets :data:`BOOK_RC`.

    Parameters
    ----------
    figure_format : {"retina", "svg", "png"}
        Image format of the figures a notebook shows.

    Returns
    -------
    dict
        The matplotlib settings applied (:data:`BOOK_RC`).

    Raises
    ------
    ValueError
        If ``figure_format`` is not one of the three formats.

    Examples
    --------
    >>> use_book_style()["xtick.labelsize"]
    10
    """
    formats = ("retina", "svg", "png")
    if figure_format not in formats:
        raise ValueError(f"figure_format: expected one of {formats}, got {figure_format!r}")
    import matplotlib as mpl

    mpl.rcParams.update(BOOK_RC)
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with the book extra
        return dict(BOOK_RC)
    if get_ipython() is not None:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats(figure_format)
    return dict(BOOK_RC)


def _finite(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return float(value)


def fmt_number(value: float, decimals: int = 0) -> str:
    """``value`` with thousands separators and ``decimals`` decimals: ``4,225``, ``0.842``.

    Examples
    --------
    >>> fmt_number(4225), fmt_number(0.84213, 3), fmt_number(-1234.5, 1)
    ('4,225', '0.842', '-1,234.5')
    """
    return f"{_finite(value, 'value'):,.{decimals}f}"


def fmt_percent(share: float, decimals: int = 1) -> str:
    """A share (0.265) as a percentage (``26.5 %``), with a space as the book writes it.

    Examples
    --------
    >>> fmt_percent(0.2654), fmt_percent(0.2654, 0)
    ('26.5 %', '27 %')
    """
    return f"{100 * _finite(share, 'share'):,.{decimals}f} %"


def fmt_money(value: float, currency: str = "USD", decimals: int = 0) -> str:
    """An amount with thousands separators and its currency: ``114,300 USD``, ``-80 USD``.

    Examples
    --------
    >>> fmt_money(114300.4), fmt_money(-80, decimals=2)
    ('114,300 USD', '-80.00 USD')
    """
    return f"{fmt_number(value, decimals)} {currency}"


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
