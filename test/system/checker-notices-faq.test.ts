// The soak's checker on crafted rows (the shapes readStore() returns and the fake platforms record): a dead notice
// does not explain a missing answer, answer texts are checked for FAQ bursts and model questions, and a notice
// after its answer fails the run.
import { describe, expect, it } from "vitest";
import { type Received, type StoreRows, tally } from "../../bench/soak/checker.ts";
import type { Injected } from "../../bench/soak/inject.ts";
import { SOAK_FAQ } from "../../bench/soak/plan.ts";
import { passed } from "../../bench/soak/soak.ts";

/** A soak's end state for agent tg1 (the shape of test/system/checker.test.ts's helper). */
function world() {
  const rows: StoreRows = { inbound: [], ledger: [], outbound: [], dead: [], pending: [], integrity: "ok", foreignKeyViolations: 0 };
  const injected: Injected[] = [];
  const received = new Map<string, Received[]>([["tg1", []]]);
  let platformId = 500;
  let clock = 1_000;
  return {
    rows,
    inbound(id: number, seq: number, o: { chat?: string; faq?: number } = {}) {
      const chat = o.chat ?? "7";
      const key = `telegram:tg1:${1_000 + id}`;
      rows.inbound.push({ id, idemKey: key });
      const faq = o.faq;
      injected.push({
        m: id,
        chat: Number(chat),
        seq,
        kind: faq === undefined ? "model" : "faq",
        faq: faq ?? 0,
        text: faq === undefined ? `Is order ${100_000 + id} shipped yet?` : SOAK_FAQ[faq]!.questions[0]!,
        agent: "tg1",
        chatId: chat,
        key,
        ackedAt: 1,
        attempts: 1,
        redelivered: 0,
      });
    },
    /** Publishes reply `<covers[0]>:<suffix>`; returns its outbound payload (JSON). */
    reply(covers: number[], text: string, suffix = "answer") {
      const kind = suffix === "working" ? "progress" : suffix;
      const payload = JSON.stringify({ replyKey: `${covers[0]}:${suffix}`, inReplyTo: covers, text, kind });
      rows.outbound.push(payload);
      return payload;
    },
    got(key: string, text: string, o: { chat?: string; ledger?: "sent" | "sending" | "none" } = {}) {
      const id = String(platformId++);
      const at = clock++;
      const state = o.ledger ?? "sent";
      if (state !== "none") rows.ledger.push({ replyKey: key, state, platformId: state === "sent" ? id : null, startedAt: at });
      received.get("tg1")!.push({ chatId: o.chat ?? "7", text, platformId: id, at });
    },
    /** The ledger says `key` was sent (platform id given), but the platform never got it. */
    sentButNeverReceived(key: string) {
      rows.ledger.push({ replyKey: key, state: "sent", platformId: String(platformId++), startedAt: clock++ });
    },
    check: () => tally(rows, { injected, received, faq: SOAK_FAQ }),
  };
}

describe("soak checker: notices, dead letters and answer texts", () => {
  it("a message whose fallback notice was dead-lettered but whose answer never reached the user is lost", () => {
    // The fallback's send was dead-lettered; the retry's answer is recorded as sent but never arrived. Retrying the
    // notice's dead letter would only send "back shortly" again: the answer is lost.
    const w = world();
    w.inbound(1, 0);
    const fallback = w.reply([1], "Sorry, we'll get back to you.", "fallback");
    w.rows.dead.push({ msgId: 11, topic: "outbound.tg1", lastError: "5 attempts: Telegram 502 Bad Gateway", payload: fallback });
    w.reply([1], "Your order is on its way.");
    w.sentButNeverReceived("1:answer#0");
    const r = w.check();
    expect({ lost: r.lost, deadLettered: r.deadLettered, passed: passed({ report: r, drained: true, midSendKills: undefined }) })
      .toEqual({ lost: 1, deadLettered: 0, passed: false });
  });

  it("a model question answered with an FAQ entry's answer is a wrong answer", () => {
    // "Is order N shipped yet?" matches no FAQ entry (plan.ts); a false FAQ match answers it with the shipping guide.
    const w = world();
    w.inbound(1, 0);
    const shipping = SOAK_FAQ.findIndex((f) => f.id === "q12");
    w.reply([1], SOAK_FAQ[shipping]!.answer);
    w.got("1:answer#0", SOAK_FAQ[shipping]!.answer);
    expect(w.check()).toMatchObject({ answered: 1, wrongAnswer: 1 });
  });

  it("two FAQ questions answered together (a burst) with only one of their answers: the other is a wrong answer", () => {
    // burstFaq (src/agents/orchestrator/experience/burst.ts) answers an all-FAQ burst with every entry's answer.
    const w = world();
    w.inbound(1, 0, { faq: 3 });
    w.inbound(2, 1, { faq: 4 });
    w.reply([1, 2], SOAK_FAQ[4]!.answer);
    w.got("1:answer#0", SOAK_FAQ[4]!.answer);
    expect(w.check()).toMatchObject({ answered: 2, coalesced: 2, wrongAnswer: 1 });
  });

  it("a fallback notice that reaches the user after the answer it stands in for is not a clean run", () => {
    // The user got the answer, then "we'll get back to you shortly": they wait for a reply that never comes. Egress
    // keeps a chat's replies in publish order, so this is an order violation (not "answered after a notice").
    const w = world();
    w.inbound(1, 0);
    w.reply([1], "Sorry, we'll get back to you.", "fallback");
    w.reply([1], "Your order is on its way.");
    w.got("1:answer#0", "Your order is on its way.");
    w.got("1:fallback#0", "Sorry, we'll get back to you.");
    const r = w.check();
    expect(r).toMatchObject({ answered: 1, answeredAfterNotice: 0, orderViolations: 1 });
    expect(passed({ report: r, drained: true, midSendKills: undefined })).toBe(false);
  });

  it("a notice before the answer, and one for a later message after it, are in order", () => {
    const w = world();
    w.inbound(1, 0);
    w.inbound(2, 1);
    w.reply([1], "Sorry, we'll get back to you.", "fallback");
    w.got("1:fallback#0", "Sorry, we'll get back to you.");
    w.reply([1], "Your order is on its way.");
    w.got("1:answer#0", "Your order is on its way.");
    w.reply([2], "Working on it.", "working");
    w.got("2:working#0", "Working on it.");
    w.reply([2], "It ships today.");
    w.got("2:answer#0", "It ships today.");
    expect(w.check()).toMatchObject({ answered: 2, answeredAfterNotice: 2, orderViolations: 0 });
  });

  it("a dead-lettered answer explains its missing answer; a dead letter without a reason is counted apart", () => {
    const w = world();
    w.inbound(1, 0);
    w.inbound(2, 1);
    const answer = w.reply([1], "Your order is on its way.");
    w.rows.dead.push({ msgId: 11, topic: "outbound.tg1", lastError: "400: chat not found", payload: answer });
    w.rows.dead.push({ msgId: 2, topic: "inbound", lastError: null, payload: "{}" });
    const r = w.check();
    expect(r).toMatchObject({ deadLettered: 2, deadLetteredWithoutReason: 1, deadLettersWithoutReason: 1, lost: 0 });
    expect(passed({ report: r, drained: true, midSendKills: undefined })).toBe(false);
  });

  it("an answer to a message the injector never sent (an edited message's update answered) is a user-visible duplicate", () => {
    // Telegram sends an edit as an `edited_message` update with its own update_id; the channel skips it
    // (src/agents/telegram/classify.ts). Were it stored and answered, that answer ties to no injected message.
    const w = world();
    w.inbound(1, 0);
    w.reply([1], "Your order is on its way.");
    w.got("1:answer#0", "Your order is on its way.");
    w.rows.inbound.push({ id: 2, idemKey: "telegram:tg1:9999999" });
    w.reply([2], "Your order is on its way.");
    w.got("2:answer#0", "Your order is on its way.");
    expect(w.check()).toMatchObject({ answered: 1, unexpected: 1, userVisibleDuplicates: 1 });
  });

  it("an all-FAQ burst answered with both answers is right", () => {
    const w = world();
    w.inbound(1, 0, { faq: 3 });
    w.inbound(2, 1, { faq: 4 });
    const text = `${SOAK_FAQ[3]!.answer}\n\n${SOAK_FAQ[4]!.answer}`;
    w.reply([1, 2], text);
    w.got("1:answer#0", text);
    expect(w.check()).toMatchObject({ answered: 2, coalesced: 2, wrongAnswer: 0, lost: 0, userVisibleDuplicates: 0 });
  });
});
