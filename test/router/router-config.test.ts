import { describe, expect, it } from "vitest";
import { z } from "zod";
import { DEFAULT_CLASSIFY, resolveRouterSettings, routerSchema } from "../../src/router/config.ts";

const groq = {
  kind: "groq",
  baseUrl: "https://api.groq.com/openai/v1",
  model: "llama-3.1-8b-instant",
  apiKeyEnv: "GROQ_API_KEY",
};
const claude = {
  kind: "anthropic",
  baseUrl: "https://api.anthropic.com/v1",
  model: "claude-haiku-4-5",
  apiKeyEnv: "ANTHROPIC_API_KEY",
};

function issues(config: unknown): string[] {
  const r = routerSchema.safeParse(config);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
}

describe("router config", () => {
  it("fills defaults: per-provider timeout and bulkhead, retries, breaker, classification, chains per class", () => {
    const s = resolveRouterSettings(
      routerSchema.parse({ providers: { groq }, chain: ["groq"], tiers: { "high-value": ["groq"] } }),
    );
    expect(s.providers["groq"]).toMatchObject({ timeoutMs: 3_000, maxConcurrent: 4 });
    expect(s.retry).toEqual({ maxAttempts: 3, baseDelayMs: 250, maxDelayMs: 5_000 });
    expect(s.breaker).toEqual({ failureThreshold: 5, windowMs: 60_000, cooldownMs: 30_000 });
    expect(s.budget).toEqual({ lowFraction: 0.2, prices: {} });
    expect(s.classify).toBe(DEFAULT_CLASSIFY);
    expect(s.chains).toEqual({ simple: ["groq"], complex: ["groq"], "high-value": ["groq"] });
  });

  it("gives a llama-cpp provider one call at a time unless the config says more", () => {
    const local = { kind: "llama-cpp", baseUrl: "http://127.0.0.1:8090/v1", model: "tiny" };
    const s = resolveRouterSettings(
      routerSchema.parse({ providers: { groq, local, wide: { ...local, maxConcurrent: 3 } }, chain: ["groq", "local"] }),
    );
    expect(s.providers["local"]!.maxConcurrent).toBe(1);
    expect(s.providers["wide"]!.maxConcurrent).toBe(3);
    expect(s.providers["groq"]!.maxConcurrent).toBe(4);
  });

  it("groq and anthropic default to their public APIs; a llama-cpp or OpenAI-compatible server must be named", () => {
    const { baseUrl: _g, ...bareGroq } = groq;
    const { baseUrl: _c, ...bareClaude } = claude;
    const prices = { "claude-haiku-4-5": { inputUsdPerMTok: 1, outputUsdPerMTok: 5 } };
    expect(issues({ providers: { groq: bareGroq, claude: bareClaude }, chain: ["groq", "claude"], budget: { prices } }))
      .toEqual([]);
    // Other mistakes are reported beside it.
    expect(issues({ providers: { local: { kind: "llama-cpp", model: "tiny" } }, chain: ["zz"] })).toEqual([
      "providers.local.baseUrl: required for kind llama-cpp: where the server listens",
      'chain.0: unknown provider "zz"; declare it under router.providers',
    ]);
  });

  it("rejects unknown fields, unknown providers in any chain, and a Claude model without a price or priced $0", () => {
    expect(issues({ providers: { groq: { ...groq, timeout: 5 } }, chain: ["groq"] })).toEqual([
      expect.stringMatching(/^providers\.groq: Unrecognized key/),
    ]);
    expect(issues({ providers: { groq }, chain: ["groq"], tiers: { complex: ["groq", "claude"] } })).toEqual([
      'tiers.complex.1: unknown provider "claude"; declare it under router.providers',
    ]);
    // A provider named twice would be sent a request it refused again; tiers without a chain for every class
    // (and no router.chain) would fail every turn of the others.
    expect(issues({ providers: { groq }, chain: ["groq", "groq"] })).toEqual(['chain.1: provider "groq" is named twice']);
    expect(issues({ providers: { groq }, tiers: { simple: ["groq"], "high-value": ["groq"] } })).toEqual([
      "tiers.complex: no chain for complex turns: give tiers.complex, or router.chain for every class without its own",
    ]);
    expect(issues({ providers: { claude }, chain: ["claude"] })).toEqual([
      'providers.claude.model: no price for model "claude-haiku-4-5"; add it under router.budget.prices so spend can be computed',
    ]);
    expect(
      issues({
        providers: { claude },
        chain: ["claude"],
        budget: { prices: { "claude-haiku-4-5": { inputUsdPerMTok: 1, outputUsdPerMTok: 5 } } },
      }),
    ).toEqual([]);
    // Priced $0, a Claude model would never count against the caps.
    const free = { "claude-haiku-4-5": { inputUsdPerMTok: 0, outputUsdPerMTok: 0 } };
    expect(issues({ providers: { claude }, chain: ["claude"], budget: { prices: free } }))
      .toEqual([
        'budget.prices.claude-haiku-4-5: Claude bills every call; give "claude-haiku-4-5" its price per million input and output tokens',
      ]);
    expect(issues({ classify: { rules: [{ tier: "urgent" }] } })).toHaveLength(1);
    expect(issues({ budget: { lowFraction: 2 } })).toHaveLength(1);
  });

  it("every field of the router section is described (the JSON Schema editors show)", () => {
    const missing: string[] = [];
    const walk = (node: unknown, path: string) => {
      if (typeof node !== "object" || node === null) return;
      const n = node as Record<string, unknown>;
      for (
        const [key, prop] of Object.entries(
          (n["properties"] ?? {}) as Record<string, Record<string, unknown>>,
        )
      ) {
        if (typeof prop["description"] !== "string") missing.push(`${path}.${key}`);
        walk(prop, `${path}.${key}`);
      }
      for (const k of ["items", "additionalProperties"]) walk(n[k], `${path}[]`);
      for (const k of ["anyOf", "oneOf", "allOf"]) {
        for (const sub of (n[k] ?? []) as unknown[]) walk(sub, path);
      }
    };
    walk(z.toJSONSchema(routerSchema, { io: "input", unrepresentable: "any" }), "router");
    expect(missing).toEqual([]);
  });
});
