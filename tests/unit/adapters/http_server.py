"""A small real HTTP/1.1 server on loopback (asyncio streams) whose answers a test writes:
what a slow, careless or hostile local system sends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlparse


@dataclass(frozen=True, kw_only=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: bytes


@dataclass(kw_only=True)
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    chunks: AsyncIterator[bytes] | None = None  # the body, written as it comes
    body: bytes = b""


Handler = Callable[[Request], Awaitable[Answer]]


@dataclass
class Server:
    """``async with serve(handler) as server``: ``server.url``; ``server.sent`` counts the
    body bytes the server managed to write before the client hung up."""

    handler: Handler
    url: str = ""
    sent: int = 0
    requests: list[Request] = field(default_factory=list)
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)  # a connection ended

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while request := await _read_request(reader):
                self.requests.append(request)
                answer = await self.handler(request)
                await self._write(writer, answer)
                if answer.chunks is not None:
                    break  # a streamed body ends with the connection
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self.hung_up.set()

    async def _write(self, writer: asyncio.StreamWriter, answer: Answer) -> None:
        headers = dict(answer.headers)
        if answer.chunks is None:
            headers.setdefault("Content-Length", str(len(answer.body)))
        head = f"HTTP/1.1 {answer.status} X\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in headers.items()
        )
        writer.write((head + "\r\n").encode("latin-1") + answer.body)
        await writer.drain()
        self.sent += len(answer.body)
        if answer.chunks is not None:
            async for chunk in answer.chunks:
                writer.write(chunk)
                await writer.drain()
                self.sent += len(chunk)


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    line = await reader.readline()
    if not line.strip():
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    length = 0
    while (header := await reader.readline()).strip():
        name, _, value = header.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    url = urlparse(target)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    return Request(method=method, path=url.path, query=query, body=body)


@contextlib.asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[Server]:
    server = Server(handler)
    listening = await asyncio.start_server(server._serve, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    server.url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        listening.close()
        await listening.wait_closed()
