"""The bytes of upload bodies an Ingress replica receives at once are bounded: a request
waits for room before its body is read, one that finds none in time is a clean 503, and
no more than was reserved may arrive, nor may a body stall holding its share."""

import asyncio

import httpx
import pytest
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartParser
from starlette.requests import Request
from starlette.responses import JSONResponse

from deployments.middleware import BodyLimit, UploadBudget


class Held:
    """An upload route behind BodyLimit and its budget that holds each request until
    `release`."""

    def __init__(self, limit: int, wait_s: float = 5, idle_s: float = 5):
        self.release = asyncio.Event()
        self.entered = 0
        self.budget = UploadBudget(limit, wait_s=wait_s)
        self.buffered = BodyLimit(self._app, max_bytes=100, upload_paths={"/upload"},
                                  upload_max_bytes=10 * limit, budget=self.budget,
                                  idle_s=idle_s)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.buffered),
                                        base_url="http://t")

    async def _app(self, scope, receive, send):
        if scope["path"] != "/upload":
            return await JSONResponse({})(scope, receive, send)
        self.entered += 1
        body = await Request(scope, receive).body()
        await self.release.wait()
        await JSONResponse({"bytes": len(body)})(scope, receive, send)

    def post(self, content) -> asyncio.Task:
        return asyncio.create_task(self.client.post("/upload", content=content))

    async def until_entered(self, count: int) -> None:
        while self.entered < count:
            await asyncio.sleep(0.01)


def test_an_upload_waits_for_room_then_is_received():
    async def scenario():
        held = Held(limit=1000)
        first = held.post(b"a" * 800)
        await held.until_entered(1)
        second = held.post(b"b" * 800)
        await asyncio.sleep(0.2)
        assert held.entered == 1 and held.budget.held == 800  # waiting, its body unread
        held.release.set()
        answers = await asyncio.gather(first, second)
        assert [a.json()["bytes"] for a in answers] == [800, 800] and held.entered == 2
        assert held.budget.held == 0

    asyncio.run(scenario())


def test_no_room_in_time_is_503_with_retry_after():
    async def scenario():
        held = Held(limit=1000, wait_s=0.2)
        first = held.post(b"a" * 900)
        await held.until_entered(1)
        refused = await held.client.post("/upload", content=b"b" * 200)
        assert refused.status_code == 503
        assert int(refused.headers["Retry-After"]) > 0 and refused.json()["detail"]
        assert held.entered == 1 and held.budget.held == 900
        # Other paths are not counted.
        assert (await held.client.get("/elsewhere")).status_code == 200
        held.release.set()
        assert (await first).status_code == 200
        assert held.budget.held == 0

    asyncio.run(scenario())


def test_a_chunked_upload_reserves_the_body_limit_and_one_over_the_budget_waits_alone():
    async def scenario():
        # The body limit (10 × the budget) is more than the whole budget: it takes it all.
        held = Held(limit=1000)

        async def chunks():
            yield b"x" * 10

        chunked = held.post(chunks())
        await held.until_entered(1)
        assert held.budget.held == 1000
        small = held.post(b"y")
        await asyncio.sleep(0.2)
        assert held.entered == 1
        held.release.set()
        answers = await asyncio.gather(chunked, small)
        assert [a.json()["bytes"] for a in answers] == [10, 1]
        assert held.budget.held == 0

    asyncio.run(scenario())


async def _call(buffered: BodyLimit, headers: list, messages: list) -> list[dict]:
    """One request at the ASGI level, its body as given (a lying Content-Length, a stall)."""
    sent: list[dict] = []
    queue = list(messages)

    async def receive():
        if not queue:
            await asyncio.Event().wait()  # the client sends nothing more
        return queue.pop(0)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/upload", "headers": headers,
             "query_string": b"", "root_path": ""}
    try:
        await buffered(scope, receive, send)
    except Exception as exc:  # what the app's exception handlers would answer
        sent.append({"type": "raised", "status": getattr(exc, "status_code", None)})
    return sent


def test_more_than_was_declared_is_413_and_a_stalled_body_is_408():
    async def scenario():
        held = Held(limit=1000, idle_s=0.2)
        held.release.set()
        lying = await _call(held.buffered, [(b"content-length", b"5")], [
            {"type": "http.request", "body": b"x" * 5, "more_body": True},
            {"type": "http.request", "body": b"x" * 500, "more_body": False}])
        assert lying[-1] == {"type": "raised", "status": 413}
        stalled = await _call(held.buffered, [(b"content-length", b"100")], [
            {"type": "http.request", "body": b"x" * 10, "more_body": True}])
        assert stalled[-1] == {"type": "raised", "status": 408}
        assert held.budget.held == 0  # both gave their share back

    asyncio.run(scenario())


def test_a_request_canceled_while_held_gives_its_share_back():
    async def scenario():
        held = Held(limit=1000)
        first = held.post(b"a" * 600)
        await held.until_entered(1)
        waiting = held.post(b"b" * 600)
        await asyncio.sleep(0.1)
        first.cancel()  # the client went away
        await asyncio.gather(first, return_exceptions=True)
        await held.until_entered(2)  # the waiting one was let in by the freed share
        assert held.budget.held == 600
        held.release.set()
        assert (await waiting).status_code == 200
        assert held.budget.held == 0

    asyncio.run(scenario())


def test_the_ingress_parses_photos_in_memory(api):
    # `api` builds the Ingress app, which lifts Starlette's spool size to the body limit.
    from configs import UploadSettings

    assert MultiPartParser.spool_max_size >= UploadSettings().body_bytes


class _Caller:
    """What PreAuth leaves on the request: a principal with a user id."""

    def __init__(self, user_id: str):
        self.user = type("User", (), {"id": user_id})()


def _as(app, user_id: str):
    async def with_caller(scope, receive, send):
        scope.setdefault("state", {})["principal"] = _Caller(user_id)
        await app(scope, receive, send)
    return with_caller


def test_one_account_holds_at_most_two_uploads_and_a_quarter_of_the_budget():
    """Audit round 3: five slow uploads of one free account held the whole buffer."""
    async def scenario():
        held = Held(limit=4000, wait_s=0.3)  # an account over its share waits this, then 429
        held.buffered = BodyLimit(held._app, max_bytes=100, upload_paths={"/upload"},
                                  upload_max_bytes=40_000, budget=held.budget, idle_s=5)
        mallory = httpx.AsyncClient(transport=httpx.ASGITransport(
            app=_as(held.buffered, "mallory")), base_url="http://t")
        alice = httpx.AsyncClient(transport=httpx.ASGITransport(
            app=_as(held.buffered, "alice")), base_url="http://t")
        first = asyncio.create_task(mallory.post("/upload", content=b"a" * 600))
        await held.until_entered(1)
        over_share = await mallory.post("/upload", content=b"b" * 600)  # 1200 > 4000 / 4
        assert over_share.status_code == 429 and "share" in over_share.json()["detail"]
        second = asyncio.create_task(mallory.post("/upload", content=b"c" * 100))
        await held.until_entered(2)
        third = await mallory.post("/upload", content=b"d" * 10)
        assert third.status_code == 429 and "2 uploads in progress" in third.json()["detail"]
        assert int(third.headers["Retry-After"]) > 0
        others = asyncio.create_task(alice.post("/upload", content=b"e" * 900))
        await held.until_entered(3)  # another account is not held back
        held.release.set()
        assert [(await t).status_code for t in (first, second, others)] == [200, 200, 200]
        assert held.budget.held == 0 and held.budget.owners == {}

    asyncio.run(scenario())


def test_a_body_slower_than_the_minimum_rate_is_408_and_frees_its_share():
    async def scenario():
        budget = UploadBudget(10_000)
        received = []

        async def app(scope, receive, send):
            received.append(await Request(scope, receive).body())
            await JSONResponse({})(scope, receive, send)

        limited = BodyLimit(app, max_bytes=100, upload_paths={"/upload"},
                            upload_max_bytes=10_000, budget=budget, idle_s=5,
                            min_rate=1000, rate_window_s=0.3)

        async def drip():  # 10 bytes every 0.1 s: 100 B/s, under 1000 B/s
            for _ in range(20):
                yield b"x" * 10
                await asyncio.sleep(0.1)

        async def steady():  # 400 bytes every 0.1 s: 4000 B/s
            for _ in range(8):
                yield b"y" * 400
                await asyncio.sleep(0.1)

        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=limited),
                                   base_url="http://t")
        # Raised into the app's receive (FastAPI's handlers answer it: 408).
        with pytest.raises(HTTPException) as slow:
            await client.post("/upload", content=drip(), headers={"content-length": "200"})
        assert slow.value.status_code == 408 and "slower than" in slow.value.detail
        assert budget.held == 0 and not received
        fast = await client.post("/upload", content=steady(),
                                 headers={"content-length": "3200"})
        assert fast.status_code == 200 and received == [b"y" * 3200]  # past the window

    asyncio.run(scenario())
