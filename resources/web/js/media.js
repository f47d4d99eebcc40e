// Camera and microphone: asking for them, explaining calmly when we cannot have them, and the
// microphone level meter. Nothing here records anything.

/** What to tell the person when getUserMedia fails, by the error's name. */
export function deviceProblem(error) {
  const name = error && error.name;
  if (name === "NotAllowedError" || name === "SecurityError") {
    return (
      "Your browser is not allowing this page to use the camera and microphone. " +
      "You can allow them in the browser's address bar or settings, then press Try again. " +
      "You can also join without them and use the chat."
    );
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") {
    return (
      "We could not find a camera or microphone. If one is plugged in, check that it is " +
      "connected, then press Try again. You can also join without them and use the chat."
    );
  }
  if (name === "NotReadableError" || name === "AbortError") {
    return (
      "Your camera or microphone seems to be in use by another app. Close that app, " +
      "then press Try again."
    );
  }
  return "The camera and microphone could not be started. Press Try again, or join without them.";
}

/** Camera and microphone if possible, else whichever one works; throws the first error. */
export async function openDevices({ cameraId = "", micId = "" } = {}) {
  const video = cameraId ? { deviceId: { exact: cameraId } } : { width: { ideal: 640 }, height: { ideal: 480 } };
  const audio = micId ? { deviceId: { exact: micId }, echoCancellation: true } : { echoCancellation: true, noiseSuppression: true };
  try {
    return await navigator.mediaDevices.getUserMedia({ video, audio });
  } catch (error) {
    if (error && error.name === "NotAllowedError") throw error;
    for (const constraints of [{ audio }, { video }]) {
      try {
        return await navigator.mediaDevices.getUserMedia(constraints);
      } catch {
        // try the next one
      }
    }
    throw error;
  }
}

/** Fill a <select> with the devices of one kind; hide it when there is no real choice. */
export async function listDevices(kind) {
  const devices = await navigator.mediaDevices.enumerateDevices();
  return devices.filter((d) => d.kind === kind);
}

/** A level meter on a stream's audio track; returns a function that stops it. */
export function startLevelMeter(stream, meter) {
  const track = stream.getAudioTracks()[0];
  const AudioCtx = window.AudioContext || window.webkitAudioContext;
  if (!track || !AudioCtx) {
    meter.value = 0;
    return () => {};
  }
  const context = new AudioCtx();
  const source = context.createMediaStreamSource(new MediaStream([track]));
  const analyser = context.createAnalyser();
  analyser.fftSize = 1024;
  source.connect(analyser); // not to the speakers: no echo
  const samples = new Float32Array(analyser.fftSize);
  let frame = 0;
  let level = 0;
  const tick = () => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    const rms = Math.sqrt(sum / samples.length);
    // Smooth and scale so that normal speech moves the bar to the middle.
    level = Math.max(rms * 4, level * 0.85);
    meter.value = Math.min(1, level);
    frame = requestAnimationFrame(tick);
  };
  // Safari starts an AudioContext suspended until a user gesture.
  context.resume().catch(() => {});
  tick();
  return () => {
    cancelAnimationFrame(frame);
    source.disconnect();
    context.close().catch(() => {});
    meter.value = 0;
  };
}

// ---- front and back camera ------------------------------------------------------------------

/** True when there is another camera to switch to (a phone's front and back cameras). */
export async function canSwitchCamera() {
  try {
    return (await listDevices("videoinput")).length > 1;
  } catch {
    return false;
  }
}

/** Swap the stream's camera for the next one (the back camera on a phone when the front one is
 * on, and back), without renegotiating: each peer connection's sender takes the new track.
 * Keeps the "camera off" state. Returns the new track, or null when no other camera opened. */
export async function switchCamera(stream, peerConnections) {
  const old = stream && stream.getVideoTracks()[0];
  if (!old) return null;
  const settings = old.getSettings ? old.getSettings() : {};
  const cameras = await listDevices("videoinput");
  const constraints = { width: { ideal: 640 }, height: { ideal: 480 } };
  if (settings.facingMode === "user" || settings.facingMode === "environment") {
    constraints.facingMode = { exact: settings.facingMode === "user" ? "environment" : "user" };
  } else if (cameras.length > 1) {
    const index = cameras.findIndex((c) => c.deviceId === settings.deviceId);
    constraints.deviceId = { exact: cameras[(index + 1) % cameras.length].deviceId };
  } else {
    return null;
  }
  let fresh;
  try {
    // A phone opens only one camera at a time: let go of the current one first.
    old.stop();
    fresh = (await navigator.mediaDevices.getUserMedia({ video: constraints })).getVideoTracks()[0];
  } catch {
    fresh = (await navigator.mediaDevices.getUserMedia({ video: { deviceId: settings.deviceId } }))
      .getVideoTracks()[0];
  }
  fresh.enabled = old.enabled;
  stream.removeTrack(old);
  stream.addTrack(fresh);
  for (const pc of peerConnections) {
    if (!pc) continue;
    for (const sender of pc.getSenders()) {
      if (sender.track === old || (sender.track === null && sender.kind === "video")) {
        await sender.replaceTrack(fresh);
      }
    }
  }
  return fresh;
}

/** A camera that films the person (front camera, or one that does not say) shows mirrored,
 * like a mirror; the back camera shows the room as it is. */
export function isFacingUser(track) {
  const mode = track && track.getSettings ? track.getSettings().facingMode : undefined;
  return mode !== "environment";
}

// ---- video codec ----------------------------------------------------------------------------

/** Order the video codecs the therapist's app offered (VP8 and H.264) for this browser, before
 * the answer is made: the first one both sides support is used both ways. H.264 first where the
 * browser says encoding it is power-efficient (hardware: phones, Safari) and only with the
 * profile the therapist's app sends (42e01f, constrained baseline, packetization-mode 1: other
 * profiles show black video in Safari); VP8 first everywhere else. Feature-detected, never read
 * from the browser's name. */
export async function preferVideoCodecs(pc) {
  const caps = window.RTCRtpReceiver?.getCapabilities?.("video");
  if (!caps) return "default";
  const fmtp = (c) => (c.sdpFmtpLine || "").toLowerCase();
  const vp8 = caps.codecs.filter((c) => c.mimeType.toLowerCase() === "video/vp8");
  const h264 = caps.codecs.filter(
    (c) =>
      c.mimeType.toLowerCase() === "video/h264" &&
      fmtp(c).includes("packetization-mode=1") &&
      fmtp(c).includes("profile-level-id=42e01f"),
  );
  const repair = caps.codecs.filter((c) => /video\/(rtx|red|ulpfec|flexfec)/i.test(c.mimeType));
  let first = "vp8";
  if (!vp8.length) first = "h264";
  else if (h264.length && (await h264IsPowerEfficient())) first = "h264";
  const ordered = first === "vp8" ? [...vp8, ...h264] : [...h264, ...vp8];
  if (!ordered.length) return "default";
  for (const transceiver of pc.getTransceivers()) {
    const kind = transceiver.receiver?.track?.kind;
    if (kind === "video" && transceiver.setCodecPreferences) {
      try {
        transceiver.setCodecPreferences([...ordered, ...repair]);
      } catch {
        // a browser that refuses an order keeps its own; both codecs are still offered
      }
    }
  }
  return first;
}

async function h264IsPowerEfficient() {
  if (!navigator.mediaCapabilities?.encodingInfo) return false;
  try {
    const info = await navigator.mediaCapabilities.encodingInfo({
      type: "webrtc",
      video: {
        contentType: "video/H264;profile-level-id=42e01f;packetization-mode=1",
        width: 640,
        height: 480,
        bitrate: 600000,
        framerate: 30,
      },
    });
    return Boolean(info.supported && info.powerEfficient);
  } catch {
    return false;
  }
}

// ---- can this browser join at all? ----------------------------------------------------------

/** Why this browser cannot join, in the client's words, or null when it can. Feature-detected:
 * the same check lets a future version of any browser in, and keeps out one that has the name
 * but not the parts (Linux browsers built on WebKitGTK, such as GNOME Web, have the camera but
 * not WebRTC). */
export function unsupportedReason() {
  const elsewhere =
    "Please open the link in another browser: Firefox, Chrome or Edge on a computer, Safari on " +
    "an iPhone or iPad, Chrome on Android.";
  if (!window.isSecureContext) {
    return "This page was not opened through a secure link, so the browser keeps the camera off. " +
      "Please open the link exactly as your therapist sent it.";
  }
  if (!window.RTCPeerConnection) {
    return `This browser cannot make video calls (it has no WebRTC). ${elsewhere}`;
  }
  if (!navigator.mediaDevices?.getUserMedia) {
    return `This browser does not let web pages use the camera and microphone. ${elsewhere}`;
  }
  if (!window.crypto?.subtle || !window.WebSocket) {
    return `This browser is missing parts this private session needs. ${elsewhere}`;
  }
  return null;
}
