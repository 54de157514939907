"""Quality gates: a declarative configuration, a run of every check, a report, a verdict.

:class:`GateConfig` says what a model must achieve; :data:`PRESETS` hold configurations for a few
domains and :func:`derive_floors` derives floors from the class balance of the data instead.
:func:`run_gates` runs every check of :mod:`closedloop.checks`, :mod:`closedloop.robustness` and
:mod:`closedloop.compare` on one holdout and returns a :class:`GateReport`.
:func:`closedloop.validation.gate_version` does the same for a registered version (rebuilding
its holdout and comparing it with the ``@champion``) and logs the report to MLflow, where
:func:`closedloop.registry.promote` reads the verdict: no passed verdict, no promotion.

See Also
--------
Chapter "Quality gates" (``book/04_quality_gates.ipynb``).
"""

from __future__ import annotations

import dataclasses
import html
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from closedloop.checks import (
    FLOOR_METRICS,
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
from closedloop.compare import (
    HIGHER_IS_BETTER,
    compare_models,
    no_champion_checks,
    non_inferiority_checks,
)
from closedloop.data import Schema
from closedloop.robustness import check_latency, check_robustness


@dataclass(frozen=True)
class GateConfig:
    """What a model must achieve to be promoted. ``None`` switches a check off.

    ``floors`` maps metrics of :data:`~closedloop.checks.FLOOR_METRICS` to their minimum at the
    model's own threshold; ``non_inferiority`` maps metrics to the margin by which a challenger
    may trail the champion (the lower end of the confidence interval of the difference must stay
    above minus the margin). ``contract_errors`` names the exception classes that count as a
    clear rejection of bad input in the robustness checks.
    """

    name: str = "custom"
    description: str = ""
    floors: dict[str, float] = field(default_factory=dict)
    max_false_negative_rate: float | None = 0.50
    max_false_positive_rate: float | None = None
    min_minority_f1: float | None = 0.50
    min_minority_share: float | None = 0.10
    min_brier_skill: float | None = 0.10
    max_ece: float | None = 0.10
    calibration_bins: int = 10
    nan_share: float = 0.10
    robustness_rows: int = 500
    contract_errors: tuple[str, ...] = ("DataContractError", "MlflowException")
    max_single_row_p99_ms: float | None = 1000.0
    max_batch_p99_ms: float | None = 10000.0
    batch_rows: int = 1000
    latency_calls: int = 30
    non_inferiority: dict[str, float] = field(
        default_factory=lambda: {"roc_auc": 0.02, "f1": 0.03})
    n_bootstrap: int = 1000
    confidence: float = 0.95
    auc_method: str = "delong"
    random_state: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "contract_errors", tuple(self.contract_errors))
        problems = [f"floors: unknown metric {m!r}" for m in self.floors if m not in FLOOR_METRICS]
        problems += [f"non_inferiority: unknown metric {m!r}" for m in self.non_inferiority
                     if m not in HIGHER_IS_BETTER]
        if self.auc_method not in ("delong", "bootstrap"):
            problems.append(f"auc_method must be 'delong' or 'bootstrap', not {self.auc_method!r}")
        if not 0 < self.confidence < 1 or not 0 < self.nan_share < 1:
            problems.append("confidence and nan_share must be between 0 and 1")
        if problems:
            raise ValueError(f"gate config {self.name!r}: " + "; ".join(problems))

    def override(self, **changes: Any) -> GateConfig:
        """A copy with some settings changed. A floor metric's name sets (``None``: removes) its
        floor; any other name sets that field.

        Examples
        --------
        >>> config = PRESETS["telecom_churn"].override(recall=0.6, accuracy=None, n_bootstrap=200)
        >>> config.floors["recall"], "accuracy" in config.floors, config.n_bootstrap
        (0.6, False, 200)
        """
        floors = dict(self.floors)
        for metric in [k for k in changes if k in FLOOR_METRICS]:
            value = changes.pop(metric)
            floors.pop(metric, None) if value is None else floors.__setitem__(metric, value)
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ValueError(f"unknown gate setting(s) {unknown}; see GateConfig")
        return dataclasses.replace(self, **{"floors": floors, **changes})

    def summary(self) -> pd.Series:
        """The thresholds, one per row: ``floor.<metric>``, the other limits, and
        ``margin.<metric>`` for non-inferiority (``None``: check switched off).

        Examples
        --------
        >>> PRESETS["telecom_churn"].summary()[["floor.f1", "margin.roc_auc"]].tolist()
        [0.55, 0.02]
        """
        limits = ("max_false_negative_rate", "max_false_positive_rate", "min_minority_f1",
                  "min_minority_share", "min_brier_skill", "max_ece", "max_single_row_p99_ms",
                  "max_batch_p99_ms")
        rows = {f"floor.{m}": self.floors.get(m) for m in FLOOR_METRICS}
        rows.update({name: getattr(self, name) for name in limits})
        rows.update({f"margin.{m}": v for m, v in self.non_inferiority.items()})
        return pd.Series(rows, name=self.name, dtype=object)

    def to_dict(self) -> dict[str, Any]:
        """JSON/YAML-serialisable form (:meth:`from_dict` reads it back)."""
        return {**dataclasses.asdict(self), "contract_errors": list(self.contract_errors)}

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> GateConfig:
        """Build a config; ``preset: NAME`` starts from that preset, and ``floors`` and
        ``non_inferiority`` entries then change single metrics (``null`` removes one)."""
        spec = dict(spec)
        base = get_preset(spec.pop("preset")) if "preset" in spec else cls()
        for key in ("floors", "non_inferiority"):
            merged = {**getattr(base, key), **(spec.get(key) or {})}
            spec[key] = {metric: v for metric, v in merged.items() if v is not None}
        return base.override(**spec)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> GateConfig:
        """Read a ``.yaml``/``.yml`` or ``.json`` file (same keys as :meth:`from_dict`)."""
        text = Path(path).read_text()
        if Path(path).suffix.lower() in (".yaml", ".yml"):
            import yaml

            try:
                spec = yaml.safe_load(text) or {}
            except yaml.YAMLError as err:
                raise ValueError(f"{path}: not valid YAML ({err})") from err
        else:
            spec = json.loads(text)  # a JSONDecodeError is a ValueError already
        if not isinstance(spec, Mapping):
            raise ValueError(f"{path}: expected a mapping of gate settings")
        return cls.from_dict({"name": Path(path).stem, **spec})


#: Gate configurations for common domains, by name (see the chapter for the reasoning).
PRESETS: dict[str, GateConfig] = {
    "telecom_churn": GateConfig(
        "telecom_churn", "subscription churn, about one customer in four leaves",
        floors={"accuracy": 0.70, "precision": 0.55, "recall": 0.50, "f1": 0.55,
                "roc_auc": 0.75}),
    "retail_churn": GateConfig(
        "retail_churn", "non-contractual churn: noisier labels, cheaper retention offers",
        floors={"accuracy": 0.65, "precision": 0.45, "recall": 0.55, "f1": 0.50,
                "roc_auc": 0.70}, max_false_negative_rate=0.45),
    "fraud_detection": GateConfig(
        "fraud_detection", "rare positives (under 1 %): accuracy is meaningless, misses are "
        "expensive, scoring is real-time",
        floors={"precision": 0.30, "recall": 0.60, "f1": 0.40, "roc_auc": 0.90,
                "pr_auc": 0.40}, max_false_negative_rate=0.40, min_minority_f1=0.40,
        min_minority_share=0.001, max_single_row_p99_ms=100.0,
        non_inferiority={"pr_auc": 0.02, "recall": 0.03}),
}


def get_preset(name: str) -> GateConfig:
    """The preset called ``name`` (a :class:`ValueError` lists the known ones)."""
    if name not in PRESETS:
        raise ValueError(f"unknown gate preset {name!r}; known presets: {sorted(PRESETS)}")
    return PRESETS[name]


def resolve_config(config: GateConfig | str | os.PathLike[str]) -> GateConfig:
    """A :class:`GateConfig` from itself, a preset name or a YAML/JSON file path."""
    if isinstance(config, GateConfig):
        return config
    if isinstance(config, str) and config in PRESETS:
        return PRESETS[config]
    if Path(config).suffix.lower() in (".yaml", ".yml", ".json"):
        return GateConfig.from_file(config)
    return get_preset(str(config))


def derive_floors(y: np.ndarray, *, skill: float = 0.25,
                  base: GateConfig | None = None) -> GateConfig:
    """Floors relative to what a model with no skill achieves on labels ``y``.

    Each floor closes ``skill`` of the gap between the no-skill value and a perfect 1.0: ROC AUC
    from 0.5; PR AUC and precision from the prevalence (what random ranking and flagging
    everyone achieve); F1 from ``2p / (1 + p)``, the F1 of flagging everyone. No accuracy floor:
    the majority class alone scores the majority rate, and a threshold chosen for F1 trades
    accuracy away on purpose. The minority class must be predicted for at least half its share.

    Examples
    --------
    >>> config = derive_floors(np.r_[np.zeros(75), np.ones(25)])
    >>> {k: round(v, 3) for k, v in config.floors.items()}
    {'roc_auc': 0.625, 'pr_auc': 0.438, 'precision': 0.438, 'f1': 0.55}
    >>> config.min_minority_share
    0.125
    """
    prevalence = float(np.mean(y))
    minority = min(prevalence, 1 - prevalence)
    no_skill_f1 = 2 * prevalence / (1 + prevalence)

    def closing(no_skill: float) -> float:
        return no_skill + skill * (1 - no_skill)

    floors = {"roc_auc": closing(0.5), "pr_auc": closing(prevalence),
              "precision": closing(prevalence), "f1": closing(no_skill_f1)}
    return dataclasses.replace(
        base or GateConfig(), name=f"derived(skill={skill})", floors=floors,
        description=f"floors from prevalence {prevalence:.3f} and no-skill baselines",
        min_minority_share=minority / 2)


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
        The model under test (e.g. the registry's pyfunc, or a :mod:`closedloop.baselines` model).
    holdout : pandas.DataFrame
        Rows neither model was trained, tuned or thresholded on, with the target column. The
        model sees the schema's feature columns only.
    schema : Schema
        The data contract (target, positive class, feature columns).
    config : GateConfig or str
        A config, a preset name or a YAML/JSON path (see :func:`resolve_config`).
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
