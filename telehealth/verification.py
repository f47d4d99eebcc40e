"""The short verification code both people read aloud and compare.

The code binds the two DTLS certificate fingerprints, as each side saw them in the SDP, to two
random nonces exchanged commit-before-reveal (as in ZRTP), keyed with the verification key from the
invitation. A man in the middle who substitutes his own certificates ends up with two calls whose
codes agree only by a one-in-a-million chance, and he cannot grind certificates or nonces to
improve that chance, because every value he could still choose is fixed before he learns the
random value that decides the code on the other side. See docs/telehealth.md for the full
argument.

Order of the exchange (the offerer is the therapist, the answerer the client)::

    offerer  -> answerer   commit{hash = SHA-256("quietroom/v1 commit\\n" || nonce_o)}
    offerer  -> answerer   offer{sdp}        (commit and offer in either order)
    answerer -> offerer    answer{sdp}
    answerer -> offerer    reveal{nonce_a}   only after commit AND offer were received
    offerer  -> answerer   reveal{nonce_o}   only after answer AND reveal{nonce_a} were received
    answerer checks SHA-256("quietroom/v1 commit\\n" || nonce_o) == hash

    code = decimal(uint64_be(HMAC-SHA256(verification_key, transcript)[0:8]) mod 10**6), 6 digits
    transcript = "quietroom/v1 sas\\n"
                 "offerer <alg> <hex>\\n" "answerer <alg> <hex>\\n"
                 "offerer-nonce <hex>\\n" "answerer-nonce <hex>\\n"      (hex in lowercase)
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from telehealth.errors import FingerprintError, VerificationError
from telehealth.protocol import NONCE_BYTES, Commit, Reveal

Side = Literal["offerer", "answerer"]

# Preference when an SDP carries several fingerprints. Weak hashes (sha-1, md5) are never used.
FINGERPRINT_PREFERENCE: Final = ("sha-256", "sha-384", "sha-512")
_DIGEST_SIZES: Final = {"sha-256": 32, "sha-384": 48, "sha-512": 64}
_FINGERPRINT_LINE = re.compile(r"a=fingerprint:(\S+)[ \t]+(\S+)[ \t]*", re.IGNORECASE)
_HEX_PAIRS = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2})*")
CODE_DIGITS: Final = 6
COMMIT_LABEL: Final = b"quietroom/v1 commit\n"
SAS_LABEL: Final = "quietroom/v1 sas\n"


@dataclass(frozen=True)
class Fingerprint:
    """A DTLS certificate fingerprint: hash algorithm (lowercase) and digest bytes."""

    algorithm: str
    digest: bytes

    def transcript_form(self) -> str:
        return f"{self.algorithm} {self.digest.hex()}"

    def __str__(self) -> str:
        return f"{self.algorithm} " + ":".join(f"{b:02X}" for b in self.digest)


def sdp_fingerprints(sdp: str) -> list[Fingerprint]:
    """All well-formed ``a=fingerprint:`` lines of ``sdp``, session and media level alike."""
    found: list[Fingerprint] = []
    for raw_line in sdp.splitlines():
        match = _FINGERPRINT_LINE.fullmatch(raw_line.strip())
        if match is None:
            continue
        algorithm = match.group(1).lower()
        value = match.group(2).lower()
        if algorithm not in _DIGEST_SIZES:
            continue
        if not _HEX_PAIRS.fullmatch(value):
            raise FingerprintError("malformed fingerprint in the connection details")
        digest = bytes.fromhex(value.replace(":", ""))
        if len(digest) != _DIGEST_SIZES[algorithm]:
            raise FingerprintError("malformed fingerprint in the connection details")
        found.append(Fingerprint(algorithm, digest))
    return found


def select_fingerprint(sdp: str) -> Fingerprint:
    """The one fingerprint of ``sdp`` that goes into the code: sha-256 if present, else sha-384,
    else sha-512. Two different values for the chosen algorithm (e.g. per media section) are
    refused, since the code could then not say which certificate it covers."""
    candidates = sdp_fingerprints(sdp)
    for algorithm in FINGERPRINT_PREFERENCE:
        values = {fp.digest for fp in candidates if fp.algorithm == algorithm}
        if len(values) > 1:
            raise FingerprintError("the connection details carry conflicting fingerprints")
        if values:
            return Fingerprint(algorithm, values.pop())
    raise FingerprintError("the connection details carry no usable fingerprint")


def commitment(nonce: bytes) -> bytes:
    """SHA-256 commitment to a verification nonce."""
    return hashlib.sha256(COMMIT_LABEL + nonce).digest()


def verification_code(
    verification_key: bytes,
    offerer: Fingerprint,
    answerer: Fingerprint,
    offerer_nonce: bytes,
    answerer_nonce: bytes,
) -> str:
    """The 6-digit code for this transcript (as a string of digits, leading zeros kept)."""
    transcript = (
        SAS_LABEL
        + f"offerer {offerer.transcript_form()}\n"
        + f"answerer {answerer.transcript_form()}\n"
        + f"offerer-nonce {offerer_nonce.hex()}\n"
        + f"answerer-nonce {answerer_nonce.hex()}\n"
    ).encode("ascii")
    mac = hmac.new(verification_key, transcript, hashlib.sha256).digest()
    return str(int.from_bytes(mac[:8], "big") % 10**CODE_DIGITS).zfill(CODE_DIGITS)


def format_code(code: str) -> str:
    """Split the code for reading aloud: ``"048213"`` -> ``"048 213"``."""
    return f"{code[:3]} {code[3:]}"


class Verifier:
    """One side's part of the verification exchange; enforces the commit-before-reveal order.

    Feed it the local and remote SDP as they are set on the peer connection and the ``commit`` /
    ``reveal`` messages as they arrive; send what :meth:`commit` and :meth:`reveal` return. Any
    step out of order raises :class:`VerificationError`, and the call must then be treated as
    unverified.
    """

    def __init__(
        self,
        side: Side,
        verification_key: bytes,
        *,
        random: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if side not in ("offerer", "answerer"):
            raise ValueError("side must be 'offerer' or 'answerer'")
        if len(verification_key) != 32:
            raise ValueError("the verification key is 32 bytes")
        self._side: Side = side
        self._key = verification_key
        self._nonce = random(NONCE_BYTES)
        if len(self._nonce) != NONCE_BYTES:
            raise ValueError("nonce source returned the wrong length")
        self._local: Fingerprint | None = None
        self._remote: Fingerprint | None = None
        self._peer_commitment: bytes | None = None
        self._peer_nonce: bytes | None = None
        self._committed = False
        self._revealed = False

    @property
    def side(self) -> Side:
        return self._side

    def set_local_sdp(self, sdp: str) -> None:
        self._local = self._pin(self._local, select_fingerprint(sdp))

    def set_remote_sdp(self, sdp: str) -> None:
        if self._side == "offerer" and not self._committed:
            raise VerificationError("the offerer must commit before it sees the answer")
        self._remote = self._pin(self._remote, select_fingerprint(sdp))

    @staticmethod
    def _pin(current: Fingerprint | None, new: Fingerprint) -> Fingerprint:
        # Renegotiation (an ICE restart) may repeat the SDP, but must not swap the certificate
        # the code was computed for.
        if current is not None and current != new:
            raise VerificationError("the certificate changed during the call")
        return new

    def commit(self) -> Commit:
        """Offerer only, first step: the commitment to send before the offer is answered."""
        if self._side != "offerer" or self._committed:
            raise VerificationError("commit is the offerer's first step, sent once")
        self._committed = True
        return Commit(digest=commitment(self._nonce))

    def receive_commit(self, message: Commit) -> None:
        """Answerer only: the offerer's commitment, which must arrive before we reveal. The same
        commitment again is ignored (the offerer re-sends it to a page whose socket dropped)."""
        if self._side == "answerer" and self._peer_commitment == message.digest:
            return
        if self._side != "answerer" or self._peer_commitment is not None or self._revealed:
            raise VerificationError("unexpected commit")
        self._peer_commitment = message.digest

    def reveal(self) -> Reveal:
        """Our nonce, once it is safe to let it go (see the order in the module docstring)."""
        if self._revealed:
            raise VerificationError("already revealed")
        if self._side == "answerer":
            ready = self._peer_commitment is not None and self._remote is not None
        else:
            ready = self._committed and self._remote is not None and self._peer_nonce is not None
        if not ready:
            raise VerificationError("too early to reveal the verification nonce")
        self._revealed = True
        return Reveal(nonce=self._nonce)

    def receive_reveal(self, message: Reveal) -> None:
        """The peer's nonce. For the answerer it must open the offerer's earlier commitment."""
        if self._peer_nonce is not None:
            raise VerificationError("unexpected second reveal")
        if self._side == "offerer":
            if not self._committed:
                raise VerificationError("reveal arrived before our commitment")
        else:
            if not self._revealed or self._peer_commitment is None:
                raise VerificationError("the offerer revealed too early")
            if not hmac.compare_digest(commitment(message.nonce), self._peer_commitment):
                raise VerificationError("the offerer's nonce does not match its commitment")
        self._peer_nonce = message.nonce

    @property
    def is_complete(self) -> bool:
        return (
            self._revealed
            and self._peer_nonce is not None
            and self._local is not None
            and self._remote is not None
        )

    def code(self) -> str:
        """The 6-digit code, once the exchange is complete."""
        if not self.is_complete:
            raise VerificationError("the verification exchange is not complete")
        assert self._local is not None and self._remote is not None
        assert self._peer_nonce is not None
        if self._side == "offerer":
            return verification_code(
                self._key, self._local, self._remote, self._nonce, self._peer_nonce
            )
        return verification_code(
            self._key, self._remote, self._local, self._peer_nonce, self._nonce
        )
