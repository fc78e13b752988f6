import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, configJsonSchema, type ConfigIssue, loadConfig } from "../../src/config.ts";
import { resolveRouterSettings } from "../../src/router/config.ts";
import { parseFaq } from "../../src/router/faq.ts";
import { cli, repoRoot } from "../support/cli.ts";
import { validateJsonSchema } from "../support/json-schema.ts";
import { tempDir } from "../support/tmp.ts";

const SECRETS = {
  TG_TOKEN: "7111222333:AAH-very-secret-token-value",
  TG_SECRET: "webhook_secret_abcdef",
  GROQ_API_KEY: "gsk_live_groq_key_0123456789",
};

function base(): Record<string, unknown> {
  return {
    roles: { support: { kind: "support", systemPrompt: "Be nice." } },
    agents: [
      { name: "analytics", kind: "analytics", port: 9001 },
      { name: "tg", kind: "telegram", role: "support", port: 9002, telegram: { tokenEnv: "TG_TOKEN", secretTokenEnv: "TG_SECRET" } },
    ],
    router: {
      providers: { groq: { kind: "groq", baseUrl: "https://api.groq.com/openai/v1", model: "llama-3.1-8b-instant", apiKeyEnv: "GROQ_API_KEY" } },
      chain: ["groq"],
    },
  };
}

/** `config`: a config, or a config file's text; `agents`: those being started (default all: every secret). */
function issuesOf(config: unknown, env: Record<string, string> = SECRETS, agents?: string[]): ConfigIssue[] {
  try {
    loadConfig(typeof config === "string" ? config : JSON.stringify(config), env, agents);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return [];
}

describe("loadConfig", () => {
  it("accepts a valid config and fills defaults", () => {
    const config = loadConfig(JSON.stringify(base()), SECRETS);
    expect(config.store.url).toBe("file:data/aideazz.db");
    expect(config.agents[1]).toMatchObject({ host: "127.0.0.1", telegram: { mode: "webhook" } });
    expect(resolveRouterSettings(config.router).providers["groq"]?.timeoutMs).toBe(3000);
  });

  it("names a missing secret's field and variable", () => {
    const issues = issuesOf(base(), { TG_TOKEN: SECRETS.TG_TOKEN, TG_SECRET: SECRETS.TG_SECRET });
    expect(issues).toEqual([{ path: "router.providers.groq.apiKeyEnv", message: expect.stringContaining("GROQ_API_KEY is not set") }]);
  });

  it("refuses a Telegram secret token setWebhook would refuse, naming the field and the variable, never the value", () => {
    for (const bad of ["has spaces", "semi;colon", "pässwort", "a".repeat(257)]) {
      const issues = issuesOf(base(), { ...SECRETS, TG_SECRET: bad });
      expect(issues).toEqual([{
        path: "agents[1].telegram.secretTokenEnv",
        message: "the secret token in TG_SECRET must be 1-256 characters of A-Z a-z 0-9 _ -",
      }]);
    }
    expect(issuesOf(base(), { ...SECRETS, TG_SECRET: "A-z_09".repeat(42) + "abcd" })).toEqual([]); // 256
    // Only the agents being started: another agent's bad secret does not stop the analytics agent.
    expect(loadConfig(JSON.stringify(base()), { ...SECRETS, TG_SECRET: "has spaces" }, ["analytics"]).agents).toHaveLength(2);
  });

  // Basic auth splits the credentials at the first colon: the agent started, and every login was refused (then 429).
  it("refuses a dashboard user name with a colon, naming the field and the variable, never the value", () => {
    const config = base();
    (config["agents"] as Record<string, unknown>[])[0]!["dashboard"] = { userEnv: "DASH_USER", passwordEnv: "DASH_PASS" };
    const env = { ...SECRETS, DASH_USER: "ops:team", DASH_PASS: "dashboard-pass-1" };
    expect(issuesOf(config, env)).toEqual([{
      path: "agents[0].dashboard.userEnv",
      message: "the user name in DASH_USER must have no colon or control character",
    }]);
    expect(issuesOf(config, { ...env, DASH_USER: "ops-team" })).toEqual([]);
  });

  it("an agent started alone needs only its own secrets: the cache's embeddings key is the orchestrator's", () => {
    const config = base();
    (config["agents"] as Record<string, unknown>[]).push({ name: "orchestrator", kind: "orchestrator", port: 9003 });
    config["cache"] = { embeddings: { baseUrl: "https://embeddings.example/v1", apiKeyEnv: "EMBED_API_KEY" } };
    const text = JSON.stringify(config);
    expect(loadConfig(text, SECRETS, ["tg"]).agents).toHaveLength(3);
    expect(() => loadConfig(text, SECRETS, ["orchestrator"])).toThrow(/cache\.embeddings\.apiKeyEnv: environment variable EMBED_API_KEY is not set/);
  });

  it("names a field of the wrong type", () => {
    const config = base();
    (config["agents"] as Record<string, unknown>[])[0]!["port"] = "9001";
    expect(issuesOf(config)).toEqual([{ path: "agents[0].port", message: "expected number, got string" }]);
    (config["agents"] as Record<string, unknown>[])[0]!["port"] = null;
    expect(issuesOf(config)).toEqual([{ path: "agents[0].port", message: "expected number, got null" }]);
    expect(issuesOf(null)).toEqual([{ path: "(root)", message: "expected object, got null" }]);
  });

  it("names a number too large to be finite (JSON reads 1e400 as Infinity, and it said \"expected number, got number\")", () => {
    const text = JSON.stringify(base()).replace('"port":9001', '"port":1e400');
    expect(issuesOf(text)).toEqual([{ path: "agents[0].port", message: expect.stringContaining("too large") }]);
  });

  it("names a key written twice in one object, in the config and in a FAQ file (JSON.parse kept the last without a word)", () => {
    // A cache turned off for privacy, and a second "cache" block added later to tune it: the first was dropped, the
    // cache left on.
    const twice = JSON.stringify(base()).replace(/^\{/, '{"cache": {"enabled": false}, ').replace(/\}$/, ', "cache": {}}');
    expect(issuesOf(twice)).toEqual([{ path: "cache", message: expect.stringContaining("duplicate key") }]);
    // In an array's item, spelled with an escape: still one key. The same key in two objects is no duplicate.
    const escaped = JSON.stringify(base()).replace('"port":9002', '"port":9002, "\\u0070ort":9003');
    expect(issuesOf(escaped)).toEqual([{ path: "agents[1].port", message: expect.stringContaining("duplicate key") }]);
    const faq = '{"entries": [{"questions": ["Refunds?"], "answer": "Within 30 days.", "answer": "Never."}]}';
    expect(() => parseFaq(faq, "faq.json")).toThrow("faq.json: entries[0].answer: duplicate key");
  });

  it("says what a provider's name may be (it said zod's \"Invalid key in record\")", () => {
    const config = base();
    const router = config["router"] as { providers: Record<string, unknown>; chain: string[] };
    router.providers = { groq_fast: router.providers["groq"] };
    router.chain = ["groq_fast"];
    expect(issuesOf(config)).toEqual([{ path: "router.providers.groq_fast", message: expect.stringContaining("lowercase letters a-z") }]);
  });

  it("names a groq or anthropic provider without apiKeyEnv (`config check` said ok; the orchestrator refused to start)", () => {
    const config = base();
    const router = config["router"] as { providers: Record<string, Record<string, unknown>>; budget?: unknown };
    delete router.providers["groq"]!["apiKeyEnv"];
    router.providers["claude"] = { kind: "anthropic", model: "claude-haiku-4-5" };
    router.budget = { prices: { "claude-haiku-4-5": { inputUsdPerMTok: 1, outputUsdPerMTok: 5 } } };
    expect(issuesOf(config)).toEqual([
      { path: "router.providers.groq.apiKeyEnv", message: "required for kind groq: the environment variable holding its API key" },
      { path: "router.providers.claude.apiKeyEnv", message: expect.stringContaining("required for kind anthropic") },
    ]);
  });

  it("names an analytics agent other machines can reach without a dashboard login (`config check` said ok; its start refused it)", () => {
    const config = base();
    const analytics = (config["agents"] as Record<string, unknown>[])[0]!;
    analytics["host"] = "0.0.0.0";
    expect(issuesOf(config)).toEqual([{ path: "agents[0].host", message: expect.stringContaining("the dashboard has no login") }]);
    for (const host of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]) {
      analytics["host"] = host;
      expect(issuesOf(config), host).toEqual([]);
    }
    analytics["host"] = "10.0.0.5";
    analytics["dashboard"] = { userEnv: "DASH_USER", passwordEnv: "DASH_PASSWORD" };
    expect(issuesOf(config, { ...SECRETS, DASH_USER: "owner", DASH_PASSWORD: "s3cret-pass" })).toEqual([]);
  });

  it("names a Telegram webhookUrl that is not https:// (`config check` said ok; setWebhook refused it, the agent unhealthy for ever)", () => {
    const config = base();
    const telegram = (config["agents"] as Record<string, Record<string, unknown>>[])[1]!["telegram"]!;
    telegram["webhookUrl"] = "http://bot.example.com/telegram/webhook";
    expect(issuesOf(config)).toEqual([{ path: "agents[1].telegram.webhookUrl", message: expect.stringContaining("https://") }]);
    telegram["webhookUrl"] = "https://bot.example.com/telegram/webhook";
    expect(issuesOf(config)).toEqual([]);
  });

  it("names a WhatsApp status wait shorter than the ledger's take-over (60 s), not whole seconds or not within the bus's handler deadline; the default is 180 s", () => {
    const env = { ...SECRETS, WA_APP: "meta-app-secret", WA_TOKEN: "EAAJB-token", WA_VERIFY: "verify-token" };
    const config = base();
    const wa = { phoneNumberId: "106540352242922", appSecretEnv: "WA_APP", accessTokenEnv: "WA_TOKEN", verifyTokenEnv: "WA_VERIFY" };
    (config["agents"] as Record<string, unknown>[]).push({ name: "wa", kind: "whatsapp", role: "support", port: 9003, whatsapp: wa });
    expect(loadConfig(JSON.stringify(config), env).agents[2]).toMatchObject({ whatsapp: { statusWaitS: 180 } });
    const withWait = (statusWaitS: unknown) => {
      (config["agents"] as Record<string, unknown>[])[2]!["whatsapp"] = { ...wa, statusWaitS };
      return config;
    };
    expect(issuesOf(withWait(30), env)).toEqual([
      { path: "agents[2].whatsapp.statusWaitS", message: expect.stringContaining("at least 60 s") },
    ]);
    expect(issuesOf(withWait(90.5), env)).toEqual([{ path: "agents[2].whatsapp.statusWaitS", message: expect.any(String) }]);
    expect(loadConfig(JSON.stringify(withWait(60)), env).agents[2]).toMatchObject({ whatsapp: { statusWaitS: 60 } });
    // The wait runs inside the bus handler: one past the handler's deadline is cut short at every delivery, and the
    // reply is dead-lettered unsent once the attempts run out.
    expect(issuesOf(withWait(7_200), env)).toEqual([
      { path: "agents[2].whatsapp.statusWaitS", message: expect.stringContaining("less than bus.handlerTimeoutMs (600000 ms)") },
    ]);
    config["bus"] = { handlerTimeoutMs: 60_000 };
    expect(issuesOf(withWait(60), env)).toEqual([
      { path: "agents[2].whatsapp.statusWaitS", message: expect.stringContaining("less than bus.handlerTimeoutMs (60000 ms)") },
    ]);
    config["bus"] = { handlerTimeoutMs: 7_500_000 };
    expect(loadConfig(JSON.stringify(withWait(7_200)), env).agents[2]).toMatchObject({ whatsapp: { statusWaitS: 7_200 } });
  });

  it("names an agent's CPU weight outside systemd's range", () => {
    const config = base();
    (config["agents"] as Record<string, unknown>[])[1]!["limits"] = { cpuWeight: 0 };
    expect(issuesOf(config)).toEqual([{ path: "agents[1].limits.cpuWeight", message: expect.stringContaining(">=1") }]);
  });

  it("names a bus handler deadline shorter than a lease (seconds written for milliseconds); without one the bus's default holds", () => {
    const config = base();
    config["bus"] = { handlerTimeoutMs: 600 };
    expect(issuesOf(config)).toEqual([{ path: "bus.handlerTimeoutMs", message: expect.stringContaining("at least one lease (30000 ms)") }]);
    config["bus"] = { handlerTimeoutMs: 900_000 };
    expect(loadConfig(JSON.stringify(config), SECRETS).bus.handlerTimeoutMs).toBe(900_000);
    expect(loadConfig(JSON.stringify(base()), SECRETS).bus.handlerTimeoutMs).toBeUndefined();
  });

  it("names a host an agent cannot bind (a port, a scheme, nothing) and takes names and addresses", () => {
    // The telegram agent's: the analytics agent's dashboard needs a login off loopback.
    for (const host of ["localhost:8080", "127.0.0.1:8080", "http://127.0.0.1", "", "0.0.0.0 "]) {
      const config = base();
      (config["agents"] as Record<string, unknown>[])[1]!["host"] = host;
      const issue = { path: "agents[1].host", message: expect.stringContaining("no port") };
      expect(issuesOf(config), host).toEqual([issue]);
    }
    for (const host of ["127.0.0.1", "0.0.0.0", "::", "::1", "[::1]", "localhost", "vm-1.example.com"]) {
      const config = base();
      (config["agents"] as Record<string, unknown>[])[1]!["host"] = host;
      expect(issuesOf(config), host).toEqual([]);
    }
  });

  it("names a web chat's perAddressDailyTokens that is not a whole number of tokens, and takes 0 (no limit)", () => {
    const withWebchat = (perAddressDailyTokens: unknown) => {
      const config = base();
      const agent = { name: "web", kind: "webchat", role: "support", port: 9003, webchat: { perAddressDailyTokens } };
      (config["agents"] as Record<string, unknown>[]).push(agent);
      return config;
    };
    for (const bad of [-1, 1.5, "50000"]) {
      expect(issuesOf(withWebchat(bad)), String(bad)).toEqual([{ path: "agents[2].webchat.perAddressDailyTokens", message: expect.any(String) }]);
    }
    expect(issuesOf(withWebchat(0))).toEqual([]);
  });

  it("names an unknown agent kind and lists the kinds", () => {
    const config = base();
    (config["agents"] as Record<string, unknown>[])[0]!["kind"] = "telegrm";
    const [issue] = issuesOf(config);
    expect(issue?.path).toBe("agents[0].kind");
    expect(issue?.message).toContain('"telegram", "whatsapp", "webchat", "orchestrator", "analytics"');
  });

  it("names a duplicate port", () => {
    const config = base();
    (config["agents"] as Record<string, unknown>[])[1]!["port"] = 9001;
    expect(issuesOf(config)).toEqual([{ path: "agents[1].port", message: "duplicate port 9001; agents[0] uses it" }]);
    // An agent on every address (0.0.0.0, ::) takes the port from every other host; two spellings of one address are
    // one ("[::1]" and "::1" once were not).
    const agents = config["agents"] as Record<string, unknown>[];
    agents[0]!["dashboard"] = { userEnv: "DASH_USER", passwordEnv: "DASH_PASSWORD" }; // to bind off loopback
    const env = { ...SECRETS, DASH_USER: "owner", DASH_PASSWORD: "s3cret-pass" };
    const pairs = [["0.0.0.0", "127.0.0.1"], ["127.0.0.1", "::"], ["localhost", "127.0.0.1"], ["::1", "[::1]"], ["[::]", "::1"]];
    for (const [a, b] of pairs) {
      [agents[0]!["host"], agents[1]!["host"]] = [a, b];
      expect(issuesOf(config, env), `${a} ${b}`).toEqual([{ path: "agents[1].port", message: "duplicate port 9001; agents[0] uses it" }]);
    }
    [agents[0]!["host"], agents[1]!["host"]] = ["127.0.0.1", "10.0.0.5"]; // two addresses: both can bind
    expect(issuesOf(config, env)).toEqual([]);
  });

  it("names a duplicate agent name, an unknown role, an unknown field and an unknown chain entry", () => {
    const config = base();
    const agents = config["agents"] as Record<string, unknown>[];
    agents[1]!["name"] = "analytics";
    agents[1]!["role"] = "sales";
    agents[0]!["colour"] = "blue";
    (config["router"] as { chain: string[] }).chain.push("claude");
    const paths = issuesOf(config).map((i) => i.path).sort();
    expect(paths).toEqual(["agents[0]", "agents[1].name", "agents[1].role", "router.chain[1]"]);
    // Names every object has: `in` found them on its prototype and said ok.
    agents[1]!["name"] = "tg";
    agents[1]!["role"] = "toString";
    (config["router"] as { chain: string[] }).chain = ["groq", "constructor"];
    delete agents[0]!["colour"];
    expect(issuesOf(config).map((i) => i.path).sort()).toEqual(["agents[1].role", "router.chain[1]"]);
  });

  it("rejects text that is not JSON with the parser's reason", () => {
    expect(() => loadConfig("{ agents: ", {})).toThrow(/not valid JSON/);
  });

  it("never repeats a secret pasted where a variable name belongs, or into the JSON; accepts a byte-order mark", () => {
    const pasted = "gsk_PASTEDREALKEY0123456789abcdef";
    const config = base();
    ((config["router"] as { providers: Record<string, Record<string, unknown>> }).providers["groq"]!)["apiKeyEnv"] =
      pasted;
    const [issue, ...more] = issuesOf(config);
    expect(more).toEqual([]);
    expect(issue).toMatchObject({ path: "router.providers.groq.apiKeyEnv", message: expect.stringMatching(/not the secret/) });
    expect(JSON.stringify(issue)).not.toContain("PASTED");
    for (const text of ['{"store": {"url": sk-PASTEDKEY0123456789}}', '{"a": 1,\n "b": sk-PASTEDKEY0123456789}']) {
      const err = (() => {
        try {
          loadConfig(text, {});
        } catch (e) {
          return e as ConfigError;
        }
      })();
      expect(err).toBeInstanceOf(ConfigError);
      expect(err!.issues[0]!.message).toMatch(/^not valid JSON: .*line \d+ column \d+/);
      expect(err!.issues[0]!.message).not.toContain("PASTED");
    }
    expect(loadConfig(`\uFEFF${JSON.stringify(base())}`, SECRETS).agents).toHaveLength(2);
  });

  it("the published JSON Schema is the one generated from the zod schema", async () => {
    const published = JSON.parse(await readFile(join(repoRoot, "aideazz.schema.json"), "utf8"));
    expect(published).toEqual(configJsonSchema());
    expect(Object.keys(published.properties)).toEqual(expect.arrayContaining(["store", "agents", "roles", "router"]));
  });

  it("the published schema refuses what the loader refuses within one object (an editor called these valid)", () => {
    const schema = configJsonSchema();
    const orchestrator = { name: "orchestrator", kind: "orchestrator", port: 8081 };
    const accepted = (config: unknown) => issuesOf(config, {}, []).length === 0; // secrets aside
    const ok = { agents: [{ name: "tg", kind: "telegram", port: 8080, telegram: { mode: "polling", tokenEnv: "T" } }, orchestrator] };
    expect([validateJsonSchema(schema, ok), accepted(ok)]).toEqual([true, true]);
    const refused: [string, unknown][] = [
      ["webhook mode (the default) without secretTokenEnv", {
        agents: [{ name: "tg", kind: "telegram", port: 8080, telegram: { tokenEnv: "TG_TOKEN" } }, orchestrator],
      }],
      ["a llama-cpp provider without baseUrl", {
        agents: [orchestrator],
        router: { providers: { local: { kind: "llama-cpp", model: "qwen" } }, chain: ["local"] },
      }],
      ["a groq provider without apiKeyEnv", {
        agents: [orchestrator],
        router: { providers: { groq: { kind: "groq", model: "llama-3.1-8b-instant" } }, chain: ["groq"] },
      }],
      ["a dashboard with userEnv but no passwordEnv", {
        agents: [{ name: "analytics", kind: "analytics", port: 8082, dashboard: { userEnv: "DASH_USER" } }],
      }],
      ["a webhookUrl that is not https://", {
        agents: [{
          name: "tg",
          kind: "telegram",
          port: 8080,
          telegram: { mode: "polling", tokenEnv: "T", webhookUrl: "http://bot.example.com/telegram/webhook" },
        }],
      }],
    ];
    for (const [what, config] of refused) {
      expect([validateJsonSchema(schema, config), accepted(config)], what).toEqual([false, false]);
    }
  });

  it("the example config is valid", async () => {
    const text = await readFile(join(repoRoot, "aideazz.example.json"), "utf8");
    expect(loadConfig(text, {}).agents.map((a) => a.kind)).toEqual(["webchat", "orchestrator", "analytics"]);
  });
});

describe("aideazz config check", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => ({ dir, cleanup } = await tempDir()));
  afterAll(() => cleanup());

  async function check(config: unknown, env: Record<string, string>) {
    const path = join(dir, "c.json");
    await writeFile(path, JSON.stringify(config));
    return cli(["config", "check", "--config", path], { env });
  }

  it("prints every invalid field with its path and exits 1", async () => {
    const config = base();
    const agents = config["agents"] as Record<string, unknown>[];
    agents[0]!["port"] = "x";
    agents[1]!["kind"] = "fax";
    const r = await check(config, SECRETS);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("2 problems");
    expect(r.stderr).toContain("agents[0].port: expected number, got string");
    expect(r.stderr).toContain("agents[1].kind: unknown agent kind");
  });

  it("`config check` refuses a role whose operator is no telegram agent, as the orchestrator's start does (the check said ok)", async () => {
    const config = base();
    (config["agents"] as Record<string, unknown>[]).push({ name: "orchestrator", kind: "orchestrator", port: 9003 });
    (config["roles"] as Record<string, Record<string, unknown>>)["support"]!["operator"] = { agent: "tg-bot", chatId: "12345" };
    const checked = await check(config, SECRETS);
    expect(checked.code).toBe(1);
    expect(checked.stderr).toContain('roles.support.operator.agent: "tg-bot" is not a configured agent; name a telegram agent');
    const started = await cli(["agent", "orchestrator", "--config", join(dir, "c.json")], { env: SECRETS });
    expect(started.code).toBe(1);
    expect(started.stderr).toContain("roles.support.operator.agent");
  });

  it("`config check` fails on a malformed Telegram secret token instead of saying ok (the agent would not start)", async () => {
    const r = await check(base(), { ...SECRETS, TG_SECRET: "my webhook secret!" });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      "agents[1].telegram.secretTokenEnv: the secret token in TG_SECRET must be 1-256 characters of A-Z a-z 0-9 _ -",
    );
    expect(r.stdout + r.stderr).not.toContain("my webhook secret!");
  });

  it("reports a FAQ path that cannot be read (relative to the config file) together with missing secrets", async () => {
    const config = base();
    (config["roles"] as Record<string, Record<string, unknown>>)["support"]!["faq"] = "missing-faq.json";
    const r = await check(config, {});
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`roles.support.faq: cannot read ${join(dir, "missing-faq.json")}`);
    expect(r.stderr).toContain("agents[1].telegram.tokenEnv: environment variable TG_TOKEN is not set");
    expect(r.stderr).toContain("router.providers.groq.apiKeyEnv: environment variable GROQ_API_KEY is not set");
  });

  it("reports a FAQ file the orchestrator could not load, naming its invalid field", async () => {
    const config = base();
    await writeFile(join(dir, "bad-faq.json"), JSON.stringify({ entries: [{ questions: "x", answer: 1 }] }));
    (config["roles"] as Record<string, Record<string, unknown>>)["support"]!["faq"] = "bad-faq.json";
    const r = await check(config, SECRETS);
    expect(r.code).toBe(1);
    // Every mistake, each on its line.
    const file = join(dir, "bad-faq.json");
    expect(r.stderr).toContain(`roles.support.faq: ${file}: entries[0].questions: expected array, got string\n`);
    expect(r.stderr).toContain(`roles.support.faq: ${file}: entries[0].answer: expected string, got number\n`);
  });

  it("shows the store's URL without credentials or query parameters", async () => {
    const config = { ...base(), store: { url: "libsql://db.example.com?authToken=PASTEDSTORETOKEN" } };
    const r = await check(config, SECRETS);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("store: libsql://db.example.com");
    expect(r.stdout + r.stderr).not.toContain("PASTEDSTORETOKEN");
  });

  it("shows secrets only redacted: no secret value appears in its output", async () => {
    const ok = await check(base(), SECRETS);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("secret TG_TOKEN (agents[1].telegram.tokenEnv): set, 38 chars, [redacted]");
    const bad = base();
    (bad["agents"] as Record<string, unknown>[])[0]!["port"] = -1;
    const failed = await check(bad, SECRETS);
    for (const value of Object.values(SECRETS)) {
      expect(ok.stdout + ok.stderr + failed.stdout + failed.stderr).not.toContain(value);
    }
  });
});
