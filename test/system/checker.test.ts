// The soak's checker on a store written by hand, and on crafted rows (tally): it must FAIL on each defect a soak
// must catch (lost, twice, out of order, wrong chat, incomplete, unexplained, dead letter without a reason, a
// damaged store), and not on what is legitimately a second message (a fallback notice before the answer, WhatsApp's
// template after 131047, a streamed answer's edits and deleted partials).
import { createClient } from "@libsql/client";
import { afterEach, describe, expect, it } from "vitest";
import { join } from "node:path";
import { check, type CheckReport, type Received, type StoreRows, tally } from "../../bench/soak/checker.ts";
import type { Injected } from "../../bench/soak/inject.ts";
import { SOAK_FAQ } from "../../bench/soak/plan.ts";
import { passed, runSoak, type SoakOptions } from "../../bench/soak/soak.ts";
import { createSendLedger } from "../../src/bus/mod.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";

describe("soak checker", () => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => await cleanup?.());

  it("counts a received message without a ledger row as unexpected and shows it", async () => {
    const tmp = await tempDir("aideazz-checker-");
    cleanup = tmp.cleanup;
    const dbPath = join(tmp.dir, "soak.db");
    const store = await openStore({ url: `file:${dbPath}` });
    await migrate(store.client);
    const reply = { replyKey: "1:answer", inReplyTo: [1], text: SOAK_FAQ[0]!.answer };
    await store.client.batch([
      `INSERT INTO bus_messages (id, topic, okey, payload, idem_key, published_at, visible_at)
        VALUES (1, 'inbound', 'tg1:7', '{}', 'telegram:tg1:100', 0, 0)`,
      {
        sql: `INSERT INTO bus_messages (id, topic, okey, payload, idem_key, published_at, visible_at)
          VALUES (2, 'outbound.tg1', 'tg1:7', ?, 'reply:1:answer', 0, 0)`,
        args: [JSON.stringify(reply)],
      },
      `INSERT INTO bus_send_ledger (reply_key, state, fence, started_at, platform_id, finished_at)
        VALUES ('1:answer#0', 'sent', 1, 0, '501', 0)`,
    ], "write");
    store.close();
    const at = Date.UTC(2026, 10, 28, 15, 44, 10);
    const report = await check({
      dbPath,
      injected: [{
        m: 0,
        chat: 0,
        seq: 0,
        kind: "faq",
        faq: 0,
        text: SOAK_FAQ[0]!.questions[0]!,
        agent: "tg1",
        chatId: "7",
        key: "telegram:tg1:100",
        ackedAt: 1,
        attempts: 1,
        redelivered: 0,
      }],
      received: new Map([["tg1", [
        { chatId: "7", text: reply.text, platformId: "500", at },
        { chatId: "7", text: reply.text, platformId: "501", at: at + 60_000 },
      ]]]),
      faq: SOAK_FAQ,
    });
    expect(report).toMatchObject({ answered: 1, lost: 0, duplicateAnswers: 0, unexpected: 1, userVisibleDuplicates: 1 });
    expect(report.unexpectedExamples).toEqual([
      { agent: "tg1", chat: "7", platformId: "500", at: "2026-11-28T15:44:10.000Z", text: reply.text.slice(0, 80) },
    ]);
  });

  it("reports integrity_check's findings when an index no longer matches its table", async () => {
    const tmp = await tempDir("aideazz-checker-");
    cleanup = tmp.cleanup;
    const dbPath = join(tmp.dir, "soak.db");
    const store = await openStore({ url: `file:${dbPath}` });
    await migrate(store.client);
    await store.client.execute(
      `INSERT INTO bus_send_ledger (reply_key, state, fence, started_at, platform_id, finished_at)
        VALUES ('1:answer#0', 'sent', 1, 0, '501', 0)`,
    );
    store.close();
    // The index's definition rewritten behind SQLite's back: its entries no longer match the rows.
    const raw = createClient({ url: `file:${dbPath}` });
    await raw.execute("PRAGMA writable_schema = ON");
    await raw.execute(
      "UPDATE sqlite_schema SET sql = 'CREATE INDEX bus_send_ledger_started ON bus_send_ledger (fence)' WHERE name = 'bus_send_ledger_started'",
    );
    raw.close();
    const report = await check({ dbPath, injected: [], received: new Map(), faq: SOAK_FAQ });
    expect(report.integrityCheck).toMatch(/missing from index bus_send_ledger_started/);
  });

  it("counts a dead letter whose message is no longer stored, and its empty reason", async () => {
    const tmp = await tempDir("aideazz-checker-");
    cleanup = tmp.cleanup;
    const dbPath = join(tmp.dir, "soak.db");
    const store = await openStore({ url: `file:${dbPath}` });
    await migrate(store.client);
    await store.client.execute(
      `INSERT INTO bus_dead_letters (msg_id, grp, topic, okey, attempts, last_error, dead_at)
        VALUES (42, 'orchestrator', 'inbound', 'tg1:7', 5, '', 0)`,
    );
    store.close();
    const report = await check({ dbPath, injected: [], received: new Map(), faq: SOAK_FAQ });
    expect(report).toMatchObject({ deadLetters: 1, deadLettersWithoutReason: 1 });
  });

  it("a WhatsApp reply whose agent was killed mid-send counts once when Graph got it once: resent, or settled by its status", async () => {
    const tmp = await tempDir("aideazz-checker-");
    cleanup = tmp.cleanup;
    const dbPath = join(tmp.dir, "soak.db");
    const store = await openStore({ url: `file:${dbPath}` });
    await migrate(store.client);
    // Three chats: a chat's later replies wait behind its send whose outcome is unknown.
    const chat = (i: number) => String(15_550_000_000 + i);
    const texts = ["Your order is on its way.", "It ships today.", "The carrier has it."];
    await store.client.batch(texts.flatMap((text, i) => [
      {
        sql: `INSERT INTO bus_messages (id, topic, okey, payload, idem_key, published_at, visible_at)
          VALUES (?, 'inbound', ?, '{}', ?, 0, 0)`,
        args: [i + 1, `wa1:${chat(i)}`, `whatsapp:wamid.SOAK${i}`],
      },
      {
        sql: `INSERT INTO bus_messages (id, topic, okey, payload, idem_key, published_at, visible_at)
          VALUES (?, 'outbound.wa1', ?, ?, ?, 0, 0)`,
        args: [i + 11, `wa1:${chat(i)}`, JSON.stringify({ replyKey: `${i + 1}:answer`, inReplyTo: [i + 1], text }), `reply:${i + 1}:answer`],
      },
    ]), "write");
    let clock = 1_000;
    const ledger = createSendLedger(store, { now: () => clock });
    const received: Received[] = [];
    const graphGot = (i: number, wamid: string) => received.push({ chatId: chat(i), text: texts[i]!, platformId: wamid, at: clock++ });
    // 1: killed before Graph got it ("lost"); after the status wait the restarted agent sends it again.
    expect((await ledger.begin("1:answer#0", 1)).status).toBe("send");
    // 2: killed after Graph got it ("reached"); its status webhook settles it, nothing is sent again.
    expect((await ledger.begin("2:answer#0", 1)).status).toBe("send");
    graphGot(1, "wamid.FAKE00000001");
    // 3: killed after Graph got it, and sent again anyway: the user sees it twice.
    expect((await ledger.begin("3:answer#0", 1)).status).toBe("send");
    graphGot(2, "wamid.FAKE00000002");
    clock += 3 * 60_000 + 1;
    await ledger.recordSent("2:answer#0", "wamid.FAKE00000001");
    for (const key of ["1:answer#0", "3:answer#0"]) expect((await ledger.begin(key, 2, { resendUnknown: true })).status).toBe("send");
    graphGot(0, "wamid.FAKE00000003");
    await ledger.recordSent("1:answer#0", "wamid.FAKE00000003");
    graphGot(2, "wamid.FAKE00000004");
    await ledger.recordSent("3:answer#0", "wamid.FAKE00000004");
    store.close();
    const injected: Injected[] = texts.map((text, i) => ({
      m: i,
      chat: i,
      seq: 0,
      kind: "model",
      faq: 0,
      text,
      agent: "wa1",
      chatId: chat(i),
      key: `whatsapp:wamid.SOAK${i}`,
      ackedAt: 1,
      attempts: 1,
      redelivered: 0,
    }));
    const report = await check({ dbPath, injected, received: new Map([["wa1", received]]), faq: SOAK_FAQ });
    expect(report).toMatchObject({ answered: 3, lost: 0, duplicateAnswers: 0, unexpected: 1, userVisibleDuplicates: 1, orderViolations: 0 });
    expect(report.unexpectedExamples.map((e) => e.platformId)).toEqual(["wamid.FAKE00000002"]);
  });
});

/**
 * A soak's end state written by hand: acknowledged inbound messages of agent tg1, the replies the orchestrator
 * published for them, the ledger rows of their sends, and what the fake Telegram received.
 */
function world() {
  const rows: StoreRows = { inbound: [], ledger: [], outbound: [], dead: [], pending: [], integrity: "ok", foreignKeyViolations: 0 };
  const injected: Injected[] = [];
  const received = new Map<string, Received[]>([["tg1", []]]);
  let platformId = 500;
  let clock = 1_000;
  return {
    rows,
    /** Inbound message with bus id `id`, number `seq` of chat `chat` (a model question: any answer text is right). */
    inbound(id: number, seq: number, chat = "7") {
      const key = `telegram:tg1:${1_000 + id}`;
      rows.inbound.push({ id, idemKey: key });
      injected.push({
        m: id,
        chat: Number(chat),
        seq,
        kind: "model",
        faq: 0,
        text: `Is order ${id} shipped yet?`,
        agent: "tg1",
        chatId: chat,
        key,
        ackedAt: 1,
        attempts: 1,
        redelivered: 0,
      });
    },
    /** The orchestrator's reply `<covers[0]>:<suffix>` answering `covers`. */
    reply(covers: number[], text: string, suffix = "answer") {
      const kind = suffix === "working" ? "progress" : suffix;
      rows.outbound.push(JSON.stringify({ replyKey: `${covers[0]}:${suffix}`, inReplyTo: covers, text, kind }));
    },
    /**
     * The platform received `text` in `chat` (default 7); `key`'s ledger row records it as sent (`sent`), as an
     * intent without outcome (`sending`), or is absent (`none`: a send no ledger row explains).
     */
    got(key: string, text: string, o: { chat?: string; ledger?: "sent" | "sending" | "none"; deleted?: boolean } = {}) {
      const id = String(platformId++);
      const at = clock++;
      const state = o.ledger ?? "sent";
      if (state !== "none") rows.ledger.push({ replyKey: key, state, platformId: state === "sent" ? id : null, startedAt: at });
      received.get("tg1")!.push({ chatId: o.chat ?? "7", text, platformId: id, at, ...(o.deleted ? { deleted: true } : {}) });
    },
    /** An intent whose send never reached the platform (killed before the request left). */
    intent(key: string) {
      rows.ledger.push({ replyKey: key, state: "sending", platformId: null, startedAt: clock++ });
    },
    check: () => tally(rows, { injected, received, faq: SOAK_FAQ }),
  };
}

const GUARANTEES = ["lost", "userVisibleDuplicates", "orderViolations", "wrongAnswer", "deadLettersWithoutReason"] as const;

/** The counts a soak must have at 0, and `answered`. */
function verdict(r: CheckReport) {
  return { answered: r.answered, ...Object.fromEntries(GUARANTEES.map((k) => [k, r[k]])) };
}

describe("soak checker: each defect it must catch, on crafted rows", () => {
  it("passes a clean run: every message answered once, in order (a fallback notice before an answer is no duplicate)", () => {
    const w = world();
    w.inbound(1, 0);
    w.inbound(2, 1);
    w.reply([1], "Your order is on its way.");
    w.got("1:answer#0", "Your order is on its way.");
    w.reply([2], "Sorry, we'll get back to you.", "fallback");
    w.got("2:fallback#0", "Sorry, we'll get back to you.");
    w.reply([2], "It ships today.");
    w.got("2:answer#0", "It ships today.");
    const r = w.check();
    expect(verdict(r)).toEqual({ answered: 2, lost: 0, userVisibleDuplicates: 0, orderViolations: 0, wrongAnswer: 0, deadLettersWithoutReason: 0 });
    expect(r.answeredAfterNotice).toBe(1);
  });

  it("a message never answered is lost", () => {
    const w = world();
    w.inbound(1, 0);
    w.inbound(2, 1);
    w.reply([1], "Your order is on its way.");
    w.got("1:answer#0", "Your order is on its way.");
    expect(w.check()).toMatchObject({ answered: 1, lost: 1 });
  });

  it("an answer sent twice, the same text: the copy no ledger row explains is a user-visible duplicate", () => {
    const w = world();
    w.inbound(1, 0);
    w.reply([1], "Your order is on its way.");
    w.got("1:answer#0", "Your order is on its way.", { ledger: "none" });
    w.got("1:answer#0", "Your order is on its way.");
    expect(w.check()).toMatchObject({ answered: 1, unexpected: 1, userVisibleDuplicates: 1 });
  });

  it("a message answered alone and again with its burst (another text) is answered twice", () => {
    const w = world();
    w.inbound(1, 0);
    w.inbound(2, 1);
    w.reply([1], "Your order is on its way.");
    w.got("1:answer#0", "Your order is on its way.");
    w.reply([2, 1], "Both orders ship today.");
    w.got("2:answer#0", "Both orders ship today.");
    expect(w.check()).toMatchObject({ answered: 2, duplicateAnswers: 1, userVisibleDuplicates: 1 });
  });

  it("a part of a multi-part answer sent twice is a user-visible duplicate", () => {
    const w = world();
    w.inbound(1, 0);
    w.reply([1], "First part.\n\nSecond part.");
    w.got("1:answer#0", "First part.");
    w.got("1:answer#1", "Second part.", { ledger: "none" });
    w.got("1:answer#1", "Second part.");
    expect(w.check()).toMatchObject({ answered: 1, userVisibleDuplicates: 1 });
  });

  it("the same notice twice for one message is a user-visible duplicate", () => {
    const w = world();
    w.inbound(1, 0);
    w.inbound(2, 1);
    w.reply([1], "Sorry, we'll get back to you.", "fallback");
    w.got("1:fallback#0", "Sorry, we'll get back to you.");
    w.reply([2, 1], "Sorry, we'll get back to you.", "fallback");
    w.got("2:fallback#0", "Sorry, we'll get back to you.");
    w.reply([2, 1], "Both ship today.");
    w.got("2:answer#0", "Both ship today.");
    expect(w.check()).toMatchObject({ answered: 2, duplicateNotices: 1, userVisibleDuplicates: 1 });
  });

  it("answers of one chat out of order, also when the later one answers a burst", () => {
    const w = world();
    for (const [id, seq] of [[1, 0], [2, 1], [3, 2], [4, 3]]) w.inbound(id!, seq!);
    w.reply([2], "Second.");
    w.got("2:answer#0", "Second.");
    w.reply([1], "First.");
    w.got("1:answer#0", "First.");
    w.reply([4, 3], "Third and fourth.");
    w.got("4:answer#0", "Third and fourth.");
    expect(w.check()).toMatchObject({ answered: 4, orderViolations: 1 });

    const b = world();
    for (const [id, seq] of [[1, 0], [2, 1], [3, 2]]) b.inbound(id!, seq!);
    b.reply([3, 2], "Second and third.");
    b.got("3:answer#0", "Second and third.");
    b.reply([1], "First.");
    b.got("1:answer#0", "First.");
    expect(b.check()).toMatchObject({ answered: 3, orderViolations: 1 });
  });

  it("a later answer between the parts of a multi-part answer is out of order", () => {
    const w = world();
    w.inbound(1, 0);
    w.inbound(2, 1);
    w.reply([1], "First part.\n\nSecond part.");
    w.reply([2], "Your order is on its way.");
    w.got("1:answer#0", "First part.");
    w.got("2:answer#0", "Your order is on its way.");
    w.got("1:answer#1", "Second part.");
    expect(w.check()).toMatchObject({ answered: 2, orderViolations: 1 });
  });

  it("the parts of one answer in the wrong order are out of order", () => {
    const w = world();
    w.inbound(1, 0);
    w.reply([1], "First part.\n\nSecond part.");
    w.got("1:answer#1", "Second part.");
    w.got("1:answer#0", "First part.");
    expect(w.check()).toMatchObject({ answered: 1, orderViolations: 1 });
  });

  it("an answer missing a part is not a right answer", () => {
    const w = world();
    w.inbound(1, 0);
    w.reply([1], "First part.\n\nSecond part.");
    w.got("1:answer#0", "First part.");
    expect(w.check().wrongAnswer).toBe(1);
  });

  it("an answer sent to another chat answers nobody: its message is lost and the other chat got a stray message", () => {
    const w = world();
    w.inbound(1, 0, "7");
    w.inbound(2, 0, "8");
    w.reply([1], "Your order is on its way.");
    w.got("1:answer#0", "Your order is on its way.", { chat: "8" });
    w.reply([2], "It ships today.");
    w.got("2:answer#0", "It ships today.", { chat: "8" });
    expect(w.check()).toMatchObject({ answered: 1, lost: 1, unexpected: 1, userVisibleDuplicates: 1 });
  });

  it("a duplicate is not taken for a later reply whose send never left (its intent came after it)", () => {
    const w = world();
    w.inbound(1, 0);
    w.inbound(2, 1);
    w.reply([1], "About the calendar.");
    w.got("1:answer#0", "About the calendar.");
    w.got("1:answer#0", "About the calendar.", { ledger: "none" });
    w.reply([2], "About the invoice.");
    w.intent("2:answer#0");
    expect(w.check()).toMatchObject({ answered: 1, lost: 1, unexpected: 1 });
  });

  it("a message no inbound message explains is unexpected; one a killed send left without outcome is attributed", () => {
    const w = world();
    w.inbound(1, 0);
    w.reply([1], "Your order is on its way.");
    w.got("1:answer#0", "Your order is on its way.", { ledger: "sending" });
    w.got("9:answer#0", "Hello from nowhere.", { ledger: "none" });
    expect(w.check()).toMatchObject({ answered: 1, attributedViaUnknownLedger: 1, unexpected: 1 });
  });

  it("a dead letter without a reason is counted; a dead-lettered message is not lost", () => {
    const w = world();
    w.inbound(1, 0);
    w.inbound(2, 1);
    w.rows.dead.push({ msgId: 1, topic: "inbound", lastError: "   ", payload: "{}" });
    w.rows.dead.push({ msgId: 5, topic: "outbound.tg1", lastError: "400: chat not found", payload: JSON.stringify({ inReplyTo: [2] }) });
    expect(w.check()).toMatchObject({ deadLetters: 2, deadLettersWithoutReason: 1, deadLettered: 2, lost: 0 });
  });
  it("WhatsApp's template sent instead of an answer Meta refused (131047) answers the message once", () => {
    const w = world();
    w.inbound(1, 0);
    w.reply([1], "Your order is on its way.");
    w.got("1:answer#0:instead", "[template reengage]");
    expect(verdict(w.check())).toEqual({ answered: 1, lost: 0, userVisibleDuplicates: 0, orderViolations: 0, wrongAnswer: 0, deadLettersWithoutReason: 0 });
  });

  it("WhatsApp's template after Meta accepted the answer and then refused it (131047) answers the message once", () => {
    const w = world();
    w.inbound(1, 0);
    w.reply([1], "Your order is on its way.");
    w.got("1:answer#0", "Your order is on its way.");
    w.rows.outbound.push(JSON.stringify({ replyKey: "1:answer:template", inReplyTo: [], text: "", kind: "answer" }));
    w.got("1:answer:template#0", "[template reengage]");
    expect(verdict(w.check())).toEqual({ answered: 1, lost: 0, userVisibleDuplicates: 0, orderViolations: 0, wrongAnswer: 0, deadLettersWithoutReason: 0 });
  });

  it("a streamed answer: edited in place, a partial's extra message deleted, is one right answer", () => {
    const w = world();
    w.inbound(1, 0);
    w.reply([1], "Your order is on its way.");
    w.got("1:answer#0", "Your order is on its way.");
    w.got("1:answer#1", "and more the final text no longer has", { deleted: true });
    expect(verdict(w.check())).toEqual({ answered: 1, lost: 0, userVisibleDuplicates: 0, orderViolations: 0, wrongAnswer: 0, deadLettersWithoutReason: 0 });
  });
});

describe("npm run soak's verdict", () => {
  const clean = () => {
    const w = world();
    w.inbound(1, 0);
    w.reply([1], "Your order is on its way.");
    w.got("1:answer#0", "Your order is on its way.");
    return w.check();
  };

  it("passes a clean run, with the mid-send kills it asked for or none asked", () => {
    expect(passed({ report: clean(), drained: true, midSendKills: { lost: 1, reached: 2 } })).toBe(true);
    expect(passed({ report: clean(), drained: true, midSendKills: undefined })).toBe(true);
  });

  it("fails when messages are still unanswered after the drain, as the test suite's soak does", () => {
    expect(passed({ report: { ...clean(), pendingAtEnd: 3 }, drained: false, midSendKills: { reached: 1 } })).toBe(false);
    expect(passed({ report: clean(), drained: false, midSendKills: { reached: 1 } })).toBe(false);
  });

  it("fails when a kind of mid-send kill the run asked for did not happen (before Graph got the send, or after)", () => {
    expect(passed({ report: clean(), drained: true, midSendKills: { lost: 0, reached: 0 } })).toBe(false);
    expect(passed({ report: clean(), drained: true, midSendKills: { lost: 0, reached: 3 } })).toBe(false);
    expect(passed({ report: clean(), drained: true, midSendKills: { lost: 2, reached: 0 } })).toBe(false);
    expect(passed({ report: clean(), drained: true, midSendKills: { reached: 1 } })).toBe(true);
  });

  it("refuses, before starting anything, a run too short for the mid-send kills it asks for", async () => {
    const run = (o: Partial<SoakOptions>) => runSoak({ dir: "/nonexistent/soak", messages: 10, chats: 1, seconds: 60, ...o });
    await expect(run({})).rejects.toThrow(/mid-send kills .* not each might happen/);
    await expect(run({ cutSend: { everyS: [10, 20], untilS: 15 } })).rejects.toThrow(/every 10–20 s until 15 s/);
    // One cut of each kind asked for: lost, then reached, each armed up to 20 s after the one before.
    await expect(run({ cutSend: { everyS: [10, 20], untilS: 30 } })).rejects.toThrow(/every 10–20 s until 30 s/);
    // By default the cuts stop half the status wait before the injection ends: a "lost" send's resend needs
    // statuses of later sends stored in that time (src/agents/whatsapp/statuses.ts).
    await expect(run({ seconds: 100, statusWaitS: 60, cutSend: { everyS: [20, 40] } })).rejects.toThrow(/until 70 s/);
    await expect(run({ seconds: 100, cutSend: { everyS: [5, 10] } })).rejects.toThrow(/until 10 s/);
    // No kind named: no cut could ever be armed, and the run would pass without one.
    await expect(run({ cutSend: { everyS: [10, 20], untilS: 40, modes: [] } })).rejects.toThrow(/names no kind/);
  });
});
