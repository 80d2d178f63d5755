"""The bytes of upload bodies an Ingress replica receives at once are bounded: a request
waits for room before its body is read, and one that finds none in time is a clean 503."""

import asyncio

import httpx
from starlette.formparsers import MultiPartParser
from starlette.requests import Request
from starlette.responses import JSONResponse

from deployments.middleware import UploadBuffer


def _buffered_app(limit: int, wait_s: float):
    """An upload route that holds its request until told to finish, behind UploadBuffer."""
    release = asyncio.Event()
    reading = asyncio.Event()

    async def app(scope, receive, send):
        if scope["path"] != "/upload":
            return await JSONResponse({})(scope, receive, send)
        body = await Request(scope, receive).body()
        reading.set()
        await release.wait()
        await JSONResponse({"bytes": len(body)})(scope, receive, send)

    buffered = UploadBuffer(app, limit_bytes=limit, upload_paths={"/upload"},
                            upload_max_bytes=10 * limit, wait_s=wait_s)
    return buffered, release, reading


def test_an_upload_waits_for_room_then_is_received():
    async def scenario():
        buffered, release, reading = _buffered_app(limit=1000, wait_s=5)
        transport = httpx.ASGITransport(app=buffered)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            first = asyncio.create_task(client.post("/upload", content=b"a" * 800))
            await reading.wait()
            assert buffered.held == 800
            second = asyncio.create_task(client.post("/upload", content=b"b" * 800))
            await asyncio.sleep(0.2)
            assert not second.done() and buffered.held == 800  # waiting, its body unread
            release.set()
            answers = await asyncio.gather(first, second)
        assert [a.json()["bytes"] for a in answers] == [800, 800]
        assert buffered.held == 0

    asyncio.run(scenario())


def test_no_room_in_time_is_503_with_retry_after_and_frees_nothing_it_did_not_take():
    async def scenario():
        buffered, release, reading = _buffered_app(limit=1000, wait_s=0.2)
        transport = httpx.ASGITransport(app=buffered)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            first = asyncio.create_task(client.post("/upload", content=b"a" * 900))
            await reading.wait()
            refused = await client.post("/upload", content=b"b" * 200)
            assert refused.status_code == 503
            assert int(refused.headers["Retry-After"]) > 0 and refused.json()["detail"]
            assert buffered.held == 900
            # Other paths and methods are not counted.
            other = await client.get("/elsewhere")
            assert other.status_code == 200 and buffered.held == 900
            release.set()
            assert (await first).status_code == 200
        assert buffered.held == 0

    asyncio.run(scenario())


def test_a_chunked_upload_reserves_the_body_limit_and_one_over_the_budget_waits_alone():
    async def scenario():
        # The body limit (10 × the budget) is more than the whole budget: it takes it all.
        buffered, release, reading = _buffered_app(limit=1000, wait_s=5)
        transport = httpx.ASGITransport(app=buffered)

        async def chunks():
            yield b"x" * 10

        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            chunked = asyncio.create_task(client.post("/upload", content=chunks()))
            await reading.wait()
            assert buffered.held == 1000
            small = asyncio.create_task(client.post("/upload", content=b"y"))
            await asyncio.sleep(0.2)
            assert not small.done()
            release.set()
            answers = await asyncio.gather(chunked, small)
        assert [a.json()["bytes"] for a in answers] == [10, 1]
        assert buffered.held == 0

    asyncio.run(scenario())


def test_the_ingress_parses_photos_in_memory(api):
    # `api` builds the Ingress app, which lifts Starlette's spool size to the body limit.
    from configs import UploadSettings

    assert MultiPartParser.spool_max_size >= UploadSettings().body_bytes
