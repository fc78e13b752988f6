/**
 * A later year named in a timeline wins over "now" / "today" in the same sentence.
 */
import { describe, expect, it } from "vitest";
import { leadsSchema } from "../../src/agents/orchestrator/roles/config.ts";
import { scoreLead, timelineDays } from "../../src/agents/orchestrator/roles/score.ts";

const NOW = Date.UTC(2026, 11, 3, 12);

describe("timeline urgency", () => {
  // "for now" / "today" describe what the visitor does at present, not when the work is due.
  it("'next year' with 'for now' / 'right now' / 'today' in the sentence is not urgent", () => {
    for (
      const t of [
        "maybe next year, for now just gathering quotes",
        "sometime next year, we're busy right now",
        "not before next year; today we only compare offers",
      ]
    ) {
      expect(timelineDays(t, NOW), t).toBeGreaterThan(90);
    }
  });

  it("the score of such a lead gets half the timeline points, not all", () => {
    const cfg = leadsSchema.parse({});
    expect(scoreLead({ timeline: "maybe next year, for now just gathering quotes" }, cfg, NOW)).toBe(8);
  });
});
