"""QtMultimedia for the call window (camera, microphone, speakers), kept apart from ``qt`` so
that the app starts without loading the media stack."""

from __future__ import annotations

from PySide6.QtCore import QCameraPermission, QMicrophonePermission
from PySide6.QtMultimedia import (
    QAudioDevice,
    QAudioFormat,
    QAudioSink,
    QAudioSource,
    QCamera,
    QCameraDevice,
    QCameraFormat,
    QMediaCaptureSession,
    QMediaDevices,
    QVideoFrame,
    QVideoSink,
)

__all__ = [
    "QAudioDevice",
    "QAudioFormat",
    "QAudioSink",
    "QAudioSource",
    "QCamera",
    "QCameraDevice",
    "QCameraFormat",
    "QCameraPermission",
    "QMediaCaptureSession",
    "QMediaDevices",
    "QMicrophonePermission",
    "QVideoFrame",
    "QVideoSink",
]
