"""Drift: per window and column, how far the data moved from a baseline and from the last window.

:func:`drift_metrics` returns one row per (window, column, comparison), a flat mirror of Databricks
Lakehouse Monitoring's drift table: ``drift_type`` is ``"BASELINE"`` (against a baseline table,
typically the model's training or reference data) or ``"CONSECUTIVE"`` (against the previous
window), so the same questions can be asked in SQL (DuckDB here, Spark at scale).

Statistics, all on the **non-null** values (nulls are a separate signal, below):

- numeric columns: Kolmogorov-Smirnov statistic and p-value (``scipy.stats.ks_2samp``), the
  Wasserstein distance raw and divided by the comparison sample's standard deviation, and the
  population stability index (PSI) and Jensen-Shannon distance on ``bins`` equal-frequency bins of
  the comparison sample (right-closed; edges are observed values, so a 0/1 flag gets two bins);
- categorical columns: chi-square test of homogeneity (Pearson, no continuity correction),
  total-variation and L-infinity distances, PSI and Jensen-Shannon distance on the category
  frequencies over the union of the two samples' categories;
- discrete numeric columns, whose reference values are integers with at most
  ``DriftConfig.max_discrete_values`` distinct ones (a 0/1 flag such as ``SeniorCitizen``, a count
  of 0 to 5): the categorical statistics on the value frequencies, plus ``avg_delta``. KS is
  the wrong test there: its p-value assumes continuous data and is very conservative on a few
  tied values (a share of senior citizens moving from 0.162 to 0.21 on a few thousand rows
  passes KS, chi-square rejects at p = 2e-7), and Wasserstein on a flag is just the share's
  change. The reference is the baseline, or all the windows pooled when there is no baseline,
  so a column gets one test in every row. Column ``value_test`` says which test was used
  (``"ks"`` or ``"chi_squared"``);
- PSI replaces an empty bin's proportion by ``epsilon`` (default 1e-4) so the logarithm is
  finite; its bands are < 0.1 stable, 0.1 to 0.25 moderate, >= 0.25 significant
  (:func:`psi_band`). Jensen-Shannon uses base 2, so it lies in [0, 1].

Nulls are their own drift signal, where common tools drop them silently: every row carries the
null rates of both samples and a chi-square test of null versus non-null. A numeric column that
arrives as text (``"12"``) is a broken contract, reported as ``type_mismatch``; its statistics are
computed on the values parsed as numbers (what could not be parsed counts as null).

The decision (:class:`DriftConfig`): a column drifts in a window when its value test (KS or
chi-square, as ``value_test`` says) or its null test rejects at level ``alpha``
Bonferroni-corrected over all the tests of that window and comparison, and its PSI is at least
``min_psi`` (an effect-size floor, 0 by default: pass 0.1 to ignore differences too small to
matter on very large windows), or when its type is wrong. The ground truth's null rate is not a
drift signal (labels arrive late by design).

See Also
--------
Chapter :doc:`Drift and estimated performance </book/06_drift_and_estimation>`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from closedloop.contract.schema import Schema
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.monitoring import drift_stats as st
from closedloop.monitoring.drift_stats import ColumnSample, Kind, reduce_column
from closedloop.monitoring.windows import WINDOW_END, WINDOW_START, Granularity, assign_windows

BASELINE, CONSECUTIVE = "BASELINE", "CONSECUTIVE"
#: Monitoring columns compared besides the schema's features, with their kind.
MODEL_COLUMNS: Mapping[str, Kind] = {
    "prediction": "categorical", "prediction_proba": "numeric", "ground_truth": "categorical",
}
#: Columns whose null rate is not a drift signal (labels are null until they arrive).
LABEL_COLUMNS: tuple[str, ...] = ("ground_truth",)

#: Values of the drift table's ``value_test``: which test compared the column's values.
VALUE_TESTS: tuple[str, ...] = ("ks", "chi_squared")

#: The drift table's columns, in order.
DRIFT_COLUMNS: tuple[str, ...] = (
    "window_start", "window_end", "window_cmp_start", "window_cmp_end", "drift_type",
    "granularity", "column_name", "column_kind", "value_test", "model_id", "slice_key",
    "slice_value",
    "count", "count_cmp", "count_delta", "avg_delta",
    "null_rate", "null_rate_cmp", "percent_null_delta", "null_chi_squared_statistic",
    "null_chi_squared_pvalue",
    "ks_statistic", "ks_pvalue", "wasserstein_distance", "wasserstein_distance_normalized",
    "population_stability_index", "psi_band", "jensen_shannon_distance",
    "chi_squared_statistic", "chi_squared_pvalue", "tv_distance", "l_infinity_distance",
    "type_mismatch", "drift_detected", "drift_reason",
)


@dataclass(frozen=True)
class DriftConfig:
    """Settings of the drift statistics and of the drift decision.

    Parameters
    ----------
    bins : int
        Equal-frequency bins of the comparison sample for a numeric column's PSI and JS.
    epsilon : float
        Proportion given to an empty bin in PSI, so that ``ln(0)`` never occurs.
    alpha : float
        Family-wise false-alarm rate per window and comparison (Bonferroni over its tests).
    min_psi : float
        Smallest PSI that counts as drift when a test rejects (0: the tests decide alone).
    psi_moderate, psi_significant : float
        PSI band limits: below ``psi_moderate`` stable, from ``psi_significant`` significant.
    ks_method : str
        KS p-value: ``"auto"`` (exact for small samples, asymptotic beyond a million value
        pairs), ``"scipy"`` (``ks_2samp``'s own rule), ``"exact"`` or ``"asymp"``; see
        :func:`closedloop.monitoring.drift_stats.ks_pvalue`.
    max_discrete_values : int
        A numeric column whose reference values are all integers, at most this many distinct,
        is compared with the categorical statistics (chi-square, ...) instead of KS and
        Wasserstein; 0 compares every numeric column with KS.
    """

    bins: int = 10
    epsilon: float = 1e-4
    alpha: float = 0.01
    min_psi: float = 0.0
    psi_moderate: float = 0.1
    psi_significant: float = 0.25
    ks_method: str = "auto"
    max_discrete_values: int = 10

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def psi_band(psi: float, config: DriftConfig = DriftConfig()) -> str:
    """``"stable"`` (< 0.1), ``"moderate"`` (0.1 to 0.25) or ``"significant"`` (>= 0.25).

    Examples
    --------
    >>> [psi_band(x) for x in (0.02, 0.1, 0.3)]
    ['stable', 'moderate', 'significant']
    """
    if psi is None or not math.isfinite(psi):
        return "n/a"
    if psi < config.psi_moderate:
        return "stable"
    return "moderate" if psi < config.psi_significant else "significant"


def drift_columns(frame: pd.DataFrame, schema: Schema = TELCO_SCHEMA) -> dict[str, Kind]:
    """The columns of ``frame`` to monitor, with their kind: the schema's features (by their
    declared kind, so the integer ``SeniorCitizen`` is numeric), then ``prediction``,
    ``prediction_proba`` and ``ground_truth`` where present.

    Examples
    --------
    >>> cols = drift_columns(pd.DataFrame(columns=["tenure", "Contract", "prediction_proba"]))
    >>> cols
    {'tenure': 'numeric', 'Contract': 'categorical', 'prediction_proba': 'numeric'}
    """
    kinds: dict[str, Kind] = {
        c.name: "categorical" if c.kind == "category" else "numeric" for c in schema.features}
    kinds.update(MODEL_COLUMNS)
    return {name: kind for name, kind in kinds.items() if name in frame.columns}


def value_test(kind: Kind, reference: Sequence[ColumnSample],
               config: DriftConfig = DriftConfig()) -> str:
    """The test that compares a column's values: ``"chi_squared"`` for a categorical column and
    for a discrete numeric one (the values of the ``reference`` samples pooled are integers, at
    most ``config.max_discrete_values`` distinct), ``"ks"`` for the other numeric columns.

    Examples
    --------
    >>> flag, = reduce_column(pd.Series([0, 1, 1, 0, 0]), "numeric")
    >>> tenure, = reduce_column(pd.Series(range(73)), "numeric")
    >>> value_test("numeric", [flag]), value_test("numeric", [tenure])
    ('chi_squared', 'ks')
    """
    if kind != "numeric":
        return "chi_squared"
    values = np.unique(np.concatenate(
        [np.asarray(c.reduced.values, np.float64) for c in reference] or [np.array([])]))
    discrete = (0 < values.size <= config.max_discrete_values
                and bool(np.all(np.isfinite(values) & (values == np.round(values)))))
    return "chi_squared" if discrete else "ks"


# --------------------------------------------------------------------------------------------
# Comparing two reduced samples
# --------------------------------------------------------------------------------------------


_STATISTICS = ("avg_delta", "ks_statistic", "ks_pvalue", "wasserstein_distance",
               "wasserstein_distance_normalized", "population_stability_index",
               "jensen_shannon_distance", "chi_squared_statistic", "chi_squared_pvalue",
               "tv_distance", "l_infinity_distance")


def compare_many(cmps: Sequence[ColumnSample], curs: Sequence[ColumnSample], kind: Kind,
                 config: DriftConfig = DriftConfig(), test: str | None = None) -> pd.DataFrame:
    """Every statistic of the drift table for pairs of samples of one column: ``curs[i]``
    against ``cmps[i]``. One row per pair; the null and categorical statistics are computed for
    all pairs at once, as arrays.

    ``test`` is the value test (:data:`VALUE_TESTS`); by default :func:`value_test` on the
    comparison samples ``cmps``.
    """
    return pd.DataFrame(_compare_arrays(cmps, curs, kind, config, test))


def _compare_arrays(cmps: Sequence[ColumnSample], curs: Sequence[ColumnSample], kind: Kind,
                    config: DriftConfig, test: str | None) -> dict[str, np.ndarray]:
    """:func:`compare_many` as a dict of columns (no DataFrame per block)."""
    test = test or value_test(kind, cmps, config)
    a = [c.reduced for c in cmps]
    b = [c.reduced for c in curs]
    n_a, n_b = (np.array([r.n for r in rs], dtype=float) for rs in (a, b))
    nulls_a, nulls_b = (np.array([r.nulls for r in rs], dtype=float) for rs in (a, b))
    total_a, total_b = n_a + nulls_a, n_b + nulls_b
    with np.errstate(divide="ignore", invalid="ignore"):
        rate_b = np.where(total_b > 0, nulls_b / np.maximum(total_b, 1), np.nan)
        rate_a = np.where(total_a > 0, nulls_a / np.maximum(total_a, 1), np.nan)
    statistic, pvalue = st.chi_square(np.stack([nulls_a, n_a], axis=-1),
                                      np.stack([nulls_b, n_b], axis=-1))
    out: dict[str, Any] = {
        "count": total_b.astype(np.int64), "count_cmp": total_a.astype(np.int64),
        "count_delta": (total_b - total_a).astype(np.int64),
        "type_mismatch": np.array([c.text_values > 0 for c in curs], dtype=bool),
        "null_rate": rate_b, "null_rate_cmp": rate_a,
        "percent_null_delta": 100.0 * (rate_b - rate_a),
        "null_chi_squared_statistic": statistic, "null_chi_squared_pvalue": pvalue,
        "value_test": np.full(len(curs), test, dtype=object),
        **{name: np.full(len(curs), np.nan) for name in _STATISTICS}}
    both = np.flatnonzero((n_a > 0) & (n_b > 0))
    if both.size:
        pairs = ([a[i] for i in both], [b[i] for i in both])
        if test == "ks":
            stats = _numeric_stats(*pairs, config)
        else:
            # a discrete numeric column: its values as categories (all floats, so 1 and 1.0
            # are one category whatever the dtype of each sample), and the shift of its mean
            stats = _categorical_stats(*(_as_float(s) if kind == "numeric" else s
                                         for s in pairs), config)
            if kind == "numeric":
                stats["avg_delta"] = np.array([st.mean_std(y)[0] - st.mean_std(x)[0]
                                               for x, y in zip(*pairs)])
        for name, values in stats.items():
            out[name][both] = values
    return out


def _numeric_stats(a: Sequence[st.Reduced], b: Sequence[st.Reduced], config: DriftConfig
                   ) -> dict[str, np.ndarray]:
    rows = []
    cache: dict[int, tuple[float, float, np.ndarray, np.ndarray]] = {}
    for x, y in zip(a, b):
        if id(x) not in cache:  # the baseline is the same sample in every pair: describe it once
            edges = st.quantile_edges(x, config.bins)
            cache[id(x)] = (*st.mean_std(x), edges, st.bin_counts(x, edges))
        mean_x, std_x, edges, expected = cache[id(x)]
        d, p, w = st.ks_and_wasserstein(x, y, config.ks_method)
        actual = st.bin_counts(y, edges)
        rows.append((st.mean_std(y)[0] - mean_x, d, p, w, w / std_x if std_x > 0 else math.nan,
                     float(st.psi(expected, actual, config.epsilon)),
                     float(st.js_distance(expected, actual))))
    names = ("avg_delta", "ks_statistic", "ks_pvalue", "wasserstein_distance",
             "wasserstein_distance_normalized", "population_stability_index",
             "jensen_shannon_distance")
    return dict(zip(names, np.array(rows, dtype=float).T))


def _as_float(samples: Sequence[st.Reduced]) -> list[st.Reduced]:
    return [st.Reduced(np.asarray(r.values, np.float64), r.counts, r.nulls) for r in samples]


def _categorical_stats(a: Sequence[st.Reduced], b: Sequence[st.Reduced], config: DriftConfig
                       ) -> dict[str, np.ndarray]:
    # One category axis for every pair: a category absent from both samples of a pair is an
    # all-zero column, which changes none of the statistics.
    labels = np.unique(np.concatenate([r.values.astype(str) for r in (*a, *b)]))

    def matrix(samples: Sequence[st.Reduced]) -> np.ndarray:
        out = np.zeros((len(samples), labels.size))
        for i, r in enumerate(samples):
            out[i, np.searchsorted(labels, r.values.astype(str))] = r.counts
        return out

    expected, actual = matrix(a), matrix(b)
    statistic, pvalue = st.chi_square(expected, actual)
    tv, linf = st.tv_and_linf(expected, actual)
    return {"chi_squared_statistic": statistic, "chi_squared_pvalue": pvalue,
            "tv_distance": tv, "l_infinity_distance": linf,
            "population_stability_index": st.psi(expected, actual, config.epsilon),
            "jensen_shannon_distance": st.js_distance(expected, actual)}


def compare(cmp: ColumnSample, cur: ColumnSample, kind: Kind,
            config: DriftConfig = DriftConfig()) -> dict[str, Any]:
    """Every statistic of the drift table for one column: ``cur`` against ``cmp``."""
    row = compare_many([cmp], [cur], kind, config).iloc[0].to_dict()
    row["type_mismatch"] = bool(row["type_mismatch"])
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in row.items()}


def column_drift(baseline: pd.Series, current: pd.Series, kind: Kind = "numeric",
                 config: DriftConfig = DriftConfig()) -> dict[str, Any]:
    """The drift statistics of one column between two samples (no windows, no decision).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = pd.Series(rng.normal(size=1_000))
    >>> same = column_drift(x, x)
    >>> same["population_stability_index"], same["ks_pvalue"]
    (0.0, 1.0)
    >>> moved = column_drift(x, x + 0.3)
    >>> psi_band(moved["population_stability_index"]), moved["ks_pvalue"] < 1e-6
    ('moderate', True)
    """
    (a,), (b,) = reduce_column(baseline, kind), reduce_column(current, kind)
    return compare(a, b, kind, config)


# --------------------------------------------------------------------------------------------
# The drift table
# --------------------------------------------------------------------------------------------


def drift_metrics(current: pd.DataFrame, baseline: pd.DataFrame | None = None, *,
                  granularity: str | Granularity = "1d", timestamp: str = "timestamp",
                  columns: Mapping[str, Kind] | Sequence[str] | None = None,
                  schema: Schema = TELCO_SCHEMA, consecutive: bool = True,
                  config: DriftConfig = DriftConfig()) -> pd.DataFrame:
    """The drift table of ``current`` (e.g. the inference log) per time window.

    Parameters
    ----------
    current : DataFrame
        Monitored rows: a ``timestamp`` column (or a ``window_start`` column already assigned,
        with an optional ``window_end``), the columns to compare, optionally ``model_version``.
    baseline : DataFrame, optional
        The reference sample (training data, or a reference period of the log) with the same
        columns. Without it only consecutive drift is computed.
    granularity : str or Granularity
        Window width (``"1d"``, ``"1w"``, ...), used when ``current`` has no ``window_start``.
    columns : mapping or sequence, optional
        Columns to compare, with their kind; default :func:`drift_columns`. A plain sequence takes
        the kinds from :func:`drift_columns`.
    consecutive : bool
        Also compare every window with the previous one (when they are adjacent).
    config : DriftConfig
        Bins, PSI epsilon and bands, and the decision rule.

    Returns
    -------
    DataFrame
        One row per window, column and drift type, columns :data:`DRIFT_COLUMNS`.

    See Also
    --------
    closedloop.monitoring.aggregates.drift_from_log : the same table from an inference log,
        counted by DuckDB over its Parquet files instead of a DataFrame.
    """
    kinds = _kinds(current, columns, schema)
    windows, groups, grain = _windows(current, granularity, timestamp)
    reduced = {name: reduce_column(current[name], kind, groups, len(windows))
               for name, kind in kinds.items()}
    base = None
    if baseline is not None:
        missing = sorted(set(kinds) - set(baseline.columns))
        if missing:
            raise KeyError(f"the baseline lacks the monitored column(s) {missing}")
        base = {name: reduce_column(baseline[name], kind)[0] for name, kind in kinds.items()}
    models = _models(current, groups, len(windows))
    return drift_table(windows, reduced, kinds, base, granularity=grain, models=models,
                       consecutive=consecutive, config=config)


def drift_table(windows: pd.DataFrame, reduced: Mapping[str, Sequence[ColumnSample]],
                kinds: Mapping[str, Kind], baseline: Mapping[str, ColumnSample] | None = None,
                *, granularity: str = "", models: Sequence[str] | None = None,
                consecutive: bool = True, config: DriftConfig = DriftConfig()) -> pd.DataFrame:
    """Build the drift table from reduced samples (the engine-independent half of
    :func:`drift_metrics`; the Spark path reduces with Spark and calls this).

    ``windows`` has ``window_start`` and ``window_end`` in order; ``reduced[column][i]`` is the
    sample of window ``i``; ``baseline[column]`` the baseline's.
    """
    starts = pd.DatetimeIndex(windows[WINDOW_START])
    ends = pd.DatetimeIndex(windows[WINDOW_END])
    comparisons = []  # (drift type, current windows, comparison windows or None for baseline)
    if baseline is not None:
        comparisons.append((BASELINE, np.arange(len(starts)), None))
    if consecutive and len(starts) > 1:
        # Only adjacent windows: a gap (no traffic for a while) is not "the previous window".
        later = np.arange(1, len(starts))
        adjacent = later[ends[later - 1].isna() | (ends[later - 1] == starts[later])]
        comparisons.append((CONSECUTIVE, adjacent, adjacent - 1))
    blocks = []
    for order, (name, kind) in enumerate(kinds.items()):
        # One test per column: decided on the baseline, or on all the windows without one.
        test = value_test(kind, [baseline[name]] if baseline is not None else reduced[name],
                          config)
        for drift_type, current, previous in comparisons:
            if current.size == 0:
                continue
            cmps = ([baseline[name]] * current.size if previous is None  # type: ignore[index]
                    else [reduced[name][i] for i in previous])
            block = _compare_arrays(cmps, [reduced[name][i] for i in current], kind, config,
                                    test)
            cmp_at = (np.full(current.size, -1) if previous is None else previous)
            n = current.size
            block.update({
                "window_start": starts[current].to_numpy(),
                "window_end": ends[current].to_numpy(),
                "window_cmp_start": starts[cmp_at].where(cmp_at >= 0).to_numpy(),
                "window_cmp_end": ends[cmp_at].where(cmp_at >= 0).to_numpy(),
                "drift_type": np.full(n, drift_type, dtype=object),
                "column_name": np.full(n, name, dtype=object),
                "column_kind": np.full(n, kind, dtype=object),
                "model_id": (np.array([models[i] for i in current], dtype=object) if models
                             else np.full(n, None, dtype=object)),
                "_order": np.full(n, order)})
            blocks.append(block)
    if not blocks:
        return pd.DataFrame(columns=list(DRIFT_COLUMNS))
    # One frame from the concatenated columns: a DataFrame per block costs more than its rows.
    table = pd.DataFrame({key: np.concatenate([b[key] for b in blocks]) for key in blocks[0]})
    table["drift_type"] = pd.Categorical(table["drift_type"], [BASELINE, CONSECUTIVE])
    table = table.sort_values(["window_start", "drift_type", "_order"], kind="stable")
    table["drift_type"] = table["drift_type"].astype(str)
    table["granularity"], table["slice_key"], table["slice_value"] = granularity, None, None
    table["psi_band"] = [psi_band(x, config) for x in table["population_stability_index"]]
    _decide(table, config)
    return table[list(DRIFT_COLUMNS)].reset_index(drop=True)


def _decide(table: pd.DataFrame, config: DriftConfig) -> None:
    """Bonferroni over the value test and the null test of every column of one comparison."""
    tests = table.groupby(["window_start", "drift_type"])["column_name"].transform("size")
    level = config.alpha / (2 * tests)
    value_p = table["ks_pvalue"].where(table["value_test"] == "ks",
                                       table["chi_squared_pvalue"])
    values = (value_p < level) & ~(table["population_stability_index"] < config.min_psi)
    nulls = (table["null_chi_squared_pvalue"] < level) & ~table["column_name"].isin(
        LABEL_COLUMNS)
    types = table["type_mismatch"].astype(bool)
    table["drift_detected"] = values | nulls | types
    flags = zip(np.where(values, "values", ""), np.where(nulls, "nulls", ""),
                np.where(types, "type", ""))
    table["drift_reason"] = ["+".join(f for f in row if f) for row in flags]


def _kinds(frame: pd.DataFrame, columns: Mapping[str, Kind] | Sequence[str] | None,
           schema: Schema) -> dict[str, Kind]:
    known = drift_columns(frame, schema)
    if columns is None:
        return known
    if isinstance(columns, Mapping):
        return dict(columns)
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise KeyError(f"no kind known for column(s) {unknown}: pass a mapping name -> kind")
    return {c: known[c] for c in columns}


def _windows(frame: pd.DataFrame, granularity: str | Granularity,
             timestamp: str) -> tuple[pd.DataFrame, np.ndarray, str]:
    """Distinct windows in order, each row's window code, and the granularity label."""
    grain = Granularity.parse(granularity)
    if WINDOW_START in frame.columns:
        start = pd.to_datetime(frame[WINDOW_START])
    else:
        start = assign_windows(frame[timestamp], grain)
    codes, uniques = pd.factorize(start, sort=True)
    if (codes < 0).any():
        raise ValueError(f"{int((codes < 0).sum())} row(s) have no timestamp, hence no window")
    uniques = pd.DatetimeIndex(uniques)
    if WINDOW_END in frame.columns:
        ends = pd.Series(pd.to_datetime(frame[WINDOW_END]).to_numpy()).groupby(codes).first()
        end = pd.DatetimeIndex(ends.sort_index().to_numpy())
    else:
        end = pd.DatetimeIndex(grain.end(pd.Series(uniques)))
    windows = pd.DataFrame({WINDOW_START: uniques, WINDOW_END: end})
    return windows, codes, grain.label


def _models(frame: pd.DataFrame, groups: np.ndarray, n: int) -> list[str] | None:
    if "model_version" not in frame.columns:
        return None
    versions = frame["model_version"].astype("object").astype(str)
    found = pd.Series(versions.to_numpy()).groupby(groups).agg(lambda v: ",".join(sorted(set(v))))
    return [found.get(i, "") for i in range(n)]


def drift_summary(table: pd.DataFrame, statistic: str = "population_stability_index",
                  drift_type: str = BASELINE) -> pd.DataFrame:
    """Windows x columns matrix of one statistic (what the drift heat map draws).

    Examples
    --------
    >>> t = pd.DataFrame({"window_start": [1, 1, 2], "column_name": ["a", "b", "a"],
    ...                   "drift_type": "BASELINE", "population_stability_index": [0., .2, .3]})
    >>> drift_summary(t).to_dict()
    {'a': {1: 0.0, 2: 0.3}, 'b': {1: 0.2, 2: nan}}
    """
    chosen = table[table["drift_type"] == drift_type]
    order = list(dict.fromkeys(chosen["column_name"]))
    matrix = chosen.pivot(index="window_start", columns="column_name", values=statistic)
    matrix.columns.name = None
    return matrix[order]
