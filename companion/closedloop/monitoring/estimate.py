"""Performance estimated before the labels arrive: confidence-based performance estimation (CBPE).

Labels arrive weeks after the predictions (30 days for churn). A calibrated model's probability is
the chance that the row is positive, so the expected confusion matrix of a window follows from the
probabilities alone: a row predicted positive is a true positive with probability ``p`` and a
false positive with ``1 - p``; a row predicted negative a false negative with ``p`` and a true
negative with ``1 - p``. :class:`CBPE` (after NannyML's method of that name)

1. calibrates the model's probabilities on reference data with known labels (isotonic regression,
   used only when 5-fold cross-validation says it improves the Brier score: a model that is
   already calibrated is left alone);
2. per window, sums the calibrated probabilities into the expected TP, FP, FN and TN and derives
   accuracy, precision, recall and F1 (binary, for the positive class) as ratios of expected
   counts; ROC AUC is the expected Mann-Whitney statistic, each row counting as a positive with
   weight ``p`` and as a negative with weight ``1 - p`` (pairs of a row with itself excluded);
3. gives each estimate a sampling band: the range the *realised* metric should fall in if the
   calibrated model is right, each label being an independent Bernoulli(``p``) draw. The band is
   centred on the expected metric of the rows the realised metric is computed on, and its
   half-width is ``width`` standard deviations of that realised metric, clipped to [0, 1]. The
   standard deviations are analytic: exact for accuracy and precision (means of independent
   Bernoulli indicators over a fixed number of rows), the delta method for recall, F1 and ROC AUC
   (smooth functions of sums of independent Bernoulli terms). No resampling, so a window of a
   million rows costs a few passes over its probabilities.

The band is for the population the realised metric is computed on (column ``band_population``):
while only some labels are in, the realised metric is that of the labelled rows, so the band is
that of the labelled rows (``"labelled"``: their expected metric, with the wider sampling spread of
a smaller sample); once every label is in, or before any is, it is the window's (``"window"``).
A band for the whole window compared with the metric of a 5 % labelled subset would be far too
narrow: with a perfectly calibrated model it would hold the realised metric about half the time.
The point estimate ``estimated`` is always the whole window's.

Where labels have arrived, the realised metric of the labelled rows is shown beside the estimate.

CBPE assumes that ``P(y | x)`` is the same in production as in the reference data: it follows
covariate drift (the mix of customers changes, each keeps the reference's risk), and it cannot see
concept drift (the same customer now churns more), because the probabilities are all it looks at.

See Also
--------
Chapter :doc:`Drift and estimated performance </book/06_drift_and_estimation>`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from closedloop.monitoring.windows import WINDOW_START, Granularity, assign_windows

#: Metrics that :class:`CBPE` estimates (named as in :mod:`closedloop.monitoring.metrics`).
ESTIMATED_METRICS: tuple[str, ...] = (
    "roc_auc", "accuracy", "precision_binary", "recall_binary", "f1_binary")
#: Columns of :meth:`CBPE.estimate`, in order.
ESTIMATE_COLUMNS: tuple[str, ...] = (
    "window_start", "window_end", "metric", "row_count", "labelled_count", "estimated",
    "sampling_std", "lower", "upper", "realised", "realised_in_band", "band_population",
    "band_rows", "band_estimated")
#: Values of ``band_population``: the band is for the labelled rows, or for the whole window.
BAND_POPULATIONS: tuple[str, ...] = ("labelled", "window")


@dataclass
class CBPE:
    """Confidence-based performance estimation, fitted on labelled reference data.

    Parameters
    ----------
    calibration : str
        ``"auto"`` (isotonic regression if it lowers the cross-validated Brier score on the
        reference), ``"isotonic"`` or ``"none"``.
    metrics : sequence of str
        Metrics to estimate, from :data:`ESTIMATED_METRICS`.
    width : float
        Half-width of the band in standard deviations (3: about 99.7 % coverage when the
        realised metric is close to normal; 1.96: about 95 %).
    random_state : int
        Seeds the cross-validation folds of the calibration check.

    Examples
    --------
    A model whose probabilities are right: the estimate matches the realised accuracy.

    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(size=4_000)
    >>> frame = pd.DataFrame({"timestamp": pd.Timestamp("2026-01-01"), "prediction_proba": p,
    ...                       "prediction": (p >= 0.5).astype(int),
    ...                       "ground_truth": (rng.uniform(size=p.size) < p).astype(int)})
    >>> cbpe = CBPE().fit(frame)
    >>> row = cbpe.estimate(frame).set_index("metric").loc["accuracy"]
    >>> bool(row["lower"] <= row["realised"] <= row["upper"]), round(float(row["estimated"]), 2)
    (True, 0.75)
    """

    calibration: str = "auto"
    metrics: Sequence[str] = ESTIMATED_METRICS
    width: float = 3.0
    random_state: int = 0
    calibrated_: bool = field(default=False, init=False)
    report_: dict[str, Any] = field(default_factory=dict, init=False)

    def fit(self, reference: pd.DataFrame, *, proba: str = "prediction_proba",
            label: str = "ground_truth") -> CBPE:
        """Learn the calibration map on ``reference`` (rows without a label are ignored)."""
        unknown = sorted(set(self.metrics) - set(ESTIMATED_METRICS))
        if unknown or self.calibration not in ("auto", "isotonic", "none"):
            raise ValueError(f"unknown metric(s) {unknown} or calibration {self.calibration!r}")
        labelled = reference[reference[label].notna()]
        if labelled[label].nunique() < 2:
            raise ValueError("the reference needs labelled rows of both classes")
        p = labelled[proba].to_numpy(np.float64)
        y = labelled[label].to_numpy(np.float64)
        raw, cross = _brier(p, y), _cross_validated_brier(p, y, self.random_state)
        self.calibrated_ = self.calibration == "isotonic" or (
            self.calibration == "auto" and cross < raw)
        self._iso = _isotonic().fit(p, y) if self.calibrated_ else None
        self.report_ = {"reference_rows": int(len(labelled)), "brier_raw": raw,
                        "brier_isotonic_cv": cross, "calibrated": self.calibrated_,
                        "positive_rate": float(y.mean())}
        return self

    def calibrate(self, proba: np.ndarray | pd.Series) -> np.ndarray:
        """The calibrated probability of each score (the identity when not calibrated)."""
        p = np.asarray(proba, dtype=np.float64)
        if not hasattr(self, "_iso"):
            raise RuntimeError("call fit() on reference data first")
        return p if self._iso is None else self._iso.predict(p)

    def estimate(self, frame: pd.DataFrame, granularity: str | Granularity = "1d", *,
                 timestamp: str = "timestamp", proba: str = "prediction_proba",
                 prediction: str = "prediction", label: str | None = "ground_truth"
                 ) -> pd.DataFrame:
        """Estimated metrics per window, with their band and, where labels exist, the realised
        metric: one row per window and metric, columns :data:`ESTIMATE_COLUMNS`.

        ``frame`` has ``timestamp`` (or a ``window_start`` column), the model's ``proba`` and
        ``prediction``, and optionally the ``label`` (null until it arrives).

        ``estimated`` is the expected metric of the whole window. The band (``lower``,
        ``upper``, from ``sampling_std``) is for the population the realised metric is computed
        on: ``band_population`` is ``"labelled"`` when some but not all of the window's labels
        are in (the band is centred on ``band_estimated``, the expected metric of those
        ``band_rows`` labelled rows), ``"window"`` otherwise (``band_estimated`` equals
        ``estimated``, ``band_rows`` the ``row_count``).
        """
        grain = Granularity.parse(granularity)
        starts = (pd.to_datetime(frame[WINDOW_START]) if WINDOW_START in frame.columns
                  else assign_windows(frame[timestamp], grain))
        codes, windows = pd.factorize(starts, sort=True)
        return self.estimate_arrays(codes, pd.DatetimeIndex(windows),
                                    frame[proba].to_numpy(np.float64),
                                    frame[prediction].to_numpy(), _labels(frame, label), grain)

    def estimate_arrays(self, codes: np.ndarray, windows: pd.DatetimeIndex,
                        scores: np.ndarray, predicted: np.ndarray, labels: np.ndarray,
                        granularity: str | Granularity = "1d") -> pd.DataFrame:
        """:meth:`estimate` on arrays: each row's window number ``codes`` (into the window
        starts ``windows``), the model's ``scores`` and 0/1 ``predicted``, and ``labels`` as
        floats (NaN until known). What :func:`closedloop.monitoring.aggregates.estimate_from_log`
        calls with columns read straight from the log."""
        grain = Granularity.parse(granularity)
        codes = np.asarray(codes)
        if codes.size == 0:
            return pd.DataFrame(columns=list(ESTIMATE_COLUMNS))
        # One stable sort by window, then each window is a slice (rows keep their order, so the
        # sums, hence the point estimates, are those of a boolean selection of the window).
        if len(windows) == 1:   # one window: the rows as they are
            order, bounds = slice(None), np.array([0, codes.size])
        else:
            small = np.int16 if len(windows) < 2**15 else np.int64   # int16: a radix sort
            order = np.argsort(codes.astype(small), kind="stable")
            bounds = np.searchsorted(codes[order], np.arange(len(windows) + 1))
        all_scores = np.asarray(scores, np.float64)[order]
        all_predicted = np.asarray(predicted)[order].astype(bool)
        all_p = self.calibrate(all_scores)
        all_y = np.asarray(labels, np.float64)[order]
        starts = pd.DatetimeIndex(windows)

        def window_rows(i: int) -> list[dict[str, Any]]:
            part = slice(bounds[i], bounds[i + 1])
            scores, predicted, p, y = (all_scores[part], all_predicted[part], all_p[part],
                                       all_y[part])
            ranked = _ranked(scores)   # one sort of the window's scores, shared
            estimated = expected_metrics(p, predicted, scores, ranked=ranked)
            known = ~np.isnan(y)
            labelled = int(known.sum())
            realised = _realised_arrays(y[known], predicted[known], scores[known])
            if 0 < labelled < p.size:   # the realised metric is the labelled rows': so the band
                population = "labelled"
                subset = _ranked(scores[known])
                centre = expected_metrics(p[known], predicted[known], scores[known],
                                          ranked=subset)
                std = sampling_std(p[known], predicted[known], scores[known], ranked=subset)
            else:
                population, centre = "window", estimated
                std = sampling_std(p, predicted, scores, ranked=ranked)
            rows = []
            for metric in self.metrics:
                low = max(0.0, centre[metric] - self.width * std[metric])
                high = min(1.0, centre[metric] + self.width * std[metric])
                truth = realised.get(metric, np.nan)
                rows.append({
                    "window_start": starts[i], "window_end": grain.end(starts[i]),
                    "metric": metric, "row_count": p.size, "labelled_count": labelled,
                    "estimated": estimated[metric], "sampling_std": std[metric],
                    "lower": low, "upper": high, "realised": truth,
                    "realised_in_band": (bool(low <= truth <= high) if np.isfinite(truth)
                                         else pd.NA),
                    "band_population": population,
                    "band_rows": labelled if population == "labelled" else p.size,
                    "band_estimated": centre[metric]})
            return rows

        # Windows in parallel threads: their sorts and sums are numpy's, which release the GIL.
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            rows = [row for part in pool.map(window_rows, range(len(starts))) for row in part]
        table = pd.DataFrame(rows, columns=list(ESTIMATE_COLUMNS))
        table["realised_in_band"] = table["realised_in_band"].astype("boolean")
        return table


def _isotonic() -> Any:
    from sklearn.isotonic import IsotonicRegression

    return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")


def _brier(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((p - y) ** 2))


def _cross_validated_brier(p: np.ndarray, y: np.ndarray, seed: int, folds: int = 5) -> float:
    """Brier score of isotonic calibration, each fold calibrated on the other folds."""
    fold = np.random.default_rng(seed).permutation(p.size) % folds
    out = np.empty_like(p)
    for k in range(folds):
        test = fold == k
        out[test] = _isotonic().fit(p[~test], y[~test]).predict(p[test])
    return _brier(out, y)


def _ranked(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One sort of ``scores``: each score's group among the sorted distinct scores (as
    ``np.unique``'s inverse), the number of ties of each group, and each score's midrank (as
    ``scipy.stats.rankdata``)."""
    scores = np.asarray(scores, np.float64)
    order = np.argsort(scores)
    ordered = scores[order]
    new = np.ones(scores.size, bool)
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    group = np.empty(scores.size, np.int64)
    if new.all():   # no ties (a continuous score): each score its own group, midrank = rank
        group[order] = np.arange(scores.size)
        return group, np.ones(scores.size, np.int64), group + 1.0
    starts = np.flatnonzero(new)
    ties = np.diff(np.append(starts, scores.size))
    group[order] = np.cumsum(new) - 1
    return group, ties, (starts + (ties + 1) / 2.0)[group]


def expected_metrics(p: np.ndarray, predicted: np.ndarray, scores: np.ndarray, *,
                     ranked: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                     ) -> dict[str, float]:
    """Metrics of the expected confusion matrix, and the expected ROC AUC.

    ``p`` are calibrated probabilities, ``predicted`` the model's 0/1 decisions, ``scores`` what
    the model ranks by (its raw probabilities). ``ranked`` is the ranking of ``scores`` when the
    caller already sorted them (computed when omitted).

    Examples
    --------
    >>> m = expected_metrics(np.array([0.9, 0.2]), np.array([1, 0]), np.array([0.9, 0.2]))
    >>> round(m["accuracy"], 2), round(m["precision_binary"], 2), round(m["roc_auc"], 2)
    (0.85, 0.9, 0.97)
    """
    p, predicted = np.asarray(p, float), np.asarray(predicted, bool)
    positive, negative = p[predicted], p[~predicted]
    tp, fn = positive.sum(), negative.sum()
    fp, tn = positive.size - tp, negative.size - fn
    out = _confusion(np.array([tp]), np.array([fp]), np.array([fn]), np.array([tn]))
    return {k: float(v[0]) for k, v in out.items()} | {
        "roc_auc": _expected_auc(p, scores, (ranked or _ranked(scores))[0])}


def _confusion(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray
               ) -> dict[str, np.ndarray]:
    """Accuracy, precision, recall and F1 of (arrays of) confusion counts; 0 where undefined,
    as scikit-learn's ``zero_division=0``."""
    def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den > 0)

    return {"accuracy": ratio(tp + tn, tp + fp + fn + tn),
            "precision_binary": ratio(tp, tp + fp), "recall_binary": ratio(tp, tp + fn),
            "f1_binary": ratio(2 * tp, 2 * tp + fp + fn)}


def _expected_auc(p: np.ndarray, scores: np.ndarray, group: np.ndarray | None = None
                  ) -> float:
    """Weighted Mann-Whitney: sum over ordered pairs i != j of p_i (1 - p_j) [s_i > s_j], ties
    counting one half, divided by the sum of the weights of those pairs. ``group`` is each
    score's rank among the distinct scores (``np.unique``'s inverse), when already known."""
    q = 1.0 - p
    if group is None:
        _, group = np.unique(scores, return_inverse=True)
    q_by_score = np.bincount(group, weights=q)
    below = np.concatenate([[0.0], np.cumsum(q_by_score)[:-1]])
    wins = np.sum(p * (below[group] + 0.5 * q_by_score[group])) - 0.5 * np.sum(p * q)
    pairs = p.sum() * q.sum() - np.sum(p * q)
    return float(wins / pairs) if pairs > 0 else float("nan")


def sampling_std(p: np.ndarray, predicted: np.ndarray, scores: np.ndarray, *,
                 ranked: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                 ) -> dict[str, float]:
    """Standard deviation of each realised metric of these rows when their labels are drawn
    independently from Bernoulli(``p``).

    Accuracy and precision are means of independent Bernoulli indicators over a number of rows
    fixed by the predictions, so their variance is exact: ``sum p (1 - p)`` over the rows
    concerned, divided by their count squared. Recall ``TP / (TP + FN)``, F1
    ``2 TP / (n_pred + TP + FN)`` (``n_pred`` the rows predicted positive) and the Mann-Whitney
    ROC AUC ``(S - P (P + 1) / 2) / (P (n - P))`` (``S`` the sum of the positives' ranks, ``P``
    the number of positives) are smooth functions of sums of independent Bernoulli terms; their
    variance is the delta method's, the gradient taken at the expected sums. ``ranked`` is the
    ranking of ``scores`` when the caller already sorted them (computed when omitted).

    Examples
    --------
    >>> p = np.full(400, 0.5)
    >>> round(sampling_std(p, p >= 0.5, p)["accuracy"], 4)   # sqrt(0.25 / 400)
    0.025
    """
    p, predicted = np.asarray(p, np.float64), np.asarray(predicted, bool)
    n = p.size
    v = p * (1.0 - p)
    n_pred = float(predicted.sum())
    a, b = p[predicted].sum(), p[~predicted].sum()            # expected TP and FN
    var_a, var_b = v[predicted].sum(), v[~predicted].sum()

    def root(num: float, den: float) -> float:
        return float(np.sqrt(max(num, 0.0) / den)) if den > 0 else 0.0

    out = {"accuracy": root(v.sum(), n ** 2), "precision_binary": root(var_a, n_pred ** 2),
           "recall_binary": root(b ** 2 * var_a + a ** 2 * var_b, (a + b) ** 4),
           "f1_binary": root(4 * ((n_pred + b) ** 2 * var_a + a ** 2 * var_b),
                             (n_pred + a + b) ** 4)}
    # midranks: the Mann-Whitney AUC with ties, as scikit-learn's
    ranks = (ranked or _ranked(scores))[2]
    # Products summed, not ``@``: a BLAS call may start threads that wait on a busy machine.
    s, m = float(np.sum(p * ranks)), a + b                    # expected S and P
    pairs = m * (n - m)
    if pairs > 0:
        d_s = 1.0 / pairs
        d_m = (-(m + 0.5) * pairs - (s - m * (m + 1) / 2) * (n - 2 * m)) / pairs ** 2
        vr = v * ranks
        var = (d_s ** 2 * np.sum(vr * ranks) + 2 * d_s * d_m * np.sum(vr)
               + d_m ** 2 * v.sum())
        out["roc_auc"] = float(np.sqrt(max(var, 0.0)))
    else:
        out["roc_auc"] = float("nan")
    return out


def _labels(frame: pd.DataFrame, label: str | None) -> np.ndarray:
    """The labels as floats, NaN where not (yet) known (all NaN without a label column)."""
    out = np.full(len(frame), np.nan)
    if label is not None and label in frame.columns:
        known = frame[label].notna().to_numpy()
        out[known] = frame[label].to_numpy()[known].astype(float)
    return out


def _realised(part: pd.DataFrame, label: str | None, predicted: np.ndarray,
              scores: np.ndarray) -> tuple[dict[str, float], int]:
    """The metrics of the window's labelled rows (empty when none is labelled), and their
    count."""
    y = _labels(part, label)
    known = ~np.isnan(y)
    return _realised_arrays(y[known], predicted[known], scores[known]), int(known.sum())


def _realised_arrays(y: np.ndarray, pred: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """The metrics of labelled rows: labels ``y``, decisions ``pred``, ranking ``scores``."""
    if y.size == 0:
        return {}
    counts = [np.array([float(np.sum(m))]) for m in (
        (y == 1) & pred, (y == 0) & pred, (y == 1) & ~pred, (y == 0) & ~pred)]
    out = {k: float(v[0]) for k, v in _confusion(*counts).items()}
    n_pos, n_neg = y.sum(), (1 - y).sum()
    ranks = rankdata(scores)
    out["roc_auc"] = float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
                           ) if n_pos and n_neg else float("nan")
    return out


def estimate_performance(current: pd.DataFrame, reference: pd.DataFrame,
                         granularity: str | Granularity = "1d", **kwargs: Any) -> pd.DataFrame:
    """Fit :class:`CBPE` on ``reference`` and estimate ``current`` per window (keyword
    arguments go to :class:`CBPE`)."""
    return CBPE(**kwargs).fit(reference).estimate(current, granularity)


def estimate_wide(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One metric of :meth:`CBPE.estimate` as a frame indexed by window (for plots and reports).

    Examples
    --------
    >>> t = pd.DataFrame({"window_start": [1, 1], "metric": ["a", "b"], "estimated": [.5, .6],
    ...                   "lower": [.4, .5], "upper": [.6, .7], "realised": [.55, None]})
    >>> estimate_wide(t, "a").to_dict("records")
    [{'estimated': 0.5, 'lower': 0.4, 'upper': 0.6, 'realised': 0.55}]
    """
    chosen = table[table["metric"] == metric].set_index(WINDOW_START)
    return chosen[["estimated", "lower", "upper", "realised"]]

