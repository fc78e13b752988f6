/**
 * A leads role whose `leads.threshold` is above the most its `leads.weights` can score (their sum: score.ts) is
 * refused: no lead would ever qualify, so no operator notice and no high-value routing, without a word.
 */
import { describe, expect, it } from "vitest";
import { ConfigError, type ConfigIssue, loadConfig } from "../../src/config.ts";

const orchestrator = { name: "orchestrator", kind: "orchestrator", port: 9101 };

function issuesOf(config: unknown): ConfigIssue[] {
  try {
    loadConfig(JSON.stringify(config), {}, []);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return [];
}

const roleWith = (leads: Record<string, unknown>) => ({
  agents: [{ name: "web", kind: "webchat", role: "sales", port: 9102 }, orchestrator],
  roles: { sales: { kind: "leads", systemPrompt: "Qualify visitors.", leads } },
});

describe("leads.threshold against the most leads.weights can score", () => {
  it("weights of 1 each (6 at most) with the default threshold 60 are refused at the threshold", () => {
    const weights = { name: 1, company: 1, need: 1, budget: 1, timeline: 1, contact: 1 };
    const issues = issuesOf(roleWith({ weights }));
    expect(issues.map((i) => i.path)).toEqual(["roles.sales.leads.threshold"]);
    expect(issues[0]?.message).toContain("above 6");
  });

  it("the defaults (100 at most, 60 to qualify) and a threshold equal to the sum are accepted", () => {
    expect(issuesOf(roleWith({}))).toEqual([]);
    expect(issuesOf(roleWith({ threshold: 100 }))).toEqual([]);
  });
});
