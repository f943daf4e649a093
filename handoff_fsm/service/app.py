"""The HTTP/JSON routes of `handoff-fsm serve` (SPEC §6), as a Starlette application.

Theory of operation: `build_app(data)` returns the ASGI app; its lifespan opens every center found
under `data` (and starts its timer task) and, at shutdown, lets every submitted step finish,
snapshots and closes. A route only translates: it checks the request (center, size, JSON, shape,
in that order), hands a well-formed step to the center's `CenterBackend`, and turns the `Reply`
into a response. Steps and configs are read by the scenario reader (`parse_scenario`), so the
service accepts exactly the scenario format of SPEC §5 and names the place of a problem the same
way.

Rules:
- Error bodies are `{"error": {"code", "message"}}` (plus `place` and `problem` for a 422); codes
  are stable words (docs/service.md lists them). An unknown center is 404 before its body is
  read; a body over `MAX_BODY` bytes is 413; a malformed body or step is 422; a refused step 409.
  Nothing changes on any of them but a refused step, which is logged (its `id` remembered).
- Every request that can wait (a long poll) is bounded (`feed.MAX_WAIT`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from handoff_fsm.adapters.scenario import parse_scenario
from handoff_fsm.config import Config
from handoff_fsm.errors import ScenarioError, StoreError
from handoff_fsm.events import JsonValue
from handoff_fsm.service.backend import CENTER_NAME, CenterBackend, Reply
from handoff_fsm.service.botframework import BotHubs, botframework_routes
from handoff_fsm.service.feed import MAX_LIMIT, read_feed
from handoff_fsm.service.metrics import CONTENT_TYPE, ServiceMetrics
from handoff_fsm.service.timers import run_timers

if TYPE_CHECKING:
    from handoff_fsm.service.pg_center import PgCenters
    from handoff_fsm.service.store_center import Centers

MAX_BODY: Final = 1 << 20
"""Largest request body, in bytes (1 MiB); a larger one is answered 413 and not read further."""
CONFIG_KEYS: Final = ("settings", "participants", "queues")


class BadRequest(Exception):
    """A request answered with an error before it reached a center."""

    def __init__(self, status: int, code: str, message: str, place: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.place = status, code, place

    def response(self) -> JSONResponse:
        error: dict[str, JsonValue] = {"code": self.code, "message": str(self)}
        if self.place is not None:
            error["place"] = self.place
            error["problem"] = str(self).removeprefix(f"{self.place}: ")
        return JSONResponse({"error": error}, status_code=self.status)


class Service:
    """The centers of one running service, their timer tasks and its metrics."""

    def __init__(self, data: Path, store: str | None = None) -> None:
        # Each backend is imported only when chosen (psycopg is an extra of its own).
        self.centers: Centers | PgCenters
        self._own_timers = store is None  # PgCenters claims due centers in its own loop
        if store is None:
            from handoff_fsm.service.store_center import Centers

            self.centers = Centers(data)
        else:
            from handoff_fsm.service.pg_center import PgCenters

            self.centers = PgCenters(store)
        self.metrics = ServiceMetrics()
        self._timers: dict[str, asyncio.Task[None]] = {}

    async def start(self) -> None:
        await self.centers.open_all()
        gc.freeze()  # what start-up made lives as long as the service: no full collection walks it
        for center in self.centers.all():
            self._start_timers(center)

    def _start_timers(self, center: CenterBackend) -> None:
        if not self._own_timers:
            return
        self._timers[center.name] = asyncio.create_task(
            run_timers(center), name=f"center-{center.name}-timers"
        )

    async def stop_polls(self) -> None:
        """Wake every long poll (the service is stopping)."""
        for center in self.centers.all():
            await center.signal.stop()

    async def stop(self) -> None:
        for task in self._timers.values():
            task.cancel()
        for task in self._timers.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.centers.close_all()

    async def put(self, name: str, config: Config) -> int:
        status = await self.centers.put(name, config)
        center = self.centers.get(name)
        if status == 201 and center is not None:
            self._start_timers(center)
        return status


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _center(request: Request) -> CenterBackend:
    name = request.path_params["center"]
    center = _service(request).centers.get(name)
    if center is None:
        raise BadRequest(404, "unknown_center", f"no center {name!r}; create it with PUT first")
    return center


async def _json_body(request: Request) -> object:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise BadRequest(413, "too_large", f"the body is over {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise BadRequest(413, "too_large", f"the body is over {MAX_BODY} bytes")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(422, "invalid_json", f"the body is not JSON ({exc})", place="") from None


def _scenario_problem(error: ScenarioError, code: str, prefix: str = "") -> BadRequest:
    """The scenario reader's complaint, placed in the body (`prefix`: the wrapper's place)."""
    place = error.place.removeprefix(prefix)
    if f"{place}." == prefix:
        place = ""
    return BadRequest(422, code, f"{place}: {error.problem}" if place else error.problem, place)


def _read_config(data: object) -> Config:
    if not isinstance(data, dict):
        raise BadRequest(422, "invalid_config", "the config must be a JSON object", place="")
    for key in data:
        if key not in CONFIG_KEYS:
            raise BadRequest(
                422,
                "invalid_config",
                f"{key}: unknown key (known: {', '.join(CONFIG_KEYS)})",
                place=str(key),
            )
    try:
        return parse_scenario({**data, "steps": []}, "config").config
    except ScenarioError as exc:
        raise _scenario_problem(exc, "invalid_config") from None


async def put_center(request: Request) -> Response:
    name = request.path_params["center"]
    if not CENTER_NAME.fullmatch(name):
        raise BadRequest(
            422, "invalid_center", f"center name {name!r}: letters, digits, - and _ (up to 64)"
        )
    config = _read_config(await _json_body(request))
    try:
        status = await _service(request).put(name, config)
    except StoreError as exc:
        raise BadRequest(422, "invalid_config", str(exc), place="") from None
    if status == 409:
        raise BadRequest(409, "center_exists", f"center {name!r} exists with another config")
    return JSONResponse({"center": name, "created": status == 201}, status_code=status)


async def post_step(request: Request) -> Response:
    started = time.perf_counter()
    center = _center(request)
    try:
        step = parse_scenario({"steps": [await _json_body(request)]}, "step").steps[0]
    except ScenarioError as exc:
        raise _scenario_problem(exc, "invalid_step", "steps[0].") from None
    reply = await center.submit(step.event, at=step.at, step_id=step.id)
    status = _status_word(reply)
    _service(request).metrics.step(center.name, status, reply.code, time.perf_counter() - started)
    return JSONResponse(reply.body, status_code=reply.status)


def _status_word(reply: Reply) -> str:
    if reply.duplicate:
        return "duplicate"
    return {200: "applied", 409: "refused", 503: "unavailable"}.get(reply.status, "invalid")


async def get_conversation(request: Request) -> Response:
    center = _center(request)
    conversation = request.path_params["conversation"]
    view = await center.conversation(conversation)
    if view is None:
        raise BadRequest(
            404, "unknown_conversation", f"center {center.name!r} has no {conversation!r}"
        )
    return JSONResponse(view)


def _number(request: Request, name: str, default: float, *, whole: bool) -> float:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        value = -1
    if value < 0 or value != value:
        kind = "a whole number" if whole else "a number"
        raise BadRequest(422, "invalid_query", f"{name}: must be {kind} >= 0", place=name)
    return value


async def get_effects(request: Request) -> Response:
    center = _center(request)
    effects = await read_feed(
        center.signal,
        center.effects_after,
        after=int(_number(request, "after", 0, whole=True)),
        to=request.query_params.get("to"),
        wait=_number(request, "wait", 0.0, whole=False),
        limit=int(_number(request, "limit", MAX_LIMIT, whole=True)),
    )
    return JSONResponse({"effects": effects})


async def get_queues(request: Request) -> Response:
    return JSONResponse({"queues": await _center(request).queues()})


async def get_participants(request: Request) -> Response:
    return JSONResponse({"participants": await _center(request).participants()})


async def healthz(request: Request) -> Response:
    centers = _service(request).centers.all()
    stopped = sorted(center.name for center in centers if not center.usable)
    body: dict[str, JsonValue] = {
        "status": "stopped" if stopped else "ok",
        "centers": len(centers),
        "stopped": list(stopped),
    }
    return JSONResponse(body, status_code=503 if stopped else 200)


async def metrics(request: Request) -> Response:
    service = _service(request)
    for center in service.centers.all():
        if center.usable:
            service.metrics.queues(center.name, await center.queues())
    return Response(service.metrics.render(), media_type=CONTENT_TYPE)


async def _bad_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BadRequest)
    _service(request).metrics.bad_requests.labels(exc.code).inc()
    return exc.response()


def build_app(data: Path, store: str | None = None) -> Starlette:
    service = Service(data, store)
    hubs = BotHubs(data)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        await hubs.open_existing(service.centers.all())
        try:
            yield
        finally:
            await hubs.close()
            await service.stop()

    app = Starlette(
        routes=[
            Route("/centers/{center}", put_center, methods=["PUT"]),
            Route("/centers/{center}/steps", post_step, methods=["POST"]),
            Route("/centers/{center}/conversations/{conversation}", get_conversation),
            Route("/centers/{center}/effects", get_effects),
            Route("/centers/{center}/queues", get_queues),
            Route("/centers/{center}/participants", get_participants),
            *botframework_routes(hubs, _center, _json_body, _number),
            Route("/healthz", healthz),
            Route("/metrics", metrics),
        ],
        exception_handlers={BadRequest: _bad_request},
        lifespan=lifespan,
    )
    app.state.service = service
    return app


__all__ = ["MAX_BODY", "BadRequest", "Service", "build_app"]
