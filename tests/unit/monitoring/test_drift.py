"""Drift statistics: zero on identical samples, equal to scipy, and each simulator scenario detected
on the columns it shifts and not (beyond the false-alarm rate) on the others."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.monitoring import drift_stats as st
from closedloop.monitoring.drift import (
    BASELINE,
    CONSECUTIVE,
    DRIFT_COLUMNS,
    DriftConfig,
    column_drift,
    drift_columns,
    drift_metrics,
    drift_summary,
    psi_band,
    value_test,
)
from closedloop.monitoring.drift_stats import reduce_column
from closedloop.simulate.scenarios import SCENARIOS
from closedloop.simulate.stream import StreamSimulator

TOL = 1e-9


def _numeric_pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    return [
        (rng.normal(size=40), rng.normal(0.3, 1.0, size=55)),           # tiny: exact p-value
        (rng.normal(size=300), rng.normal(0.1, 1.2, size=700)),
        (rng.exponential(size=2_000), rng.exponential(1.1, size=9_000)),
        (rng.integers(0, 30, 800).astype(float), rng.integers(0, 33, 1_500).astype(float)),
        (rng.normal(size=12_000), rng.normal(0.02, 1.0, size=11_000)),  # asymptotic p-value
        (np.round(rng.normal(50, 20, 5_000), 2), np.round(rng.normal(52, 20, 5_000), 2)),
    ]


@pytest.mark.parametrize("pair", range(6))
@pytest.mark.parametrize("method", ["auto", "scipy", "exact", "asymp"])
def test_ks_and_wasserstein_equal_scipy(pair: int, method: str):
    a, b = _numeric_pairs()[pair]
    row = column_drift(pd.Series(a), pd.Series(b), config=DriftConfig(ks_method=method))
    scipy_method = {"auto": "exact" if a.size * b.size <= st.EXACT_KS_MAX_PRODUCT else "asymp",
                    "scipy": "auto"}.get(method, method)
    expected = stats.ks_2samp(a, b, method=scipy_method)
    assert abs(row["ks_statistic"] - expected.statistic) < TOL
    assert abs(row["ks_pvalue"] - expected.pvalue) < TOL
    assert abs(row["wasserstein_distance"] - stats.wasserstein_distance(a, b)) < TOL
    assert abs(row["wasserstein_distance_normalized"]
               - stats.wasserstein_distance(a, b) / np.std(a)) < TOL


@pytest.mark.parametrize("pair", range(6))
def test_psi_and_js_on_baseline_quantile_bins(pair: int):
    a, b = _numeric_pairs()[pair]
    row = column_drift(pd.Series(a), pd.Series(b))
    edges = np.quantile(a, np.arange(1, 10) / 10, method="lower")
    edges = np.unique(edges[edges < a.max()])
    bins = np.concatenate([[-np.inf], edges, [np.inf]])
    # right-closed bins (e.i-1, e.i]: negate to reuse numpy's left-closed histogram
    expected = np.histogram(-a, -bins[::-1])[0][::-1].astype(float)
    actual = np.histogram(-b, -bins[::-1])[0][::-1].astype(float)
    assert expected.sum() == a.size and actual.sum() == b.size
    assert abs(row["jensen_shannon_distance"] - jensenshannon(expected, actual, base=2)) < TOL
    e, q = expected / a.size, actual / b.size
    e, q = np.where(e > 0, e, 1e-4), np.where(q > 0, q, 1e-4)
    assert abs(row["population_stability_index"] - np.sum((q - e) * np.log(q / e))) < TOL


@pytest.mark.parametrize("k", [2, 3, 5])
def test_chi_square_tv_linf_equal_scipy(k: int):
    rng = np.random.default_rng(k)
    labels = np.array(list("abcdef"[:k]))
    a = rng.choice(labels, 400)
    b = rng.choice(labels[:-1], 900) if k > 2 else rng.choice(labels, 900, p=[0.3, 0.7])
    row = column_drift(pd.Series(a), pd.Series(b), "categorical")
    ca = pd.Series(a).value_counts().reindex(labels, fill_value=0).to_numpy(float)
    cb = pd.Series(b).value_counts().reindex(labels, fill_value=0).to_numpy(float)
    keep = (ca + cb) > 0
    expected = stats.chi2_contingency(np.array([ca[keep], cb[keep]]), correction=False)
    assert abs(row["chi_squared_statistic"] - expected.statistic) < TOL
    assert abs(row["chi_squared_pvalue"] - expected.pvalue) < TOL
    pa, pb = ca / ca.sum(), cb / cb.sum()
    assert abs(row["tv_distance"] - np.abs(pa - pb).sum() / 2) < TOL
    assert abs(row["l_infinity_distance"] - np.abs(pa - pb).max()) < TOL
    assert abs(row["jensen_shannon_distance"] - jensenshannon(ca, cb, base=2)) < TOL


def test_identical_samples_show_no_drift():
    rng = np.random.default_rng(0)
    for values, kind in ((pd.Series(rng.normal(size=2_000)), "numeric"),
                         (pd.Series(rng.integers(0, 2, 2_000)), "numeric"),
                         (pd.Series(rng.choice(["x", "y", "z"], 2_000)), "categorical")):
        row = column_drift(values, values.sample(frac=1.0, random_state=1), kind)
        assert row["population_stability_index"] == 0.0
        assert row["jensen_shannon_distance"] == 0.0
        assert row["null_chi_squared_pvalue"] == 1.0
        # the 0/1 column is discrete: compared with chi-square like a categorical one
        if row["value_test"] == "ks":
            assert row["ks_statistic"] == 0.0 and row["ks_pvalue"] == pytest.approx(1.0)
            assert row["wasserstein_distance"] == 0.0
        else:
            assert row["tv_distance"] == 0.0 and row["l_infinity_distance"] == 0.0
            assert row["chi_squared_statistic"] == 0.0 and row["chi_squared_pvalue"] == 1.0


def test_psi_epsilon_keeps_an_empty_bin_finite_and_bands():
    base = pd.Series(np.arange(1_000, dtype=float))
    shifted = pd.Series(np.arange(1_000, dtype=float) + 2_000)  # everything in the top bin
    psi = column_drift(base, shifted)["population_stability_index"]
    # Nine bins of 0.1 against epsilon, one of 0.1 against 1.0.
    expected = 9 * (1e-4 - 0.1) * np.log(1e-4 / 0.1) + (1.0 - 0.1) * np.log(1.0 / 0.1)
    assert psi == pytest.approx(expected, abs=TOL)
    assert [psi_band(x) for x in (0.0999, 0.1, 0.2499, 0.25, np.nan)] == [
        "stable", "moderate", "moderate", "significant", "n/a"]


def test_a_binary_flag_gets_two_bins():
    (flag,) = reduce_column(pd.Series([0, 0, 0, 1] * 50), "numeric")
    assert st.quantile_edges(flag.reduced, 10).tolist() == [0.0]


def test_nulls_are_their_own_signal():
    rng = np.random.default_rng(3)
    values = pd.Series(rng.choice(["a", "b", "c"], 4_000))
    holed = values.copy()
    holed[rng.random(4_000) < 0.3] = None
    row = column_drift(values, holed, "categorical")
    assert row["null_rate"] == pytest.approx(holed.isna().mean())
    assert row["null_rate_cmp"] == 0.0 and row["percent_null_delta"] > 25
    assert row["null_chi_squared_pvalue"] < 1e-12
    assert row["chi_squared_pvalue"] > 0.01      # the values that did arrive have not moved
    assert row["count"] == 4_000                 # counts include the nulls


def test_numbers_as_text_are_a_type_problem_not_a_crash():
    base = pd.DataFrame({"timestamp": pd.Timestamp("2026-01-01"), "tenure": np.arange(200)})
    text = base.assign(timestamp=pd.Timestamp("2026-01-02"),
                       tenure=base["tenure"].astype(str).where(base["tenure"] != 5, "five"))
    table = drift_metrics(pd.concat([base, text], ignore_index=True), base)
    day2 = table[(table["window_start"] == "2026-01-02") & (table["drift_type"] == BASELINE)]
    row = day2.iloc[0]
    assert row["type_mismatch"] and row["drift_detected"] and "type" in row["drift_reason"]
    assert row["null_rate"] == pytest.approx(1 / 200)   # "five" could not be parsed
    assert row["ks_statistic"] < 0.01                    # the parsed values are the same
    day1 = table[(table["window_start"] == "2026-01-01") & (table["drift_type"] == BASELINE)]
    assert not day1.iloc[0]["type_mismatch"] and not day1.iloc[0]["drift_detected"]


def test_table_layout_windows_and_consecutive_pairs():
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({
        "timestamp": pd.Timestamp("2026-01-05") + pd.to_timedelta(rng.uniform(0, 21, 600), "D"),
        "MonthlyCharges": rng.normal(60, 20, 600), "Contract": rng.choice(["a", "b"], 600),
        "prediction_proba": rng.uniform(size=600), "model_version": "3"})
    table = drift_metrics(frame, frame, granularity="1w")
    assert list(table.columns) == list(DRIFT_COLUMNS)
    assert sorted(table["column_name"].unique()) == ["Contract", "MonthlyCharges",
                                                     "prediction_proba"]
    assert (table["granularity"] == "1w").all() and (table["model_id"] == "3").all()
    consecutive = table[table["drift_type"] == CONSECUTIVE]
    assert sorted(consecutive["window_start"].unique()) == list(
        pd.to_datetime(["2026-01-12", "2026-01-19"]))
    assert (consecutive["window_cmp_end"] == consecutive["window_start"]).all()
    assert table[table["drift_type"] == BASELINE]["window_cmp_start"].isna().all()
    summary = drift_summary(table)
    assert summary.shape == (3, 3) and list(summary.columns) == ["Contract", "MonthlyCharges",
                                                                 "prediction_proba"]
    only = drift_metrics(frame, None, granularity="1w")
    assert set(only["drift_type"]) == {CONSECUTIVE}


def test_a_window_without_any_value_gives_nan_statistics_not_an_error():
    frame = pd.DataFrame({"timestamp": pd.to_datetime(["2026-01-05", "2026-01-06"] * 50),
                          "ground_truth": pd.array([None] * 100, dtype="Int64"),
                          "prediction_proba": np.nan})
    baseline = pd.DataFrame({"ground_truth": [0, 1] * 50, "prediction_proba": 0.5})
    table = drift_metrics(frame, baseline, granularity="1d")
    assert table["null_rate"].eq(1.0).all() and table["population_stability_index"].isna().all()
    proba = table[table["column_name"] == "prediction_proba"].set_index("drift_type")
    assert proba.loc[BASELINE, "drift_detected"].all()
    assert (proba.loc[BASELINE, "drift_reason"] == "nulls").all()
    assert not proba.loc[CONSECUTIVE, "drift_detected"]   # as null as the day before
    truth = table[table["column_name"] == "ground_truth"]
    assert not truth["drift_detected"].any()   # labels are null until they arrive


def test_kinds_follow_the_schema():
    kinds = drift_columns(pd.DataFrame(columns=[*TELCO_SCHEMA.names, "prediction_proba",
                                                "ground_truth"]))
    assert kinds["SeniorCitizen"] == "numeric" and kinds["tenure"] == "numeric"
    assert kinds["Contract"] == "categorical" and kinds["ground_truth"] == "categorical"
    assert "customerID" not in kinds and "Churn" not in kinds


# --- scenarios: detected where they act, quiet elsewhere

ROWS_PER_DAY = 1_000
FIRST_DAY = 181   # 2026-07-01: three whole months, long after every ramp
FALSE_ALARM_SHARE = 0.05


@pytest.fixture(scope="module")
def simulator(telco) -> StreamSimulator:
    return StreamSimulator(telco, seed=0, population=20_000)


@pytest.fixture(scope="module")
def associated_with_tenure(telco) -> set[str]:
    """Columns whose distribution among customers with tenure <= 12 differs from everyone's:
    a mix shift towards that segment moves them too, legitimately. The threshold is low on
    purpose: a 0/1 flag is tested with chi-square, which at 30,000 rows a month sees even the
    senior share moving from 0.162 to about 0.154 (PSI 0.002 between segment and everyone)."""
    segment = telco[telco["tenure"] <= 12]
    return {name for name, kind in drift_columns(telco).items()
            if column_drift(telco[name], segment[name], kind)["population_stability_index"]
            >= 0.001}


def _labelled(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(ground_truth=TELCO_SCHEMA.target_as_int(frame))


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_scenario_is_detected_where_it_acts_and_only_there(name, simulator,
                                                                 associated_with_tenure):
    scenario = SCENARIOS[name]
    baseline = _labelled(simulator.stream(30, ROWS_PER_DAY, name))     # before start_day
    current = _labelled(simulator.stream(91, ROWS_PER_DAY, name, first_day=FIRST_DAY))
    table = drift_metrics(current, baseline, granularity="1mo", timestamp="event_time",
                          consecutive=False)
    detected = table.groupby("column_name")["drift_detected"].mean()
    assert len(table) == 3 * len(detected)
    shifted = {"ground_truth" if c == TELCO_SCHEMA.target else c
               for c in scenario.columns(TELCO_SCHEMA)}
    for column in shifted:
        assert detected[column] == 1.0, f"{name}: {column} not detected in every month"
    quiet = set(TELCO_SCHEMA.feature_names) - shifted
    if scenario.effect == "mix":
        quiet -= associated_with_tenure
    if scenario.kind in ("none", "data_quality"):  # labels come from the clean features
        quiet.add("ground_truth")
    assert len(quiet) >= 3
    false_alarms = detected[sorted(quiet)]
    assert false_alarms.mean() <= FALSE_ALARM_SHARE, false_alarms[false_alarms > 0]
    if scenario.kind == "concept":  # labels moved, the features did not
        assert detected[TELCO_SCHEMA.feature_names].sum() == 0


def test_heat_map_marks_exactly_the_decisions():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from closedloop.monitoring.plots import plot_drift_heatmap

    rng = np.random.default_rng(11)
    frame = pd.DataFrame({
        "timestamp": pd.Timestamp("2026-01-05") + pd.to_timedelta(rng.uniform(0, 28, 2_800), "D"),
        "MonthlyCharges": rng.normal(60, 20, 2_800), "Contract": rng.choice(["a", "b"], 2_800)})
    late = frame["timestamp"] >= pd.Timestamp("2026-01-19")
    frame.loc[late, "MonthlyCharges"] *= 1.3
    frame.loc[late & (rng.random(2_800) < 0.3), "Contract"] = None
    table = drift_metrics(frame, frame[~late], granularity="1w", consecutive=False)
    fig = plot_drift_heatmap(table)
    values, nulls, types = (len(c.get_offsets()) for c in fig.axes[0].collections)
    assert values == table["drift_reason"].str.contains("values").sum() == 2
    assert nulls == table["drift_reason"].str.contains("nulls").sum() == 2
    assert types == 0
    plt.close(fig)


# --- discrete numeric columns (0/1 flags, small counts) are compared as categories


def _senior(n: int, share: float, seed: int) -> pd.Series:
    return pd.Series((np.random.default_rng(seed).random(n) < share).astype(int))


def test_a_flag_share_shift_is_found_by_chi_square_where_ks_misses_it():
    baseline, current = _senior(4_000, 0.162, 0), _senior(4_000, 0.21, 1)
    row = column_drift(baseline, current, "numeric")
    assert row["value_test"] == "chi_squared"
    assert row["chi_squared_pvalue"] < 1e-5
    assert np.isnan(row["ks_pvalue"]) and np.isnan(row["wasserstein_distance"])
    assert row["avg_delta"] == pytest.approx(current.mean() - baseline.mean())
    assert row["tv_distance"] == pytest.approx(abs(current.mean() - baseline.mean()))
    table = pd.crosstab(np.r_[np.zeros(4_000), np.ones(4_000)], np.r_[baseline, current])
    expected = stats.chi2_contingency(table.to_numpy(), correction=False)
    assert row["chi_squared_pvalue"] == pytest.approx(expected.pvalue, rel=1e-9)
    # KS (the test used before) is orders of magnitude weaker on the same shift
    assert stats.ks_2samp(baseline, current).pvalue > 1e-5
    old = column_drift(baseline, current, "numeric", DriftConfig(max_discrete_values=0))
    assert old["value_test"] == "ks" and np.isnan(old["chi_squared_pvalue"])


def test_flag_drift_in_the_drift_table_and_no_alarm_on_the_same_distribution():
    n = 3_000
    start = pd.Timestamp("2026-03-02")
    current = pd.DataFrame({
        "timestamp": np.repeat([start, start + pd.Timedelta(days=1)], n),
        "SeniorCitizen": pd.concat([_senior(n, 0.162, 1), _senior(n, 0.21, 2)],
                                   ignore_index=True),
        "tenure": np.random.default_rng(3).integers(0, 73, 2 * n)})
    baseline = pd.DataFrame({"SeniorCitizen": _senior(n, 0.162, 0),
                             "tenure": np.random.default_rng(4).integers(0, 73, n)})
    table = drift_metrics(current, baseline, columns=["SeniorCitizen", "tenure"])
    base = table[table["drift_type"] == BASELINE].set_index(["column_name", "window_start"])
    senior = base.loc["SeniorCitizen"]
    assert (senior["column_kind"] == "numeric").all()
    assert (senior["value_test"] == "chi_squared").all()
    assert senior["drift_detected"].tolist() == [False, True]   # same share, then 0.21
    assert senior["drift_reason"].tolist() == ["", "values"]
    tenure = table[table["column_name"] == "tenure"]   # 73 integer values: continuous enough
    assert (tenure["value_test"] == "ks").all() and tenure["ks_pvalue"].notna().all()
    assert not tenure["drift_detected"].any()
    # without a baseline the windows pooled decide, and the test is the same in every row
    alone = drift_metrics(current, columns=["SeniorCitizen", "tenure"])
    assert alone.groupby("column_name")["value_test"].agg(set).to_dict() == {
        "SeniorCitizen": {"chi_squared"}, "tenure": {"ks"}}


def test_value_test_needs_integers_and_few_values():
    def sample(values):
        return reduce_column(pd.Series(values, dtype=float), "numeric")

    assert value_test("numeric", sample([0, 1, 2, 5, None])) == "chi_squared"
    assert value_test("numeric", sample([0.5, 1.0])) == "ks"           # not integers
    assert value_test("numeric", sample(range(11))) == "ks"            # 11 > 10 values
    assert value_test("numeric", sample(range(11)), DriftConfig(max_discrete_values=11)) == (
        "chi_squared")
    assert value_test("numeric", sample([None, None])) == "ks"         # nothing to judge
    assert value_test("categorical", sample([0.5])) == "chi_squared"


def test_large_samples_are_compared_block_by_block_with_the_same_results(monkeypatch):
    """Past BLOCK support points the ECDF gaps, moments and bins are computed in blocks (to
    bound memory on millions of distinct values): the same numbers as in one pass, and
    scipy's."""
    from scipy import stats as sps

    from closedloop.monitoring import drift_stats as st

    rng = np.random.default_rng(3)
    a = st.Reduced.of(rng.normal(size=300).round(2))
    b = st.Reduced.of(rng.normal(0.2, 1.1, size=2_000).round(3))
    edges = st.quantile_edges(a, 10)
    whole = (st.ks_and_wasserstein(a, b), st.mean_std(b), st.bin_counts(b, edges))
    monkeypatch.setattr(st, "BLOCK", 37)
    blocked = (st.ks_and_wasserstein(a, b), st.mean_std(b), st.bin_counts(b, edges))
    assert blocked[0] == pytest.approx(whole[0], rel=1e-12)
    assert blocked[1] == pytest.approx(whole[1], rel=1e-12)
    np.testing.assert_array_equal(blocked[2], whole[2])
    raw_a, raw_b = np.repeat(a.values, a.counts), np.repeat(b.values, b.counts)
    assert blocked[0][0] == pytest.approx(sps.ks_2samp(raw_a, raw_b).statistic, abs=1e-12)
    assert blocked[0][2] == pytest.approx(sps.wasserstein_distance(raw_a, raw_b), rel=1e-9)
    assert blocked[1][0] == pytest.approx(raw_b.mean(), rel=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_ks_and_wasserstein_equal_scipy_whichever_sample_is_larger(seed):
    """The ECDFs are merged from the larger sample's side: scipy's numbers whichever side is
    larger, with shared values, values beyond the other sample's range, and blocks."""
    from scipy import stats as sps

    from closedloop.monitoring import drift_stats as st

    rng = np.random.default_rng(seed)
    small = rng.normal(seed % 3, 1, size=rng.integers(1, 60)).round(1)
    large = rng.normal(0, 2, size=rng.integers(200, 2_000)).round(2)
    for a, b in ((small, large), (large, small), (small, small)):
        ra, rb = st.Reduced.of(a), st.Reduced.of(b)
        for block in (st.BLOCK, 7):
            st.BLOCK, saved = block, st.BLOCK
            try:
                d, _, w = st.ks_and_wasserstein(ra, rb)
            finally:
                st.BLOCK = saved
            assert d == pytest.approx(sps.ks_2samp(a, b).statistic, abs=1e-12)
            assert w == pytest.approx(sps.wasserstein_distance(a, b), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("n", [141, 1_000, 6_470, 40_172, 100_000, 100_001, 300_000])
def test_kolmogorov_sf_equals_scipy_kstwo_in_every_branch(n: int):
    # The grid crosses scipy's branch boundaries: Ruben-Gambino, Durbin's matrix (n d^1.5 <=
    # 1.4), Pelz-Good, the Smirnov series (n d^2 >= 2.2) and the zero tail (n d^2 >= 370).
    boundaries = np.sqrt(np.array([2.2, 18.0, 369.9, 370.0]) / n)
    grid = np.concatenate([np.geomspace(0.4 / n, 0.499, 80), boundaries, (1.4 / n) ** (2 / 3)
                           * np.array([0.99, 1.0, 1.01]), [0.5, 0.7, 1.0]])
    ours = np.array([st.kolmogorov_sf(n, d) for d in grid])
    theirs = np.clip(stats.kstwo.sf(grid, n), 0, 1)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-11)
    assert (ours[grid <= 0.5 / n] == 1.0).all() and ours[-1] == 0.0
