// Forms the client fills in: an intake questionnaire, a consent to sign, a measure. The same
// format and the same checks as telehealth/forms.py: a form is shown only when it is well
// formed (a consent only when its text matches its hash), and nothing is sent while a required
// answer is missing or a signature has no typed name. The therapist's app checks again.
// Built with textContent only: nothing a therapist or a client typed can become markup.

export class FormError extends Error {}

const te = new TextEncoder();
const KINDS = ["intake", "consent", "measure"];
const FIELD_KEYS = {
  text: ["multiline"],
  choice: ["options"],
  scale: ["min", "max", "minLabel", "maxLabel"],
  date: [],
  signature: [],
};
const KEY = /^[a-z0-9_]{1,40}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const BAD_CHAR = /(?![\n\t\u200c\u200d])[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}]/u;

function check(condition, what) {
  if (!condition) throw new FormError(what);
}

function length(text) {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

function text(value, what, low, high) {
  check(typeof value === "string", `${what} must be text`);
  const n = length(value);
  check(n >= low && n <= high, `${what} must be ${low}..${high} characters`);
  check(!BAD_CHAR.test(value), `${what} contains control characters`);
  return value;
}

function exactKeys(obj, keys, what) {
  check(obj !== null && typeof obj === "object" && !Array.isArray(obj), `${what} is not an object`);
  const have = Object.keys(obj);
  check(have.length === keys.length && keys.every((k) => have.includes(k)), `${what} fields`);
  return obj;
}

function b64urlBytes(value) {
  check(typeof value === "string" && /^[A-Za-z0-9_-]*$/.test(value), "bad form id");
  const padded = value.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((value.length + 3) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

/** SHA-256("quietroom/v1 consent\n" + version + "\n" + text), lowercase hex. */
export async function consentHash(consentText, version) {
  const digest = await crypto.subtle.digest("SHA-256", te.encode(`quietroom/v1 consent\n${version}\n${consentText}`));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A form document's shape (telehealth.forms.document_from_obj). The consent's hash is checked
 * by checkConsent (it needs WebCrypto, which is asynchronous). */
export function checkDocument(doc) {
  exactKeys(doc, ["v", "id", "kind", "title", "intro", "consent", "fields"], "form");
  check(doc.v === 1, "unknown form version");
  check(b64urlBytes(doc.id).length === 16, "a form id is 16 bytes");
  check(KINDS.includes(doc.kind), "unknown form kind");
  text(doc.title, "title", 1, 200);
  text(doc.intro, "intro", 0, 4000);
  if (doc.consent !== null) {
    exactKeys(doc.consent, ["text", "version", "hash"], "consent");
    text(doc.consent.text, "consent text", 1, 20000);
    text(doc.consent.version, "consent version", 1, 40);
    check(HEX64.test(doc.consent.hash), "consent hash");
  }
  check((doc.kind === "consent") === (doc.consent !== null), "only a consent form has a document");
  check(Array.isArray(doc.fields) && doc.fields.length >= 1 && doc.fields.length <= 100, "fields");
  const keys = new Set();
  for (const field of doc.fields) {
    check(field !== null && typeof field === "object" && field.kind in FIELD_KEYS, "field kind");
    exactKeys(field, ["key", "kind", "label", "required", ...FIELD_KEYS[field.kind]], "field");
    check(KEY.test(field.key) && !keys.has(field.key), "field key");
    keys.add(field.key);
    text(field.label, "label", 1, 1000);
    check(typeof field.required === "boolean", "required");
    if (field.kind === "text") check(typeof field.multiline === "boolean", "multiline");
    if (field.kind === "choice") {
      check(Array.isArray(field.options) && field.options.length >= 2 && field.options.length <= 20, "options");
      for (const option of field.options) text(option, "option", 1, 200);
    }
    if (field.kind === "scale") {
      check(Number.isInteger(field.min) && Number.isInteger(field.max), "scale ends");
      check(field.min >= -100 && field.min < field.max && field.max <= 100, "scale ends");
      text(field.minLabel, "min label", 0, 200);
      text(field.maxLabel, "max label", 0, 200);
    }
  }
  if (doc.kind === "consent") {
    check(doc.fields.some((f) => f.kind === "signature" && f.required), "a consent needs a signature");
  }
  return doc;
}

/** The consent's text is the one its hash names (otherwise the form is not shown). */
export async function checkConsent(doc) {
  if (doc.consent === null) return;
  check((await consentHash(doc.consent.text, doc.consent.version)) === doc.consent.hash, "consent hash");
}

/** A reply's shape (telehealth.forms.reply_from_obj). */
export function checkReplyShape(reply) {
  exactKeys(reply, ["v", "id", "consentHash", "answers"], "reply");
  check(reply.v === 1, "unknown reply version");
  check(b64urlBytes(reply.id).length === 16, "a form id is 16 bytes");
  check(reply.consentHash === null || (typeof reply.consentHash === "string" && HEX64.test(reply.consentHash)), "consent hash");
  check(reply.answers !== null && typeof reply.answers === "object" && !Array.isArray(reply.answers), "answers");
  for (const [key, value] of Object.entries(reply.answers)) {
    check(KEY.test(key), "answer key");
    if (value !== null && typeof value === "object") {
      exactKeys(value, ["name", "at"], "signature");
      text(value.name, "signed name", 0, 200);
      text(value.at, "signing time", 0, 40);
    } else if (typeof value === "string") {
      text(value, "answer", 0, 10000);
    } else {
      check(Number.isInteger(value), "answer");
    }
  }
  return reply;
}

/** What a person must fix before the form can go (telehealth.forms.check_reply's rules), as
 * {key, message}, or null when the reply is complete. */
export function problemWith(doc, reply) {
  for (const field of doc.fields) {
    const value = reply.answers[field.key];
    const blank = value === undefined || (typeof value === "string" && value.trim() === "");
    if (blank) {
      if (field.required) return { key: field.key, message: "Please answer this question." };
      continue;
    }
    if (field.kind === "choice" && !(Number.isInteger(value) && value >= 0 && value < field.options.length)) {
      return { key: field.key, message: "Please choose one of the answers." };
    }
    if (field.kind === "scale" && !(Number.isInteger(value) && value >= field.min && value <= field.max)) {
      return { key: field.key, message: `Please choose a number from ${field.min} to ${field.max}.` };
    }
    if (field.kind === "date" && !(DATE.test(value) && !Number.isNaN(Date.parse(`${value}T00:00:00Z`)))) {
      return { key: field.key, message: "Please give a date." };
    }
    if (field.kind === "signature") {
      const name = typeof value === "object" && value !== null ? value.name : "";
      if (name.trim().length < 2 || !/\p{L}/u.test(name)) {
        return { key: field.key, message: "Please type your full name to sign." };
      }
    }
  }
  return null;
}

// ---- showing a form ------------------------------------------------------------------------

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

let formCount = 0;

/** Show `doc` in `container` (a fresh <form>); `onSubmit(reply)` is awaited when the answers are
 * complete, and may throw to show a problem. Returns the <form>. */
export function renderForm(container, doc, onSubmit) {
  const prefix = `f${++formCount}`;
  const form = el("form", { class: "client-form", novalidate: "" });
  form.setAttribute("aria-labelledby", `${prefix}-title`);
  form.append(el("h2", { id: `${prefix}-title`, text: doc.title, tabindex: "-1" }));
  if (doc.intro) for (const line of doc.intro.split("\n")) form.append(el("p", { text: line }));
  if (doc.consent) {
    const box = el("div", { class: "consent-text", tabindex: "0", role: "document" });
    box.setAttribute("aria-label", `${doc.title}, version ${doc.consent.version}`);
    for (const line of doc.consent.text.split("\n")) box.append(el("p", { text: line }));
    form.append(box, el("p", { class: "quiet", text: `Version ${doc.consent.version}` }));
  }
  const readers = {};
  const errors = {};
  for (const field of doc.fields) {
    const id = `${prefix}-${field.key}`;
    const wrap = el("div", { class: `field field-${field.kind}` });
    const error = el("p", { class: "problem", id: `${id}-error`, role: "alert" });
    errors[field.key] = error;
    const label = field.label + (field.required ? "" : " (optional)");
    if (field.kind === "choice" || field.kind === "scale") {
      const group = el("fieldset", { id });
      group.setAttribute("aria-describedby", `${id}-error`);
      group.append(el("legend", { text: label }));
      const values = field.kind === "choice"
        ? field.options.map((option, index) => [index, option])
        : Array.from({ length: field.max - field.min + 1 }, (_, i) => [field.min + i, String(field.min + i)]);
      if (field.kind === "scale" && (field.minLabel || field.maxLabel)) {
        group.append(el("p", { class: "quiet", text: `${field.min}: ${field.minLabel} · ${field.max}: ${field.maxLabel}` }));
      }
      for (const [value, text] of values) {
        const input = el("input", { type: "radio", name: id, value: String(value), id: `${id}-${value}` });
        group.append(el("label", { class: "check", for: `${id}-${value}` }, input, ` ${text}`));
      }
      readers[field.key] = () => {
        const chosen = group.querySelector("input:checked");
        return chosen ? Number(chosen.value) : undefined;
      };
      wrap.append(group);
    } else if (field.kind === "signature") {
      const input = el("input", { type: "text", id, autocomplete: "name", maxlength: "200", spellcheck: "false" });
      input.setAttribute("aria-describedby", `${id}-error`);
      wrap.append(el("label", { for: id, text: `${label} — type your full name to sign` }), input);
      readers[field.key] = () => (input.value.trim() ? { name: input.value.trim(), at: new Date().toISOString() } : undefined);
    } else {
      const multiline = field.kind === "text" && field.multiline;
      const input = multiline
        ? el("textarea", { id, rows: "4", maxlength: "10000" })
        : el("input", { id, type: field.kind === "date" ? "date" : "text", maxlength: "10000", autocomplete: "off" });
      input.setAttribute("aria-describedby", `${id}-error`);
      wrap.append(el("label", { for: id, text: label }), input);
      readers[field.key] = () => (input.value.trim() === "" ? undefined : input.value);
    }
    wrap.append(error);
    form.append(wrap);
  }
  const status = el("p", { role: "status", "aria-live": "polite" });
  const button = el("button", { type: "submit", class: "primary", text: "Send to your therapist" });
  form.append(button, status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const error of Object.values(errors)) error.textContent = "";
    const answers = {};
    for (const [key, read] of Object.entries(readers)) {
      const value = read();
      if (value !== undefined) answers[key] = value;
    }
    const reply = { v: 1, id: doc.id, consentHash: doc.consent ? doc.consent.hash : null, answers };
    const problem = problemWith(doc, reply);
    if (problem) {
      errors[problem.key].textContent = problem.message;
      const first = form.querySelector(`#${prefix}-${problem.key}, #${prefix}-${problem.key} input`);
      if (first) first.focus();
      status.textContent = "Some answers are missing.";
      return;
    }
    button.disabled = true;
    status.textContent = "Sending…";
    try {
      await onSubmit(checkReplyShape(reply));
      for (const input of form.querySelectorAll("input, textarea")) input.disabled = true;
      status.textContent = "Sent to your therapist. Thank you.";
      form.dataset.sent = "true";
    } catch (error) {
      button.disabled = false;
      status.textContent = error instanceof Error && error.message ? error.message : "It could not be sent. Please try again.";
    }
  });
  container.append(form);
  return form;
}
