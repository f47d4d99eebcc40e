"""Regenerate the valid envelopes of envelopes.json from their role, seq, nonce and plaintext
(run from the repository root: python tests/telehealth/vectors/generate_envelopes.py). The
invalid ones are hand-made and kept as they are. Frozen once released: regenerate only when the
envelope format itself changes (it did when padding to fixed sizes came in)."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from telehealth import protocol
from telehealth.encoding import b64url_decode, b64url_encode
from telehealth.invite import derive_call_keys
from telehealth.sealing import Sealer, associated_data, pad

PATH = Path(__file__).parent / "envelopes.json"


def main() -> None:
    data = json.loads(PATH.read_text("utf-8"))
    key = derive_call_keys(b64url_decode(data["secret"])).signalling_key
    for vector in data["vectors"]:
        nonce = b64url_decode(vector["nonce"])
        message = protocol.from_json(vector["plaintext"])
        sealer = Sealer(vector["role"], key, first_seq=vector["seq"], random=lambda _n, b=nonce: b)
        vector["envelope"] = sealer.seal(message)
        vector["padded_length"] = len(pad(vector["plaintext"].encode("utf-8")))
    # One valid seal of an unpadded plaintext: authentic, but refused for its size.
    nonce = bytes(range(12))
    plain = b'{"type":"admit"}'
    ct = AESGCM(key).encrypt(nonce, plain, associated_data("therapist", 3))
    unpadded = {
        "description": "authentic but not padded to a fixed size",
        "receiver_expects": "therapist",
        "error": "format",
        "envelope": (
            f'{{"v":1,"from":"therapist","seq":3,"nonce":"{b64url_encode(nonce)}",'
            f'"ct":"{b64url_encode(ct)}"}}'
        ),
    }
    data["invalid"] = [v for v in data["invalid"] if v["description"] != unpadded["description"]]
    data["invalid"].append(unpadded)
    PATH.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", "utf-8")


if __name__ == "__main__":
    main()
