"""Champion versus challenger on the same holdout: paired bootstrap, DeLong, non-inferiority.

Two models are compared on **one** frame, row by row. The paired bootstrap resamples the holdout's
rows once per replicate and measures both models on the same resample, so the interval is for the
*difference* and the noise the two models share (hard rows, easy rows) cancels. For ROC AUC the
DeLong test gives the same interval analytically, with the fast algorithm of Sun and Xu (2014):
O(n log n) instead of comparing every positive with every negative.

A challenger passes when it is **non-inferior**: the lower end of the interval for
``challenger - champion`` is above ``-margin``. "No worse than the champion, within a margin we
chose in advance" is the question a promotion asks; "significantly better" would keep a champion
forever on a small holdout, and "point estimate higher" would promote noise.

See Also
--------
Chapter :doc:`Quality gates </book/04_quality_gates>`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from closedloop.gates.checks import CheckResult

#: Metrics the comparison supports; the values say whether a higher value is better.
HIGHER_IS_BETTER: dict[str, bool] = {
    "roc_auc": True, "pr_auc": True, "f1": True, "precision": True, "recall": True,
    "accuracy": True, "brier": False, "log_loss": False,
}
_CHUNK_CELLS = 4_000_000  # weights per chunk (replicates x rows): bounds memory on big holdouts


def bootstrap_weights(n: int, n_bootstrap: int, random_state: int = 0) -> Iterator[np.ndarray]:
    """Resampling weights, in chunks: row ``j`` of a chunk counts how often each row was drawn.

    Drawing ``n`` row indices with replacement and counting them is the ordinary bootstrap
    resample; as weights it lets every metric below be a matrix product instead of a loop.

    Examples
    --------
    >>> chunk = next(bootstrap_weights(5, 3, random_state=0))
    >>> chunk.shape, chunk.sum(axis=1).tolist()
    ((3, 5), [5.0, 5.0, 5.0])
    """
    rng = np.random.default_rng(random_state)
    per_chunk = max(1, _CHUNK_CELLS // max(n, 1))
    for start in range(0, n_bootstrap, per_chunk):
        size = min(per_chunk, n_bootstrap - start)
        drawn = rng.integers(0, n, size=(size, n)) + n * np.arange(size)[:, None]
        yield np.bincount(drawn.ravel(), minlength=size * n).reshape(size, n).astype(np.float64)


def weighted_metric(metric: str, y: np.ndarray, proba: np.ndarray, prediction: np.ndarray,
                    weights: np.ndarray) -> np.ndarray:
    """``metric`` once per row of ``weights``, each row a resample (all ones: the plain metric).

    Label metrics use ``prediction`` (the model's own threshold), ranking metrics and Brier use
    ``proba``. Ties in ``proba`` count one half in ROC AUC and form one step in average precision,
    as in scikit-learn, so with unit weights the values equal ``sklearn.metrics``.

    Examples
    --------
    >>> y, p = np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.9])
    >>> float(weighted_metric("roc_auc", y, p, p >= 0.5, np.ones((1, 4)))[0])
    0.75
    """
    if metric not in _METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {sorted(_METRICS)}")
    y, proba = np.asarray(y, dtype=np.float64), np.asarray(proba, dtype=np.float64)
    prediction = np.asarray(prediction, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _METRICS[metric](y, proba, prediction, np.atleast_2d(weights))


def _label_counts(y: np.ndarray, pred: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    return w @ (y * pred), w @ pred, w @ y, w.sum(axis=1)  # TP, predicted +, actual +, total


def _f1(y, proba, pred, w):
    tp, predicted, actual, _ = _label_counts(y, pred, w)
    return np.where(predicted + actual > 0, 2 * tp / (predicted + actual), 0.0)


def _precision(y, proba, pred, w):
    tp, predicted, _, _ = _label_counts(y, pred, w)
    return np.where(predicted > 0, tp / predicted, 0.0)  # scikit-learn's zero_division=0


def _recall(y, proba, pred, w):
    tp, _, actual, _ = _label_counts(y, pred, w)
    return np.where(actual > 0, tp / actual, np.nan)


def _accuracy(y, proba, pred, w):
    return w @ (y == pred).astype(np.float64) / w.sum(axis=1)


def _brier(y, proba, pred, w):
    return w @ (proba - y) ** 2 / w.sum(axis=1)


def _log_loss(y, proba, pred, w):
    p = np.clip(proba, np.finfo(np.float64).eps, 1 - np.finfo(np.float64).eps)
    return w @ -(y * np.log(p) + (1 - y) * np.log1p(-p)) / w.sum(axis=1)


def _tied_groups(proba: np.ndarray, y: np.ndarray, w: np.ndarray,
                 descending: bool) -> tuple[np.ndarray, np.ndarray]:
    """Weight of positives and of negatives at each distinct score, scores in order."""
    order = np.argsort(-proba if descending else proba, kind="mergesort")
    ordered = proba[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    w_sorted = w[:, order]
    positives = np.add.reduceat(w_sorted * y[order], starts, axis=1)
    negatives = np.add.reduceat(w_sorted * (1 - y[order]), starts, axis=1)
    return positives, negatives


def _roc_auc(y, proba, pred, w):
    # Mann-Whitney: each positive scores the share of negatives ranked below it, ties count half.
    positives, negatives = _tied_groups(proba, y, w, descending=False)
    below = np.cumsum(negatives, axis=1) - negatives
    pairs = positives.sum(axis=1) * negatives.sum(axis=1)
    return (positives * (below + 0.5 * negatives)).sum(axis=1) / pairs


def _pr_auc(y, proba, pred, w):
    # Average precision: precision at each distinct threshold, weighted by the recall it adds.
    positives, negatives = _tied_groups(proba, y, w, descending=True)
    tp, fp = np.cumsum(positives, axis=1), np.cumsum(negatives, axis=1)
    return (positives * tp / np.maximum(tp + fp, 1e-300)).sum(axis=1) / positives.sum(axis=1)


_METRICS: dict[str, Callable[..., np.ndarray]] = {
    "roc_auc": _roc_auc, "pr_auc": _pr_auc, "f1": _f1, "precision": _precision,
    "recall": _recall, "accuracy": _accuracy, "brier": _brier, "log_loss": _log_loss,
}


def paired_bootstrap(metric: str, y: np.ndarray, challenger: pd.DataFrame,
                     champion: pd.DataFrame, *, n_bootstrap: int = 1000,
                     random_state: int = 0) -> np.ndarray:
    """Bootstrap distribution of the improvement of ``challenger`` over ``champion``.

    Both models are measured on the same resample of rows in every replicate. The improvement is
    ``challenger - champion`` for metrics where higher is better and ``champion - challenger`` for
    Brier and log loss, so a positive value always means the challenger is better.

    Parameters
    ----------
    metric : str
        A key of :data:`HIGHER_IS_BETTER`.
    y : numpy.ndarray
        The 0/1 labels of the holdout.
    challenger, champion : pandas.DataFrame
        Each model's output on the same holdout rows: ``prediction`` and ``prediction_proba``.
    n_bootstrap : int
        Number of replicates.
    random_state : int
        Seeds the resampling; the same seed gives the same distribution.

    Returns
    -------
    numpy.ndarray
        One improvement per replicate (NaN where a resample has no positive, for example).

    Examples
    --------
    >>> y = np.array([0, 0, 1, 1, 0, 1])
    >>> a = pd.DataFrame({"prediction": [0, 0, 1, 1, 0, 1],
    ...                   "prediction_proba": [.1, .2, .8, .9, .3, .7]})
    >>> paired_bootstrap("f1", y, a, a, n_bootstrap=50).tolist() == [0.0] * 50
    True
    """
    y = np.asarray(y, dtype=np.float64)
    if not len(y) == len(challenger) == len(champion):
        raise ValueError(f"paired comparison needs one row per holdout row: {len(y)} labels, "
                         f"{len(challenger)} challenger and {len(champion)} champion rows")
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    outputs = [(frame["prediction_proba"].to_numpy(), frame["prediction"].to_numpy())
               for frame in (challenger, champion)]
    chunks = []
    for weights in bootstrap_weights(len(y), n_bootstrap, random_state):
        ours, theirs = (weighted_metric(metric, y, p, label, weights) for p, label in outputs)
        chunks.append(sign * (ours - theirs))
    return np.concatenate(chunks)


@dataclass(frozen=True)
class DeLongResult:
    """The DeLong test of two correlated ROC AUCs measured on the same rows."""

    auc_a: float
    auc_b: float
    difference: float
    std_error: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float
    confidence: float


def _midranks(values: np.ndarray) -> np.ndarray:
    return stats.rankdata(values, method="average", axis=-1)


def delong_test(y: np.ndarray, proba_a: np.ndarray, proba_b: np.ndarray, *,
                confidence: float = 0.95) -> DeLongResult:
    """DeLong's test for ``AUC(a) - AUC(b)`` on the same rows (fast algorithm, Sun & Xu 2014).

    The AUC is the mean over positives of each positive's "placement" (the share of negatives it
    outranks). DeLong's variance is built from these placements; Sun and Xu compute them from
    three rankings (positives, negatives, all) instead of the m x n comparison matrix.

    Examples
    --------
    >>> y = np.array([0, 0, 0, 1, 1, 1])
    >>> a, b = np.array([.1, .2, .6, .4, .8, .9]), np.array([.3, .2, .1, .4, .5, .6])
    >>> result = delong_test(y, a, b)
    >>> round(result.auc_a, 4), round(result.auc_b, 4), round(result.difference, 4)
    (0.8889, 1.0, -0.1111)
    """
    y = np.asarray(y).astype(bool)
    m, n = int(y.sum()), int((~y).sum())
    if m < 2 or n < 2:
        raise ValueError(f"DeLong needs at least two rows of each class, got {m} and {n}")
    scores = np.vstack([np.asarray(proba_a, dtype=np.float64),
                        np.asarray(proba_b, dtype=np.float64)])
    pos, neg = scores[:, y], scores[:, ~y]
    rank_pos, rank_neg = _midranks(pos), _midranks(neg)
    rank_all = _midranks(np.hstack([pos, neg]))
    aucs = (rank_all[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    placements_pos = (rank_all[:, :m] - rank_pos) / n  # share of negatives below each positive
    placements_neg = 1 - (rank_all[:, m:] - rank_neg) / m  # share of positives above each negative
    cov = np.cov(placements_pos) / m + np.cov(placements_neg) / n
    variance = max(float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]), 0.0)
    difference = float(aucs[0] - aucs[1])
    se = float(np.sqrt(variance))
    z_crit = float(stats.norm.ppf(0.5 + confidence / 2))
    z = difference / se if se > 0 else (0.0 if difference == 0 else np.sign(difference) * np.inf)
    return DeLongResult(float(aucs[0]), float(aucs[1]), difference, se, difference - z_crit * se,
                        difference + z_crit * se, float(z), float(2 * stats.norm.sf(abs(z))),
                        confidence)


@dataclass(frozen=True)
class MetricComparison:
    """One metric of a champion/challenger comparison; ``difference`` > 0: the challenger is better.

    ``ci_low``/``ci_high`` is the interval that decides (``method``); ``bootstrap_ci`` and
    ``delong`` keep both intervals for ROC AUC, so a reader can see that they agree.
    """

    metric: str
    challenger: float
    champion: float
    difference: float
    ci_low: float
    ci_high: float
    method: str
    margin: float
    confidence: float
    bootstrap_ci: tuple[float, float]
    replicates: np.ndarray = field(repr=False, compare=False)
    delong: DeLongResult | None = None

    @property
    def non_inferior(self) -> bool:
        """True when the interval's lower end is above minus the margin."""
        return bool(self.ci_low >= -self.margin)

    @property
    def verdict(self) -> str:
        """Better, within noise, not shown non-inferior, or worse beyond the margin."""
        if self.ci_low > 0:
            return "better than the champion"
        if self.ci_high < -self.margin:
            return "worse than the champion beyond the margin"
        if self.non_inferior:
            return "within noise of the champion: non-inferior"
        return "not shown non-inferior: the interval reaches below the margin"

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (the replicates themselves are left out)."""
        out = {k: getattr(self, k) for k in (
            "metric", "challenger", "champion", "difference", "ci_low", "ci_high", "method",
            "margin", "confidence")}
        out["bootstrap_ci"] = list(self.bootstrap_ci)
        out["n_bootstrap"] = int(len(self.replicates))
        if self.delong is not None:
            out["delong"] = {"ci_low": self.delong.ci_low, "ci_high": self.delong.ci_high,
                             "std_error": self.delong.std_error, "p_value": self.delong.p_value}
        return out


def compare_models(y: np.ndarray, challenger: pd.DataFrame, champion: pd.DataFrame, *,
                   margins: Mapping[str, float], n_bootstrap: int = 1000,
                   confidence: float = 0.95, auc_method: str = "delong",
                   random_state: int = 0) -> dict[str, MetricComparison]:
    """Compare two models' outputs on the same holdout, one :class:`MetricComparison` per metric.

    Parameters
    ----------
    y : numpy.ndarray
        The 0/1 labels of the holdout.
    challenger, champion : pandas.DataFrame
        Each model's output on the same rows (``prediction``, ``prediction_proba``); label
        metrics are at each model's own threshold.
    margins : mapping
        ``metric -> non-inferiority margin`` (in the metric's units, e.g. 0.02 ROC AUC).
    n_bootstrap : int
        Paired bootstrap replicates.
    confidence : float
        Two-sided confidence of the intervals (0.95: non-inferiority at one-sided 2.5 %).
    auc_method : str
        Which interval decides for ROC AUC, ``"delong"`` or ``"bootstrap"``; the other is
        reported beside it.
    random_state : int
        Seeds the bootstrap.

    Examples
    --------
    >>> y = np.tile([0, 1], 50)
    >>> good = pd.DataFrame({"prediction": y, "prediction_proba": np.where(y, .8, .2)})
    >>> result = compare_models(y, good, good, margins={"roc_auc": 0.02}, n_bootstrap=100)
    >>> result["roc_auc"].verdict
    'within noise of the champion: non-inferior'
    """
    if auc_method not in ("delong", "bootstrap"):
        raise ValueError(f"auc_method must be 'delong' or 'bootstrap', got {auc_method!r}")
    y = np.asarray(y)
    alpha = 1 - confidence
    out = {}
    for metric, margin in margins.items():
        replicates = paired_bootstrap(metric, y, challenger, champion, n_bootstrap=n_bootstrap,
                                      random_state=random_state)
        low, high = (float(v) for v in np.nanquantile(replicates, [alpha / 2, 1 - alpha / 2]))
        values = [float(weighted_metric(metric, y, frame["prediction_proba"],
                                        frame["prediction"], np.ones((1, len(y))))[0])
                  for frame in (challenger, champion)]
        sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
        delong, method, interval = None, "paired bootstrap", (low, high)
        if metric == "roc_auc":
            delong = delong_test(y, challenger["prediction_proba"], champion["prediction_proba"],
                                 confidence=confidence)
            if auc_method == "delong":
                method, interval = "DeLong", (delong.ci_low, delong.ci_high)
        out[metric] = MetricComparison(
            metric, values[0], values[1], sign * (values[0] - values[1]), *interval, method,
            float(margin), confidence, (low, high), replicates, delong)
    return out


def comparison_table(comparisons: Mapping[str, MetricComparison]) -> pd.DataFrame:
    """One row per metric: both values, the improvement, the deciding interval, the margin,
    the verdict, and the bootstrap interval beside the DeLong one for ROC AUC."""
    return pd.DataFrame({m: {
        "challenger": c.challenger, "champion": c.champion, "improvement": c.difference,
        "ci_low": c.ci_low, "ci_high": c.ci_high, "decided by": c.method, "margin": c.margin,
        "bootstrap_low": c.bootstrap_ci[0], "bootstrap_high": c.bootstrap_ci[1],
        "verdict": c.verdict} for m, c in comparisons.items()}).T


def non_inferiority_checks(comparisons: Mapping[str, MetricComparison]) -> list[CheckResult]:
    """One gate check per compared metric, named ``champion.<metric>``.

    Examples
    --------
    >>> y = np.tile([0, 1], 50)
    >>> good = pd.DataFrame({"prediction": y, "prediction_proba": np.where(y, .8, .2)})
    >>> bad = pd.DataFrame({"prediction": 1 - y, "prediction_proba": np.where(y, .2, .8)})
    >>> [c.passed for c in non_inferiority_checks(
    ...     compare_models(y, bad, good, margins={"f1": 0.05}, n_bootstrap=100))]
    [False]
    """
    return [
        CheckResult(
            name=f"champion.{c.metric}", group="champion", passed=c.non_inferior,
            value=c.ci_low, threshold=-c.margin, operator=">=",
            explanation=(f"{c.metric} {c.challenger:.3f} vs champion {c.champion:.3f}: "
                         f"improvement {c.difference:+.3f}, {c.confidence:.0%} CI "
                         f"[{c.ci_low:+.3f}, {c.ci_high:+.3f}] ({c.method}); {c.verdict}"),
            details=c.to_dict(),
        )
        for c in comparisons.values()
    ]


def no_champion_checks(metrics: Sequence[str], reason: str) -> list[CheckResult]:
    """The comparison checks of a model that has no champion to beat: passed, with the reason."""
    return [CheckResult(name=f"champion.{metric}", group="champion", passed=True, value=None,
                        threshold=None, explanation=reason) for metric in metrics]
