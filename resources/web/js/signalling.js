// Signalling for the client page: invitation keys, the message format and sealed envelopes.
// The same formats as telehealth/invite.py, telehealth/protocol.py and telehealth/sealing.py
// (docs/telehealth.md, sections 1-3); tests/e2e checks this module against the Python vectors.

const te = new TextEncoder();
const td = new TextDecoder("utf-8", { fatal: true });

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const B64URL_INDEX = new Map([...B64URL].map((ch, i) => [ch, i]));

import * as forms from "./forms.js";

export class FormatError extends Error {}
export class RejectedError extends Error {
  constructor() {
    super("call message rejected: it could not be authenticated");
  }
}
export class ReplayedError extends RejectedError {}

/** Unpadded base64url (RFC 4648 section 5). */
export function b64urlEncode(bytes) {
  const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let out = "";
  for (let i = 0; i < data.length; i += 3) {
    const n = (data[i] << 16) | ((data[i + 1] ?? 0) << 8) | (data[i + 2] ?? 0);
    const chars = Math.min(4, Math.ceil(((data.length - i) * 8) / 6));
    for (let j = 0; j < chars; j++) out += B64URL[(n >> (18 - 6 * j)) & 63];
  }
  return out;
}

/** Strict unpadded base64url: alphabet only, canonical trailing bits. Throws FormatError. */
export function b64urlDecode(text) {
  if (typeof text !== "string" || text.length % 4 === 1) throw new FormatError("not base64url");
  const out = new Uint8Array(Math.floor((text.length * 6) / 8));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (const ch of text) {
    const v = B64URL_INDEX.get(ch);
    if (v === undefined) throw new FormatError("not base64url");
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  if (bits > 0 && (acc & ((1 << bits) - 1)) !== 0) throw new FormatError("not canonical base64url");
  return out;
}

export function hex(bytes) {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// ---- invitation --------------------------------------------------------------------------

export const SECRET_BYTES = 32;

/** The secret from the link's fragment ("#<43 characters>"), or null if it is not one. */
export function secretFromFragment(fragment) {
  const text = (fragment || "").replace(/^#/, "");
  if (!/^[A-Za-z0-9_-]{43}$/.test(text)) return null;
  try {
    const secret = b64urlDecode(text);
    return secret.length === SECRET_BYTES ? secret : null;
  } catch {
    return null;
  }
}

/** HKDF-SHA256 with an empty salt, exactly as telehealth/invite.py. */
export async function deriveCallKeys(secret) {
  const ikm = await crypto.subtle.importKey("raw", secret, "HKDF", false, ["deriveBits"]);
  const derive = (info, bits) =>
    crypto.subtle.deriveBits(
      { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: te.encode(info) },
      ikm,
      bits,
    );
  const roomId = hex(await derive("quietroom/v1 room-id", 128));
  const signallingBits = await derive("quietroom/v1 signalling-key", 256);
  const verificationBits = await derive("quietroom/v1 verification-key", 256);
  // Non-extractable keys: nothing on the page can read them back out.
  const signallingKey = await crypto.subtle.importKey("raw", signallingBits, "AES-GCM", false, [
    "encrypt",
    "decrypt",
  ]);
  const verificationKey = await crypto.subtle.importKey(
    "raw",
    verificationBits,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return { roomId, signallingKey, verificationKey };
}

// ---- messages ----------------------------------------------------------------------------

const FIELDS = {
  hello: ["name", "device"],
  details: ["location", "emergencyPhone"],
  media: ["video"],
  admit: [],
  decline: [],
  offer: ["sdp"],
  answer: ["sdp"],
  ice: ["candidate", "sdpMid", "sdpMLineIndex"],
  commit: ["hash"],
  reveal: ["nonce"],
  bye: ["reason"],
  form: ["form"],
  form_reply: ["reply"],
  others: ["people"],
};
const PERSON_FIELDS = ["name", "state", "video", "audio"];
export const PERSON_STATES = ["expected", "here", "away"];
const MID = /^[\x21-\x7e]{1,64}$/;
export const BYE_REASONS = ["hangup", "declined", "timeout", "error"];
const MAX_SDP = 32768;
const PRINTABLE = /^[\x20-\x7e]*$/;
const SDP_TEXT = /^[\x20-\x7e\r\n]+$/;
// Control, format (except ZWNJ/ZWJ), surrogate, private-use, unassigned, line/paragraph separators.
const BAD_NAME_CHAR = /[\p{Cc}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}]|(?![\u200c\u200d])\p{Cf}/u;

function check(condition, what) {
  if (!condition) throw new FormatError(what);
}

/** Python's len(): code points, not UTF-16 units. */
function length(text) {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** The waiting room's safety details (same rules as telehealth.protocol.Details). */
export function checkDetails(location, phone) {
  check(typeof location === "string" && typeof phone === "string", "details must be text");
  const n = length(location);
  check(n >= 1 && n <= 200 && location.trim().length > 0, "location must be 1..200 characters");
  check(!BAD_NAME_CHAR.test(location), "location contains control characters");
  check(phone.length >= 3 && phone.length <= 32 && /^[0-9+() .-]+$/.test(phone), "bad phone");
  check((phone.match(/[0-9]/g) || []).length >= 3, "bad phone");
}

export function checkName(name) {
  check(typeof name === "string", "name must be text");
  const n = length(name);
  check(n >= 1 && n <= 64, "name must be 1..64 characters");
  check(!BAD_NAME_CHAR.test(name), "name contains control characters");
  check(name.trim().length > 0, "name must not be blank");
  return name;
}

function checkBytes(value, size) {
  const bytes = b64urlDecode(value);
  check(bytes.length === size, "wrong length");
  return bytes;
}

/** The other client devices of a couples or family session (telehealth.protocol.Others). */
function checkPeople(people) {
  check(Array.isArray(people) && people.length <= 3, "people must be a list of at most 3");
  const mids = new Set();
  for (const p of people) {
    check(p !== null && typeof p === "object" && !Array.isArray(p), "a person is an object");
    const keys = Object.keys(p);
    check(keys.length === 4 && PERSON_FIELDS.every((f) => keys.includes(f)), "wrong person fields");
    if (p.name !== "") checkName(p.name);
    check(PERSON_STATES.includes(p.state), "bad person state");
    for (const mid of [p.video, p.audio]) {
      check(typeof mid === "string" && MID.test(mid) && !mids.has(mid), "bad mid");
      mids.add(mid);
    }
  }
}

/** Validate a parsed message object strictly (same rules as telehealth/protocol.py). */
export function checkMessage(obj) {
  check(obj !== null && typeof obj === "object" && !Array.isArray(obj), "not an object");
  const fields = FIELDS[obj.type];
  check(typeof obj.type === "string" && fields !== undefined, "unknown message type");
  const keys = Object.keys(obj).filter((k) => k !== "type");
  check(keys.length === fields.length && fields.every((f) => keys.includes(f)), "wrong fields");
  switch (obj.type) {
    case "hello":
      checkName(obj.name);
      checkBytes(obj.device, 16);
      break;
    case "details":
      checkDetails(obj.location, obj.emergencyPhone);
      break;
    case "media":
      check(typeof obj.video === "boolean", "video must be true or false");
      break;
    case "offer":
    case "answer":
      check(typeof obj.sdp === "string" && obj.sdp.length <= MAX_SDP, "bad sdp");
      check(SDP_TEXT.test(obj.sdp), "bad sdp");
      break;
    case "ice":
      check(typeof obj.candidate === "string" && obj.candidate.length <= 1024, "bad candidate");
      check(PRINTABLE.test(obj.candidate), "bad candidate");
      check(
        obj.sdpMid === null ||
          (typeof obj.sdpMid === "string" && obj.sdpMid.length <= 64 && PRINTABLE.test(obj.sdpMid)),
        "bad sdpMid",
      );
      check(
        obj.sdpMLineIndex === null ||
          (Number.isInteger(obj.sdpMLineIndex) && obj.sdpMLineIndex >= 0 && obj.sdpMLineIndex <= 1023),
        "bad sdpMLineIndex",
      );
      break;
    case "commit":
      checkBytes(obj.hash, 32);
      break;
    case "reveal":
      checkBytes(obj.nonce, 32);
      break;
    case "bye":
      check(BYE_REASONS.includes(obj.reason), "bad bye reason");
      break;
    case "form":
      forms.checkDocument(obj.form);
      break;
    case "form_reply":
      forms.checkReplyShape(obj.reply);
      break;
    case "others":
      checkPeople(obj.people);
      break;
  }
  return obj;
}

/** Compact JSON with fields in wire order, like telehealth.protocol.to_json. */
export function messageJson(message) {
  checkMessage(message);
  const ordered = { type: message.type };
  for (const f of FIELDS[message.type]) ordered[f] = message[f];
  return JSON.stringify(ordered);
}

// ---- envelopes ---------------------------------------------------------------------------

export const MAX_SEQ = Number.MAX_SAFE_INTEGER; // 2**53 - 1
const MAX_ENVELOPE_CHARS = 112 * 1024;
// Plaintexts are padded with spaces to one of these sizes (telehealth/sealing.py PAD_SIZES), so
// an envelope's size tells the relay nothing about a name's length or admit from decline.
export const PAD_SIZES = [1024, 4096, 16 * 1024, 80 * 1024];

function pad(bytes) {
  const size = PAD_SIZES.find((n) => n >= bytes.length);
  if (size === undefined) throw new FormatError("message too long");
  const out = new Uint8Array(size).fill(0x20);
  out.set(bytes);
  return out;
}

function unpad(bytes) {
  check(PAD_SIZES.includes(bytes.length), "message is not padded to a fixed size");
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0x20) end--;
  return bytes.subarray(0, end);
}
const ENVELOPE_KEYS = ["v", "from", "seq", "nonce", "ct"];
const ROLES = ["therapist", "client"];

function associatedData(role, seq) {
  return te.encode(`quietroom/v1 envelope\n${role}\n${seq}`);
}

/** The keys of the top-level object in JSON text, in order, duplicates kept. */
function topLevelKeys(text) {
  const keys = [];
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      if (depth === 1 && /^\s*:/.test(text.slice(j + 1, j + 12))) keys.push(JSON.parse(text.slice(i, j + 1)));
      i = j;
    } else if (ch === "{" || ch === "[") {
      depth++;
    } else if (ch === "}" || ch === "]") {
      depth--;
    }
  }
  return keys;
}

/** JSON.parse that refuses duplicate keys (JSON.parse would let the last one win silently). */
function parseStrictObject(text, maxChars) {
  check(typeof text === "string" && text.length <= maxChars, "message too long");
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    throw new FormatError("not JSON");
  }
  check(value !== null && typeof value === "object" && !Array.isArray(value), "not an object");
  check(topLevelKeys(text).length === Object.keys(value).length, "duplicate field");
  return value;
}

export class Sealer {
  /** Seals what this side sends; seq starts at the current time in ms (see sealing.py). */
  constructor(role, key, { firstSeq = Date.now(), random = (n) => crypto.getRandomValues(new Uint8Array(n)) } = {}) {
    if (!ROLES.includes(role)) throw new Error("bad role");
    this.role = role;
    this.key = key;
    this.nextSeq = firstSeq;
    this.random = random;
  }

  async seal(message) {
    const seq = this.nextSeq;
    this.nextSeq = seq + 1; // taken before the await, so concurrent seals never share a seq
    return this.sealWithSeq(message, seq);
  }

  /** Seal with a sequence number far ahead of the current one, without using it up: for a
   * farewell message prepared in advance and sent while the page unloads (no time to await). */
  async sealAhead(message, ahead) {
    return this.sealWithSeq(message, this.nextSeq + ahead);
  }

  async sealWithSeq(message, seq) {
    const plaintext = pad(te.encode(messageJson(message)));
    if (!Number.isInteger(seq) || seq < 0 || seq > MAX_SEQ) {
      throw new FormatError("sequence numbers exhausted");
    }
    const nonce = this.random(12);
    const ct = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce, additionalData: associatedData(this.role, seq), tagLength: 128 },
      this.key,
      plaintext,
    );
    return (
      `{"v":1,"from":"${this.role}","seq":${seq},` +
      `"nonce":"${b64urlEncode(nonce)}","ct":"${b64urlEncode(ct)}"}`
    );
  }
}

export class Opener {
  /** Opens what the peer sends; refuses replays. Check order as telehealth/sealing.py. */
  constructor(peerRole, key) {
    if (!ROLES.includes(peerRole)) throw new Error("bad role");
    this.peerRole = peerRole;
    this.key = key;
    this.lastSeq = -1;
  }

  async open(envelope) {
    const obj = parseStrictObject(envelope, MAX_ENVELOPE_CHARS);
    const keys = Object.keys(obj);
    check(keys.length === 5 && ENVELOPE_KEYS.every((k) => keys.includes(k)), "envelope fields");
    check(obj.v === 1 && Number.isInteger(obj.v), "unsupported envelope version");
    check(ROLES.includes(obj.from), "unknown sender role");
    check(Number.isInteger(obj.seq) && obj.seq >= 0 && obj.seq <= MAX_SEQ, "seq out of range");
    check(typeof obj.nonce === "string" && typeof obj.ct === "string", "fields not text");
    const nonce = b64urlDecode(obj.nonce);
    const ct = b64urlDecode(obj.ct);
    check(nonce.length === 12 && ct.length >= 16, "nonce or ciphertext size");
    if (obj.from !== this.peerRole) throw new RejectedError();
    let plaintext;
    try {
      plaintext = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: nonce, additionalData: associatedData(obj.from, obj.seq), tagLength: 128 },
        this.key,
        ct,
      );
    } catch {
      throw new RejectedError();
    }
    if (obj.seq <= this.lastSeq) throw new ReplayedError();
    let text;
    try {
      text = td.decode(unpad(new Uint8Array(plaintext)));
    } catch {
      throw new FormatError("not UTF-8");
    }
    const message = checkMessage(parseStrictObject(text, 2 * MAX_SDP + 1024));
    this.lastSeq = obj.seq;
    return message;
  }
}

/** The relay's own presence notice {"relay":"peers","count":N}, or null for an envelope. */
export function presenceCount(text) {
  if (typeof text !== "string" || !text.startsWith('{"relay"')) return null;
  try {
    const obj = JSON.parse(text);
    const keys = Object.keys(obj);
    if (keys.length === 2 && obj.relay === "peers" && Number.isInteger(obj.count)) return obj.count;
  } catch {
    // not a notice
  }
  return null;
}
