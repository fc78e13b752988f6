// A reply Graph accepted (a wamid came back) and Meta later failed in a status webhook: sent again when the error
// is temporary (131000, 130429, …), at most 3 times per part, once per failed send however often Meta posts the
// status; never for a permanent one (131026); never out of the chat's order. The real agent, its store, the fake
// Graph server.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { chatKey, outboundTopic, replyIdempotencyKey } from "../../src/bus/envelopes.ts";
import { type FakeGraph, signature, startFakeGraph, statusPayload, textPayload } from "../fakes/graph.ts";
import { tempDir } from "../support/tmp.ts";
import { type Channel, startChannel, until, whatsappAgent } from "./harness.ts";

const APP_SECRET = "meta-app-secret-0123456789abcdef";
const ACCESS_TOKEN = "EAAJB-fake-access-token-for-tests";
const PNID = "106540352242922";
const secrets = { WA_APP_SECRET: APP_SECRET, WA_TOKEN: ACCESS_TOKEN, WA_VERIFY: "verify-me-please" };
const CHAT = "16505551234";

let dir: string;
let cleanup: () => Promise<void>;
let graph: FakeGraph;
let ch: Channel;
let db = 0;
let dbFile = "";

const start = async () => {
  const agent = whatsappAgent({ phoneNumberId: PNID, graphBaseUrl: graph.baseUrl });
  ch = await startChannel({ dir, dbFile, secrets, agent });
};

beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-wa-resend-")));
afterAll(() => cleanup());
beforeEach(async () => {
  graph = await startFakeGraph({ accessToken: ACCESS_TOKEN });
  dbFile = `resend-${db++}.db`;
  await start();
});
afterEach(async () => {
  await ch.stop();
  await graph.close();
});

function postJson(payload: unknown): Promise<Response> {
  const body = JSON.stringify(payload);
  return fetch(`${ch.url}/whatsapp/webhook`, {
    method: "POST",
    headers: { "content-type": "application/json", "X-Hub-Signature-256": signature(body, APP_SECRET) },
    body,
  });
}

/** The user writes (the 24-hour window opens), and the orchestrator's reply `replyKey` is published as it does. */
async function replied(replyKey: string, text: string, chatId = CHAT): Promise<void> {
  const id = `wamid.IN${replyKey.replace(/\W/g, "")}`;
  expect((await postJson(textPayload({ id, from: chatId, body: "hi", phoneNumberId: PNID }))).status).toBe(200);
  const reply = { agent: "wa", chatId, text, inReplyTo: [1], replyKey, kind: "answer" };
  await ch.bus.publish([{
    topic: outboundTopic("wa"),
    key: chatKey("wa", chatId),
    payload: reply,
    idempotencyKey: replyIdempotencyKey(replyKey),
  }]);
}

/** Meta's `failed` status for the message Graph accepted as `sent`. */
const failed = (sent: { id: string; to: string; callbackData?: string | undefined }, code: number) =>
  postJson(statusPayload({
    phoneNumberId: PNID,
    messageId: sent.id,
    status: "failed",
    to: sent.to,
    ...(sent.callbackData === undefined ? {} : { callbackData: sent.callbackData }),
    at: Date.now(),
    errors: [{ code, title: code === 131026 ? "Message undeliverable" : "Something went wrong" }],
  }));

const outbound = () => ch.count("SELECT count(*) FROM bus_messages WHERE topic = ?", outboundTopic("wa"));
const drained = () =>
  until(
    async () => (await ch.count("SELECT count(*) FROM bus_deliveries WHERE topic = ?", outboundTopic("wa"))) === 0,
    15_000,
    "the outbound topic drained",
  );
const ledger = (key: string) => ch.rows("SELECT state, last_error FROM bus_send_ledger WHERE reply_key = ?", key);

describe("whatsapp: a message Meta failed after accepting it", () => {
  it("131000: the same text is sent again once, though Meta posts the status twice and again to a restarted agent", async () => {
    await replied("5:answer", "Your order ships on Monday.");
    await until(() => graph.sent.length === 1, 10_000, "the reply");
    const first = graph.sent[0]!;
    expect((await failed(first, 131000)).status).toBe(200);
    expect((await failed(first, 131000)).status).toBe(200);
    await until(() => graph.sent.length === 2, 10_000, "the resend");
    await drained();
    await ch.stop();
    await start();
    expect((await failed(first, 131000)).status).toBe(200);
    await drained();
    expect(await outbound()).toBe(2);
    expect(graph.sent.map((s) => [s.to, s.text, s.callbackData])).toEqual([
      [CHAT, "Your order ships on Monday.", "5:answer#0"],
      [CHAT, "Your order ships on Monday.", "5:answer#0:resend1#0"],
    ]);
    // Back-off: 131000 holds the chat 2 s before the resend.
    expect(graph.sent[1]!.at - graph.sent[0]!.at).toBeGreaterThanOrEqual(1_900);
    expect(ch.logs.join("")).toMatch(/"msg":"sending again a message Meta could not deliver".*"code":"131000"/);
  });

  it("131026 (undeliverable) is never sent again", async () => {
    await replied("6:answer", "Thanks for writing.");
    await until(() => graph.sent.length === 1, 10_000, "the reply");
    expect((await failed(graph.sent[0]!, 131026)).status).toBe(200);
    // The 200 means the status's batch committed, and any resend with it: none was.
    expect(await ch.rows("SELECT status, error_code FROM channel_deliveries")).toEqual([
      { status: "failed", error_code: 131026 },
    ]);
    expect(await outbound()).toBe(1);
    await drained();
    expect(graph.sent).toHaveLength(1);
  });

  it("after 3 resends that failed too, it gives up, logged and counted", async () => {
    await replied("7:answer", "We open at nine.");
    for (let n = 1; n <= 3; n++) {
      await until(() => graph.sent.length === n, 20_000, `send ${n}`);
      expect((await failed(graph.sent[n - 1]!, 2)).status).toBe(200);
    }
    await until(() => graph.sent.length === 4, 20_000, "the third resend");
    expect((await failed(graph.sent[3]!, 2)).status).toBe(200);
    expect(await outbound()).toBe(4);
    await drained();
    expect(graph.sent.map((s) => [s.text, s.callbackData])).toEqual([
      ["We open at nine.", "7:answer#0"],
      ["We open at nine.", "7:answer#0:resend1#0"],
      ["We open at nine.", "7:answer#0:resend2#0"],
      ["We open at nine.", "7:answer#0:resend3#0"],
    ]);
    expect(ch.logs.join("")).toMatch(/"msg":"message not delivered; not sent again".*"reason":"3 resends failed"/);
    const metrics = await (await fetch(`${ch.url}/metrics`)).text();
    expect(metrics).toMatch(/aideazz_send_errors_total\{[^}]*code="resends-exhausted"[^}]*\} 1/);
  }, 60_000); // back-off 2, 4 and 8 s before the resends

  it("130429 holds every chat's sends for the back-off, as when Graph refuses a send with it", async () => {
    await replied("8:answer", "One moment.");
    await until(() => graph.sent.length === 1, 10_000, "the reply");
    const at = Date.now();
    expect((await failed(graph.sent[0]!, 130429)).status).toBe(200);
    await replied("9:answer", "Hello other user.", "16505550000");
    await until(() => graph.sent.length === 3, 10_000, "the other chat's reply and the resend");
    for (const s of graph.sent.slice(1)) expect(s.at - at).toBeGreaterThanOrEqual(1_900);
  });

  it("not sent again when Meta also reported the message delivered or read, before or after the failure", async () => {
    const status = (sent: { id: string; to: string; callbackData?: string | undefined }, s: string) =>
      postJson(statusPayload({ phoneNumberId: PNID, messageId: sent.id, status: s, to: sent.to, at: Date.now() }));
    await replied("12:answer", "Read before the failure.");
    await until(() => graph.sent.length === 1, 10_000, "the first reply");
    expect((await status(graph.sent[0]!, "read")).status).toBe(200);
    expect((await failed(graph.sent[0]!, 131000)).status).toBe(200);
    await drained();
    await replied("13:answer", "Delivered after the failure.", "16505550000");
    const second = () => graph.sent.find((s) => s.callbackData === "13:answer#0");
    await until(() => second() !== undefined, 10_000, "the second reply");
    expect((await failed(second()!, 131000)).status).toBe(200);
    expect((await status(second()!, "delivered")).status).toBe(200); // within the resend's 2 s back-off
    await drained();
    expect(graph.sent.map((s) => s.callbackData)).toEqual(["12:answer#0", "13:answer#0"]);
    for (const key of ["12:answer#0:resend1#0", "13:answer#0:resend1#0"]) {
      expect(await ledger(key)).toEqual([{ state: "failed", last_error: "not sent again: Meta reported it delivered" }]);
    }
  });

  it("not sent again once a later message of the chat went out: it would arrive out of order", async () => {
    await replied("10:answer", "First answer.");
    await until(() => graph.sent.length === 1, 10_000, "the first reply");
    await replied("11:answer", "Second answer.");
    await until(() => graph.sent.length === 2, 10_000, "the second reply");
    expect((await failed(graph.sent[0]!, 131000)).status).toBe(200);
    await drained();
    expect(graph.sent).toHaveLength(2);
    expect(await ledger("10:answer#0:resend1#0")).toEqual([{
      state: "failed",
      last_error: "not sent again: later messages of the chat went out since; it would arrive out of order",
    }]);
  });

  // Meta's throughput limits fail consecutive sends: the second half of a long answer alone would make no sense.
  it("a long reply both of whose parts failed: neither is sent again, never its second part alone", async () => {
    await replied("14:answer", `${"a".repeat(4_000)}. ${"b".repeat(1_000)}.`);
    await until(() => graph.sent.length === 2, 10_000, "both parts");
    const [first, second] = [graph.sent[0]!, graph.sent[1]!];
    expect([first.callbackData, second.callbackData]).toEqual(["14:answer#0", "14:answer#1"]);
    expect((await failed(first, 131000)).status).toBe(200);
    expect((await failed(second, 131000)).status).toBe(200);
    await until(async () => (await outbound()) === 3, 10_000, "both resends published");
    await drained();
    expect(graph.sent.map((s) => s.callbackData)).toEqual(["14:answer#0", "14:answer#1"]);
    expect(await ledger("14:answer#1:resend1#0")).toEqual([{
      state: "failed",
      last_error: "not sent again: an earlier part of its reply failed too; it would arrive without it",
    }]);
  });
});
