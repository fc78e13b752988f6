/**
 * The soak's platforms side: posts every planned message to its channel agent's webhook the way Telegram and
 * Meta do — one chat's messages in order (the next only after the previous one was acknowledged), a failed
 * delivery (connection refused while an agent is down, 5xx, 503 while it stops) retried with capped back-off,
 * and a share of acknowledged messages delivered again (platforms redeliver). A message counts as acknowledged
 * once a webhook answered it 2xx: from then on the system owes its user exactly one reply.
 *
 * @module
 */
import { signature, textPayload } from "../../test/fakes/graph.ts";
import { makeUpdate } from "../../test/fakes/telegram.ts";
import type { Cluster } from "../system/cluster.ts";
import { type PlannedMessage, seeded } from "./plan.ts";

export interface Injected extends PlannedMessage {
  agent: string;
  chatId: string;
  /** The bus idempotency key the channel derives (`telegram:<agent>:<update_id>`, `whatsapp:<wamid>`). */
  key: string;
  ackedAt: number | undefined;
  attempts: number;
  redelivered: number;
}

export interface InjectOptions {
  rate: number;
  /** Share of acknowledged messages posted a second time. Default 0.03. */
  redeliverShare?: number;
  /** Give up on one message after this long (it then counts as not acknowledged). Default 120 s. */
  giveUpMs?: number;
  seed: number;
  /** Telegram fixture update (test/fixtures/telegram/text.json). */
  telegramFixture: Record<string, unknown>;
  signal?: AbortSignal;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Chat ids: Telegram 880,000,000 + i; WhatsApp phone numbers 1555,000,0000 + i. */
function chatIdOf(kind: string, chat: number): string {
  return kind === "telegram" ? String(880_000_000 + chat) : String(15_550_000_000 + chat);
}

export function assignChannels(cluster: Cluster, plan: PlannedMessage[]): Injected[] {
  const channels = [...cluster.agents.values()].filter((a) => a.kind === "telegram" || a.kind === "whatsapp");
  return plan.map((p) => {
    const agent = channels[p.chat % channels.length]!;
    const chatId = chatIdOf(agent.kind, p.chat);
    const key = agent.kind === "telegram" ? `telegram:${agent.name}:${1_000_000 + p.m}` : `whatsapp:wamid.SOAK${p.m}`;
    return { ...p, agent: agent.name, chatId, key, ackedAt: undefined, attempts: 0, redelivered: 0 };
  });
}

function request(cluster: Cluster, msg: Injected, fixture: Record<string, unknown>): { url: string; init: RequestInit } {
  const a = cluster.agents.get(msg.agent)!;
  const n = msg.agent.slice(2);
  if (a.kind === "telegram") {
    const u = makeUpdate(fixture, { updateId: 1_000_000 + msg.m, chatId: Number(msg.chatId), text: msg.text });
    return {
      url: `http://127.0.0.1:${a.port}/telegram/webhook`,
      init: {
        method: "POST",
        headers: { "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": cluster.secrets[`TG${n}_SECRET`]! },
        body: JSON.stringify(u),
      },
    };
  }
  const body = JSON.stringify(textPayload({
    id: `wamid.SOAK${msg.m}`,
    from: msg.chatId,
    body: msg.text,
    phoneNumberId: cluster.phoneNumberIds.get(msg.agent)!,
  }));
  return {
    url: `http://127.0.0.1:${a.port}/whatsapp/webhook`,
    init: {
      method: "POST",
      headers: { "content-type": "application/json", "X-Hub-Signature-256": signature(body, cluster.secrets[`WA${n}_APP_SECRET`]!) },
      body,
    },
  };
}

/** Posts until a 2xx (true) or `deadline` (false). Honours Retry-After up to 2 s (the soak's time is bounded). */
async function deliver(url: string, init: RequestInit, deadline: number, count: () => void, signal?: AbortSignal): Promise<boolean> {
  for (let attempt = 0; Date.now() < deadline && !signal?.aborted; attempt++) {
    count();
    let wait = Math.min(2_000, 200 * 2 ** attempt);
    try {
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
      await res.body?.cancel();
      if (res.ok) return true;
      const retryAfter = Number(res.headers.get("retry-after"));
      if (retryAfter > 0) wait = Math.min(2_000, retryAfter * 1_000);
    } catch {
      // connection refused / reset while the agent is down or restarting: the platform retries
    }
    await sleep(wait * (0.5 + Math.random() / 2));
  }
  return false;
}

/**
 * Sends every message at `rate` msg/s overall (message m due at start + m / rate), chats in parallel, each
 * chat in order. Resolves when every message was acknowledged or given up on.
 */
export async function inject(cluster: Cluster, messages: Injected[], opts: InjectOptions): Promise<void> {
  const random = seeded(opts.seed ^ 0x5eed);
  const redeliver = new Set(messages.filter(() => random() < (opts.redeliverShare ?? 0.03)).map((m) => m.m));
  const byChat = new Map<number, Injected[]>();
  for (const msg of messages) byChat.set(msg.chat, [...(byChat.get(msg.chat) ?? []), msg]);
  const start = Date.now();
  const lanes = [...byChat.values()].map(async (lane) => {
    for (const msg of lane) {
      const due = start + (msg.m * 1_000) / opts.rate;
      if (due > Date.now()) await sleep(due - Date.now());
      if (opts.signal?.aborted) return;
      const { url, init } = request(cluster, msg, opts.telegramFixture);
      const ok = await deliver(url, init, Date.now() + (opts.giveUpMs ?? 120_000), () => msg.attempts++, opts.signal);
      if (!ok) continue;
      msg.ackedAt = Date.now();
      if (redeliver.has(msg.m)) {
        // The platform did not see our 2xx (a timeout on its side) and sends the same update again.
        if (await deliver(url, init, Date.now() + 10_000, () => {}, opts.signal)) msg.redelivered++;
      }
    }
  });
  await Promise.all(lanes);
}
