"""The checks a model must pass before promotion, each returning a :class:`CheckResult`.

A check takes any model that honours the :class:`Predictor` contract (``predict(frame)`` returns
one row per input row with ``prediction`` and ``prediction_proba``): the registry's MLflow pyfunc,
a wrapped pipeline, or a deliberately degenerate model from :mod:`closedloop.model.baselines`. Label
metrics use the model's own ``prediction`` (its stored threshold); ranking metrics and calibration
use ``prediction_proba``.

Every check reports the value it measured, the threshold it compared it with, whether it passed
and one line saying why. None of them raises on a bad model: a failure is a value in the report.

See Also
--------
Chapter :doc:`Quality gates </book/04_quality_gates>`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from closedloop.model.train import evaluate

#: Metrics that can have a floor (all higher-is-better, measured at the model's threshold).
FLOOR_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc")


@runtime_checkable
class Predictor(Protocol):
    """What the gates need from a model: a frame in, ``prediction`` and ``prediction_proba`` out."""

    def predict(self, model_input: pd.DataFrame) -> pd.DataFrame:
        """One row per input row: ``prediction`` (0/1) and ``prediction_proba`` (P(class 1))."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check.

    ``value`` is what was measured (a number, or a word such as ``"contract error"``),
    ``threshold`` what it was compared with using ``operator``. ``details`` holds anything a
    reader may want next (confidence intervals, percentiles, the error message); it must be
    JSON-serialisable.
    """

    name: str
    passed: bool
    value: float | str | None
    threshold: float | str | None
    explanation: str
    group: str = ""
    operator: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> CheckResult:
        return cls(**spec)


def table(checks: Sequence[CheckResult]) -> pd.DataFrame:
    """Checks as a table: group, check, value, threshold, passed, explanation.

    Examples
    --------
    >>> table([CheckResult("floor.f1", True, 0.61, 0.55, "f1 0.610 meets >= 0.550",
    ...                    "performance", ">=")])[["check", "threshold", "passed"]].values.tolist()
    [['floor.f1', '>= 0.55', True]]
    """
    return pd.DataFrame([{
        "group": c.group, "check": c.name, "value": _fmt(c.value),
        "threshold": f"{c.operator} {_fmt(c.threshold)}".strip(), "passed": c.passed,
        "explanation": c.explanation} for c in checks],
        columns=["group", "check", "value", "threshold", "passed", "explanation"])


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(value)


def _measured(name: str, group: str, value: float, threshold: float, operator: str,
              what: str) -> CheckResult:
    passed = bool(np.isfinite(value)) and (value >= threshold if operator == ">="
                                           else value <= threshold)
    word = "meets" if passed else "FAILS"
    return CheckResult(name, passed, float(value), float(threshold),
                       f"{what} {value:.3f} {word} {operator} {threshold:.3f}", group, operator)


# --------------------------------------------------------------------------------------------
# The model's output on the holdout
# --------------------------------------------------------------------------------------------

def output_problems(output: Any, n_rows: int) -> list[str]:
    """Ways ``output`` breaks the prediction contract for ``n_rows`` input rows (empty: none).

    Examples
    --------
    >>> output_problems(pd.DataFrame({"prediction": [0, 1], "prediction_proba": [.2, 1.5]}), 2)
    ['prediction_proba outside [0, 1]']
    """
    if not isinstance(output, pd.DataFrame):
        return [f"returned {type(output).__name__}, not a DataFrame"]
    missing = [c for c in ("prediction", "prediction_proba") if c not in output.columns]
    if missing:
        return [f"no column(s) {missing}"]
    if len(output) != n_rows:
        return [f"{len(output)} rows for {n_rows} input rows"]
    proba = pd.to_numeric(output["prediction_proba"], errors="coerce").to_numpy(dtype=float)
    labels = output["prediction"]
    problems = []
    if not np.isfinite(proba).all():
        problems.append(f"{int((~np.isfinite(proba)).sum())} prediction_proba not finite")
    elif ((proba < 0) | (proba > 1)).any():
        problems.append("prediction_proba outside [0, 1]")
    if not labels.isin([0, 1]).all():
        problems.append("prediction not 0/1")
    elif not problems and labels.nunique() == 2 and (
            proba[labels.to_numpy() == 0].max() > proba[labels.to_numpy() == 1].min()):
        problems.append("prediction disagrees with prediction_proba (no single threshold)")
    return problems


def score(model: Predictor, features: pd.DataFrame) -> tuple[pd.DataFrame | None, CheckResult]:
    """Score the holdout once; the output (or None) and the ``output_contract`` check."""
    try:
        output = model.predict(features)
    except Exception as err:  # a model that cannot score its own holdout fails, it does not crash
        return None, CheckResult("output_contract", False, "error", "valid output",
                                 f"predict raised {type(err).__name__}: {error_message(err)}",
                                 "output")
    problems = output_problems(output, len(features))
    if problems:
        return None, CheckResult("output_contract", False, "invalid", "valid output",
                                 "; ".join(problems), "output")
    output = output.reset_index(drop=True)
    return output, CheckResult(
        "output_contract", True, "valid", "valid output",
        f"{len(output)} rows, probabilities in [0, 1], labels consistent with them", "output")


# --------------------------------------------------------------------------------------------
# Performance at the model's threshold, errors, classes, distribution, calibration
# --------------------------------------------------------------------------------------------

def check_floors(y: np.ndarray, output: pd.DataFrame,
                 floors: Mapping[str, float]) -> list[CheckResult]:
    """``floor.<metric>``: each metric at the model's own threshold must reach its floor."""
    metrics = _metrics(y, output)
    return [_measured(f"floor.{m}", "performance", metrics[m], floor, ">=", m)
            for m, floor in floors.items()]


def _metrics(y: np.ndarray, output: pd.DataFrame) -> dict[str, float]:
    # evaluate() thresholds the probability; the label metrics must use the model's own labels.
    metrics = evaluate(y, output["prediction_proba"].to_numpy(), threshold=0.5)
    labelled = output["prediction"].to_numpy()
    from sklearn import metrics as skm

    metrics.update(
        f1=float(skm.f1_score(y, labelled, zero_division=0)),
        precision=float(skm.precision_score(y, labelled, zero_division=0)),
        recall=float(skm.recall_score(y, labelled, zero_division=0)),
        accuracy=float(skm.accuracy_score(y, labelled)))
    return metrics


def check_errors(y: np.ndarray, output: pd.DataFrame, *, max_false_negative_rate: float | None,
                 max_false_positive_rate: float | None = None) -> list[CheckResult]:
    """Confusion-matrix analysis: the share of positives missed (and of negatives flagged)."""
    y, labels = np.asarray(y), output["prediction"].to_numpy()
    tn, fp, fn, tp = (int(((y == a) & (labels == b)).sum()) for a, b in
                      ((0, 0), (0, 1), (1, 0), (1, 1)))
    counts = {"tn": tn, "fp": fp, "fn": fn, "tp": tp}
    checks = []
    for name, limit, errors, total in (
            ("false_negative_rate", max_false_negative_rate, fn, fn + tp),
            ("false_positive_rate", max_false_positive_rate, fp, fp + tn)):
        if limit is not None:
            rate = errors / total if total else float("nan")
            result = _measured(name, "errors", rate, limit, "<=", name.replace("_", " "))
            checks.append(_with_details(result, counts))
    return checks


def _minority(y: np.ndarray) -> int:
    """The rarer label (1 on a tie: the positive class is the one a model exists to find)."""
    return int(np.mean(y) <= 0.5)


def check_minority_class(y: np.ndarray, output: pd.DataFrame, *,
                         min_f1: float) -> CheckResult:
    """``minority_f1``: F1 of the rarer class in ``y`` (the positive class, usually)."""
    from sklearn import metrics as skm

    y = np.asarray(y)
    minority = _minority(y)
    per_class = skm.f1_score(y, output["prediction"], labels=[0, 1], average=None,
                             zero_division=0)
    result = _measured("minority_f1", "per-class", float(per_class[minority]), min_f1, ">=",
                       f"F1 of the minority class ({minority})")
    return _with_details(result, {"f1_class_0": float(per_class[0]),
                                  "f1_class_1": float(per_class[1]), "minority_class": minority})


def check_distribution(y: np.ndarray, output: pd.DataFrame, *,
                       min_minority_share: float | None) -> list[CheckResult]:
    """Both classes are predicted, and the minority class in at least ``min_minority_share``."""
    labels = output["prediction"].to_numpy()
    minority = _minority(y)
    counts = {str(k): int(v) for k, v in zip(*np.unique(labels, return_counts=True))}
    both = len(counts) == 2
    checks = [CheckResult(
        "predicts_both_classes", both, len(counts), 2,
        f"predicts class(es) {', '.join(sorted(counts))}"
        + ("" if both else " only: a constant classifier"),
        "distribution", ">=", {"counts": counts})]
    if min_minority_share is not None:
        share = float((labels == minority).mean())
        checks.append(_measured("minority_prediction_share", "distribution", share,
                                min_minority_share, ">=",
                                f"share of rows predicted as the minority class ({minority})"))
    return checks


def reliability_table(y: np.ndarray, proba: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability against observed rate, in equal-width probability bins.

    Examples
    --------
    >>> table = reliability_table(np.array([0, 1, 1, 0]), np.array([.1, .15, .9, .95]), bins=2)
    >>> table[["rows", "mean_predicted", "observed_rate"]].values.tolist()
    [[2.0, 0.125, 0.5], [2.0, 0.925, 0.5]]
    """
    proba = np.asarray(proba, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(proba, edges[1:-1], right=True), 0, bins - 1)
    frame = pd.DataFrame({"bin": which, "proba": proba, "y": np.asarray(y, dtype=float)})
    table = frame.groupby("bin").agg(rows=("y", "size"), mean_predicted=("proba", "mean"),
                                     observed_rate=("y", "mean"))
    table.insert(0, "upper", edges[1:][table.index])
    table.insert(0, "lower", edges[:-1][table.index])
    return table.astype(float).reset_index(drop=True)


def expected_calibration_error(y: np.ndarray, proba: np.ndarray, bins: int = 10) -> float:
    """Row-weighted mean gap between predicted probability and observed rate over the bins.

    Examples
    --------
    >>> expected_calibration_error(np.array([0, 1, 1, 0]), np.array([.1, .15, .9, .95]), bins=2)
    0.4
    """
    table = reliability_table(y, proba, bins)
    gaps = (table["mean_predicted"] - table["observed_rate"]).abs()
    return round(float((gaps * table["rows"]).sum() / table["rows"].sum()), 12)


def check_calibration(y: np.ndarray, output: pd.DataFrame, *, min_brier_skill: float | None,
                      max_ece: float | None, bins: int = 10) -> list[CheckResult]:
    """Brier skill (against always predicting the base rate) and expected calibration error."""
    y, proba = np.asarray(y, dtype=float), output["prediction_proba"].to_numpy(dtype=float)
    brier = float(np.mean((proba - y) ** 2))
    reference = float(y.mean() * (1 - y.mean()))  # the Brier score of predicting the base rate
    checks = []
    if min_brier_skill is not None:
        skill = 1 - brier / reference if reference > 0 else float("nan")
        result = _measured("calibration.brier_skill", "calibration", skill, min_brier_skill,
                           ">=", f"Brier {brier:.3f} vs {reference:.3f} for the base rate: skill")
        checks.append(_with_details(result, {"brier": brier, "brier_base_rate": reference}))
    if max_ece is not None:
        table = reliability_table(y, proba, bins)
        result = _measured("calibration.ece", "calibration",
                           expected_calibration_error(y, proba, bins), max_ece, "<=",
                           f"expected calibration error ({bins} bins)")
        checks.append(_with_details(result, {"reliability": table.round(4).to_dict("list")}))
    return checks


def _with_details(result: CheckResult, details: dict[str, Any]) -> CheckResult:
    return CheckResult(**{**result.to_dict(), "details": {**result.details, **details}})


def error_message(err: BaseException) -> str:
    """The reason an exception gives, on one line (MLflow's schema errors without the frame).

    Examples
    --------
    >>> error_message(ValueError("Failed to enforce schema of data '<a frame>'. Error: no tenure"))
    'no tenure'
    """
    text = str(err)
    if "Error: " in text and text.startswith("Failed to enforce schema"):
        text = text.rsplit("Error: ", 1)[1]  # MLflow prints the whole frame before the reason
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " ".join(lines[:3])[:300] if lines else type(err).__name__
