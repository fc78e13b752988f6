// Under Deno every row iterator libsql creates leaks over 100 bytes (src/store/writer.ts; `npm run bench -- store`):
// the statements of a turn (the bus round, the chat inbox, saved answers, recent turns, the cache, the user's
// count, the reply's publish) must not create one, or the orchestrator grows with every message it answers.
import { afterEach, expect, it, vi } from "vitest";
import { PUBLISH } from "../../src/bus/sqlite-sql.ts";
import { databasePrototype, statementPrototype } from "../support/libsql.ts";
import { type Harness, startHarness } from "./harness.ts";

let h: Harness;
afterEach(async () => {
  vi.restoreAllMocks();
  await h?.close();
});

it("FAQ, cache and follow-up turns create no row iterator", async () => {
  // The SQL of each statement: spied before the store opens (a connection keeps the `prepare` it was opened with).
  const sqlOf = new WeakMap<object, string>();
  const prepare = databasePrototype.prepare;
  vi.spyOn(databasePrototype, "prepare").mockImplementation(function (this: unknown, ...args: unknown[]) {
    const stmt = Reflect.apply(prepare, this, args) as object;
    sqlOf.set(stmt, String(args[0]));
    return stmt;
  });
  h = await startHarness();
  h.groq.script({ kind: "ok", text: "Shipping to Spain takes 3 days." });
  await h.ask("a", "How long does shipping to Spain take?");
  await h.waitForReplies(1);
  const iterated: string[] = [];
  const iterate = statementPrototype.iterate;
  vi.spyOn(statementPrototype, "iterate").mockImplementation(function (this: object, ...args: unknown[]) {
    iterated.push(sqlOf.get(this) ?? "?");
    return Reflect.apply(iterate, this, args);
  });
  await h.ask("b", "when are you open?");
  await h.ask("c", "How long does shipping to Spain take?");
  await h.ask("a", "when are you open?"); // a chat with turns already
  const replies = await h.waitForReplies(4);
  expect(replies.slice(1).map((r) => [r.chatId, r.text])).toEqual(
    expect.arrayContaining([
      ["b", "We are open 9 to 5."],
      ["c", "Shipping to Spain takes 3 days."],
      ["a", "We are open 9 to 5."],
    ]),
  );
  expect(h.modelCalls()).toBe(1);
  // The harness's own publishes (what a channel's ingress does: it needs the ids RETURNING gives) aside.
  expect(iterated.filter((sql) => sql !== PUBLISH)).toEqual([]);
  expect(iterated.length).toBe(3);
});
