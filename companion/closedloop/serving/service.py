"""The model behind the service: load a version, smoke-test it, score requests, hot-swap.

:class:`ModelService` resolves the alias it serves (``@champion`` by default) to a version number
once and pins it: every answer names the version that computed it. :meth:`ModelService.poll`
(the service calls it every few seconds) and :meth:`ModelService.reload` (``POST /reload``)
look the alias up again; when it points elsewhere, the new version is loaded, compiled, warmed
and smoke-tested on the thread that asked, while requests keep being answered by the old one,
and only then does one reference assignment make it current. A request holds the
:class:`LoadedModel` it started with, so it finishes on the version it began on. A version that
fails its smoke test is never swapped in: the failure is logged and reported by
:meth:`ModelService.status` (``GET /health``), and the poller does not retry that version.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from closedloop.config import Workspace
from closedloop.model.compiled import CompiledPredictor
from closedloop.model.registry import DEFAULT_MODEL_NAME, load_model
from closedloop.scoring import RiskTiers

logger = logging.getLogger("closedloop.serving")


class SmokeTestError(RuntimeError):
    """A loaded version did not pass its smoke test: it is not served."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class LoadedModel:
    """One loaded, smoke-tested version: its compiled predictor and the example it passed."""

    predictor: CompiledPredictor
    model_name: str
    version: str
    example: list[dict[str, Any]]
    loaded_at: str = field(default_factory=_now)

    @property
    def schema(self) -> Any:
        return self.predictor.schema

    @property
    def threshold(self) -> float:
        return self.predictor.threshold


def example_records(model: Any, schema: Any) -> list[dict[str, Any]]:
    """The input example stored with a registered pyfunc, as JSON-like records."""
    example = getattr(model, "input_example", None)
    if example is None:
        raise SmokeTestError("the version has no stored input example to smoke-test with")
    frame = pd.DataFrame(example)
    frame = frame[[c for c in schema.feature_names if c in frame.columns]]
    return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def smoke_test(predictor: CompiledPredictor, records: list[dict[str, Any]]) -> None:
    """Predict ``records`` through the compiled path and the pipeline; raise
    :class:`SmokeTestError` unless both agree and every probability is in [0, 1]."""
    try:
        predictor.check_records(records)
        compiled = predictor.predict_records(records, check=False)
        for _ in range(3):  # warm the booster's predictor and the allocator
            predictor.predict_records(records[:1], check=False)
        reference = predictor.pipeline.predict_proba(pd.DataFrame.from_records(records))[:, 1]
    except Exception as err:
        raise SmokeTestError(f"scoring the stored example failed: {err}") from err
    if not np.all(np.isfinite(compiled)) or np.any((compiled < 0) | (compiled > 1)):
        raise SmokeTestError(f"probabilities outside [0, 1]: {compiled.tolist()}")
    if not np.allclose(compiled, reference, rtol=0, atol=1e-9):
        raise SmokeTestError("the compiled path disagrees with the pipeline on the stored "
                             f"example ({compiled.tolist()} vs {reference.tolist()})")


def explain_records(predictor: CompiledPredictor, records: list[dict[str, Any]], *,
                    top: int = 4) -> list[list[dict[str, Any]]]:
    """The top reasons of each record's prediction, by the predictor's own pipeline.

    The records must have passed :meth:`~closedloop.model.compiled.CompiledPredictor.check_records`. Their frame is
    explained with :func:`~closedloop.explain.reasons.explain` on the fitted pipeline the predictor was
    compiled from (the smoke test checked that both give the same probabilities), so the
    reasons are those of the version that scored the rows.

    Parameters
    ----------
    predictor : CompiledPredictor
        The version that scored the records.
    records : list of dict
        The checked records, in the order they were scored.
    top : int
        At most this many reasons per row.

    Returns
    -------
    list of list of dict
        Per record, its reasons strongest first: ``column``, ``value``, ``contribution``
        (log-odds), ``probability_change`` and ``text``.
    """
    from closedloop.explain import explain

    schema = predictor.schema
    frame = pd.DataFrame.from_records(records, columns=list(schema.feature_names))
    explanation = explain(predictor.pipeline, frame, schema, top=top)
    return [[{**reason.to_dict(), "value": _plain(reason.value)} for reason in reasons]
            for reasons in explanation.reasons]


class ModelService:
    """The version a service answers with, and the swap to the next one.

    Parameters
    ----------
    workspace : Workspace
        Whose registry holds the model.
    alias : str
        The alias served (``champion``), or a version number to pin one version for good.
    model_name : str
        The registered model.
    tiers : RiskTiers
        Probability cut-offs of the ``risk_tier`` answered with each row.
    """

    def __init__(self, workspace: Workspace, *, alias: str = "champion",
                 model_name: str = DEFAULT_MODEL_NAME, tiers: RiskTiers = RiskTiers()) -> None:
        self.workspace, self.alias, self.model_name, self.tiers = (  # name: the registry's
            workspace, str(alias), workspace.model_name(model_name), tiers)
        self.current: LoadedModel | None = None
        self.failed: dict[str, str] | None = None
        self.last_error: str | None = None
        self.swaps = 0
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------ loading

    def resolve(self) -> str:
        """The version number the alias points to now."""
        if self.alias.isdigit():
            return self.alias
        client = self.workspace.client()
        return str(client.get_model_version_by_alias(self.model_name, self.alias).version)

    def load(self, version: str) -> LoadedModel:
        """Load ``version``, compile, warm and smoke-test it (raises :class:`SmokeTestError`)."""
        started = time.perf_counter()
        model = load_model(self.workspace, str(version), model_name=self.model_name)
        predictor = CompiledPredictor.from_model(model, model_name=self.model_name,
                                                 model_version=str(version))
        records = example_records(model, predictor.schema)
        smoke_test(predictor, records)
        logger.info("loaded %s v%s in %.1f s (smoke test passed)", self.model_name, version,
                    time.perf_counter() - started)
        return LoadedModel(predictor, self.model_name, str(version), records[:1])

    def reload(self, *, retry_failed: bool = True) -> dict[str, Any]:
        """Resolve the alias; if it names another version, load it and swap it in.

        Returns what happened: ``changed`` (a new version is now served), ``version`` (the one
        served), ``previous_version`` and, when the candidate failed, ``failed`` with the error.
        Only one reload runs at a time; requests are answered throughout.
        """
        with self._lock:
            version = self.resolve()
            previous = self.current.version if self.current else None
            if version == previous:
                return {"changed": False, "version": version, "previous_version": previous}
            if not retry_failed and self.failed and self.failed["version"] == version:
                return {"changed": False, "version": previous, "previous_version": previous,
                        "failed": self.failed}
            try:
                loaded = self.load(version)
            except Exception as err:
                self.failed = {"version": version, "error": f"{type(err).__name__}: {err}",
                               "at": _now()}
                logger.error("version %s of %s not swapped in: %s", version, self.model_name,
                             self.failed["error"])
                return {"changed": False, "version": previous, "previous_version": previous,
                        "failed": self.failed}
            self.current = loaded  # one reference assignment: the swap
            self.failed = None
            if previous is not None:
                self.swaps += 1
            logger.info("now serving %s v%s (was v%s)", self.model_name, version, previous)
            return {"changed": True, "version": version, "previous_version": previous}

    def poll(self) -> dict[str, Any] | None:
        """One poll of the alias (what the background task runs); never raises."""
        try:
            result = self.reload(retry_failed=False)
            self.last_error = None
            return result
        except Exception as err:  # the registry unreachable: keep serving, say so
            self.last_error = f"{type(err).__name__}: {err}"
            logger.warning("polling @%s of %s failed: %s", self.alias, self.model_name,
                           self.last_error)
            return None

    # ------------------------------------------------------------------------------ scoring

    def score(self, records: list[dict[str, Any]], request_id: str,
              loaded: LoadedModel | None = None, *, explain: bool = False,
              top: int = 4) -> tuple[LoadedModel, dict[str, Any]]:
        """Check and score ``records`` with one version (the current one unless given).

        Parameters
        ----------
        records : list of dict
            The rows to score (field: value).
        request_id : str
            Prefix of each row's ``prediction_id``.
        loaded : LoadedModel or None
            The version to answer with; None: the current one.
        explain : bool
            Add each row's ``reasons`` (see :func:`explain_records`), computed by the same
            version; False (the default) costs nothing.
        top : int
            At most this many reasons per row.

        Returns
        -------
        tuple of (LoadedModel, dict)
            The version used and the response body.

        Raises
        ------
        RecordContractError
            When a record violates the model's contract (nothing is scored).
        """
        loaded = loaded or self.current
        if loaded is None:
            raise RuntimeError("no model is loaded yet")
        predictor = loaded.predictor
        predictor.check_records(records)
        proba = predictor.predict_records(records, check=False, num_threads=1)
        labels = (proba >= predictor.threshold).astype(np.int64).tolist()
        tiers = self.tiers.assign(proba).tolist()
        entity = predictor.schema.entity_id
        rows = []
        for i, (p, label, tier) in enumerate(zip(proba.tolist(), labels, tiers)):
            row = {"prediction_id": f"{request_id}-{i}", "prediction": label,
                   "prediction_proba": p, "risk_tier": tier, "model_version": loaded.version}
            if entity in records[i]:
                row[entity] = records[i][entity]
            rows.append(row)
        if explain:
            for row, reasons in zip(rows, explain_records(predictor, records, top=top)):
                row["reasons"] = reasons
        body = {"request_id": request_id, "model_name": loaded.model_name,
                "model_version": loaded.version, "predictions": rows}
        return loaded, body

    # ------------------------------------------------------------------------------ reporting

    def status(self) -> dict[str, Any]:
        """What ``GET /health`` answers."""
        loaded = self.current
        body: dict[str, Any] = {
            "status": "ready" if loaded else "loading", "model_name": self.model_name,
            "alias": self.alias, "model_version": loaded.version if loaded else None,
            "loaded_at": loaded.loaded_at if loaded else None, "swaps": self.swaps}
        if self.failed:
            body["failed_version"] = self.failed
        if self.last_error:
            body["registry_error"] = self.last_error
        return body

    def metadata(self) -> dict[str, Any]:
        """What ``GET /metadata`` answers (None before a version is loaded)."""
        loaded = self.current
        if loaded is None:
            return {}
        return {"model_name": loaded.model_name, "model_version": loaded.version,
                "alias": self.alias, "threshold": loaded.threshold,
                "risk_tiers": {"high": self.tiers.high, "medium": self.tiers.medium},
                "features": loaded.predictor.feature_names,
                "contract": loaded.schema.to_dict(), "example": loaded.example,
                "loaded_at": loaded.loaded_at}
