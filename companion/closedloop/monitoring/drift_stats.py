"""Two-sample statistics on reduced samples, each a sorted set of distinct values with counts.

Every drift statistic of :mod:`closedloop.monitoring.drift` depends on a sample only through its
empirical distribution, so each is computed here from ``(values, counts)``, a :class:`Reduced`.
pandas and Spark reduce a window to that form their own way (``np.unique``, a ``GROUP BY``) and
share these functions, which is why the two engines agree to rounding error. The numbers equal
scipy's on the raw samples (``ks_2samp``, ``wasserstein_distance``, ``jensenshannon``,
``chi2_contingency`` without Yates' correction); the unit tests check it to 1e-9.

See Also
--------
Chapter :doc:`Drift and estimated performance </book/06_drift_and_estimation>`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import pandas as pd
from scipy import special, stats

#: Kinds of monitored column, numeric (integers or floats) or categorical (labels).
Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class Reduced:
    """One column of one window: sorted distinct non-null values, their counts, and the nulls."""

    values: np.ndarray
    counts: np.ndarray
    nulls: int = 0

    @cached_property
    def n(self) -> int:
        """Number of non-null values."""
        return int(self.counts.sum())

    @property
    def total(self) -> int:
        return self.n + self.nulls

    @classmethod
    def of(cls, values: np.ndarray, nulls: int = 0) -> Reduced:
        """Reduce raw non-null values (numbers or category labels)."""
        unique, counts = np.unique(values, return_counts=True)
        return cls(unique, counts.astype(np.int64), int(nulls))


def _cumulative(sample: Reduced, at: np.ndarray) -> np.ndarray:
    """Counts of values <= each point of ``at`` (integers, so the ECDFs match scipy bit for bit)."""
    cum = np.concatenate([[0], np.cumsum(sample.counts)])
    return cum[np.searchsorted(sample.values, at, side="right")]


def ks(a: Reduced, b: Reduced, method: str = "auto") -> tuple[float, float]:
    """Two-sided two-sample Kolmogorov-Smirnov statistic and p-value (see :func:`ks_pvalue`).

    The statistic is the largest gap between the two ECDFs over the union of the values, equal to
    ``scipy.stats.ks_2samp``'s.
    """
    d, p, _ = ks_and_wasserstein(a, b, method)
    return d, p


#: Support points per block when a sample is large: the ECDF gaps of millions of distinct
#: values are computed block by block, so memory stays a few times one sample.
BLOCK = 1 << 20


def ks_and_wasserstein(a: Reduced, b: Reduced, method: str = "auto"
                       ) -> tuple[float, float, float]:
    """KS statistic, its p-value and the Wasserstein distance, from one pass over both ECDFs.

    The ECDFs are compared at every point of the union of the two samples' values, walked in
    blocks of :data:`BLOCK` points: the union is the larger sample with the smaller one's new
    values inserted (one binary search per value of the smaller sample), so a window of
    millions of distinct scores against a reference of thousands costs a few linear passes,
    not a search per point, and memory stays a few blocks.
    """
    small, big = (a, b) if a.values.size <= b.values.size else (b, a)
    if small.values.size == 0 or small.values.dtype != big.values.dtype:
        support = np.union1d(a.values, b.values)   # an empty sample, or mixed types: rare
        diff = _cumulative(a, support) / a.n - _cumulative(b, support) / b.n
        d = float(max(np.clip(-diff.min(), 0, 1), diff.max())) if diff.size else 0.0
        w = float(np.sum(np.abs(diff[:-1]) * np.diff(support.astype(np.float64))))
        return d + 0.0, ks_pvalue(d, a.n, b.n, method), w
    at = np.searchsorted(big.values, small.values)
    new = (at == big.values.size) | (big.values[np.minimum(at, big.values.size - 1)]
                                     != small.values)
    fresh = small.values[new]
    inserted = at[new] + np.arange(fresh.size)   # where the new values land in the union
    # Where each value of the smaller sample is in the union: its own place if new, else the
    # place of the equal value of the larger sample (shifted by the new values before it).
    place = np.empty(small.values.size, np.int64)
    place[new] = inserted
    place[~new] = at[~new] + np.searchsorted(at[new], at[~new], side="right")
    size = big.values.size + fresh.size
    below = [0, 0]   # counts of (big, small) <= the last point of the previous block
    low, high, w, last = 0.0, 0.0, 0.0, None
    for lo in range(0, size, BLOCK):
        hi = min(lo + BLOCK, size)
        i0, i1 = np.searchsorted(inserted, [lo, hi])   # new values in this block
        is_new = np.zeros(hi - lo, bool)
        is_new[inserted[i0:i1] - lo] = True
        values = np.empty(hi - lo, big.values.dtype)
        values[is_new] = fresh[i0:i1]
        values[~is_new] = big.values[lo - i0:hi - i1]
        big_mass, small_mass = np.zeros(hi - lo, np.int64), np.zeros(hi - lo, np.int64)
        big_mass[~is_new] = big.counts[lo - i0:hi - i1]
        s0, s1 = np.searchsorted(place, [lo, hi])
        small_mass[place[s0:s1] - lo] = small.counts[s0:s1]
        cum_big, cum_small = below[0] + np.cumsum(big_mass), below[1] + np.cumsum(small_mass)
        below = [int(cum_big[-1]), int(cum_small[-1])]
        cum_a, cum_b = (cum_small, cum_big) if small is a else (cum_big, cum_small)
        # Integer counts divided by n, so the ECDFs match scipy's bit for bit.
        diff = cum_a / a.n - cum_b / b.n
        low, high = min(low, float(diff.min())), max(high, float(diff.max()))
        points = values.astype(np.float64)
        if last is not None:   # the gap from the previous block's last point to this one's first
            w += abs(last[0]) * (points[0] - last[1])
        # The area between the ECDFs: each gap times the distance to the next point.
        w += float(np.sum(np.abs(diff[:-1]) * np.diff(points)))
        last = (float(diff[-1]), float(points[-1]))
    d = float(max(np.clip(-low, 0, 1), high)) + 0.0   # never -0.0
    return d, ks_pvalue(d, a.n, b.n, method), w


#: Largest ``n1 * n2`` for which ``method="auto"`` computes the exact KS p-value.
EXACT_KS_MAX_PRODUCT = 1_000_000


def ks_pvalue(d: float, n1: int, n2: int, method: str = "auto") -> float:
    """Two-sided p-value of a KS statistic ``d`` between samples of ``n1`` and ``n2`` values.

    ``scipy.stats.ks_2samp`` computes its p-value from ``d``, ``n1`` and ``n2`` only; this
    function reproduces it for ``method`` ``"exact"`` (scipy's own lattice-path routine),
    ``"asymp"`` (Smirnov's limit distribution) and ``"scipy"`` (ks_2samp's default rule: exact up
    to 10,000 values per sample). ``"auto"`` is exact only while ``n1 * n2`` is at most
    :data:`EXACT_KS_MAX_PRODUCT`: the exact count costs O(n1 n2) (40 ms at 2,100 x 9,000 values),
    and beyond that size the two differ by about 1 % of the p-value.
    """
    if method not in ("auto", "scipy", "exact", "asymp"):
        raise ValueError(f"method must be auto, scipy, exact or asymp, not {method!r}")
    if method == "auto":
        method = "exact" if n1 * n2 <= EXACT_KS_MAX_PRODUCT else "asymp"
    elif method == "scipy":
        method = "exact" if max(n1, n2) <= 10_000 else "asymp"
    g = math.gcd(n1, n2)
    if method == "exact" and (n1 // g) < np.iinfo(np.int32).max / (n2 // g):
        exact = _exact_pvalue(n1, n2, g, d)
        if exact is not None:
            return exact
    m, n = sorted([float(n1), float(n2)], reverse=True)
    return kolmogorov_sf(int(np.round(m * n / (m + n))), d)


def kolmogorov_sf(n: int, d: float) -> float:
    """``scipy.stats.kstwo.sf(d, n)``: the chance that the KS statistic of ``n`` values is >= ``d``.

    scipy picks one of several methods by ``n`` and ``d`` (Simard and L'Ecuyer, 2011). This
    function keeps scipy's choice and computes two of its branches faster, to within 1e-11 of
    scipy (the unit tests check it over a grid):

    - Durbin's matrix (``n <= 100,000`` and a small ``d``): scipy multiplies the result by
      ``n! / n**n`` one factor at a time in a Python loop (3 ms at ``n = 6,500``); here the
      factor is ``exp(lgamma(n + 1) - n log n)``.
    - ``2 * smirnov(n, d)`` (``n d**2 >= 2.2``): scipy sums the exact one-sided series in
      double-double arithmetic (40 ms at ``n = 40,000``); here it is summed with numpy in
      logarithms. Every term is positive, so nothing cancels.

    Every other case is scipy's own ``kstwo.sf``.
    """
    t = n * d
    if n > 140 and 1.0 < t and d < 0.5:   # scipy's exact small-n and extreme cases excluded
        nd2 = t * d
        if 2.2 <= nd2 < 370.0:
            return float(min(2.0 * _smirnov_series(n, d), 1.0))
        if nd2 < 18.0 and n <= 100_000 and n * d ** 1.5 <= 1.4:
            return float(np.clip(1.0 - _durbin_cdf(n, d), 0.0, 1.0))
    return float(np.clip(stats.kstwo.sf(d, n), 0.0, 1.0))


def _smirnov_series(n: int, d: float) -> float:
    """One-sided ``P(D+_n >= d)`` by the Birnbaum-Tingey series (scipy's ``smirnov(n, d)``)."""
    j = np.arange(int(math.floor(n * (1.0 - d))) + 1, dtype=np.float64)
    with np.errstate(divide="ignore"):   # a last term with base 0 is 0
        log_terms = (special.gammaln(n + 1.0) - special.gammaln(j + 1.0)
                     - special.gammaln(n - j + 1.0)
                     + (n - j) * np.log(np.maximum((n * (1.0 - d) - j) / n, 0.0))
                     + (j - 1.0) * np.log(d + j / n))
    top = float(log_terms.max())
    return d * math.exp(top) * float(np.sum(np.exp(log_terms - top)))


#: Scaling of the matrix powers in :func:`_durbin_cdf`, as in scipy.
_SCALE_EXPONENT = 128


def _durbin_cdf(n: int, d: float) -> float:
    """``P(D_n < d)`` by Durbin's matrix method as Marsaglia, Tsang and Wang (2003) compute it.

    The algorithm of scipy's ``_kolmogn_DMTW`` (BSD licence), with the final ``n! / n**n`` taken
    in logarithms instead of ``n`` Python multiplications.
    """
    k = int(math.ceil(n * d))
    h = k - n * d
    m = 2 * k - 1
    steps = np.arange(1, m + 1)
    inverse_factorials = np.concatenate([[1.0], np.cumprod(1.0 / steps)])   # 1/j!, j = 0..m
    v = (1.0 - h ** steps) * inverse_factorials[1:]
    v[-1] = (1.0 + max(2 * h - 1.0, 0) ** m - 2 * h ** m) * inverse_factorials[m]
    H = np.zeros((m, m))
    for i in range(1, m):
        H[i - 1:, i] = inverse_factorials[:m - i + 1]
    H[:, 0] = v
    H[-1, :] = v[::-1]
    power, exponent, h_exponent, left = np.eye(m), 0, 0, n
    while left > 0:   # H**n by squaring, rescaled so that nothing overflows
        if left % 2:
            power = power @ H
            exponent += h_exponent
        H = H @ H
        h_exponent *= 2
        if abs(H[k - 1, k - 1]) > 2.0 ** _SCALE_EXPONENT:
            H /= 2.0 ** _SCALE_EXPONENT
            h_exponent += _SCALE_EXPONENT
        left //= 2
    p = float(power[k - 1, k - 1])
    if p <= 0.0:
        return 0.0
    return math.exp(math.log(p) + exponent * math.log(2.0) + math.lgamma(n + 1.0)
                    - n * math.log(n))


def _exact_pvalue(n1: int, n2: int, g: int, d: float) -> float | None:
    try:  # scipy's exact lattice-path computation; private, so guarded (tests pin the agreement)
        from scipy.stats._stats_py import _attempt_exact_2kssamp
    except ImportError:  # pragma: no cover
        return None
    success, _, prob = _attempt_exact_2kssamp(n1, n2, g, d, "two-sided")
    return float(np.clip(prob, 0, 1)) if success else None


def wasserstein(a: Reduced, b: Reduced) -> float:
    """First Wasserstein distance (earth mover's), as ``scipy.stats.wasserstein_distance``.

    The area between the two ECDFs: the sum over consecutive support points of the ECDF gap times
    the distance to the next point.
    """
    return ks_and_wasserstein(a, b, "asymp")[2]


def mean_std(sample: Reduced) -> tuple[float, float]:
    """Mean and population standard deviation (ddof 0) of a reduced numeric sample."""
    if sample.n == 0:
        return math.nan, math.nan
    # Products summed, not np.dot: a BLAS call may start threads that wait on a busy machine;
    # block by block for a large sample.
    blocks = [(sample.values[lo:lo + BLOCK].astype(np.float64),
               sample.counts[lo:lo + BLOCK].astype(np.float64))
              for lo in range(0, sample.values.size, BLOCK)]
    mean = float(sum(np.sum(v * w) for v, w in blocks) / sample.n)
    var = float(sum(np.sum((v - mean) ** 2 * w) for v, w in blocks) / sample.n)
    return mean, math.sqrt(var)


def quantile_edges(sample: Reduced, bins: int) -> np.ndarray:
    """Inner edges of ``bins`` equal-frequency bins of ``sample`` (duplicates dropped).

    Quantiles use the "lower" rule (an observed value), so a point mass such as a 0/1 flag gives
    one edge, not many, and bins are right-closed: ``(e[i-1], e[i]]``.
    """
    if sample.n == 0:
        return np.array([], dtype=np.float64)
    cum = np.cumsum(sample.counts)
    ranks = np.floor(np.arange(1, bins) * (sample.n - 1) / bins).astype(np.int64)
    edges = sample.values[np.searchsorted(cum, ranks + 1)].astype(np.float64)
    edges = np.unique(edges)
    return edges[edges < sample.values[-1]]  # the last edge would leave an empty top bin


def bin_counts(sample: Reduced, edges: np.ndarray) -> np.ndarray:
    """Counts of ``sample`` in the right-closed bins delimited by ``edges`` (len(edges) + 1)."""
    out = np.zeros(edges.size + 1)
    for lo in range(0, sample.values.size, BLOCK):   # block by block for a large sample
        index = np.searchsorted(edges, sample.values[lo:lo + BLOCK].astype(np.float64),
                                side="left")
        out += np.bincount(index, weights=sample.counts[lo:lo + BLOCK],
                           minlength=edges.size + 1)
    return out


def category_counts(a: Reduced, b: Reduced) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The two samples' counts over the union of their categories (sorted)."""
    labels = np.union1d(a.values.astype(str), b.values.astype(str))
    out = []
    for sample in (a, b):
        counts = np.zeros(labels.size)
        counts[np.searchsorted(labels, sample.values.astype(str))] = sample.counts
        out.append(counts)
    return labels, out[0], out[1]


def psi(expected: np.ndarray, actual: np.ndarray, epsilon: float) -> np.ndarray:
    """Population stability index of count rows ``actual`` against ``expected`` (last axis).

    ``sum((a - e) * ln(a / e))`` over the bins, on proportions; a proportion of 0 (an empty bin) is
    replaced by ``epsilon`` so that the logarithm is finite. Broadcasts over leading axes.
    """
    e = _proportions(expected)
    a = _proportions(actual)
    e, a = np.where(e > 0, e, epsilon), np.where(a > 0, a, epsilon)
    return np.sum((a - e) * np.log(a / e), axis=-1)


def js_distance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance in base 2 (so in [0, 1]), as scipy's ``jensenshannon``."""
    p, q = _proportions(p), _proportions(q)
    m = (p + q) / 2.0
    divergence = (np.sum(special.rel_entr(p, m), axis=-1)
                  + np.sum(special.rel_entr(q, m), axis=-1)) / 2.0
    return np.sqrt(np.maximum(divergence, 0.0) / np.log(2.0))


def tv_and_linf(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Total-variation distance ``sum|p - q| / 2`` and L-infinity distance ``max|p - q|``."""
    gap = np.abs(_proportions(p) - _proportions(q))
    return gap.sum(axis=-1) / 2.0, gap.max(axis=-1)


def chi_square(expected: np.ndarray, actual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson's chi-square test of homogeneity on the 2 x k tables ``[expected, actual]``.

    Equals ``scipy.stats.chi2_contingency(table, correction=False)`` on the table without its
    all-zero columns; without Yates' correction, so a two-category column is on the same scale as
    the others. A table with fewer than two non-empty categories has statistic 0 and p-value 1.
    Broadcasts over leading axes.
    """
    expected, actual = np.broadcast_arrays(np.asarray(expected, float), np.asarray(actual, float))
    table = np.stack([expected, actual], axis=-2)
    col = table.sum(axis=-2, keepdims=True)
    row = table.sum(axis=-1, keepdims=True)
    total = row.sum(axis=-2, keepdims=True)
    fitted = row * col / np.where(total > 0, total, 1.0)
    terms = np.where(fitted > 0, (table - fitted) ** 2 / np.where(fitted > 0, fitted, 1.0), 0.0)
    statistic = terms.sum(axis=(-2, -1))
    dof = (col[..., 0, :] > 0).sum(axis=-1) - 1
    valid = (dof > 0) & (row.min(axis=(-2, -1)) > 0)
    # chdtrc is the ufunc behind stats.chi2.sf, without its per-call overhead (~0.3 ms).
    pvalue = np.where(valid, special.chdtrc(np.maximum(dof, 1), statistic), 1.0)
    return np.where(valid, statistic, 0.0), pvalue


def _proportions(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum(axis=-1, keepdims=True)
    return counts / np.where(total > 0, total, 1.0)


# --------------------------------------------------------------------------------------------
# Reduction of a pandas column, per window (Spark reduces with a GROUP BY instead)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnSample:
    """A column of one window in reduced form, plus how many values arrived as text."""

    reduced: Reduced
    text_values: int = 0


def _as_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Floats (unparseable -> NaN) and a mask of values that arrived as text."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=np.float64, na_value=np.nan), np.zeros(len(values), bool)
    text = values.map(lambda v: isinstance(v, str), na_action="ignore").fillna(False)
    numbers = pd.to_numeric(values.astype("object"), errors="coerce")
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan), text.to_numpy(dtype=bool)


def reduce_column(values: pd.Series, kind: Kind, groups: np.ndarray | None = None,
                  n_groups: int = 1) -> list[ColumnSample]:
    """Reduce ``values`` (one column) to one :class:`ColumnSample` per group code.

    ``groups`` holds a code in ``0 .. n_groups - 1`` per row (all rows in group 0 if omitted).
    One sort for all groups, so the cost does not grow with the number of windows.
    """
    groups = np.zeros(len(values), np.int64) if groups is None else np.asarray(groups, np.int64)
    if kind == "numeric":
        keys, text = _as_numbers(values)
        missing = np.isnan(keys)
        labels = None
    else:
        # Hash the raw values first, then name the few distinct ones: categories are compared
        # as text, so 1 and "1" are one category.
        codes, uniques = pd.factorize(values.astype("object"))
        labels, merged = np.unique(np.asarray([str(u) for u in uniques], dtype=object),
                                   return_inverse=True)
        missing = codes < 0
        # -1 (null) indexes the appended -1, so an all-null column needs no special case
        keys, text = np.append(merged, -1)[codes], np.zeros(len(values), bool)
    nulls = np.bincount(groups[missing], minlength=n_groups)
    texts = np.bincount(groups[text], minlength=n_groups)
    g, k = groups[~missing], keys[~missing]
    order = np.lexsort((k, g))
    g, k = g[order], k[order]
    first = np.ones(g.size, bool)
    first[1:] = (g[1:] != g[:-1]) | (k[1:] != k[:-1])
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, g.size))
    bounds = np.searchsorted(g[starts], np.arange(n_groups + 1))
    out = []
    for i in range(n_groups):
        part = slice(bounds[i], bounds[i + 1])
        unique = k[starts[part]]
        unique = unique if labels is None else labels[unique]
        out.append(ColumnSample(Reduced(unique, counts[part].astype(np.int64), int(nulls[i])),
                                int(texts[i])))
    return out
