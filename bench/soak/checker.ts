/**
 * The soak's checker: what each user saw (the fake platforms' received messages) against what they sent and what
 * the store says.
 *
 * Attribution: a received message is tied to the reply it belongs to through the send ledger
 * (`bus_send_ledger.platform_id` = the platform's message id; `reply_key` = `<bus id>:<answer|fallback|working>#<part>`),
 * and the reply to the inbound messages it answers through its outbound payload's `inReplyTo` (one message, or
 * several when the orchestrator coalesced a burst of one chat into one turn); inbound bus ids are tied to what was
 * sent through their idempotency keys (`telegram:<agent>:<update_id>`, `whatsapp:<wamid>`). A message sent by a
 * process killed before it recorded the outcome has no platform id in the ledger (state `sending`): it is
 * attributed to that chat's oldest unmatched `sending` entry recorded before it arrived, and counted in
 * `attributedViaUnknownLedger`.
 *
 * Counting (per acknowledged inbound message):
 * - The honest "we'll get back to you" (`fallback`, sent when every provider failed) and the "working on it"
 *   notice are NOTICES, not the reply.
 * - answered: exactly one answer reached the user (after a notice it got first or not: `answeredAfterNotice`;
 *   together with other messages of its burst: `coalesced`). WhatsApp's template sent in place of an answer Meta
 *   refused (131047) is that answer.
 * - deadLettered: no answer, and the message or its answer (not a notice: retrying that sends the notice again,
 *   never the answer) is a dead letter; the user got the notice or nothing (`deadLetteredWithoutNotice`). Not lost:
 *   an operator sees and can retry it — unless no dead letter of it has a reason (`deadLetteredWithoutReason`).
 * - pendingAtEnd: no answer yet, still queued when the drain ended (the soak's drain was too short).
 * - lost: none of the above — the system acknowledged the message and will never answer it.
 * - duplicateAnswers: answers beyond the first for one message; duplicateNotices: the same notice (fallback, or
 *   "working on it") more than once for one message; unexpected: received messages tied to no inbound message of
 *   their chat (a reply sent to another chat answers nobody: it counts here). All three are user-visible duplicates. `fallbackThenWorking` counts messages that got the fallback and,
 *   on the retry, a "working on it" notice too: two different notices, reported, not counted as duplicates.
 * - orderViolations: per chat, answers (any part) that answer a message older than one an earlier answer
 *   already answered, parts of one answer out of their order, and notices that come after every message they
 *   stand for was answered (the user then waits for a reply that never comes).
 * - wrongAnswer: an answer whose parts the user got do not make up the reply's text (one missing, garbled); an
 *   FAQ message answered alone whose answer text is not that FAQ entry's answer, or answered with a burst of FAQ
 *   messages by a text without it; a model question answered with an FAQ entry's answer (a false FAQ match).
 *
 * @module
 */
import { openStore } from "../../src/store/mod.ts";
import type { FaqEntry } from "../system/cluster.ts";
import type { Injected } from "./inject.ts";

export interface Received {
  chatId: string;
  text: string;
  platformId: string;
  at: number;
  /** Deleted since (a streamed reply's extra partial message): no longer shown, not counted. */
  deleted?: boolean;
}

export interface CheckReport {
  injected: number;
  acknowledged: number;
  notAcknowledged: number;
  redeliveredAfterAck: number;
  answered: number;
  answeredAfterNotice: number;
  deadLettered: number;
  deadLetteredWithoutNotice: number;
  /** Of `deadLettered`, those whose dead letters all lack a reason: nobody can tell why, so the run fails. */
  deadLetteredWithoutReason: number;
  pendingAtEnd: number;
  lost: number;
  lostAtIngress: number;
  duplicateAnswers: number;
  duplicateNotices: number;
  fallbackThenWorking: number;
  unexpected: number;
  userVisibleDuplicates: number;
  notices: number;
  attributedViaUnknownLedger: number;
  coalesced: number;
  wrongAnswer: number;
  orderViolations: number;
  chats: number;
  receivedMessages: number;
  integrityCheck: string;
  foreignKeyViolations: number;
  deadLetters: number;
  deadLettersWithoutReason: number;
  /** Up to 10 lost messages, for the investigation. */
  lostExamples: { agent: string; chat: string; seq: number; key: string; kind: string; inboundId: number | undefined }[];
  /** Up to 10 unexpected received messages: find their sends in the agent's log and trace by chat and time. */
  unexpectedExamples: { agent: string; chat: string; platformId: string; at: string; text: string }[];
}

/**
 * A part's ledger key; `:repost` is its final text sent anew (src/agents/channel/progressive.ts), `:instead` the
 * WhatsApp template sent when Meta refused the part (131047), and `<reply>:template` the template's own reply when
 * Meta refused the reply after accepting it (src/agents/whatsapp/statuses.ts).
 */
const REPLY_KEY = /^(\d+):(answer|fallback|working)(:template)?#(\d+)(:repost|:instead)?$/;

type ReplyKind = "answer" | "fallback" | "working";

interface Reply {
  /** Its reply key (`<bus id>:<kind>`). */
  key: string;
  /** The inbound messages it answers. */
  covers: number[];
  kind: ReplyKind;
  part: number;
  /** When its send's intent was recorded. */
  startedAt: number;
  /** WhatsApp's approved template, sent in place of a text Meta refused. */
  template: boolean;
}

interface Attributed extends Reply {
  text: string;
  index: number;
}

/** What the checker reads from the store. */
export interface StoreRows {
  /** Inbound bus messages with an idempotency key. */
  inbound: { id: number; idemKey: string }[];
  ledger: { replyKey: string; state: string; platformId: string | null; startedAt: number }[];
  /** Outbound payloads (JSON text). */
  outbound: string[];
  /** Dead letters: the message id, its topic, the recorded reason, and its payload (JSON text) when still stored. */
  dead: { msgId: number; topic: string; lastError: string | null; payload: string | null }[];
  /** Deliveries not done yet. */
  pending: { msgId: number; topic: string; payload: string }[];
  /** `PRAGMA integrity_check`'s lines joined ("ok" when intact). */
  integrity: string;
  foreignKeyViolations: number;
}

export interface CheckInput {
  injected: Injected[];
  received: ReadonlyMap<string, Received[]>;
  faq: FaqEntry[];
}

/** Reads what the checker needs from the store at `dbPath` and compares it with what the users saw (`tally`). */
export async function check(input: CheckInput & { dbPath: string }): Promise<CheckReport> {
  return tally(await readStore(input.dbPath), input);
}

export async function readStore(dbPath: string): Promise<StoreRows> {
  const store = await openStore({ url: `file:${dbPath}` });
  try {
    const q = async (sql: string) => (await store.client.execute(sql)).rows;
    const text = (v: unknown) => (v === null || v === undefined ? null : String(v));
    return {
      inbound: (await q("SELECT id, idem_key FROM bus_messages WHERE topic = 'inbound' AND idem_key IS NOT NULL"))
        .map((r) => ({ id: Number(r["id"]), idemKey: String(r["idem_key"]) })),
      ledger: (await q("SELECT reply_key, state, platform_id, started_at FROM bus_send_ledger")).map((r) => ({
        replyKey: String(r["reply_key"]),
        state: String(r["state"]),
        platformId: text(r["platform_id"]),
        startedAt: Number(r["started_at"]),
      })),
      outbound: (await q("SELECT payload FROM bus_messages WHERE topic LIKE 'outbound.%'")).map((r) => String(r["payload"])),
      dead: (await q(`SELECT d.msg_id, d.topic, d.last_error, m.payload FROM bus_dead_letters d
        LEFT JOIN bus_messages m ON m.id = d.msg_id`)).map((r) => ({
          msgId: Number(r["msg_id"]),
          topic: String(r["topic"]),
          lastError: text(r["last_error"]),
          payload: text(r["payload"]),
        })),
      pending: (await q("SELECT d.topic, d.msg_id, m.payload FROM bus_deliveries d JOIN bus_messages m ON m.id = d.msg_id"))
        .map((r) => ({ msgId: Number(r["msg_id"]), topic: String(r["topic"]), payload: String(r["payload"]) })),
      integrity: (await q("PRAGMA integrity_check")).map((r) => String(Object.values(r)[0])).join("; "),
      foreignKeyViolations: (await q("PRAGMA foreign_key_check")).length,
    };
  } finally {
    store.close();
  }
}

/** The counts (see the module's doc) from the store's rows and what the fake platforms received. */
export function tally(rows: StoreRows, input: CheckInput): CheckReport {
  const { ledger, dead, pending } = rows;
  const idByKey = new Map(rows.inbound.map((r) => [r.idemKey, r.id]));
  const byInbound = new Map<number, Injected>();
  let lostAtIngress = 0;
  const acked = input.injected.filter((m) => m.ackedAt !== undefined);
  for (const m of acked) {
    const id = idByKey.get(m.key);
    if (id === undefined) lostAtIngress++;
    else byInbound.set(id, m);
  }

  // Replies as published: reply key → the inbound messages it answers, and its (final) text.
  const coversOf = new Map<string, number[]>();
  const textOf = new Map<string, string>();
  for (const payload of rows.outbound) {
    try {
      const p = JSON.parse(payload) as { replyKey?: string; inReplyTo?: number[]; text?: string; partial?: number };
      if (p.replyKey && p.inReplyTo && p.inReplyTo.length > 0) coversOf.set(p.replyKey, p.inReplyTo);
      if (p.replyKey && p.partial === undefined && typeof p.text === "string") textOf.set(p.replyKey, p.text);
    } catch { /* not a reply */ }
  }
  /** Whether the parts the user got of `answer`'s reply, in part order, make up its text (split at whitespace). */
  const whole = (answer: Attributed, seen: Attributed[]): boolean => {
    const text = textOf.get(answer.key);
    if (text === undefined || seen.some((a) => a.key === answer.key && a.template)) return true;
    const parts = new Map<number, string>();
    for (const a of seen) if (a.key === answer.key && !parts.has(a.part)) parts.set(a.part, a.text);
    const got = [...parts].sort(([x], [y]) => x - y).map(([, t]) => t).join("");
    return got.replace(/\s+/g, "") === text.replace(/\s+/g, "");
  };
  // Ledger: platform id → reply; intents without an outcome per chat.
  const byPlatform = new Map<string, Reply>();
  const unknownByChat = new Map<string, Reply[]>();
  for (const r of ledger) {
    const m = REPLY_KEY.exec(r.replyKey);
    if (!m) continue;
    const primary = Number(m[1]);
    const reply: Reply = {
      key: `${m[1]}:${m[2]}${m[3] ?? ""}`,
      covers: coversOf.get(`${m[1]}:${m[2]}`) ?? [primary],
      kind: m[2] as ReplyKind,
      part: Number(m[4]),
      startedAt: r.startedAt,
      template: m[3] !== undefined || m[5] === ":instead",
    };
    const msg = byInbound.get(primary);
    if (!msg) continue;
    if (r.state === "sent") byPlatform.set(`${msg.agent}|${String(r.platformId)}`, reply);
    else if (r.state === "sending") {
      const k = `${msg.agent}|${msg.chatId}`;
      unknownByChat.set(k, [...(unknownByChat.get(k) ?? []), reply]);
    }
  }

  const perInbound = new Map<number, Attributed[]>();
  const perChat = new Map<string, Attributed[]>();
  let unexpected = 0;
  const unexpectedExamples: CheckReport["unexpectedExamples"] = [];
  let viaUnknown = 0;
  let receivedMessages = 0;
  const chatOf = (id: number) => {
    const m = byInbound.get(id);
    return m && `${m.agent}|${m.chatId}`;
  };
  for (const [agent, list] of input.received) {
    list.forEach((rec, index) => {
      if (rec.deleted) return;
      receivedMessages++;
      let reply = byPlatform.get(`${agent}|${rec.platformId}`);
      if (!reply) {
        // Not one whose intent came after this message arrived: that send never left, this is another's copy.
        const candidates = unknownByChat.get(`${agent}|${rec.chatId}`) ?? [];
        candidates.sort((a, b) => a.covers[0]! - b.covers[0]!);
        const i = candidates.findIndex((c) => c.startedAt <= rec.at);
        reply = i < 0 ? undefined : candidates.splice(i, 1)[0];
        if (reply) viaUnknown++;
      }
      // A reply delivered to another chat than the messages it answers answers nobody: that chat got a stray message.
      const ck = `${agent}|${rec.chatId}`;
      if (reply?.covers.some((id) => chatOf(id) !== undefined && chatOf(id) !== ck)) reply = undefined;
      if (!reply) {
        unexpected++;
        if (unexpectedExamples.length < 10) {
          const at = new Date(rec.at).toISOString();
          unexpectedExamples.push({ agent, chat: rec.chatId, platformId: rec.platformId, at, text: rec.text.slice(0, 80) });
        }
        return;
      }
      const a: Attributed = { ...reply, text: rec.text, index };
      for (const id of reply.covers) perInbound.set(id, [...(perInbound.get(id) ?? []), a]);
      perChat.set(ck, [...(perChat.get(ck) ?? []), a]);
    });
  }

  // Dead letters and pending work, per inbound message (an outbound reply names its inbound in `inReplyTo`).
  const inboundOf = (topic: string, msgId: number, payload: string | null): number[] => {
    if (topic === "inbound") return [msgId];
    try {
      return (JSON.parse(String(payload)) as { inReplyTo?: number[] }).inReplyTo ?? [];
    } catch {
      return [];
    }
  };
  /**
   * A dead notice (fallback, "working on it") or partial text does not explain a missing answer: retrying it
   * would never send the answer. (A payload too broken to name its kind may be the answer's: it counts.)
   */
  const explainsAnswer = (topic: string, payload: string | null): boolean => {
    if (topic === "inbound") return true;
    try {
      const p = JSON.parse(String(payload)) as { replyKey?: unknown; partial?: unknown };
      return !/:(fallback|working)(:template)?$/.test(String(p.replyKey ?? "")) && p.partial === undefined;
    } catch {
      return true;
    }
  };
  /** Inbound message → whether one of its dead letters has a reason. */
  const deadFor = new Map<number, boolean>();
  let deadWithoutReason = 0;
  for (const r of dead) {
    const reasoned = (r.lastError ?? "").trim() !== "";
    if (!reasoned) deadWithoutReason++;
    if (!explainsAnswer(r.topic, r.payload)) continue;
    for (const id of inboundOf(r.topic, r.msgId, r.payload)) deadFor.set(id, reasoned || deadFor.get(id) === true);
  }
  const pendingFor = new Set<number>();
  for (const r of pending) for (const id of inboundOf(r.topic, r.msgId, r.payload)) pendingFor.add(id);
  /** The answer's text as published (what the user got, once `whole` holds), else its first part as received. */
  const answerText = (answer: Attributed) => (textOf.get(answer.key) ?? answer.text).replace(/\s+/g, "");
  const faqAnswers = input.faq.map((f) => f.answer.replace(/\s+/g, ""));
  /** Whether `answer` is the right text for FAQ or model message `msg` (see the module's doc). */
  const rightText = (answer: Attributed, msg: Injected): boolean => {
    if (answer.template) return true; // WhatsApp's template stands in for whatever text Meta refused
    if (msg.kind === "model") return !faqAnswers.includes(answerText(answer));
    if (answer.covers.length === 1) return answer.text === input.faq[msg.faq]!.answer;
    // An all-FAQ burst is answered with each entry's answer (burstFaq); one with a model question by the model.
    const allFaq = answer.covers.every((id) => byInbound.get(id)?.kind === "faq");
    return !allFaq || answerText(answer).includes(faqAnswers[msg.faq]!);
  };

  const report: CheckReport = {
    injected: input.injected.length,
    acknowledged: acked.length,
    notAcknowledged: input.injected.length - acked.length,
    redeliveredAfterAck: input.injected.reduce((n, m) => n + m.redelivered, 0),
    answered: 0,
    answeredAfterNotice: 0,
    deadLettered: 0,
    deadLetteredWithoutNotice: 0,
    deadLetteredWithoutReason: 0,
    pendingAtEnd: 0,
    lost: 0,
    lostAtIngress,
    duplicateAnswers: 0,
    duplicateNotices: 0,
    fallbackThenWorking: 0,
    unexpected,
    userVisibleDuplicates: 0,
    notices: 0,
    attributedViaUnknownLedger: viaUnknown,
    coalesced: 0,
    wrongAnswer: 0,
    orderViolations: 0,
    chats: perChat.size,
    receivedMessages,
    integrityCheck: rows.integrity,
    foreignKeyViolations: rows.foreignKeyViolations,
    deadLetters: dead.length,
    deadLettersWithoutReason: deadWithoutReason,
    lostExamples: [],
    unexpectedExamples,
  };
  for (const [id, msg] of byInbound) {
    const seen = perInbound.get(id) ?? [];
    // An answer Meta refused after accepting it (its template followed) never reached the user.
    const refused = new Set(seen.filter((a) => a.key.endsWith(":template")).map((a) => a.key.slice(0, -9)));
    const answers = seen.filter((a) => a.kind === "answer" && a.part === 0 && !refused.has(a.key));
    const notices = seen.filter((a) => a.kind !== "answer" && a.part === 0);
    report.notices += notices.length;
    report.duplicateAnswers += Math.max(0, answers.length - 1);
    for (const kind of ["fallback", "working"] as const) {
      report.duplicateNotices += Math.max(0, notices.filter((a) => a.kind === kind).length - 1);
    }
    if (notices.some((a) => a.kind === "fallback") && notices.some((a) => a.kind === "working")) report.fallbackThenWorking++;
    if (answers.length > 0) {
      report.answered++;
      if (notices.some((n) => n.index < answers[0]!.index)) report.answeredAfterNotice++; // one after: orderViolations
      if (answers[0]!.covers.length > 1) report.coalesced++;
      if (!whole(answers[0]!, seen) || !rightText(answers[0]!, msg)) report.wrongAnswer++;
    } else if (deadFor.has(id)) {
      report.deadLettered++;
      if (notices.length === 0) report.deadLetteredWithoutNotice++;
      if (!deadFor.get(id)) report.deadLetteredWithoutReason++;
    } else if (pendingFor.has(id)) {
      report.pendingAtEnd++;
    } else {
      report.lost++;
      if (report.lostExamples.length < 10) {
        report.lostExamples.push({ agent: msg.agent, chat: msg.chatId, seq: msg.seq, key: msg.key, kind: msg.kind, inboundId: id });
      }
    }
  }
  for (const msg of acked) {
    if (idByKey.has(msg.key) || report.lostExamples.length >= 10) continue;
    report.lostExamples.push({ agent: msg.agent, chat: msg.chatId, seq: msg.seq, key: msg.key, kind: msg.kind, inboundId: undefined });
  }
  report.lost += lostAtIngress;
  report.userVisibleDuplicates = report.duplicateAnswers + report.duplicateNotices + report.unexpected;
  for (const list of perChat.values()) {
    let last = -1;
    const lastPart = new Map<string, number>();
    const answered = new Set<number>();
    for (const a of [...list].sort((x, y) => x.index - y.index)) {
      if (a.kind !== "answer") {
        if (a.covers.every((id) => answered.has(id))) report.orderViolations++;
        continue;
      }
      for (const id of a.covers) answered.add(id);
      // Every part: a later answer between two parts of one cuts it in two; its parts come in their order.
      const seqs = a.covers.map((id) => byInbound.get(id)?.seq ?? -1);
      if (Math.min(...seqs) < last || (lastPart.get(a.key) ?? -1) > a.part) report.orderViolations++;
      last = Math.max(last, ...seqs); // (equal: the same answer's next part, or a duplicate, counted above)
      lastPart.set(a.key, Math.max(a.part, lastPart.get(a.key) ?? -1));
    }
  }
  return report;
}
