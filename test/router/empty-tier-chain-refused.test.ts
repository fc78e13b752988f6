/**
 * An explicitly empty tier chain (`router.tiers.simple: []`) is refused: `??` keeps an empty array, so every turn of
 * that class would walk an empty chain (fallback notice, retries, dead letter) without asking any provider.
 */
import { describe, expect, it } from "vitest";
import { ConfigError, type ConfigIssue, loadConfig } from "../../src/config.ts";
import { resolveRouterSettings } from "../../src/router/config.ts";

const orchestrator = { name: "orchestrator", kind: "orchestrator", port: 9101 };
const groq = { kind: "groq", model: "llama-3.1-8b-instant", apiKeyEnv: "GROQ_API_KEY" };

function issuesOf(config: unknown): ConfigIssue[] {
  try {
    loadConfig(JSON.stringify(config), {}, []);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return [];
}

describe("an explicitly empty tier chain", () => {
  it("is refused beside a router.chain that would have served the class", () => {
    const issues = issuesOf({
      agents: [orchestrator],
      router: { providers: { groq }, chain: ["groq"], tiers: { simple: [] } },
    });
    expect(issues.map((i) => i.path)).toEqual(["router.tiers.simple"]);
  });

  it("is refused when every tier is given and one is empty (no router.chain)", () => {
    const issues = issuesOf({
      agents: [orchestrator],
      router: { providers: { groq }, tiers: { simple: [], complex: ["groq"], "high-value": ["groq"] } },
    });
    expect(issues.map((i) => i.path)).toEqual(["router.tiers.simple"]);
  });

  it("a tier left out, as the message advises, walks router.chain", () => {
    const config = loadConfig(
      JSON.stringify({
        agents: [orchestrator],
        router: { providers: { groq }, chain: ["groq"], tiers: { complex: ["groq"] } },
      }),
      {},
      [],
    );
    expect(resolveRouterSettings(config.router).chains.simple).toEqual(["groq"]);
  });
});
