"""Robustness to bad input, and latency: how a model behaves as a service, not on paper.

Production input goes wrong in a handful of ways: missing values, category values nobody
declared, numbers that arrive as another dtype, columns added or dropped upstream. The
:data:`PERTURBATIONS` reproduce each on a sample of the holdout **without** filling anything in
first (a robustness test that fills NaN before predicting tests nothing). A model passes a
perturbation when it rejects the input with a clear contract error or returns valid predictions;
it fails when it answers wrongly in silence: NaN or constant scores, or different scores for rows
whose values did not change.

See Also
--------
Chapter :doc:`Quality gates </book/04_quality_gates>`.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from closedloop.contract.schema import Schema
from closedloop.gates.checks import (
    CheckResult,
    Predictor,
    _measured,
    _with_details,
    error_message,
    output_problems,
    score,
)


@dataclass(frozen=True)
class Perturbation:
    """A way input goes wrong in production. ``apply`` returns the damaged frame and a mask of
    the rows it changed; ``same_values`` says the values were only re-typed, so a model that
    accepts the frame must give exactly the clean predictions."""

    name: str
    description: str
    apply: Callable[[pd.DataFrame, Schema, np.random.Generator, float],
                    tuple[pd.DataFrame, np.ndarray] | None]
    same_values: bool = False


def _nan_values(df, schema, rng, share):
    out, touched = df.copy(), np.zeros(len(df), dtype=bool)
    for column in [c for c in schema.feature_names if c in df.columns]:
        hit = rng.random(len(df)) < share
        numeric = pd.api.types.is_numeric_dtype(out[column])
        out[column] = out[column].astype(float if numeric else object)  # room for NaN
        out.loc[hit, column] = np.nan
        touched |= hit
    return out, touched


def _unseen_category(df, schema, rng, share):
    columns = [c for c in schema.categorical if c in df.columns]
    if not columns:
        return None
    out, touched = df.copy(), np.zeros(len(df), dtype=bool)
    for column in columns:
        hit = rng.random(len(df)) < share
        out.loc[hit, column] = f"__unseen_{column}__"
        touched |= hit
    return out, touched


def _int_as_float(df, schema, rng, share):
    columns = [c for c in schema.numeric if c in df.columns
               and pd.api.types.is_integer_dtype(df[c])]
    if not columns:
        return None
    return df.astype({c: "float64" for c in columns}), np.zeros(len(df), dtype=bool)


def _numbers_as_strings(df, schema, rng, share):
    columns = [c for c in schema.numeric if c in df.columns]
    if not columns:
        return None
    return df.astype({c: str for c in columns}), np.zeros(len(df), dtype=bool)


def _extra_column(df, schema, rng, share):
    return df.assign(unexpected_column=rng.normal(size=len(df))), np.zeros(len(df), dtype=bool)


def _missing_column(df, schema, rng, share):
    present = [c for c in (schema.numeric or schema.feature_names) if c in df.columns]
    return df.drop(columns=present[:1]), np.ones(len(df), dtype=bool)


#: The robustness perturbations, in the order they are reported.
PERTURBATIONS: tuple[Perturbation, ...] = (
    Perturbation("nan_values", "a share of every feature set to NaN, not filled", _nan_values),
    Perturbation("unseen_category", "category values the model never saw", _unseen_category),
    Perturbation("int_as_float", "integer columns arriving as floats", _int_as_float, True),
    Perturbation("numbers_as_strings", "numeric columns arriving as text", _numbers_as_strings,
                 True),
    Perturbation("extra_column", "a column the contract does not know", _extra_column, True),
    Perturbation("missing_column", "a feature column missing", _missing_column),
)


def _is_contract_error(err: BaseException, accepted: Sequence[str]) -> bool:
    return any(cls.__name__ in accepted for cls in type(err).__mro__)


def _judge(perturbation: Perturbation, output: Any, clean: pd.DataFrame | None,
           touched: np.ndarray, n_rows: int) -> tuple[bool, str, str]:
    problems = output_problems(output, n_rows)
    if problems:
        return False, "invalid output", "silent wrong answer: " + "; ".join(problems)
    proba = output["prediction_proba"].to_numpy(dtype=float)
    if np.ptp(proba) < 1e-12:
        return False, "constant predictions", f"every row scored {proba[0]:.4f}: silent failure"
    if clean is not None:
        same = ~touched if not perturbation.same_values else np.ones(n_rows, dtype=bool)
        drift = np.abs(proba[same] - clean["prediction_proba"].to_numpy()[same])
        if len(drift) and drift.max() > 1e-9:
            return False, "changed predictions", (
                f"{int((drift > 1e-9).sum())} row(s) whose values did not change scored "
                f"differently (max change {drift.max():.3g}): silent wrong answer")
    return True, "valid predictions", "accepted; predictions finite, in [0, 1], not constant"


@contextlib.contextmanager
def _quiet_schema_warnings() -> Iterator[None]:
    # MLflow warns about every extra input column on every call; bad input is the point here.
    logger = logging.getLogger("mlflow.models.utils")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def check_robustness(model: Predictor, features: pd.DataFrame, schema: Schema, *,
                     nan_share: float = 0.10, rows: int = 500,
                     contract_errors: Sequence[str] = ("DataContractError",),
                     random_state: int = 0) -> list[CheckResult]:
    """``robustness.<perturbation>``: bad input gives valid predictions or a clear contract error.

    Each :data:`PERTURBATIONS` entry damages a sample of ``rows`` rows. The model passes if it
    raises an exception whose class (or a base class) is named in ``contract_errors``, or returns
    predictions that are finite, in [0, 1], not constant, and unchanged on every row whose values
    the perturbation did not change. Anything else, including an unrelated crash deep inside the
    model, fails.
    """
    sample = features.sample(min(rows, len(features)), random_state=random_state)
    sample = sample.reset_index(drop=True)
    checks = []
    with _quiet_schema_warnings():
        clean, _ = score(model, sample)
        for number, perturbation in enumerate(PERTURBATIONS):
            rng = np.random.default_rng([random_state, number])
            damaged = perturbation.apply(sample, schema, rng, nan_share)
            checks.append(_robustness_result(model, perturbation, damaged, clean,
                                             contract_errors))
    return checks


def _robustness_result(model: Predictor, perturbation: Perturbation,
                       damaged: tuple[pd.DataFrame, np.ndarray] | None,
                       clean: pd.DataFrame | None, contract_errors: Sequence[str]) -> CheckResult:
    name, wanted = f"robustness.{perturbation.name}", "valid predictions or contract error"
    if damaged is None:
        return CheckResult(name, True, "not applicable", wanted,
                           f"{perturbation.description}: no such column in this schema",
                           "robustness")
    frame, touched = damaged
    try:
        output = model.predict(frame)
    except Exception as err:
        clear = _is_contract_error(err, contract_errors)
        outcome = "contract error" if clear else f"crashed ({type(err).__name__})"
        because = "rejected with a clear error" if clear else "not a contract error"
        return CheckResult(name, clear, outcome, wanted,
                           f"{perturbation.description}: {because}: {error_message(err)}",
                           "robustness", details={"error_type": type(err).__name__})
    passed, outcome, why = _judge(perturbation, output, clean, touched, len(frame))
    return CheckResult(name, passed, outcome, wanted, f"{perturbation.description}: {why}",
                       "robustness", details={"rows_changed": int(touched.sum())})


# Latency ------------------------------------------------------------------------------------

def _timings_ms(call: Callable[[], object], times: int) -> np.ndarray:
    out = np.empty(times)
    for i in range(times):
        started = time.perf_counter()
        call()
        out[i] = (time.perf_counter() - started) * 1000
    return out


#: Fewest single-row calls behind a p99 (cheap: one row a call). From 368 calls on the 95 %
#: distribution-free interval of the p99 has an upper end (0.99 ** 368 < 0.025); with 400 it
#: runs from the 392nd to the slowest call, where 30 calls give only a lower bound.
MIN_SINGLE_ROW_CALLS = 400


def quantile_interval(values: np.ndarray, q: float = 0.99,
                      confidence: float = 0.95) -> tuple[float | None, float | None]:
    """Distribution-free interval for the ``q`` quantile from the order statistics of ``values``.

    The number of values below the true quantile is Binomial(n, q); the interval is
    ``[x_(r), x_(s)]`` with ``r`` and ``s`` its ``(1 - confidence) / 2`` quantiles, so it holds
    whatever the distribution. An end is None when ``n`` is too small to bound it: a p99 from
    30 calls has no upper bound at 95 %.

    Examples
    --------
    >>> quantile_interval(np.arange(1, 31), 0.99)
    (28.0, None)
    >>> quantile_interval(np.arange(1, 401), 0.99)
    (392.0, 400.0)
    """
    from scipy import stats

    x = np.sort(np.asarray(values, dtype=np.float64))
    n, alpha = len(x), 1 - confidence
    r = int(stats.binom.ppf(alpha / 2, n, q))  # 1-based rank of the lower end
    s = int(stats.binom.ppf(1 - alpha / 2, n, q)) + 1  # 1-based rank of the upper end
    return (float(x[r - 1]) if r >= 1 else None, float(x[s - 1]) if s <= n else None)


def check_latency(model: Predictor, features: pd.DataFrame, *,
                  max_single_row_p99_ms: float | None, max_batch_p99_ms: float | None,
                  batch_rows: int = 1000, calls: int = 30, batch_calls: int = 5,
                  warmup: int = 3) -> list[CheckResult]:
    """p50/p95/p99 latency of single-row and batch calls, after ``warmup`` untimed calls.

    The first calls pay for lazy imports and caches, which a served model pays once; the SLA
    is on the steady state. Single rows are taken in turn from ``features``: a row the model
    cannot score alone (a request it would reject in serving) fails the check.

    A p99 from a handful of calls is the slowest call, not a percentile: single-row calls are
    at least :data:`MIN_SINGLE_ROW_CALLS` whatever ``calls`` asks. Batches are expensive, so
    ``batch_calls`` stays as asked; either way the details give the number of calls and the
    95 % distribution-free interval of the p99 (:func:`quantile_interval`; ``None`` for an end
    that many calls cannot bound).
    """
    batch = features.sample(batch_rows, replace=len(features) < batch_rows, random_state=0)
    row = itertools.count()
    plans = (("latency.single_row_p99", max_single_row_p99_ms,
              max(calls, MIN_SINGLE_ROW_CALLS), "single-row",
              lambda: model.predict(features.iloc[[next(row) % len(features)]])),
             ("latency.batch_p99", max_batch_p99_ms, batch_calls, f"{batch_rows}-row batch",
              lambda: model.predict(batch)))
    checks = []
    with _quiet_schema_warnings():
        for name, limit, times, what, call in plans:
            if limit is None:
                continue
            try:
                _timings_ms(call, warmup)
                timings = _timings_ms(call, times)
            except Exception as err:
                checks.append(CheckResult(name, False, "error", float(limit), (
                    f"{what} call raised {type(err).__name__}: {error_message(err)}"),
                    "latency", "<="))
                continue
            p50, p95, p99 = (float(v) for v in np.percentile(timings, [50, 95, 99]))
            low, high = quantile_interval(timings, 0.99, 0.95)
            result = _measured(name, "latency", p99, limit, "<=",
                               f"{what} p99 (ms) of {times} calls")
            checks.append(_with_details(result, {"p50_ms": p50, "p95_ms": p95, "p99_ms": p99,
                                                 "calls": times, "p99_ci_ms": [low, high],
                                                 "ci_confidence": 0.95}))
    return checks
