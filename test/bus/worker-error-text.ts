// A consumer whose handler fails once with an error whose text is cut (at 2,000 characters) inside an emoji, then
// succeeds: the retry's claim reads that stored text back. Prints {attempts, lastError} of what it saw and the dead
// letter's text of a second message that fails that way every time. Usage: worker-error-text.ts DB_PATH
import process from "node:process";
import { createSqliteBus } from "../../src/bus/mod.ts";
import { migrate, openStore } from "../../src/store/mod.ts";

setTimeout(() => {
  process.stdout.write(`${JSON.stringify({ error: "timed out" })}\n`);
  process.exit(2);
}, 20_000).unref();

const store = await openStore({ url: `file:${process.argv[2]}` });
await migrate(store.client);
const bus = createSqliteBus(store, { wake: { watch: false } });
await bus.subscribe("t", "g");
await bus.publish([{ topic: "t", key: "once", payload: "once" }, { topic: "t", key: "always", payload: "always" }]);
// "Error: " and 1,992 letters: the 2,000th character is the emoji's first half.
const error = () => new Error(`${"a".repeat(1_992)}😀 and more`);
const attempts: number[] = [];
const c = bus.consume({
  topic: "t",
  group: "g",
  maxAttempts: 2,
  retryBaseMs: 10,
  retryMaxMs: 10,
  handler: (d) => {
    if (d.payload === "always") return Promise.reject(error());
    attempts.push(d.attempt);
    return d.attempt === 1 ? Promise.reject(error()) : Promise.resolve();
  },
});
while (attempts.length < 2 || (await bus.deadLetters()).length === 0) await new Promise((r) => setTimeout(r, 10));
const [dead] = await bus.deadLetters();
await c.stop();
await bus.close();
store.close();
process.stdout.write(`${JSON.stringify({ attempts, dead: dead!.lastError.slice(-4) })}\n`);
