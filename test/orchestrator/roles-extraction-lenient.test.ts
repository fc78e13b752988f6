/**
 * What the lead extraction keeps from a model's answer: placeholders are no answers, a field of the wrong type
 * costs only that field, and braces in the prose around the JSON do not lose it.
 */
import { afterEach, describe, expect, it } from "vitest";
import { parseExtraction } from "../../src/agents/orchestrator/roles/extract.ts";
import { OPERATOR, type RolesHarness, startRolesHarness } from "./roles-harness.ts";

let h: RolesHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("placeholders other than the listed ones", () => {
  // Stored as answers, these six would score 73 and qualify a visitor who only said hello.
  it("a visitor who said nothing is not qualified by a model writing '—', 'Not disclosed', 'Not provided yet' …", async () => {
    h = await startRolesHarness({
      roles: {
        sdr: {
          kind: "leads",
          systemPrompt: "You are Acme's assistant. Find out how we can help the visitor.",
          operator: OPERATOR,
        },
      },
      channels: { site: "sdr" },
      cache: { enabled: false },
    });
    h.groq.script(
      { kind: "ok", text: "Hello! How can we help?" },
      {
        kind: "ok",
        text: '{"name": "—", "company": "(none)", "need": "Not specified yet", "budget": "Not disclosed", ' +
          '"timeline": "Not available", "contact": "Not provided yet"}',
      },
    );
    await h.ask("site", "v1", "hello");
    await h.waitForReplies(1);
    await h.waitFor(() => h!.modelCalls() === 2);
    await sleep(400);
    const lead = (await h.rows("SELECT * FROM leads WHERE chat = 'site:v1'"))[0];
    expect(
      {
        stage: lead?.["stage"],
        score: lead?.["score"],
        notices: h.replies.filter((r) => r.agent === OPERATOR.agent).map((r) => r.text),
      },
    ).toEqual({ stage: "new", score: 0, notices: [] });
  });

  it("parseExtraction: common placeholders are no answers", () => {
    for (const p of ["—", "–", "(none)", "Not disclosed", "Not provided yet", "Not available", "Not mentioned yet", "..."]) {
      expect(parseExtraction(JSON.stringify({ name: "Ann", budget: p })), p).toEqual({ name: "Ann" });
    }
  });
});

describe("one malformed field", () => {
  // Small models give `need` as a list or `contact` as an object: the name they gave alongside still counts.
  it("keeps the usable fields of an answer whose other field is a list or an object", () => {
    expect(parseExtraction('{"name": "Ann Lee", "need": ["a chatbot", "a dashboard"], "budget": null}')).toMatchObject({
      name: "Ann Lee",
    });
    expect(parseExtraction('{"name": "Ann Lee", "contact": {"email": "ann@acme.io", "phone": null}}')).toMatchObject({
      name: "Ann Lee",
    });
    expect(parseExtraction('{"name": "Ann Lee", "company": false}')).toEqual({ name: "Ann Lee" });
  });
});

describe("surrounding prose", () => {
  // The text from the first "{" to the last "}" would be no JSON here.
  it("reads the JSON object when the prose after it has a brace", () => {
    expect(
      parseExtraction('{"name": "Ann Lee", "budget": null}\nNote: the budget was left open ({} in the form).'),
    ).toEqual({ name: "Ann Lee" });
  });
});
