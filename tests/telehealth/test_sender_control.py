"""The video sender's control on real aiortc objects: the private names it relies on, what it does
with RTCP feedback, and the pacer."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiortc
from aiortc import RTCPeerConnection
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_PLI,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    pack_remb_fci,
)

from telehealth import aiortc_internals as internals
from telehealth.congestion import START_BPS, VideoFormat
from telehealth.sender_control import AdaptiveVideoTrack, Pacer, SenderControl
from telehealth.synthetic_media import ShadeVideo


def test_the_aiortc_internals_we_use_are_still_there() -> None:
    """If this fails, aiortc changed: re-read rtcrtpsender.py, rtcdtlstransport.py and the
    encoders, update telehealth/aiortc_internals.py, then TESTED_AIORTC."""
    assert aiortc.__version__ == internals.TESTED_AIORTC

    async def check() -> None:
        pc = RTCPeerConnection()
        sender = pc.addTrack(ShadeVideo())
        assert isinstance(internals.sender_ssrcs(sender), tuple)
        assert hasattr(sender, internals.SENDER_ENCODER)
        assert getattr(sender, internals.SENDER_ENCODER) is None  # created on the first frame
        assert asyncio.iscoroutinefunction(getattr(sender, internals.SENDER_RTCP_HANDLER))
        assert asyncio.iscoroutinefunction(getattr(RTCDtlsTransport, internals.TRANSPORT_SEND_RTP))
        for encoder in (Vp8Encoder(), H264Encoder()):
            assert internals.set_encoder_bitrate(encoder, 90_000)
            assert internals.encoder_bitrate(encoder) == 90_000
            assert encoder.target_bitrate == 90_000  # the public getter reads the same field
        await pc.close()

    asyncio.run(check())


class Receiver:
    """The browser's side of our video stream, as its receiver reports describe it: cumulative
    packets lost and the highest sequence number (RFC 3550 §6.4.1), and the fraction lost since
    its previous report."""

    def __init__(self, ssrc: int) -> None:
        self.ssrc = ssrc
        self.highest = 1000
        self.lost = 0

    def report(self, packets: int, lost: int) -> RtcpRrPacket:
        self.highest += packets
        self.lost += lost
        block = RtcpReceiverInfo(
            ssrc=self.ssrc,
            fraction_lost=min(255, lost * 256 // packets),
            packets_lost=self.lost,
            highest_sequence=self.highest,
            jitter=0,
            lsr=0,
            dlsr=0,
        )
        return RtcpRrPacket(ssrc=1234, reports=[block])


def test_feedback_drives_the_encoder_and_keyframe_requests_reach_aiortc() -> None:
    async def run() -> None:
        pc = RTCPeerConnection()
        source = ShadeVideo()
        holder: list[SenderControl] = []
        track = AdaptiveVideoTrack(source, lambda w, h: holder[0].video_format(w, h))
        sender = pc.addTrack(track)
        clock = [0.0]
        control = SenderControl(sender, track, clock=lambda: clock[0])
        holder.append(control)
        encoder = Vp8Encoder()
        setattr(sender, internals.SENDER_ENCODER, encoder)
        ssrc, _ = internals.sender_ssrcs(sender)
        handler: Any = getattr(sender, internals.SENDER_RTCP_HANDLER)

        control.step()
        assert internals.encoder_bitrate(encoder) == START_BPS

        # Chromium reports with every NACK, right after each loss, over the few packets since
        # its previous report (a fraction of 1 in 5 each time): on a path that loses 5 %, the
        # loss counted over at least 20 packets holds the rate instead of cutting it.
        browser = Receiver(ssrc)
        for _ in range(40):
            clock[0] += 0.25
            for packets, lost in ((5, 1), (15, 0)):
                packet = browser.report(packets, lost)
                assert packet.reports[0].fraction_lost == (51 if lost else 0)  # 20 %, 0 %
                await handler(packet)
            control.step()
        assert internals.encoder_bitrate(encoder) == control.target == START_BPS
        assert control.stats()["fractionLost"] == 0.05

        # A path losing half our packets: below aiortc's own 250 kbit/s floor within seconds.
        for _ in range(8):
            clock[0] += 1.0
            await handler(browser.report(60, 30))
            control.step()
        assert internals.encoder_bitrate(encoder) == control.target < 250_000
        assert control.stats()["fractionLost"] == 0.5
        small = control.video_format(640, 480)
        assert small.width < 640 and small.fps < 30

        # REMB is ours: aiortc must not set the encoder to it behind the controller's back.
        for value in (2_000_000, 1_000_000):
            remb = RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=1234, media_ssrc=0)
            remb.fci = pack_remb_fci(value, [ssrc])
            await handler(remb)
            assert internals.encoder_bitrate(encoder) == control.target
        assert control.remb == 1_000_000

        # A keyframe request goes on to aiortc, which makes the next frame a keyframe.
        pli = RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1234, media_ssrc=ssrc)
        await handler(pli)
        assert control.keyframe_requests == 1
        assert sender._RTCRtpSender__force_keyframe is True
        # A burst of requests right after: one keyframe is on its way, no more are forced.
        sender._RTCRtpSender__force_keyframe = False
        await handler(pli)
        assert control.keyframe_requests == 2 and control.keyframes_sent == 1
        assert sender._RTCRtpSender__force_keyframe is False
        clock[0] += 0.5
        await handler(pli)
        assert sender._RTCRtpSender__force_keyframe is True
        await pc.close()

    asyncio.run(run())


def test_the_adaptive_track_drops_to_the_chosen_rate_and_scales() -> None:
    async def run() -> tuple[int, int, tuple[int, int]]:
        track = AdaptiveVideoTrack(
            ShadeVideo(320, 240, fps=30), lambda w, h: VideoFormat(160, 120, 15)
        )
        start = time.monotonic()
        while time.monotonic() - start < 2.0:
            frame = await track.recv()
            assert (frame.width, frame.height) == (160, 120)
        return track.sent, track.dropped, track.size

    sent, dropped, size = asyncio.run(run())
    assert 25 <= sent <= 36 and dropped >= 20  # about 15 of 30 a second
    assert size == (160, 120)


def test_the_pacer_spreads_video_and_lets_audio_through() -> None:
    async def run() -> tuple[float, float]:
        sent: list[tuple[float, int]] = []

        async def wire(data: bytes) -> None:
            sent.append((time.monotonic(), int.from_bytes(data[8:12], "big")))

        pacer = Pacer(lambda: 800_000.0)
        pacer.video_ssrcs = {7}
        paced = pacer.wrap(wire)

        def packet(ssrc: int) -> bytes:
            return bytes([0x80, 96]) + bytes(6) + ssrc.to_bytes(4, "big") + bytes(988)

        start = time.monotonic()
        await asyncio.gather(*(paced(packet(7)) for _ in range(20)), paced(packet(9)))
        audio_at = next(t for t, s in sent if s == 9) - start
        return sent[-1][0] - start, audio_at

    video_done, audio_at = asyncio.run(run())
    # 20 kB at 800 kbit/s is 0.2 s; the first packets go at once.
    assert 0.15 <= video_done <= 0.6
    assert audio_at < 0.05


def test_retransmissions_are_budgeted_and_never_hold_up_the_receiving_side() -> None:
    async def run() -> None:
        from aiortc.rtp import RTCP_RTPFB_NACK, RtcpRtpfbPacket

        pc = RTCPeerConnection()
        sender = pc.addTrack(ShadeVideo())
        clock = [0.0]
        control = SenderControl(sender, None, clock=lambda: clock[0])
        resent: list[int] = []
        release = asyncio.Event()

        async def slow_retransmit(seq: int) -> None:  # a paced send on a congested link
            await release.wait()
            resent.append(seq)

        sender._retransmit = slow_retransmit  # type: ignore[method-assign]
        ssrc, _ = internals.sender_ssrcs(sender)
        handler: Any = getattr(sender, internals.SENDER_RTCP_HANDLER)

        def nack(lost: list[int]) -> RtcpRtpfbPacket:
            packet = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=1234, media_ssrc=ssrc)
            packet.lost = lost
            return packet

        clock[0] = 1.0  # a second of budget: 30 % of 600 kbit/s is about 18 packets
        await asyncio.wait_for(handler(nack(list(range(100)))), 0.5)  # returns at once
        release.set()
        await asyncio.sleep(0.05)
        assert 10 <= len(resent) <= 20, len(resent)
        before = len(resent)
        clock[0] += 0.05  # asked again within a round trip: not resent twice
        await handler(nack(resent[:5]))
        await asyncio.sleep(0.05)
        assert len(resent) == before
        assert control.retransmissions == before
        await pc.close()

    asyncio.run(run())
