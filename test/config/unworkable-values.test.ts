/**
 * Values `config check` must refuse because an agent's start refuses them, or because they would pass and
 * cannot work; and the published JSON Schema agreeing with the loader on rules within one object.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, configJsonSchema, type ConfigIssue, loadConfig } from "../../src/config.ts";
import { cli } from "../support/cli.ts";
import { validateJsonSchema } from "../support/json-schema.ts";
import { tempDir } from "../support/tmp.ts";

const orchestrator = { name: "orchestrator", kind: "orchestrator", port: 9101 };

/** The issues loadConfig reports for `config`, secrets aside (no agent started). */
function issuesOf(config: unknown): ConfigIssue[] {
  try {
    loadConfig(JSON.stringify(config), {}, []);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return [];
}

const paths = (issues: ConfigIssue[]) => issues.map((i) => i.path);

describe("config check agrees with an agent's start", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => ({ dir, cleanup } = await tempDir()));
  afterAll(() => cleanup());

  it("refuses a store.url holding a user and password, naming the field and never the password", async () => {
    const path = join(dir, "userinfo.json");
    const config = { store: { url: "libsql://admin:hunter2-store-pw@db.example.com" }, agents: [orchestrator] };
    await writeFile(path, JSON.stringify(config));
    const migrated = await cli(["migrate", "--config", path]);
    expect(migrated.code).toBe(1);
    expect(migrated.stderr).toContain("holds a user and password");
    const checked = await cli(["config", "check", "--config", path]);
    expect(checked.stdout + checked.stderr).not.toContain("hunter2-store-pw");
    expect({ code: checked.code, namesField: checked.stderr.includes("store.url") }).toEqual({ code: 1, namesField: true });
  });
});

describe("config check refuses values that cannot work", () => {
  it("refuses an agent on the llama.cpp sidecar's port (ops.llama.url, default 127.0.0.1:8090)", () => {
    const telegram = {
      name: "tg",
      kind: "telegram",
      port: 8090,
      telegram: { mode: "polling", tokenEnv: "TG_TOKEN" },
    };
    expect(paths(issuesOf({ agents: [telegram, orchestrator], ops: { llama: {} } }))).toEqual(["agents[0].port"]);
    // "localhost" is the same address.
    const spelled = issuesOf({ agents: [telegram, orchestrator], ops: { llama: { url: "http://localhost:8090" } } });
    expect(paths(spelled)).toEqual(["agents[0].port"]);
    // Without a sidecar the port is free.
    expect(issuesOf({ agents: [telegram, orchestrator] })).toEqual([]);
  });

  it("refuses an HTTP endpoint written without its scheme (z.url() reads \"localhost:8090\" as the scheme \"localhost:\")", () => {
    // fetch refuses such a URL at every call; `systemd render` would write LLAMA_PORT=80 for the sidecar.
    expect(paths(issuesOf({
      agents: [orchestrator],
      router: { providers: { local: { kind: "llama-cpp", model: "qwen", baseUrl: "localhost:8090/v1" } }, chain: ["local"] },
    }))).toEqual(["router.providers.local.baseUrl"]);
    expect(paths(issuesOf({ agents: [orchestrator], ops: { llama: { url: "localhost:8090" } } }))).toEqual(["ops.llama.url"]);
    expect(paths(issuesOf({ agents: [orchestrator], cache: { embeddings: { baseUrl: "gpu-box:8090/v1" } } })))
      .toEqual(["cache.embeddings.baseUrl"]);
  });

  it("refuses model providers that no chain names: the orchestrator builds no router and never calls them", () => {
    const groq = { kind: "groq", model: "llama-3.1-8b-instant", apiKeyEnv: "GROQ_API_KEY" };
    const issues = issuesOf({ agents: [orchestrator], router: { providers: { groq } } });
    expect(paths(issues)).toEqual(["router.chain"]);
    expect(issues[0]!.message).toContain('"groq"');
    // A llama-cpp provider alone still serves the OpenAI endpoint's `local` model.
    const local = { kind: "llama-cpp", model: "qwen", baseUrl: "http://127.0.0.1:8090/v1" };
    expect(issuesOf({ agents: [orchestrator], router: { providers: { local } } })).toEqual([]);
  });

  it("refuses a back-off whose first step is above its cap (the cap would win: restarts every 10 s, not 1000 s)", () => {
    expect(paths(issuesOf({ agents: [orchestrator], ops: { restart: { minIntervalSec: 1_000, maxIntervalSec: 10 } } })))
      .toEqual(["ops.restart.minIntervalSec"]);
    expect(paths(issuesOf({ agents: [orchestrator], ops: { up: { restartMinMs: 50_000, restartMaxMs: 1_000 } } })))
      .toEqual(["ops.up.restartMinMs"]);
    expect(paths(issuesOf({ agents: [orchestrator], router: { retry: { baseDelayMs: 10_000, maxDelayMs: 100 } } })))
      .toEqual(["router.retry.baseDelayMs"]);
    // A first step equal to its cap is a fixed back-off.
    expect(issuesOf({ agents: [orchestrator], ops: { restart: { minIntervalSec: 60, maxIntervalSec: 60 } } })).toEqual([]);
  });
});

describe("the published JSON Schema agrees with the loader", () => {
  const schema = configJsonSchema();
  const accepted = (config: unknown) => issuesOf(config).length === 0;

  it("flags a leads section on a role not of kind leads, and a catalogue on one not of kind sales", () => {
    const cases: [string, unknown][] = [
      ["leads on a support role", { agents: [orchestrator], roles: { r: { kind: "support", systemPrompt: "x", leads: {} } } }],
      ["catalogue on a leads role", {
        agents: [orchestrator],
        roles: { r: { kind: "leads", systemPrompt: "x", catalogue: [{ name: "Pro", price: 29, currency: "USD" }] } },
      }],
    ];
    for (const [what, config] of cases) {
      expect([validateJsonSchema(schema, config), accepted(config)], what).toEqual([false, false]);
    }
    const leads = { agents: [orchestrator], roles: { r: { kind: "leads", systemPrompt: "x", leads: {} } } };
    expect([validateJsonSchema(schema, leads), accepted(leads)]).toEqual([true, true]);
  });

  it("flags an HTTP endpoint without its scheme", () => {
    const config = { agents: [orchestrator], ops: { llama: { url: "localhost:8090" } } };
    expect([validateJsonSchema(schema, config), accepted(config)]).toEqual([false, false]);
  });

  it("counts a web chat title's length in code points, as the loader does (60 emoji fit a 100-character title)", () => {
    const config = { agents: [{ name: "web", kind: "webchat", port: 9102, webchat: { title: "🙂".repeat(60) } }] };
    expect([validateJsonSchema(schema, config), accepted(config)]).toEqual([true, true]);
  });
});
