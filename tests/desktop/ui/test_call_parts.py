"""The call window's parts on their own: the video view, the bridge's frame dropping, the quality
indicator, the outgoing tracks (mute and camera off), the QR code."""

from __future__ import annotations

import asyncio
import struct
import threading

import pytest
from pytestqt.qtbot import QtBot

from desktop.ui.call_bridge import CallBridge
from desktop.ui.call_quality import QualityMeter, level_for
from desktop.ui.call_window import format_code, format_duration
from desktop.ui.qr import qr_pixmap
from desktop.ui.qt import QRect, QSize
from desktop.ui.video_widget import VideoView, fit, wrap_frame
from telehealth.engine import PcmChunk, RgbFrame
from telehealth.outgoing_tracks import (
    CapturedAudioTrack,
    CapturedVideoTrack,
    FrameSlot,
    MediaSwitch,
    PcmBuffer,
    black_frame,
    rgb_to_video_frame,
)


def solid(width: int, height: int, rgb: tuple[int, int, int], pad: int = 0) -> RgbFrame:
    row = bytes(rgb) * width + bytes(pad)
    return RgbFrame(width, height, width * 3 + pad, row * height)


def test_video_view_wraps_the_frame_without_copying_and_paints_it(qtbot: QtBot) -> None:
    view = VideoView("Waiting")
    qtbot.addWidget(view)
    view.resize(320, 240)
    view.show()
    frame = solid(64, 48, (200, 40, 40), pad=4)  # a stride wider than the row
    image = wrap_frame(frame)
    assert image.constBits().tobytes() == frame.data[: image.sizeInBytes()]
    view.show_frame(frame)
    qtbot.waitUntil(lambda: view.frames_painted > 0, timeout=2000)
    shot = view.grab().toImage()
    assert shot.pixelColor(160, 120).red() > 150  # the frame, scaled to fit
    view.clear("Ended")
    assert view.image() is None and view.placeholder == "Ended"


def test_fit_keeps_the_aspect_ratio() -> None:
    assert fit(QSize(640, 480), QRect(0, 0, 800, 300)) == QRect(200, 0, 400, 300)


def test_bridge_keeps_only_the_newest_frame(qtbot: QtBot) -> None:
    bridge = CallBridge()
    ready: list[None] = []
    bridge.video_ready.connect(lambda: ready.append(None))
    callbacks = bridge.callbacks()
    frames = [solid(4, 4, (i, i, i)) for i in range(10)]

    def engine_thread() -> None:
        for frame in frames:
            callbacks.on_video(frame)
        for _ in range(80):
            callbacks.on_audio(PcmChunk(48000, 2, b"\0\0" * 4))

    thread = threading.Thread(target=engine_thread)
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: len(ready) == 1, timeout=1000)
    assert bridge.take_video() is frames[-1]  # the stale nine were dropped
    assert bridge.frames_dropped == 9
    assert bridge.take_video() is None
    assert len(bridge.take_audio()) == 50  # about a second, no more


def test_quality_from_stats_deltas() -> None:
    now = [100.0]
    meter = QualityMeter(lambda: now[0])
    for _ in range(30):
        meter.frame_received()
    now[0] += 2
    first = meter.update(
        {"remote-inbound-rtp.video.roundTripTime": 0.02,
         "remote-inbound-rtp.audio.roundTripTime": 0.04,
         "inbound-rtp.video.packetsReceived": 1000, "inbound-rtp.video.packetsLost": 0}
    )  # fmt: skip
    assert first.level == "good" and first.rtt_ms == pytest.approx(30) and first.fps == 15
    assert first.text() == "Good connection · 30 ms · 0.0% loss · 15 fps"
    now[0] += 2
    second = meter.update(
        {"remote-inbound-rtp.video.roundTripTime": 0.2,
         "inbound-rtp.video.packetsReceived": 1090, "inbound-rtp.video.packetsLost": 10}
    )  # fmt: skip
    assert second.loss_percent == pytest.approx(10) and second.level == "poor"
    assert level_for(None, None) == "unknown" and level_for(200, 0) == "fair"


def test_formats() -> None:
    assert format_code("048213") == "048 213"
    assert format_duration(62) == "01:02" and format_duration(3725) == "1:02:05"


def test_outgoing_video_sends_the_newest_frame_or_black() -> None:
    slot, switch = FrameSlot(), MediaSwitch(True)
    track = CapturedVideoTrack(slot, switch)

    async def main() -> None:
        black = await track.recv()
        assert (black.width, black.height) == (320, 240)
        assert max(bytes(black.to_rgb().planes[0])) == 0
        slot.put(solid(322, 10, (250, 250, 250)))  # an odd width: rows are re-strided
        bright = await track.recv()
        assert bright.width == 322 and min(bytes(bright.planes[0])[: 322 * 3]) == 250
        switch.set(False)
        off = await track.recv()
        assert max(bytes(off.to_rgb().planes[0])) == 0
        assert off.pts is not None and bright.pts is not None and off.pts > bright.pts

    asyncio.run(main())


def test_outgoing_audio_is_paced_and_silent_when_muted() -> None:
    buffer, switch = PcmBuffer(), MediaSwitch(True)
    track = CapturedAudioTrack(buffer, switch)
    tone = (b"\x10\x27" * 960) * 3  # 10000, three packets' worth

    async def main() -> None:
        buffer.write(tone)
        first = await track.recv()
        assert first.samples == 960 and first.format.name == "s16"
        assert bytes(first.planes[0])[:2] == b"\x10\x27"
        switch.set(False)
        muted = await track.recv()
        assert not any(bytes(muted.planes[0])[: 960 * 2])
        switch.set(True)
        buffer.clear()
        short = await track.recv()  # capture late: padded with silence, never waits
        assert not any(bytes(short.planes[0])[: 960 * 2])
        assert short.pts == 2 * 960

    asyncio.run(main())


def test_audio_backlog_is_bounded() -> None:
    buffer = PcmBuffer(48000, 1, "s16")
    buffer.write(b"\0\0" * 48000)  # one second
    data, *_ = buffer.read(48000)
    assert len(data) == int(48000 * 0.2) * 2


def test_float_microphones_are_converted() -> None:
    buffer = PcmBuffer(48000, 1, "flt")
    track = CapturedAudioTrack(buffer, MediaSwitch(True))
    buffer.write(struct.pack("<960f", *([0.5] * 960)))
    frame = asyncio.run(track.recv())
    assert frame.format.name == "s16"


def test_black_frame_and_conversion() -> None:
    frame = rgb_to_video_frame(black_frame(8, 6))
    assert (frame.width, frame.height, frame.format.name) == (8, 6, "rgb24")


def test_qr_code_of_the_link(qtbot: QtBot) -> None:
    pixmap = qr_pixmap("https://relay.example.org/j/#" + "A" * 43, 180)
    assert pixmap is not None and 150 <= pixmap.width() <= 180
    image = pixmap.toImage()
    assert image.pixelColor(0, 0).lightness() == 255  # the quiet zone


def test_the_advisor_suggests_audio_only_then_video_again() -> None:
    from desktop.ui.call_quality import Quality, VideoAdvisor

    advisor = VideoAdvisor(weak_reports=3, good_reports=5)
    poor, good, fair = Quality("poor", 450, 9), Quality("good", 40, 0), Quality("fair", 200, 3)
    # Two poor reports are a blip; the third in a row suggests sound only, once.
    assert [advisor.update(poor, {}, audio_only=False) for _ in range(2)] == [None, None]
    assert advisor.update(good, {}, audio_only=False) is None  # the run is broken
    seen = [advisor.update(poor, {}, audio_only=False) for _ in range(5)]
    assert seen == [None, None, "audio_only", None, None]
    # A sender estimate under 150 kbit/s counts as weak even with a fair round trip.
    other = VideoAdvisor(weak_reports=2)
    low = {"sender.video.estimate": 90_000.0}
    assert [other.update(fair, low, audio_only=False) for _ in range(2)] == [None, "audio_only"]
    # Sound only: video is offered after five good reports in a row, once.
    seen = [advisor.update(good, {}, audio_only=True) for _ in range(4)]
    assert seen == [None] * 4
    assert advisor.update(fair, {}, audio_only=True) is None
    seen = [advisor.update(good, {}, audio_only=True) for _ in range(6)]
    assert seen == [None, None, None, None, "video", None]
