"""The app's "Test connection" against real servers on 127.0.0.1: a relay with operator
credentials and a real coturn; a relay with a certificate nobody trusts; a wrong or missing
credential; nothing listening; something that is not a relay; a relay without TURN."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from aiohttp import web

from telehealth.ice import IceConfig, TurnConfig
from telehealth.relay_check import RelayCheck, check_relay
from telehealth.relay_credentials import CredentialStore
from telehealth.self_signed import make_self_signed


def run(coro: Coroutine[Any, Any, RelayCheck]) -> RelayCheck:
    return asyncio.run(asyncio.wait_for(coro, timeout=40))


def states(result: RelayCheck) -> dict[str, bool | None]:
    return {step.name: step.ok for step in result.steps}


def test_a_working_relay_passes_every_step(relay_server: Any, coturn: Any, tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "credentials.json")
    _cred, token = store.issue("Dr Rivera", 3)
    ice = IceConfig(turn=TurnConfig(urls=(coturn.url,), secret=coturn.secret, ttl=600))

    async def scenario() -> RelayCheck:
        async with relay_server(credentials=store, ice_config=ice) as (_server, base):
            return await check_relay(base, token)

    result = run(scenario())
    assert states(result) == {
        "reach": True,
        "tls": None,
        "version": True,
        "credential": True,
        "turn": True,
    }, result
    assert result.ok
    assert "allocated 127.0.0.1:" in result.step("turn").detail
    assert "ALLOCATE processed, success" in coturn.log()


def test_wrong_and_missing_credentials_are_explained(relay_server: Any, tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "credentials.json")
    _cred, token = store.issue("Dr Rivera", 3)
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")

    async def scenario() -> tuple[RelayCheck, RelayCheck]:
        async with relay_server(credentials=store) as (_server, base):
            return await check_relay(base, forged), await check_relay(base, "")

    wrong, missing = asyncio.run(scenario())
    assert states(wrong)["credential"] is False and states(wrong)["turn"] is None
    assert "did not accept your practice's key" in wrong.step("credential").words
    assert "Enter the key" in missing.step("credential").words
    assert not wrong.ok and not missing.ok


def test_an_untrusted_certificate_fails_the_tls_step(relay_server: Any, tmp_path: Path) -> None:
    cert = make_self_signed(tmp_path / "cert", "127.0.0.1")

    async def scenario() -> RelayCheck:
        async with relay_server(tls_cert=cert.cert_path, tls_key=cert.key_path) as (server, _b):
            return await check_relay(f"https://127.0.0.1:{server.port}", "")

    result = run(scenario())
    assert states(result) == {
        "reach": True,
        "tls": False,
        "version": None,
        "credential": None,
        "turn": None,
    }
    assert "certificate is not valid" in result.step("tls").words
    assert "certificate verify failed" in result.step("tls").detail


def test_nothing_listening_and_not_a_relay(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    result = run(check_relay(f"http://127.0.0.1:{closed_port}", ""))
    assert states(result)["reach"] is False
    assert "Nothing answered" in result.step("reach").words

    async def scenario() -> RelayCheck:
        app = web.Application()

        async def page(_request: web.Request) -> web.Response:
            return web.Response(text="a web site")

        app.router.add_get("/", page)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            return await check_relay(f"http://127.0.0.1:{port}", "")
        finally:
            await runner.cleanup()

    result = run(scenario())
    assert states(result)["version"] is False
    assert "does not lead to a Quietroom session service" in result.step("version").words


def test_a_relay_without_turn_is_reported(relay_server: Any, tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "credentials.json")
    _cred, token = store.issue("Dr Rivera", 3)

    async def scenario() -> RelayCheck:
        async with relay_server(credentials=store) as (_server, base):
            return await check_relay(base, token)

    result = run(scenario())
    assert states(result)["turn"] is False
    assert "offers no media relay" in result.step("turn").words
