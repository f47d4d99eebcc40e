// The verification code, exactly as telehealth/verification.py (docs/telehealth.md section 4).
// The client is always the answerer: it reveals its nonce only after it holds the therapist's
// commitment and offer, and checks the therapist's nonce against that commitment.

import { b64urlDecode, b64urlEncode, hex } from "./signalling.js";

const te = new TextEncoder();
const PREFERENCE = ["sha-256", "sha-384", "sha-512"];
const DIGEST_SIZES = { "sha-256": 32, "sha-384": 48, "sha-512": 64 };
const FINGERPRINT_LINE = /^a=fingerprint:(\S+)[ \t]+(\S+)[ \t]*$/i;
const HEX_PAIRS = /^[0-9a-f]{2}(:[0-9a-f]{2})*$/;

export class VerificationError extends Error {}

/** The fingerprint that goes into the code: {algorithm, hex} (lowercase hex, no colons). */
export function selectFingerprint(sdp) {
  const found = [];
  for (const raw of sdp.split(/\r\n|\r|\n/)) {
    const m = FINGERPRINT_LINE.exec(raw.trim());
    if (!m) continue;
    const algorithm = m[1].toLowerCase();
    const value = m[2].toLowerCase();
    if (!(algorithm in DIGEST_SIZES)) continue;
    if (!HEX_PAIRS.test(value)) throw new VerificationError("malformed fingerprint");
    const digest = value.replaceAll(":", "");
    if (digest.length !== 2 * DIGEST_SIZES[algorithm]) throw new VerificationError("malformed fingerprint");
    found.push({ algorithm, hex: digest });
  }
  for (const algorithm of PREFERENCE) {
    const values = new Set(found.filter((f) => f.algorithm === algorithm).map((f) => f.hex));
    if (values.size > 1) throw new VerificationError("conflicting fingerprints");
    if (values.size === 1) return { algorithm, hex: [...values][0] };
  }
  throw new VerificationError("no usable fingerprint");
}

function concat(a, b) {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

export async function commitment(nonce) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", concat(te.encode("quietroom/v1 commit\n"), nonce)));
}

/** The 6-digit code as a string; `key` is the HMAC CryptoKey from deriveCallKeys. */
export async function verificationCode(key, offerer, answerer, offererNonce, answererNonce) {
  const transcript =
    "quietroom/v1 sas\n" +
    `offerer ${offerer.algorithm} ${offerer.hex}\n` +
    `answerer ${answerer.algorithm} ${answerer.hex}\n` +
    `offerer-nonce ${hex(offererNonce)}\n` +
    `answerer-nonce ${hex(answererNonce)}\n`;
  const mac = await crypto.subtle.sign("HMAC", key, te.encode(transcript));
  return (new DataView(mac).getBigUint64(0) % 1000000n).toString().padStart(6, "0");
}

export function formatCode(code) {
  return `${code.slice(0, 3)} ${code.slice(3)}`;
}

function same(a, b) {
  return a !== null && b !== null && a.algorithm === b.algorithm && a.hex === b.hex;
}

/** The answerer's side of the exchange. Any step out of order throws VerificationError. */
function sameBytes(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export class AnswererVerifier {
  constructor(key, { random = (n) => crypto.getRandomValues(new Uint8Array(n)) } = {}) {
    this.key = key;
    this.nonce = random(32);
    this.local = null;
    this.remote = null;
    this.peerCommitment = null;
    this.peerNonce = null;
    this.revealed = false;
  }

  static pin(current, next) {
    // An ICE restart may repeat the SDP but must not swap the certificate.
    if (current !== null && !same(current, next)) throw new VerificationError("certificate changed");
    return next;
  }

  setLocalSdp(sdp) {
    this.local = AnswererVerifier.pin(this.local, selectFingerprint(sdp));
  }

  setRemoteSdp(sdp) {
    this.remote = AnswererVerifier.pin(this.remote, selectFingerprint(sdp));
  }

  receiveCommit(message) {
    const commitment = b64urlDecode(message.hash);
    // The same commitment again: the therapist's app re-sent what we may have missed after our
    // socket dropped. Anything else after the first is out of order.
    if (this.peerCommitment !== null && sameBytes(this.peerCommitment, commitment)) return;
    if (this.peerCommitment !== null || this.revealed) throw new VerificationError("unexpected commit");
    this.peerCommitment = commitment;
  }

  get canReveal() {
    return !this.revealed && this.peerCommitment !== null && this.remote !== null && this.local !== null;
  }

  /** Our reveal message; only once the commitment and the offer are in. */
  reveal() {
    if (!this.canReveal) throw new VerificationError("too early to reveal");
    this.revealed = true;
    return { type: "reveal", nonce: b64urlEncode(this.nonce) };
  }

  /** The therapist's nonce; returns the code once it opens the commitment. */
  async receiveReveal(message) {
    if (this.peerNonce !== null) throw new VerificationError("second reveal");
    if (!this.revealed || this.peerCommitment === null) throw new VerificationError("revealed too early");
    const nonce = b64urlDecode(message.nonce);
    const expected = await commitment(nonce);
    let diff = expected.length ^ this.peerCommitment.length;
    for (let i = 0; i < expected.length; i++) diff |= expected[i] ^ (this.peerCommitment[i] ?? 0);
    if (diff !== 0) throw new VerificationError("nonce does not match the commitment");
    this.peerNonce = nonce;
    return verificationCode(this.key, this.remote, this.local, this.peerNonce, this.nonce);
  }
}
