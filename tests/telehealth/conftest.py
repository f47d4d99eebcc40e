"""Fixtures for the telehealth tests: vector files, sample SDP, a relay on 127.0.0.1."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import aioice.ice
import pytest

from telehealth.relay import RelayLimits, RelayServer, start_relay

VECTORS = Path(__file__).parent / "vectors"


class FakeClock:
    """A monotonic clock that only moves when a test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def load_vectors() -> Callable[[str], Any]:
    def load(name: str) -> Any:
        return json.loads((VECTORS / name).read_text(encoding="utf-8"))

    return load


def _sdp(fingerprints: list[str], media_fingerprints: list[str] | None = None) -> str:
    lines = ["v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0"]
    lines += [f"a=fingerprint:{fp}" for fp in fingerprints]
    lines += ["a=group:BUNDLE 0", "m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 0.0.0.0"]
    lines += [f"a=fingerprint:{fp}" for fp in media_fingerprints or []]
    lines += ["a=setup:actpass", "a=mid:0", "a=rtpmap:111 opus/48000/2"]
    return "\r\n".join(lines) + "\r\n"


@pytest.fixture
def make_sdp() -> Callable[..., str]:
    """Build a minimal SDP with the given session-level (and media-level) fingerprint lines."""
    return _sdp


@pytest.fixture
def relay_server(
    tmp_path: Path,
) -> Callable[..., contextlib.AbstractAsyncContextManager[tuple[RelayServer, str]]]:
    """``async with relay_server(limits=..., clock=...) as (server, base_url)``: a real relay on
    127.0.0.1 with a free port, stopped afterwards."""

    @contextlib.asynccontextmanager
    async def run(**kwargs: Any) -> AsyncIterator[tuple[RelayServer, str]]:
        kwargs.setdefault("static_dir", tmp_path / "no-web")
        kwargs.setdefault("limits", RelayLimits(sweep_interval=3600.0))
        server = await start_relay("127.0.0.1", 0, **kwargs)
        try:
            yield server, f"http://127.0.0.1:{server.port}"
        finally:
            await server.stop()

    return run


_CLOSED = (
    aiohttp.WSMsgType.CLOSE,
    aiohttp.WSMsgType.CLOSED,
    aiohttp.WSMsgType.CLOSING,
    aiohttp.WSMsgType.ERROR,
)


async def receive_close(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0) -> int | None:
    """Read until the server closes ``ws``; return its close code (presence notices skipped)."""
    while True:
        msg = await ws.receive(timeout=timeout)
        if msg.type == aiohttp.WSMsgType.CLOSE:
            # The code the relay sent; ws.close_code may read 1006 if the relay dropped the
            # connection before our reply to its close frame arrived.
            return int(msg.data)
        if msg.type in _CLOSED:
            return ws.close_code


@pytest.fixture
def wait_closed() -> Callable[..., Any]:
    return receive_close


class Blackout:
    """A network interruption for the ICE sockets of this process: while ``active`` is set every
    UDP datagram aioice receives is dropped (connectivity checks, DTLS, RTP, SCTP), as when a
    Wi-Fi link goes away. The relay's TCP socket is not touched."""

    def __init__(self) -> None:
        self.active = threading.Event()
        self.dropped = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = aioice.ice.StunProtocol.datagram_received

        def datagram_received(protocol: Any, data: bytes | str, addr: tuple[Any, ...]) -> None:
            if self.active.is_set():
                self.dropped += 1
                return
            original(protocol, data, addr)

        monkeypatch.setattr(aioice.ice.StunProtocol, "datagram_received", datagram_received)


@pytest.fixture
def blackout(monkeypatch: pytest.MonkeyPatch) -> Blackout:
    cut = Blackout()
    cut.install(monkeypatch)
    return cut


def load_coturn_helper() -> Any:
    """tests/telehealth/coturn_server.py, loaded by path (the test dirs are not packages)."""
    spec = importlib.util.spec_from_file_location(
        "quietroom_test_coturn", Path(__file__).with_name("coturn_server.py")
    )
    assert spec is not None and spec.loader is not None
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


@pytest.fixture
def coturn(tmp_path: Path) -> Any:
    """A real coturn on 127.0.0.1 (REST-API shared secret), stopped after the test. Fails,
    never skips, when ``turnserver`` is not installed."""
    with load_coturn_helper().run_coturn(tmp_path / "coturn") as server:
        yield server


def load_redis_helper() -> Any:
    """tests/telehealth/redis_server.py, loaded by path (as the coturn helper)."""
    spec = importlib.util.spec_from_file_location(
        "quietroom_test_redis", Path(__file__).with_name("redis_server.py")
    )
    assert spec is not None and spec.loader is not None
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A fresh redis-server for this test (Unix socket), stopped afterwards."""
    with load_redis_helper().run_redis(tmp_path / "redis") as url:
        yield url
