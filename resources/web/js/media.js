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
