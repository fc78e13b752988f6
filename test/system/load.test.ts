// The system benchmark's load generator (bench/system/load.ts driving wrk with bench/system/wrk.lua) against a
// real HTTP server on loopback: every prepared request posted once, with its platform's header, each answer
// timed and counted.
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { LoadPlan, LoadResult } from "../../bench/system/load.ts";
import { runLoad as runGenerator } from "../../bench/system/measure.ts";
import { signature } from "../fakes/graph.ts";
import { repoRoot } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let server: Server | undefined;
let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server ? server.close(r) : r(undefined));
  await cleanup?.();
  server = cleanup = undefined;
});

/**
 * A webhook receiver answering 200 after 2 ms (or `status` for paths it names). `misbehave(i)` may take over the
 * answer to the i-th request (0-based): "drop" closes the connection without answering, "hang" never answers.
 */
async function receiver(
  status: Record<string, number> = {},
  misbehave: (i: number) => "drop" | "hang" | undefined = () => undefined,
): Promise<{ url: string; got: Received[] }> {
  const got: Received[] = [];
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const how = misbehave(got.length);
      got.push({ path: req.url!, headers: req.headers, body });
      if (how === "drop") return void req.socket.destroy();
      if (how === "hang") return;
      setTimeout(() => res.writeHead(status[req.url!] ?? 200).end("ok"), 2);
    });
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, got };
}

/** Runs the benchmark's load generator process (as the benchmark does) on a plan in a temporary directory. */
async function runLoad(plan: Omit<LoadPlan, "out" | "telegramFixture">): Promise<LoadResult> {
  const tmp = await tempDir("aideazz-load-");
  cleanup = tmp.cleanup;
  const telegramFixture = JSON.parse(await readFile(join(repoRoot, "test/fixtures/telegram/text.json"), "utf8"));
  return runGenerator({ ...plan, out: join(tmp.dir, "out.json"), telegramFixture }, join(tmp.dir, "plan.json"));
}

describe("the system benchmark's load generator", () => {
  it("posts every request once with its platform's header, as an open load over the seconds asked", async () => {
    const { url, got } = await receiver();
    const result = await runLoad({
      seconds: 1,
      targets: [
        {
          name: "tg",
          kind: "telegram",
          url: `${url}/telegram/webhook`,
          rate: 100,
          secret: "tg-secret-token",
          chatBase: 5_000,
          idBase: 70_000,
          questions: ["What plans do you have?", "Question {n}"],
        },
        {
          name: "wa",
          kind: "whatsapp",
          url: `${url}/whatsapp/webhook`,
          rate: 60,
          secret: "wa-app-secret",
          phoneNumberId: "106540352242901",
          chatBase: 9_000,
          idBase: 80_000,
          questions: ["Do you ship to Canada?"],
        },
      ],
    });

    const tg = got.filter((r) => r.path === "/telegram/webhook");
    const wa = got.filter((r) => r.path === "/whatsapp/webhook");
    expect(tg).toHaveLength(100);
    expect(wa).toHaveLength(60);
    // Telegram: one update per chat and update id, the secret token in its header.
    const updates = tg.map((r) => JSON.parse(r.body));
    expect(new Set(updates.map((u) => u.update_id)).size).toBe(100);
    for (const [i, r] of tg.entries()) {
      const u = updates[i];
      const n = u.update_id - 70_000;
      expect(r.headers["x-telegram-bot-api-secret-token"]).toBe("tg-secret-token");
      expect(u.message.chat.id).toBe(5_000 + n);
      expect(u.message.text).toBe(n % 2 === 0 ? "What plans do you have?" : `Question ${70_000 + n}`);
    }
    // WhatsApp: signed with the app secret over the exact bytes posted.
    for (const r of wa) expect(r.headers["x-hub-signature-256"]).toBe(signature(r.body, "wa-app-secret"));
    const wamids = wa.map((r) => JSON.parse(r.body).entry[0].changes[0].value.messages[0].id);
    expect(new Set(wamids).size).toBe(60);

    const [rtg, rwa] = result.targets;
    expect(rtg!.name).toBe("tg");
    expect(new Set(rtg!.sends.map((s) => s[0]))).toEqual(new Set(updates.map((u) => u.message.chat.id)));
    expect(rwa!.sends).toHaveLength(60);
    for (const t of result.targets) {
      expect(t.planned).toBe(t.sends.length);
      expect(t.ackMs).toHaveLength(t.sends.length);
      // Never more than a ms early (wrk's timers count whole ms), and on time against a receiver this quick: most
      // sends within a few ms, none a second late (the machine running the suite beside it may stall one for 100 ms).
      expect(Math.min(...t.lateMs)).toBeGreaterThan(-1);
      expect([...t.lateMs].sort((a, b) => a - b)[Math.floor(t.lateMs.length / 2)]).toBeLessThan(20);
      expect(Math.max(...t.lateMs)).toBeLessThan(1_000);
      expect(Math.min(...t.ackMs), "the receiver answers after ~2 ms").toBeGreaterThan(1);
      expect(Math.max(...t.ackMs)).toBeLessThan(1_000);
      expect(t.statuses).toEqual({ "200": t.sends.length });
      expect(t.errors).toBe(0);
    }
    // Spread over the second (Poisson arrivals at 100/s), not sent at once.
    const at = rtg!.sends.map((s) => s[2]);
    const span = Math.max(...at) - Math.min(...at);
    expect(span).toBeGreaterThan(500);
    expect(span).toBeLessThan(2_000);
    expect(result.cpuS).toBeGreaterThan(0);
  });

  const wa = (url: string, rate: number) => ({
    name: "wa",
    kind: "whatsapp" as const,
    url: `${url}/whatsapp/webhook`,
    rate,
    secret: "wa-app-secret",
    phoneNumberId: "106540352242901",
    chatBase: 1,
    idBase: 1,
    questions: ["hi"],
  });

  it("after a dropped connection sends each later request once and counts the error", async () => {
    const { url, got } = await receiver({}, (i) => (i === 2 ? "drop" : undefined));
    const result = await runLoad({ seconds: 1, targets: [wa(url, 8)] });
    const wamids = got.map((r) => JSON.parse(r.body).entry[0].changes[0].value.messages[0].id);
    expect(wamids).toHaveLength(8);
    expect(new Set(wamids).size).toBe(8); // none posted twice
    const t = result.targets[0]!;
    expect(t.sends).toHaveLength(8);
    expect(new Set(t.sends.map((s) => s[0])).size).toBe(8);
    expect(t.ackMs).toHaveLength(7); // the dropped one has no answer
    expect(t.errors).toBe(1);
  });

  it("reports the requests queued behind an answer that never came as never sent", async () => {
    const { url, got } = await receiver({}, (i) => (i === 0 ? "hang" : undefined));
    // 8/s: two wrk threads, each with every other request; the one whose first answer hangs sends no more.
    const result = await runLoad({ seconds: 1, targets: [wa(url, 8)] });
    const t = result.targets[0]!;
    expect(t.planned).toBe(8);
    expect(t.sends).toHaveLength(got.length);
    expect(t.planned - t.sends.length).toBe(3);
    expect(t.ackMs).toHaveLength(4);
  });

  it("counts the answers that are not 2xx by status", async () => {
    const { url } = await receiver({ "/whatsapp/webhook": 401 });
    const result = await runLoad({ seconds: 1, targets: [wa(url, 20)] });
    expect(result.targets[0]!.statuses).toEqual({ "401": 20 });
  });
});
