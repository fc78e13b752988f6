// WhatsApp webhook ingress (RELIABILITY.md B1–B5): handshake, signature over the raw bytes, wamid dedup, batch
// atomicity, statuses without any model call, staleness, fixtures from Meta's documentation.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { chatKey, INBOUND_TOPIC, outboundTopic } from "../../src/bus/envelopes.ts";
import {
  batchPayload,
  type FakeGraph,
  freshen,
  signature,
  startFakeGraph,
  statusPayload,
  textPayload,
  webhookFixture,
} from "../fakes/graph.ts";
import { repoRoot } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";
import { MAX_BODY_BYTES } from "../../src/agents/whatsapp/webhook.ts";
import { type Channel, startChannel, until, whatsappAgent } from "./harness.ts";

const APP_SECRET = "meta-app-secret-0123456789abcdef";
const ACCESS_TOKEN = "EAAJB-fake-access-token-for-tests";
const VERIFY = "verify-me-please";
const PNID = "106540352242922";
const secrets = { WA_APP_SECRET: APP_SECRET, WA_TOKEN: ACCESS_TOKEN, WA_VERIFY: VERIFY };

let dir: string;
let cleanup: () => Promise<void>;
let graph: FakeGraph;
let ch: Channel;
let db = 0;
let dbFile = "";

beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-wa-")));
afterAll(() => cleanup());
beforeEach(async () => {
  graph = await startFakeGraph({ accessToken: ACCESS_TOKEN });
  dbFile = `wa-${db++}.db`;
  ch = await startChannel({
    dir,
    dbFile,
    secrets,
    agent: whatsappAgent({ phoneNumberId: PNID, graphBaseUrl: graph.baseUrl, whatsapp: { staleAfterS: 3600 } }),
  });
});
afterEach(async () => {
  await ch.stop();
  await graph.close();
});

const url = () => `${ch.url}/whatsapp/webhook`;
function post(body: string, sig: string | null = signature(body, APP_SECRET)): Promise<Response> {
  return fetch(url(), {
    method: "POST",
    headers: { "content-type": "application/json", ...(sig === null ? {} : { "X-Hub-Signature-256": sig }) },
    body,
  });
}
const postJson = (payload: unknown) => post(JSON.stringify(payload));
/** One notification with the first messages of `n` users: ids `wamid.<tag><i>`, numbers `1555<series><i>`. */
const burstOf = (tag: string, series: string, n: number) =>
  batchPayload(Array.from({ length: n }, (_, i) =>
    textPayload({ id: `wamid.${tag}${i}`, from: `1555${series}${String(i).padStart(4, "0")}`, body: "hi", phoneNumberId: PNID })));
const inbound = () => ch.inbound();
const inboundCount = () => ch.count("SELECT count(*) FROM bus_messages WHERE topic = ?", INBOUND_TOPIC);
/** What one webhook batch writes besides the bus: the inbox, the contacts' 24 h windows, the delivery statuses. */
const batchRows = async () => ({
  inbound: await inboundCount(),
  inbox: await ch.count("SELECT count(*) FROM chat_inbox"),
  contacts: await ch.count("SELECT count(*) FROM channel_contacts"),
  statuses: await ch.count("SELECT count(*) FROM channel_deliveries"),
});

describe("whatsapp handshake (B1)", () => {
  it("answers 200 with exactly hub.challenge for the right token", async () => {
    const res = await fetch(
      `${url()}?hub.mode=subscribe&hub.verify_token=${VERIFY}&hub.challenge=1158201444`,
    );
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("1158201444");
  });

  it("answers 403 without echoing for a wrong token, a wrong mode or missing parameters", async () => {
    for (
      const q of [
        `hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=echo-me`,
        `hub.mode=unsubscribe&hub.verify_token=${VERIFY}&hub.challenge=echo-me`,
        `hub.verify_token=${VERIFY}&hub.challenge=echo-me`,
        `hub.mode=subscribe&hub.challenge=echo-me`,
      ]
    ) {
      const res = await fetch(`${url()}?${q}`);
      expect(res.status).toBe(403);
      expect(await res.text()).not.toContain("echo-me");
    }
  });
});

describe("whatsapp signature (B2)", () => {
  it("refuses a changed byte, a missing header, a malformed header and an HMAC over re-serialised JSON: 401, zero rows", async () => {
    const payload = freshen(webhookFixture("text"), { phoneNumberId: PNID });
    const body = JSON.stringify(payload, null, 2);
    const good = signature(body, APP_SECRET);
    const changed = body.replace("another color", "another colour");
    expect((await post(changed, good)).status).toBe(401);
    expect((await post(body, null)).status).toBe(401);
    expect((await post(body, good.replace("sha256=", "sha1="))).status).toBe(401);
    expect((await post(body, "sha256=")).status).toBe(401);
    expect((await post(body, signature(JSON.stringify(JSON.parse(body)), APP_SECRET))).status).toBe(401);
    expect((await post(body, signature(body, "another-secret"))).status).toBe(401);
    expect(await ch.count("SELECT count(*) FROM bus_messages")).toBe(0);
    expect(await ch.count("SELECT count(*) FROM channel_contacts")).toBe(0);
    expect((await post(body, good)).status).toBe(200);
    expect(await inboundCount()).toBe(1);
  });
});

describe("whatsapp messages", () => {
  it("reads Meta's documented payloads: text, button reply, list reply, image caption, sticker", async () => {
    for (
      const name of ["text", "interactive-button-reply", "interactive-list-reply", "image-caption", "sticker"]
    ) {
      expect((await postJson(freshen(webhookFixture(name), { phoneNumberId: PNID }))).status).toBe(200);
    }
    expect((await inbound()).map((m) => [m["kind"], m["text"], m["userName"]])).toEqual([
      ["text", "Does it come in another color?", "Sheena Nelson"],
      ["text", "Cancel", "Sheena Nelson"],
      ["text", "Priority Mail Express", "Sheena Nelson"],
      ["text", "Is this the right cable for my router?", "Sheena Nelson"],
      ["unsupported", "[sticker]", "Sheena Nelson"],
    ]);
    const first = (await inbound())[0]!;
    expect(first).toMatchObject({
      channel: "whatsapp",
      agent: "wa",
      chatId: "16505551234",
      userId: "16505551234",
    });
    // Each message was marked read with a typing indicator; the channel itself answered nothing.
    await until(() => graph.reads.length === 5, 10_000, "mark-as-read");
    expect(graph.reads.every((r) => r.typing)).toBe(true);
    expect(graph.sent).toEqual([]);
  });

  it("a user with a username (a BSUID, no phone number) is stored beside an ordinary user and answered at the BSUID", async () => {
    const BSUID = "MY.8817265530274191";
    const payload = freshen(webhookFixture("username-users"), { phoneNumberId: PNID });
    // A contact entry we cannot read costs its name only, never the change's messages.
    const value = (payload["entry"] as { changes: { value: { contacts: unknown[] } }[] }[])[0]!.changes[0]!.value;
    value.contacts.push({ profile: { name: 42 }, wa_id: "60170000000" });
    expect((await postJson(payload)).status).toBe(200);
    expect((await inbound()).map((m) => [m["chatId"], m["userId"], m["userName"], m["text"]])).toEqual([
      ["16505551234", "16505551234", "Sheena Nelson", "Hi, what are your opening hours?"],
      [BSUID, BSUID, "Jo Tan", "Do you ship to Malaysia?"],
    ]);
    expect((await ch.rows("SELECT chat_id FROM channel_contacts ORDER BY chat_id")).map((r) => r["chat_id"]))
      .toEqual(["16505551234", BSUID]); // both 24-hour windows open
    const [, jo] = await ch.rows("SELECT id FROM bus_messages WHERE topic = ? ORDER BY id", INBOUND_TOPIC);
    const reply = {
      agent: "wa",
      chatId: BSUID,
      text: "Yes, we ship to Malaysia.",
      inReplyTo: [Number(jo!["id"])],
      replyKey: "bsuid-1",
      kind: "answer",
    };
    await ch.bus.publish([{ topic: outboundTopic("wa"), key: chatKey("wa", BSUID), payload: reply, idempotencyKey: "bsuid-1" }]);
    await until(() => graph.sent.length === 1, 10_000, "the reply");
    const sent = graph.requests.find((r) => r.body["type"] === "text")!.body;
    expect(sent).toMatchObject({ recipient: BSUID, text: { body: "Yes, we ship to Malaysia." } });
    expect(sent).not.toHaveProperty("to");
    // Its statuses name the user by BSUID alone: recorded under the same chat.
    const wamid = graph.sent[0]!.id;
    const status = statusPayload({ phoneNumberId: PNID, messageId: wamid, status: "read", to: BSUID, at: Date.now() });
    expect(JSON.stringify(status)).not.toContain("recipient_id");
    expect((await postJson(status)).status).toBe(200);
    await until(async () => (await ch.rows("SELECT status FROM channel_deliveries WHERE message_id = ?", wamid))[0]?.["status"] === "read", 5_000, "read");
    expect(await ch.rows("SELECT chat_id, reply_key FROM channel_deliveries WHERE message_id = ?", wamid)).toEqual([
      { chat_id: BSUID, reply_key: "bsuid-1#0" },
    ]);
  });

  it("a user opening the chat for the first time (request_welcome) gets the greeting, never the non-text notice", async () => {
    const p = textPayload({ id: "wamid.WELCOME1", from: "15550003333", body: "x", phoneNumberId: PNID });
    const m = (p["entry"] as { changes: { value: { messages: Record<string, unknown>[] } }[] }[])[0]!.changes[0]!
      .value.messages[0]!;
    delete m["text"];
    m["type"] = "request_welcome";
    expect((await postJson(p)).status).toBe(200);
    expect((await inbound()).map((x) => [x["kind"], x["text"], x["chatId"]])).toEqual([["command", "/start", "15550003333"]]);
    expect(await ch.count("SELECT count(*) FROM channel_contacts WHERE chat_id = '15550003333'")).toBe(1);
  });

  it("a message or status naming nobody (neither phone number nor BSUID) is recorded as unreadable, the rest stored", async () => {
    const ok = textPayload({ id: "wamid.NAMED", from: "15550003333", body: "hello", phoneNumberId: PNID });
    const value = (ok["entry"] as { changes: { value: { messages: Record<string, unknown>[] } }[] }[])[0]!.changes[0]!
      .value;
    const nameless: Record<string, unknown> = { ...value.messages[0]!, id: "wamid.NAMELESS" };
    delete nameless["from"];
    value.messages.push(nameless);
    expect((await postJson(ok)).status).toBe(200);
    expect((await inbound()).map((m) => m["platformId"])).toEqual(["wamid.NAMED"]);
    expect(await ch.rows("SELECT platform_id, reason, detail FROM channel_skipped")).toEqual([
      { platform_id: "wamid.NAMELESS", reason: "ignored", detail: "unreadable" },
    ]);
  });

  it("a message unreadable for its timestamp (fractional, out of range) is recorded at the receive time, the rest stored", async () => {
    const ok = textPayload({ id: "wamid.GOOD", from: "15550004444", body: "hello", phoneNumberId: PNID });
    const value = (ok["entry"] as { changes: { value: { messages: Record<string, unknown>[] } }[] }[])[0]!.changes[0]!
      .value;
    const good = value.messages[0]!;
    value.messages.push({ ...good, id: "wamid.FRACTION", timestamp: "1700000000.1234" });
    value.messages.push({ ...good, id: "wamid.HUGE", timestamp: "1e999" });
    expect((await postJson(ok)).status).toBe(200);
    expect((await inbound()).map((m) => m["platformId"])).toEqual(["wamid.GOOD"]);
    const skipped = await ch.rows("SELECT platform_id, detail, sent_at = recorded_at AS now FROM channel_skipped ORDER BY platform_id");
    expect(skipped).toEqual([
      { platform_id: "wamid.FRACTION", detail: "unreadable", now: 1 },
      { platform_id: "wamid.HUGE", detail: "unreadable", now: 1 },
    ]);
  });

  it("a burst of messages from 40 users makes mark-as-read calls within the typing budget, not one each", async () => {
    // Each call counts against the number's throughput as a reply does (Meta's 80 messages/s per number).
    expect((await postJson(burstOf("BURST", "000", 40))).status).toBe(200);
    expect(await inboundCount()).toBe(40);
    await new Promise((r) => setTimeout(r, 300));
    // The budget's default: 10 a second, a second's worth at once.
    expect(graph.reads.length).toBeGreaterThanOrEqual(10);
    expect(graph.reads.length).toBeLessThanOrEqual(13);
    expect(graph.reads.every((r) => r.typing)).toBe(true);
  });

  it("a burst's messages past the mark-as-read budget are marked read once answered, when no renewal came first", async () => {
    // Marking read is explicit (a reply does not mark the user's message read): a message the budget deferred and
    // whose answer came before its chat's next renewal (20 s) would keep its grey ticks.
    expect((await postJson(burstOf("LATE", "100", 40))).status).toBe(200);
    const stored = await inbound();
    expect(stored).toHaveLength(40);
    await ch.rows("UPDATE chat_inbox SET state = 'answered'"); // as the orchestrator records its turns
    const ids = await ch.rows("SELECT id FROM bus_messages WHERE topic = ? ORDER BY id", INBOUND_TOPIC);
    await ch.bus.publish(stored.map((m, i) => {
      const reply = {
        agent: "wa",
        chatId: String(m["chatId"]),
        text: "hello",
        inReplyTo: [Number(ids[i]!["id"])],
        replyKey: `${ids[i]!["id"]}:answer`,
        kind: "answer",
        receivedAt: Number(m["receivedAt"]),
      };
      return { topic: outboundTopic("wa"), key: chatKey("wa", reply.chatId), payload: reply, idempotencyKey: reply.replyKey };
    }));
    await until(() => graph.sent.length === 40, 10_000, "the replies");
    await until(() => new Set(graph.reads.map((r) => r.messageId)).size === 40, 10_000, "every message marked read");
  });

  it("a burst's messages whose turns end without a reply are marked read at the renewals within the typing budget", async () => {
    // The renewals of a burst's chats wake together: each one that finds its turn over and marks the message read
    // makes a call against the number's throughput, as the indicator does, so they take the budget's tokens too.
    await ch.stop();
    ch = await startChannel({
      dir,
      dbFile: `wa-${db++}.db`,
      secrets,
      agent: whatsappAgent({
        phoneNumberId: PNID,
        graphBaseUrl: graph.baseUrl,
        whatsapp: { staleAfterS: 3600, typing: { refreshMs: 5_000 } },
      }),
    });
    expect((await postJson(burstOf("SILENT", "400", 30))).status).toBe(200);
    expect(await inboundCount()).toBe(30);
    await ch.rows("UPDATE chat_inbox SET state = 'silent'"); // as the orchestrator records a paused chat's turn
    await until(() => graph.reads.length > 10, 9_000, "the first renewals' marks");
    await new Promise((r) => setTimeout(r, 500));
    // 10 at ingress (the budget: 10 a second, a second's worth at once), then at most the refilled 10 at the renewals.
    expect(graph.reads.length).toBeLessThanOrEqual(10 + 10 + 2);
    // The rest at the later renewals, every one.
    await until(() => new Set(graph.reads.map((r) => r.messageId)).size === 30, 9_000, "every message marked read");
    expect(graph.sent).toEqual([]);
  }, 20_000);

  it("a burst's messages past the mark-as-read budget answered by an operator's relay are marked read once it is sent", async () => {
    // A paused chat's user answered by the person it was handed to (an operator relay: a reply without receivedAt),
    // before the chat's next renewal (20 s): that reply stops the renewals as a bot's answer does.
    expect((await postJson(burstOf("RELAY", "300", 12))).status).toBe(200);
    const stored = await inbound();
    expect(stored).toHaveLength(12);
    await ch.rows("UPDATE chat_inbox SET state = 'silent'"); // as the orchestrator records a paused chat's turn
    const ids = await ch.rows("SELECT id FROM bus_messages WHERE topic = ? ORDER BY id", INBOUND_TOPIC);
    await ch.bus.publish(stored.map((m, i) => {
      const reply = {
        agent: "wa",
        chatId: String(m["chatId"]),
        text: "a person here: hello",
        inReplyTo: [Number(ids[i]!["id"])],
        replyKey: `${ids[i]!["id"]}:relay`,
        kind: "answer",
      };
      return { topic: outboundTopic("wa"), key: chatKey("wa", reply.chatId), payload: reply, idempotencyKey: reply.replyKey };
    }));
    await until(() => graph.sent.length === 12, 10_000, "the relays");
    await until(() => new Set(graph.reads.map((r) => r.messageId)).size === 12, 5_000, "every message marked read");
  });

  it("wamid dedup (B3): the same message 3×, once inside a multi-message batch → one row", async () => {
    const one = textPayload({ id: "wamid.DUP1", from: "15550001111", body: "hello", phoneNumberId: PNID });
    const other = textPayload({ id: "wamid.OTHER", from: "15550002222", body: "hi", phoneNumberId: PNID });
    expect((await postJson(one)).status).toBe(200);
    expect((await postJson(one)).status).toBe(200);
    expect((await postJson(batchPayload([other, one, one]))).status).toBe(200);
    expect((await inbound()).map((m) => m["platformId"]).sort()).toEqual(["wamid.DUP1", "wamid.OTHER"]);
  });

  it("batch atomicity (B4): a multi-entry, multi-change payload is committed whole, then 200", async () => {
    expect((await postJson(freshen(webhookFixture("multi-entry"), { phoneNumberId: PNID }))).status).toBe(
      200,
    );
    expect((await inbound()).map((m) => m["text"])).toEqual([
      "Hi, what are your opening hours?",
      "Do you ship to Malaysia?",
      "And on Sundays?",
    ]);
  });

  it("batch atomicity (B4): when the commit fails half-way, nothing of the batch is stored and the answer is non-2xx", async () => {
    // A trigger makes the 3rd message's insert fail inside the one publish transaction.
    await ch.running.store.client.execute(`CREATE TRIGGER fail_third BEFORE INSERT ON bus_messages
      WHEN NEW.payload LIKE '%And on Sundays%' BEGIN SELECT RAISE(ABORT, 'injected failure'); END`);
    const payload = freshen(webhookFixture("multi-entry"), { phoneNumberId: PNID });
    const res = await postJson(payload);
    expect(res.status).toBeGreaterThanOrEqual(500);
    // Nothing of it anywhere: not the first two messages, their inbox rows, the contacts' windows, the status.
    expect(await batchRows()).toEqual({ inbound: 0, inbox: 0, contacts: 0, statuses: 0 });
    await ch.running.store.client.execute("DROP TRIGGER fail_third");
    expect((await postJson(payload)).status).toBe(200);
    expect(await batchRows()).toEqual({ inbound: 3, inbox: 3, contacts: 2, statuses: 1 });
  });

  it("Meta's largest notification (1,000 messages, ~3 MB) is stored whole; a body over 4 MiB is 413, nothing stored", async () => {
    const batchOf = (tag: string, n: number) =>
      batchPayload(Array.from({ length: n }, (_, i) =>
        textPayload({
          id: `wamid.${tag}${i}`,
          from: `1555${String(i).padStart(7, "0")}`,
          body: `Question ${i}: ${"my order has not arrived yet ".repeat(107)}`,
          phoneNumberId: PNID,
        })));
    const largest = JSON.stringify(batchOf("BIG", 1_000));
    expect(largest.length).toBeGreaterThan(3_000_000);
    expect(largest.length).toBeLessThan(MAX_BODY_BYTES);
    const tooLarge = JSON.stringify(batchOf("HUGE", 1_400));
    expect(tooLarge.length).toBeGreaterThan(MAX_BODY_BYTES);
    const refused = await post(tooLarge); // correctly signed: the size alone refuses it
    expect(refused.status).toBe(413);
    expect(await refused.json()).toEqual({ error: "payload too large" });
    expect(await batchRows()).toEqual({ inbound: 0, inbox: 0, contacts: 0, statuses: 0 });
    expect((await post(largest)).status).toBe(200);
    expect(await inboundCount()).toBe(1_000);
    expect(await ch.count("SELECT count(DISTINCT okey) FROM bus_messages WHERE topic = ?", INBOUND_TOPIC)).toBe(1_000);
  }, 30_000);

  it(
    "batch atomicity (B4): another process holding the write lock → 503 + Retry-After, zero rows; the redelivery is stored once",
    async () => {
      const payload = freshen(webhookFixture("multi-entry"), { phoneNumberId: PNID });
      const holder = spawn(process.execPath, [
        join(repoRoot, "test/support/hold-lock.mjs"),
        join(dir, dbFile),
      ], { stdio: ["pipe", "pipe", "inherit"] });
      await new Promise((resolve) => holder.stdout.once("data", resolve));
      const res = await postJson(payload);
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("5");
      holder.stdin.end();
      await new Promise((resolve) => holder.on("exit", resolve));
      expect(await batchRows()).toEqual({ inbound: 0, inbox: 0, contacts: 0, statuses: 0 });
      // Meta redelivers (twice here): the whole batch is stored once.
      expect((await postJson(payload)).status).toBe(200);
      expect((await postJson(payload)).status).toBe(200);
      expect(await batchRows()).toEqual({ inbound: 3, inbox: 3, contacts: 2, statuses: 1 });
    },
    30_000,
  );

  it("statuses-only payload (B5): 200, nothing for the orchestrator; read is not regressed by a later delivered; failed errors recorded", async () => {
    expect((await postJson(freshen(webhookFixture("statuses"), { phoneNumberId: PNID }))).status).toBe(200);
    expect(await ch.count("SELECT count(*) FROM bus_messages")).toBe(0);
    const rows = await ch.rows(
      "SELECT message_id, status, error_code, error_title, error_detail FROM channel_deliveries ORDER BY message_id",
    );
    expect(rows).toEqual([
      {
        message_id: "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI3MDA4QzZCQkE5QjYzQkFDNUYA",
        status: "read",
        error_code: null,
        error_title: null,
        error_detail: null,
      },
      {
        message_id: "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBJGQUlMRURNRVNTQUdFMDAwMQA=",
        status: "failed",
        error_code: 131047,
        error_title: "Re-engagement message",
        error_detail:
          "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
      },
    ]);
    // The failed one is as visible as a refused send: a send error with its code, and a warning.
    const metrics = await (await fetch(`${ch.url}/metrics`)).text();
    expect(metrics).toMatch(/aideazz_send_errors_total\{[^}]*code="131047"[^}]*\} 1/);
    expect(ch.logs.join("")).toMatch(/"msg":"message not delivered \(failed status\)".*"code":"131047"/);
    // A redelivered "delivered" (Meta retries) still does not regress the state.
    const late = webhookFixture("multi-entry");
    expect((await postJson(freshen(late, { phoneNumberId: PNID }))).status).toBe(200);
    expect(await ch.rows("SELECT status FROM channel_deliveries WHERE message_id LIKE '%QkFDNUYA'")).toEqual([
      { status: "read" },
    ]);
    expect(graph.sent).toEqual([]);
  });

  it("Meta's errors of a whole change (value.errors, e.g. 130429) are logged, counted as send errors, and hold every send", async () => {
    expect((await postJson(freshen(webhookFixture("text"), { phoneNumberId: PNID }))).status).toBe(200);
    const at = Date.now();
    expect((await postJson(webhookFixture("value-errors"))).status).toBe(200);
    const metrics = await (await fetch(`${ch.url}/metrics`)).text();
    expect(metrics).toMatch(/aideazz_send_errors_total\{[^}]*code="130429"[^}]*\} 1/);
    expect(ch.logs.join("")).toMatch(/"msg":"WhatsApp reported an error".*"code":"130429"/);
    // 130429 holds every send for its back-off (2 s), as when Graph refuses a send with it.
    const chatId = "16505551234";
    const reply = { agent: "wa", chatId, text: "hello", inReplyTo: [1], replyKey: "held", kind: "answer" };
    await ch.bus.publish([
      { topic: outboundTopic("wa"), key: chatKey("wa", chatId), payload: reply, idempotencyKey: "held" },
    ]);
    await until(() => graph.sent.length === 1, 10_000, "the reply");
    expect(graph.sent[0]!.at - at).toBeGreaterThanOrEqual(1_900);
  });

  it("a reply Meta accepted and then failed with 131047 gets the configured template once, sent by egress; none without a template", async () => {
    const failed = (callbackData: string, messageId: string, code = 131047) =>
      postJson(statusPayload({
        phoneNumberId: PNID,
        messageId,
        status: "failed",
        to: "16505551234",
        callbackData,
        at: Date.now(),
        errors: [{ code, title: code === 131047 ? "Re-engagement message" : "Message undeliverable" }],
      }));
    // Without a template (the agent of beforeEach): recorded and counted, nothing published, nothing sent.
    expect((await failed("6:answer#0", "wamid.F0")).status).toBe(200);
    await ch.stop();
    ch = await startChannel({
      dir,
      dbFile,
      secrets,
      agent: whatsappAgent({
        phoneNumberId: PNID,
        graphBaseUrl: graph.baseUrl,
        whatsapp: { template: { name: "follow_up", language: "en_US" } },
      }),
    });
    // The replies went out (their send-ledger rows; a status of a send whose row is gone sends nothing).
    for (const [key, id] of [["7:answer#0", "wamid.F1"], ["7:answer#1", "wamid.F2"], ["8:answer#0", "wamid.F3"], ["9:answer#0", "wamid.F4"]]) {
      await ch.running.store.client.execute({
        sql: "INSERT INTO bus_send_ledger (reply_key, state, fence, started_at, platform_id, finished_at) VALUES (?, 'sent', 0, ?, ?, ?)",
        args: [key!, Date.now(), id!, Date.now()],
      });
    }
    // Two parts of one reply failed, and Meta posts a status twice: one template.
    for (const [key, id] of [["7:answer#0", "wamid.F1"], ["7:answer#1", "wamid.F2"], ["7:answer#1", "wamid.F2"]]) {
      expect((await failed(key!, id!)).status).toBe(200);
    }
    await until(() => graph.sent.length > 0, 10_000, "the template sent");
    await until(
      async () => (await ch.count("SELECT count(*) FROM bus_deliveries WHERE topic = ?", outboundTopic("wa"))) === 0,
      10_000,
      "the outbound topic drained",
    );
    expect(graph.sent).toEqual([
      expect.objectContaining({
        to: "16505551234",
        type: "template",
        template: { name: "follow_up", language: "en_US" },
        callbackData: "7:answer:template#0",
      }),
    ]);
    expect(await ch.count("SELECT count(*) FROM bus_messages WHERE topic = ?", outboundTopic("wa"))).toBe(1);
    expect(await ch.count("SELECT count(*) FROM bus_messages WHERE topic = ?", INBOUND_TOPIC)).toBe(0);
    // Another reply refused in this closed window: no second template.
    expect((await failed("8:answer#0", "wamid.F3")).status).toBe(200);
    await until(
      async () => (await ch.count("SELECT count(*) FROM bus_send_ledger WHERE reply_key = '8:answer:template#0'")) === 1,
      10_000,
      "the second template's reply handled",
    );
    expect(graph.sent).toHaveLength(1);
    // The template itself failed after Meta took it (a 131047 of it starts nothing): the next refusal gets one.
    expect((await failed("7:answer:template#0", graph.sent[0]!.id, 131026)).status).toBe(200);
    expect((await failed("7:answer:template#0", graph.sent[0]!.id)).status).toBe(200);
    expect(await ch.count("SELECT count(*) FROM bus_messages WHERE topic = ?", outboundTopic("wa"))).toBe(2);
    expect((await failed("9:answer#0", "wamid.F4")).status).toBe(200);
    await until(() => graph.sent.length === 2, 10_000, "a template again");
    expect(graph.sent[1]).toMatchObject({ type: "template", callbackData: "9:answer:template#0" });
  });

  it("a message older than the cutoff is recorded as stale, not answered, but still opens the contact's window record", async () => {
    const old = Math.floor(Date.now() / 1000) - 2 * 3600;
    expect((await postJson(freshen(webhookFixture("text"), { phoneNumberId: PNID, seconds: old }))).status)
      .toBe(200);
    expect(await inboundCount()).toBe(0);
    expect(await ch.rows("SELECT reason, detail FROM channel_skipped")).toEqual([{
      reason: "stale",
      detail: "text",
    }]);
    expect(await ch.rows("SELECT chat_id, last_inbound_at FROM channel_contacts")).toEqual([{
      chat_id: "16505551234",
      last_inbound_at: old * 1000,
    }]);
    await new Promise((r) => setTimeout(r, 200));
    expect(graph.reads).toEqual([]);
  });

  it("changes for a phone number id no agent owns: 200 (Meta would retry forever), one warning per id, /health says how to fix", async () => {
    for (const [id, number] of [["wamid.U1", "999"], ["wamid.U2", "999"], ["wamid.U3", "998"]] as const) {
      const p = textPayload({ id, from: "15550001111", body: "hi", phoneNumberId: number });
      expect((await postJson(p)).status).toBe(200);
    }
    expect(await ch.count("SELECT count(*) FROM bus_messages")).toBe(0);
    const warnings = ch.logs.filter((l) => l.includes("no whatsapp agent is configured for"));
    expect(warnings.map((l) => JSON.parse(l).phoneNumberId)).toEqual(["999", "998"]);
    expect(warnings.every((l) => JSON.parse(l).level === "warn")).toBe(true);
    const health = await (await fetch(`${ch.url}/health`)).json();
    expect(health.checks.numbers.ok).toBe(false);
    expect(health.checks.numbers.detail).toMatch(/999, 998$/);
    expect(health.checks.numbers.detail).toContain("whatsapp.phoneNumberId");
  });

  it("a signed webhook of another object (an app also subscribed to Messenger) is acknowledged, not refused", async () => {
    const page = { object: "page", entry: [{ id: "1", time: 1, messaging: [{ sender: { id: "2" }, message: { text: "hi" } }] }] };
    expect((await postJson(page)).status).toBe(200); // a 4xx and Meta would send it again for days
    expect(await ch.count("SELECT count(*) FROM bus_messages")).toBe(0);
  });

  it("the access token and app secret never appear in logs", async () => {
    graph.script(() => ({ status: 401, body: webhookFixture("error-190") }));
    expect((await postJson(freshen(webhookFixture("text"), { phoneNumberId: PNID }))).status).toBe(200);
    const reply = {
      agent: "wa",
      chatId: "16505551234",
      text: "hello",
      inReplyTo: [1],
      replyKey: "tok",
      kind: "answer",
    };
    await ch.bus.publish([{
      topic: outboundTopic("wa"),
      key: chatKey("wa", "16505551234"),
      payload: reply,
      idempotencyKey: "tok",
    }]);
    await until(() => graph.requests.some((r) => r.body["type"] === "text"), 10_000, "a send");
    await new Promise((r) => setTimeout(r, 200));
    const logs = ch.logs.join("");
    expect(logs).not.toContain(ACCESS_TOKEN);
    expect(logs).not.toContain(APP_SECRET);
    const health = await (await fetch(`${ch.url}/health`)).json();
    expect(health.checks.graph).toEqual({
      ok: false,
      detail: "Graph API refused the access token (code 190)",
    });
  });

  it("F1: an access token Graph quotes in its error is stored redacted in the send ledger", async () => {
    const error = { message: `(#100) Invalid parameter: ${ACCESS_TOKEN}`, type: "OAuthException", code: 100 };
    graph.script(() => ({ status: 400, body: { error } }));
    expect((await postJson(freshen(webhookFixture("text"), { phoneNumberId: PNID }))).status).toBe(200);
    const chatId = "16505551234";
    const reply = { agent: "wa", chatId, text: "hello", inReplyTo: [1], replyKey: "echo", kind: "answer" };
    await ch.bus.publish([
      { topic: outboundTopic("wa"), key: chatKey("wa", chatId), payload: reply, idempotencyKey: "echo" },
    ]);
    const failed = () => ch.count("SELECT count(*) FROM bus_send_ledger WHERE state = 'failed'");
    await until(async () => (await failed()) === 1, 10_000, "the failed send");
    expect(await ch.rows("SELECT last_error FROM bus_send_ledger")).toEqual([
      { last_error: "100: (#100) Invalid parameter: [redacted]" },
    ]);
  });

  it("an account blocked for a policy violation (368) turns /health 503 and says so", async () => {
    graph.script(() => ({
      status: 403,
      body: { error: { message: "(#368) Temporarily blocked for policies violations", type: "OAuthException", code: 368 } },
    }));
    expect((await postJson(freshen(webhookFixture("text"), { phoneNumberId: PNID }))).status).toBe(200);
    const reply = { agent: "wa", chatId: "16505551234", text: "hello", inReplyTo: [1], replyKey: "blk", kind: "answer" };
    await ch.bus.publish([{ topic: outboundTopic("wa"), key: chatKey("wa", "16505551234"), payload: reply, idempotencyKey: "blk" }]);
    await until(async () => (await fetch(`${ch.url}/health`)).status === 503, 10_000, "health degraded");
    expect((await (await fetch(`${ch.url}/health`)).json()).checks.graph).toEqual({
      ok: false,
      detail: "the WhatsApp account is blocked, locked, unpaid or unregistered (code 368)",
    });
  });
});
