// The client's side of a Quietroom session: read the link, check the camera and microphone,
// wait to be let in, then a WebRTC call with the therapist's app. The relay only ever sees the
// room id and sealed envelopes; names, SDP, candidates and chat never reach it in the clear.
// Nothing of the session is written to storage: no cookies, no web storage, no databases.

import {
  FormatError,
  Opener,
  RejectedError,
  Sealer,
  b64urlEncode,
  checkDetails,
  checkName,
  deriveCallKeys,
  presenceCount,
  secretFromFragment,
} from "./signalling.js";
import { AnswererVerifier, VerificationError, formatCode } from "./verification.js";
import {
  canSwitchCamera,
  deviceProblem,
  isFacingUser,
  listDevices,
  openDevices,
  preferVideoCodecs,
  startLevelMeter,
  switchCamera,
  unsupportedReason,
} from "./media.js";
import { describe, summarise } from "./quality.js";
import { checkConsent, renderForm } from "./forms.js";

const $ = (id) => document.getElementById(id);
const SCREENS = ["screen-start", "screen-check", "screen-waiting", "screen-call", "screen-end"];
const CLOSE_MESSAGES = {
  4001: "This session link is already open in another window or on another device. Close the other one, then press Join again.",
  4005: "This session link has expired. Please ask your therapist for a new one.",
  4006: "Too many sessions are open from your network right now. Please close other session windows and join again.",
  4007: "This link looks incomplete. Please open the full link from your therapist's message.",
  4008: "The session service is busy just now. Please wait a minute, then join again.",
  1001: "The session service restarted. Please join again.",
};
const END_MESSAGES = {
  left: "You can close this page now. If you left by mistake, press Join again.",
  ended: "Your therapist has ended the session. Thank you. You can close this page.",
  declined: "Your therapist could not let you in just now. If you were expecting a session, please get in touch with them.",
  lost: "The connection was lost. Please check your internet connection, then press Join again.",
  unverified: "The session was stopped because its security check did not work out. Please ask your therapist for a new link.",
};
const STATS_INTERVAL_MS = 2000;
// How long the page waits for the therapist's app to bring a dropped call back (it gives up after
// 60 s and says so when it can; this covers the case where its goodbye cannot reach us).
const RECONNECT_GIVE_UP_MS = 75000;
const FAREWELL_AHEAD = 1_000_000_000; // see Sealer.sealAhead
// Connected this long without a security code: the exchange that proves nobody is in between did
// not complete (someone holding the link may be relaying the call). Say so, in words.
const VERIFY_MS = 5000;
const UNVERIFIED_TEXT =
  "This call could not be verified: no security code appeared. Someone may be listening in between. " +
  "Please don't share anything private. Leave the call and let your therapist know another way.";

const s = {
  phase: "start",
  keys: null,
  sealer: null,
  opener: null,
  ws: null,
  inbox: Promise.resolve(),
  stream: null,
  devicesPending: null, // the device check in progress (a promise), if any
  joining: false,
  stopMeter: () => {},
  name: "",
  pc: null,
  verifier: null,
  chat: null,
  remoteStream: null,
  // A couples or family session: what the therapist's app said about the other people
  // (protocol "others"), and every incoming track by the offer's mid, so that each goes to the
  // right tile (the therapist's, or one person's).
  others: [],
  remoteTracks: new Map(),
  statsTimer: 0,
  previousStats: null,
  farewell: null,
  therapistHere: false,
  reconnects: 0,
  certificate: null,
  lostTimer: 0,
  everConnected: false,
  videoCodec: "default", // which video codec this browser put first (media.js)
  verifyTimer: 0,
  // Drawn once per page: a hello from this page again (our socket dropped) lets the therapist's
  // app re-send what we missed; another page or device is a new knock it must admit.
  device: "",
  details: null, // {location, emergencyPhone}: sent to the therapist before the session
  cameraCard: null, // the "Camera off" card sent instead of the camera while it is off
  audioCard: null, // the self view's "Audio only" card
  audioOnly: false, // both sides send no video (either can switch)
  videoSenders: new Set(), // senders whose video we replaced with nothing
  weakRun: 0,
  goodRun: 0,
  suggested: null, // "audio" | "video": the suggestion made, not repeated
};

// What the other side sees while our camera is off: words on a calm card (the therapist's app
// sends the same), never a black picture that looks like a fault.
const CARD_BACKGROUND = "#2b3a40";

function cameraCard(text) {
  const canvas = document.createElement("canvas");
  canvas.width = 320;
  canvas.height = 240;
  const ctx = canvas.getContext("2d");
  const paint = () => {
    ctx.fillStyle = CARD_BACKGROUND;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = "#f4efe6";
    ctx.font = "24px sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(text, canvas.width / 2, canvas.height / 2);
  };
  paint();
  const track = canvas.captureStream(5).getVideoTracks()[0];
  // A canvas stream sends a frame when the canvas is painted: keep painting while it lives.
  const timer = setInterval(() => (track.readyState === "ended" ? clearInterval(timer) : paint()), 400);
  return track;
}

/** What we send and show of ourselves: nothing in audio-only mode (the self view shows a card),
 * the "Camera off" card while the camera is off, else the camera. */
async function updateOutgoingVideo() {
  const cameraOff = s.stream ? s.stream.getVideoTracks().some((t) => !t.enabled) : false;
  if (cameraOff && !s.cameraCard) s.cameraCard = cameraCard("Camera off");
  if (s.audioOnly && !s.audioCard) s.audioCard = cameraCard("Audio only");
  const camera = s.stream ? s.stream.getVideoTracks()[0] : null;
  const outgoing = s.audioOnly ? null : cameraOff ? s.cameraCard : camera;
  if (s.pc) {
    for (const sender of s.pc.getSenders()) {
      const kind = sender.track ? sender.track.kind : s.videoSenders.has(sender) ? "video" : "";
      if (kind === "video") {
        s.videoSenders.add(sender);
        await sender.replaceTrack(outgoing);
      }
    }
  }
  const self = s.audioOnly ? s.audioCard : cameraOff ? s.cameraCard : null;
  attach($("self"), self ? new MediaStream([self]) : s.stream);
  if (!cameraOff && s.cameraCard) {
    s.cameraCard.stop();
    s.cameraCard = null;
  }
  if (!s.audioOnly && s.audioCard) {
    s.audioCard.stop();
    s.audioCard = null;
  }
}

/** Audio only: both sides stop sending video to keep the sound clear; either can switch. */
function setAudioOnly(on, tellTherapist) {
  if (s.phase !== "call" || s.audioOnly === on) return;
  s.audioOnly = on;
  const button = $("audio-only");
  button.textContent = on ? "Turn video on" : "Audio only";
  button.classList.toggle("active", on);
  $("camera").disabled = on || !(s.stream && s.stream.getVideoTracks().length);
  $("advice").hidden = true;
  const status = $("remote-status");
  if (on) {
    status.hidden = false;
    status.textContent = "Audio only: video is off to keep the sound clear.";
  } else if (status.textContent.startsWith("Audio only")) {
    status.hidden = true;
  }
  updateOutgoingVideo().catch(() => {});
  if (tellTherapist) send({ type: "media", video: !on });
}

/** Suggest audio only when video cannot be sustained, and video again when it can: a weak
 * connection (round trip over 400 ms or more than 8 % loss) for 3 reports in a row, or a good
 * one (under 150 ms, under 2 %) for 5 in a row while audio only; each suggestion once. */
function advise(summary) {
  if (!summary || summary.received === 0) return;
  const weak = (summary.rtt !== null && summary.rtt > 400) || summary.loss > 8;
  const good = (summary.rtt === null || summary.rtt < 150) && summary.loss < 2;
  s.weakRun = weak ? s.weakRun + 1 : 0;
  s.goodRun = good ? s.goodRun + 1 : 0;
  let advice = null;
  if (!s.audioOnly && s.weakRun >= 3) advice = "audio";
  else if (s.audioOnly && s.goodRun >= 5) advice = "video";
  else if (!weak && !s.audioOnly) s.suggested = null;
  if (advice === null || s.suggested === advice) return;
  s.suggested = advice;
  $("advice-text").textContent =
    advice === "audio"
      ? "Your connection is too weak for video. Switch to audio only to keep the sound clear?"
      : "Your connection is better now. Turn video back on?";
  $("advice-yes").textContent = advice === "audio" ? "Audio only" : "Turn video on";
  $("advice").hidden = false;
}

// ---- screens ------------------------------------------------------------------------------

function show(id) {
  for (const screen of SCREENS) $(screen).hidden = screen !== id;
  const heading = $(id).querySelector("h1");
  if (heading) heading.focus({ preventScroll: false });
}

/** Show a stream in a (muted) video element; play() explicitly, as autoplay may not start for
 * an element that was hidden when it got its stream. */
function attach(video, stream) {
  video.srcObject = stream;
  if (stream) video.play().catch(() => {});
}

function say(element, text, problem = false) {
  element.textContent = text;
  element.classList.toggle("problem", problem);
}

function end(reason, text) {
  if (s.phase === "ended") return;
  s.phase = "ended";
  if ($("leave-dialog").open) $("leave-dialog").close(); // nothing left to leave
  cleanup();
  $("end-title").textContent =
    reason === "left" ? "You have left the session" : "The session has ended";
  $("end-message").textContent = text || END_MESSAGES[reason] || END_MESSAGES.lost;
  $("rejoin").hidden = reason === "ended" || reason === "declined" || reason === "unverified";
  show("screen-end");
}

function cleanup() {
  clearInterval(s.statsTimer);
  clearTimeout(s.lostTimer);
  clearTimeout(s.verifyTimer);
  s.stopMeter();
  if (s.pc) s.pc.close();
  s.pc = null;
  s.chat = null;
  if (s.stream) for (const track of s.stream.getTracks()) track.stop();
  s.stream = null;
  for (const card of [s.cameraCard, s.audioCard]) if (card) card.stop();
  s.cameraCard = s.audioCard = null;
  $("waiting-forms").replaceChildren(); // forms and their answers go with the session
  $("waiting-forms").hidden = true;
  for (const id of ["preview", "waiting-preview", "self", "remote"]) $(id).srcObject = null;
  s.others = [];
  s.remoteTracks.clear();
  layoutTiles(); // the other people's tiles (their pictures and names) go too
  if (s.ws) s.ws.close(1000);
  s.ws = null;
  $("chat-log").replaceChildren(); // nothing of the conversation stays on the page
  s.keys = s.sealer = s.opener = s.verifier = s.farewell = s.certificate = s.details = null;
  for (const id of ["location", "emergency"]) $(id).value = "";
}

// ---- start --------------------------------------------------------------------------------

async function main() {
  const unsupported = unsupportedReason();
  if (unsupported) {
    $("start-title").textContent = "This browser cannot join the session";
    $("start-message").textContent = unsupported;
    return;
  }
  const secret = secretFromFragment(location.hash);
  if (secret === null) {
    $("start-title").textContent = "This link looks incomplete";
    $("start-message").textContent =
      "Please open the full link from your therapist's message. It ends with a long code after the # sign.";
    return;
  }
  s.keys = await deriveCallKeys(secret);
  s.device = b64urlEncode(crypto.getRandomValues(new Uint8Array(16)));
  s.sealer = new Sealer("client", s.keys.signallingKey);
  s.opener = new Opener("therapist", s.keys.signallingKey);
  s.phase = "check";
  show("screen-check");
  $("name").focus();
  await startDevices();
}

// ---- device check -------------------------------------------------------------------------

/** The device check; joining waits for one in progress, so that the call starts with the camera
 * and microphone the person is about to allow. (A name typed faster than the browser's
 * permission prompt used to join with neither: the page showed the person their own picture
 * while the therapist saw and heard nothing, for the whole session.) */
function startDevices() {
  const pending = checkDevices().finally(() => {
    if (s.devicesPending === pending) s.devicesPending = null;
  });
  s.devicesPending = pending;
  return pending;
}

async function checkDevices() {
  const status = $("device-status");
  say(status, "Asking your browser for the camera and microphone…");
  $("device-actions").hidden = true;
  s.stopMeter();
  if (s.stream) for (const track of s.stream.getTracks()) track.stop();
  s.stream = null;
  try {
    s.stream = await openDevices({ cameraId: $("camera-select").value, micId: $("mic-select").value });
  } catch (error) {
    $("preview").srcObject = null;
    $("preview-empty").hidden = false;
    say(status, deviceProblem(error), true);
    $("device-actions").hidden = false;
    return;
  }
  const hasVideo = s.stream.getVideoTracks().length > 0;
  const hasAudio = s.stream.getAudioTracks().length > 0;
  attach($("preview"), hasVideo ? s.stream : null);
  $("preview-empty").hidden = hasVideo;
  s.stopMeter = startLevelMeter(s.stream, $("meter"));
  if (hasVideo && hasAudio) {
    say(status, "Your camera and microphone are working. Say something to see the level move.");
  } else {
    say(
      status,
      hasVideo
        ? "Your camera works, but we could not find a microphone. You can still join and use the chat."
        : "Your microphone works, but we could not find a camera. You can still join with sound only.",
      true,
    );
    $("device-actions").hidden = false;
  }
  await fillDeviceChoice();
}

async function fillDeviceChoice() {
  try {
    const fill = async (select, kind, current) => {
      const devices = await listDevices(kind);
      select.replaceChildren(
        ...devices.map((d, i) => {
          const option = document.createElement("option");
          option.value = d.deviceId;
          option.textContent = d.label || `${kind === "videoinput" ? "Camera" : "Microphone"} ${i + 1}`;
          option.selected = d.deviceId === current;
          return option;
        }),
      );
      return devices.length;
    };
    const video = s.stream.getVideoTracks()[0];
    const audio = s.stream.getAudioTracks()[0];
    const cameras = await fill($("camera-select"), "videoinput", video?.getSettings().deviceId);
    const mics = await fill($("mic-select"), "audioinput", audio?.getSettings().deviceId);
    $("device-choice").hidden = cameras < 2 && mics < 2;
  } catch {
    $("device-choice").hidden = true;
  }
}

// ---- relay --------------------------------------------------------------------------------

function connectRelay() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}/ws/${s.keys.roomId}`);
  s.ws = ws;
  say($("waiting-status"), "Connecting…");
  ws.onmessage = (event) => {
    if (typeof event.data !== "string") return;
    // One message at a time, in order: each step may await WebCrypto or WebRTC.
    s.inbox = s.inbox.then(() => receive(event.data)).catch(() => {});
  };
  ws.onopen = () => {
    s.reconnects = 0;
  };
  ws.onclose = (event) => {
    if (s.ws !== ws) return;
    s.ws = null;
    if (event.code in CLOSE_MESSAGES && event.code !== 1001) {
      end("lost", CLOSE_MESSAGES[event.code]);
    } else if (s.phase === "waiting" || s.phase === "call") {
      // A dropped network: come back quietly with a fresh socket. In the call the media flows
      // directly between the two of you, but a reconnect (a new offer) comes through the relay.
      if (s.phase === "waiting") say($("waiting-status"), "Reconnecting…");
      const delay = Math.min(s.phase === "call" ? 4000 : 10000, 1000 * 2 ** s.reconnects++);
      const phase = s.phase;
      setTimeout(() => s.phase === phase && !s.ws && connectRelay(), delay);
    }
  };
}

async function send(message) {
  if (!s.sealer) return;
  const envelope = await s.sealer.seal(message);
  if (s.ws && s.ws.readyState === WebSocket.OPEN) s.ws.send(envelope);
}

async function receive(text) {
  if (s.phase === "ended") return;
  const count = presenceCount(text);
  if (count !== null) return presence(count);
  let message;
  try {
    message = await s.opener.open(text);
  } catch (error) {
    if (error instanceof RejectedError || error instanceof FormatError) return; // not for us
    throw error;
  }
  try {
    await handle(message);
  } catch (error) {
    if (error instanceof VerificationError) end("unverified");
    else if (s.phase === "call") end("lost", "The call could not be set up. Please press Join again.");
    else throw error;
  }
}

async function hello() {
  await send({ type: "hello", name: s.name, device: s.device });
  // The safety details go with every knock: a re-sync or a new page tells the therapist again.
  if (s.details) await send({ type: "details", ...s.details });
}

function sendDetails(event) {
  event.preventDefault();
  const location = $("location").value.trim();
  const emergencyPhone = $("emergency").value.trim();
  const error = $("details-error");
  try {
    checkDetails(location, emergencyPhone);
  } catch {
    error.textContent = location
      ? "Please give a phone number with at least 3 digits (digits, spaces, + ( ) - only)."
      : "Please write where you are right now.";
    return;
  }
  if (!$("location-confirm").checked) {
    error.textContent = "Please confirm that this is where you are right now.";
    return;
  }
  error.textContent = "";
  s.details = { location, emergencyPhone };
  send({ type: "details", ...s.details });
  $("details-status").textContent = "Sent. Your therapist can see it before letting you in.";
}

function presence(count) {
  s.therapistHere = count >= 2;
  if (s.phase === "call") {
    // Back on the relay during the call (our socket dropped): say hello again from this page.
    // The therapist's app then sends what we missed (the admission, the offer) or, if the
    // media dropped too, a new offer; it sends none until it knows this is the same page.
    if (s.therapistHere) hello();
    return;
  }
  if (s.phase !== "waiting") return;
  if (s.therapistHere) {
    say($("waiting-status"), "Your therapist knows you are here.");
    // Announce ourselves whenever the therapist is (again) on the other end: the relay drops
    // anything sent while we are alone in the room.
    hello();
  } else {
    say($("waiting-status"), "Your therapist has not opened the session yet. Please keep this page open.");
  }
}

async function handle(message) {
  switch (message.type) {
    case "admit":
      if (s.phase === "waiting") await startCall();
      break;
    case "decline":
      if (s.phase === "waiting") end("declined");
      break;
    case "commit":
      if (s.verifier) {
        s.verifier.receiveCommit(message);
        await maybeReveal();
      }
      break;
    case "offer":
      // The same ICE credentials: the therapist's app added tracks to the live connection (another
      // person joined a couples session): answer in place, nothing drops. New ones: its new
      // connection after a dropped network.
      if (s.pc && s.pc.remoteDescription && !sameConnection(s.pc, message.sdp)) {
        await renewConnection();
      }
      if (s.pc) await acceptOffer(message.sdp);
      break;
    case "others":
      s.others = message.people;
      layoutTiles();
      break;
    case "ice":
      if (s.pc && message.candidate) {
        await s.pc.addIceCandidate({
          candidate: message.candidate,
          sdpMid: message.sdpMid,
          sdpMLineIndex: message.sdpMLineIndex,
        });
      }
      break;
    case "reveal":
      if (s.verifier) showCode(await s.verifier.receiveReveal(message));
      break;
    case "media":
      setAudioOnly(!message.video, false);
      break;
    case "form":
      if (s.phase === "waiting") await showForm(message.form);
      break;
    case "bye":
      end(message.reason === "declined" ? "declined" : "ended");
      break;
    default:
      break; // hello and answer are the client's own kinds
  }
}

// ---- waiting room -------------------------------------------------------------------------

/** A form the therapist sent to the waiting room (an intake questionnaire, a consent, a
 * measure): shown under the safety details; the answers go back sealed, like everything else. */
async function showForm(doc) {
  if (document.querySelector(`form[data-form-id="${doc.id}"]`)) return; // sent again on a re-sync
  await checkConsent(doc);
  const box = $("waiting-forms");
  box.hidden = false;
  const form = renderForm(box, doc, (reply) => send({ type: "form_reply", reply }));
  form.dataset.formId = doc.id;
}

async function join(event) {
  event.preventDefault();
  if (s.joining) return;
  const name = $("name").value.trim();
  try {
    checkName(name);
  } catch {
    $("name-error").textContent = name
      ? "Please use a shorter name, without special symbols."
      : "Please write your name, so your therapist knows who is waiting.";
    $("name").setAttribute("aria-invalid", "true");
    $("name").focus();
    return;
  }
  $("name").removeAttribute("aria-invalid");
  $("name-error").textContent = "";
  s.joining = true;
  if (s.devicesPending) {
    say($("device-status"), "You will join as soon as your browser lets us use the camera and microphone…");
    await s.devicesPending;
  }
  s.name = name;
  s.phase = "waiting";
  s.stopMeter();
  s.stopMeter = () => {};
  const video = s.stream && s.stream.getVideoTracks().length ? s.stream : null;
  $("waiting-thanks").textContent = `Thank you, ${name}.`;
  $("waiting-preview").parentElement.hidden = !video;
  show("screen-waiting");
  attach($("waiting-preview"), video);
  connectRelay();
}

// ---- the call -----------------------------------------------------------------------------

async function iceConfig() {
  // Only what the relay hands out (possibly nothing): never a built-in or public STUN server.
  // Fetched for every new connection: TURN credentials are short-lived.
  try {
    const response = await fetch(`/ice/${s.keys.roomId}`, { cache: "no-store", credentials: "omit" });
    if (response.ok) {
      const body = await response.json();
      if (Array.isArray(body.iceServers)) {
        // "relay": relayed candidates only, so neither side learns the other's address.
        const policy = body.iceTransportPolicy === "relay" ? "relay" : "all";
        return { iceServers: body.iceServers, iceTransportPolicy: policy };
      }
    }
  } catch {
    // fall through: direct connections only
  }
  return { iceServers: [], iceTransportPolicy: "all" };
}

async function startCall() {
  s.phase = "call";
  show("screen-call");
  const selfVideo = s.stream && s.stream.getVideoTracks().length ? s.stream : null;
  $("self").hidden = !selfVideo;
  attach($("self"), selfVideo);
  $("camera").disabled = !selfVideo;
  $("flip-camera").hidden = !(selfVideo && (await canSwitchCamera()));
  $("mute").disabled = !(s.stream && s.stream.getAudioTracks().length);
  s.verifier = new AnswererVerifier(s.keys.verificationKey);
  s.farewell = await s.sealer.sealAhead({ type: "bye", reason: "hangup" }, FAREWELL_AHEAD);
  // One certificate for the whole call, kept in memory only: a reconnect builds a new peer
  // connection, and the verification code covers this certificate's fingerprint.
  try {
    s.certificate = await RTCPeerConnection.generateCertificate({ name: "ECDSA", namedCurve: "P-256" });
  } catch {
    s.certificate = null; // the browser's own; a reconnect would then fail its security check
  }
  await newConnection();
}

/** The therapist's app lost the connection and sent a new offer: a new peer connection with the
 * same certificate and the same camera and microphone tracks. */
async function renewConnection() {
  const old = s.pc;
  s.pc = null;
  s.chat = null;
  if (old) old.close();
  await newConnection();
}

async function newConnection() {
  const pc = new RTCPeerConnection({
    ...(await iceConfig()),
    bundlePolicy: "max-bundle",
    ...(s.certificate ? { certificates: [s.certificate] } : {}),
  });
  s.pc = pc;
  s.previousStats = null;
  s.remoteStream = new MediaStream();
  s.remoteTracks = new Map();
  $("remote").srcObject = s.remoteStream;
  layoutTiles();
  pc.ontrack = (event) => {
    if (s.pc !== pc) return;
    const mid = event.transceiver?.mid ?? `track-${s.remoteTracks.size}`;
    s.remoteTracks.set(mid, event.track);
    layoutTiles();
    playRemote();
  };
  pc.onicecandidate = (event) => {
    const c = event.candidate;
    if (s.pc !== pc) return;
    send(
      c && c.candidate
        ? { type: "ice", candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null }
        : { type: "ice", candidate: "", sdpMid: null, sdpMLineIndex: null },
    );
  };
  pc.ondatachannel = (event) => {
    if (s.pc === pc && event.channel.label === "chat" && !s.chat) attachChat(event.channel);
  };
  pc.onconnectionstatechange = () => connectionChanged(pc);
}

async function acceptOffer(sdp) {
  const pc = s.pc;
  s.verifier.setRemoteSdp(sdp);
  await pc.setRemoteDescription({ type: "offer", sdp });
  if (s.stream && pc.getSenders().every((sender) => !sender.track)) {
    for (const track of s.stream.getTracks()) {
      // A new connection while the camera is off sends the card, not the (disabled) camera.
      pc.addTrack(track.kind === "video" && s.cameraCard ? s.cameraCard : track, s.stream);
    }
    if (s.audioOnly) await updateOutgoingVideo(); // a new connection stays audio only
  }
  s.videoCodec = await preferVideoCodecs(pc);
  await pc.setLocalDescription(await pc.createAnswer());
  const local = pc.localDescription.sdp;
  s.verifier.setLocalSdp(local);
  await send({ type: "answer", sdp: local });
  await maybeReveal();
}

async function maybeReveal() {
  if (s.verifier && s.verifier.canReveal) await send(s.verifier.reveal());
}

function showCode(code) {
  $("code").textContent = formatCode(code);
  $("code-box").hidden = false;
  $("unverified").hidden = true;
}

function startVerifyDeadline() {
  if (s.verifyTimer || !$("code-box").hidden) return;
  s.verifyTimer = setTimeout(() => {
    if (s.phase === "call" && $("code-box").hidden) {
      $("unverified").textContent = UNVERIFIED_TEXT;
      $("unverified").hidden = false;
    }
  }, VERIFY_MS);
}

/** The ICE credentials of an SDP: the same ones in a new offer mean the same connection. */
function iceUfrag(sdp) {
  const match = /^a=ice-ufrag:(.+)$/m.exec(sdp || "");
  return match ? match[1].trim() : null;
}

function sameConnection(pc, sdp) {
  return (
    pc.connectionState !== "failed" &&
    pc.connectionState !== "closed" &&
    iceUfrag(pc.remoteDescription.sdp) === iceUfrag(sdp)
  );
}

// ---- tiles: the therapist, and the other people of a couples or family session -------------

/** Put each incoming track in its tile: the other people's (by the mids the therapist's app
 * named) in a tile each, with their name; the rest is the therapist's. A person not yet in the
 * session has no tile; one who left has a tile that says so. */
function layoutTiles() {
  const theirs = new Set(s.others.flatMap((p) => [p.video, p.audio]));
  const therapist = [...s.remoteTracks].filter(([mid]) => !theirs.has(mid)).map(([, t]) => t);
  if (s.remoteStream) {
    for (const track of s.remoteStream.getTracks()) {
      if (!therapist.includes(track)) s.remoteStream.removeTrack(track);
    }
    for (const track of therapist) {
      if (!s.remoteStream.getTracks().includes(track)) s.remoteStream.addTrack(track);
    }
  }
  const people = s.others.filter((p) => p.state !== "expected");
  const tiles = $("tiles");
  const existing = [...tiles.querySelectorAll(".person-tile")];
  existing.slice(people.length).forEach((tile) => {
    tile.querySelector("video").srcObject = null;
    tile.remove();
  });
  people.forEach((person, i) => {
    const tile = existing[i] || personTile(tiles);
    const name = person.name || "The other person";
    tile.querySelector(".tile-label").textContent = name;
    const video = tile.querySelector("video");
    video.setAttribute("aria-label", `${name}'s video`);
    const tracks = [person.video, person.audio].map((mid) => s.remoteTracks.get(mid)).filter(Boolean);
    const current = video.srcObject ? video.srcObject.getTracks() : [];
    if (tracks.length !== current.length || tracks.some((t) => !current.includes(t))) {
      attach(video, tracks.length ? new MediaStream(tracks) : null);
    }
    const status = tile.querySelector(".tile-status");
    status.hidden = person.state === "here";
    status.textContent =
      person.state === "here" ? "" : `${name} is not connected right now. They may join again.`;
  });
  $("therapist-label").hidden = people.length === 0;
  $("screen-call").querySelector(".stage").classList.toggle("with-others", people.length > 0);
}

function personTile(tiles) {
  const tile = document.createElement("figure");
  tile.className = "tile person-tile";
  const video = document.createElement("video");
  video.autoplay = true;
  video.playsInline = true; // not muted: their voice plays from here
  const label = document.createElement("figcaption");
  label.className = "tile-label";
  const status = document.createElement("p");
  status.className = "tile-status";
  status.setAttribute("role", "status");
  tile.append(video, label, status);
  tiles.append(tile);
  return tile;
}

function playRemote() {
  const remote = $("remote");
  remote.play().catch(() => {
    // Autoplay with sound was refused: one click brings it back.
    const status = $("remote-status");
    status.hidden = false;
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Turn on your therapist's sound";
    button.addEventListener("click", () => {
      for (const video of document.querySelectorAll(".tile video")) video.play().catch(() => {});
      status.hidden = true;
    });
    status.replaceChildren(button);
  });
}

function connectionChanged(pc) {
  if (s.pc !== pc) return;
  const status = $("remote-status");
  switch (pc.connectionState) {
    case "connected":
      status.hidden = true;
      s.everConnected = true;
      clearTimeout(s.lostTimer);
      s.lostTimer = 0;
      if (!s.statsTimer) s.statsTimer = setInterval(updateQuality, STATS_INTERVAL_MS);
      startVerifyDeadline();
      break;
    case "failed":
    case "closed":
      if (!s.everConnected) {
        end("lost"); // it never came up: nothing to reconnect
        break;
      }
    // falls through
    case "disconnected":
      // The therapist's app notices too and sends a new offer (see handle "offer"); until then,
      // say so calmly, and give up only if nothing comes back for a long while.
      status.hidden = false;
      status.textContent = "The connection was interrupted. Reconnecting…";
      if (!s.lostTimer) s.lostTimer = setTimeout(() => end("lost"), RECONNECT_GIVE_UP_MS);
      break;
    default:
      break;
  }
}

async function updateQuality() {
  if (!s.pc) return;
  const summary = summarise(await s.pc.getStats(), s.previousStats);
  s.previousStats = summary;
  const { level, text } = describe(summary);
  $("quality").dataset.level = level;
  $("quality-text").textContent = text;
  advise(summary);
}

function toggleTrack(kind, button, onLabel, offLabel) {
  if (!s.stream) return;
  const tracks = kind === "audio" ? s.stream.getAudioTracks() : s.stream.getVideoTracks();
  const off = tracks.some((t) => t.enabled);
  for (const track of tracks) track.enabled = !off;
  // The label says what pressing does next; screen readers announce the change.
  button.textContent = off ? offLabel : onLabel;
  button.classList.toggle("active", off);
  if (kind === "video") updateOutgoingVideo().catch(() => {});
}

// ---- chat ---------------------------------------------------------------------------------

function attachChat(channel) {
  s.chat = channel;
  const ready = () => {
    $("chat-input").disabled = false;
    $("chat-send").disabled = false;
  };
  if (channel.readyState === "open") ready();
  channel.onopen = ready;
  channel.onclose = () => {
    if (s.chat !== channel) return; // the old channel of a replaced connection
    $("chat-input").disabled = true;
    $("chat-send").disabled = true;
  };
  channel.onmessage = (event) => {
    if (s.chat !== channel) return;
    if (typeof event.data !== "string" || !event.data || event.data.length > 4000) return;
    addChat("Therapist", event.data, false);
    if ($("chat").hidden) $("chat-unread").hidden = false;
  };
}

function addChat(who, text, mine) {
  const item = document.createElement("li");
  item.classList.toggle("mine", mine);
  const label = document.createElement("span");
  label.className = "who";
  label.textContent = who;
  item.append(label, document.createTextNode(text));
  $("chat-log").append(item);
  item.scrollIntoView({ block: "nearest" });
}

function sendChat(event) {
  event.preventDefault();
  const input = $("chat-input");
  const text = input.value.trim();
  if (!text || !s.chat || s.chat.readyState !== "open") return;
  s.chat.send(text.slice(0, 4000));
  addChat("You", text, true);
  input.value = "";
  input.focus();
}

function toggleChat() {
  const open = $("chat").hidden;
  $("chat").hidden = !open;
  $("screen-call").classList.toggle("chat-open", open);
  $("chat-toggle").setAttribute("aria-expanded", String(open));
  if (open) {
    $("chat-unread").hidden = true;
    $("chat-input").focus();
  }
}

// ---- leaving ------------------------------------------------------------------------------

/** Leave asks first: a tap by mistake would cut the session off mid-sentence. "Stay" is the
 * default (Enter and Escape keep the session). */
function confirmLeave() {
  if (s.phase !== "call" && s.phase !== "waiting") return;
  const dialog = $("leave-dialog");
  $("leave-title").textContent = s.phase === "call" ? "Leave the session?" : "Leave the waiting room?";
  $("leave-text").textContent =
    s.phase === "call"
      ? "Your therapist keeps the session open for a while: you can join again with the same link."
      : "Your therapist has not let you in yet. You can come back with the same link.";
  if (!dialog.open) dialog.showModal();
  $("leave-stay").focus();
}

function leaveAnswered(leaving) {
  $("leave-dialog").close();
  if (leaving) leave();
}

async function leave() {
  if (s.phase === "call" || s.phase === "waiting") {
    try {
      await send({ type: "bye", reason: "hangup" });
    } catch {
      // leaving anyway
    }
  }
  end("left");
}

window.addEventListener("pagehide", () => {
  // No time to await WebCrypto while the page unloads: send the farewell sealed in advance.
  if (s.phase === "call" && s.farewell && s.ws?.readyState === WebSocket.OPEN) {
    s.ws.send(s.farewell);
  }
});

$("join-form").addEventListener("submit", join);
$("details-form").addEventListener("submit", sendDetails);
$("retry-devices").addEventListener("click", startDevices);
$("camera-select").addEventListener("change", startDevices);
$("mic-select").addEventListener("change", startDevices);
$("waiting-leave").addEventListener("click", confirmLeave);
$("leave").addEventListener("click", confirmLeave);
$("leave-stay").addEventListener("click", () => leaveAnswered(false));
$("leave-confirm").addEventListener("click", () => leaveAnswered(true));
$("mute").addEventListener("click", (e) => toggleTrack("audio", e.currentTarget, "Mute", "Unmute"));
$("camera").addEventListener("click", (e) => toggleTrack("video", e.currentTarget, "Camera off", "Camera on"));
$("flip-camera").addEventListener("click", async (e) => {
  const button = e.currentTarget;
  button.disabled = true;
  try {
    const track = await switchCamera(s.stream, [s.pc]);
    if (track) {
      attach($("self"), s.stream);
      $("self").classList.toggle("mirror", isFacingUser(track));
    }
  } catch {
    // the previous camera could not be reopened either: the camera button shows it is off
  } finally {
    button.disabled = false;
  }
});
$("chat-toggle").addEventListener("click", toggleChat);
$("audio-only").addEventListener("click", () => setAudioOnly(!s.audioOnly, true));
$("advice-yes").addEventListener("click", () => setAudioOnly(s.suggested === "audio", true));
$("advice-no").addEventListener("click", () => ($("advice").hidden = true));
$("chat-form").addEventListener("submit", sendChat);
$("rejoin").addEventListener("click", () => location.reload());

main().catch(() => {
  $("start-title").textContent = "Something went wrong";
  $("start-message").textContent = "Please reload this page. If it happens again, let your therapist know.";
  show("screen-start");
});
