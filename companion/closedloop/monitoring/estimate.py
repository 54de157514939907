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
3. gives each estimate a sampling band: labels are drawn ``n_draws`` times from Bernoulli(``p``)
   (a parametric bootstrap) and the band is the estimate plus or minus ``width`` standard
   deviations of the metric over the draws, clipped to [0, 1]. It is the range the *realised*
   metric of a window of that size should fall in if the calibrated model is right.

Where labels have arrived, the realised metric of the labelled rows is shown beside the estimate.

CBPE assumes that ``P(y | x)`` is the same in production as in the reference data: it follows
covariate drift (the mix of customers changes, each keeps the reference's risk), and it cannot see
concept drift (the same customer now churns more), because the probabilities are all it looks at.

See Also
--------
Chapter "Drift and estimated performance" (``book/06_drift_and_estimation.ipynb``).
"""

from __future__ import annotations

from collections.abc import Sequence
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
    "sampling_std", "lower", "upper", "realised", "realised_in_band")


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
    n_draws : int
        Draws of the parametric bootstrap behind the sampling band.
    width : float
        Half-width of the band in standard deviations (3: about 99.7 % coverage when the
        realised metric is close to normal).
    random_state : int
        Seeds the cross-validation folds and the bootstrap.

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
    n_draws: int = 400
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
        """
        grain = Granularity.parse(granularity)
        starts = (pd.to_datetime(frame[WINDOW_START]) if WINDOW_START in frame.columns
                  else assign_windows(frame[timestamp], grain))
        codes, windows = pd.factorize(starts, sort=True)
        rng = np.random.default_rng(self.random_state)
        rows = []
        for i, start in enumerate(pd.DatetimeIndex(windows)):
            part = frame[codes == i]
            scores = part[proba].to_numpy(np.float64)
            predicted = part[prediction].to_numpy().astype(bool)
            p = self.calibrate(scores)
            estimated = expected_metrics(p, predicted, scores)
            std = _bootstrap_std(p, predicted, scores, self.n_draws, rng)
            realised, labelled = _realised(part, label, predicted, scores)
            for metric in self.metrics:
                low = max(0.0, estimated[metric] - self.width * std[metric])
                high = min(1.0, estimated[metric] + self.width * std[metric])
                truth = realised.get(metric, np.nan)
                rows.append({
                    "window_start": start, "window_end": grain.end(start), "metric": metric,
                    "row_count": len(part), "labelled_count": labelled,
                    "estimated": estimated[metric], "sampling_std": std[metric],
                    "lower": low, "upper": high, "realised": truth,
                    "realised_in_band": (bool(low <= truth <= high) if np.isfinite(truth)
                                         else pd.NA)})
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


def expected_metrics(p: np.ndarray, predicted: np.ndarray, scores: np.ndarray
                     ) -> dict[str, float]:
    """Metrics of the expected confusion matrix, and the expected ROC AUC.

    ``p`` are calibrated probabilities, ``predicted`` the model's 0/1 decisions, ``scores`` what
    the model ranks by (its raw probabilities).

    Examples
    --------
    >>> m = expected_metrics(np.array([0.9, 0.2]), np.array([1, 0]), np.array([0.9, 0.2]))
    >>> round(m["accuracy"], 2), round(m["precision_binary"], 2), round(m["roc_auc"], 2)
    (0.85, 0.9, 0.97)
    """
    p, predicted = np.asarray(p, float), np.asarray(predicted, bool)
    tp, fp = p[predicted].sum(), (1 - p[predicted]).sum()
    fn, tn = p[~predicted].sum(), (1 - p[~predicted]).sum()
    out = _confusion(np.array([tp]), np.array([fp]), np.array([fn]), np.array([tn]))
    return {k: float(v[0]) for k, v in out.items()} | {"roc_auc": _expected_auc(p, scores)}


def _confusion(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray
               ) -> dict[str, np.ndarray]:
    """Accuracy, precision, recall and F1 of (arrays of) confusion counts; 0 where undefined,
    as scikit-learn's ``zero_division=0``."""
    def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den > 0)

    return {"accuracy": ratio(tp + tn, tp + fp + fn + tn),
            "precision_binary": ratio(tp, tp + fp), "recall_binary": ratio(tp, tp + fn),
            "f1_binary": ratio(2 * tp, 2 * tp + fp + fn)}


def _expected_auc(p: np.ndarray, scores: np.ndarray) -> float:
    """Weighted Mann-Whitney: sum over ordered pairs i != j of p_i (1 - p_j) [s_i > s_j], ties
    counting one half, divided by the sum of the weights of those pairs."""
    q = 1.0 - p
    _, group = np.unique(scores, return_inverse=True)
    q_by_score = np.bincount(group, weights=q)
    below = np.concatenate([[0.0], np.cumsum(q_by_score)[:-1]])
    wins = np.sum(p * (below[group] + 0.5 * q_by_score[group])) - 0.5 * np.sum(p * q)
    pairs = p.sum() * q.sum() - np.sum(p * q)
    return float(wins / pairs) if pairs > 0 else float("nan")


def _bootstrap_std(p: np.ndarray, predicted: np.ndarray, scores: np.ndarray, draws: int,
                   rng: np.random.Generator, chunk: int = 50) -> dict[str, float]:
    """Standard deviation of each realised metric when labels are drawn from Bernoulli(p)."""
    ranks = rankdata(scores)  # midranks: the Mann-Whitney AUC with ties, as scikit-learn's
    pred = predicted.astype(float)
    values: dict[str, list[np.ndarray]] = {}
    for start in range(0, draws, chunk):
        y = (rng.random((min(chunk, draws - start), p.size)) < p).astype(float)
        tp = y @ pred
        positives = y.sum(axis=1)
        fp, fn = pred.sum() - tp, positives - tp
        tn = p.size - tp - fp - fn
        batch = _confusion(tp, fp, fn, tn)
        negatives = p.size - positives
        with np.errstate(divide="ignore", invalid="ignore"):
            batch["roc_auc"] = (y @ ranks - positives * (positives + 1) / 2) / (
                positives * negatives)
        for name, value in batch.items():
            values.setdefault(name, []).append(value)
    return {name: float(np.nanstd(np.concatenate(v))) for name, v in values.items()}


def _realised(part: pd.DataFrame, label: str | None, predicted: np.ndarray,
              scores: np.ndarray) -> tuple[dict[str, float], int]:
    """The metrics of the window's labelled rows (empty when none is labelled)."""
    if label is None or label not in part.columns:
        return {}, 0
    known = part[label].notna().to_numpy()
    if not known.any():
        return {}, 0
    y = part[label].to_numpy()[known].astype(float)
    pred = predicted[known]
    counts = [np.array([float(np.sum(m))]) for m in (
        (y == 1) & pred, (y == 0) & pred, (y == 1) & ~pred, (y == 0) & ~pred)]
    out = {k: float(v[0]) for k, v in _confusion(*counts).items()}
    n_pos, n_neg = y.sum(), (1 - y).sum()
    ranks = rankdata(scores[known])
    out["roc_auc"] = float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
                           ) if n_pos and n_neg else float("nan")
    return out, int(known.sum())


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

