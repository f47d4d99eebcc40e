// The client's side of a form sent between sessions: the link's fragment holds the secret (never
// sent to the relay); from it the page derives the box's name and key (HKDF, as
// telehealth/mailbox_box.py), fetches the sealed form, shows it, and puts the sealed answers
// back into the box. The relay holds ciphertext only; nothing is stored on this device.

import { FormatError, Opener, RejectedError, Sealer, hex, secretFromFragment } from "./signalling.js";
import { FormError, checkConsent, renderForm } from "./forms.js";

const $ = (id) => document.getElementById(id);
const te = new TextEncoder();

/** HKDF-SHA256 with an empty salt, exactly as telehealth/mailbox_box.py. */
export async function deriveMailboxKeys(secret) {
  const ikm = await crypto.subtle.importKey("raw", secret, "HKDF", false, ["deriveBits"]);
  const derive = (info, bits) =>
    crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: te.encode(info) }, ikm, bits);
  const boxId = hex(await derive("quietroom/v1 mailbox-id", 128));
  const bits = await derive("quietroom/v1 mailbox-key", 256);
  const key = await crypto.subtle.importKey("raw", bits, "AES-GCM", false, ["encrypt", "decrypt"]);
  return { boxId, key };
}

function say(text, problem = false) {
  const status = $("mailbox-status");
  status.textContent = text;
  status.classList.toggle("problem", problem);
}

async function main() {
  const secret = secretFromFragment(location.hash);
  if (!secret) {
    say("This link is not complete. Please open the whole link your therapist sent you.", true);
    return;
  }
  const { boxId, key } = await deriveMailboxKeys(secret);
  let response;
  try {
    response = await fetch(`/mb/${boxId}/form`, { cache: "no-store", credentials: "omit" });
  } catch {
    say("The form could not be loaded. Please check your connection and reload this page.", true);
    return;
  }
  if (response.status === 404) {
    say("This link has expired or was already used. Please ask your therapist for a new one.", true);
    return;
  }
  if (!response.ok) {
    say("The form could not be loaded just now. Please try again later.", true);
    return;
  }
  let doc;
  try {
    const message = await new Opener("therapist", key).open(await response.text());
    if (message.type !== "form") throw new FormatError("not a form");
    doc = message.form;
    await checkConsent(doc);
  } catch (error) {
    if (error instanceof FormatError || error instanceof RejectedError || error instanceof FormError) {
      say("This form cannot be shown: it may have been changed on the way. Please tell your therapist.", true);
      return;
    }
    throw error;
  }
  say("");
  $("mailbox-intro").hidden = false;
  renderForm($("mailbox-forms"), doc, async (reply) => {
    const envelope = await new Sealer("client", key).seal({ type: "form_reply", reply });
    const put = await fetch(`/mb/${boxId}/reply`, {
      method: "PUT",
      body: envelope,
      cache: "no-store",
      credentials: "omit",
      headers: { "Content-Type": "text/plain" },
    });
    if (put.status === 409) throw new Error("These answers were already sent. You can close this page.");
    if (put.status === 404) throw new Error("This link has expired. Please ask your therapist for a new one.");
    if (!put.ok) throw new Error("They could not be sent just now. Please try again.");
    say("Your answers were sent to your therapist, sealed so that only they can read them. You can close this page.");
  });
}

main();
