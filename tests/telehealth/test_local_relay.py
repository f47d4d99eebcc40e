"""The relay run inside the app: its own thread and loop, 127.0.0.1 on a free port, the client page,
a clean stop that frees the port."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from telehealth import local_relay
from telehealth.errors import RelayConfigError
from telehealth.invite import new_invite
from telehealth.local_relay import LocalRelay, lan_address
from telehealth.relay import DEFAULT_STATIC_DIR


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, dict(response.headers), response.read()


def port_is_free(port: int) -> bool:
    """Nothing listens there and a server may bind it again (with SO_REUSEADDR, as every server
    does: closed connections linger in TIME_WAIT for a minute)."""
    with (
        contextlib.suppress(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=2),
    ):
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def relay_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "quietroom-relay"]


def test_starts_on_loopback_serves_health_and_the_page_and_stops_cleanly() -> None:
    assert DEFAULT_STATIC_DIR is not None, "resources/web must be installed for this test"
    relay = LocalRelay()
    before = len(relay_threads())
    origin = relay.start()
    try:
        assert relay.running and relay.host == "127.0.0.1"
        assert origin == f"http://127.0.0.1:{relay.port}" and relay.port > 0
        assert relay.start() == origin  # already running: the same relay
        assert len(relay_threads()) == before + 1

        status, _, body = get(f"{origin}/healthz")
        assert status == 200 and json.loads(body) == {"status": "ok", "version": "1"}

        status, headers, page = get(f"{origin}/j/")
        assert status == 200
        assert page == (DEFAULT_STATIC_DIR / "index.html").read_bytes()
        assert headers["Referrer-Policy"] == "no-referrer"
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        status, _, script = get(f"{origin}/j/js/app.js")
        assert status == 200 and script == (DEFAULT_STATIC_DIR / "js" / "app.js").read_bytes()

        # An invitation can name it: http is accepted for this computer only.
        invite = new_invite(origin)
        assert invite.link.startswith(f"{origin}/j/#")
        port = relay.port
        assert not port_is_free(port)
    finally:
        relay.stop()
    assert not relay.running
    assert port_is_free(port)
    assert len(relay_threads()) == before
    with pytest.raises(RuntimeError):
        _ = relay.origin
    relay.stop()  # a second stop is harmless
    with LocalRelay(port=port) as again:  # the same port can be used at once
        assert again.origin == origin


def test_stop_closes_open_sockets(tmp_path: Path) -> None:
    """A socket still connected (a client's page left open) does not keep the relay alive."""
    relay = LocalRelay(static_dir=tmp_path)
    relay.start()
    port = relay.port
    conn = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert b"200 OK" in conn.recv(4096)  # keep-alive: the connection stays open
        relay.stop()
        assert port_is_free(port)
        assert conn.recv(4096) == b""  # closed by the relay
    finally:
        conn.close()


def test_can_start_again_after_stop(tmp_path: Path) -> None:
    relay = LocalRelay(static_dir=tmp_path)
    first = relay.start()
    relay.stop()
    second = relay.start()
    try:
        assert get(f"{second}/healthz")[0] == 200
        status, _, page = get(f"{second}/j/")  # no page installed here: the placeholder
        assert status == 200 and b"not installed" in page
    finally:
        relay.stop()
    assert first.startswith("http://127.0.0.1:")


def test_a_port_in_use_is_a_clear_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        before = len(relay_threads())
        with pytest.raises(RelayConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            LocalRelay(port=port).start()
        assert len(relay_threads()) == before  # the loop thread did not stay behind


def test_other_computers_need_tls() -> None:
    """Without TLS, browsers elsewhere would not allow the camera and the link would be refused:
    a non-loopback address fails before anything listens."""
    before = len(relay_threads())
    with pytest.raises(RelayConfigError, match="TLS"):
        LocalRelay("192.0.2.10").start()
    assert len(relay_threads()) == before


def test_lan_address_falls_back_to_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoNetwork:
        def __init__(self, *_args: Any) -> None:
            pass

        def __enter__(self) -> NoNetwork:
            return self

        def __exit__(self, *_args: Any) -> None:
            pass

        def connect(self, _address: Any) -> None:
            raise OSError("network is unreachable")

    monkeypatch.setattr(local_relay.socket, "socket", NoNetwork)
    assert lan_address() == "127.0.0.1"


def test_lan_address_is_the_routed_interface(monkeypatch: pytest.MonkeyPatch) -> None:
    class Routed:
        def __init__(self, *_args: Any) -> None:
            self.peer: Any = None

        def __enter__(self) -> Routed:
            return self

        def __exit__(self, *_args: Any) -> None:
            pass

        def connect(self, address: Any) -> None:
            self.peer = address

        def getsockname(self) -> tuple[str, int]:
            assert self.peer == ("192.0.2.1", 9)  # a documentation address: nothing is sent
            return ("192.168.1.23", 40000)

    monkeypatch.setattr(local_relay.socket, "socket", Routed)
    assert lan_address() == "192.168.1.23"
