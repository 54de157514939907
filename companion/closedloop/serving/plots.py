"""Figures of the serving stage: measured latency, and the batch-versus-real-time decision.

See Also
--------
Chapter :doc:`Real-time serving and the batch-versus-real-time decision </book/09_real_time_serving>`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PERCENTILES = (50, 95, 99)


def latency_percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    """``{"count", "p50", "p95", "p99", "max"}`` of latencies in milliseconds.

    Examples
    --------
    >>> latency_percentiles(range(1, 101))["p50"]
    50.5
    """
    ms = np.asarray(samples_ms, dtype=float)
    if ms.size == 0:
        raise ValueError("no latency samples")
    out = {"count": float(ms.size)}
    out.update({f"p{q}": float(np.percentile(ms, q)) for q in PERCENTILES})
    out["max"] = float(ms.max())
    return out


def plot_latency(samples_ms: Sequence[float], *, title: str = "request latency") -> Figure:
    """Histogram of request latencies (ms, log scale) and their sorted series, p50/p95/p99 marked.

    The left panel shows the shape (a tail is what users feel); the right one shows each request
    in the order it was sent, so a warm-up or a pause (another process, a garbage collection)
    stands out. The legend states the count each percentile rests on.

    Examples
    --------
    >>> fig = plot_latency([1.0, 1.2, 1.1, 5.0, 1.3])
    >>> len(fig.axes)
    2
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter

    ms = np.asarray(samples_ms, dtype=float)
    stats = latency_percentiles(ms)
    fig, (hist, series) = plt.subplots(1, 2, figsize=(10, 3.8),
                                       gridspec_kw={"width_ratios": [3, 2]})
    low, high = max(ms.min(), 1e-3), max(ms.max(), ms.min() * 1.01, 1e-3)
    bins = np.geomspace(low, high, 40)
    hist.hist(ms, bins=bins, color="#0072B2", alpha=0.8)
    hist.set_xscale("log")
    colours = {"p50": "#009E73", "p95": "#E69F00", "p99": "#D55E00"}
    for name, colour in colours.items():
        hist.axvline(stats[name], color=colour, linestyle="--",
                     label=f"{name} {stats[name]:.2f} ms")
        series.axhline(stats[name], color=colour, linestyle="--", linewidth=1)
    hist.set_xlabel("latency (ms, log scale)")
    hist.set_ylabel("requests")
    hist.legend(title=f"{int(stats['count'])} requests")
    series.plot(np.arange(1, ms.size + 1), ms, ".", markersize=3, color="#0072B2")
    series.set_yscale("log")
    series.set_xlabel("request (in order sent)")
    series.set_ylabel("latency (ms)")
    for axis in (hist.xaxis, series.yaxis):
        axis.set_major_formatter(FormatStrFormatter("%g"))
        axis.set_minor_formatter(FormatStrFormatter(""))
    fig.suptitle(title)
    fig.tight_layout()
    return fig


#: The questions of :func:`plot_decision_flow`, in order, each with its "no" answer.
DECISION_STEPS: tuple[tuple[str, str], ...] = (
    ("Must the score follow an event within seconds?\n(a call, a click, a payment)",
     "Batch\nscore on a schedule,\nact on the table"),
    ("Are the inputs known only at request time?\n(what is in the basket, the call)",
     "Batch + lookup\nprecompute scores,\nserve them by key"),
    ("Does a fresh score earn more than\nreplicas running all day cost?\n(see serving_cost)",
     "Micro-batch\nscore every hour\nor every few minutes"),
)
DECISION_YES = "Online\na real-time service\n(closedloop serve)"


def plot_decision_flow(steps: Sequence[tuple[str, str]] = DECISION_STEPS,
                       online: str = DECISION_YES) -> Figure:
    """The batch-versus-real-time decision as a flow chart: each question, "no" to the right.

    ``steps`` is a sequence of ``(question, answer if no)``; a "yes" leads to the next question
    and, after the last, to ``online``.

    Examples
    --------
    >>> fig = plot_decision_flow()
    >>> sum(text.get_text() == "no" for text in fig.axes[0].texts)
    3
    """
    import matplotlib.pyplot as plt

    n = len(steps)
    fig, ax = plt.subplots(figsize=(9, 1.9 * (n + 1)))
    ax.set_xlim(0, 10)
    ax.set_ylim(-0.5, n + 0.6)
    ax.axis("off")
    question = {"boxstyle": "round,pad=0.5", "facecolor": "#E8F1FA", "edgecolor": "#0072B2"}
    answer = {"boxstyle": "round,pad=0.5", "facecolor": "#FDF1E2", "edgecolor": "#E69F00"}
    final = {"boxstyle": "round,pad=0.5", "facecolor": "#E3F4EE", "edgecolor": "#009E73"}
    arrow = {"arrowstyle": "-|>", "color": "#555555", "linewidth": 1.2}
    for i, (text, no) in enumerate(steps):
        y = n - i
        ax.text(3, y, text, ha="center", va="center", fontsize=9, bbox=question)
        ax.text(8.2, y, no, ha="center", va="center", fontsize=9, bbox=answer)
        ax.annotate("", xy=(6.9, y), xytext=(5.6, y), arrowprops=arrow)
        ax.text(6.25, y + 0.1, "no", ha="center", va="bottom", fontsize=9)
        ax.annotate("", xy=(3, y - 0.62), xytext=(3, y - 0.38), arrowprops=arrow)
        ax.text(3.12, y - 0.5, "yes", ha="left", va="center", fontsize=9)
    ax.text(3, 0, online, ha="center", va="center", fontsize=9, bbox=final)
    ax.set_title("batch or real time?")
    fig.tight_layout()
    return fig
