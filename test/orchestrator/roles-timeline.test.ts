/**
 * Lead scoring of timelines as a visitor (and the extraction, "as stated") writes them: a lead that needs it soon
 * must get the timeline's full points (README: Roles, "full within urgentDays, half when later or vague").
 */
import { describe, expect, it } from "vitest";
import { leadsSchema } from "../../src/agents/orchestrator/roles/config.ts";
import { scoreLead, timelineDays } from "../../src/agents/orchestrator/roles/score.ts";

const NOW = Date.UTC(2025, 5, 1);
const cfg = leadsSchema.parse({}); // threshold 60, urgentDays 90

describe("timelines (leads2 review)", () => {
  it("a fractional period is read whole: '1.5 months' is 45 days, not 5 months", () => {
    expect(timelineDays("within 1.5 months", NOW)).toBe(45);
    expect(timelineDays("in 2.5 weeks", NOW)).toBe(18);
  });

  it("periods written in words are as urgent as in digits ('in two weeks', 'within a week', 'in a month')", () => {
    expect(timelineDays("in two weeks", NOW)).toBe(14);
    expect(timelineDays("within a week", NOW)).toBe(7);
    expect(timelineDays("in a month", NOW)).toBe(30);
    expect(timelineDays("in a couple of weeks", NOW)).toBeLessThanOrEqual(cfg.urgentDays);
  });

  it("'ASAP, we have no website yet' is urgent: the negation is about something else", () => {
    expect(timelineDays("ASAP, we have no website yet", NOW)).toBe(0);
  });

  it("a lead that qualifies with 'in 2 weeks' qualifies with 'in two weeks' and 'within 1.5 months'", () => {
    const lead = { name: "Ann", need: "a support bot", budget: "about $5k", contact: "Telegram @ann" };
    // 10 + 20 + 20 + 10 (a contact without address or phone) = 60; + 15 for an urgent timeline = 75, + 7.5 (68) for a vague one.
    const strict = leadsSchema.parse({ threshold: 70 });
    expect(scoreLead({ ...lead, timeline: "in 2 weeks" }, strict, NOW)).toBeGreaterThanOrEqual(70);
    expect(scoreLead({ ...lead, timeline: "in two weeks" }, strict, NOW)).toBeGreaterThanOrEqual(70);
    expect(scoreLead({ ...lead, timeline: "within 1.5 months" }, strict, NOW)).toBeGreaterThanOrEqual(70);
  });

  it("a count in words needs its own word: 'ah' and 'yeah' are no hour", () => {
    const now = Date.UTC(2026, 0, 10);
    expect([timelineDays("ah, not sure", now), timelineDays("yeah, next month", now)]).toEqual([365, 30]);
  });
});
