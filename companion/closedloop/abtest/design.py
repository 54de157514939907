"""Designing the test: how many customers per arm, and when one may stop early.

* :func:`sample_size_two_proportions`: the classic normal-approximation sample size for two
  proportions with the pooled variance under the null (Fleiss, without continuity correction):
  ``n = (z_{1-a/2} sqrt(2 pbar qbar) + z_{1-b} sqrt(p1 q1 + p2 q2))^2 / (p1 - p2)^2`` per arm.
  Detecting churn 26.5 % -> 24.5 % at alpha 0.05 (two-sided) and power 0.8 needs 7,455 per arm
  (7,454.3 rounded up); the unpooled variant gives 7,452 and statsmodels' arcsine
  (Cohen's h) version 7,453.
* :func:`group_sequential_design`: K scheduled looks with two-sided symmetric boundaries from a
  Lan-DeMets alpha-spending function, O'Brien-Fleming-type by default. As in gsDesign, rpact
  and ldbounds, each side spends ``alpha / 2`` with ``2 - 2 Phi(z_{1-alpha/4} / sqrt(t))``
  (five equal looks at alpha 0.05: 4.877, 3.357, 2.680, 2.290, 2.031). Boundaries are solved
  exactly, not simulated: the recursive numerical integration of Armitage, McPherson and Rowe
  (1969), propagating the density of the score statistic over the continuation region on a
  Simpson grid from one look to the next, and solving each boundary with Brent's method.
* :func:`msprt_boundary`: the peek-any-time alternative, the normal-mixture mixture sequential
  probability ratio test (Johari et al., 2017); its boundary holds alpha however often one
  looks, at the price of power, which :func:`operating_characteristics` measures.

See Also
--------
Chapter :doc:`Explain, check fairness, test in production </book/10_explain_fairness_abtest>`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.stats import norm

#: How the boundaries are computed (recorded on every design).
METHOD = ("recursive numerical integration (Armitage-McPherson-Rowe) on a Simpson grid of "
          "the score statistic")


def sample_size_two_proportions(p_control: float, p_treatment: float, *, alpha: float = 0.05,
                                power: float = 0.8, pooled: bool = True) -> int:
    """Customers per arm to detect ``p_control -> p_treatment`` with a two-sided z-test.

    Parameters
    ----------
    p_control, p_treatment : float
        The rates (e.g. churn) under the champion and the challenger.
    alpha : float
        Two-sided significance level.
    power : float
        Probability of rejecting when the rates are as given.
    pooled : bool
        Use the pooled variance under the null for the ``z_{1-alpha/2}`` term (the classic
        formula, default); False uses the unpooled variance for both terms.

    Returns
    -------
    int
        Customers per arm (equal allocation), rounded up.

    Examples
    --------
    >>> sample_size_two_proportions(0.265, 0.245)
    7455
    >>> sample_size_two_proportions(0.265, 0.245, pooled=False)
    7452
    """
    for name, p in (("p_control", p_control), ("p_treatment", p_treatment)):
        if not 0 < p < 1:
            raise ValueError(f"{name} must be in (0, 1) (got {p})")
    if p_control == p_treatment:
        raise ValueError("the rates are equal: no sample size detects a zero difference")
    z_a, z_b = norm.isf(alpha / 2), norm.ppf(power)
    spread = p_control * (1 - p_control) + p_treatment * (1 - p_treatment)
    if pooled:
        mean = (p_control + p_treatment) / 2
        numerator = z_a * math.sqrt(2 * mean * (1 - mean)) + z_b * math.sqrt(spread)
    else:
        numerator = (z_a + z_b) * math.sqrt(spread)
    return math.ceil(numerator ** 2 / (p_control - p_treatment) ** 2 - 1e-9)


def obrien_fleming_spending(t: Any, alpha: float = 0.05) -> np.ndarray:
    """Two-sided alpha spent by information fraction ``t`` (Lan-DeMets O'Brien-Fleming type).

    ``2 * (2 - 2 Phi(z_{1-alpha/4} / sqrt(t)))``: ``alpha / 2`` per side; almost nothing early,
    ``alpha`` at ``t = 1``.

    Examples
    --------
    >>> obrien_fleming_spending([0.2, 0.5, 1.0]).round(6).tolist()
    [1e-06, 0.003051, 0.05]
    """
    t = np.asarray(t, dtype=float)
    with np.errstate(divide="ignore"):
        return 4 * norm.sf(norm.isf(alpha / 4) / np.sqrt(t))


def pocock_spending(t: Any, alpha: float = 0.05) -> np.ndarray:
    """Two-sided alpha spent by ``t`` (Lan-DeMets Pocock type, ``alpha ln(1 + (e - 1) t)``)."""
    return alpha * np.log1p((math.e - 1) * np.asarray(t, dtype=float))


SPENDING: dict[str, Callable[..., np.ndarray]] = {
    "obrien_fleming": obrien_fleming_spending,
    "pocock": pocock_spending,
}


def _simpson(n: int) -> np.ndarray:
    w = np.ones(n)
    w[1:-1:2], w[2:-1:2] = 4, 2
    return w / 3


def _walk(t: np.ndarray, *, targets: np.ndarray | None = None,
          bounds: np.ndarray | None = None, drift: float = 0.0,
          n_grid: int = 801) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Armitage-McPherson-Rowe recursion over the looks.

    ``S_k = Z_k sqrt(t_k)`` has independent increments ``N(drift * dt, dt)``. Solves each
    boundary for its ``targets`` increment of two-sided crossing probability, or uses
    ``bounds``; returns the z boundaries and the upper and lower crossing probability per look.
    """
    n_grid += 1 - n_grid % 2  # Simpson needs an odd number of points
    looks = len(t)
    z = np.empty(looks)
    upper, lower = np.zeros(looks), np.zeros(looks)
    grid = weights = None
    previous = 0.0
    for k in range(looks):
        dt = t[k] - previous
        sd, mu = math.sqrt(dt), drift * dt
        root = math.sqrt(t[k])
        if grid is None:
            def up(b: float) -> float:
                return float(norm.sf((b - mu) / sd))

            def down(b: float) -> float:
                return float(norm.cdf((-b - mu) / sd))
        else:
            def up(b: float, g=grid, w=weights) -> float:
                return float(w @ norm.sf((b - g - mu) / sd))

            def down(b: float, g=grid, w=weights) -> float:
                return float(w @ norm.cdf((-b - g - mu) / sd))
        if bounds is not None:
            z[k] = bounds[k]
        elif targets[k] <= 1e-14:
            z[k] = np.inf
        else:
            z[k] = optimize.brentq(lambda c: up(c * root) + down(c * root) - targets[k],
                                   1e-6, 40.0, xtol=1e-10)
        b = z[k] * root
        if math.isfinite(b):
            upper[k], lower[k] = up(b), down(b)
        if k == looks - 1:
            break
        reach = abs(drift) * t[k] + 9 * root
        b = min(b, reach) if math.isfinite(b) else reach
        new = np.linspace(-b, b, n_grid)
        simpson = _simpson(n_grid) * (new[1] - new[0])
        if grid is None:
            density = norm.pdf((new - mu) / sd) / sd
        else:
            density = (norm.pdf((new[:, None] - grid[None, :] - mu) / sd) / sd) @ weights
        grid, weights, previous = new, density * simpson, t[k]
    return z, upper, lower


def _fractions(looks: int | None, fractions: Sequence[float] | None) -> np.ndarray:
    if fractions is None:
        if not looks or looks < 1:
            raise ValueError(f"looks must be a positive number of looks (got {looks})")
        return np.arange(1, looks + 1) / looks
    t = np.asarray(fractions, dtype=float)
    if t.ndim != 1 or not len(t) or np.any(np.diff(t) <= 0) or t[0] <= 0 or t[-1] > 1 + 1e-12:
        raise ValueError(f"fractions must increase strictly within (0, 1] (got {fractions})")
    return t


@dataclass(frozen=True)
class GroupSequentialDesign:
    """Scheduled looks with two-sided symmetric stopping boundaries on the z statistic.

    Stop at look ``k`` when ``|z_k| >= boundaries[k - 1]``. ``fractions`` are the information
    fractions of the looks (share of the final sample size), ``spent`` the cumulative two-sided
    alpha the spending function allows by each look.
    """

    alpha: float
    spending: str
    fractions: tuple[float, ...]
    boundaries: tuple[float, ...]
    spent: tuple[float, ...]
    method: str = METHOD

    @property
    def looks(self) -> int:
        return len(self.fractions)

    def boundary(self, look: int) -> float:
        """The z boundary at look ``look`` (1-based)."""
        if not 1 <= look <= self.looks:
            raise ValueError(f"look must be between 1 and {self.looks} (got {look})")
        return self.boundaries[look - 1]

    def at_fractions(self, fractions: Sequence[float]) -> GroupSequentialDesign:
        """The same spending function at the information fractions actually reached."""
        return group_sequential_design(alpha=self.alpha, spending=self.spending,
                                       fractions=fractions)

    def power(self, drift: float) -> float:
        """Probability of stopping for either arm when ``E[z]`` at the final look is ``drift``."""
        return crossing_probability(self.boundaries, self.fractions, drift=drift)

    def to_frame(self) -> pd.DataFrame:
        """One row per look: fraction, boundary, nominal two-sided p at the boundary, alpha spent
        by then."""
        z = np.asarray(self.boundaries)
        return pd.DataFrame({"look": np.arange(1, self.looks + 1), "fraction": self.fractions,
                             "z_boundary": z, "nominal_p": 2 * norm.sf(z),
                             "alpha_spent": self.spent})

    def to_dict(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "spending": self.spending, "method": self.method,
                "fractions": list(self.fractions), "boundaries": list(self.boundaries),
                "spent": list(self.spent)}

    def _repr_html_(self) -> str:
        caption = f"{self.spending} spending, alpha {self.alpha}, {self.looks} looks"
        return self.to_frame().style.set_caption(caption).format(precision=4).to_html()


def group_sequential_design(looks: int | None = 5, *, alpha: float = 0.05,
                            spending: str = "obrien_fleming",
                            fractions: Sequence[float] | None = None,
                            n_grid: int = 801) -> GroupSequentialDesign:
    """Boundaries for K looks from a Lan-DeMets alpha-spending function.

    Parameters
    ----------
    looks : int
        Number of equally spaced looks (ignored when ``fractions`` is given).
    alpha : float
        Two-sided false-positive rate over all the looks.
    spending : {"obrien_fleming", "pocock"}
        The spending function.
    fractions : sequence of float, optional
        Information fractions of the looks, increasing in (0, 1]; the last is usually 1.
        Looks that happen at other fractions than planned keep the error rate if the boundaries
        are recomputed at the fractions reached (:meth:`GroupSequentialDesign.at_fractions`).
    n_grid : int
        Points of the integration grid per look (801 gives boundaries to about 1e-4).

    Examples
    --------
    >>> design = group_sequential_design(5)
    >>> [round(b, 3) for b in design.boundaries]
    [4.877, 3.357, 2.68, 2.29, 2.031]
    >>> round(crossing_probability(design.boundaries, design.fractions), 4)
    0.05
    """
    if spending not in SPENDING:
        raise ValueError(f"unknown spending function {spending!r}; choose from {sorted(SPENDING)}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1) (got {alpha})")
    t = _fractions(looks, fractions)
    spent = SPENDING[spending](t, alpha)
    z, _, _ = _walk(t, targets=np.diff(spent, prepend=0.0), n_grid=n_grid)
    return GroupSequentialDesign(alpha, spending, tuple(t.tolist()), tuple(z.tolist()),
                                 tuple(spent.tolist()))


def crossing_probability(boundaries: Sequence[float], fractions: Sequence[float], *,
                         drift: float = 0.0, n_grid: int = 801) -> float:
    """Probability that ``|z|`` crosses the boundaries at some look (exact, by integration).

    ``drift`` is the expected z at information fraction 1 (0: no difference, the false-positive
    rate; ``z_{1-alpha/2} + z_{power}``: the effect a fixed-sample test is powered for).
    """
    t = _fractions(None, fractions)
    _, upper, lower = _walk(t, bounds=np.asarray(boundaries, dtype=float), drift=drift,
                            n_grid=n_grid)
    return float(upper.sum() + lower.sum())


def naive_false_positive_rate(looks: int = 10, alpha: float = 0.05) -> float:
    """False-positive rate of stopping at the first of ``looks`` equally spaced looks where the
    plain two-sided z-test is significant (about 0.19 at 10 looks, not 0.05).

    Examples
    --------
    >>> round(naive_false_positive_rate(10), 3)
    0.193
    """
    t = np.arange(1, looks + 1) / looks
    return crossing_probability(np.full(looks, norm.isf(alpha / 2)), t)


def msprt_boundary(information: Any, tau: float, alpha: float = 0.05) -> np.ndarray:
    """The ``|z|`` boundary of the two-sided normal-mixture mSPRT, valid at any number of looks.

    With ``V = 1 / information`` the variance of the estimated difference and a normal mixing
    distribution ``N(0, tau^2)`` over the difference, the mixture likelihood ratio
    ``sqrt(V / (V + tau^2)) exp(tau^2 z^2 / (2 (V + tau^2)))`` reaches ``1 / alpha`` when
    ``z^2 >= (1 + 1 / r) (2 ln(1 / alpha) + ln(1 + r))`` with ``r = tau^2 * information``.

    Parameters
    ----------
    information : float or array-like
        ``1 / Var(difference)`` at each look.
    tau : float
        Standard deviation of the mixing distribution, in units of the difference; about the
        effect one expects to detect.
    alpha : float
        Error rate held however often one looks.

    Examples
    --------
    >>> msprt_boundary([100.0, 10_000.0, 1e6], tau=0.02).round(2).tolist()
    [12.52, 3.08, 3.47]
    """
    r = tau ** 2 * np.asarray(information, dtype=float)
    return np.sqrt((1 + 1 / r) * (2 * math.log(1 / alpha) + np.log1p(r)))


def operating_characteristics(design: GroupSequentialDesign, *, drift: float = 0.0,
                              n_sims: int = 2000, seed: int = 0,
                              msprt_scale: float | None = None) -> pd.DataFrame:
    """Rejection rate and average stopping time of four rules, by simulating the z statistics.

    The z statistics at the design's looks are simulated directly, vectorised (a Brownian
    motion with ``drift``), ``n_sims`` paths from ``numpy.random.default_rng(seed)``. With
    ``drift=0`` (an A/A test) the rejection rate is the false-positive rate; with a drift it
    is the power.

    Parameters
    ----------
    design : GroupSequentialDesign
        The looks and the group-sequential boundaries.
    drift : float
        Expected z at information fraction 1.
    n_sims : int
        Number of simulated experiments.
    seed : int
        Seed of the generator.
    msprt_scale : float, optional
        ``tau^2 * information`` at fraction 1 for the mSPRT; default
        ``(z_{1-alpha/2} + z_{0.8})^2``, i.e. ``tau`` equal to the effect a fixed test of the
        final size detects with power 0.8.

    Returns
    -------
    pandas.DataFrame
        One row per rule (``group sequential``, ``naive z at every look``, ``fixed sample``,
        ``mSPRT``): ``rejection_rate``, its Monte Carlo ``se`` and ``mean_fraction``, the
        average information used (1 when the rule never stops).

    Examples
    --------
    >>> oc = operating_characteristics(group_sequential_design(10), n_sims=2000)
    >>> oc["rejection_rate"].round(2).tolist()  # A/A: the naive rule is wrong 1 time in 5
    [0.05, 0.2, 0.05, 0.01]
    """
    t = np.asarray(design.fractions)
    rng = np.random.default_rng(seed)
    steps = rng.standard_normal((n_sims, design.looks)) * np.sqrt(np.diff(t, prepend=0.0))
    z = (np.cumsum(steps, axis=1) + drift * t) / np.sqrt(t)
    if msprt_scale is None:
        msprt_scale = (norm.isf(design.alpha / 2) + norm.ppf(0.8)) ** 2
    naive = norm.isf(design.alpha / 2)
    rules = {
        "group sequential": np.asarray(design.boundaries),
        "naive z at every look": np.full(design.looks, naive),
        "fixed sample": np.r_[np.full(design.looks - 1, np.inf), naive],
        "mSPRT": msprt_boundary(msprt_scale * t, tau=1.0, alpha=design.alpha),
    }
    rows = []
    for rule, bounds in rules.items():
        crossed = np.abs(z) >= bounds
        stopped = crossed.any(axis=1)
        first = np.where(stopped, crossed.argmax(axis=1), design.looks - 1)
        rate = float(stopped.mean())
        rows.append({"rule": rule, "rejection_rate": rate,
                     "se": math.sqrt(rate * (1 - rate) / n_sims),
                     "mean_fraction": float(np.where(stopped, t[first], 1.0).mean())})
    return pd.DataFrame(rows)
