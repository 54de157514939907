"""Group fairness of a classifier's decisions, with bootstrap confidence intervals.

For each declared sensitive column (``sensitive=[...]``; the data contract will carry the
declaration) the rows are split by the column's value and each group gets its **selection rate**
(share predicted positive), **TPR** (recall among actual positives), **FPR** and **precision**.
Four disparities summarise a column, each as fairlearn defines it (``between_groups``, worst
case), and the tests check them against fairlearn on the same data:

- ``demographic_parity_difference``: largest minus smallest selection rate;
- ``demographic_parity_ratio``: smallest over largest selection rate (the "four-fifths rule"
  asks for at least 0.8);
- ``equalized_odds_difference``: the larger of the TPR and the FPR differences;
- ``equal_opportunity_difference`` (alias ``tpr_difference``): largest minus smallest TPR.

Demographic parity ignores the labels: when one group really has more positives (seniors churn
more), a good model selects more of them and "fails" parity. Equal opportunity asks the
question a retention campaign cares about: among the customers who will leave, is each group
found equally often? Intervals are percentile intervals of a seeded nonparametric bootstrap
over rows, computed for all replicates at once (a group absent from a replicate is ignored in
that replicate).

See Also
--------
Chapter :doc:`Explain, check fairness, test in production </book/10_explain_fairness_abtest>`.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

#: Per-group rates.
GROUP_RATES = ("selection_rate", "tpr", "fpr", "precision")
#: Disparities between the groups of one column; all but the ratio are lower-is-fairer.
DISPARITIES = ("demographic_parity_difference", "demographic_parity_ratio",
               "equalized_odds_difference", "equal_opportunity_difference")
#: Other names accepted for a disparity.
ALIASES = {"tpr_difference": "equal_opportunity_difference",
           "dp_difference": "demographic_parity_difference",
           "dp_ratio": "demographic_parity_ratio", "eo_difference": "equalized_odds_difference"}
#: Disparities where a higher value is fairer.
HIGHER_IS_FAIRER = frozenset({"demographic_parity_ratio"})
#: Bootstrap replicate-row cells handled at once (bounds memory on large frames).
_CHUNK_CELLS = 4_000_000


def metric_name(metric: str) -> str:
    """The canonical name of a disparity (resolving :data:`ALIASES`); ValueError if unknown."""
    name = ALIASES.get(metric, metric)
    if name not in DISPARITIES:
        raise ValueError(f"unknown fairness metric {metric!r}; known: "
                         f"{sorted([*DISPARITIES, *ALIASES])}")
    return name


def _codes(values: pd.Series) -> tuple[np.ndarray, list[Any]]:
    codes, groups = pd.factorize(values, sort=True, use_na_sentinel=False)
    return codes.astype(np.int64), list(groups)


def _indices(n: int, n_bootstrap: int, random_state: int) -> Any:
    """Bootstrap row indices in chunks of replicates (the same sequence for the same seed)."""
    rng = np.random.default_rng(random_state)
    per_chunk = max(1, _CHUNK_CELLS // max(n, 1))
    for start in range(0, n_bootstrap, per_chunk):
        yield rng.integers(0, n, size=(min(per_chunk, n_bootstrap - start), n))


def _counts(y: np.ndarray, p: np.ndarray, codes: np.ndarray, k: int,
            idx: np.ndarray) -> dict[str, np.ndarray]:
    """Rows, positives, selected and true positives per (replicate, group): arrays (B, k)."""
    b = idx.shape[0]
    keys = (np.arange(b)[:, None] * k + codes[idx]).ravel()
    size = b * k

    def total(weights: np.ndarray | None) -> np.ndarray:
        w = None if weights is None else weights[idx].ravel()
        return np.bincount(keys, weights=w, minlength=size).reshape(b, k).astype(np.float64)

    return {"rows": total(None), "positives": total(y), "selected": total(p),
            "true_positives": total(y * p)}


def _rates(c: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "selection_rate": c["selected"] / c["rows"],
            "tpr": c["true_positives"] / c["positives"],
            "fpr": (c["selected"] - c["true_positives"]) / (c["rows"] - c["positives"]),
            "precision": c["true_positives"] / c["selected"],
        }


def _spread(values: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmax(values, axis=-1) - np.nanmin(values, axis=-1)


def _disparities(rates: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        ratio = (np.nanmin(rates["selection_rate"], axis=-1)
                 / np.nanmax(rates["selection_rate"], axis=-1))
    tpr, fpr = _spread(rates["tpr"]), _spread(rates["fpr"])
    return {"demographic_parity_difference": _spread(rates["selection_rate"]),
            "demographic_parity_ratio": ratio, "equalized_odds_difference": np.fmax(tpr, fpr),
            "equal_opportunity_difference": tpr}


def _interval(values: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = (1 - confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanquantile(values, [alpha, 1 - alpha], axis=0)
    return low, high


def _bootstrap(y: np.ndarray, predictions: Sequence[np.ndarray], codes: np.ndarray, k: int,
               n_bootstrap: int, random_state: int
               ) -> list[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]:
    """Per prediction vector: rates (B, k) and disparities (B,) on the same resamples."""
    parts: list[list[tuple[dict, dict]]] = [[] for _ in predictions]
    for idx in _indices(len(y), n_bootstrap, random_state):
        for part, p in zip(parts, predictions):
            rates = _rates(_counts(y, p, codes, k, idx))
            part.append((rates, _disparities(rates)))
    return [({name: np.concatenate([r[name] for r, _ in part]) for name in GROUP_RATES},
             {name: np.concatenate([d[name] for _, d in part]) for name in DISPARITIES})
            for part in parts]


def _binary(values: Any, positive: Any) -> np.ndarray:
    values = pd.Series(values)
    if positive is not None and not pd.api.types.is_bool_dtype(values) and (
            not pd.api.types.is_numeric_dtype(values) or positive not in (1, True)):
        return (values == positive).to_numpy(dtype=np.float64)
    return values.astype(np.float64).to_numpy()


@dataclass(frozen=True, eq=False)
class FairnessReport:
    """Per-group rates and the disparities between groups, with bootstrap intervals.

    Attributes
    ----------
    groups : pandas.DataFrame
        One row per (sensitive column, group): ``rows``, ``positives`` (actual), ``base_rate``,
        each rate of :data:`GROUP_RATES` and its ``<rate>_low`` / ``<rate>_high`` interval.
    disparities : pandas.DataFrame
        One row per (sensitive column, metric of :data:`DISPARITIES`): ``value``, ``ci_low``,
        ``ci_high``.
    confidence, n_bootstrap, random_state
        How the intervals were computed.
    """

    groups: pd.DataFrame
    disparities: pd.DataFrame
    confidence: float = 0.95
    n_bootstrap: int = 1000
    random_state: int = 0

    @property
    def sensitive(self) -> list[str]:
        return list(dict.fromkeys(self.disparities["column"]))

    def row(self, metric: str, column: str | None = None) -> pd.Series:
        """The disparity row of ``metric`` for ``column`` (``None``: the least fair column)."""
        metric = metric_name(metric)
        rows = self.disparities[self.disparities["metric"] == metric]
        if column is not None:
            rows = rows[rows["column"] == column]
            if rows.empty:
                raise KeyError(f"no sensitive column {column!r} in this report")
            return rows.iloc[0]
        order = rows["value"].fillna(-np.inf if metric not in HIGHER_IS_FAIRER else np.inf)
        position = order.to_numpy().argmin() if metric in HIGHER_IS_FAIRER \
            else order.to_numpy().argmax()
        return rows.iloc[position]

    def value(self, metric: str, column: str | None = None) -> float:
        """The disparity ``metric`` for ``column`` (``None``: the least fair column's)."""
        return float(self.row(metric, column)["value"])

    def interval(self, metric: str, column: str | None = None) -> tuple[float, float]:
        row = self.row(metric, column)
        return float(row["ci_low"]), float(row["ci_high"])

    def to_frame(self) -> pd.DataFrame:
        """The disparities: column, metric, value, ci_low, ci_high (:attr:`groups` has rates)."""
        return self.disparities.copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (group labels as strings)."""
        groups = self.groups.assign(group=self.groups["group"].astype(str))
        clean = groups.astype(object).where(groups.notna(), None)
        disparities = self.disparities.astype(object).where(self.disparities.notna(), None)
        return {"confidence": self.confidence, "n_bootstrap": self.n_bootstrap,
                "random_state": self.random_state, "groups": clean.to_dict("records"),
                "disparities": disparities.to_dict("records")}

    def __repr__(self) -> str:
        worst = self.value("equal_opportunity_difference")
        return (f"FairnessReport(sensitive={self.sensitive}, "
                f"equal_opportunity_difference={worst:.3f})")

    def _repr_html_(self) -> str:
        level = f"{self.confidence:.0%}"
        rows = "".join(
            f"<tr><td>{html.escape(str(r.column))}</td><td>{r.metric}</td>"
            f"<td>{r.value:.3f}</td><td>[{r.ci_low:.3f}, {r.ci_high:.3f}]</td></tr>"
            for r in self.disparities.itertuples())
        groups = self.groups[["column", "group", "rows", "base_rate", *GROUP_RATES]]
        return (f"<p><b>Fairness</b> over {html.escape(', '.join(self.sensitive))} "
                f"({self.n_bootstrap} bootstrap replicates, {level} intervals)</p>"
                "<table><thead><tr><th>column</th><th>metric</th><th>value</th>"
                f"<th>{level} interval</th></tr></thead><tbody>{rows}</tbody></table>"
                + groups.to_html(index=False, float_format="{:.3f}".format))


def fairness_report(frame: pd.DataFrame, sensitive: Sequence[str], *, target: str = "ground_truth",
                    prediction: str = "prediction", positive: Any = 1,
                    n_bootstrap: int = 1000, confidence: float = 0.95,
                    random_state: int = 0) -> FairnessReport:
    """Per-group rates and disparities of ``frame``'s decisions, per sensitive column.

    Parameters
    ----------
    frame : pandas.DataFrame
        Labelled, scored rows: the ``target`` and ``prediction`` columns and the sensitive ones.
    sensitive : sequence of str
        The sensitive columns, each assessed on its own (not their intersection). The data
        contract will carry this declaration; until then it is an argument.
    target, prediction : str
        Columns of the actual outcome and of the decision (0/1).
    positive : object
        The positive value of ``target`` (e.g. ``"Yes"``); 1 for 0/1 labels.
    n_bootstrap, confidence, random_state : int, float, int
        Percentile bootstrap over rows (``n_bootstrap=0``: no intervals).

    Returns
    -------
    FairnessReport

    Examples
    --------
    >>> frame = pd.DataFrame({"ground_truth": [1, 1, 0, 0, 1, 1, 0, 0],
    ...                       "prediction":   [1, 1, 1, 0, 1, 0, 0, 0],
    ...                       "senior":       [1, 1, 1, 1, 0, 0, 0, 0]})
    >>> report = fairness_report(frame, ["senior"], n_bootstrap=0)
    >>> report.value("demographic_parity_ratio"), report.value("tpr_difference")
    (0.3333333333333333, 0.5)
    """
    missing = [c for c in [target, prediction, *sensitive] if c not in frame.columns]
    if missing:
        raise KeyError(f"fairness_report: the frame lacks the columns {missing}")
    y = _binary(frame[target], positive)
    p = frame[prediction].astype(np.float64).to_numpy()
    group_tables, disparity_rows = [], []
    for column in sensitive:
        codes, labels = _codes(frame[column])
        k = len(labels)
        counts = _counts(y, p, codes, k, np.arange(len(y))[None, :])
        rates = _rates(counts)
        point = _disparities(rates)
        table = pd.DataFrame({"column": column, "group": labels, "rows": counts["rows"][0],
                              "positives": counts["positives"][0]})
        table["base_rate"] = table["positives"] / table["rows"]
        for name in GROUP_RATES:
            table[name] = rates[name][0]
        boot_rates, boot_disparities = ({}, {})
        if n_bootstrap:
            [(boot_rates, boot_disparities)] = _bootstrap(y, [p], codes, k, n_bootstrap,
                                                          random_state)
        for name in GROUP_RATES:
            low, high = _interval(boot_rates[name], confidence) if n_bootstrap else (np.nan,) * 2
            table[f"{name}_low"], table[f"{name}_high"] = low, high
        group_tables.append(table)
        for name in DISPARITIES:
            low, high = (_interval(boot_disparities[name], confidence) if n_bootstrap
                         else (np.nan, np.nan))
            disparity_rows.append({"column": column, "metric": name, "value": float(point[name][0]),
                                   "ci_low": float(low), "ci_high": float(high)})
    return FairnessReport(pd.concat(group_tables, ignore_index=True),
                          pd.DataFrame(disparity_rows), confidence, n_bootstrap, random_state)


def assess(model: Any, frame: pd.DataFrame, schema: Any, sensitive: Sequence[str],
           **options: Any) -> FairnessReport:
    """Score ``frame`` with ``model`` (anything whose ``predict(frame)`` returns a
    ``prediction`` column, e.g. the registry's pyfunc) and report its fairness against the
    schema's target; ``options`` go to :func:`fairness_report`."""
    output = model.predict(frame[[c for c in schema.feature_names if c in frame.columns]])
    scored = frame[list(sensitive)].assign(
        ground_truth=schema.target_as_int(frame).to_numpy(),
        prediction=np.asarray(output["prediction"]))
    return fairness_report(scored, sensitive, **options)


def compare_fairness(y_true: Any, challenger: Any, champion: Any, groups: Any,
                     metric: str = "equal_opportunity_difference", *, n_bootstrap: int = 1000,
                     confidence: float = 0.95, random_state: int = 0) -> dict[str, float]:
    """One disparity for two models' decisions on the same rows, and their paired difference.

    Both models are measured on every bootstrap resample, so ``difference_low`` /
    ``difference_high`` bound ``challenger - champion`` with the sampling noise they share.
    ``y_true`` and the decisions are 0/1; ``groups`` is the sensitive column.
    """
    metric = metric_name(metric)
    y = np.asarray(y_true, dtype=np.float64)
    a, b = np.asarray(challenger, dtype=np.float64), np.asarray(champion, dtype=np.float64)
    codes, labels = _codes(pd.Series(np.asarray(groups)))
    k, everything = len(labels), np.arange(len(y))[None, :]
    values = [float(_disparities(_rates(_counts(y, p, codes, k, everything)))[metric][0])
              for p in (a, b)]
    out = {"metric": metric, "challenger": values[0], "champion": values[1],
           "difference": values[0] - values[1]}
    if n_bootstrap:
        (_, da), (_, db) = _bootstrap(y, [a, b], codes, k, n_bootstrap, random_state)
        for name, draws in (("challenger", da[metric]), ("champion", db[metric]),
                            ("difference", da[metric] - db[metric])):
            low, high = _interval(draws, confidence)
            out[f"{name}_low"], out[f"{name}_high"] = float(low), float(high)
    return out


def fairness_by_window(log_frame: pd.DataFrame, sensitive: Sequence[str], *,
                       metric: str = "equal_opportunity_difference", freq: str = "7D",
                       window: str | None = None, timestamp: str = "timestamp",
                       target: str = "ground_truth", prediction: str = "prediction",
                       positive: Any = 1, min_rows: int = 1, n_bootstrap: int = 200,
                       confidence: float = 0.95, random_state: int = 0) -> pd.DataFrame:
    """A disparity per time window of the inference log, from its labelled rows.

    Parameters
    ----------
    log_frame : pandas.DataFrame
        Inference-log rows (``timestamp``, ``prediction``, ``ground_truth``, the features);
        rows whose label has not arrived (missing ``target``) are left out.
    sensitive : sequence of str
        The sensitive columns, one result row per (window, column).
    metric : str
        A name of :data:`DISPARITIES` (or :data:`ALIASES`).
    freq : str
        A fixed window width (``"1D"``, ``"7D"``, ``"12h"``); windows start at multiples of it
        from Monday 2000-01-03, as monitoring's windows do, so ``"7D"`` weeks start on Mondays.
    window : str or None
        A column already holding each row's window (e.g. ``window_start`` from
        :func:`closedloop.monitoring.windows.add_windows`, for calendar months); overrides
        ``freq``.
    min_rows : int
        Windows with fewer labelled rows are skipped.

    Returns
    -------
    pandas.DataFrame
        ``window_start``, ``column``, ``metric``, ``value``, ``ci_low``, ``ci_high``,
        ``labelled_rows``.
    """
    metric = metric_name(metric)
    labelled = log_frame[log_frame[target].notna()]
    if window is None:
        width = pd.Timedelta(freq)
        origin = pd.Timestamp("2000-01-03")
        stamps = pd.to_datetime(labelled[timestamp])
        if getattr(stamps.dt, "tz", None) is not None:
            stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
        starts = origin + ((stamps - origin) // width) * width
    else:
        starts = labelled[window]
    rows = []
    for start, part in labelled.groupby(starts.to_numpy(), sort=True):
        if len(part) < min_rows:
            continue
        report = fairness_report(part, sensitive, target=target, prediction=prediction,
                                 positive=positive, n_bootstrap=n_bootstrap,
                                 confidence=confidence, random_state=random_state)
        for column in sensitive:
            row = report.row(metric, column)
            rows.append({"window_start": start, "column": column, "metric": metric,
                         "value": row["value"], "ci_low": row["ci_low"],
                         "ci_high": row["ci_high"], "labelled_rows": len(part)})
    return pd.DataFrame(rows, columns=["window_start", "column", "metric", "value", "ci_low",
                                       "ci_high", "labelled_rows"])
