"""The practice domain's error root."""

from __future__ import annotations


class PracticeError(Exception):
    """Root of the practice domain's own errors. Never raised itself."""


class PassphraseTooWeakError(PracticeError):
    """The new passphrase is too short or too easy to guess. Use at least 10 characters; a few
    unrelated words are easier to remember and harder to guess than a short password."""


class NotFoundError(PracticeError):
    """The record is not in this vault. It may have been destroyed under the retention policy, or
    the list you opened it from is out of date: refresh and try again."""


class ClientNotFoundError(NotFoundError):
    """This client is not in the vault. Refresh the client list and try again."""


class SessionNotFoundError(NotFoundError):
    """This session is not in the vault. Refresh the client's page and try again."""


class NoteNotFoundError(NotFoundError):
    """This note is not in the vault. Refresh the client's page and try again."""


class TemplateNotFoundError(NotFoundError):
    """This note template does not exist. Choose another template in the note editor."""


class InvalidFieldError(PracticeError):
    """A value you entered is not accepted; the message names the field and what it needs."""


class ClientArchivedError(PracticeError):
    """This client is archived. Restore the client from the archive before adding sessions or
    notes."""


class NoteSignedError(PracticeError):
    """This note is signed and locked; it can never change. To correct or add to it, write an
    amendment or an addendum, which is kept next to the original."""


class NoteNotSignedError(PracticeError):
    """Only a signed note can be amended or have an addendum. This note is still a draft: edit it
    directly, then sign it."""


class EmptyNoteError(PracticeError):
    """The note is empty. Write at least one section before signing it."""


class CompartmentError(PracticeError):
    """Psychotherapy notes are kept apart from the rest of the record. Open them from the
    client's Psychotherapy notes tab, which records that you opened them."""


class RetentionError(PracticeError):
    """The client's record cannot be destroyed yet. Only an archived client can be destroyed,
    after the retention period, with the client's full name typed to confirm."""


class TemplateError(PracticeError):
    """A note template is malformed: each template needs a name and at least one section with a
    key and a title."""


class SettingsError(PracticeError):
    """A setting has a value that is out of range; the message says which values are allowed."""
