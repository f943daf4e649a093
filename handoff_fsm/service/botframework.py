"""SPEC §7 in the service: the center plays the Bot Framework agent hub, over HTTP.

Theory of operation: `BotHubs` holds one `CenterHub` per center that speaks Bot Framework (opened
at the first request, or at start for a center whose hub log exists). A `CenterHub` owns a pure
`handoff_fsm.wire.botframework.BotFrameworkHub`, each bot's activities (numbered from 1), the
hub's log (`hub_log`) and a pusher per bot with an endpoint (`push`). It sees the center only
through `CenterBackend` (submit, effects_after, conversation, signal, clock).

Every input of the hub is taken under the hub's lock, in one order:
- an activity (`post`): translated (a malformed one is refused with 422 before anything is
  written), its step read by the scenario reader, then the hub catches up with the center's feed,
  logs the activity (write-ahead), submits the ONE step it translates to (an atomic step of the
  center: a `handoff.initiate` is one escalation or one start, with its variables and transcript),
  logs the answer, and answers. A refused `handoff.initiate` is answered 200, with the
  `handoff.status` `failed` the bot is told. A retried activity `id` is answered from the log.
- the center's effect lines (`_follow`, a task per center): read in seq order, fed to the hub;
  what it tells the bots is logged (its `now`) before anyone can read it.

At start the log is replayed against the center's feed, which rebuilds the same activities (ids
and timestamps included); a logged activity whose answer is missing is submitted again.

Rules: a hub never reads store internals; every wait is bounded (`feed.MAX_WAIT`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from handoff_fsm.adapters.scenario import parse_scenario
from handoff_fsm.config import Kind
from handoff_fsm.effects import CUSTOMER
from handoff_fsm.errors import ScenarioError
from handoff_fsm.events import JsonValue
from handoff_fsm.service.backend import CenterBackend, Reply
from handoff_fsm.service.feed import MAX_LIMIT, MAX_WAIT
from handoff_fsm.service.hub_log import SUFFIX, HubLog, LogRow
from handoff_fsm.service.push import Pusher
from handoff_fsm.wire.botframework import (
    BotActivity,
    BotFrameworkHub,
    first_queue_of,
    translate_activity,
)
from handoff_fsm.wire.common import Ignored, Translated, WireError, obj

IDLE: Final = 5.0
"""Longest sleep of a hub's follower while the center's feed is quiet."""


class HubProblem(Exception):
    """A request the hub answers with an error before anything changes."""

    def __init__(self, status: int, code: str, message: str, place: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.place = status, code, place


def _step_problem(error: ScenarioError) -> HubProblem:
    place = error.place.removeprefix("steps[0].")
    problem = f"{error.problem} (the activity's step, which the center does not read)"
    return HubProblem(422, "invalid_step", f"{place}: {problem}", place=place)


class CenterHub:
    """The hub of one center; `await CenterHub.open(center, path)`."""

    def __init__(self, center: CenterBackend, log: HubLog) -> None:
        self.center, self.log = center, log
        self.hub_kinds = {spec.id: spec.kind for spec in center.config.participants}
        self.hub = BotFrameworkHub(self.hub_kinds)
        self.feeds: dict[str, list[Mapping[str, JsonValue]]] = {}
        self.pushers: dict[str, Pusher] = {}
        self._position = 0
        """The last effect seq the hub has read."""
        self._answers: dict[str, tuple[int, dict[str, JsonValue]]] = {}
        self._lock = asyncio.Lock()
        self._told = asyncio.Condition()
        self._follower: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, center: CenterBackend, path: Path) -> CenterHub:
        hub = cls(center, await HubLog.open(path))
        async with hub._lock:
            await hub._refresh_kinds(set())  # participants added live, if any
            await hub._replay()
        for bot, (url, pushed) in (await hub.log.endpoints()).items():
            hub._start_pusher(bot, url, pushed)
        hub._follower = asyncio.create_task(hub._follow(), name=f"hub-{center.name}")
        return hub

    # -- inputs ------------------------------------------------------------------------------

    async def post(
        self, participant: str, activity: object, queue: str | None
    ) -> tuple[int, dict[str, JsonValue]]:
        """One activity from bot `participant`: (status, body)."""
        await self.check_participant(participant)
        try:
            account = obj(obj(activity, "").get("conversation"), "conversation").get("id")
        except WireError as exc:
            raise HubProblem(422, str(exc.code), str(exc), place=exc.place) from None
        known = isinstance(account, str) and await self.center.conversation(account) is not None
        queue = queue or first_queue_of(self.center.config, participant)
        translation = self._translate(activity, participant, known, queue)
        if isinstance(translation, Ignored):
            return 200, {"ignored": translation.reason}
        step_id = translation.step.get("id")
        assert step_id is None or isinstance(step_id, str)
        async with self._lock:
            if step_id is not None and step_id in self._answers:
                return self._answers[step_id]
            await self._catch_up()
            body: dict[str, JsonValue] = {
                "activity": activity,  # type: ignore[dict-item]  # read whole: JSON
                "participant": participant,
                "known": known,
                "queue": queue,
            }
            now = self.center.clock.now()
            await self.log.append(
                LogRow(kind="receive", through=self._position, now=now, step_id=step_id, body=body)
            )
            self.hub.receive(activity, participant=participant, known=known, queue=queue)
            return await self._submit(translation, step_id)

    async def check_participant(self, participant: str) -> None:
        """404 for a participant the center does not have (nor was given live)."""
        if participant in self.hub_kinds or await self._refresh_kinds({participant}):
            return
        raise HubProblem(
            404, "unknown_participant", f"center {self.center.name!r} has no {participant!r}"
        )

    async def _refresh_kinds(self, wanted: set[str]) -> bool:
        """Learn the kinds of participants added live; whether all of `wanted` are known."""
        for view in await self.center.participants():
            name, kind = view.get("participant"), view.get("kind")
            if isinstance(name, str) and isinstance(kind, str):
                self.hub_kinds[name] = Kind(kind)
                self.hub.set_kind(name, Kind(kind))
        return wanted <= set(self.hub_kinds)

    def _translate(
        self, activity: object, participant: str, known: bool, queue: str | None
    ) -> Translated | Ignored:
        try:
            translation = translate_activity(
                activity, participant=participant, known=known, queue=queue
            )
        except WireError as exc:
            raise HubProblem(422, str(exc.code), str(exc), place=exc.place) from None
        except ValueError as exc:  # a new conversation, and no queue to start it in
            raise HubProblem(422, "invalid_query", f"queue: {exc}", place="queue") from None
        if isinstance(translation, Translated):
            try:
                parse_scenario({"steps": [dict(translation.step)]}, "activity")
            except ScenarioError as exc:
                raise _step_problem(exc) from None
        return translation

    async def _submit(
        self, translation: Translated, step_id: str | None
    ) -> tuple[int, dict[str, JsonValue]]:
        """Apply the step of a logged activity and log its answer (the lock is held)."""
        step = parse_scenario({"steps": [dict(translation.step)]}, "activity").steps[0]
        reply = await self.center.submit(step.event, at=None, step_id=step_id)
        status, body = reply.status, {"step": dict(translation.step), **reply.body}
        now = self.center.clock.now()
        refusal = _refusal(reply)
        told: list[BotActivity] = []
        if refusal is not None and translation.kind in ("escalate", "start"):
            told = self.hub.refused(str(translation.body["conversation"]), refusal, now)
            status = 200
            body["activities"] = [dict(t.activity) for t in told]
        outcome: dict[str, JsonValue] = {
            "status": status,
            "body": body,
            "conversation": translation.body["conversation"],
            "refusal": refusal if told else None,
        }
        if reply.status != 503:
            row = LogRow(
                kind="outcome", through=self._position, now=now, step_id=step_id, body=outcome
            )
            await self.log.append(row)
            if step_id is not None:
                self._answers[step_id] = (status, body)
        await self._publish(told)
        return status, body

    # -- the center's feed ---------------------------------------------------------------------

    async def _follow(self) -> None:
        signal = self.center.signal
        while self.center.usable and not signal.stopping:
            async with self._lock:
                await self._catch_up()
            await signal.wait_beyond(self._position, IDLE)

    async def _catch_up(self) -> None:
        """Feed the hub every effect line after its position (the lock is held)."""
        while True:
            lines = await self.center.effects_after(self._position, None, MAX_LIMIT)
            if not lines:
                return
            recipients = {line.get("to") for line in lines} - {None, CUSTOMER}
            if not recipients <= set(self.hub_kinds):
                await self._refresh_kinds(set())
            now = self.center.clock.now()
            told = [a for line in lines for a in self.hub.feed(line, now)]
            through = _seq(lines[-1])
            if told:
                await self.log.append(LogRow(kind="feed", through=through, now=now))
            self._position = through
            await self._publish(told)

    async def _feed_through(self, through: int, now: float) -> None:
        """Replay: feed the effect lines up to seq `through` with the logged `now`."""
        while self._position < through:
            lines = await self.center.effects_after(self._position, None, MAX_LIMIT)
            lines = [line for line in lines if _seq(line) <= through]
            if not lines:  # pruned past retention: nothing more to read up to there
                self._position = through
                return
            for line in lines:
                await self._publish(self.hub.feed(line, now))
            self._position = _seq(lines[-1])

    async def _replay(self) -> None:
        pending: LogRow | None = None
        for row in await self.log.rows():
            await self._feed_through(row.through, row.now)
            pending = self._replay_row(row)
        if pending is None or pending.body is None:
            return
        body = pending.body
        activity, participant = body["activity"], str(body["participant"])
        queue = body["queue"] if isinstance(body["queue"], str) else None
        try:  # it was read once; a core that reads less now leaves it for the bot's retry
            translation = self._translate(activity, participant, body["known"] is True, queue)
        except HubProblem:
            return
        if isinstance(translation, Translated):
            await self._submit(translation, pending.step_id)

    def _replay_row(self, row: LogRow) -> LogRow | None:
        """Apply one logged input; the `receive` row still waiting for its outcome, if any."""
        body = row.body or {}
        if row.kind == "receive":
            queue = body["queue"] if isinstance(body["queue"], str) else None
            self.hub.receive(
                body["activity"],
                participant=str(body["participant"]),
                known=body["known"] is True,
                queue=queue,
            )
            return row
        if row.kind == "outcome":
            answer = body["body"]
            assert isinstance(answer, dict)
            if row.step_id is not None:
                self._answers[row.step_id] = (int(str(body["status"])), answer)
            refusal = body.get("refusal")
            if isinstance(refusal, str):
                for told in self.hub.refused(str(body["conversation"]), refusal, row.now):
                    self._keep(told)
        return None

    # -- what the bots are told ---------------------------------------------------------------

    def _keep(self, told: BotActivity) -> None:
        feed = self.feeds.setdefault(told.bot, [])
        assert told.number == len(feed) + 1, "a bot's activities are numbered without gaps"
        feed.append(told.activity)

    async def _publish(self, told: list[BotActivity]) -> None:
        if not told:
            return
        for activity in told:
            self._keep(activity)
        async with self._told:
            self._told.notify_all()
        for bot in {t.bot for t in told}:
            if bot in self.pushers:
                self.pushers[bot].wake()

    async def activities(
        self, bot: str, after: int, wait: float, limit: int
    ) -> list[Mapping[str, JsonValue]]:
        """The activities of `bot` numbered above `after`, waiting up to `wait` s for one."""
        deadline = asyncio.get_running_loop().time() + min(max(wait, 0.0), MAX_WAIT)
        limit = min(max(limit, 1), MAX_LIMIT)
        while True:
            found = self.feeds.get(bot, [])[after : after + limit]
            remaining = deadline - asyncio.get_running_loop().time()
            if found or remaining <= 0 or self.center.signal.stopping:
                return found
            async with self._told:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(remaining, 1.0)):  # notice a stopping service
                        await self._told.wait()

    async def set_endpoint(self, bot: str, url: str | None, after: int | None) -> int:
        """Push `bot`'s activities to `url` (None: stop), from the one after `after` (default:
        where pushing got to, 0 the first time). Returns that number."""
        async with self._lock:
            old = self.pushers.pop(bot, None)
            if old is not None:
                await old.stop()
            pushed = after if after is not None else (0 if old is None else old.pushed)
            if old is None and after is None:
                pushed = (await self.log.endpoints()).get(bot, ("", 0))[1]
            await self.log.set_endpoint(bot, url, pushed)
            if url is not None:
                self._start_pusher(bot, url, pushed)
            return pushed

    def _start_pusher(self, bot: str, url: str, pushed: int) -> None:
        async def save(number: int) -> None:
            await self.log.set_pushed(bot, number)

        pusher = Pusher(
            bot=bot,
            url=url,
            pushed=pushed,
            pending=lambda after: list(self.feeds.get(bot, [])[after:]),
            save=save,
        )
        self.pushers[bot] = pusher
        pusher.start()

    async def close(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
        for pusher in self.pushers.values():
            await pusher.stop()
        async with self._lock:
            await self.log.close()


def _seq(line: Mapping[str, JsonValue]) -> int:
    seq = line["seq"]
    assert isinstance(seq, int)
    return seq


def _refusal(reply: Reply) -> str | None:
    if reply.status != 409:
        return None
    error = reply.body.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    return str(message) if message is not None else "refused"


class BotHubs:
    """The hubs of one service's centers, their logs under the data directory."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self._hubs: dict[str, CenterHub] = {}
        self._lock = asyncio.Lock()

    async def open_existing(self, centers: list[CenterBackend]) -> None:
        """Open the hubs of the centers that spoke Bot Framework before (their pushers resume)."""
        for center in centers:
            if (self.data / f"{center.name}{SUFFIX}").exists():
                await self.of(center)

    async def of(self, center: CenterBackend) -> CenterHub:
        async with self._lock:
            hub = self._hubs.get(center.name)
            if hub is None:
                path = self.data / f"{center.name}{SUFFIX}"
                hub = self._hubs[center.name] = await CenterHub.open(center, path)
            return hub

    async def close(self) -> None:
        for hub in self._hubs.values():
            await hub.close()
        self._hubs.clear()


def endpoint_url(body: object) -> tuple[str | None, int | None]:
    """The `{"url": ..., "after": ...}` of `PUT .../endpoint`: an http(s) URL or null."""
    if not isinstance(body, dict) or "url" not in body:
        raise HubProblem(422, "invalid_endpoint", 'the body must be {"url": "http://..."}', "")
    url, after = body["url"], body.get("after")
    unknown = sorted(set(body) - {"url", "after"})
    if unknown:
        raise HubProblem(422, "invalid_endpoint", f"{unknown[0]}: unknown key", unknown[0])
    if url is not None and (
        not isinstance(url, str)
        or urlsplit(url).scheme not in ("http", "https")
        or not urlsplit(url).netloc
    ):
        raise HubProblem(422, "invalid_endpoint", "url: must be an http or https URL", "url")
    if after is not None and (isinstance(after, bool) or not isinstance(after, int) or after < 0):
        raise HubProblem(422, "invalid_endpoint", "after: must be a whole number >= 0", "after")
    return url, after


# -- the routes (registered by `handoff_fsm.service.app.build_app`) -----------------------------

CenterOf = Callable[[Request], CenterBackend]
BodyOf = Callable[[Request], Awaitable[object]]
NumberOf = Callable[..., float]
"""The app's reader of a number in the query (`request, name, default, *, whole`)."""


def _problem(problem: HubProblem) -> JSONResponse:
    error: dict[str, JsonValue] = {"code": problem.code, "message": str(problem)}
    if problem.place is not None:
        error["place"] = problem.place
        error["problem"] = str(problem).removeprefix(f"{problem.place}: ")
    return JSONResponse({"error": error}, status_code=problem.status)


def botframework_routes(
    hubs: BotHubs, center_of: CenterOf, body_of: BodyOf, number_of: NumberOf
) -> list[Route]:
    """SPEC §7's routes; the app's readers of the center (404), the body and the query answer
    bad requests in the app's own way."""

    async def post_activity(request: Request) -> Response:
        center = center_of(request)
        try:
            activity = await body_of(request)
            hub = await hubs.of(center)
            status, body = await hub.post(
                request.path_params["participant"], activity, request.query_params.get("queue")
            )
        except HubProblem as problem:
            return _problem(problem)
        return JSONResponse(body, status_code=status)

    async def get_activities(request: Request) -> Response:
        center = center_of(request)
        try:
            hub = await hubs.of(center)
            found = await hub.activities(
                request.path_params["participant"],
                after=int(number_of(request, "after", 0, whole=True)),
                wait=number_of(request, "wait", 0.0, whole=False),
                limit=int(number_of(request, "limit", MAX_LIMIT, whole=True)),
            )
        except HubProblem as problem:
            return _problem(problem)
        return JSONResponse({"activities": [dict(activity) for activity in found]})

    async def put_endpoint(request: Request) -> Response:
        center = center_of(request)
        bot = request.path_params["participant"]
        try:
            url, after = endpoint_url(await body_of(request))
            hub = await hubs.of(center)
            await hub.check_participant(bot)
            pushed = await hub.set_endpoint(bot, url, after)
        except HubProblem as problem:
            return _problem(problem)
        return JSONResponse({"participant": bot, "url": url, "pushed": pushed})

    base = "/centers/{center}/botframework/{participant}"
    return [
        Route(base, post_activity, methods=["POST"]),
        Route(f"{base}/activities", get_activities),
        Route(f"{base}/endpoint", put_endpoint, methods=["PUT"]),
    ]


__all__ = ["BotHubs", "CenterHub", "HubProblem", "botframework_routes", "endpoint_url"]
