/**
 * The chat page: one HTML document with inline CSS and JS (no CDN, no build step). The script posts each
 * message with a client-generated id (the idempotency key: a retried POST is stored once), one at a time in
 * the order typed, then polls for replies. Replies are inserted as text nodes, never as HTML. A per-response
 * nonce lets the Content Security Policy forbid every other script.
 *
 * @module
 */

export interface PageSettings {
  title: string;
  greeting: string;
  pollMs: number;
  maxTextLength: number;
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/** The request header the page sends its session id in (GET requests: never in a URL, which proxies log). */
export const SESSION_HEADER = "X-Aideazz-Session";

/** JSON that is safe inside a <script> element. */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, "\\u003c").replace(/\u2028|\u2029/g, "");

const CSS = `
*{box-sizing:border-box}body{margin:0;font:16px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#eef1f5;color:#1d2433}
main{max-width:640px;height:100vh;margin:0 auto;display:flex;flex-direction:column;background:#fff;box-shadow:0 0 24px #0001}
header{padding:14px 18px;background:#2f5bea;color:#fff;font-weight:600}
#log{flex:1;overflow-y:auto;padding:16px;display:flex;flex-direction:column;gap:8px}
.msg{max-width:80%;padding:8px 12px;border-radius:14px;white-space:pre-wrap;overflow-wrap:anywhere}
.bot{align-self:flex-start;background:#f0f2f7}.me{align-self:flex-end;background:#2f5bea;color:#fff}
.note{align-self:center;color:#8a93a6;font-size:13px}
#typing{align-self:flex-start;color:#8a93a6;font-size:14px;padding:0 12px}
form{display:flex;gap:8px;padding:12px;border-top:1px solid #e3e7ee}
textarea{flex:1;resize:none;height:44px;padding:10px;border:1px solid #cfd6e2;border-radius:10px;font:inherit}
button{padding:0 18px;border:0;border-radius:10px;background:#2f5bea;color:#fff;font:inherit;cursor:pointer}
button:disabled{opacity:.5}`;

const SCRIPT = `
const cfg = JSON.parse(document.getElementById("cfg").textContent);
const log = document.getElementById("log"), typing = document.getElementById("typing");
const form = document.getElementById("form"), input = document.getElementById("text");
function uuid() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
}
// The session opens the conversation: it travels in a header (never in a URL, which proxies log). Its key changed
// when chat ids became its hash: a session id kept from before may have been seen (stored, shown) and is not reused.
// A browser that blocks site data throws on localStorage: the session then lasts as long as the tab.
let session = uuid();
try {
  session = localStorage.getItem("aideazz.webchat.session") || session;
  localStorage.setItem("aideazz.webchat.session", session);
  localStorage.removeItem("aideazz.session");
} catch {}
const asSession = { headers: { ${JSON.stringify(SESSION_HEADER)}: session } };
let after = 0;
// sending: POSTs not yet accepted; pending: the server's word that a message still waits for its answer.
let sending = 0, pending = false;
function add(cls, text, before = typing) {
  const div = document.createElement("div");
  div.className = "msg " + cls;
  div.dir = "auto"; // Arabic or Hebrew reads right to left: the text's own direction, not the page's
  div.textContent = text;
  log.insertBefore(div, before);
  log.scrollTop = log.scrollHeight;
  return div;
}
function showTyping() { typing.hidden = sending === 0 && !pending; log.scrollTop = log.scrollHeight; }
// Other tabs of this conversation show the visitor's message too (their polls bring only the replies), as it is
// sent: once stored, its answer may reach their polls before this tab hears back. Those sent while this tab's
// history loads are held until it has, and then shown unless it has them already (the same message id: a text is
// not unique, and the store keeps it changed, invisible characters dropped). The channel is named after where this
// chat's API is: two chats served on one origin under two paths share the session but not their messages.
const tabs = new BroadcastChannel("aideazz.webchat:" + new URL("api/", location.href).pathname);
let held = [];
function fromTab(d) {
  if (d.note) add("note", d.note);
  else add("me", d.text);
  pending = !d.note;
  showTyping();
}
tabs.onmessage = (e) => {
  if (e.data.session !== session) return;
  if (held) held.push(e.data);
  else fromTab(e.data);
};
// Each request has a deadline: one on a connection gone dead (a mobile network's NAT dropped it) would wait many
// minutes for TCP, the chat stalled meanwhile. It is made again (a message with its id: stored once).
const ask = (url, init) => fetch(url, { ...init, signal: AbortSignal.timeout(15000) });
// Before asking again: the server's Retry-After (at most a minute), else 1 s, 2 s, 3 s… (at most 30 s).
function backoff(res, i) {
  const s = Number(res?.headers.get("retry-after"));
  const ms = s > 0 ? Math.min(s, 60) * 1000 : Math.min(1000 * (i + 1), 30000);
  return new Promise((r) => setTimeout(r, ms));
}
// Resolves to "" once stored, else to why not: the server's words (a refusal, or a 5xx five times: 5xx and network
// errors are retried), or that it did not answer.
async function send(text, id) {
  for (let i = 0; ; i++) {
    let res, why = "no answer from the server";
    try {
      res = await ask("api/messages", { method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ session, id, text }) });
      if (res.ok) return "";
      why = (await res.json().catch(() => ({}))).error || (res.status < 500 ? "refused" : "server error");
      if (res.status < 500) return why;
    } catch {}
    if (i === 4) return why;
    await backoff(res, i);
  }
}
// The messages this tab sent, by id: a history loaded after one was stored has it, and puts it in its place.
const sent = new Map();
// One message at a time, in the order typed: a retried POST must not be overtaken by the message typed after it.
let queue = Promise.resolve();
// A message that could not be sent goes back in the box (when it is empty). Sent again as it stands, it keeps its id:
// one whose answers were lost on the way (stored after all) is not stored, and answered, twice.
let unsent;
form.addEventListener("submit", (e) => {
  e.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  const id = unsent?.text === text ? unsent.id : uuid();
  unsent = undefined;
  sent.set(id, add("me", text));
  tabs.postMessage({ session, id, text });
  sending++; showTyping();
  queue = queue.then(async () => {
    const failed = await send(text.slice(0, cfg.maxTextLength), id);
    sending--;
    if (!failed) pending = true; // until the next poll says otherwise
    else {
      const note = "Your message could not be sent (" + failed + "). Please try again.";
      add("note", note);
      tabs.postMessage({ session, note });
      if (!input.value) {
        input.value = text;
        unsent = { text, id };
      }
    }
    showTyping();
  });
});
input.addEventListener("keydown", (e) => {
  if (e.isComposing || e.keyCode === 229) return; // this Enter picks an input method's candidate (CJK): not a send
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
});
async function poll() {
  try {
    const res = await ask("api/replies?after=" + after, asSession);
    if (res.ok) {
      const body = await res.json();
      for (const r of body.replies) {
        add("bot", r.text);
        after = r.seq;
      }
      pending = body.pending;
      showTyping();
    }
  } catch {}
  setTimeout(poll, cfg.pollMs);
}
// The conversation so far, asked again until it comes: replies polled from 0 instead would show without the
// visitor's questions. Undefined when the server refuses it (4xx): nothing to show.
async function history() {
  for (let i = 0; ; i++) {
    let res;
    try {
      res = await ask("api/history", asSession);
      if (res.ok) return await res.json();
      if (res.status < 500 && res.status !== 429) return undefined;
    } catch {}
    await backoff(res, i);
  }
}
// The conversation so far (a reload, another tab), then new replies from where it ends.
async function start() {
  let last = add("bot", cfg.greeting);
  const h = await history();
  if (h) {
    const stored = new Set();
    // After the greeting, before what this tab sent meanwhile (moved into its place when the history has it).
    for (const line of h.lines) {
      if (line.id) stored.add(line.id);
      const mine = sent.get(line.id);
      last = mine ? log.insertBefore(mine, last.nextSibling) : add(line.from, line.text, last.nextSibling);
    }
    after = h.after;
    held = held.filter((d) => d.note || !stored.has(d.id));
  }
  for (const d of held) fromTab(d);
  held = null;
  poll();
}
start();`;

/** The chat page for one agent; `nonce` must match the Content-Security-Policy header's script nonce. */
export function renderPage(settings: PageSettings, nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(settings.title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<header>${escapeHtml(settings.title)}</header>
<div id="log" aria-live="polite"><div id="typing" hidden>typing…</div></div>
<form id="form"><textarea id="text" dir="auto" maxlength="${settings.maxTextLength}" placeholder="Type a message…" aria-label="Message"></textarea><button type="submit">Send</button></form>
</main>
<script id="cfg" type="application/json">${scriptJson(settings)}</script>
<script nonce="${nonce}">${SCRIPT}</script>
</body>
</html>`;
}

/** The page's Content Security Policy: only this response's script, same-origin requests, inline styles. */
export function pagePolicy(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    "style-src 'unsafe-inline'",
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}
