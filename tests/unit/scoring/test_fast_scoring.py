"""The fast batch-scoring core gives what the slower path gave, value for value.

The pandas file path builds its inference-log batch straight in Arrow and names it with
:func:`~closedloop.scoring._columns.text_digest`; the compiled predictor encodes categories
without the pipeline; tiers are one ``take``. Each is compared here with the path it replaced:
the pipeline's ``predict_proba`` (nulls, unseen categories), ``InferenceLog.append`` (the log
batch, its id), ``digest`` of the sorted ids and ``np.select`` (tiers).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from closedloop.config import Workspace
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.contract.validation import DataContractError
from closedloop.model.baselines import PipelineModel
from closedloop.model.compiled import CompiledPredictor
from closedloop.model.train import build_pipeline
from closedloop.monitoring.store import InferenceLog, digest
from closedloop.scoring._columns import text_digest
from closedloop.scoring.batch import check_input, score, score_file
from closedloop.scoring.tiers import RiskTiers


@pytest.fixture(scope="module")
def pipe(telco):
    pipe = build_pipeline(TELCO_SCHEMA, {"n_estimators": 40})
    return pipe.fit(telco, TELCO_SCHEMA.target_as_int(telco))


def test_compiled_equals_pipeline_with_nulls_and_unseen_categories(telco, pipe):
    rows = telco.drop(columns="Churn").sample(500, random_state=2).reset_index(drop=True)
    rows.loc[::5, "OnlineSecurity"] = None                  # nullable category
    rows.loc[::7, "TotalCharges"] = np.nan                  # nullable number
    rows.loc[::11, "PaymentMethod"] = "Barter"              # never seen in training
    rows.loc[::13, "StreamingTV"] = "Yes please"            # unseen, beside a "Yes" count
    compiled = CompiledPredictor(pipe, 0.5, TELCO_SCHEMA).predict_proba(rows, check=False)
    expected = pipe.predict_proba(rows)[:, 1]
    assert np.array_equal(compiled, expected)               # bit for bit
    assert not np.array_equal(compiled, CompiledPredictor(pipe, 0.5, TELCO_SCHEMA)
                              .predict_proba(rows.assign(PaymentMethod="Mailed check"),
                                             check=False))  # the unseen values mattered


def test_numbers_as_text_are_refused_before_any_output(telco, pipe, tmp_path):
    rows = telco.drop(columns="Churn").head(50).assign(
        tenure=lambda d: d["tenure"].astype(str))         # "12", not 12
    with pytest.raises(DataContractError) as err:
        score(rows, PipelineModel(pipe, 0.5, TELCO_SCHEMA), model_version="1",
              scored_at="2026-02-01")
    assert "tenure" in err.value.columns


def test_file_log_batch_equals_inference_log_append(telco, champion, tmp_path):
    batch = telco.drop(columns="Churn").sample(700, random_state=4).reset_index(drop=True)
    batch.loc[::6, "MonthlyCharges"] = np.nan
    batch["event_time"] = pd.date_range("2026-01-01", periods=len(batch), freq="37s")
    source, output = tmp_path / "in.parquet", tmp_path / "out.parquet"
    batch.to_parquet(source, index=False)
    done = score_file(champion, source, output, scored_at="2026-02-01 08:00")
    (logged_file,) = InferenceLog(champion).batch_files()
    fast = pq.read_table(logged_file)
    out = pq.read_table(output).to_pandas()

    # The slower path: InferenceLog.append on the checked rows and the same predictions.
    other = Workspace(tmp_path / "other")
    typed = check_input(batch, allow_extra=["event_time"])
    expected = InferenceLog(other).append(
        typed, model_name=done.model_name, model_version=done.model_version,
        timestamp="event_time", scored=out)
    slow = pq.read_table(expected.path)
    assert fast.schema.equals(slow.schema, check_metadata=False)
    assert fast.drop(["logged_at"]).equals(slow.drop(["logged_at"]))
    assert logged_file.stem == expected.batch_id == fast.column("batch_id")[0].as_py()
    assert pq.read_schema(output).metadata[b"closedloop.log_batch"].decode() == \
        expected.batch_id


def test_text_digest_is_the_digest_of_the_sorted_ids():
    rng = np.random.default_rng(0)
    ids = [f"{v:032x}" for v in rng.integers(0, 2**62, 2000)] + ["Z", "a", "ä", "10", "9"]
    assert text_digest(ids) == digest(np.sort(np.array(ids, dtype=str)))
    assert text_digest([]) == digest([])
    assert text_digest(ids) != text_digest(ids[:-1])


def test_tiers_equal_the_select_they_replace():
    rng = np.random.default_rng(1)
    proba = np.concatenate([rng.random(5000), [0.4, 0.7, np.nan, 0.0, 1.0]])
    for tiers in (RiskTiers(), RiskTiers(high=0.5, medium=0.5), RiskTiers(0.9, 0.1)):
        select = np.select([proba >= tiers.high, proba >= tiers.medium], ["high", "medium"],
                           "low").astype(object)
        got = tiers.assign(proba)
        assert got.dtype == object and (got == select).all()


@pytest.fixture(scope="module")
def native(pipe, tmp_path_factory):
    pytest.importorskip("tl2cgen")
    pytest.importorskip("treelite")
    cache = tmp_path_factory.mktemp("native")
    return CompiledPredictor(pipe, 0.5, TELCO_SCHEMA).use_native(cache), cache


def test_native_trees_equal_the_booster_and_travel_by_pickle(telco, pipe, native):
    import pickle

    predictor, cache = native
    rows = telco.drop(columns="Churn").sample(3000, random_state=6).reset_index(drop=True)
    rows.loc[::9, "TotalCharges"] = np.nan
    rows.loc[::10, "Contract"] = "Ten year"                 # unseen category
    booster = CompiledPredictor(pipe, 0.5, TELCO_SCHEMA)
    X = booster.matrix(rows)
    expected = booster.predict_matrix(X, num_threads=2)
    assert np.array_equal(predictor.native.predict(X, num_threads=2), expected)
    assert np.array_equal(predictor.predict_proba(rows, check=False), pipe.predict_proba(
        rows)[:, 1])
    assert predictor.native is not None and predictor.native_refused is None
    assert list(cache.glob("*.so")) == [predictor.native.library]
    copy = pickle.loads(pickle.dumps(predictor.native))     # as Spark ships it
    assert np.array_equal(copy.predict(X, num_threads=1), expected)


def test_native_trees_step_aside_when_they_disagree(telco, pipe, native, monkeypatch):
    cache = native[1]
    again = CompiledPredictor(pipe, 0.5, TELCO_SCHEMA).use_native(cache)  # cached: no build
    rows = telco.drop(columns="Churn").head(400)
    real = again.native.predict
    monkeypatch.setattr(again.native, "predict", lambda X, num_threads=0: real(X) + 1e-9)
    proba = again.predict_proba(rows, check=False)
    assert np.array_equal(proba, pipe.predict_proba(rows)[:, 1])   # the booster's, not +1e-9
    assert again.native is None and "differ from the booster" in again.native_refused


def test_native_method_scores_a_batch_like_compiled(telco, pipe, native, monkeypatch):
    monkeypatch.setenv("CLOSEDLOOP_NATIVE_CACHE", str(native[1]))
    model = PipelineModel(pipe, 0.5, TELCO_SCHEMA)
    rows = telco.drop(columns="Churn").sample(1500, random_state=8)
    fast, slow = (score(rows, model, model_version="1", scored_at="2026-02-01", method=m)
                  for m in ("native", "compiled"))
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
