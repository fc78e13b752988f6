/**
 * The Telegram channel agent: ingress by webhook (Hono route) or long polling, egress from `outbound.<agent>`
 * with typing, splitting, pacing and the send ledger, and progressive replies (partials posted, then edited).
 * Ingress only commits; it never calls a model or sends.
 *
 * @module
 */
import type { OutboundReply } from "../../bus/envelopes.ts";
import { type Config, TELEGRAM_SECRET_TOKEN } from "../../config.ts";
import type { AgentDeps, AgentInstance, CheckResult } from "../define.ts";
import { createEgressHandler } from "../channel/egress.ts";
import { backoffMs } from "../channel/outcome.ts";
import { createIngress } from "../channel/ingress.ts";
import { createPacer } from "../channel/pacer.ts";
import { type Sleep, sleep as realSleep } from "../channel/sleep.ts";
import { createChannelSpine, type SpineOptions } from "../channel/spine.ts";
import { createTyping } from "../channel/typing.ts";
import { turnPending } from "../channel/inbox.ts";
import { createProgressive } from "../channel/progressive.ts";
import { GrammyError } from "grammy/web";
import type { WebhookInfo } from "grammy/types";
import { deadline } from "../../deadline.ts";
import { createTelegramApi, isTokenRefused, toGrammySignal } from "./api.ts";
import { classifyUpdates } from "./classify.ts";
import { createPoller, type Poller } from "./poller.ts";
import { createTelegramTransport, toTarget } from "./send.ts";
import { ALLOWED_UPDATES, type TelegramUpdate } from "./update.ts";
import { mountTelegramWebhook } from "./webhook.ts";

/**
 * How long getWebhookInfo's answer stands: /health is asked often (the health timer, monitors), and Telegram need not
 * be. Short enough that a webhook another process took shows within a health round or two.
 */
const WEBHOOK_INFO_TTL_MS = 10_000;

/**
 * How recent a delivery error that getWebhookInfo reports must be to make /health degraded (when the webhook took
 * no update since): Telegram retries an update it could not deliver, so an error that persists stays this recent; an
 * older one was a passing outage.
 */
const DELIVERY_ERROR_RECENT_MS = 5 * 60_000;

export type TelegramAgentConfig = Extract<Config["agents"][number], { kind: "telegram" }>;

export interface TelegramAgentOptions extends SpineOptions {
  sleep?: Sleep;
  /** Send attempts per message part before the bus retries (default 5). */
  maxAttempts?: number;
}

/** Reads and checks the agent's secrets; the error names the variable, never the value. */
function secretsOf(
  deps: AgentDeps,
  agent: TelegramAgentConfig,
): { token: string; secret: string | undefined } {
  const tg = agent.telegram;
  const token = deps.secrets[tg.tokenEnv];
  if (!token) {
    throw new Error(`Cannot start agent "${agent.name}": the bot token (${tg.tokenEnv}) is not set`);
  }
  if (tg.mode === "polling") return { token, secret: undefined };
  const secret = tg.secretTokenEnv === undefined ? undefined : deps.secrets[tg.secretTokenEnv];
  if (!secret) {
    throw new Error(
      `Cannot start agent "${agent.name}": webhook mode needs a secret token; set telegram.secretTokenEnv and its variable`,
    );
  }
  if (!TELEGRAM_SECRET_TOKEN.test(secret)) {
    throw new Error(
      `Cannot start agent "${agent.name}": the secret token in ${tg.secretTokenEnv} must be 1-256 characters of A-Z a-z 0-9 _ -`,
    );
  }
  return { token, secret };
}

export async function createTelegramAgent(
  deps: AgentDeps,
  agent: TelegramAgentConfig,
  opts: TelegramAgentOptions = {},
): Promise<AgentInstance> {
  const tg = agent.telegram;
  const { token, secret } = secretsOf(deps, agent);
  const { log, metrics, now, store, tracer } = deps;
  const sleep = opts.sleep ?? realSleep;
  const api = createTelegramApi(token, tg.apiRoot, deps.fetch);
  const spine = await createChannelSpine(deps, agent.name, opts);
  const waiting = (chatId: string, since: number) => turnPending(store.client, agent.name, chatId, since);
  const stopped = new AbortController();
  /**
   * One Bot API call given up on after `ms` or when the agent stops: on a connection dropped silently grammY waits
   * 500 s. `deadline`, not `AbortSignal.timeout`: under Node 20 that one may never fire (src/deadline.ts).
   */
  const withDeadline = async <T>(ms: number, call: (signal: ReturnType<typeof toGrammySignal>) => Promise<T>) => {
    const d = deadline(ms, stopped.signal);
    try {
      return await call(toGrammySignal(d.signal));
    } finally {
      d.clear();
    }
  };
  const typing = createTyping({
    refreshMs: tg.typing.refreshMs,
    maxMs: tg.typing.maxMs,
    maxPerSecond: tg.typing.maxPerSecond,
    delayMs: tg.typing.delayMs,
    sleep,
    now,
    send: async (chatId) => {
      const { chatId: to, thread } = toTarget(chatId);
      // A channel's direct messages chat takes no chat action.
      if (thread && "direct_messages_topic_id" in thread) return;
      await withDeadline(5_000, (signal) => api.sendChatAction(to, "typing", thread, signal));
    },
    stillWaiting: (chatId) => waiting(chatId, now() - tg.typing.maxMs),
    onError: (chatId, err) => log.debug("typing action failed", { chat: chatId, err }),
  });
  /** A reply went out: typing stops; it starts again when a message that came in meanwhile waits for its turn. */
  const afterReply = (reply: OutboundReply) => {
    typing.stop(reply.chatId);
    if (reply.partial !== undefined || reply.receivedAt === undefined) return;
    waiting(reply.chatId, reply.receivedAt)
      .then((more) => more && typing.start(reply.chatId))
      .catch((err) => log.debug("typing check failed", { chat: reply.chatId, err }));
  };

  const commit = createIngress({ bus: spine.bus, tracer, metrics, channel: "telegram", now });
  /** The bot's @username (getMe at start): a command addressed to another bot in a group is not ours. */
  let botUsername: string | undefined;
  const ingest = async (updates: TelegramUpdate[]) => {
    const started = now();
    const { batch, typing: chats } = classifyUpdates(updates, {
      agent: agent.name,
      now: started,
      staleAfterMs: tg.staleAfterS * 1000,
      nonText: tg.nonText,
      ...(botUsername === undefined ? {} : { botUsername }),
    });
    const result = await commit(batch, started);
    const freshChats = new Set(
      batch.inbound.filter((i) => result.fresh.has(i.idempotencyKey)).map((i) => i.message.chatId),
    );
    for (const chat of chats) if (freshChats.has(chat)) typing.start(chat);
  };

  const poller: Poller | undefined = tg.mode === "polling"
    ? createPoller({
      source: {
        getUpdates: (params, signal) => api.getUpdates(params, toGrammySignal(signal)),
        deleteWebhook: (signal) => api.deleteWebhook({ drop_pending_updates: false }, toGrammySignal(signal)),
      },
      ingest,
      timeoutS: tg.pollTimeoutS,
      log,
      sleep,
    })
    : undefined;

  /** Whether the Bot API takes the token: the last send's answer, or setWebhook's at start. */
  let apiHealth: CheckResult = { ok: true };
  let webhookHealth: CheckResult = { ok: true, detail: "webhook" };
  const tokenRefused = (code: number | null) => {
    if (code === null) apiHealth = { ok: true };
    else if (isTokenRefused(code)) apiHealth = { ok: false, detail: `the Bot API refused the bot token (${code})` };
  };
  /** Calls the Bot API until it accepts (1 s, 2 s … 60 s apart) or the agent stops; each failure logged. */
  const untilAccepted = async (what: string, call: () => Promise<void>) => {
    for (let attempt = 1; !stopped.signal.aborted; attempt++) {
      try {
        return await call();
      } catch (err) {
        if (err instanceof GrammyError) tokenRefused(err.error_code);
        log.warn(`${what} failed; asking again`, { err, attempt });
        await sleep(backoffMs(attempt, 1_000, 2, 60_000), stopped.signal).catch(() => {});
      }
    }
  };
  /**
   * Telegram keeps one webhook per bot: another agent or process on this token (its setWebhook, or a poller's
   * deleteWebhook) takes every update from us without a word, so /health asks where they go. Never registered
   * again here: two agents doing so would take the webhook from each other in turn.
   */
  let webhookSeen: { at: number; info: WebhookInfo } | undefined;
  let webhookAsking: Promise<CheckResult> | undefined;
  /**
   * When the webhook route last took an update. It starts at this process's start: an error from before it (a
   * restart's gap, the proxy answering 502 meanwhile) says nothing of this process.
   */
  let lastTaken = now();
  /** What getWebhookInfo's answer says of our webhook, against the updates taken since it came. */
  const webhookCheckOf = (ours: string, info: WebhookInfo): CheckResult => {
    const { url } = info;
    if (url === "") {
      return { ok: false, detail: `no webhook is set: another process deleted it (a poller on this token?); expected ${ours}` };
    }
    if (url !== ours) {
      return {
        ok: false,
        detail: `Telegram delivers this bot's updates to ${url}, not to ${ours}: another agent or process uses this token`,
      };
    }
    // Telegram gives the error's time in whole seconds: one within the second of the last update taken is not held.
    // An update taken before the clock stepped back counts as taken now, not for as long as the step.
    lastTaken = Math.min(lastTaken, now());
    const errorAt = (info.last_error_date ?? 0) * 1000;
    if (errorAt <= lastTaken || now() - errorAt > DELIVERY_ERROR_RECENT_MS) return { ok: true, detail: "webhook" };
    return {
      ok: false,
      detail: `Telegram could not deliver updates to ${url} ${Math.max(0, Math.round((now() - errorAt) / 1000))} s ago ` +
        `(${info.pending_update_count} waiting): ${info.last_error_message ?? "no message"}`,
    };
  };
  const askWebhook = async (ours: string): Promise<CheckResult> => {
    try {
      // Within /health's deadline (ops.health.timeoutMs, 8 s by default) beside the database write.
      const info = await withDeadline(3_000, (signal) => api.getWebhookInfo(signal));
      webhookSeen = { at: now(), info };
      return webhookCheckOf(ours, info);
    } catch (err) {
      // Telegram not answering says nothing of where it delivers: the last answer stands.
      if (err instanceof GrammyError) tokenRefused(err.error_code);
      log.debug("getWebhookInfo failed", { err });
      return webhookSeen ? webhookCheckOf(ours, webhookSeen.info) : webhookHealth;
    }
  };
  const webhookCheck = (): Promise<CheckResult> => {
    const ours = tg.webhookUrl;
    if (ours === undefined || !webhookHealth.ok) return Promise.resolve(webhookHealth);
    // An answer from "later" than now (the clock stepped back since) is not kept for the step's length.
    const age = webhookSeen ? now() - webhookSeen.at : -1;
    if (webhookSeen && age >= 0 && age < WEBHOOK_INFO_TTL_MS) {
      return Promise.resolve(webhookCheckOf(ours, webhookSeen.info));
    }
    webhookAsking ??= askWebhook(ours).finally(() => (webhookAsking = undefined));
    return webhookAsking;
  };
  const transport = createTelegramTransport({ api, client: store.client, agent: agent.name, onResult: tokenRefused });
  // A forum's topics share their group's limits: paced and backed off as one chat. Groups and channels (negative
  // ids, `@channel` names) have a slower pace than private chats.
  const pacer = createPacer({
    perKeyMs: (chat) => (/^[-@]/.test(chat) ? tg.pacing.perGroupMs : tg.pacing.perChatMs),
    perSecond: tg.pacing.perSecond,
    now,
    sleep,
    chatOf: (key) => String(toTarget(key).chatId),
  });
  const stream = agent.experience.stream;
  const handler = createEgressHandler({
    channel: "telegram",
    transport,
    ledger: spine.ledger,
    stopping: spine.stopping,
    tracer,
    // Telegram has no record of what was sent to ask: the operator picks at most once or at least once.
    resendUnknown: tg.unknownOutcome === "resend",
    pacer,
    log,
    metrics,
    now,
    ...(opts.maxAttempts !== undefined ? { maxAttempts: opts.maxAttempts } : {}),
    markInactive: spine.markInactive,
    onReplyDone: afterReply,
    ...(stream.enabled
      ? {
        progressive: createProgressive({
          platform: "telegram",
          transport,
          ledger: spine.ledger,
          pacer,
          editIntervalMs: stream.editIntervalMs,
          log,
          metrics,
          now,
          sleep,
          maxAttempts: opts.maxAttempts ?? 5,
          stopping: spine.stopping,
          markInactive: spine.markInactive,
        }),
      }
      : {}),
  });

  return {
    routes(app) {
      if (secret === undefined) return;
      const taken = async (updates: TelegramUpdate[]) => {
        await ingest(updates);
        lastTaken = now();
      };
      mountTelegramWebhook(app, { path: tg.webhookPath, secret, log, ingest: taken });
    },
    async checks() {
      if (!apiHealth.ok) return { telegram: apiHealth };
      const telegram = poller ? poller.check() : await webhookCheck();
      return { telegram: apiHealth.ok ? telegram : apiHealth };
    },
    async start() {
      // Until it answers every command counts as ours, as without privacy mode: the first answer is waited for up to
      // 5 s, and asked for again until it comes.
      const named = untilAccepted("getMe", async () => {
        botUsername = (await withDeadline(5_000, (signal) => api.getMe(signal))).username;
      });
      await Promise.race([named, sleep(5_000, stopped.signal).catch(() => {})]);
      if (poller) {
        // getUpdates answers 409 while a webhook is set (the poller deletes it then, too); pending updates stay
        // queued at Telegram. Polling does not wait past 5 s for it.
        await withDeadline(5_000, (signal) => api.deleteWebhook({ drop_pending_updates: false }, signal))
          .catch((err) => log.warn("deleteWebhook failed", { err }));
        poller.start();
      } else if (tg.webhookUrl !== undefined && secret !== undefined) {
        // Until Telegram has the URL, it sends nothing (or to the previous one): unhealthy, asked again.
        webhookHealth = { ok: false, detail: "webhook not registered with Telegram yet (setWebhook)" };
        // A call that does not answer within 10 s is given up on and asked again.
        const options = { secret_token: secret, allowed_updates: [...ALLOWED_UPDATES] };
        void untilAccepted("setWebhook", async () => {
          await withDeadline(10_000, (signal) => api.setWebhook(tg.webhookUrl!, options, signal));
          webhookHealth = { ok: true, detail: "webhook" };
        });
      }
      spine.startEgress(handler);
    },
    async stop() {
      stopped.abort();
      await poller?.stop();
      typing.stopAll();
      await spine.stop();
    },
  };
}
