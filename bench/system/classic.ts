// The classic design's parameters (shared/reference/classic-design.md; the same SQL as bench/bus/classic.ts),
// as a two-process pipeline on the same client and file settings, so the system benchmark can measure it
// side by side with the real agents: a Telegram webhook that inserts one row per update, an orchestrator that
// polls every second (`SELECT … WHERE topic = 'inbound' AND processed = 0 LIMIT 10`, one UPDATE per row) and
// answers from the same FAQ matcher, and the channel's sender polling the outbound rows the same way and
// calling sendMessage on the fake Bot API.
// Usage: classic.ts DB setup | DB channel PORT SECRET API_ROOT TOKEN | DB orchestrator FAQ_PATH
import { readFile } from "node:fs/promises";
import process from "node:process";
import { serve } from "../../src/platform.ts";
import { createFaq, parseFaq } from "../../src/router/faq.ts";
import { openStore } from "../../src/store/mod.ts";

const [path, role, ...rest] = process.argv.slice(2);
const store = await openStore({ url: `file:${path}` });
const { client } = store;

/** The classic consumer: every second, up to 10 unprocessed rows, one UPDATE each. */
function poll(topic: string, handle: (payload: Record<string, unknown>) => Promise<void>) {
  setInterval(async () => {
    const rs = await client.execute({
      sql: "SELECT * FROM messages WHERE topic = ? AND processed = 0 LIMIT 10",
      args: [topic],
    });
    for (const row of rs.rows) {
      await handle(JSON.parse(String(row["payload"])));
      await client.execute({ sql: "UPDATE messages SET processed = 1 WHERE id = ?", args: [Number(row["id"])] });
    }
  }, 1_000);
}

const publish = (topic: string, payload: unknown) =>
  client.execute({
    sql: "INSERT INTO messages (topic, payload, created_at) VALUES (?, ?, ?)",
    args: [topic, JSON.stringify(payload), Date.now()],
  });

if (role === "setup") {
  await client.execute(`CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, topic TEXT NOT NULL,
    payload TEXT NOT NULL, created_at INTEGER NOT NULL, processed INTEGER NOT NULL DEFAULT 0)`);
  store.close();
} else if (role === "channel") {
  const [port, secret, apiRoot, token] = rest;
  await serve({
    port: Number(port),
    hostname: "127.0.0.1",
    fetch: async (req) => {
      if (req.headers.get("X-Telegram-Bot-Api-Secret-Token") !== secret) return new Response("no", { status: 401 });
      const update = await req.json() as { message?: { chat?: { id?: number }; text?: string } };
      await publish("inbound", { chat: update.message?.chat?.id, text: update.message?.text ?? "" });
      return Response.json({ ok: true });
    },
  });
  poll("outbound", async (p) => {
    await fetch(`${apiRoot}/bot${token}/sendMessage`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ chat_id: p["chat"], text: p["text"] }),
    }).then((r) => r.body?.cancel());
  });
} else if (role === "orchestrator") {
  const faq = createFaq(parseFaq(await readFile(rest[0]!, "utf8")));
  poll("inbound", async (p) => {
    const answer = faq.answer(String(p["text"]))?.answer ?? "A person will follow up.";
    await publish("outbound", { chat: p["chat"], text: answer });
  });
} else {
  process.stderr.write("usage: classic.ts DB setup|channel|orchestrator …\n");
  process.exit(2);
}
