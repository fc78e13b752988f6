/**
 * The WhatsApp Cloud API channel agent: webhook ingress (handshake, signature, atomic batch commit, statuses,
 * 24 h window bookkeeping) and egress from `outbound.<agent>` through the Graph API, paced per user and per
 * number, with the send ledger (a send whose outcome is unknown is settled by its status webhooks). Ingress
 * only commits; marking messages read (with the typing indicator) runs after the answer, and the indicator is
 * shown again every `typing.refreshMs` while the chat's turn is in flight.
 *
 * @module
 */
import type { Config } from "../../config.ts";
import type { AgentDeps, AgentInstance, CheckResult } from "../define.ts";
import { createEgressHandler } from "../channel/egress.ts";
import { createIngress } from "../channel/ingress.ts";
import { createPacer } from "../channel/pacer.ts";
import { type Sleep, sleep as realSleep } from "../channel/sleep.ts";
import { createChannelSpine, type SpineOptions } from "../channel/spine.ts";
import { createTasks } from "../channel/tasks.ts";
import { createTyping } from "../channel/typing.ts";
import { turnPending } from "../channel/inbox.ts";
import type { OutboundReply } from "../../bus/envelopes.ts";
import { hmacKey } from "../channel/verify.ts";
import { classifyWebhook, messageKey, type WaNumber } from "./classify.ts";
import { isAccountBlocked, isAuthError, toGraphOutcome } from "./errors.ts";
import { createGraphClient } from "./graph.ts";
import type { WaWebhook } from "./payload.ts";
import { createWhatsAppTransport } from "./send.ts";
import { goneSends, settleSend } from "./statuses.ts";
import { M } from "../../metrics/names.ts";
import { mountWhatsAppWebhook } from "./webhook.ts";
import type { Client, InStatement } from "../../store/mod.ts";

/** What the log and /health say of a number Meta posted here that no agent owns, and how to fix it. */
const UNKNOWN_NUMBER = "messages for a phone number id no whatsapp agent is configured for were not stored (add an " +
  "agent with that whatsapp.phoneNumberId, or remove the number from the Meta app)";

/** 131048's longest back-off (errors.ts): a saved hold ending later (the wall clock stepped back) is cut to it. */
const LONGEST_HOLD_MS = 15 * 60_000;

function saveNumberHold(agent: string, until: number): InStatement {
  return {
    sql: `INSERT INTO channel_holds (agent, until_at) VALUES (?1, ?2)
      ON CONFLICT (agent) DO UPDATE SET until_at = excluded.until_at`,
    args: [agent, Math.ceil(until)],
  };
}

async function loadNumberHold(client: Client, agent: string): Promise<number> {
  const sql = "SELECT until_at FROM channel_holds WHERE agent = ?";
  const rs = await client.execute({ sql, args: [agent] });
  return Number(rs.rows[0]?.["until_at"] ?? 0);
}

/** ?1 an inbound message's bus id → its wamid. */
const ANSWERED_WAMID = "SELECT payload ->> '$.platformId' AS wamid FROM bus_messages WHERE id = ?1";

export type WhatsAppAgentConfig = Extract<Config["agents"][number], { kind: "whatsapp" }>;

export interface WhatsAppAgentOptions extends SpineOptions {
  sleep?: Sleep;
  /** Send attempts per message before the bus retries (default 5). */
  maxAttempts?: number;
}

/** What classifying a webhook needs of a WhatsApp agent (its own, or another's number posted to this agent). */
function numberOf(agent: WhatsAppAgentConfig): WaNumber {
  const wa = agent.whatsapp;
  return { agent: agent.name, staleAfterMs: wa.staleAfterS * 1000, nonText: wa.nonText, template: wa.template !== undefined };
}

function requireSecret(deps: AgentDeps, agent: WhatsAppAgentConfig, env: string, what: string): string {
  const value = deps.secrets[env];
  if (!value) throw new Error(`Cannot start agent "${agent.name}": the ${what} (${env}) is not set`);
  return value;
}

export async function createWhatsAppAgent(
  deps: AgentDeps,
  agent: WhatsAppAgentConfig,
  opts: WhatsAppAgentOptions = {},
): Promise<AgentInstance> {
  const wa = agent.whatsapp;
  const { log, metrics, now, store, tracer } = deps;
  const appSecretKey = hmacKey(requireSecret(deps, agent, wa.appSecretEnv, "app secret"));
  const accessToken = requireSecret(deps, agent, wa.accessTokenEnv, "access token");
  const verifyToken = requireSecret(deps, agent, wa.verifyTokenEnv, "verify token");
  const sleep = opts.sleep ?? realSleep;
  const graph = createGraphClient({
    baseUrl: wa.graphBaseUrl,
    phoneNumberId: wa.phoneNumberId,
    accessToken,
    fetch: deps.fetch,
  });
  const spine = await createChannelSpine(deps, agent.name, opts);
  const tasks = createTasks((err) => log.debug("mark-as-read failed", { err }));
  let graphHealth: CheckResult = { ok: true };
  // The newest message of each chat waiting for a turn: WhatsApp shows typing "in reply to" a message.
  const newest = new Map<string, string>();
  /** Per chat taken in by another number's agent: the bus id of the newest message this agent marked read. */
  const markedElsewhere = new Map<string, number>();
  // Chats whose newest message the budget left unmarked: a renewal marks it (or finds the turn over without a reply),
  // else the reply's end (a reply does not), else `markLater` once the indicator ran out.
  const unread = new Set<string>();
  const waiting = (chatId: string, since: number) => turnPending(store.client, agent.name, chatId, since);
  let holdSaved = Promise.resolve();
  const pacer = createPacer({
    perKeyMs: wa.pacing.perUserMs,
    perSecond: wa.pacing.perSecond,
    now,
    sleep,
    // The number's back-off for every chat (131048, 130429, 131057) outlives a restart: the next process must not
    // send into it. A refused token's does not: once the operator fixed it, a restart sends at once.
    onHoldAll(until, code) {
      if (isAuthError(Number(code)) || isAccountBlocked(Number(code))) return;
      holdSaved = holdSaved
        .then(() => store.client.execute(saveNumberHold(agent.name, until)))
        .then(() => {}, (err) => log.warn("number-wide send hold not saved", { err }));
    },
  });
  const savedHold = await loadNumberHold(store.client, agent.name);
  if (savedHold > now()) pacer.defer("", "all", Math.min(savedHold, now() + LONGEST_HOLD_MS));
  // Meta counts every call to /messages against the number's throughput, replies and mark-as-read alike: each call
  // takes a slot of the pacer's global rate.
  const markRead = async (wamid: string, typing: boolean) => {
    await pacer.waitGlobal(spine.stopping);
    await graph.markRead(wamid, typing);
  };
  /** Marks the chat's newest message read, without the indicator, when the budget left it unmarked: true if so. */
  const markUnread = (chatId: string) => {
    const wamid = newest.get(chatId);
    if (wamid === undefined || !unread.delete(chatId)) return false;
    tasks.run(() => markRead(wamid, false));
    return true;
  };
  // Messages still unmarked when their indicator ran out (`typing.maxMs`): every renewal found no room, as through a
  // number-wide hold longer than that. Marked read (no indicator) once the number's slots allow, one call at a time
  // and one message per chat, at most 10,000: a long hold under load cannot pile up waiting calls.
  const owed = new Map<string, string>();
  let draining = false;
  const markOwed = async () => {
    for (const [chatId, wamid] of owed) {
      owed.delete(chatId);
      // A newer message has its own mark, which marks this one read too.
      if (newest.get(chatId) !== wamid || spine.stopping.aborted) continue;
      await markRead(wamid, false).catch((err) => log.debug("mark-as-read failed", { err }));
    }
    draining = false;
  };
  const markLater = (chatId: string) => {
    const wamid = newest.get(chatId);
    if (wamid === undefined || !unread.delete(chatId)) return;
    owed.set(chatId, wamid);
    if (owed.size > 10_000) owed.delete(owed.keys().next().value!);
    if (!draining) {
      draining = true;
      tasks.run(markOwed);
    }
  };
  const typing = createTyping({
    refreshMs: wa.typing.refreshMs,
    maxMs: wa.markAsRead ? wa.typing.maxMs : 0,
    maxPerSecond: wa.typing.maxPerSecond,
    // Replies first: while more sends wait for their slots than a second's worth of actions, the actions are skipped
    // (at idle a burst of them still goes at once).
    room: () => pacer.slotsAhead() < wa.typing.maxPerSecond,
    sleep,
    now,
    send: async (chatId) => {
      const wamid = newest.get(chatId);
      unread.delete(chatId);
      if (wamid !== undefined) await markRead(wamid, true);
    },
    stillWaiting: (chatId) => waiting(chatId, now() - wa.typing.maxMs),
    // A turn that ended without a reply (a chat paused for a person, a silence) has no reply's end to mark it: the
    // renewal's token pays for the call, as the renewals of a burst's chats wake together.
    ended: (chatId) => markUnread(chatId),
    expired: markLater,
    onError: (chatId, err) => log.debug("typing indicator failed", { chat: chatId, err }),
  });
  /**
   * Marks the chat's newest message read with the indicator, at once when the agent's action budget has a token
   * and the number's throughput room (the calls count against it, as its replies do: a burst of webhooks must not
   * make one per message); else the indicator's loop marks it when it gets one, or the reply's end, or once the
   * loop ran out (`markLater`).
   */
  const markAndType = (chatId: string, wamid: string) => {
    const taken = typing.take();
    if (taken) {
      unread.delete(chatId);
      tasks.run(() => markRead(wamid, true));
    } else {
      unread.add(chatId);
      if (unread.size > 10_000) unread.delete(unread.values().next().value!);
    }
    typing.start(chatId, taken);
  };
  const afterReply = (reply: OutboundReply) => {
    typing.stop(reply.chatId);
    if (!wa.markAsRead) return;
    // A reply to no message (an operator's relay to a paused chat) stops the renewals too: what they would mark is.
    if (reply.receivedAt === undefined) {
      markUnread(reply.chatId);
      return;
    }
    // A chat whose messages this agent never took in (another number's agent did: one Meta app's callback URL, or a
    // process before a restart): the newest message the reply answers is marked read now, without the indicator.
    if (!newest.has(reply.chatId) && reply.kind !== "progress" && reply.inReplyTo.length > 0) {
      // Once per message: a fallback notice and the answer after it answer the same one.
      const answered = Math.max(...reply.inReplyTo);
      if ((markedElsewhere.get(reply.chatId) ?? 0) >= answered) return;
      markedElsewhere.set(reply.chatId, answered);
      if (markedElsewhere.size > 10_000) markedElsewhere.delete(markedElsewhere.keys().next().value!);
      tasks.run(async () => {
        const rs = await store.client.execute({ sql: ANSWERED_WAMID, args: [answered] });
        const wamid = rs.rows[0]?.["wamid"];
        if (typeof wamid === "string") await markRead(wamid, false);
      });
      return;
    }
    // A reply hides the indicator; a message that came in meanwhile still waits for its turn: show it again.
    waiting(reply.chatId, reply.receivedAt).then((more) => {
      const wamid = newest.get(reply.chatId);
      if (more && wamid !== undefined) markAndType(reply.chatId, wamid);
      else markUnread(reply.chatId);
    }).catch((err) => log.debug("typing check failed", { chat: reply.chatId, err }));
  };

  // Meta posts every number of one app to the app's callback URL: the other agents' numbers are stored as theirs.
  const others = new Map(deps.config.agents.flatMap((a) =>
    a.kind === "whatsapp" && a.name !== agent.name ? [[a.whatsapp.phoneNumberId, numberOf(a)] as const] : []
  ));
  // Numbers Meta posted here that no agent owns: their messages are lost until the operator configures one.
  const unknownNumbers = new Set<string>();
  const commit = createIngress({ bus: spine.bus, tracer, metrics, channel: "whatsapp", now });
  const ingest = async (payload: WaWebhook) => {
    const started = now();
    const ctx = { ...numberOf(agent), phoneNumberId: wa.phoneNumberId, now: started, others };
    let classified = classifyWebhook(payload, ctx);
    // A failed status of a send whose ledger row is gone (its chat forgotten) sends its recipient nothing more.
    const keys = classified.failed.flatMap((s) => s.biz_opaque_callback_data ?? []);
    const gone = keys.length > 0 ? await goneSends(store.client, keys) : new Set<string>();
    if (gone.size > 0) classified = classifyWebhook(payload, { ...ctx, gone });
    const result = await commit(classified.batch, started);
    if (classified.ignored > 0) log.info("webhook parts ignored", { ignored: classified.ignored });
    for (const id of classified.unknownNumbers) {
      if (unknownNumbers.has(id)) continue;
      unknownNumbers.add(id);
      log.warn(UNKNOWN_NUMBER, { phoneNumberId: id });
    }
    // Graph took these messages (a wamid came back) and then could not deliver them: as visible as a refused send
    // (`aideazz stats`, the dashboard's send errors). Meta may post a status twice: then it counts twice.
    for (const s of classified.failed) {
      const error = s.errors?.[0];
      const code = String(error?.code ?? "unknown");
      metrics.inc(M.sendErrors, { platform: "whatsapp", code });
      log.warn("message not delivered (failed status)", {
        code,
        title: error?.title ?? error?.message ?? null,
        key: s.biz_opaque_callback_data ?? null,
      });
    }
    // A resend is published with the batch (resend.ts), due after its back-off; one for every chat holds them too.
    for (const r of classified.resends) {
      if (r.kind === "gave-up") {
        metrics.inc(M.sendErrors, { platform: "whatsapp", code: "resends-exhausted" });
        log.error("message not delivered; not sent again", { code: String(r.code), reason: r.reason, key: r.key });
        continue;
      }
      if (r.scope === "all" && r.reply.agent === agent.name) pacer.defer("", "all", r.notBefore, String(r.code));
      log.info("sending again a message Meta could not deliver", {
        code: String(r.code),
        key: r.reply.replyKey,
        afterMs: r.notBefore - started,
      });
    }
    // Meta's errors of a whole change (e.g. 130429: a message failed, too many sent from this number) name no
    // message: counted and logged, and when the error would hold every send (the number's limits), it does.
    for (const { agent: owner, error } of classified.errors) {
      const code = String(error.code);
      metrics.inc(M.sendErrors, { platform: "whatsapp", code });
      log.warn("WhatsApp reported an error", {
        code,
        title: error.title ?? error.message ?? null,
        details: error.error_data?.details ?? null,
        agent: owner,
      });
      const outcome = toGraphOutcome({ ok: false, status: 400, error }, 1, undefined);
      if (outcome.kind === "retry" && outcome.scope === "all" && owner === agent.name) {
        pacer.defer("", "all", now() + outcome.afterMs, code);
      }
    }
    if (!wa.markAsRead) return;
    for (const [chatId, wamid] of classified.markRead) {
      if (!result.fresh.has(messageKey(wamid))) continue;
      newest.set(chatId, wamid);
      if (newest.size > 10_000) newest.delete(newest.keys().next().value!);
      markAndType(chatId, wamid);
    }
  };

  const handler = createEgressHandler({
    channel: "whatsapp",
    transport: createWhatsAppTransport({
      graph,
      client: store.client,
      agent: agent.name,
      now,
      template: wa.template,
      onGraphResult(code) {
        if (code === null) graphHealth = { ok: true };
        else if (code !== undefined && isAuthError(code)) {
          graphHealth = { ok: false, detail: `Graph API refused the access token (code ${code})` };
        } else if (code !== undefined && isAccountBlocked(code)) {
          graphHealth = { ok: false, detail: `the WhatsApp account is blocked, locked, unpaid or unregistered (code ${code})` };
        }
      },
    }),
    ledger: spine.ledger,
    stopping: spine.stopping,
    tracer,
    resendUnknown: false,
    settle: (key, since) =>
      settleSend(store.client, { agent: agent.name, waitMs: wa.statusWaitS * 1_000 }, key, since, now()),
    unknownsKeptMs: wa.statusWaitS * 1_000,
    sleep,
    pacer,
    log,
    metrics,
    now,
    ...(opts.maxAttempts !== undefined ? { maxAttempts: opts.maxAttempts } : {}),
    markInactive: spine.markInactive,
    onReplyDone: afterReply,
  });

  return {
    routes(app) {
      mountWhatsAppWebhook(app, { path: wa.webhookPath, verifyToken, appSecretKey, log, ingest });
    },
    checks: () =>
      Promise.resolve({
        graph: graphHealth,
        ...(unknownNumbers.size > 0
          ? { numbers: { ok: false, detail: `${UNKNOWN_NUMBER}: ${[...unknownNumbers].join(", ")}` } }
          : {}),
      }),
    start() {
      spine.startEgress(handler);
      return Promise.resolve();
    },
    async stop() {
      typing.stopAll();
      await spine.stop();
      await tasks.idle();
      await holdSaved;
    },
  };
}
