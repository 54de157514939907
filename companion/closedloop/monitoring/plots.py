"""Figures for the book: every plotting function takes data and returns a matplotlib ``Figure``.

matplotlib is imported inside the functions, so ``import closedloop`` stays light and works without
the ``book`` extra installed.

See Also
--------
Chapter "Introduction" (``book/01_introduction.ipynb``) for :func:`plot_loop`; chapter "Data contract
and features" (``book/02_data_contract.ipynb``) for :func:`plot_rate_by`; chapter "Training, tuning
and the registry" (``book/03_training.ipynb``) for :func:`plot_trials` and :func:`plot_roc_pr`;
chapter "Quality gates" (``book/04_quality_gates.ipynb``) for :func:`plot_bootstrap_difference`
and :func:`plot_reliability`; chapter "Ground truth and production accuracy"
(``book/05_ground_truth.ipynb``) for :func:`plot_label_timeline` and
:func:`plot_metrics_over_time`; chapter "Drift and estimated performance"
(``book/06_drift_and_estimation.ipynb``) for :func:`plot_drift_heatmap`, :func:`plot_psi_bands`
and :func:`plot_estimate`; chapter "Batch inference and business impact"
(``book/07_batch_and_business.ipynb``) for :func:`plot_profit_curve`.
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


def plot_bootstrap_difference(comparisons: Sequence,
                              title: str = "challenger - champion") -> Figure:
    """The paired-bootstrap distribution of a challenger's improvement, one panel per metric.

    Each panel shades the non-inferiority zone (improvement above minus the margin), marks the
    interval that decided and, for ROC AUC, the DeLong interval beside the bootstrap one.
    ``comparisons`` are :class:`~closedloop.compare.MetricComparison` objects, e.g. the values
    of :func:`closedloop.compare.compare_models`.

    Examples
    --------
    >>> from closedloop.compare import compare_models
    >>> y = np.tile([0, 1], 100)
    >>> out = pd.DataFrame({"prediction": y, "prediction_proba": np.where(y, .7, .3)})
    >>> result = compare_models(y, out, out, margins={"roc_auc": .02, "f1": .03}, n_bootstrap=50)
    >>> [ax.get_xlabel() for ax in plot_bootstrap_difference(list(result.values())).axes]
    ['roc_auc improvement', 'f1 improvement']
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(comparisons), figsize=(5.2 * len(comparisons), 4.2),
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

    from closedloop.checks import expected_calibration_error, reliability_table

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


def plot_label_timeline(coverage: pd.DataFrame, *,
                        title: str = "Labels arrive late: coverage by prediction day") -> Figure:
    """The delayed-label timeline: label coverage of each prediction window, as of several dates.

    ``coverage`` is the table :func:`closedloop.monitoring.metrics.label_coverage` returns
    (``window_start``, ``as_of``, ``label_coverage``). One line per ``as_of`` date, darker for
    later dates, each ending at its date (a dotted vertical line).

    Examples
    --------
    >>> table = pd.DataFrame({
    ...     "window_start": pd.to_datetime(["2026-01-01", "2026-01-02"] * 2),
    ...     "as_of": pd.to_datetime(["2026-01-03"] * 2 + ["2026-01-09"] * 2),
    ...     "label_coverage": [0.2, 0.0, 1.0, 0.9]})
    >>> [len(line.get_xdata()) for line in plot_label_timeline(table).axes[0].lines[::2]]
    [2, 2]
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    dates = sorted(coverage["as_of"].unique())
    colours = plt.get_cmap("Blues")(np.linspace(0.4, 1.0, len(dates)))
    for date, colour in zip(dates, colours):
        part = coverage[coverage["as_of"] == date].sort_values("window_start")
        ax.plot(part["window_start"], part["label_coverage"], color=colour, marker="o",
                markersize=3, label=f"as of {pd.Timestamp(date):%Y-%m-%d}")
        ax.axvline(date, color=colour, linestyle=":", linewidth=1)
    ax.set(xlabel="prediction day", ylabel="share of predictions labelled", ylim=(-0.02, 1.05),
           title=title)
    ax.legend(frameon=False, loc="lower left", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def plot_metrics_over_time(table: pd.DataFrame, metrics: Sequence[str] = ("accuracy",
                                                                          "f1_binary"), *,
                           group: str | None = None, min_labelled: int = 1,
                           events: dict[str, object] | None = None,
                           title: str = "Production accuracy") -> Figure:
    """Metrics per time window over label coverage: what is known, and on how many labels.

    ``table`` is a :func:`closedloop.monitoring.metrics.profile` table. The top panel draws each
    metric per window, at the window's middle (one line per value of ``group`` when given,
    e.g. ``"Contract"``), leaving out windows with fewer than ``min_labelled`` labels; the
    bottom panel shows the share of each window's predictions that are labelled. ``events`` marks dates (a label for
    each) on both panels, e.g. when a drift scenario starts.

    Examples
    --------
    >>> table = pd.DataFrame({
    ...     "window_start": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"]),
    ...     "row_count": [10, 10, 10], "labelled_count": [10, 5, 0],
    ...     "accuracy": [0.8, 0.7, np.nan], "f1_binary": [0.6, 0.5, np.nan]})
    >>> fig = plot_metrics_over_time(table, min_labelled=6)
    >>> [[float(y) for y in line.get_ydata()] for line in fig.axes[0].lines]
    [[0.8], [0.6]]
    """
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1.2]})
    shown = table[table["labelled_count"] >= min_labelled]
    groups = [(None, shown)] if group is None else list(shown.groupby(group, dropna=False))
    styles = ["-", "--", ":", "-."]
    for m, metric in enumerate(metrics):
        for g, (value, part) in enumerate(groups):
            part = part.sort_values("window_start")
            label = metric if value is None else f"{metric}, {group}={value}"
            top.plot(_window_middle(part), part[metric], marker="o", markersize=3,
                     linestyle=styles[m % len(styles)], label=label,
                     color=f"C{g if group else m}")
    totals = table.groupby("window_start")[["labelled_count", "row_count"]].sum()
    middle = _window_middle(table.drop_duplicates("window_start").set_index("window_start")
                            .reindex(totals.index).reset_index())
    days = np.diff(totals.index.to_numpy()).astype("timedelta64[s]").astype(float) / 86_400
    bottom.bar(middle, totals["labelled_count"] / totals["row_count"], color="#56B4E9",
               width=0.8 * (np.median(days) if len(days) else 1.0), edgecolor="none")
    for name, when in (events or {}).items():
        for ax in (top, bottom):
            ax.axvline(pd.Timestamp(when), color="#D55E00", linestyle="--", linewidth=1)
        top.annotate(name, (pd.Timestamp(when), 1.0), xycoords=("data", "axes fraction"),
                     xytext=(3, -12), textcoords="offset points", color="#D55E00", fontsize=8)
    top.set(ylabel="metric (labelled rows)", title=title)
    top.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    bottom.set(ylabel="label\ncoverage", ylim=(0, 1.05), xlabel="prediction window")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def _window_middle(table: pd.DataFrame) -> pd.Series:
    """Middle of each window (its start when the table has no ``window_end``)."""
    start = pd.to_datetime(table["window_start"])
    if "window_end" not in table.columns:
        return start
    return start + (pd.to_datetime(table["window_end"]) - start) / 2


#: Colours of the PSI bands, from stable to significant (colour-blind safe).
PSI_BAND_COLOURS: tuple[str, str, str] = ("#E8F1F8", "#F0E442", "#D55E00")


def plot_drift_heatmap(table: pd.DataFrame, *, drift_type: str = "BASELINE",
                       bands: tuple[float, float] = (0.1, 0.25),
                       events: dict[str, object] | None = None,
                       title: str = "Drift from the baseline (PSI)") -> Figure:
    """The drift heat map: columns x windows, coloured by PSI band, drift decisions marked.

    ``table`` is a :func:`closedloop.monitoring.drift.drift_metrics` table. Each cell's colour is
    its PSI band (below ``bands[0]`` stable, up to ``bands[1]`` moderate, beyond significant); a
    dot marks a column whose values drifted by the decision rule, a square one whose null rate
    did, a "T" one that arrived with the wrong type. ``events`` marks dates (a label each),
    e.g. the start of a drift scenario.

    Examples
    --------
    >>> t = pd.DataFrame({"window_start": pd.to_datetime(["2026-01-05"] * 2 + ["2026-01-12"] * 2),
    ...                   "drift_type": "BASELINE", "column_name": ["a", "b"] * 2,
    ...                   "population_stability_index": [0.01, 0.2, 0.02, 0.6],
    ...                   "drift_reason": ["", "", "", "values"]})
    >>> fig = plot_drift_heatmap(t)
    >>> fig.axes[0].images[0].get_array().shape, len(fig.axes[0].collections[0].get_offsets())
    ((2, 2), 1)
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    chosen = table[table["drift_type"] == drift_type]
    order = list(dict.fromkeys(chosen["column_name"]))
    psi = chosen.pivot(index="column_name", columns="window_start",
                       values="population_stability_index").loc[order]
    reason = chosen.pivot(index="column_name", columns="window_start",
                          values="drift_reason").loc[order].fillna("")
    fig, ax = plt.subplots(figsize=(max(6.0, 0.42 * psi.shape[1] + 3), 0.3 * len(order) + 1.8))
    norm = BoundaryNorm([0.0, *bands, np.inf], 3)
    ax.imshow(psi.to_numpy(float), cmap=ListedColormap(PSI_BAND_COLOURS), norm=norm,
              aspect="auto", interpolation="nearest")
    marks = {"values": ("o", "black", "values drifted"), "nulls": ("s", "none", "null rate"),
             "type": ("$T$", "black", "wrong type")}
    for key, (marker, face, label) in marks.items():
        rows, cols = np.nonzero(reason.apply(lambda c: c.str.contains(key)).to_numpy())
        ax.scatter(cols, rows, marker=marker, s=28, facecolors=face, edgecolors="black",
                   linewidths=1.0, label=label)
    starts = list(psi.columns)
    for name, when in (events or {}).items():
        # the left edge of the window holding the event
        x = np.searchsorted(np.asarray(starts, dtype="datetime64[ns]"),
                            np.datetime64(pd.Timestamp(when)), side="right") - 1.5
        ax.axvline(x, color="#0072B2", linewidth=2)
        ax.annotate(name, (x, 0.0), xycoords=("data", "axes fraction"), xytext=(3, 3),
                    textcoords="offset points", color="#0072B2", fontsize=8,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
    ax.set_yticks(range(len(order)), order, fontsize=8)
    step = max(1, len(starts) // 16)
    ax.set_xticks(range(0, len(starts), step),
                  [f"{pd.Timestamp(s):%m-%d}" for s in starts[::step]], fontsize=8, rotation=45)
    ax.set(xlabel="window start", title=title)
    patches = [Patch(facecolor=c, edgecolor="0.5", label=l) for c, l in zip(
        PSI_BAND_COLOURS, (f"PSI < {bands[0]}", f"{bands[0]} to {bands[1]}", f">= {bands[1]}"))]
    handles = patches + ax.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False,
              fontsize=8)
    fig.tight_layout()
    return fig


def plot_psi_bands(table: pd.DataFrame, columns: Sequence[str], *,
                   drift_type: str = "BASELINE", bands: tuple[float, float] = (0.1, 0.25),
                   title: str = "PSI over time, against its bands") -> Figure:
    """PSI of a few columns per window, drawn over the stable / moderate / significant bands.

    Examples
    --------
    >>> t = pd.DataFrame({"window_start": pd.to_datetime(["2026-01-05", "2026-01-12"]),
    ...                   "drift_type": "BASELINE", "column_name": "a",
    ...                   "population_stability_index": [0.02, 0.4]})
    >>> [float(y) for y in plot_psi_bands(t, ["a"]).axes[0].lines[0].get_ydata()]
    [0.02, 0.4]
    """
    import matplotlib.pyplot as plt

    chosen = table[table["drift_type"] == drift_type]
    fig, ax = plt.subplots(figsize=(9, 3.8))
    top = max(bands[1] * 1.6, float(chosen["population_stability_index"].max()) * 1.1)
    for (low, high), colour in zip([(0, bands[0]), bands, (bands[1], top)], PSI_BAND_COLOURS):
        ax.axhspan(low, high, color=colour, alpha=0.45, linewidth=0)
    lines = ("#0072B2", "#000000", "#009E73", "#CC79A7", "#56B4E9")  # none of the band colours
    for i, column in enumerate(columns):
        part = chosen[chosen["column_name"] == column].sort_values("window_start")
        ax.plot(part["window_start"], part["population_stability_index"], marker="o",
                markersize=3, label=column, color=lines[i % len(lines)])
    ax.set(ylabel="PSI", ylim=(0, top), xlabel="window start", title=title)
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def plot_estimate(table: pd.DataFrame, metrics: Sequence[str] = ("accuracy", "f1_binary"), *,
                  events: dict[str, object] | None = None,
                  title: str = "Estimated (CBPE) and realised performance") -> Figure:
    """Estimated metric per window with its sampling band, and the realised metric once known.

    ``table`` is a :meth:`closedloop.monitoring.estimate.CBPE.estimate` table. One panel per
    metric: the band (shaded), the estimate (line), the realised value where labels have
    arrived (dots; crosses when outside the band). ``events`` marks dates, a label each.

    Examples
    --------
    >>> t = pd.DataFrame({"window_start": pd.to_datetime(["2026-01-05", "2026-01-12"]),
    ...                   "metric": "accuracy", "estimated": [0.8, 0.8], "lower": [0.75, 0.75],
    ...                   "upper": [0.85, 0.85], "realised": [0.82, 0.6]})
    >>> ax = plot_estimate(t, ["accuracy"]).axes[0]
    >>> [len(c.get_offsets()) for c in ax.collections[1:]]
    [1, 1]
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(metrics), 1, figsize=(10, 2.6 * len(metrics) + 0.6),
                             sharex=True, squeeze=False)
    for ax, metric in zip(axes[:, 0], metrics):
        part = table[table["metric"] == metric].sort_values("window_start")
        x = part["window_start"]
        ax.fill_between(x, part["lower"], part["upper"], color="#56B4E9", alpha=0.3,
                        linewidth=0, label="sampling band")
        ax.plot(x, part["estimated"], color="#0072B2", label="estimated (no labels)")
        known = part[part["realised"].notna()]
        inside = known["realised"].between(known["lower"], known["upper"])
        ax.scatter(known.loc[inside, "window_start"], known.loc[inside, "realised"],
                   color="#D55E00", s=16, zorder=3, label="realised, in band")
        ax.scatter(known.loc[~inside, "window_start"], known.loc[~inside, "realised"],
                   color="#D55E00", marker="x", s=30, zorder=3, label="realised, outside")
        for name, when in (events or {}).items():
            ax.axvline(pd.Timestamp(when), color="0.3", linestyle="--", linewidth=1)
            ax.annotate(name, (pd.Timestamp(when), 1.0), xycoords=("data", "axes fraction"),
                        xytext=(3, -12), textcoords="offset points", fontsize=8)
        ax.set(ylabel=metric)
    axes[0, 0].set_title(title)
    axes[0, 0].legend(frameon=False, fontsize=8, loc="best", ncol=2)
    axes[-1, 0].set_xlabel("prediction window")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def plot_profit_curve(curves: dict | object, *, title: str = "profit curve") -> Figure:
    """Net value against the targeting threshold, with the business- and F1-optimal thresholds.

    ``curves`` is one :class:`~closedloop.business.ProfitCurve` or a ``{label: curve}`` dict
    (several models on the same customers). The curve's objective (realised value with labels,
    expected value without) is drawn solid, the expected value dashed when both exist; a
    circle marks the business-optimal threshold and a cross the F1-optimal one, so the money
    left on the table by optimising F1 is the vertical gap between them.

    Examples
    --------
    >>> from closedloop.business import BusinessModel, profit_curve
    >>> curve = profit_curve([1, 0, 1, 0], [0.9, 0.6, 0.4, 0.1], BusinessModel("d", 1000, 100, .5))
    >>> fig = plot_profit_curve(curve)
    >>> [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    ['model: realised net', 'model: expected net', 'business-optimal 0.40', 'F1-optimal 0.40']
    """
    import matplotlib.pyplot as plt

    curves = curves if isinstance(curves, dict) else {"model": curves}
    colours = ["#0072B2", "#D55E00", "#009E73", "#CC79A7"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for (label, curve), colour in zip(curves.items(), colours * len(curves)):
        table, currency = curve.table, curve.business.currency
        ax.plot(table["threshold"], table[curve.objective], color=colour,
                label=f"{label}: {curve.objective.replace('_', ' ')}")
        if curve.objective != "expected_net":
            ax.plot(table["threshold"], table["expected_net"], color=colour, linestyle="--",
                    linewidth=1, label=f"{label}: expected net")
        ax.scatter([curve.best_threshold], [curve.best_value], color=colour, zorder=3, s=40,
                   label=f"business-optimal {curve.best_threshold:.2f}")
        ax.axvline(curve.best_threshold, color=colour, linestyle=":", linewidth=1)
        if curve.f1_threshold is not None:
            ax.scatter([curve.f1_threshold], [curve.f1_value], color=colour, marker="x", s=60,
                       zorder=3, label=f"F1-optimal {curve.f1_threshold:.2f}")
    ax.axhline(0, color="0.5", linewidth=0.8)
    ax.set(xlabel="threshold (target customers with a score at or above it)",
           ylabel=f"net value ({currency})", title=title, xlim=(0, 1))
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
