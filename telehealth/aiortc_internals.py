"""Every private aiortc name Quietroom relies on, in one room.

aiortc has no public API for what a call on a bad network needs: reading the RTCP feedback that
reaches a sender, setting its encoder's bitrate below aiortc's own floor, and pacing the packets
a sender puts on the wire, or concealing lost audio packets. So :mod:`telehealth.sender_control`
and :mod:`telehealth.concealment` wrap or swap **instance** attributes (never classes, never
site-packages) through the helpers below.
``tests/telehealth/test_aiortc_internals.py`` fails when an aiortc release renames or reshapes
any of them, and :data:`TESTED_AIORTC` names the version they were read from.
"""

from __future__ import annotations

import queue
from collections.abc import Awaitable, Callable
from typing import Any, Final

import aiortc

TESTED_AIORTC: Final = "1.16.0"
SENDER_ENCODER: Final = "_RTCRtpSender__encoder"  # created on the first frame, dropped at stop
SENDER_SSRC: Final = "_ssrc"
SENDER_RTX_SSRC: Final = "_rtx_ssrc"
SENDER_RTCP_HANDLER: Final = "_handle_rtcp_packet"  # the DTLS transport awaits it per packet
TRANSPORT_SEND_RTP: Final = "_send_rtp"  # RTP and RTCP (unencrypted) on their way out
RECEIVER_JITTER_BUFFER: Final = "_RTCRtpReceiver__jitter_buffer"  # set in __init__, per kind
RECEIVER_ESTIMATOR: Final = "_RTCRtpReceiver__remote_bitrate_estimator"  # video only
# ...whose add(abs_send_time=, arrival_time_ms=, payload_size=, ssrc=) returns (bps, ssrcs) or
# None, and the receiver sends what it returns as REMB.
RECEIVER_NACK_GENERATOR: Final = "_RTCRtpReceiver__nack_generator"  # video only
# A queue.Queue set in __init__: the receiver puts (codec, JitterFrame) and None (stop) into it;
# receive() starts aiortc's decoder thread (rtcrtpreceiver.decoder_worker), which takes them
# with get() and decodes each with codecs.get_decoder(codec) (Opus: FFmpeg's libopus, no
# concealment, no FEC).
RECEIVER_DECODER_QUEUE: Final = "_RTCRtpReceiver__decoder_queue"
RECEIVER_DECODER_THREAD: Final = "_RTCRtpReceiver__decoder_thread"  # None until receive()
JITTER_FIELDS: Final = ("_origin", "_packets", "_capacity", "_prefetch", "_is_video")
# The encoders clamp their public ``target_bitrate`` to 250 kbit/s (VP8) or 500 kbit/s (H.264),
# more than a 500 kbit/s link carries next to audio; the private field takes any value.
ENCODER_BITRATE: Final = {"Vp8Encoder": "_Vp8Encoder__target_bitrate",
                          "H264Encoder": "_H264Encoder__target_bitrate"}  # fmt: skip

RtcpHandler = Callable[[Any], Awaitable[None]]
RtpSend = Callable[[bytes], Awaitable[None]]


def aiortc_version() -> str:
    return str(aiortc.__version__)


def sender_ssrcs(sender: Any) -> tuple[int, int]:
    """The sender's media and retransmission SSRCs."""
    return int(getattr(sender, SENDER_SSRC)), int(getattr(sender, SENDER_RTX_SSRC))


def sender_encoder(sender: Any) -> Any | None:
    return getattr(sender, SENDER_ENCODER, None)


def set_encoder_bitrate(encoder: Any, bitrate: int) -> bool:
    """Set the bitrate the encoder uses from its next frame on (aiortc re-creates the codec when
    it differs by more than 10 %, which makes that frame a keyframe). False for an encoder we
    do not know (audio, or a future codec)."""
    field = ENCODER_BITRATE.get(type(encoder).__name__)
    if field is None or not hasattr(encoder, field):
        return False
    setattr(encoder, field, int(bitrate))
    return True


def encoder_bitrate(encoder: Any) -> int | None:
    field = ENCODER_BITRATE.get(type(encoder).__name__)
    value = None if field is None else getattr(encoder, field, None)
    return int(value) if isinstance(value, int) else None


def wrap_rtcp_handler(sender: Any, make: Callable[[RtcpHandler], RtcpHandler]) -> None:
    """Put ``make(original)`` in front of the sender's RTCP handler (this sender only)."""
    original: RtcpHandler = getattr(sender, SENDER_RTCP_HANDLER)
    setattr(sender, SENDER_RTCP_HANDLER, make(original))


def wrap_send_rtp(transport: Any, make: Callable[[RtpSend], RtpSend]) -> None:
    """Put ``make(original)`` in front of a DTLS transport's RTP/RTCP output (this one only)."""
    original: RtpSend = getattr(transport, TRANSPORT_SEND_RTP)
    setattr(transport, TRANSPORT_SEND_RTP, make(original))


def wrap_encode(encoder: Any, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> bool:
    """Put ``make(original)`` in front of an encoder's ``encode`` (aiortc calls it on a worker
    thread, once per frame). Once per encoder object; False if it was already wrapped."""
    if getattr(encoder, "_quietroom_wrapped", False):
        return False
    encoder.encode = make(encoder.encode)
    encoder._quietroom_wrapped = True
    return True


def replace_jitter_buffer(receiver: Any, make: Callable[[int, int, bool], Any]) -> bool:
    """Swap a receiver's jitter buffer for ``make(capacity, prefetch, is_video)``, before any
    packet arrived. False when the receiver has none we know."""
    current = getattr(receiver, RECEIVER_JITTER_BUFFER, None)
    if current is None or not all(hasattr(current, f) for f in JITTER_FIELDS):
        return False
    setattr(
        receiver,
        RECEIVER_JITTER_BUFFER,
        make(current._capacity, current._prefetch, current._is_video),
    )
    return True


def replace_decoder_queue(receiver: Any, replacement: Any) -> bool:
    """Swap a receiver's decoder queue before its decoder thread starts (aiortc hands the queue
    to the thread in ``receive()``). False when the thread already runs or the receiver has no
    queue we know (the caller then leaves aiortc's decoding as it is)."""
    current = getattr(receiver, RECEIVER_DECODER_QUEUE, None)
    if (
        not isinstance(current, queue.Queue)
        or getattr(receiver, RECEIVER_DECODER_THREAD, "missing") is not None
    ):
        return False
    setattr(receiver, RECEIVER_DECODER_QUEUE, replacement)
    return True


def receiver_track_queue(receiver: Any) -> Any | None:
    """The asyncio queue a receiver's decoded frames go to (``RemoteStreamTrack._queue``)."""
    track = getattr(receiver, "_track", None)
    return getattr(track, "_queue", None)


def replace_remote_estimator(receiver: Any, estimator: Any) -> bool:
    """Swap a video receiver's REMB estimator. False for a receiver without one (audio)."""
    if getattr(receiver, RECEIVER_ESTIMATOR, None) is None:
        return False
    setattr(receiver, RECEIVER_ESTIMATOR, estimator)
    return True


def replace_nack_generator(receiver: Any, generator: Any) -> bool:
    """Swap a video receiver's NACK generator. False for a receiver without one (audio)."""
    if getattr(receiver, RECEIVER_NACK_GENERATOR, None) is None:
        return False
    setattr(receiver, RECEIVER_NACK_GENERATOR, generator)
    return True
