"""Figures of the platform stage: a bundle job's task graph.

See Also
--------
Chapter :doc:`From laptop to workspace </book/11_laptop_to_workspace>` for
:func:`plot_job_graph`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Fill colour of each kind of task (Okabe-Ito palette, colour-blind safe).
KIND_COLOURS = {"python_wheel_task": "#56B4E9", "notebook_task": "#009E73",
                "condition_task": "#E69F00"}
_OTHER = "#BBBBBB"


def task_levels(tasks: pd.DataFrame) -> dict[str, int]:
    """Each task's level: 0 without dependencies, else one more than its deepest dependency.

    Raises ``ValueError`` on a dependency cycle or on a dependency that is not a task.

    Examples
    --------
    >>> tasks = pd.DataFrame({"task": ["a", "b", "c"], "depends_on": [(), ("a",), ("a", "b")]})
    >>> task_levels(tasks)
    {'a': 0, 'b': 1, 'c': 2}
    """
    depends = dict(zip(tasks["task"], tasks["depends_on"]))
    levels: dict[str, int] = {}

    def level(task: str, seen: tuple[str, ...]) -> int:
        if task in seen:
            raise ValueError(f"dependency cycle: {' -> '.join((*seen, task))}")
        if task not in depends:
            raise ValueError(f"{seen[-1]} depends on {task!r}, which is no task of the job")
        if task not in levels:
            levels[task] = 1 + max((level(d, (*seen, task)) for d in depends[task]), default=-1)
        return levels[task]

    for task in depends:
        level(task, ())
    return {task: levels[task] for task in depends}


def plot_job_graph(tasks: pd.DataFrame, job: str | None = None, *, ax: Axes | None = None,
                   title: str | None = None) -> Figure:
    """One job's tasks as a top-to-bottom graph: a box per task, an arrow per dependency.

    Parameters
    ----------
    tasks : pandas.DataFrame
        The table :func:`closedloop.platform.jobs.bundle_tasks` returns (at least ``job``,
        ``task``, ``kind``, ``runs``, ``depends_on`` and ``outcome``).
    job : str, optional
        The job to draw; None: the only job of ``tasks``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure if None.
    title : str, optional
        Default: the job's key.

    Returns
    -------
    matplotlib.figure.Figure
        Boxes are coloured by kind of task (:data:`KIND_COLOURS`); an arrow that waits for a
        condition's outcome is labelled with it.

    Examples
    --------
    >>> tasks = pd.DataFrame({"job": "j", "task": ["a", "b"], "kind": "notebook_task",
    ...                       "runs": ["a.ipynb", "b.ipynb"], "depends_on": [(), ("a",)],
    ...                       "outcome": None})
    >>> [t.get_text() for t in plot_job_graph(tasks).axes[0].texts if t.get_text()]
    ['a\\na.ipynb', 'b\\nb.ipynb']
    """
    import matplotlib.pyplot as plt

    jobs = list(dict.fromkeys(tasks["job"]))
    if job is None:
        if len(jobs) != 1:
            raise ValueError(f"pass job=, one of {jobs}")
        job = jobs[0]
    if job not in jobs:
        raise ValueError(f"no job {job!r} in the table: expected one of {jobs}")
    rows = tasks[tasks["job"] == job].reset_index(drop=True)
    levels = task_levels(rows)
    by_level: dict[int, list[str]] = {}
    for task, lvl in levels.items():
        by_level.setdefault(lvl, []).append(task)
    position = {task: (i - (len(names) - 1) / 2, -lvl)
                for lvl, names in by_level.items() for i, task in enumerate(names)}
    if ax is None:
        width = max(5.0, 3.2 * max(len(names) for names in by_level.values()))
        height = max(2.0, 0.85 * (max(levels.values()) + 1) + 0.6)
        _, ax = plt.subplots(figsize=(width, height))
    for row in rows.itertuples():
        x, y = position[row.task]
        for dep in row.depends_on:
            x0, y0 = position[dep]
            ax.annotate("", xy=(x, y + 0.3), xytext=(x0, y0 - 0.3),
                        arrowprops={"arrowstyle": "->", "color": "#555555", "lw": 1.2})
            if row.outcome is not None:
                ax.text((x + x0) / 2 + 0.05, (y + y0) / 2, f"if {row.outcome}", ha="left",
                        va="center", fontsize=8, color="#555555")
    for row in rows.itertuples():
        x, y = position[row.task]
        ax.text(x, y, f"{row.task}\n{row.runs}" if row.runs else row.task, ha="center",
                va="center", fontsize=8,
                bbox={"boxstyle": "round,pad=0.4", "fc": KIND_COLOURS.get(row.kind, _OTHER),
                      "ec": "#333333", "alpha": 0.9})
    xs = [p[0] for p in position.values()]
    ys = [p[1] for p in position.values()]
    ax.set_xlim(min(xs) - 0.7, max(xs) + 0.7)
    ax.set_ylim(min(ys) - 0.5, max(ys) + 0.5)
    ax.set_axis_off()
    kinds = [k for k in KIND_COLOURS if k in set(rows["kind"])]
    handles = [plt.Rectangle((0, 0), 1, 1, fc=KIND_COLOURS[k], ec="#333333") for k in kinds]
    if handles:
        ax.legend(handles, [k.replace("_", " ") for k in kinds], loc="upper left",
                  bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    ax.set_title(title or job)
    return ax.figure
