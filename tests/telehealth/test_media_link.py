"""The engine's media-link events: a connection that dies under a call is always reported."""

from __future__ import annotations

import threading
from typing import Any

import aioice.ice
import pytest
from aiortc import AudioStreamTrack, MediaStreamTrack

from telehealth.engine import CallEngine, EngineCallbacks, LinkCause, LinkState, MediaLink
from telehealth.synthetic_media import ShadeVideo

pytestmark = pytest.mark.slow


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


def media() -> list[MediaStreamTrack]:
    return [ShadeVideo(), AudioStreamTrack()]


class Links:
    def __init__(self) -> None:
        self.seen: list[MediaLink] = []
        self._cond = threading.Condition()

    def __call__(self, link: MediaLink) -> None:
        with self._cond:
            self.seen.append(link)
            self._cond.notify_all()

    def wait(self, state: LinkState, timeout: float) -> MediaLink:
        with self._cond:
            assert self._cond.wait_for(
                lambda: any(link.state is state for link in self.seen), timeout
            ), self.seen
            return next(link for link in self.seen if link.state is state)


def connect(therapist: CallEngine, client: CallEngine) -> None:
    therapist.start()
    client.start()
    offer = therapist.create_offer().result(timeout=10)
    therapist.accept_answer(client.accept_offer(offer).result(timeout=10)).result(timeout=10)


def test_a_connection_the_other_side_closes_is_reported_dead(loopback_only: None) -> None:
    therapist_links, client_links = Links(), Links()
    therapist = CallEngine(
        "offerer",
        ice_servers=[],
        callbacks=EngineCallbacks(on_link=therapist_links),
        media=media,
        media_timeout=30,  # the silence watchdog must not be what notices
    )
    client = CallEngine(
        "answerer", ice_servers=[], callbacks=EngineCallbacks(on_link=client_links), media=media
    )
    try:
        connect(therapist, client)
        up = therapist_links.wait(LinkState.UP, 15)
        assert up.generation == 1
        client.stop()  # ends DTLS: the therapist's aiortc closes its connection by itself
        dead = therapist_links.wait(LinkState.DEAD, 10)
        assert dead == MediaLink(LinkState.DEAD, LinkCause.CLOSED, 1)
        # Our own stop is not reported as the network's doing.
        assert not any(link.state is LinkState.DEAD for link in client_links.seen)
    finally:
        therapist.stop()
        client.stop()
    assert [link.state for link in therapist_links.seen] == [LinkState.UP, LinkState.DEAD]


def test_silence_is_reported_stalled_then_up_again(loopback_only: None, blackout: Any) -> None:
    links = Links()
    therapist = CallEngine(
        "offerer",
        ice_servers=[],
        callbacks=EngineCallbacks(on_link=links),
        media=media,
        media_timeout=1.0,
    )
    client = CallEngine("answerer", ice_servers=[], callbacks=EngineCallbacks(), media=media)
    try:
        connect(therapist, client)
        links.wait(LinkState.UP, 15)
        blackout.active.set()  # every datagram to aioice is dropped: nothing arrives
        assert links.wait(LinkState.STALLED, 5) == MediaLink(LinkState.STALLED, LinkCause.SILENT, 1)
        blackout.active.clear()
        with links._cond:
            assert links._cond.wait_for(lambda: len(links.seen) >= 3, 10), links.seen
    finally:
        therapist.stop()
        client.stop()
    assert [link.state for link in links.seen] == [LinkState.UP, LinkState.STALLED, LinkState.UP]
