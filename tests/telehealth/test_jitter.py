"""The receive buffer steps over lost packets instead of waiting for the buffer to overflow."""

from __future__ import annotations

import asyncio

from aiortc import RTCPeerConnection
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

from telehealth import aiortc_internals as internals
from telehealth.jitter import (
    AUDIO_WAIT,
    NACK_RETRIES,
    VIDEO_WAIT,
    LossTolerantJitterBuffer,
    PlayoutDelay,
    PoliteNackGenerator,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def packet(seq: int, timestamp: int) -> RtpPacket:
    p = RtpPacket(payload_type=96, sequence_number=seq, timestamp=timestamp)
    p._data = bytes([seq % 256])  # type: ignore[attr-defined]  # what aiortc's depayloader sets
    return p


def test_audio_steps_over_a_lost_packet_at_once() -> None:
    clock = Clock()
    ours = LossTolerantJitterBuffer(16, prefetch=4, clock=clock)
    theirs = JitterBuffer(16, prefetch=4)
    out_ours, out_theirs = [], []
    for seq in range(1, 30):
        if seq == 6:
            continue  # lost; audio is not retransmitted
        clock.now += 0.02
        _, frame = ours.add(packet(seq, seq * 960))
        out_ours.append(frame)
        _, frame = theirs.add(packet(seq, seq * 960))
        out_theirs.append(frame)
    assert AUDIO_WAIT <= 0.06
    # aiortc's own buffer is still stuck behind the hole; ours lost only that packet's 20 ms.
    assert sum(f is not None for f in out_theirs) < sum(f is not None for f in out_ours)
    delivered = [f.timestamp // 960 for f in out_ours if f is not None]
    assert 5 in delivered and 6 not in delivered and 7 in delivered
    assert ours.holes_skipped == 1


def test_video_waits_for_a_retransmission_then_skips_the_damaged_frame() -> None:
    clock = Clock()
    buf = LossTolerantJitterBuffer(512, is_video=True, clock=clock)
    seq = 100
    frames = []
    plis = []

    def send_frame(number: int, lose: int | None = None) -> None:
        nonlocal seq
        for part in range(3):
            if part != lose:
                pli, frame = buf.add(packet(seq, number * 3000))
                plis.append(pli)
                if frame is not None:
                    frames.append(frame.timestamp // 3000)
            seq += 1
        clock.now += 1 / 30

    send_frame(1)
    send_frame(2, lose=1)  # and its retransmission never comes
    for number in range(3, 40):
        send_frame(number)
    assert 1 in frames and 2 not in frames
    assert frames[-1] >= 35  # the picture carries on
    assert any(plis)  # a keyframe was asked for, for the frames that follow the damaged one
    assert clock.now > VIDEO_WAIT  # it waited for the retransmission first

    # A retransmission that does come in time fills the hole: nothing is skipped.
    clock2 = Clock()
    buf2 = LossTolerantJitterBuffer(512, is_video=True, clock=clock2)
    out = []
    for s, ts in [(1, 1), (2, 1), (4, 2), (5, 3), (3, 2), (6, 4), (7, 5)]:
        clock2.now += 0.03
        _, frame = buf2.add(packet(s, ts * 3000))
        if frame is not None:
            out.append(frame.timestamp // 3000)
    assert out == [1, 2, 3] and buf2.holes_skipped == 0  # one frame out per packet in


def test_the_engine_can_swap_a_receivers_buffer() -> None:
    async def run() -> None:
        pc = RTCPeerConnection()
        for kind in ("audio", "video"):
            receiver = pc.addTransceiver(kind).receiver
            assert internals.replace_jitter_buffer(receiver, LossTolerantJitterBuffer)
            buffer = getattr(receiver, internals.RECEIVER_JITTER_BUFFER)
            assert isinstance(buffer, LossTolerantJitterBuffer)
            assert buffer.capacity == (16 if kind == "audio" else 512)
        await pc.close()

    asyncio.run(run())


def test_nacks_ask_for_each_missing_packet_once_then_a_few_more_times_spaced_out() -> None:
    clock = Clock()
    nacks = PoliteNackGenerator(clock=clock)
    asked: list[set[int]] = []

    def arrive(seq: int) -> None:
        clock.now += 0.01
        if nacks.add(packet(seq, seq)):
            asked.append(set(nacks.missing))

    for seq in range(1, 5):
        arrive(seq)
    arrive(6)  # 5 went missing: asked for at once
    assert asked == [{5}]
    for seq in range(7, 12):  # 10 ms apart: too soon to ask again
        arrive(seq)
    arrive(13)  # 12 went missing: only 12 is asked for, not 5 again (aiortc would send both)
    assert asked == [{5}, {12}]
    clock.now += 0.2
    arrive(14)  # 150 ms on, both are still missing: asked again
    assert asked[-1] == {5, 12}
    arrive(5)  # the retransmission of 5 arrives
    for _ in range(6):
        clock.now += 0.2
        arrive(15 + _)
    # 12 was asked for at most 1 + NACK_RETRIES times in all; 5 never again once it arrived.
    assert sum(12 in a for a in asked) == 1 + NACK_RETRIES
    assert sum(5 in a for a in asked) == 2


def test_playout_delay_grows_to_cover_a_late_frame_and_holds_nothing_on_a_clean_link() -> None:
    clock = Clock()
    playout = PlayoutDelay(clock=clock)
    for i in range(30):  # clean: every frame shown as it arrives
        clock.now = 100.0 + i / 30 + 0.05
        assert playout.due(i / 30) == clock.now
    assert playout.delay == 0.0
    # Frame 30 waits 250 ms for a retransmission; 31-33 arrive right behind it.
    clock.now = 100.0 + 30 / 30 + 0.05 + 0.25
    assert playout.due(30 / 30) == clock.now  # late: shown at once...
    assert 0.24 <= playout.delay <= 0.26  # ...and the delay now covers such a wait
    for i in range(31, 34):
        clock.now += 0.001
        assert playout.due(i / 30) > clock.now  # held back: shown at their own pace
    # Another retransmission wait of the same length does not show as a freeze any more.
    for i in range(34, 60):
        arrival = 100.0 + i / 30 + 0.05 + (0.25 if i == 45 else 0.0)
        clock.now = arrival
        assert playout.due(i / 30) >= clock.now
        if i == 45:
            assert playout.due(i / 30) - clock.now < 0.05
    # A long clean stretch gives the delay back.
    for i in range(60, 60 + 30 * 20):
        clock.now = 100.0 + i / 30 + 0.05
        playout.due(i / 30)
    assert playout.delay == 0.0
    # A jump in the sender's clock is not a late frame.
    clock.now += 1 / 30
    assert playout.due(5.0) == clock.now and playout.delay == 0.0
