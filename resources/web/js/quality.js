// The connection-quality indicator: round-trip time, packet loss and frame rate from getStats.

/** Summarise a stats report against the previous summary (for loss over the last interval). */
export function summarise(report, previous) {
  let rtt = null;
  let fps = null;
  let received = 0;
  let lost = 0;
  let videoFrames = 0;
  let audioPackets = 0;
  const pairs = new Map();
  let selectedPairId = null;
  report.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) selectedPairId = s.selectedCandidatePairId;
    if (s.type === "candidate-pair") pairs.set(s.id, s);
    if (s.type === "inbound-rtp") {
      received += s.packetsReceived || 0;
      lost += Math.max(0, s.packetsLost || 0);
      if (s.kind === "video") {
        videoFrames += s.framesDecoded || 0;
        if (typeof s.framesPerSecond === "number") fps = s.framesPerSecond;
      } else if (s.kind === "audio") {
        audioPackets += s.packetsReceived || 0;
      }
    }
  });
  let pair = selectedPairId ? pairs.get(selectedPairId) : null;
  if (!pair) pair = [...pairs.values()].find((p) => p.nominated && p.state === "succeeded") || null;
  if (pair && typeof pair.currentRoundTripTime === "number") rtt = pair.currentRoundTripTime * 1000;
  const dReceived = received - (previous ? previous.received : 0);
  const dLost = lost - (previous ? previous.lost : 0);
  const loss = dReceived + dLost > 0 ? (100 * dLost) / (dReceived + dLost) : 0;
  if (fps === null && previous && previous.videoFrames !== undefined && previous.at) {
    const seconds = (Date.now() - previous.at) / 1000;
    if (seconds > 0) fps = (videoFrames - previous.videoFrames) / seconds;
  }
  return { rtt, loss, fps, received, lost, videoFrames, audioPackets, at: Date.now() };
}

/** "good" / "fair" / "poor" / "unknown" and the words to show. */
export function describe(summary) {
  if (!summary || summary.received === 0) return { level: "unknown", text: "Connection: checking" };
  const { rtt, loss, fps } = summary;
  let level = "good";
  // Thresholds for conversation: delay above ~150 ms starts to make people talk over each
  // other; a few percent loss is audible; a low frame rate matters less than sound.
  if ((rtt !== null && rtt > 400) || loss > 8 || (fps !== null && fps < 5)) level = "poor";
  else if ((rtt !== null && rtt > 150) || loss > 2 || (fps !== null && fps < 10)) level = "fair";
  const words = { good: "Connection: good", fair: "Connection: fair", poor: "Connection: poor" }[level];
  const parts = [];
  if (rtt !== null) parts.push(`${Math.round(rtt)} ms`);
  parts.push(`${loss.toFixed(loss < 10 ? 1 : 0)}% loss`);
  if (fps !== null) parts.push(`${Math.round(fps)} fps`);
  return { level, text: `${words} · ${parts.join(" · ")}` };
}
