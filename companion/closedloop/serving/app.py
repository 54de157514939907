"""The REST service: FastAPI on uvicorn, in front of a
:class:`~closedloop.serving.service.ModelService`.

Endpoints
---------
``POST /predict``
    One record (a JSON object of field: value) or a list of them. 200 with, for each row,
    ``prediction``, ``prediction_proba``, ``risk_tier``, ``model_version`` and a
    ``prediction_id`` (the request id and the row's position); with ``?explain=true`` also
    ``reasons``, the row's top reasons (at most ``top``, default 4: ``column``, ``value``,
    ``contribution`` in log-odds, ``probability_change``, ``text``) computed by the version
    that answered; 400 for a body that is not JSON;
    413 for a body over the limit (by its ``Content-Length`` or as it streams in); 422 for a body
    the model's contract rejects (each row, field and value named); 503 before a model is loaded
    or when too many requests are in flight.
``GET /health``
    200 once a version is loaded and smoke-tested (503 before), with the version served and a
    candidate version that failed its smoke test, if any.
``GET /metadata``
    Model name, version, threshold, risk tiers, feature names and the contract
    (``Schema.to_dict()``).
``POST /reload``
    Look the alias up now; swap in a new version if it passes its smoke test (200), else keep
    the current one (409).

With an ``experiment`` (:func:`create_app`, ``closedloop serve --experiment-salt``), each row is
answered by its entity's arm (:mod:`closedloop.serving.experiment`): the challenger arm by
``challenger_alias``, everything else by the champion; each row then also says its ``arm``, the
response the ``experiment``, and ``/health`` is ready once both versions are loaded.

Bad input is answered, never raised: the checks sit before the model, a request holds the version
it started with, and any unexpected error becomes a 500 JSON answer for that request only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from closedloop.config import Workspace
from closedloop.model.compiled import RecordContractError
from closedloop.model.registry import DEFAULT_MODEL_NAME
from closedloop.serving.request_log import RequestLog
from closedloop.serving.service import ModelService

logger = logging.getLogger("closedloop.serving")

#: Environment variable carrying the options to each worker process when ``workers > 1``.
OPTIONS_ENV = "CLOSEDLOOP_SERVE_OPTIONS"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


@dataclass(frozen=True)
class ServeOptions:
    """Everything :func:`create_app` needs (JSON-serialisable, for worker processes).

    ``poll_interval`` is the seconds between two look-ups of the alias (0: never, only
    ``POST /reload``); ``flush_rows`` and ``flush_interval`` drive the request log.
    """

    workdir: str | None = None
    alias: str = "champion"
    model_name: str = DEFAULT_MODEL_NAME
    max_body_bytes: int = 1_048_576
    max_concurrency: int = 64
    poll_interval: float = 10.0
    flush_rows: int = 1000
    flush_interval: float = 1.0
    experiment: dict[str, Any] | None = None  # Experiment.to_dict()
    challenger_alias: str = "challenger"


# ------------------------------------------------------------------------ response models


class ReasonItem(BaseModel):
    column: str
    value: Any = None
    contribution: float
    probability_change: float
    text: str


class PredictionRow(BaseModel):
    prediction_id: str
    prediction: int
    prediction_proba: float
    risk_tier: str
    model_version: str
    reasons: list[ReasonItem] | None = None
    arm: str | None = None


class PredictResponse(BaseModel):
    request_id: str
    model_name: str
    model_version: str
    predictions: list[PredictionRow]
    experiment: str | None = None


class Problem(BaseModel):
    row: int
    field: str
    value: Any = None
    message: str


class ErrorResponse(BaseModel):
    error: str
    detail: str | None = None
    problems: list[Problem] | None = None


class Health(BaseModel):
    status: str
    model_name: str
    alias: str
    model_version: str | None
    loaded_at: str | None
    swaps: int
    failed_version: dict[str, str] | None = None
    registry_error: str | None = None
    experiment: dict[str, Any] | None = None


def _error(status: int, error: str, detail: str | None = None,
           problems: list[dict[str, Any]] | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": error}
    if detail is not None:
        body["detail"] = detail
    if problems is not None:
        body["problems"] = problems
    return JSONResponse(body, status_code=status, headers=headers)


# ------------------------------------------------------------------------ the guard


class _BodyTooLarge(Exception):
    pass


class RequestGuard:
    """ASGI middleware: at most ``max_concurrency`` requests in flight (503 beyond), bodies of at
    most ``max_body_bytes`` (413, by ``Content-Length`` and by the bytes actually received)."""

    def __init__(self, app: Any, *, max_body_bytes: int, max_concurrency: int) -> None:
        self.app, self.max_body_bytes, self.max_concurrency = app, max_body_bytes, max_concurrency
        self.active = 0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.active >= self.max_concurrency:
            await _send(send, _error(
                503, "overloaded", f"more than {self.max_concurrency} requests in flight; "
                "retry shortly", headers={"Retry-After": "1"}))
            return
        self.active += 1
        try:
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None:
                if not length.isdigit():
                    await _send(send, _error(400, "bad request", "invalid Content-Length"))
                    return
                if int(length) > self.max_body_bytes:
                    await _send(send, self._too_large(int(length)))
                    return
            if scope["method"] in ("POST", "PUT", "PATCH"):
                try:
                    body = await self._read(receive)
                except _BodyTooLarge:
                    await _send(send, self._too_large(None))
                    return
                receive = _replay(body, receive)
            await self.app(scope, receive, send)
        finally:
            self.active -= 1

    def _too_large(self, size: int | None) -> JSONResponse:
        got = f"{size} bytes" if size is not None else "more"
        return _error(413, "request body too large",
                      f"the limit is {self.max_body_bytes} bytes, got {got}",
                      headers={"Connection": "close"})

    async def _read(self, receive: Any) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes, receive: Any) -> Any:
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()
    return replay


async def _send(send: Any, response: JSONResponse) -> None:
    await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> dict:  # pragma: no cover - a JSONResponse never reads
    return {"type": "http.disconnect"}


# ------------------------------------------------------------------------ parsing


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_body(body: bytes) -> Any:
    """The request's JSON (strict: no ``NaN``/``Infinity``); ValueError if it is not JSON."""
    if not body.strip():
        raise ValueError("the body is empty")
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except RecursionError as err:
        raise ValueError("the JSON is nested too deeply") from err


# ------------------------------------------------------------------------ the app


def create_app(workdir: str | os.PathLike[str] | Workspace | None = None, *,
               alias: str = "champion", model_name: str = DEFAULT_MODEL_NAME,
               max_body_bytes: int = 1_048_576, max_concurrency: int = 64,
               poll_interval: float = 10.0, flush_rows: int = 1000,
               flush_interval: float = 1.0, experiment: Any = None,
               challenger_alias: str = "challenger") -> FastAPI:
    """The FastAPI application serving ``alias`` of ``model_name`` from ``workdir``.

    The version is loaded (and smoke-tested) by a background task at start-up, which then looks
    the alias up every ``poll_interval`` seconds (0: never; ``POST /reload`` still does).
    Answered rows go to the workspace's inference log through a
    :class:`~closedloop.serving.request_log.RequestLog` flushed every ``flush_rows`` rows or
    ``flush_interval`` seconds and at shutdown. See the module docstring for the endpoints.

    ``experiment`` (an :class:`~closedloop.abtest.assignment.Experiment` of two arms, or its
    ``to_dict()``) routes each row by its entity's arm: the second arm is answered by
    ``challenger_alias`` (loaded, smoke-tested and polled like the champion), all other rows by
    ``alias``. The request log records the version that answered each row, the experiment's
    name and the row's arm (the inference log's optional ``experiment`` and ``arm`` columns).
    """
    from closedloop.serving.experiment import as_experiment, score_experiment

    workspace = workdir if isinstance(workdir, Workspace) else Workspace.resolve(workdir)
    service = ModelService(workspace, alias=alias, model_name=model_name)
    experiment = as_experiment(experiment)
    challenger = None if experiment is None else ModelService(
        workspace, alias=challenger_alias, model_name=model_name)
    services = [service] + ([challenger] if challenger is not None else [])
    request_log = RequestLog(workspace, max_rows=flush_rows, interval=flush_interval)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        request_log.start()
        keepers = [asyncio.create_task(_keep_current(s, poll_interval)) for s in services]
        try:
            yield
        finally:
            for keeper in keepers:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper
            written = await asyncio.to_thread(request_log.close)
            logger.info("shutdown: request log flushed (%s rows in this last batch, %s in all)",
                        written, request_log.written)

    app = FastAPI(title="closedloop scoring service", lifespan=lifespan,
                  summary=f"scores with @{alias} of {model_name}")
    app.state.service, app.state.request_log = service, request_log
    app.state.challenger, app.state.experiment = challenger, experiment

    @app.exception_handler(Exception)
    async def unexpected(request: Request, err: Exception) -> JSONResponse:
        logger.exception("unexpected error answering %s", request.url.path)
        return _error(500, "internal error", f"{type(err).__name__}: {err}")

    @app.post("/predict", response_model=PredictResponse, responses={
        400: {"model": ErrorResponse}, 413: {"model": ErrorResponse},
        422: {"model": ErrorResponse}, 503: {"model": ErrorResponse}})
    async def predict(request: Request, explain: bool = False,
                      top: int = Query(4, ge=1, le=50)) -> JSONResponse:
        loaded = service.current
        rival = challenger.current if challenger is not None else None
        if loaded is None or (challenger is not None and rival is None):
            return _error(503, "not ready", "no model version is loaded yet",
                          headers={"Retry-After": "1"})
        header = request.headers.get("x-request-id", "")
        request_id = header if _REQUEST_ID.match(header) else uuid.uuid4().hex
        try:
            payload = parse_body(await request.body())
        except ValueError as err:
            return _error(400, "malformed JSON", str(err))
        records = [payload] if isinstance(payload, dict) else payload
        if not isinstance(records, list):
            return _error(422, "wrong shape", "expected a JSON object (one row) or a list of "
                          f"objects, got {type(payload).__name__}")
        requested_at = pd.Timestamp.now(tz="UTC")
        try:
            if experiment is None:
                loaded, body = service.score(records, request_id, loaded, explain=explain,
                                             top=top)
                answered = [(loaded, list(range(len(records))))]
            else:
                answered, body = score_experiment(
                    experiment, (service, challenger), (loaded, rival), records, request_id,
                    explain=explain, top=top)
        except RecordContractError as err:
            return _error(422, f"data contract {loaded.schema.name!r} violated",
                          f"{len(err.record_problems)} problem(s)",
                          [p.to_dict() for p in err.record_problems])
        rows = body["predictions"]
        for version, positions in answered:
            request_log.add(version.schema, version.model_name, version.version,
                            [records[i] for i in positions],
                            [rows[i]["prediction_id"] for i in positions],
                            [rows[i]["prediction"] for i in positions],
                            [rows[i]["prediction_proba"] for i in positions], requested_at,
                            **({} if experiment is None else {
                                "experiment": experiment.name,
                                "arms": [rows[i]["arm"] for i in positions]}))
        return JSONResponse(body, headers={"X-Request-ID": request_id})

    @app.get("/health", response_model=Health, responses={503: {"model": Health}})
    async def health() -> JSONResponse:
        status = service.status()
        if challenger is not None:
            other = challenger.status()
            status["experiment"] = {**experiment.to_dict(), "challenger": other}
            if other["status"] != "ready":
                status["status"] = "loading"
        return JSONResponse(status, status_code=200 if status["status"] == "ready" else 503)

    @app.get("/metadata", responses={503: {"model": ErrorResponse}})
    async def metadata() -> JSONResponse:
        meta = service.metadata()
        if not meta:
            return _error(503, "not ready", "no model version is loaded yet")
        return JSONResponse(meta)

    @app.post("/reload", responses={409: {"model": ErrorResponse}})
    async def reload() -> JSONResponse:
        result = await asyncio.to_thread(service.reload)
        failed = "failed" in result
        if challenger is not None:
            result = {**result, "challenger": await asyncio.to_thread(challenger.reload)}
            failed = failed or "failed" in result["challenger"]
        return JSONResponse(result, status_code=409 if failed else 200)

    app.add_middleware(RequestGuard, max_body_bytes=max_body_bytes,
                       max_concurrency=max_concurrency)
    return app


async def _keep_current(service: ModelService, poll_interval: float) -> None:
    """Load the first version (retrying every second until one passes), then poll the alias."""
    while True:
        await asyncio.to_thread(service.poll)
        if service.current is not None and poll_interval <= 0:
            return
        await asyncio.sleep(poll_interval if service.current is not None else 1.0)


def _app_from_options(options: ServeOptions) -> FastAPI:
    return create_app(options.workdir, **{k: v for k, v in asdict(options).items()
                                          if k != "workdir"})


def app_from_env() -> FastAPI:
    """The app of one worker process, from the options :func:`serve` put in the environment."""
    _configure_logging()
    return _app_from_options(ServeOptions(**json.loads(os.environ[OPTIONS_ENV])))


def _configure_logging() -> None:
    service_logger = logging.getLogger("closedloop.serving")
    if not service_logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        service_logger.addHandler(handler)
        service_logger.setLevel(logging.INFO)


def serve(workdir: str | os.PathLike[str] | None = None, host: str = "127.0.0.1",
          port: int = 8000, alias: str = "champion", model_name: str = DEFAULT_MODEL_NAME,
          workers: int = 1, max_body_bytes: int = 1_048_576, max_concurrency: int = 64, *,
          poll_interval: float = 10.0, flush_rows: int = 1000, flush_interval: float = 1.0,
          log_level: str = "info", experiment: Any = None,
          challenger_alias: str = "challenger") -> None:
    """Run the scoring service until SIGINT/SIGTERM (then flush the request log and exit).

    Binds ``127.0.0.1`` unless another ``host`` is given. With ``workers > 1`` uvicorn starts
    that many processes, each loading the model and logging its own rows. ``experiment`` and
    ``challenger_alias`` are those of :func:`create_app` (the assignment is the same in every
    worker).
    """
    import uvicorn

    _configure_logging()
    root = str(Workspace.resolve(workdir).root)
    from closedloop.serving.experiment import as_experiment

    experiment = as_experiment(experiment)
    options = ServeOptions(root, alias, model_name, max_body_bytes, max_concurrency,
                           poll_interval, flush_rows, flush_interval,
                           None if experiment is None else experiment.to_dict(),
                           challenger_alias)
    common = {"host": host, "port": port, "log_level": log_level, "access_log": False,
              "timeout_graceful_shutdown": 30}
    if workers <= 1:
        uvicorn.run(_app_from_options(options), **common)
    else:
        os.environ[OPTIONS_ENV] = json.dumps(asdict(options))
        uvicorn.run("closedloop.serving.app:app_from_env", factory=True, workers=workers,
                    **common)
