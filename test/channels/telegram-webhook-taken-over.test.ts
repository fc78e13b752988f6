// Telegram keeps one delivery target per bot token. When another agent on the same token (a staging copy, a
// laptop's `aideazz up`) sets its own webhook, or polls and deletes the webhook, the first agent gets nothing: its
// /health asks getWebhookInfo and stops saying ok, naming where the updates go now.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../src/agents/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { type FakeTelegram, startFakeTelegram } from "../fakes/telegram.ts";
import { runTestAgent } from "../support/agent.ts";
import { freePorts } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { until } from "../channels/harness.ts";

const TOKEN = "7111222333:AAH-fake-token-twice-hook";
const secrets = { TG_TOKEN: TOKEN, TG_SECRET: "twice_hook_secret" };

let dir: string;
let cleanup: () => Promise<void>;
let tg: FakeTelegram;
const running: RunningAgent[] = [];
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("aideazz-twice-hook-"));
  tg = await startFakeTelegram({ token: TOKEN });
});
afterAll(async () => {
  for (const r of running.reverse()) await r.stop().catch(() => {});
  await tg.close();
  await cleanup();
});

const configOf = (db: string, agent: Record<string, unknown>) =>
  loadConfig(JSON.stringify({ store: { url: `file:${join(dir, db)}` }, agents: [agent] }), secrets);

async function healthOf(port: number): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${port}/health`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("a webhook agent whose webhook another agent on the same token replaced or deleted", () => {
  it.each([
    ["another agent's setWebhook", "webhook"],
    ["a polling agent's deleteWebhook", "polling"],
  ])("after %s its /health is no longer ok, and says so", async (_what, mode) => {
    const [prodPort, otherPort] = await freePorts(2);
    const prodUrl = "https://bot.example.com/telegram/webhook";
    const prod = configOf(`prod-${mode}.db`, {
      name: "telegram",
      kind: "telegram",
      port: prodPort,
      telegram: { tokenEnv: "TG_TOKEN", secretTokenEnv: "TG_SECRET", apiRoot: tg.apiRoot, webhookUrl: prodUrl },
    });
    running.push(await runTestAgent({ config: prod, name: "telegram", secrets }));
    await until(() => tg.webhook()?.url === prodUrl, 10_000, "the production webhook set");
    await until(async () => (await healthOf(prodPort!)).status === 200, 10_000, "production healthy");

    // The second agent: a staging copy with its own webhook URL, or a polling one (a laptop's `aideazz up`).
    const other = configOf(`other-${mode}.db`, {
      name: "telegram-staging",
      kind: "telegram",
      port: otherPort,
      telegram: mode === "webhook"
        ? {
          tokenEnv: "TG_TOKEN",
          secretTokenEnv: "TG_SECRET",
          apiRoot: tg.apiRoot,
          webhookUrl: "https://staging.example.com/telegram/webhook",
        }
        : { mode: "polling", tokenEnv: "TG_TOKEN", apiRoot: tg.apiRoot, pollTimeoutS: 1 },
    });
    running.push(await runTestAgent({ config: other, name: "telegram-staging", secrets }));
    await until(() => tg.webhook()?.url !== prodUrl, 10_000, "the webhook taken over");

    // Telegram delivers nothing to the production agent any more: its health must not stay ok.
    let last = await healthOf(prodPort!);
    await until(async () => (last = await healthOf(prodPort!)).status !== 200, 15_000, "production /health not ok")
      .catch(() => {});
    expect(last.status, `production /health: ${JSON.stringify(last.body)}`).toBe(503);
    const detail = (last.body["checks"] as Record<string, { detail?: string }>)["telegram"]?.detail;
    expect(detail).toBe(
      mode === "webhook"
        ? `Telegram delivers this bot's updates to https://staging.example.com/telegram/webhook, not to ${prodUrl}: ` +
          "another agent or process uses this token"
        : `no webhook is set: another process deleted it (a poller on this token?); expected ${prodUrl}`,
    );
  }, 60_000);
});
