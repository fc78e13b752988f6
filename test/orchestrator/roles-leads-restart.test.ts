/**
 * The turn that qualifies a lead, interrupted between its reply's commit and its extraction (a crash, or a stop whose
 * handler outlived the stop timeout: the message is given back and redelivered). The redelivery publishes the saved
 * answer and runs the extraction again (the turn not counted twice): the lead is qualified and the operator told.
 */
import { afterEach, describe, expect, it } from "vitest";
import { OPERATOR, type RolesHarness, type RolesHarnessOptions, startRolesHarness } from "./roles-harness.ts";

let h: RolesHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const QUALIFYING =
  '{"name": "Ann Lee", "company": "Acme Ltd", "need": "a support chatbot", "budget": "about $5k", "timeline": "next month", "contact": "ann@acme.io"}';

describe("lead extraction across a restart (leads2 review)", () => {
  it("a turn redelivered after its reply committed but before its extraction ran still qualifies the lead and notifies the operator", async () => {
    const base: RolesHarnessOptions = {
      roles: {
        sdr: {
          kind: "leads",
          systemPrompt: "You are Acme's assistant. Find out how we can help the visitor.",
          operator: OPERATOR,
          leads: {},
        },
      },
      channels: { site: "sdr" },
      cache: { enabled: false },
    };
    h = await startRolesHarness(base);
    // A provider slower than the stop timeout (15 s) on the extraction call: the stop abandons the handler.
    const slow: RolesHarnessOptions = {
      ...base,
      router: {
        deadlineMs: 60_000,
        providers: {
          groq: { kind: "groq", baseUrl: h.groq.url, model: "llama-3.1-8b-instant", apiKeyEnv: "GROQ_KEY", timeoutMs: 60_000 },
        },
      },
    };
    await h.restart(slow);
    h.groq.script(
      { kind: "ok", text: "Thanks Ann, someone will contact you shortly." },
      { kind: "ok", text: QUALIFYING, delayMs: 40_000 },
    );
    const inbound = await h.ask("site", "v1", "I'm Ann Lee from Acme Ltd, we need a support chatbot, about $5k, next month; ann@acme.io");
    await h.waitForReplies(1, 20_000);
    await h.waitFor(() => h!.modelCalls() >= 2, 10_000); // the extraction is on the wire
    // The process goes away mid-extraction (here: a stop whose handler outlives its timeout; a kill -9 is the same).
    h.groq.script({ kind: "ok", text: QUALIFYING });
    await h.restart(slow);
    // The new process takes the message over; give it time to do whatever it does with it.
    // The new process took the message over and finished it (its delivery row is gone once acked).
    await h.waitFor(async () =>
      (await h!.rows("SELECT count(*) AS n FROM bus_deliveries WHERE msg_id = ?", [inbound]))[0]?.["n"] === 0, 20_000);
    await new Promise((r) => setTimeout(r, 3_000)); // time for an extraction, had there been one
    const lead = (await h.rows("SELECT stage, contact FROM leads WHERE chat = 'site:v1'"))[0];
    const notices = h.replies.filter((r) => r.agent === OPERATOR.agent && r.text.startsWith("Qualified lead"));
    expect({ stage: lead?.["stage"], contact: lead?.["contact"] ?? null, notices: notices.length }).toEqual({
      stage: "qualified",
      contact: "ann@acme.io",
      notices: 1,
    });
  }, 90_000);
});
