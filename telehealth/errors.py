"""The one error root of the ``telehealth`` package and its narrow subclasses.

``TelehealthError`` itself is never raised. Every subclass has a docstring written for the person
using the app: what probably happened and what they can do about it. Messages never contain names,
SDP, keys or message contents.
"""

from __future__ import annotations


class TelehealthError(Exception):
    """Root of every error raised by ``telehealth``. Never raised itself."""


class InviteLinkError(TelehealthError):
    """This does not look like a Quietroom session link: part of it is missing or was changed.
    Copy the whole link again from the invitation (it ends with a long code after ``#``)."""


class MessageFormatError(TelehealthError):
    """The other side sent a call message this version cannot read. Both people should use the
    latest Quietroom app or reload the session page; if it persists, end the call and start
    again."""


class MessageRejectedError(TelehealthError):
    """A call message could not be authenticated, so it was ignored. It may have been altered on
    the way or come from someone without the session link. If the call does not start, end it and
    send a new invitation.

    Deliberately opaque: a wrong key, a tampered envelope, a wrong sender role and a garbled
    ciphertext all raise exactly this, with exactly this message.
    """

    MESSAGE = "call message rejected: it could not be authenticated"

    def __init__(self) -> None:
        super().__init__(self.MESSAGE)


class ReplayedMessageError(MessageRejectedError):
    """An authentic call message arrived a second time or out of order and was ignored. This is
    harmless on its own; if the call misbehaves, end it and send a new invitation."""

    MESSAGE = "call message rejected: it was already received"


class FingerprintError(TelehealthError):
    """The connection details from the other side lack a usable security fingerprint, so the
    verification code cannot be computed. End the call and start again; if it keeps happening the
    other person's browser may be too old."""


class VerificationError(TelehealthError):
    """The verification exchange went wrong: a step came out of order or the other side's
    commitment did not match. Treat the call as not verified: end it and send a new invitation."""


class InvalidTransitionError(TelehealthError):
    """The call was asked to do something that does not fit its current stage (for example to
    admit someone after the call ended). This is a program error; end the call and start again."""

    def __init__(self, state: str, event: str) -> None:
        self.state = state
        self.event = event
        super().__init__(f"event {event!r} is not allowed in call state {state!r}")


class IceConfigError(TelehealthError):
    """The relay's ICE/TURN configuration file is missing, unreadable or malformed. Fix the file
    (see docs/telehealth.md for its format) and start the relay again."""


class RelayConfigError(TelehealthError):
    """The relay cannot start with these settings (for example a TLS certificate without its key,
    or a limit that is zero). Check the command line and files, then start it again."""


class RelayRefusedError(TelehealthError):
    """The session service would not let this practice open a session: it did not accept the
    practice's key, or the key already has as many sessions open as it may. Check the key in
    Settings > Video sessions (Test connection says what is wrong), or ask your provider."""


class RoomsUnavailableError(TelehealthError):
    """The relay cannot reach the store it shares rooms through (Redis). The session service is
    briefly unavailable: join again in a moment."""


class CallConnectionError(TelehealthError):
    """The video connection could not be established or was lost for too long. Both people should
    check their internet connection; a firewall may be blocking calls. Then start the call again."""


class FormRefusedError(TelehealthError):
    """A filled-in form was refused: a required answer is missing, a signature has no typed
    name, or an answer does not fit its question. The message names the question; nothing of
    it was kept."""


class MailboxError(TelehealthError):
    """The session service's mailbox could not take or give a form: it may be unreachable, the
    link may have expired, or the form was already answered. The message says which."""
