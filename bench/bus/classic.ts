// The classic design (shared/reference/classic-design.md) as the baseline, on the same client and settings:
// the producer inserts one row per message; each consumer polls every second with
// `SELECT … WHERE processed = 0 LIMIT 10` and marks each row with its own UPDATE. Two consumers may take the
// same rows (the race the bus removes): we count distinct rows processed.
// Usage: classic.ts DB setup | producer RATE DURATION_MS | consumer
import process from "node:process";
import { openStore } from "../../src/store/mod.ts";

const [path, role, rateArg, durationArg] = process.argv.slice(2);
const store = await openStore({ url: `file:${path}` });
const { client } = store;

if (role === "setup") {
  await client.execute(`CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, topic TEXT NOT NULL,
    payload TEXT NOT NULL, created_at INTEGER NOT NULL, processed INTEGER NOT NULL DEFAULT 0)`);
  store.close();
} else if (role === "producer") {
  const rate = Number(rateArg);
  const start = performance.now();
  let sent = 0;
  while (performance.now() - start < Number(durationArg)) {
    const due = Math.floor(((performance.now() - start) * rate) / 1_000) - sent;
    for (let i = 0; i < due; i++) {
      await client.execute({
        sql: "INSERT INTO messages (topic, payload, created_at) VALUES (?, ?, ?)",
        args: ["bench", JSON.stringify({ t: Date.now() }), Date.now()],
      });
    }
    sent += Math.max(0, due);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  store.close();
  process.stdout.write(`${JSON.stringify({ published: sent })}\n`);
} else {
  const ids: number[] = [];
  const timer = setInterval(async () => {
    const rs = await client.execute({
      sql: "SELECT * FROM messages WHERE topic = ? AND processed = 0 LIMIT 10",
      args: ["bench"],
    });
    for (const row of rs.rows) {
      JSON.parse(String(row["payload"])); // the handler
      await client.execute({
        sql: "UPDATE messages SET processed = 1 WHERE id = ?",
        args: [Number(row["id"])],
      });
      ids.push(Number(row["id"]));
    }
  }, 1_000);
  process.on("SIGTERM", () => {
    clearInterval(timer);
    store.close();
    process.stdout.write(`${JSON.stringify({ ids })}\n`);
    process.exit(0);
  });
}
