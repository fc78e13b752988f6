// `aideazz health`'s table: a skipped restart has no result, and systemctl's multi-line errors stay on one row.
import { describe, expect, it } from "vitest";
import { formatReport } from "../../src/ops/format.ts";

describe("health table", () => {
  it("shows a skip without a result and keeps multi-line reasons on their row", () => {
    const out = formatReport(
      {
        at: 0,
        status: "down",
        targets: [{ kind: "agent", target: "webchat", unit: "aideazz-agent@webchat.service", level: "down", detail: "connection refused" }],
        checks: [{ name: "database", level: "ok", detail: "writable" }],
      },
      [
        {
          target: "webchat",
          unit: "aideazz-agent@webchat.service",
          action: "skip",
          ok: true,
          reason: "cannot read the unit's state: Failed to connect to bus:\n  No such file or directory",
        },
        { target: "orchestrator", unit: "u", action: "restart", ok: false, detail: "Job failed.\nSee journalctl", reason: "down" },
      ],
    );
    const lines = out.split("\n");
    expect(lines).toContainEqual(
      expect.stringMatching(/^webchat\s+skip\s+—\s+cannot read the unit's state: Failed to connect to bus: No such file or directory$/),
    );
    expect(lines).toContainEqual(expect.stringMatching(/^orchestrator\s+restart\s+failed: Job failed\. See journalctl\s+down$/));
    expect(lines.at(-2)).toBe("status: down (exit 2)");
  });
});
