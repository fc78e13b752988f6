// A dead-letter reason is redacted before it is cut at 2,000 characters: a token on the cut no longer matched the
// redactor, and its first part was stored (and logged).
import { afterEach, describe, expect, it } from "vitest";
import { createSqliteBus, PermanentError } from "../../src/bus/mod.ts";
import { createRedactor } from "../../src/redact.ts";
import { freshDb, type TestDb } from "../bus/helpers.ts";

const TOKEN = "7104523311:AAHq9dTrXk2Lm8PzQw4VbN6sJ1cYfGe0uRt";

describe("dead-letter reasons and a secret at the 2,000-character cut", () => {
  let db: TestDb | undefined;
  afterEach(async () => {
    await db?.cleanup();
    db = undefined;
  });

  it("stores no part of a bot token that an error quotes near its 2,000th character", async () => {
    db = await freshDb();
    const bus = createSqliteBus(db.store, {
      redact: createRedactor([TOKEN]),
      wake: { fallbackMs: 10, pollMinMs: 2, pollMaxMs: 10 },
    });
    // A proxy's long error page quoting the Bot API URL, the token starting 40 characters before the cut (6 of its 46 cut off).
    const prefix = "PermanentError: ".length;
    const filler = "x".repeat(2_000 - prefix - "https://api.telegram.org/bot".length - 40);
    const message = `${filler}https://api.telegram.org/bot${TOKEN}/sendMessage`;
    await bus.subscribe("t", "g");
    let onDead!: () => void;
    const deadLettered = new Promise<void>((r) => (onDead = r));
    const consumer = bus.consume({
      topic: "t",
      group: "g",
      maxAttempts: 1,
      handler: () => Promise.reject(new PermanentError(message)),
      onDeadLetter: () => onDead(),
    });
    await bus.publish([{ topic: "t", key: "k", payload: { n: 1 } }]);
    await deadLettered;
    const dead = await bus.deadLetters();
    await consumer.stop(100);
    await bus.close();
    expect(dead).toHaveLength(1);
    const reason = dead[0]!.lastError;
    // The bot id and the first characters of the token's secret part must not be stored.
    expect(reason).not.toContain(TOKEN.slice(0, 20));
  });
});
