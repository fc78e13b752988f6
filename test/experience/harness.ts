/**
 * The whole spine in this process, every agent real (runAgent on one store): a Telegram agent and a WhatsApp
 * agent against the fake Bot API and the fake Graph API, and the orchestrator whose only provider is the REAL
 * llama.cpp server behind a recording relay (relay.ts). Helpers post webhooks the way the platforms do and read
 * the store.
 */
import { join } from "node:path";
import { type RunningAgent } from "../../src/agents/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { openStore, type Row, type Store } from "../../src/store/mod.ts";
import { type FakeGraph, signature, startFakeGraph, textPayload } from "../fakes/graph.ts";
import { type FakeTelegram, makeUpdate, startFakeTelegram } from "../fakes/telegram.ts";
import { type LlamaServer, startLlamaServer } from "../support/llama-server.ts";
import { freePorts } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { telegramFixture } from "../channels/fixtures.ts";
import { type Relay, startRelay } from "./relay.ts";
import { runTestAgent } from "../support/agent.ts";

export const SECRETS = {
  TG_TOKEN: "7111222333:AAH-fake-token-experience",
  TG_SECRET: "experience_secret",
  WA_APP_SECRET: "experience-app-secret",
  WA_TOKEN: "EAAJB-experience-token",
  WA_VERIFY: "experience-verify",
};
export const PNID = "106540352242922";

export interface HarnessOptions {
  /** Extra fields of the telegram agent (role, experience, telegram.* merged into the defaults). */
  tg?: { role?: string; experience?: Record<string, unknown>; telegram?: Record<string, unknown> };
  wa?: { role?: string; experience?: Record<string, unknown>; whatsapp?: Record<string, unknown> };
  roles?: Record<string, unknown>;
  /** Replaces the router section; `RELAY` in a baseUrl is replaced by the relay's URL. */
  router?: Record<string, unknown>;
  conversation?: Record<string, unknown>;
  /** Delay between streamed events at the relay. */
  delayMs?: number;
}

export interface Harness {
  tg: FakeTelegram;
  graph: FakeGraph;
  relay: Relay;
  store: Store;
  agents: Record<string, RunningAgent>;
  /** Posts a Telegram text update to the agent's webhook; returns the HTTP status. */
  telegram(updateId: number, chatId: number, text: string): Promise<number>;
  /** Posts a WhatsApp text message webhook (signed); returns the HTTP status. */
  whatsapp(wamid: string, from: string, text: string): Promise<number>;
  rows(sql: string, ...args: (string | number)[]): Promise<Row[]>;
  close(): Promise<void>;
}

let shared: { llama: LlamaServer; users: number } | undefined;

/**
 * llama-server's own sampling options for the random tiny model: `--ignore-eos`, because it sometimes ends at
 * once and an empty answer is (deliberately) no reply, and these tests need `maxReplyTokens` tokens every time;
 * logit biases on the word-gap piece "▁" (token 259) and the byte "." (token 49), so its nonsense has word and
 * sentence boundaries like real text — partial replies show whole words only; and a fixed `--seed`, so a prompt gets the
 * same nonsense every run (a random draw could hold a text the partials' review stops at, and the streaming test
 * then saw no partial in one run of four).
 */
export const LLAMA_ARGS = ["--ignore-eos", "--logit-bias", "259+9", "--logit-bias", "49+6", "--seed", "1"];

/** One llama-server per test file (it loads the tiny model in milliseconds; one process is enough). */
async function llama(): Promise<LlamaServer> {
  shared ??= { llama: await startLlamaServer({ extraArgs: LLAMA_ARGS }), users: 0 };
  shared.users++;
  return shared.llama;
}

async function releaseLlama(): Promise<void> {
  if (!shared || --shared.users > 0) return;
  const s = shared;
  shared = undefined;
  await s.llama.stop();
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const { dir, cleanup } = await tempDir("aideazz-exp-");
  const server = await llama();
  const relay = await startRelay(server.url, { delayMs: opts.delayMs ?? 0 });
  const tg = await startFakeTelegram({ token: SECRETS.TG_TOKEN });
  const graph = await startFakeGraph({ accessToken: SECRETS.WA_TOKEN });
  const ports: Record<string, number> = {};
  const names = ["orchestrator", "tg", "wa"];
  const picked = await freePorts(names.length);
  names.forEach((n, i) => (ports[n] = picked[i]!));
  const router = JSON.parse(
    JSON.stringify(
      opts.router ?? {
        deadlineMs: 60_000,
        providers: { local: { kind: "llama-cpp", baseUrl: "RELAY", model: "tiny", timeoutMs: 60_000 } },
        chain: ["local"],
        retry: { maxAttempts: 1 },
      },
    ).replaceAll('"RELAY"', JSON.stringify(relay.url)),
  );
  const dbUrl = `file:${join(dir, "experience.db")}`;
  const config = loadConfig(
    JSON.stringify({
      store: { url: dbUrl },
      roles: opts.roles ?? {},
      agents: [
        { name: "orchestrator", kind: "orchestrator", port: ports["orchestrator"] },
        {
          name: "tg",
          kind: "telegram",
          port: ports["tg"],
          ...(opts.tg?.role ? { role: opts.tg.role } : {}),
          telegram: {
            tokenEnv: "TG_TOKEN",
            secretTokenEnv: "TG_SECRET",
            apiRoot: tg.apiRoot,
            typing: { refreshMs: 1_000, maxMs: 30_000, delayMs: 0 }, // at once: the typing tests count renewals
            ...opts.tg?.telegram,
          },
          ...(opts.tg?.experience ? { experience: opts.tg.experience } : {}),
        },
        {
          name: "wa",
          kind: "whatsapp",
          port: ports["wa"],
          ...(opts.wa?.role ? { role: opts.wa.role } : {}),
          whatsapp: {
            phoneNumberId: PNID,
            appSecretEnv: "WA_APP_SECRET",
            accessTokenEnv: "WA_TOKEN",
            verifyTokenEnv: "WA_VERIFY",
            graphBaseUrl: graph.baseUrl,
            pacing: { perUserMs: 1_000, perSecond: 80 },
            ...opts.wa?.whatsapp,
          },
          ...(opts.wa?.experience ? { experience: opts.wa.experience } : {}),
        },
      ],
      router,
      conversation: { maxReplyTokens: 48, retryBaseMs: 300, maxAttempts: 3, ...opts.conversation },
      cache: { enabled: false },
      metrics: { flushIntervalMs: 60_000 },
    }),
    SECRETS,
  );
  const agents: Record<string, RunningAgent> = {};
  // Channels first: the orchestrator finds their messages waiting.
  for (const name of ["tg", "wa", "orchestrator"]) {
    agents[name] = await runTestAgent({ config, name, dbUrl, secrets: SECRETS });
  }
  const store = await openStore({ url: dbUrl });
  return {
    tg,
    graph,
    relay,
    store,
    agents,
    async telegram(updateId, chatId, text) {
      const res = await fetch(`http://127.0.0.1:${ports["tg"]}/telegram/webhook`, {
        method: "POST",
        headers: { "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRETS.TG_SECRET },
        body: JSON.stringify(makeUpdate(telegramFixture("text"), { updateId, chatId, text })),
      });
      await res.body?.cancel();
      return res.status;
    },
    async whatsapp(wamid, from, text) {
      const body = JSON.stringify(textPayload({ id: wamid, from, body: text, phoneNumberId: PNID }));
      const res = await fetch(`http://127.0.0.1:${ports["wa"]}/whatsapp/webhook`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "X-Hub-Signature-256": signature(body, SECRETS.WA_APP_SECRET),
        },
        body,
      });
      await res.body?.cancel();
      return res.status;
    },
    async rows(sql, ...args) {
      return (await store.client.execute({ sql, args })).rows;
    },
    async close() {
      store.close();
      for (const name of ["orchestrator", "tg", "wa"]) await agents[name]?.stop();
      await tg.close();
      await graph.close();
      await relay.close();
      await releaseLlama();
      await cleanup();
    },
  };
}

/** The final replies (not partials) the orchestrator published to `agent`, oldest first. */
export async function finalReplies(h: Harness, agent: string): Promise<Record<string, unknown>[]> {
  const rows = await h.rows(
    "SELECT payload FROM bus_messages WHERE topic = ? ORDER BY id",
    `outbound.${agent}`,
  );
  return rows.map((r) => JSON.parse(String(r["payload"])) as Record<string, unknown>)
    .filter((p) => p["partial"] === undefined);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
