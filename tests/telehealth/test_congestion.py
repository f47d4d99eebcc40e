"""The congestion controller fed synthetic feedback, with a fake clock (no network)."""

from __future__ import annotations

import pytest

from telehealth.congestion import (
    CEILING_BPS,
    CPU_RELAX_AFTER,
    FLOOR_BPS,
    RUNGS,
    UPGRADE_AFTER,
    IncomingRate,
    LossCounter,
    RateController,
    ReceiverReport,
    VideoFormat,
    VideoLadder,
    rtt_from_report,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def feed(ctl: RateController, clock: Clock, seconds: int, loss: float | None, rtt: float) -> None:
    for _ in range(seconds):
        clock.now += 1.0
        ctl.on_report(ReceiverReport(loss, rtt))


def test_heavy_loss_cuts_the_rate_and_clean_reports_bring_it_back() -> None:
    clock = Clock()
    ctl = RateController(clock=clock, start=800_000)
    feed(ctl, clock, 3, 0.30, 0.2)
    low = ctl.bitrate
    assert low <= 800_000 * 0.85**3 + 1  # each report at 30 % loss cuts by 15 %
    assert ctl.reason.startswith("loss")
    feed(ctl, clock, 6, 0.0, 0.2)
    assert ctl.bitrate > low * 1.08**5  # about 8 % a second back up...
    assert ctl.reason == "growing slowly"  # ...then slowly near where the loss struck (800k)
    near = ctl.bitrate
    feed(ctl, clock, 3, 0.0, 0.2)
    assert near < ctl.bitrate < near * 1.02**3 + 4000
    feed(ctl, clock, 3, 0.0, 0.2)  # past that point the path evidently carries more: fast again
    assert ctl.reason == "growing"
    feed(ctl, clock, 120, 0.0, 0.2)  # the point is forgotten after half a minute
    assert ctl.bitrate == CEILING_BPS


def test_moderate_loss_holds_the_rate() -> None:
    clock = Clock()
    ctl = RateController(clock=clock, start=600_000)
    feed(ctl, clock, 10, 0.05, 0.2)
    assert ctl.bitrate == 600_000
    assert "holding" in ctl.reason


def test_a_filling_queue_cuts_the_rate_before_anything_is_lost() -> None:
    clock = Clock()
    ctl = RateController(clock=clock, start=1_200_000)
    feed(ctl, clock, 5, 0.0, 0.2)  # the path's own round trip
    before = ctl.bitrate
    rtt = 0.2
    for _ in range(6):  # a deep buffer: no loss, the round trip grows
        rtt += 0.15
        feed(ctl, clock, 1, 0.0, rtt)
    assert ctl.bitrate < before * 0.85**3
    assert ctl.reason == "queue"
    assert ctl.base_rtt == pytest.approx(0.2)
    feed(ctl, clock, 4, 0.0, rtt)  # the trend flattens out
    cut = ctl.bitrate
    feed(ctl, clock, 4, 0.0, rtt)  # full and standing: no more cuts, but no growth either
    assert ctl.bitrate == cut and ctl.reason == "queue standing"
    for _ in range(6):  # draining back to the path's own round trip: growth resumes
        rtt = max(0.2, rtt - 0.2)
        feed(ctl, clock, 1, 0.0, rtt)
    assert ctl.bitrate > cut


def test_a_longer_route_is_not_a_queue() -> None:
    """The round trip steps from 5 ms to 200 ms (a new route, the benchmark's profiles) and stays
    there: at most one cut, then the rate grows again."""
    clock = Clock()
    ctl = RateController(clock=clock, start=800_000)
    feed(ctl, clock, 10, 0.0, 0.005)
    high = ctl.bitrate
    feed(ctl, clock, 40, 0.0, 0.2)
    assert ctl.bitrate >= high


def test_remb_drops_count_only_when_our_own_round_trip_or_losses_agree() -> None:
    clock = Clock()
    ctl = RateController(clock=clock, start=1_000_000)
    ctl.on_remb(55_000)  # Chromium's first REMB, from the first packets it saw
    assert ctl.bitrate == 1_000_000
    feed(ctl, clock, 3, 0.0, 0.2)
    before = ctl.bitrate
    ctl.on_remb(700_000)
    clock.now += 1
    ctl.on_remb(300_000)  # a drop on a path our round trip says is clear: jitter, ignored
    assert ctl.bitrate == before
    feed(ctl, clock, 1, 0.05, 0.2)  # now the path loses packets
    clock.now += 1
    ctl.on_remb(200_000)
    assert ctl.bitrate == int(0.85 * before) and ctl.reason == "REMB dropped"
    clock.now += 0.5
    ctl.on_remb(100_000)  # at most one step a second
    assert ctl.bitrate == int(0.85 * before)


def test_the_remb_we_send_follows_what_arrives_and_the_path() -> None:
    clock = Clock()
    path = RateController(clock=clock)
    incoming = IncomingRate(path, clock=clock, start=300_000)
    sent = []
    for _ in range(50):  # 400 kbit/s arriving for 5 s on a clear path
        clock.now += 0.1
        value = incoming.on_packet(5000)
        if value is not None:
            sent.append(value)
    assert sent and sent[-1] >= 1.5 * 400_000
    feed(path, clock, 5, 0.0, 0.2)
    for step in range(4):  # a queue fills: the round trip grows
        feed(path, clock, 1, 0.0, 0.35 + 0.15 * step)
    assert path.path == "queue"
    for _ in range(12):
        clock.now += 0.1
        value = incoming.on_packet(5000)
        if value is not None:
            sent.append(value)
    assert sent[-1] <= 0.85 * 400_000 + 1


def test_the_rate_stays_within_floor_and_ceiling() -> None:
    clock = Clock()
    ctl = RateController(clock=clock)
    feed(ctl, clock, 60, 0.9, 0.2)
    assert ctl.bitrate == FLOOR_BPS
    ctl.on_remb(100_000)
    clock.now += 1
    ctl.on_remb(10)
    assert ctl.bitrate == FLOOR_BPS


def test_silence_falls_back_to_a_safe_rate() -> None:
    clock = Clock()
    ctl = RateController(clock=clock, start=1_400_000)
    clock.now += 10
    ctl.on_silence()
    assert ctl.bitrate == 1_400_000  # nothing heard yet (still connecting): nothing missed
    ctl.on_report(ReceiverReport(0.0, 0.1))
    ctl.on_silence()
    assert ctl.bitrate > 1_400_000
    clock.now += 10
    ctl.on_silence()
    assert ctl.bitrate <= 300_000


def test_round_trip_from_a_report_block() -> None:
    # RFC 3550 §6.4.1's example: A = 0xb710:8000 (46864.5 s), LSR = 0xb705:2000 (46853.125 s),
    # DLSR = 0x0005:4000 (5.25 s): round trip 6.125 s.
    ntp_now = (0xB710_8000 << 16) | 0x1234
    assert rtt_from_report(0xB705_2000, 0x0005_4000, ntp_now) == pytest.approx(6.125)
    assert rtt_from_report(0, 0, ntp_now) is None  # no sender report seen yet
    assert rtt_from_report(0, 0, 0x0001_0000 << 16) is None  # ...whatever the clock reads
    assert rtt_from_report(0xB710_9000, 0, ntp_now) is None  # from the future: ignored


def test_ladder_steps_down_at_once_and_up_after_a_while() -> None:
    clock = Clock()
    ladder = VideoLadder(clock=clock)
    assert ladder.format_for(640, 480).fps == 30
    ladder.update(150_000)
    small = ladder.format_for(1280, 720)
    assert small.width * small.height <= 320 * 240 and small.fps == 15
    assert small.width % 2 == 0 and small.height % 2 == 0
    target = RUNGS[1][0]  # enough for 640x480 at 30 fps
    ladder.update(int(target * 1.2))
    clock.now += UPGRADE_AFTER / 2
    ladder.update(int(target * 1.2))
    assert ladder.format_for(640, 480).fps == 15  # not yet
    for _ in range(4):
        clock.now += UPGRADE_AFTER + 0.1
        ladder.update(int(target * 1.2))
    assert ladder.format_for(640, 480) == ladder.format_for(640, 480)
    assert ladder.format_for(640, 480).fps == 30 and ladder.format_for(640, 480).width == 640


def test_ladder_never_goes_below_ten_frames_a_second() -> None:
    ladder = VideoLadder(clock=Clock())
    ladder.update(0)
    assert ladder.format_for(640, 480).fps >= 10


def test_a_busy_computer_gets_a_smaller_picture_and_then_the_size_back() -> None:
    clock = Clock()
    ladder = VideoLadder(clock=clock)
    ladder.update(600_000)
    assert ladder.format_for(640, 480) == VideoFormat(640, 480, 30)
    ladder.on_encode_usage(1.3)  # encoding takes longer than a frame's time
    busy = ladder.format_for(640, 480)
    assert busy.width < 640
    ladder.on_encode_usage(0.2)
    assert ladder.format_for(640, 480) == busy  # not at once
    clock.now += CPU_RELAX_AFTER + 1
    ladder.on_encode_usage(0.2)
    assert ladder.format_for(640, 480) == VideoFormat(640, 480, 30)


def test_a_loss_figure_cuts_once_and_reports_without_one_do_not_cut_again() -> None:
    clock = Clock()
    ctl = RateController(clock=clock, start=800_000)
    feed(ctl, clock, 1, 0.30, 0.2)
    assert ctl.bitrate == int(800_000 * 0.85)
    feed(ctl, clock, 5, None, 0.2)  # reports with too few packets for a new figure
    assert ctl.bitrate == int(800_000 * 0.85)
    assert ctl.loss == 0.30  # the last figure still stands: no growth either


def test_loss_is_counted_over_at_least_twenty_packets() -> None:
    counter = LossCounter()
    assert counter.update(0, 65_530) is None  # the first report: nothing to compare with
    # A report after each loss, over the 5 packets since the previous one (Chromium's NACKs):
    # each says 20 %, the path loses 1 in 20.
    figures = []
    lost, highest = 0, 65_530
    for step in range(12):
        packets, new = (5, 1) if step % 2 == 0 else (15, 0)
        lost, highest = lost + new, highest + packets  # crosses 65,535: the extended number
        figures.append(counter.update(lost, highest))
    assert figures == [None, 0.05] * 6
    assert counter.update(lost, highest) is None  # nothing new
    assert counter.update(lost - 1, highest - 3) is None  # older than the last: ignored
    assert counter.update(lost - 2, highest + 20) == 0.0  # duplicates counted: never below 0
    assert counter.update(lost + 40, highest + 40) == 1.0


def test_a_counter_wraps_with_the_32_bit_sequence_number() -> None:
    counter = LossCounter()
    counter.update(10, 0xFFFF_FFF0)
    assert counter.update(12, 0x0000_0010) == 2 / 32
