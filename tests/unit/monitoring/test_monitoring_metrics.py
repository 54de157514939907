"""Windowed metrics equal scikit-learn and numpy on the same rows; degenerate windows say why."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from closedloop.monitoring import InferenceLog, assign_windows
from closedloop.monitoring.columns import category_frequencies, column_profile
from closedloop.monitoring.metrics import (
    METRIC_NAMES,
    classification_metrics,
    label_coverage,
    profile,
)

TOL = 1e-9


def make_log(seed: int = 0, days: int = 6, rows: int = 120) -> pd.DataFrame:
    """A log-shaped frame with ties, nulls and three degenerate days."""
    rng = np.random.default_rng(seed)
    n = days * rows
    ts = pd.Timestamp("2026-01-05") + pd.to_timedelta(rng.integers(0, days * 86_400, n), "s")
    proba = rng.choice(np.round(np.linspace(0.01, 0.99, 40), 2), n)   # many ties
    truth = (rng.random(n) < proba).astype(float)
    truth[rng.random(n) < 0.3] = np.nan                               # labels not arrived
    frame = pd.DataFrame({
        "timestamp": ts, "model_version": rng.choice(["1", "2"], n),
        "Contract": rng.choice(["Month-to-month", "One year", None], n),
        "tenure": rng.integers(0, 72, n).astype(float),
        "prediction_proba": proba, "prediction": (proba >= 0.5).astype(int),
        "ground_truth": pd.array(truth, dtype="Float64").astype("Int64")})
    day = frame["timestamp"].dt.day
    frame.loc[day == 6, "ground_truth"] = pd.NA                        # no labels at all
    frame.loc[day == 7, "ground_truth"] = 1                            # positives only
    frame.loc[day == 8, "prediction"] = 0                              # nothing flagged
    frame.loc[frame.index[:7], "tenure"] = np.nan
    return frame


def sklearn_metrics(rows: pd.DataFrame) -> dict[str, float]:
    labelled = rows[rows["ground_truth"].notna()]
    y = labelled["ground_truth"].astype(int).to_numpy()
    pred, proba = labelled["prediction"].to_numpy(), labelled["prediction_proba"].to_numpy()
    if len(y) == 0:
        return dict.fromkeys(METRIC_NAMES, np.nan)
    out = {"accuracy": skm.accuracy_score(y, pred),
           "log_loss": skm.log_loss(y, proba, labels=[0, 1]),
           "brier": skm.brier_score_loss(y, proba, pos_label=1) if len(set(y)) > 1
           else float(np.mean((proba - y) ** 2))}
    for average in ("binary", "macro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(
            y, pred, average=average, labels=[0, 1], zero_division=0)
        out |= {f"precision_{average}": p, f"recall_{average}": r, f"f1_{average}": f}
    both = len(set(y)) == 2
    out["roc_auc"] = skm.roc_auc_score(y, proba) if both else np.nan
    out["pr_auc"] = skm.average_precision_score(y, proba) if both else np.nan
    return out


@pytest.mark.parametrize("slices", [(), ("Contract",)])
def test_every_metric_equals_scikit_learn(slices):
    frame = make_log()
    table = profile(frame, "1d", slices=slices)
    keys = ["model_version", *slices]
    windows = assign_windows(frame["timestamp"], "1d")
    groups = frame.groupby([windows, *[frame[k] for k in keys]], dropna=False)
    assert len(table) == groups.ngroups
    for row in table.itertuples(index=False):
        mask = (windows == row.window_start).to_numpy()
        for key in keys:
            value = getattr(row, key)
            mask &= (frame[key].isna() if value is None or value != value
                     else frame[key] == value).to_numpy()
        rows = frame[mask]
        assert row.row_count == len(rows)
        assert row.labelled_count == rows["ground_truth"].notna().sum()
        assert row.positive_prediction_rate == pytest.approx(rows["prediction"].mean(), abs=TOL)
        expected = sklearn_metrics(rows)
        for name in METRIC_NAMES:
            got = getattr(row, name)
            if np.isnan(expected[name]):
                assert np.isnan(got), (name, row)
            else:
                assert got == pytest.approx(expected[name], abs=TOL), (name, row)
        if row.labelled_count:
            cm = skm.confusion_matrix(rows["ground_truth"].dropna().astype(int),
                                      rows.loc[rows["ground_truth"].notna(), "prediction"],
                                      labels=[0, 1]).ravel()
            assert [row.tn, row.fp, row.fn, row.tp] == cm.tolist()


def test_degenerate_windows_give_nan_auc_with_a_reason():
    table = profile(make_log(), "1d", by=())
    table = table.set_index(table["window_start"].dt.day)
    assert table.loc[6, "auc_reason"] == "no labelled rows"
    assert table.loc[6, "label_coverage"] == 0 and np.isnan(table.loc[6, "accuracy"])
    assert table.loc[7, "auc_reason"] == "no negative labels"
    assert np.isnan(table.loc[7, "roc_auc"]) and np.isnan(table.loc[7, "pr_auc"])
    assert table.loc[8, "precision_binary"] == 0 and table.loc[8, "positive_prediction_rate"] == 0
    assert (table.loc[[5, 8, 9, 10], "auc_reason"] == "").all()
    one_class = classification_metrics([1, 1], [1, 0], [0.9, 0.2])
    assert np.isnan(one_class["roc_auc"]) and one_class["auc_reason"] == "no negative labels"


@pytest.mark.parametrize("grain", ["6h", "1w", "1mo"])
def test_granularities_and_the_labels_as_of_view(grain):
    frame = make_log()
    table = profile(frame, grain, by=())
    assert table["row_count"].sum() == len(frame)
    assert (table["window_end"] > table["window_start"]).all()
    arrived = frame.assign(label_arrived_at=frame["timestamp"] + pd.Timedelta(days=3))
    early = profile(arrived, grain, by=(), labels_as_of="2026-01-08")
    assert early["labelled_count"].sum() == (
        arrived["ground_truth"].notna() & (arrived["label_arrived_at"] <= "2026-01-08")).sum()


def test_column_profile_equals_numpy():
    frame = make_log()
    table = column_profile(frame, "1w", columns=["tenure", "prediction_proba", "Contract"],
                           by=("model_version",))
    week = assign_windows(frame["timestamp"], "1w")
    for row in table.itertuples(index=False):
        rows = frame[(week == row.window_start) & (frame["model_version"] == row.model_version)]
        values = rows[row.column]
        assert row.row_count == len(rows)
        assert row.null_rate == pytest.approx(values.isna().mean(), abs=TOL)
        assert row.distinct == values.nunique()
        if row.column == "Contract":
            assert np.isnan(row.mean)
            continue
        present = values.dropna().to_numpy(float)
        assert row.mean == pytest.approx(present.mean(), abs=TOL)
        assert row.std == pytest.approx(present.std(ddof=1), abs=TOL)
        for name, q in {"p05": 5, "p25": 25, "p50": 50, "p75": 75, "p95": 95}.items():
            assert getattr(row, name) == pytest.approx(np.percentile(present, q), abs=TOL)


def test_category_frequencies_sum_to_one_and_count_nulls():
    frame = make_log()
    table = category_frequencies(frame, "1d", columns=["Contract", "prediction"], by=())
    sums = table.groupby(["window_start", "column"])["frequency"].sum()
    assert np.allclose(sums, 1.0)
    first = table[(table["window_start"] == table["window_start"].min())
                  & (table["column"] == "Contract")]
    rows = frame[assign_windows(frame["timestamp"], "1d") == table["window_start"].min()]
    expected = rows["Contract"].value_counts(dropna=False)
    assert dict(zip(first["value"], first["count"])) == {
        (None if k != k or k is None else k): v for k, v in expected.items()}


def test_label_coverage_timeline(telco, workspace):
    frame = make_log().assign(
        label_arrived_at=lambda f: (f["timestamp"] + pd.Timedelta(days=2)).where(
            f["ground_truth"].notna()))
    coverage = label_coverage(frame, ["2026-01-07", "2026-01-20"])
    late = coverage[coverage["as_of"] == pd.Timestamp("2026-01-20")]
    expected = frame.groupby(assign_windows(frame["timestamp"]))["ground_truth"].apply(
        lambda g: g.notna().mean())
    assert np.allclose(late["label_coverage"], expected.to_numpy())
    early = coverage[coverage["as_of"] == pd.Timestamp("2026-01-07")]
    assert early["window_start"].max() < pd.Timestamp("2026-01-07")
    assert early["label_coverage"].iloc[-1] == 0   # labels two days late: nothing yet
    assert label_coverage(InferenceLog(workspace), ["2026-01-01"]).empty
