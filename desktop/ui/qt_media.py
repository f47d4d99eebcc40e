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
    QCapturableWindow,
    QMediaCaptureSession,
    QMediaDevices,
    QScreenCapture,
    QVideoFrame,
    QVideoSink,
    QWindowCapture,
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
    "QCapturableWindow",
    "QMediaCaptureSession",
    "QMediaDevices",
    "QMicrophonePermission",
    "QScreenCapture",
    "QVideoFrame",
    "QVideoSink",
    "QWindowCapture",
]
