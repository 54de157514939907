"""Quality gates: a declarative configuration, a run of every check, a report, a verdict.

:class:`~closedloop.gates.config.GateConfig` says what a model must achieve; :data:`~closedloop.gates.config.PRESETS` hold configurations for a few
domains and :func:`~closedloop.gates.config.derive_floors` derives floors from the class balance of the data instead.
:func:`run_gates` runs every check of :mod:`closedloop.gates.checks`, :mod:`closedloop.gates.robustness` and
:mod:`closedloop.gates.compare` on one holdout and returns a :class:`GateReport`.
:func:`closedloop.gates.version.gate_version` does the same for a registered version (rebuilding
its holdout and comparing it with the ``@champion``) and logs the report to MLflow, where
:func:`~closedloop.model.promotion.promote` reads the verdict: no passed verdict, no promotion.

See Also
--------
Chapter :doc:`Quality gates </book/04_quality_gates>`.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from closedloop.contract.schema import Schema
from closedloop.gates.checks import (
    CheckResult,
    Predictor,
    check_calibration,
    check_distribution,
    check_errors,
    check_floors,
    check_minority_class,
    score,
    table,
)
from closedloop.gates.compare import (
    compare_models,
    no_champion_checks,
    non_inferiority_checks,
)
from closedloop.gates.config import GateConfig, resolve_config
from closedloop.gates.robustness import check_latency, check_robustness

#: Bootstrap replicates of the fairness check are capped: its decision uses the point values.
_FAIRNESS_BOOTSTRAP = 500


@dataclass
class GateReport:
    """Every check of one gate run, the verdict, and what was gated against what."""

    checks: list[CheckResult]
    config: dict[str, Any]
    model: str = "model"
    champion: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    champion_version: str | None = None
    holdout: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(
        timespec="seconds"))

    @property
    def passed(self) -> bool:
        """True when every check passed (and there was at least one)."""
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def verdict(self) -> str:
        return "passed" if self.passed else "failed"

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]

    def __getitem__(self, name: str) -> CheckResult:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(f"no check {name!r} in this report")

    def to_frame(self) -> pd.DataFrame:
        """One row per check: group, check, value, threshold, passed, explanation."""
        return table(self.checks)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items() if k != "checks"}
        return {"verdict": self.verdict, **out, "checks": [c.to_dict() for c in self.checks]}

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=_json_default)

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> GateReport:
        spec = {k: v for k, v in spec.items() if k != "verdict"}
        return cls(**{**spec, "checks": [CheckResult.from_dict(c) for c in spec["checks"]]})

    @classmethod
    def from_json(cls, text: str) -> GateReport:
        return cls.from_dict(json.loads(text))

    def _title(self) -> str:
        against = f" vs champion {self.champion}" if self.champion else " (no champion)"
        rows = self.holdout.get("rows", "?")
        return (f"{self.model}{against}, config {self.config.get('name')!r}, holdout {rows} rows: "
                f"{self.verdict.upper()} ({len(self.failed)} of {len(self.checks)} checks failed)")

    def __repr__(self) -> str:
        failed = [c.name for c in self.failed]
        return f"GateReport({self.model!r}, verdict={self.verdict!r}, failed={failed})"

    def __str__(self) -> str:
        frame = self.to_frame().drop(columns="explanation")
        notes = "".join(f"\nnote: {n}" for n in self.notes)
        failures = "".join(f"\n  FAILED {c.name}: {c.explanation}" for c in self.failed)
        return f"{self._title()}\n{frame.to_string(index=False)}{failures}{notes}"

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.passed else "#c0392b"
        rows = []
        for c, row in zip(self.checks, self.to_frame().itertuples(index=False)):
            style = "" if c.passed else ' style="background:#fde2e2;font-weight:bold"'
            cells = [row.group, row.check, row.value, row.threshold,
                     "pass" if c.passed else "FAIL", row.explanation]
            rows.append(f"<tr{style}>" + "".join(f"<td style='text-align:left'>"
                                                  f"{html.escape(str(v))}</td>" for v in cells)
                        + "</tr>")
        head = "".join(f"<th>{h}</th>" for h in
                       ("group", "check", "value", "threshold", "result", "explanation"))
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return (f"<p style='color:{colour};font-weight:bold'>{html.escape(self._title())}</p>"
                f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
                + (f"<ul>{notes}</ul>" if notes else ""))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.ndarray, tuple)):
        return list(value)
    return str(value)


def run_gates(model: Predictor, holdout: pd.DataFrame, schema: Schema,
              config: GateConfig | str = "telecom_churn", *, champion: Predictor | None = None,
              model_label: str = "model", champion_label: str = "champion",
              **metadata: Any) -> GateReport:
    """Run every gate check of ``config`` on ``holdout`` and return the report.

    Parameters
    ----------
    model : Predictor
        The model under test (e.g. the registry's pyfunc, or a :mod:`closedloop.model.baselines` model).
    holdout : pandas.DataFrame
        Rows neither model was trained, tuned or thresholded on, with the target column. The
        model sees the schema's feature columns only.
    schema : Schema
        The data contract (target, positive class, feature columns).
    config : GateConfig or str
        A config, a preset name or a YAML/JSON path (see :func:`~closedloop.gates.config.resolve_config`).
    champion : Predictor or None
        The model to beat, scored on the same rows; None for a first model (the comparison
        checks then pass, with that reason recorded).
    model_label, champion_label : str
        Names shown in the report.
    **metadata
        ``model_name``, ``model_version``, ``champion_version`` and ``notes`` for the report.

    Returns
    -------
    GateReport
    """
    config = resolve_config(config)
    features = holdout[[c for c in schema.feature_names if c in holdout.columns]]
    y = schema.target_as_int(holdout).to_numpy()
    output, contract = score(model, features)
    checks = [contract]
    if output is not None:
        checks += _quality_checks(y, output, config)
    checks += check_robustness(model, features, schema, nan_share=config.nan_share,
                               rows=config.robustness_rows,
                               contract_errors=config.contract_errors,
                               random_state=config.random_state)
    checks += check_latency(model, features, max_single_row_p99_ms=config.max_single_row_p99_ms,
                            max_batch_p99_ms=config.max_batch_p99_ms,
                            batch_rows=config.batch_rows, calls=config.latency_calls)
    checks += _champion_checks(y, output, champion, features, config)
    if config.fairness is not None:
        checks += _fairness_checks(y, output, champion, holdout, features, config)
    return GateReport(
        checks, config.to_dict(), model_label, champion_label if champion is not None else None,
        holdout={"rows": len(holdout), "positive_rate": float(y.mean())}, **metadata)


def _quality_checks(y: np.ndarray, output: pd.DataFrame, config: GateConfig) -> list[CheckResult]:
    checks = check_floors(y, output, config.floors)
    checks += check_errors(y, output, max_false_negative_rate=config.max_false_negative_rate,
                           max_false_positive_rate=config.max_false_positive_rate)
    if config.min_minority_f1 is not None:
        checks.append(check_minority_class(y, output, min_f1=config.min_minority_f1))
    checks += check_distribution(y, output, min_minority_share=config.min_minority_share)
    checks += check_calibration(y, output, min_brier_skill=config.min_brier_skill,
                                max_ece=config.max_ece, bins=config.calibration_bins)
    return checks


def _champion_checks(y: np.ndarray, output: pd.DataFrame | None, champion: Predictor | None,
                     features: pd.DataFrame, config: GateConfig) -> list[CheckResult]:
    metrics = list(config.non_inferiority)
    if champion is None:
        return no_champion_checks(metrics, "no champion yet: this is the first model, so there "
                                           "is nothing to be non-inferior to")
    theirs, champion_contract = score(champion, features)
    if output is None or theirs is None:
        which = "the challenger" if output is None else "the champion"
        reason = champion_contract.explanation if theirs is None else "see output_contract"
        return [CheckResult(f"champion.{m}", False, None, -margin,
                            f"not compared: {which} could not score this holdout ({reason})",
                            "champion", ">=") for m, margin in config.non_inferiority.items()]
    comparisons = compare_models(y, output, theirs, margins=config.non_inferiority,
                                 n_bootstrap=config.n_bootstrap, confidence=config.confidence,
                                 auc_method=config.auc_method, random_state=config.random_state)
    return non_inferiority_checks(comparisons)


def _fairness_checks(y: np.ndarray, output: pd.DataFrame | None, champion: Predictor | None,
                     holdout: pd.DataFrame, features: pd.DataFrame,
                     config: GateConfig) -> list[CheckResult]:
    """Per sensitive column: the challenger's disparity may exceed the champion's by at most
    ``delta`` (for the ratio: fall below it by at most ``delta``). Point values decide; the
    intervals and the paired bootstrap of the difference are in ``details``."""
    from closedloop.fairness.metrics import HIGHER_IS_FAIRER, compare_fairness, metric_name

    metric, delta = metric_name(config.fairness["metric"]), float(config.fairness["delta"])
    higher = metric in HIGHER_IS_FAIRER
    operator = ">=" if higher else "<="
    theirs = score(champion, features)[0] if champion is not None else None
    checks = []
    for column in config.fairness["sensitive"]:
        name = f"fairness.{column}.{metric}"
        if column not in holdout.columns or output is None:
            why = (f"the holdout has no column {column!r}" if output is not None
                   else "the challenger could not score this holdout")
            checks.append(CheckResult(name, False, None, None, f"not checked: {why}",
                                      "fairness", operator))
            continue
        ours = output["prediction"].to_numpy()
        reference = ours if theirs is None else theirs["prediction"].to_numpy()
        result = compare_fairness(y, ours, reference, holdout[column].to_numpy(), metric,
                                  n_bootstrap=min(config.n_bootstrap, _FAIRNESS_BOOTSTRAP),
                                  confidence=config.confidence,
                                  random_state=config.random_state)
        value = result["challenger"]
        interval = (f"[{result.get('challenger_low', float('nan')):.3f}, "
                    f"{result.get('challenger_high', float('nan')):.3f}]")
        if theirs is None:
            checks.append(CheckResult(
                name, True, value, None, f"no champion yet: {metric} on {column} is "
                f"{value:.3f} {interval}, nothing to compare with", "fairness", operator,
                details=result))
            continue
        threshold = result["champion"] - delta if higher else result["champion"] + delta
        passed = bool(value >= threshold if higher else value <= threshold)
        verdict = "within" if passed else "worse than"
        checks.append(CheckResult(
            name, passed, value, threshold,
            f"{metric} on {column}: {value:.3f} {interval} vs the champion's "
            f"{result['champion']:.3f}, {verdict} the allowed {delta:g}", "fairness",
            operator, details=result))
    return checks
