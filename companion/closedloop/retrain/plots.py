"""The figure of the closed-loop replay: realised F1 and money per policy, over the months.

See Also
--------
Chapter :doc:`Automated retraining </book/08_automated_retraining>` and chapter :doc:`Your own table </book/12_your_own_table>`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from closedloop.retrain.loop import LoopResult

#: One line style and marker per policy, in the order they were replayed: two policies whose
#: lines coincide (one that never retrains and one that never fires) both stay visible.
POLICY_STYLES: tuple[tuple[str, str], ...] = (("-", "o"), ("--", "s"), ("-.", "^"), (":", "D"))


def drift_start_day(result: LoopResult) -> int | None:
    """The replay day on which its scenario starts, or None for the scenario ``none``.

    Examples
    --------
    >>> from closedloop.retrain.loop import LoopConfig, LoopResult
    >>> import pandas as pd
    >>> drift_start_day(LoopResult(LoopConfig(), pd.DataFrame(), pd.DataFrame(), {}))
    30
    >>> drift_start_day(LoopResult(LoopConfig(scenario="none"), pd.DataFrame(),
    ...                            pd.DataFrame(), {})) is None
    True
    """
    from closedloop.simulate.scenarios import as_scenario

    scenario = as_scenario(result.config.scenario)
    return None if scenario.kind == "none" else int(scenario.start_day)


def plot_replay(result: LoopResult, metric: str = "f1") -> Figure:
    """Monthly realised ``metric`` per policy (top) and cumulative value (bottom).

    Promotions are dotted verticals in the policy's colour, the day the drift starts a grey
    band edge labelled "drift starts"; each policy has its own line style and marker, so a
    policy whose line lies on another's is still seen. The value panel is relative to
    ``never`` when that policy was replayed.

    Parameters
    ----------
    result : LoopResult
        What :func:`closedloop.retrain.loop.simulate_loop` returned.
    metric : str
        A column of :meth:`~closedloop.retrain.loop.LoopResult.monthly` (default ``"f1"``).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If ``metric`` is not a column of the monthly table.
    """
    import matplotlib.pyplot as plt

    months = result.monthly()
    if metric not in months.columns:
        raise ValueError(f"metric: expected one of {sorted(months.columns)}, got {metric!r}")
    value = result.daily.pivot(index="day", columns="policy", values="value").cumsum()
    relative = "never" in value.columns
    if relative:
        value = value.sub(value["never"], axis=0)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7.5), sharex=True)
    start = drift_start_day(result)
    if start is not None:
        for axis in (top, bottom):
            axis.axvspan(start / 30, (value.index.max() + 1) / 30, color="0.92", zorder=0)
            axis.axvline(start / 30, color="0.35", lw=1.2, zorder=1)
        top.annotate("drift starts", (start / 30, 1), xycoords=("data", "axes fraction"),
                     xytext=(4, -4), textcoords="offset points", va="top", fontsize=9,
                     color="0.25")
    for i, (policy, part) in enumerate(months.groupby("policy", sort=False)):
        ls, marker = POLICY_STYLES[i % len(POLICY_STYLES)]
        style = {"ls": ls, "lw": 2.8 if policy == "never" else 1.6, "zorder": 2 + i}
        line, = top.plot(part["month"] - 0.5, part[metric], marker=marker, ms=4, mfc="none",
                         label=policy, **style)
        bottom.plot(value.index / 30, value[policy] / 1e3, color=line.get_color(),
                    label=policy, **style)
        events = result.events
        promoted = events[(events["policy"] == policy) & (events["outcome"] == "promoted")] \
            if len(events) else events
        for day in promoted.get("day", []):
            for axis in (top, bottom):
                axis.axvline(day / 30, color=line.get_color(), alpha=0.6, ls=":", lw=1.2,
                             zorder=1)
    top.set_ylabel(f"realised {metric} per month")
    top.set_title("Dotted verticals: a retrained model promoted; grey: after the drift starts")
    bottom.set_ylabel("cumulative value vs never\n(thousands)" if relative
                      else "cumulative value\n(thousands)")
    bottom.set_xlabel("month")
    handles, labels = top.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False,
               title="policy", bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig
