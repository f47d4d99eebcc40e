"""Starting a video session from an appointment, and everything around the call window.

``VideoSessions(ctx).start(session_id)``:

1. asks the facade whether the appointment may have a video session (it exists, its modality is
   video, it is not cancelled, the client is not archived); if not, says why in the status bar;
2. picks the relay: the practice's ``relay_url`` setting, or, when that is empty, a relay run
   inside the app (:class:`telehealth.local_relay.LocalRelay`, started once, on first use, on a
   free port, serving the client's page): on 127.0.0.1 (this computer only, the default), or,
   with the ``local_relay_network`` setting, on this machine's LAN address over https with a
   self-signed certificate made for the occasion;
3. opens the call through the facade (``Practice.open_video_call``: the invitation, audited
   ``call.invite_created``; the returned :class:`desktop.core.calls.VideoCall` owns the call's
   state and records every later step from the session's lifecycle events) and opens the
   :class:`CallWindow`, its view, which shows the link with Copy and a QR code (and, for the
   self-signed certificate, a line on the warning the client's browser will show and the
   certificate's fingerprint);
4. holds auto-lock while the call is live and, when a call that connected ends, offers (without
   blocking anything) to write the progress note, prefilled with the call's date, time, duration
   and modality, and opens it.

``shutdown()`` (lock and quit) closes the call (its end recorded, every entry written before the
vault locks), hangs up, closes the window and stops the in-app relay. Nothing about a call is
written to disk; the audit entries hold ids, whole seconds and flags, never the name the client
typed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.core.calls import VideoCall
from desktop.core.errors import NotFoundError, PracticeError
from desktop.core.practice import CryptoError
from desktop.ui.clinical.waiting_room_forms import attach_to_call_window
from desktop.ui.context import UiContext
from desktop.ui.qt import QAbstractButton, QMessageBox, QPushButton, Qt, QWidget
from telehealth.errors import TelehealthError

if TYPE_CHECKING:  # the call stack (aiortc, QtMultimedia, aiohttp) loads on the first call,
    # not when the app starts: it would double the time to the unlock window
    from desktop.ui.call_window import CallWindow
    from desktop.ui.local_media import LocalMedia
    from telehealth.engine import IceServer
    from telehealth.local_relay import LocalRelay

LOOPBACK = "127.0.0.1"
PACKAGED_WEB_PAGE = "packaged"  # static_dir default: the client page installed with Quietroom

HANG_UP_WAIT = 5.0  # seconds shutdown waits for the goodbye and the session's threads


@dataclass
class _Call:
    """The call in progress (its state is the core call's) and its window."""

    call: VideoCall
    window: CallWindow
    finished: bool = False  # the window reported the end (the note offer was made)

    @property
    def session_id(self) -> str:
        return self.call.session_id


def _duration(seconds: float) -> str:
    from desktop.ui.call_window import format_duration

    return format_duration(seconds)


def _explain(exc: Exception) -> str:
    if isinstance(exc, NotFoundError):
        return "This appointment is no longer in the record. Refresh the page and try again."
    text = str(exc).strip() or "the video session could not start"
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."


class VideoSessions:
    """The app's video sessions: one call window at a time and the in-app relay.

    Settings a test (or a later preference) may change before ``start``: ``ice_servers`` (``None``
    asks the relay), ``media`` (a factory for the camera and microphone; ``None`` uses the
    devices), ``local_host`` (where the in-app relay listens when only this computer may reach
    it), ``network_cert_dir`` (where the "same network" relay writes its self-signed certificate;
    ``None``: a private temporary folder deleted when the relay stops), ``static_dir`` (the client
    page it serves) and ``connect_timeout``.
    """

    def __init__(self, ctx: UiContext) -> None:
        self.ctx = ctx
        self.ice_servers: Sequence[IceServer] | None = None
        self.media: Callable[[], LocalMedia] | None = None
        self.local_host = LOOPBACK
        self.network_cert_dir: Path | None = None
        self.static_dir: Path | str | None = PACKAGED_WEB_PAGE
        self.connect_timeout = 30.0
        self.local_relay: LocalRelay | None = None
        self.note_offer: QMessageBox | None = None
        self.note_offer_button: QPushButton | None = None
        self._call: _Call | None = None
        self._retired: list[CallWindow] = []  # closed windows whose threads are still stopping

    # -- state ----------------------------------------------------------------------------------

    @property
    def window(self) -> CallWindow | None:
        """The current call window (open, or ended and not yet replaced)."""
        return self._call.window if self._call is not None else None

    @property
    def call(self) -> VideoCall | None:
        """The current call (open, or ended and not yet replaced)."""
        return self._call.call if self._call is not None else None

    @property
    def call_live(self) -> bool:
        return self._call is not None and self._call.call.live

    # -- starting -------------------------------------------------------------------------------

    def start(self, session_id: str) -> None:
        """Open the call window for a video appointment (see the module docstring)."""
        current = self._call
        if current is not None and not current.finished:
            self._bring_forward(current.window)
            self.ctx.nav.notify("A video session is already open. End it before starting another.")
            return
        practice = self.ctx.practice
        try:
            practice.check_video_session(session_id)
        except PracticeError as exc:
            self.ctx.nav.notify(_explain(exc))
            return
        try:
            origin, local = self._relay()
            video_call = practice.open_video_call(
                session_id, origin, now=lambda: self.ctx.now().astimezone()
            )
        except TelehealthError as exc:
            self.ctx.nav.notify(f"The video session could not start: {exc}.")
            return
        except (PracticeError, CryptoError) as exc:
            self.ctx.nav.notify(_explain(exc))
            return
        self._close_offer()
        if current is not None:
            self._retire(current)
        from desktop.ui.call_window import CallWindow

        window = CallWindow(
            video_call,
            media=self.media() if self.media is not None else None,
            ice_servers=self.ice_servers,
            connect_timeout=self.connect_timeout,
            ssl_context=local.client_ssl_context() if local is not None else None,
            relay_note=self._relay_note(local),
            relay_credential=(
                local.credential
                if local is not None
                else practice.settings.relay_credential or None
            ),
            local_only=local is not None and local.on_loopback,
        )
        if local is not None and local.certificate is not None:
            window.relay_note.setToolTip(f"SHA-256 fingerprint: {local.certificate.fingerprint}")
        attach_to_call_window(window, practice)  # forms for the waiting room (clinical record)
        call = _Call(video_call, window)
        self._call = call
        window.call_started.connect(partial(self._on_started, call))
        window.session_finished.connect(partial(self._on_finished, call))
        window.problem.connect(self.ctx.nav.notify)
        window.setup_requested.connect(self.ctx.nav.show_settings)
        window.show()
        window.start()

    def _relay(self) -> tuple[str, LocalRelay | None]:
        """The hosted relay from the settings, else the in-app relay (started on first use, and
        started again if the "same network" setting changed since): its origin, and the in-app
        relay when that is the one."""
        settings = self.ctx.practice.settings
        hosted = self.ctx.relay_url() if self.ctx.relay_url is not None else ""
        hosted = hosted or settings.relay_address
        if hosted:
            return hosted, None
        network = settings.local_relay_network
        relay = self.local_relay
        if relay is not None and relay.running and relay.self_signed != network:
            self.local_relay = None  # no call is open (start checked): nothing uses it
            relay.stop()
            relay = None
        if relay is None or not relay.running:
            from telehealth.local_relay import LocalRelay
            from telehealth.relay import DEFAULT_STATIC_DIR

            static = DEFAULT_STATIC_DIR if self.static_dir == PACKAGED_WEB_PAGE else self.static_dir
            assert not isinstance(static, str)
            relay = (
                # On the network strangers can reach it: only this app may open rooms.
                LocalRelay.on_network(
                    self.network_cert_dir, static_dir=static, require_credential=True
                )
                if network
                else LocalRelay(self.local_host, static_dir=static)
            )
            self.local_relay = relay
            try:
                relay.start()
            except TelehealthError:
                self.local_relay = None
                raise
        return relay.origin, relay

    @staticmethod
    def _relay_note(relay: LocalRelay | None) -> str:
        """The call window's line about the in-app relay's self-signed certificate (no client
        data: only the certificate's fingerprint)."""
        certificate = relay.certificate if relay is not None else None
        if relay is None or certificate is None:
            return ""
        if relay.on_loopback:
            return "No local network was found: this link works on this computer only."
        return (
            "Clients on this network can join. Their browser will warn that the connection is "
            "not private, because Quietroom made its own certificate for this computer. To check "
            "it is this one, its SHA-256 fingerprint starts with "
            f"{certificate.short_fingerprint()}."
        )

    @staticmethod
    def _bring_forward(window: QWidget) -> None:
        window.show()
        window.raise_()
        window.activateWindow()

    # -- what the window reports ----------------------------------------------------------------

    def _current(self, call: _Call) -> bool:
        """Reports from a window that was shut down (or replaced) are not this call's any more."""
        return self._call is call

    def _on_started(self, call: _Call) -> None:
        if self._current(call) and call.call.live:
            self.ctx.nav.set_call_active(True)

    def _on_finished(self, call: _Call, _state: str) -> None:
        if not self._current(call) or call.finished:
            return
        call.finished = True
        if call.call.connected_once:
            self.ctx.nav.set_call_active(False)
        if call.call.note_offer() is not None:
            self._offer_note(call)

    # -- the note offered after the call --------------------------------------------------------

    def _offer_note(self, call: _Call) -> None:
        offer = call.call.note_offer()
        assert offer is not None
        self._close_offer()
        # Over the call window; over the main window if the therapist closed the call window.
        nav = self.ctx.nav
        parent = nav if not call.window.isVisible() and isinstance(nav, QWidget) else call.window
        box = QMessageBox(parent)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Quietroom")  # never the client's name
        box.setText(
            f"The video session has ended. Duration {_duration(offer.duration_s)}.\n"
            "Write the progress note now?"
        )
        box.setInformativeText(
            "The note starts with the date, time, duration and modality of this call"
            + (", and who else took part." if offer.participant is not None else ".")
        )
        write = box.addButton("Write a progress note", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(write)
        box.setWindowModality(Qt.WindowModality.NonModal)  # the app stays usable meanwhile
        box.buttonClicked.connect(partial(self._offer_answered, call, write))
        self.note_offer, self.note_offer_button = box, write
        box.show()

    def _offer_answered(self, call: _Call, write: QPushButton, clicked: QAbstractButton) -> None:
        self.note_offer = self.note_offer_button = None
        if clicked is write and self._current(call):
            self.write_note(call)

    def write_note(self, call: _Call) -> None:
        """Create the prefilled note for the call that just ended and open it."""
        try:
            note = self.ctx.practice.write_call_note(call.call)
        except (PracticeError, CryptoError) as exc:
            self.ctx.nav.notify(f"The progress note could not be created: {_explain(exc)}")
            return
        if note is None:
            return
        call.window.close()  # the session is over; the note is where the work continues
        self.ctx.nav.open_note(note.id)
        nav = self.ctx.nav
        if isinstance(nav, QWidget):
            self._bring_forward(nav)

    def _close_offer(self) -> None:
        box, self.note_offer, self.note_offer_button = self.note_offer, None, None
        if box is not None:
            box.close()

    # -- ending ---------------------------------------------------------------------------------

    def _retire(self, call: _Call) -> None:
        """Close an ended call's window; keep it alive until its session's threads are gone."""
        window = call.window
        if not window.session_stopped:
            self._retired.append(window)
            window.stopped.connect(partial(self._forget, window))
        window.close()

    def _forget(self, window: CallWindow) -> None:
        with contextlib.suppress(ValueError):
            self._retired.remove(window)

    def shutdown(self) -> None:
        """End any live call (recorded, the client told), close the call window and the note
        offer, and stop the in-app relay. Called on lock and on quit, before the vault locks."""
        self._close_offer()
        call, self._call = self._call, None
        if call is not None:
            if not call.finished:
                call.finished = True
                if call.call.live:
                    self.ctx.nav.set_call_active(False)
            # The end is recorded (a plain end if the call was still on) and every entry is
            # written before the vault locks; nothing is recorded after.
            call.call.close()
            # Hang up and wait (briefly) for the goodbye to leave and the threads to stop, so
            # that nothing of the call outlives the lock and the relay stops after the goodbye.
            with contextlib.suppress(Exception):
                call.window.stop_sessions(timeout=HANG_UP_WAIT)
            self._retire(call)
        relay, self.local_relay = self.local_relay, None
        if relay is not None:
            relay.stop()
