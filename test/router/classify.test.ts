import { describe, expect, it } from "vitest";
import { classifyTurn, questionTypeOf } from "../../src/router/classify.ts";
import { type ClassifyConfig, DEFAULT_CLASSIFY } from "../../src/router/config.ts";

describe("classify", () => {
  it("detects question types", () => {
    expect(questionTypeOf("How do I reset my password?")).toBe("how");
    expect(questionTypeOf("Why was I charged twice?")).toBe("why");
    expect(questionTypeOf("What's the difference between plan 2 and plan 3?")).toBe("compare");
    expect(questionTypeOf("What are your opening hours?")).toBe("factual");
    expect(questionTypeOf("How much is plan 2?")).toBe("factual");
    expect(questionTypeOf("Do you ship to Spain?")).toBe("yes_no");
    expect(questionTypeOf("thanks!")).toBe("none");
    expect(questionTypeOf("price of plan 3?")).toBe("factual");
  });

  it("default rules: a qualified lead or one handed off is high-value; long or why/how/compare is complex", () => {
    const tier = (t: Parameters<typeof classifyTurn>[0]) => classifyTurn(t, DEFAULT_CLASSIFY).tier;
    expect(tier({ text: "ok", leadQualified: true })).toBe("high-value");
    expect(tier({ text: "send the invoice", stage: "handed_off" })).toBe("high-value");
    expect(tier({ text: "send the invoice", stage: "engaged" })).toBe("simple");
    expect(tier({ text: "x".repeat(400) })).toBe("complex");
    expect(tier({ text: "Why is my order late?" })).toBe("complex");
    expect(tier({ text: "What are your hours?" })).toBe("simple");
    expect(tier({ text: "hi" })).toBe("simple");
  });

  it("configured rules: first match wins, all conditions of a rule must hold, roles match name or kind", () => {
    const config: ClassifyConfig = {
      rules: [
        { tier: "high-value", roles: ["sales"], keywords: ["contract", "quote"] },
        { tier: "complex", roles: ["leads-bot"], minChars: 20 },
        { tier: "simple", maxChars: 10 },
      ],
      default: "complex",
    };
    expect(classifyTurn({ text: "Can I get a QUOTE?", roleKind: "sales" }, config)).toMatchObject({
      tier: "high-value",
      rule: 0,
    });
    expect(classifyTurn({ text: "Can I get a quote?", roleKind: "support" }, config).tier).toBe("complex");
    expect(classifyTurn({ text: "tell me more about you all", role: "leads-bot" }, config)).toMatchObject({
      tier: "complex",
      rule: 1,
    });
    expect(classifyTurn({ text: "hello", role: "leads-bot" }, config)).toMatchObject({
      tier: "simple",
      rule: 2,
    });
    expect(classifyTurn({ text: "something else entirely" }, config)).toMatchObject({
      tier: "complex",
      rule: -1,
    });
  });
});
