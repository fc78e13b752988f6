// A handoff notice is a new bus message: its text is redacted `retentionDays` after the notice is published, not
// after the turns it quotes. So it forwards only the last hour's turns; an older turn is neither forwarded nor left
// in bus_messages once conversation retention has deleted it.
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { REDACTED_PAYLOAD } from "../../src/bus/mod.ts";
import type { RunningAgent } from "../../src/agents/runtime.ts";
import { OPERATOR, type RolesHarness, startRolesHarness } from "../orchestrator/roles-harness.ts";
import { runTestAgent } from "../support/agent.ts";
import { freePort } from "../support/ports.ts";

const DAY = 86_400_000;
const SECRET = "12 Elm Street, flat 4B";

let h: RolesHarness | undefined;
let later: RunningAgent | undefined;
afterEach(async () => {
  await later?.stop();
  await h?.close();
  later = undefined;
  h = undefined;
});

const ROLES = {
  support: { kind: "support", systemPrompt: "You are Acme's support assistant.", operator: OPERATOR },
};

describe("handoff notice and retention", () => {
  it("forwards the last hour's turns only; an older turn's text is gone from the store once retention deletes it", async () => {
    h = await startRolesHarness({ roles: ROLES, channels: { site: "support" }, cache: { enabled: false } });
    const t0 = Date.now();
    const turn = (role: string, text: string, at: number) => ({
      sql: "INSERT INTO conversation_turns (chat, role, text, at) VALUES ('site:v1', ?, ?, ?)",
      args: [role, text, at],
    });
    // The address 29 days ago (within the 30-day retention), a question 10 minutes ago.
    await h.store.client.batch([
      turn("user", `Please deliver to ${SECRET}`, t0 - 29 * DAY),
      turn("assistant", "Noted, we will deliver there.", t0 - 29 * DAY + 1_000),
      turn("user", "Where is my parcel?", t0 - 600_000),
      turn("assistant", "It left our warehouse today.", t0 - 599_000),
    ], "write");
    await h.ask("site", "v1", "/human");
    const replies = await h.waitForReplies(2);
    const notice = replies.find((r) => r.agent === OPERATOR.agent)?.text;
    expect(notice).toContain("Where is my parcel?");
    expect(notice).not.toContain("Elm Street");
    await h.agent.stop();

    // Day 31 since the address was written: the orchestrator's retention runs at its start.
    const port = await freePort();
    const config = loadConfig(
      JSON.stringify({
        store: { url: h.dbUrl },
        roles: ROLES,
        agents: [
          { name: "site", kind: "webchat", role: "support", port: port + 1 },
          { name: OPERATOR.agent, kind: "telegram", port: port + 2, telegram: { mode: "polling", tokenEnv: "TG_TOKEN" } },
          { name: "orchestrator", kind: "orchestrator", port },
        ],
        conversation: { retentionDays: 30 },
        metrics: { flushIntervalMs: 60_000 },
      }),
      { TG_TOKEN: "123:fake" },
    );
    later = await runTestAgent({
      config,
      name: "orchestrator",
      secrets: { TG_TOKEN: "123:fake" },
      now: () => Date.now() + 2 * DAY,
    });
    await h.waitFor(async () =>
      (await h!.rows("SELECT count(*) AS n FROM conversation_turns WHERE text LIKE '%Elm Street%'"))[0]!["n"] === 0
    );
    // The bus's redaction pass of that start runs before its first consumer round ends.
    await new Promise((r) => setTimeout(r, 1_000));
    const left = await h.rows(
      "SELECT topic, refs, payload FROM bus_messages WHERE payload LIKE '%Elm Street%' AND payload <> ?",
      [REDACTED_PAYLOAD],
    );
    expect(left.map((r) => `${r["topic"]} (refs ${r["refs"]}): ${String(r["payload"]).slice(0, 100)}`)).toEqual([]);
  }, 40_000);
});
