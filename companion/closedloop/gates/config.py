"""Gate configuration: what a model must achieve, presets per domain, floors derived from data.

:class:`GateConfig` is declarative (YAML or JSON round-trips); :data:`PRESETS` hold configurations
for a few domains and :func:`derive_floors` derives floors from the class balance of the data.

See Also
--------
Chapter :doc:`Quality gates </book/04_quality_gates>`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from closedloop.gates.checks import (
    FLOOR_METRICS,
)
from closedloop.gates.compare import (
    HIGHER_IS_BETTER,
)

#: Defaults of the optional fairness section of :class:`GateConfig`.
FAIRNESS_DEFAULTS: dict[str, Any] = {
    "sensitive": [], "metric": "equal_opportunity_difference", "delta": 0.05}


@dataclass(frozen=True)
class GateConfig:
    """What a model must achieve to be promoted. ``None`` switches a check off.

    ``floors`` maps metrics of :data:`~closedloop.gates.checks.FLOOR_METRICS` to their minimum at the
    model's own threshold; ``non_inferiority`` maps metrics to the margin by which a challenger
    may trail the champion (the lower end of the confidence interval of the difference must stay
    above minus the margin). ``contract_errors`` names the exception classes that count as a
    clear rejection of bad input in the robustness checks.

    ``fairness`` (off by default) switches on the fairness check: ``{"sensitive": [columns],
    "metric": ..., "delta": ...}``; the challenger's disparity ``metric`` (a name of
    :data:`closedloop.fairness.metrics.DISPARITIES`, default the TPR difference) on each
    sensitive column may be worse than the champion's by at most ``delta``.
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
    fairness: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "contract_errors", tuple(self.contract_errors))
        problems = self._check_fairness()
        problems += [f"floors: unknown metric {m!r}" for m in self.floors if m not in FLOOR_METRICS]
        problems += [f"non_inferiority: unknown metric {m!r}" for m in self.non_inferiority
                     if m not in HIGHER_IS_BETTER]
        if self.auc_method not in ("delong", "bootstrap"):
            problems.append(f"auc_method must be 'delong' or 'bootstrap', not {self.auc_method!r}")
        if not 0 < self.confidence < 1 or not 0 < self.nan_share < 1:
            problems.append("confidence and nan_share must be between 0 and 1")
        if problems:
            raise ValueError(f"gate config {self.name!r}: " + "; ".join(problems))

    def _check_fairness(self) -> list[str]:
        """Complete the fairness section with its defaults; the problems found in it."""
        if self.fairness is None:
            return []
        from closedloop.fairness.metrics import metric_name

        unknown = sorted(set(self.fairness) - set(FAIRNESS_DEFAULTS))
        section = {**FAIRNESS_DEFAULTS, **self.fairness}
        section["sensitive"] = [section["sensitive"]] if isinstance(section["sensitive"], str) \
            else list(section["sensitive"])
        object.__setattr__(self, "fairness", section)
        problems = [f"fairness: unknown setting(s) {unknown}"] if unknown else []
        if not section["sensitive"]:
            problems.append("fairness: name at least one sensitive column")
        try:
            metric_name(section["metric"])
        except ValueError as err:
            problems.append(f"fairness: {err}")
        if not isinstance(section["delta"], (int, float)) or section["delta"] < 0:
            problems.append("fairness: delta must be a number >= 0")
        return problems

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
        if self.fairness is not None:
            rows[f"fairness.{self.fairness['metric']}"] = self.fairness["delta"]
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
        if spec.get("fairness") is not None and base.fairness is not None:
            spec["fairness"] = {**base.fairness, **spec["fairness"]}
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
#: Telecom churn with the fairness check on: seniors' TPR gap may not grow by more than 0.05.
PRESETS["telecom_churn_fair"] = dataclasses.replace(
    PRESETS["telecom_churn"], name="telecom_churn_fair",
    description="subscription churn, and the gap in recall between senior citizens and the "
    "others may not widen by more than 0.05 over the champion's",
    fairness={"sensitive": ["SeniorCitizen"], "metric": "equal_opportunity_difference",
              "delta": 0.05})


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


#: What :func:`derive_floors` leaves as the base configuration has it, and why. Every other limit
#: that depends on the class balance is derived (see :data:`DERIVED_LIMITS`).
FIXED_WHEN_DERIVED: dict[str, str] = {
    "min_brier_skill": "already relative to the base rate: the Brier skill score compares the "
                       "model with always predicting the prevalence",
    "max_ece": "calibration error is in probability units, whatever the base rate",
    "non_inferiority": "margins of the comparison with the champion, not floors",
    "latency and robustness": "properties of the service, not of the labels",
}

#: The limits :func:`derive_floors` derives from the labels' prevalence ``p``, each from what a
#: model with no skill achieves (closing a share ``skill`` of the gap to perfect).
DERIVED_LIMITS: dict[str, str] = {
    "floors.roc_auc": "from 0.5 (random ranking)",
    "floors.pr_auc": "from p (random ranking)",
    "floors.precision": "from p (flagging at random)",
    "floors.f1": "from 2p / (1 + p) (flagging everyone)",
    "min_minority_f1": "from 2m / (1 + m), m the minority share (flagging everyone as minority)",
    "max_false_negative_rate": "1 - recall floor; recall from p (flagging a random share p)",
    "max_false_positive_rate": "if the base sets one: 1 - specificity floor, specificity from "
                               "1 - p (flagging a random share p)",
    "min_minority_share": "half the minority share",
}


def derive_floors(y: np.ndarray, *, skill: float = 0.25,
                  base: GateConfig | None = None) -> GateConfig:
    """Floors and error limits relative to what a model with no skill achieves on labels ``y``.

    Each floor closes ``skill`` of the gap between the no-skill value and a perfect 1.0
    (:data:`DERIVED_LIMITS`): ROC AUC from 0.5; PR AUC and precision from the prevalence ``p``
    (random ranking, flagging at random); F1 from ``2p / (1 + p)``, the F1 of flagging everyone,
    and the minority class's F1 the same way from its share; recall from ``p`` (flagging a
    random share ``p`` of rows), which sets the false-negative-rate limit to one minus it (and
    the false-positive-rate limit from specificity ``1 - p``); a limit the base switched off
    (``None``) stays off. No
    accuracy floor: the majority class alone scores the majority rate, and a threshold chosen
    for F1 trades accuracy away on purpose. The minority class must be predicted for at least
    half its share. The limits that stay as in ``base`` are :data:`FIXED_WHEN_DERIVED`, each
    with its reason.

    Examples
    --------
    >>> config = derive_floors(np.r_[np.zeros(75), np.ones(25)])
    >>> {k: round(v, 3) for k, v in config.floors.items()}
    {'roc_auc': 0.625, 'pr_auc': 0.438, 'precision': 0.438, 'f1': 0.55}
    >>> config.min_minority_share, round(config.min_minority_f1, 3)
    (0.125, 0.55)
    >>> round(config.max_false_negative_rate, 4)
    0.5625
    """
    prevalence = float(np.mean(y))
    minority = min(prevalence, 1 - prevalence)

    def closing(no_skill: float) -> float:
        return no_skill + skill * (1 - no_skill)

    floors = {"roc_auc": closing(0.5), "pr_auc": closing(prevalence),
              "precision": closing(prevalence), "f1": closing(2 * prevalence / (1 + prevalence))}
    base = base or GateConfig()
    limits = {"min_minority_f1": closing(2 * minority / (1 + minority)),
              "max_false_negative_rate": 1 - closing(prevalence),
              "max_false_positive_rate": 1 - closing(1 - prevalence)}
    return dataclasses.replace(
        base, name=f"derived(skill={skill})", floors=floors,
        description=f"floors from prevalence {prevalence:.3f} and no-skill baselines",
        min_minority_share=minority / 2,
        # A check the base switched off (None) stays off.
        **{k: None if getattr(base, k) is None else v for k, v in limits.items()})
