/**
 * `router.classify` rules naming a stage or role no turn has are refused: they would never match. A turn's stage is
 * "first" or "ongoing" (turn.ts), or for a leads role its lead's stage (LEAD_STAGES); a rule's roles compare
 * case-sensitively with the role's name or kind (classify.ts). The built-in rules must match real stages too.
 */
import { describe, expect, it } from "vitest";
import { LEAD_STAGES } from "../../src/agents/orchestrator/roles/leads.ts";
import { ConfigError, type ConfigIssue, loadConfig } from "../../src/config.ts";
import { classifyTurn, type TurnFacts } from "../../src/router/classify.ts";
import { DEFAULT_CLASSIFY, LEAD_TURN_STAGES, TURN_STAGES } from "../../src/router/config.ts";

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

const withRules = (rules: unknown[]) => ({
  agents: [{ name: "web", kind: "webchat", role: "sales", port: 9102 }, orchestrator],
  roles: { sales: { kind: "leads", systemPrompt: "Sell." } },
  router: { providers: { groq }, chain: ["groq"], classify: { rules } },
});

describe("router.classify rules that can never match", () => {
  it('a rule on a stage no turn has ("checkout") is refused, naming the stages a turn can have', () => {
    const issues = issuesOf(withRules([{ tier: "high-value", stages: ["checkout"] }]));
    expect(issues.map((i) => i.path)).toEqual(["router.classify.rules[0].stages[0]"]);
    expect(issues[0]?.message).toContain(TURN_STAGES.join(", "));
  });

  it('a rule on a role name no role has ("Sales" for role sales) is refused', () => {
    const issues = issuesOf(withRules([{ tier: "high-value", roles: ["Sales"] }]));
    expect(issues.map((i) => i.path)).toEqual(["router.classify.rules[0].roles[0]"]);
  });

  it("the stages, role names and kinds a turn really has are accepted", () => {
    const rules = [
      { tier: "high-value", stages: ["qualified", "engaged"] },
      { tier: "complex", stages: ["ongoing"] },
      { tier: "complex", roles: ["sales", "leads", "default", "api"] },
    ];
    expect(issuesOf(withRules(rules))).toEqual([]);
  });

  it("every lead stage is a stage a rule may name, and the stages a leads role's turn has", () => {
    expect(LEAD_TURN_STAGES).toEqual(LEAD_STAGES);
    expect(TURN_STAGES).toEqual(expect.arrayContaining([...LEAD_STAGES]));
  });

  it("the built-in stage rule matches leads an operator took over or that qualified", () => {
    const rule = DEFAULT_CLASSIFY.rules.find((r) => r.stages !== undefined)!;
    const matched = TURN_STAGES.filter((stage) => {
      const turn: TurnFacts = { text: "ok", role: "sales", roleKind: "leads", stage, leadQualified: false };
      return classifyTurn(turn, { ...DEFAULT_CLASSIFY, rules: [rule] }).tier === "high-value";
    });
    expect(matched).toEqual(["qualified", "handed_off"]);
  });
});
