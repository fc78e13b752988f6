/**
 * `router.classify` rules whose roles' turns never carry the rule's stage or lead flag are refused: they would never
 * match. A support or sales role's turn is "first" or "ongoing" (turn.ts); a leads role's always has its lead's stage
 * and flag (leads-flow.ts); an "api" turn (the OpenAI endpoint) has no stage, kind or flag (openai.ts).
 */
import { describe, expect, it } from "vitest";
import { ConfigError, type ConfigIssue, loadConfig } from "../../src/config.ts";

function issuesOf(config: unknown): ConfigIssue[] {
  try {
    loadConfig(JSON.stringify(config), {}, []);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return [];
}

const roles = {
  helpdesk: { kind: "support", systemPrompt: "You help." },
  shop: { kind: "leads", systemPrompt: "You sell." },
};
const withRule = (rule: Record<string, unknown>) => ({
  agents: [{ name: "orchestrator", kind: "orchestrator", port: 9101 }],
  roles,
  router: { classify: { rules: [rule] } },
});
const pathsOf = (rule: Record<string, unknown>) => issuesOf(withRule(rule)).map((i) => i.path);

describe("classify rules whose roles never reach their stages or lead flag", () => {
  it('refuses "first" on a rule only for leads roles (their turns carry the lead\'s stage)', () => {
    const issues = issuesOf(withRule({ tier: "complex", roles: ["leads"], stages: ["first"] }));
    expect(issues.map((i) => i.path)).toEqual(["router.classify.rules[0].stages"]);
    expect(issues[0]!.message).toContain("new, engaged, qualified, handed_off, closed");
  });

  it("refuses a lead stage on a rule only for a support role (by name or the default role)", () => {
    expect(pathsOf({ tier: "high-value", roles: ["helpdesk"], stages: ["qualified"] }))
      .toEqual(["router.classify.rules[0].stages"]);
    expect(pathsOf({ tier: "high-value", roles: ["default"], stages: ["qualified"] }))
      .toEqual(["router.classify.rules[0].stages"]);
  });

  it('refuses stages on a rule only for "api" (its turns carry no stage)', () => {
    expect(pathsOf({ tier: "complex", roles: ["api"], stages: ["first"] })).toEqual(["router.classify.rules[0].stages"]);
  });

  it("refuses leadQualified: true when no named role is a leads role, and a chat stage with it", () => {
    expect(pathsOf({ tier: "high-value", roles: ["helpdesk", "api"], leadQualified: true }))
      .toEqual(["router.classify.rules[0].leadQualified"]);
    expect(pathsOf({ tier: "high-value", leadQualified: true, stages: ["ongoing"] }))
      .toEqual(["router.classify.rules[0].stages"]);
  });

  it("accepts rules some named role can match: one reachable stage is enough", () => {
    expect(pathsOf({ tier: "complex", roles: ["shop"], stages: ["first", "qualified"] })).toEqual([]);
    expect(pathsOf({ tier: "complex", roles: ["helpdesk", "shop"], stages: ["first"] })).toEqual([]);
    expect(pathsOf({ tier: "high-value", roles: ["shop"], leadQualified: true, stages: ["handed_off"] })).toEqual([]);
    expect(pathsOf({ tier: "complex", roles: ["api"], leadQualified: false })).toEqual([]);
  });
});
