"""The client's voice through lost packets: Opus concealment and in-band FEC, therapist's side.

aiortc decodes Opus with FFmpeg's libopus wrapper, which only ever decodes the packets that
arrived: a lost packet is 20 ms of nothing, and its audio jitter buffer releases one packet per
packet that arrives, so after each hole it skipped it holds one more packet for good until it
overflows and throws packets away (measured at 5 % loss: 12 % of the audio missing, Chromium's
own receiver 5 % concealed). This module replaces both for a call's audio receiver (the engine
installs them through :mod:`telehealth.aiortc_internals`):

* :class:`AudioJitterBuffer` hands on every packet that is in sequence at once, waits for a
  missing one at most :data:`AUDIO_WAIT` (a reordered packet), then steps over it;
* :class:`ConcealingOpusDecoder` decodes with libopus directly (``opuslib_next``, a ctypes binding
  of the system's libopus) and fills every gap in the RTP timestamps: the last lost 20 ms from the
  next packet's in-band FEC (LBRR) when it carries some, the rest with libopus's packet loss
  concealment (decoding "no data"), as browsers do;
* :class:`ConcealingDecoderQueue` stands in for the receiver's decoder queue: aiortc's decoder
  thread takes its work from it, and the Opus work is done there, by the decoder above.

Concealed audio is *counted* as concealed (``AudioFrame.opaque`` is :data:`CONCEALED`, the
engine passes it on as ``PcmChunk.concealed``), like Chromium's ``concealedSamples``; audio
rebuilt from FEC is :data:`RECOVERED`, which Chromium does not count as concealed either.
For the browser to send FEC at all, the offer says ``useinbandfec=1`` (:func:`offer_inband_fec`).
"""

from __future__ import annotations

import fractions
import logging
import queue
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

import av
from aiortc.jitterbuffer import JitterFrame
from aiortc.utils import uint16_add

log = logging.getLogger("telehealth.concealment")

SAMPLE_RATE: Final = 48_000
CHANNELS: Final = 2  # aiortc's Opus decoder gives stereo; so do we
MAX_PACKET_SAMPLES: Final = 5760  # 120 ms, the longest Opus packet
GRANULE: Final = 120  # 2.5 ms: libopus decodes multiples of this
CONCEAL_CHUNK: Final = 960  # concealment is handed on in 20 ms pieces
MAX_CONCEAL: Final = 9600  # 200 ms: a longer gap is a pause or a cut, not a few lost packets
AUDIO_WAIT: Final = 0.04  # seconds a hole may hold back the packets after it (reordering)
MAX_HELD: Final = 8  # ...or this many packets
TIME_BASE: Final = fractions.Fraction(1, SAMPLE_RATE)

DECODED: Final = "decoded"
CONCEALED: Final = "concealed"
RECOVERED: Final = "recovered"
Kind = Literal["decoded", "concealed", "recovered"]


# -- what the browser is asked to send ------------------------------------------------------------

_OPUS_RTPMAP = re.compile(r"^a=rtpmap:(\d+) opus/48000(?:/2)?\r?$", re.MULTILINE | re.IGNORECASE)


def offer_inband_fec(sdp: str) -> str:
    """Add ``useinbandfec=1`` to every Opus payload type of ``sdp`` (an fmtp line of its own when
    there is none, or appended to the existing one). aiortc offers Opus without parameters; a
    browser only puts FEC in what it sends when the receiver's description asks for it."""
    newline = "\r\n" if "\r\n" in sdp else "\n"
    for match in _OPUS_RTPMAP.finditer(sdp):
        pt = match.group(1)
        fmtp = re.search(rf"^a=fmtp:{pt} (.*?)\r?$", sdp, re.MULTILINE)
        if fmtp is not None:
            if "useinbandfec=" in fmtp.group(1):
                continue
            start, end = fmtp.span(1)
            sdp = sdp[:start] + fmtp.group(1) + ";useinbandfec=1" + sdp[end:]
        else:
            line_end = sdp.index("\n", match.start())
            sdp = (
                sdp[: line_end + 1] + f"a=fmtp:{pt} useinbandfec=1" + newline + sdp[line_end + 1 :]
            )
    return sdp


# -- Opus packets ---------------------------------------------------------------------------------


def has_lbrr(packet: bytes) -> bool:
    """Whether an Opus packet carries in-band FEC (LBRR) for the packet before it.

    libopus's own ``opus_packet_has_lbrr`` (1.5) does this, but Debian 12 ships 1.3.1: the same
    reading, after RFC 6716. CELT-only packets have no LBRR. In SILK and hybrid packets the first
    SILK frame's first byte starts with one VAD flag per 20 ms SILK frame and then the LBRR flag
    (per channel), each coded at probability 1/2, so they are its top bits as they stand."""
    if len(packet) < 2:
        return False
    toc = packet[0]
    config = toc >> 3
    if config >= 16:
        return False  # CELT only
    if config < 12:  # SILK only: 10, 20, 40, 60 ms
        frame_samples = (480, 960, 1920, 2880)[config & 3]
    else:  # hybrid: 10, 20 ms
        frame_samples = 960 if config & 1 else 480
    silk_frames = max(1, frame_samples // 960)
    stereo = bool(toc & 0x04)
    code = toc & 0x03
    if code in (0, 1):
        first = 1
    elif code == 2:  # two frames, the first one's length coded in one or two bytes
        if len(packet) < 2:
            return False
        first = 2 if packet[1] < 252 else 3
    else:  # code 3: a frame count byte, padding and lengths; rare from a browser
        return False
    if first >= len(packet):
        return False
    byte = packet[first]
    lbrr = (byte >> (7 - silk_frames)) & 1
    if stereo:
        lbrr |= (byte >> (6 - 2 * silk_frames)) & 1
    return bool(lbrr)


@dataclass(frozen=True)
class Pcm:
    """Decoded audio: interleaved s16 stereo at 48 kHz, and what it is."""

    timestamp: int  # RTP timestamp (48 kHz) of its first sample
    samples: int
    data: bytes
    kind: Kind


class OpusUnavailableError(RuntimeError):
    """The system's libopus could not be loaded (see :func:`load_decoder`)."""


def load_decoder() -> Any:
    """A libopus decoder (48 kHz, stereo) through ``opuslib_next``; raises
    :class:`OpusUnavailableError` when the library (Debian: ``libopus0``) is missing."""
    try:
        import opuslib_next  # loads libopus at import (ctypes)
    except Exception as exc:  # it raises a bare Exception when libopus is not found
        raise OpusUnavailableError(f"libopus cannot be loaded: {exc}") from None
    return opuslib_next.Decoder(SAMPLE_RATE, CHANNELS)


def packet_samples(packet: bytes) -> int:
    """Samples (per channel, 48 kHz) in an Opus packet, from its TOC; 0 when malformed."""
    if not packet:
        return 0
    toc = packet[0]
    config = toc >> 3
    if config < 12:
        per_frame = (480, 960, 1920, 2880)[config & 3]
    elif config < 16:
        per_frame = 960 if config & 1 else 480
    else:
        per_frame = (120, 240, 480, 960)[config & 3]
    code = toc & 0x03
    if code == 0:
        frames = 1
    elif code in (1, 2):
        frames = 2
    else:
        frames = packet[1] & 0x3F if len(packet) > 1 else 0
    total = per_frame * frames
    return total if total <= MAX_PACKET_SAMPLES else 0


class ConcealingOpusDecoder:
    """Decodes one Opus stream packet by packet and fills the gaps between them (see the
    module docstring). Not thread-safe: one decoder thread calls :meth:`decode`."""

    def __init__(self, decoder: Any | None = None) -> None:
        self._decoder = decoder if decoder is not None else load_decoder()
        self._next: int | None = None  # RTP timestamp the next packet should have
        self.decoded_samples = 0
        self.concealed_samples = 0
        self.recovered_samples = 0
        self.errors = 0

    def _run(self, data: bytes, samples: int, fec: bool = False) -> bytes:
        pcm: bytes = self._decoder.decode(data, samples, decode_fec=fec)
        return pcm

    def decode(self, timestamp: int, payload: bytes) -> list[Pcm]:
        """What to play for the packet with RTP ``timestamp``: the concealment of any gap before
        it, then the packet itself. A packet older than one already played is dropped."""
        samples = packet_samples(payload)
        if samples == 0:
            self.errors += 1
            return []
        out: list[Pcm] = []
        if self._next is not None:
            gap = ((timestamp - self._next + 2**31) % 2**32) - 2**31
            if gap < 0:
                return []  # late: its time was concealed already (or a duplicate)
            gap -= gap % GRANULE
            if 0 < gap <= MAX_CONCEAL:
                out.extend(self._fill(self._next, gap, payload, samples))
        try:
            pcm = self._run(payload, MAX_PACKET_SAMPLES)
        except Exception:  # opuslib_next.OpusError: a damaged packet
            self.errors += 1
            log.debug("could not decode an Opus packet", exc_info=True)
            return out
        decoded = len(pcm) // (2 * CHANNELS)
        self.decoded_samples += decoded
        out.append(Pcm(timestamp, decoded, pcm, DECODED))
        self._next = (timestamp + decoded) % 2**32
        return out

    def _fill(self, start: int, gap: int, payload: bytes, samples: int) -> list[Pcm]:
        """``gap`` samples from ``start``: concealment, and FEC for the last packet's worth."""
        fec = min(gap, samples) if has_lbrr(payload) else 0
        out: list[Pcm] = []
        at = start
        left = gap - fec
        while left > 0:
            n = min(CONCEAL_CHUNK, left)
            try:
                pcm = self._run(b"", n)
            except Exception:
                self.errors += 1
                return out
            got = len(pcm) // (2 * CHANNELS)
            self.concealed_samples += got
            out.append(Pcm(at, got, pcm, CONCEALED))
            at, left = (at + n) % 2**32, left - n
        if fec:
            try:
                pcm = self._run(payload, fec, fec=True)
            except Exception:
                self.errors += 1
                return out
            got = len(pcm) // (2 * CHANNELS)
            self.recovered_samples += got
            out.append(Pcm(at, got, pcm, RECOVERED))
        return out


# -- the receiver's side --------------------------------------------------------------------------


class AudioBundle(JitterFrame):
    """The audio packets :class:`AudioJitterBuffer` releases at once (aiortc's receiver takes at
    most one frame per packet it hands in); :class:`ConcealingDecoderQueue` unpacks them. The
    receiver rewrites the bundle's own ``timestamp`` (relative to the first packet); those of
    the ``frames`` inside stay the RTP timestamps, which the decoder's gap check reads."""

    def __init__(self, frames: list[JitterFrame]) -> None:
        super().__init__(data=frames[0].data, timestamp=frames[0].timestamp)
        self.frames = frames


class AudioJitterBuffer:
    """An audio receive buffer for aiortc's receiver (``add(packet) -> (pli, frame)``): every
    packet in sequence goes on at once; a missing one holds back those after it for at most
    ``max_wait`` seconds or ``max_held`` packets, then is stepped over (the decoder conceals
    it). Late packets (their turn has passed) are dropped."""

    def __init__(
        self,
        capacity: int = 16,
        prefetch: int = 0,
        is_video: bool = False,
        *,
        max_wait: float = AUDIO_WAIT,
        max_held: int = MAX_HELD,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._capacity, self._prefetch, self._is_video = capacity, prefetch, is_video
        self._max_wait = max_wait
        self._max_held = max_held
        self._clock = clock
        self._next: int | None = None
        self._held: dict[int, Any] = {}
        self._hole_since: float | None = None
        self.holes_skipped = 0
        self.late = 0

    @property
    def capacity(self) -> int:
        return self._capacity

    def add(self, packet: Any) -> tuple[bool, JitterFrame | None]:
        seq = int(packet.sequence_number)
        if self._next is None:
            self._next = seq
        ahead = (seq - self._next) % 65536
        if ahead >= 32768:
            self.late += 1
            return False, None
        if ahead > 1000:  # the stream jumped (the sender restarted): start from here
            self._held.clear()
            self._next, self._hole_since = seq, None
        self._held.setdefault(seq, packet)
        frames = self._release()
        return False, AudioBundle(frames) if frames else None

    def _release(self) -> list[JitterFrame]:
        out: list[JitterFrame] = []
        while True:
            assert self._next is not None
            while self._next in self._held:
                packet = self._held.pop(self._next)
                out.append(JitterFrame(data=packet._data, timestamp=packet.timestamp))
                self._next = uint16_add(self._next, 1)
            if not self._held:
                self._hole_since = None
                return out
            now = self._clock()
            if self._hole_since is None:
                self._hole_since = now
            if now - self._hole_since < self._max_wait and len(self._held) < self._max_held:
                return out
            # Step over the hole to the oldest packet held.
            origin = self._next
            self._next = min(self._held, key=lambda s: (s - origin) % 65536)
            self._hole_since = None
            self.holes_skipped += 1


Deliver = Callable[[av.AudioFrame], None]


def pcm_frame(pcm: Pcm) -> av.AudioFrame:
    """An s16 stereo 48 kHz frame, marked with what it is (``opaque``)."""
    frame = av.AudioFrame(format="s16", layout="stereo", samples=pcm.samples)
    frame.planes[0].update(pcm.data)
    frame.sample_rate = SAMPLE_RATE
    frame.pts = pcm.timestamp
    frame.time_base = TIME_BASE
    frame.opaque = pcm.kind
    return frame


class ConcealingDecoderQueue(queue.Queue[Any]):
    """In place of an audio receiver's decoder queue. aiortc's receiver puts ``(codec, frame)``
    (and ``None`` to stop); its decoder thread takes them with :meth:`get` and decodes them with
    FFmpeg. Here :meth:`get`, on that same thread, decodes the Opus ones itself, with
    concealment, and hands the frames to ``deliver``; only other codecs and ``None`` go back to
    aiortc's loop. ``deliver`` runs on the decoder thread: it must hand the frame over to the
    track's event loop."""

    def __init__(self, deliver: Deliver, decoder: ConcealingOpusDecoder | None = None) -> None:
        super().__init__()
        self._deliver = deliver
        self.decoder = decoder if decoder is not None else ConcealingOpusDecoder()

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is not None and isinstance(item[1], AudioBundle):
            codec, bundle = item
            for frame in bundle.frames:
                super().put((codec, frame), block, timeout)
            return
        super().put(item, block, timeout)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        while True:
            item = super().get(block, timeout)
            if item is None:
                return None
            codec, frame = item
            if str(getattr(codec, "mimeType", "")).lower() != "audio/opus":
                return item
            for pcm in self.decoder.decode(int(frame.timestamp), bytes(frame.data)):
                self._deliver(pcm_frame(pcm))


__all__ = [
    "CONCEALED",
    "DECODED",
    "RECOVERED",
    "AudioBundle",
    "AudioJitterBuffer",
    "ConcealingDecoderQueue",
    "ConcealingOpusDecoder",
    "OpusUnavailableError",
    "Pcm",
    "has_lbrr",
    "load_decoder",
    "offer_inband_fec",
    "packet_samples",
]
