/**
 * The whole spine in this process, every agent real (runAgent on one store): a Telegram agent against the fake
 * Bot API and the orchestrator whose providers are fake Groq servers (test/fakes/groq.ts). As
 * test/experience/harness.ts, without llama.cpp: `router` gets the fakes' URLs.
 */
import { join } from "node:path";
import { type RunningAgent } from "../../src/agents/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { openStore, type Row, type Store } from "../../src/store/mod.ts";
import { type FakeGroq, startFakeGroq } from "../fakes/groq.ts";
import { type FakeTelegram, makeUpdate, startFakeTelegram } from "../fakes/telegram.ts";
import { freePorts } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { telegramFixture } from "../channels/fixtures.ts";
import { runTestAgent } from "../support/agent.ts";

export const SECRETS = {
  TG_TOKEN: "7111222333:AAH-fake-token-spine-exp",
  TG_SECRET: "spine_exp_secret",
  GROQ_KEY: "gsk_spine_experience_key_1",
  SPARE_KEY: "gsk_spine_experience_key_2",
};

export interface SpineOptions {
  tg?: { role?: string; experience?: Record<string, unknown>; telegram?: Record<string, unknown> };
  roles?: Record<string, unknown>;
  /** Router section built from the two fake Groqs' URLs (default: groq alone). */
  router?: (groq: string, spare: string) => Record<string, unknown>;
  conversation?: Record<string, unknown>;
}

export interface Spine {
  tg: FakeTelegram;
  groq: FakeGroq;
  spare: FakeGroq;
  store: Store;
  agents: Record<string, RunningAgent>;
  telegram(updateId: number, chatId: number, text: string, from?: number): Promise<number>;
  rows(sql: string, ...args: (string | number)[]): Promise<Row[]>;
  /** Stops the orchestrator (gracefully: `stop()`, as systemd's SIGTERM) and starts a new one on the same store. */
  restartOrchestrator(): Promise<void>;
  close(): Promise<void>;
}

export async function startSpine(opts: SpineOptions = {}): Promise<Spine> {
  const { dir, cleanup } = await tempDir("aideazz-rev-exp-");
  const groq = await startFakeGroq({ apiKey: SECRETS.GROQ_KEY });
  const spare = await startFakeGroq({ apiKey: SECRETS.SPARE_KEY });
  const tg = await startFakeTelegram({ token: SECRETS.TG_TOKEN });
  const [pOrch, pTg] = await freePorts(2);
  const router = opts.router?.(groq.url, spare.url) ?? {
    providers: { groq: { kind: "groq", baseUrl: groq.url, model: "llama-3.1-8b-instant", apiKeyEnv: "GROQ_KEY", timeoutMs: 5_000 } },
    chain: ["groq"],
    retry: { maxAttempts: 1 },
  };
  const dbUrl = `file:${join(dir, "spine.db")}`;
  const config = loadConfig(
    JSON.stringify({
      store: { url: dbUrl },
      roles: opts.roles ?? {},
      agents: [
        { name: "orchestrator", kind: "orchestrator", port: pOrch },
        {
          name: "tg",
          kind: "telegram",
          port: pTg,
          ...(opts.tg?.role ? { role: opts.tg.role } : {}),
          telegram: { tokenEnv: "TG_TOKEN", secretTokenEnv: "TG_SECRET", apiRoot: tg.apiRoot, ...opts.tg?.telegram },
          ...(opts.tg?.experience ? { experience: opts.tg.experience } : {}),
        },
      ],
      router,
      conversation: { retryBaseMs: 300, maxAttempts: 3, ...opts.conversation },
      cache: { enabled: false },
      metrics: { flushIntervalMs: 60_000 },
    }),
    SECRETS,
  );
  const agents: Record<string, RunningAgent> = {};
  for (const name of ["tg", "orchestrator"]) agents[name] = await runTestAgent({ config, name, dbUrl, secrets: SECRETS });
  const store = await openStore({ url: dbUrl });
  return {
    tg,
    groq,
    spare,
    store,
    agents,
    async telegram(updateId, chatId, text, from) {
      const update = makeUpdate(telegramFixture("text"), { updateId, chatId, text });
      if (from !== undefined) {
        const m = update["message"] as Record<string, Record<string, unknown>>;
        m["from"]!["id"] = from;
        m["chat"]!["type"] = chatId < 0 ? "group" : "private";
      }
      const res = await fetch(`http://127.0.0.1:${pTg}/telegram/webhook`, {
        method: "POST",
        headers: { "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRETS.TG_SECRET },
        body: JSON.stringify(update),
      });
      await res.body?.cancel();
      return res.status;
    },
    async rows(sql, ...args) {
      return (await store.client.execute({ sql, args })).rows;
    },
    async restartOrchestrator() {
      await agents["orchestrator"]!.stop();
      agents["orchestrator"] = await runTestAgent({ config, name: "orchestrator", dbUrl, secrets: SECRETS });
    },
    async close() {
      store.close();
      for (const name of ["orchestrator", "tg"]) await agents[name]?.stop();
      await tg.close();
      await groq.close();
      await spare.close();
      await cleanup();
    },
  };
}

