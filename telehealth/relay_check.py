"""The app's "Test connection": is a hosted session service usable, step by step.

Five steps, each with plain words for the therapist and a technical detail for whoever helps them
with IT: the address answers (``reach``), its certificate is valid (``tls``), it is a Quietroom
relay speaking our version (``version``), it accepts the practice's credential (``credential``),
and its TURN server allocates a relay for media (``turn``, with the short-lived credentials the
relay hands out). A step that fails stops the ones that depend on it (they are "not checked").
Nothing here sends a room id, a name or anything about a client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp

RELAY_VERSION: Final = "1"
_TURN_URL = re.compile(r"(turns?):([^?:]+|\[[^\]]+\]):?(\d+)?(?:\?transport=(udp|tcp))?")


@dataclass(frozen=True)
class CheckStep:
    name: str  # reach, tls, version, credential, turn
    ok: bool | None  # None: not checked (an earlier step failed), or not needed
    words: str  # for the therapist
    detail: str = ""  # for IT: what exactly happened


@dataclass(frozen=True)
class RelayCheck:
    steps: tuple[CheckStep, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(step.ok is not False for step in self.steps)

    def step(self, name: str) -> CheckStep:
        return next(s for s in self.steps if s.name == name)


def _host_port(url: str) -> tuple[str, int, bool]:
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    return parts.hostname or "", parts.port or (443 if secure else 80), secure


async def _reach(host: str, port: int, timeout: float) -> CheckStep:
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except socket.gaierror as exc:
        return CheckStep(
            "reach",
            False,
            "This address could not be found. Check that it is typed exactly as your provider "
            "gave it, and that this computer is online.",
            f"name lookup for {host} failed: {exc}",
        )
    except (OSError, TimeoutError) as exc:
        return CheckStep(
            "reach",
            False,
            "Nothing answered at this address. The service may be down, or a firewall on this "
            "network may block it. Try again later, or from another network.",
            f"TCP connection to {host}:{port} failed: {type(exc).__name__} {exc}",
        )
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return CheckStep("reach", True, "The address answers.", f"TCP {host}:{port} connected")


async def _tls(host: str, port: int, context: ssl.SSLContext, timeout: float) -> CheckStep:
    try:
        _reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context, server_hostname=host), timeout
        )
    except ssl.SSLCertVerificationError as exc:
        return CheckStep(
            "tls",
            False,
            "The service's security certificate is not valid for this address, so Quietroom "
            "will not use it. Check the address, or tell your provider.",
            f"certificate verification failed: {exc.verify_message} ({exc})",
        )
    except (ssl.SSLError, OSError, TimeoutError) as exc:
        return CheckStep(
            "tls",
            False,
            "A secure connection to the service could not be made. Check the address begins "
            "with https:// and is the one your provider gave you.",
            f"TLS handshake with {host}:{port} failed: {type(exc).__name__} {exc}",
        )
    ssl_object = writer.get_extra_info("ssl_object")
    version = ssl_object.version() if ssl_object is not None else "?"
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return CheckStep("tls", True, "The connection is secure.", f"{version}, certificate valid")


async def _allocate(url: str, username: str, password: str, timeout: float) -> str:
    """Allocate a TURN relay through ``url``; return its relayed address. Raises on failure."""
    from aioice import turn  # aiortc's ICE library

    match = _TURN_URL.fullmatch(url)
    if match is None:
        raise ValueError(f"not a TURN URL: {url}")
    scheme, host, port_text, transport = match.groups()
    host = host.strip("[]")
    port = int(port_text or (5349 if scheme == "turns" else 3478))
    secure = scheme == "turns"
    transport = transport or ("tcp" if secure else "udp")
    endpoint, _protocol = await asyncio.wait_for(
        turn.create_turn_endpoint(
            asyncio.DatagramProtocol,
            server_addr=(host, port),
            username=username,
            password=password,
            transport=transport,
            ssl=secure,
        ),
        timeout,
    )
    relayed = endpoint.get_extra_info("sockname")
    endpoint.close()
    return f"{relayed[0]}:{relayed[1]}"


async def _turn(servers: list[dict[str, Any]], timeout: float) -> CheckStep:
    turn_servers = [
        s for s in servers if any(str(u).startswith(("turn:", "turns:")) for u in _urls(s))
    ]
    if not turn_servers:
        return CheckStep(
            "turn",
            False,
            "The service offers no media relay. Clients behind strict firewalls (some offices, "
            "hospitals, schools) will not be able to connect. Ask your provider to add one.",
            "no turn: or turns: URL in the relay's ICE servers",
        )
    problems = []
    for server in turn_servers:
        for url in _urls(server):
            if not str(url).startswith(("turn:", "turns:")):
                continue
            try:
                relayed = await _allocate(
                    str(url),
                    str(server.get("username", "")),
                    str(server.get("credential", "")),
                    timeout,
                )
            except Exception as exc:  # each failure is reported, not raised
                problems.append(f"{url}: {type(exc).__name__} {exc}")
                continue
            return CheckStep(
                "turn",
                True,
                "The media relay works, also for clients behind strict firewalls.",
                f"allocated {relayed} through {url}"
                + (f"; {'; '.join(problems)}" if problems else ""),
            )
    return CheckStep(
        "turn",
        False,
        "The service's media relay did not answer. Calls still work for most clients, but "
        "not for those behind strict firewalls. Tell your provider.",
        "; ".join(problems),
    )


def _urls(server: dict[str, Any]) -> list[str]:
    urls = server.get("urls", [])
    return [urls] if isinstance(urls, str) else [str(u) for u in urls]


async def check_relay(
    url: str,
    credential: str,
    *,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = 8.0,
) -> RelayCheck:
    """Check the relay at ``url`` (``https://host[:port]``) with the practice's ``credential``."""
    steps: list[CheckStep] = []

    def skipped(*names: str) -> RelayCheck:
        for name in names:
            steps.append(CheckStep(name, None, "Not checked (an earlier step failed)."))
        return RelayCheck(tuple(steps))

    host, port, secure = _host_port(url)
    reach = await _reach(host, port, timeout)
    steps.append(reach)
    if not reach.ok:
        return skipped("tls", "version", "credential", "turn")
    context = ssl_context or ssl.create_default_context()
    if secure:
        tls = await _tls(host, port, context, timeout)
        steps.append(tls)
        if not tls.ok:
            return skipped("version", "credential", "turn")
    else:
        steps.append(CheckStep("tls", None, "Not needed: the service is on this computer."))
    base = url.rstrip("/")
    headers = {"Authorization": f"Bearer {credential}"} if credential else {}
    ssl_arg: ssl.SSLContext | bool = context if secure else False
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(timeout=client_timeout) as http:
        try:
            async with http.get(f"{base}/healthz", ssl=ssl_arg) as response:
                health = json.loads(await response.text()) if response.status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            health = None
            detail = f"GET /healthz: {type(exc).__name__} {exc}"
        else:
            detail = f"GET /healthz: {health!r}"
        if not isinstance(health, dict) or health.get("status") != "ok":
            steps.append(
                CheckStep(
                    "version",
                    False,
                    "This address does not lead to a Quietroom session service. Check the address.",
                    detail,
                )
            )
            return skipped("credential", "turn")
        if str(health.get("version")) != RELAY_VERSION:
            steps.append(
                CheckStep(
                    "version",
                    False,
                    "The service runs a different version of Quietroom's session service. Ask your "
                    "provider to update it, or update Quietroom.",
                    f"relay protocol {health.get('version')!r}, this app speaks {RELAY_VERSION!r}",
                )
            )
            return skipped("credential", "turn")
        steps.append(
            CheckStep(
                "version", True, "It is a Quietroom session service.", f"protocol {RELAY_VERSION}"
            )
        )
        try:
            async with http.get(f"{base}/v1/check", ssl=ssl_arg, headers=headers) as response:
                status = response.status
                body = json.loads(await response.text())
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            steps.append(
                CheckStep(
                    "credential",
                    False,
                    "The service did not answer the check of your practice's key. Try again.",
                    f"GET /v1/check: {type(exc).__name__} {exc}",
                )
            )
            return skipped("turn")
    if status == 200 and body.get("credential") == "accepted":
        steps.append(
            CheckStep("credential", True, "Your practice's key is accepted.", "credential accepted")
        )
    elif credential:
        steps.append(
            CheckStep(
                "credential",
                False,
                "The service did not accept your practice's key. Check it was copied whole; if it "
                "was, ask your provider whether it was withdrawn.",
                f"HTTP {status}: {body.get('credential')}",
            )
        )
        return skipped("turn")
    else:
        steps.append(
            CheckStep(
                "credential",
                False,
                "Enter the key your provider gave your practice: without it you cannot open "
                "sessions on this service.",
                f"HTTP {status}: no credential sent",
            )
        )
        return skipped("turn")
    servers = body.get("iceServers", [])
    steps.append(await _turn(servers if isinstance(servers, list) else [], timeout))
    return RelayCheck(tuple(steps))


def check_relay_blocking(
    url: str, credential: str, *, ssl_context: ssl.SSLContext | None = None, timeout: float = 8.0
) -> RelayCheck:
    """:func:`check_relay` from a worker thread (its own event loop)."""
    return asyncio.run(check_relay(url, credential, ssl_context=ssl_context, timeout=timeout))
