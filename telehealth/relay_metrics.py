"""The relay's Prometheus metrics: counts only, never a room id, a name or an address.

Served at ``/metrics`` (text exposition format) to the addresses in ``metrics_from``.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REFUSAL_REASONS: Final = (
    "bad_room_id",
    "per_address",
    "relay_busy",
    "room_full",
    "credential",
    "quota",
    "therapist_absent",
    "waiting_full",
    "rate_limited",
    "malformed",
    "too_big",
    "connections",
    "evicted",
    "rooms_unavailable",
)


class RelayMetrics:
    """One registry per relay (so tests and several relays in one process do not mix)."""

    content_type: Final = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.rooms = Gauge(
            "quietroom_relay_rooms", "Rooms with a socket on this instance", registry=self.registry
        )
        self.sockets = Gauge(
            "quietroom_relay_sockets",
            "Open room sockets on this instance, by state",
            ["state"],
            registry=self.registry,
        )
        self.connections = Gauge(
            "quietroom_relay_connections", "Open TCP connections", registry=self.registry
        )
        self.refusals = Counter(
            "quietroom_relay_refusals",
            "Sockets or connections refused or closed by a limit, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.frames = Counter(
            "quietroom_relay_frames", "Signalling frames forwarded", registry=self.registry
        )
        self.bytes = Counter(
            "quietroom_relay_bytes",
            "Signalling bytes, by direction",
            ["direction"],
            registry=self.registry,
        )
        for reason in REFUSAL_REASONS:
            self.refusals.labels(reason=reason)
        for state in ("seated", "waiting"):
            self.sockets.labels(state=state)
        for direction in ("in", "out"):
            self.bytes.labels(direction=direction)

    def refuse(self, reason: str) -> None:
        self.refusals.labels(reason=reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
