"""Where the therapist's capture (camera, microphone, or a synthetic source) hands its frames and
samples to the call, and the call's outgoing tracks over them.

The user interface owns the devices and *pushes* into a :class:`CaptureFeed`; the call engine
builds its aiortc tracks with :meth:`CaptureFeed.tracks` and *pulls* on its own thread (see
:mod:`telehealth.outgoing_tracks`). So no aiortc object ever lives in the user interface's code,
and the UI needs nothing from aiortc to take part in a call.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiortc import MediaStreamTrack

from telehealth.engine import RgbFrame
from telehealth.outgoing_tracks import (
    CapturedAudioTrack,
    CapturedVideoTrack,
    FrameSlot,
    MediaSwitch,
    PcmBuffer,
)


class CaptureFeed:
    """The newest captured frame, the captured samples, and the camera and microphone switches
    (camera off and mute: the tracks keep running and send black or silence)."""

    def __init__(self) -> None:
        self.frames = FrameSlot()
        self.pcm = PcmBuffer()
        self.camera = MediaSwitch(True)
        self.microphone = MediaSwitch(True)

    def put_frame(self, frame: RgbFrame | None) -> None:
        self.frames.put(frame)

    def tracks(self) -> Sequence[MediaStreamTrack]:
        """The session's media factory (runs on the engine thread): a video and an audio track
        over this feed."""
        return (
            CapturedVideoTrack(self.frames, self.camera),
            CapturedAudioTrack(self.pcm, self.microphone),
        )
