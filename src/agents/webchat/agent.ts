/**
 * The web chat agent: a page where a visitor talks to the configured role through the same spine as every
 * other channel (ingress → `inbound` → orchestrator → `outbound.<agent>` → egress). Its egress "sends" by
 * storing the reply for the page to poll, so it needs no token and no pacing.
 *
 * @module
 */
import type { Config } from "../../config.ts";
import type { AgentDeps, AgentInstance } from "../define.ts";
import { createEgressHandler } from "../channel/egress.ts";
import { clientHash } from "../client-address.ts";
import { addText } from "../channel/inbound.ts";
import { createIngress, emptyBatch } from "../channel/ingress.ts";
import type { ChannelTransport } from "../channel/outcome.ts";
import { createPacer } from "../channel/pacer.ts";
import { greetingOf } from "../channel/role.ts";
import { sleep } from "../channel/sleep.ts";
import { createChannelSpine, type SpineOptions } from "../channel/spine.ts";
import { storeReply } from "./replies.ts";
import { mountWebchat } from "./routes.ts";

export type WebchatAgentConfig = Extract<Config["agents"][number], { kind: "webchat" }>;

/** The idempotency key of a visitor's message: the id the page generated for it. */
export function webchatKey(agent: string, messageId: string): string {
  return `webchat:${agent}:${messageId}`;
}

export async function createWebchatAgent(
  deps: AgentDeps,
  agent: WebchatAgentConfig,
  opts: SpineOptions = {},
): Promise<AgentInstance> {
  const { log, metrics, now, store, tracer } = deps;
  const spine = await createChannelSpine(deps, agent.name, opts);
  const greeting = greetingOf(deps.config, agent.role);

  const commit = createIngress({ bus: spine.bus, tracer, metrics, channel: "webchat", now });
  const ingest = async (msg: { chatId: string; id: string; text: string; client: string }) => {
    const t = now();
    const batch = emptyBatch();
    const base = {
      channel: "webchat" as const,
      agent: agent.name,
      chatId: msg.chatId,
      userId: msg.chatId,
      platformId: msg.id,
      sentAt: t,
      receivedAt: t,
      clientAddress: clientHash(msg.client),
    };
    addText(batch, base, webchatKey(agent.name, msg.id), msg.text);
    return (await commit(batch, t)).fresh.size > 0;
  };

  const transport: ChannelTransport<{ text: string; kind: string }> = {
    plan: (reply) => Promise.resolve({ parts: [{ text: reply.text, kind: reply.kind }] }),
    async send(part, { chatId, key }) {
      const seq = await storeReply(store.client, {
        agent: agent.name,
        chatId,
        key,
        kind: part.kind,
        text: part.text,
        now: now(),
      });
      return { kind: "sent", platformId: String(seq) };
    },
  };

  const handler = createEgressHandler({
    channel: "webchat",
    transport,
    ledger: spine.ledger,
    stopping: spine.stopping,
    tracer,
    // Storing a reply is idempotent (unique key), so an unknown outcome is simply stored again.
    resendUnknown: true,
    pacer: createPacer({ perKeyMs: 0, perSecond: 1_000, now, sleep }),
    log,
    metrics,
    now,
    markInactive: spine.markInactive,
  });

  return {
    routes(app) {
      mountWebchat(app, {
        agent: agent.name,
        page: {
          title: agent.webchat.title,
          greeting,
          pollMs: agent.webchat.pollMs,
          maxTextLength: agent.webchat.maxTextLength,
        },
        client: store.client,
        log,
        now: deps.now,
        ingest,
        stored: async (id) => {
          const rs = await store.client.execute({
            sql: "SELECT 1 FROM bus_messages WHERE idem_key = ?1 LIMIT 1",
            args: [webchatKey(agent.name, id)],
          });
          return rs.rows.length > 0;
        },
        perAddressPerMinute: agent.webchat.perAddressPerMinute,
        clientAddressHeader: agent.webchat.clientAddressHeader,
      });
    },
    async start() {
      // A restored backup brings back its sequence counter, which would hand out again the numbers of the replies
      // stored after it, below where an open page polls from: numbers go on from the time in ms, past any given.
      await store.client.execute({
        sql: "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'webchat_replies'",
        args: [deps.now()],
      });
      spine.startEgress(handler);
    },
    stop: () => spine.stop(),
  };
}
