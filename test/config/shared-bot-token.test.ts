// Two channel agents on one bot token or one WhatsApp number (a copy-pasted agent entry and unit): Telegram
// delivers a bot's updates to one webhook (the other agent gets nothing) or, polling, to both (answered twice).
// The config refuses it, where it names one variable twice and where two variables hold one token.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, type ConfigIssue, loadConfig } from "../../src/config.ts";
import { cli } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";

const TOKEN = "7111222333:AAH-fake-token-twice";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-shared-token-")));
afterAll(() => cleanup());

const bot = (name: string, port: number, tokenEnv = "TG_TOKEN") => ({
  name,
  kind: "telegram",
  port,
  telegram: { mode: "polling", tokenEnv },
});

const configText = (...agents: Record<string, unknown>[]) =>
  JSON.stringify({ agents: [{ name: "orchestrator", kind: "orchestrator", port: 9000 }, ...agents] });

function issuesOf(text: string, env: Record<string, string>, agents?: string[]): ConfigIssue[] {
  try {
    loadConfig(text, env, agents);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return [];
}

describe("two channel agents on one bot or number", () => {
  it("aideazz config check refuses two agents naming the same bot token variable", async () => {
    const path = join(dir, "check.json");
    await writeFile(path, configText(bot("telegram", 9001), bot("telegram2", 9002)));
    const r = await cli(["config", "check", "--config", path], { env: { TG_TOKEN: TOKEN } });
    expect(r.code, `exit ${r.code}; stdout: ${r.stdout}; stderr: ${r.stderr}`).not.toBe(0);
    expect(r.stderr).toMatch(/agents\[2\]\.telegram\.tokenEnv: agents\[1\] \("telegram"\) uses the same bot token variable TG_TOKEN/);
  });

  it("neither agent starts: loading the config for either one refuses it", () => {
    const text = configText(bot("telegram", 9001), bot("telegram2", 9002));
    for (const agents of [["telegram"], ["telegram2"]]) {
      expect(issuesOf(text, { TG_TOKEN: TOKEN }, agents).map((i) => i.path)).toEqual(["agents[2].telegram.tokenEnv"]);
    }
  });

  it("two variables holding one token are refused, naming both agents, for the config and either agent's start", () => {
    const text = configText(bot("telegram", 9001, "TG_TOKEN"), bot("telegram2", 9002, "TG2_TOKEN"));
    const env = { TG_TOKEN: TOKEN, TG2_TOKEN: TOKEN };
    for (const agents of [undefined, ["telegram"], ["telegram2"]]) {
      const issues = issuesOf(text, env, agents);
      expect(issues, `starting ${agents ?? "all"}`).toHaveLength(1);
      expect(issues[0]!.message).toMatch(/same bot token/);
      expect(issues[0]!.message).toMatch(/"telegram".*"telegram2"|"telegram2".*"telegram"/);
      expect(issues[0]!.message).not.toContain(TOKEN);
    }
    // Two bots, two tokens: fine.
    expect(issuesOf(text, { TG_TOKEN: TOKEN, TG2_TOKEN: "7222333444:AAH-other-bot" })).toEqual([]);
  });

  it("two whatsapp agents on one phone number id are refused", () => {
    const wa = (name: string, port: number) => ({
      name,
      kind: "whatsapp",
      port,
      whatsapp: { phoneNumberId: "106540352242922", appSecretEnv: "WA_APP", accessTokenEnv: "WA_TOKEN", verifyTokenEnv: "WA_VERIFY" },
    });
    const issues = issuesOf(configText(wa("wa", 9001), wa("wa2", 9002)), { WA_APP: "a", WA_TOKEN: "t", WA_VERIFY: "v" });
    expect(issues.map((i) => i.path)).toEqual(["agents[2].whatsapp.phoneNumberId"]);
    expect(issues[0]!.message).toMatch(/agents\[1\] \("wa"\) uses the same phone number id/);
  });
});
