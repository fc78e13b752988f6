// `aideazz forget chat:<agent>:<id>`, a customer's data-deletion request, with every agent real and running on one
// store: a WhatsApp user (a unique marker in the text, the phone number as chat id) and another user talk to the bot;
// `forget` runs while the orchestrator is mid-turn on the first user's latest message (the model still answering).
// Afterwards nothing more reaches that user, an old webhook Meta retries is not answered as a new conversation, and
// on a libSQL file neither the marker nor the number is left in the checkpointed database or its WAL; the other
// user's data stays.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../src/agents/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { openStore } from "../../src/store/mod.ts";
import { type FakeGraph, signature, startFakeGraph, statusPayload, textPayload } from "../fakes/graph.ts";
import { type FakeGroq, startFakeGroq } from "../fakes/groq.ts";
import { runTestAgent } from "../support/agent.ts";
import { cli } from "../support/cli.ts";
import { freePorts } from "../support/ports.ts";
import { runSqldTests, startSqld } from "../support/sqld.ts";
import { tempDir } from "../support/tmp.ts";
import { until } from "../channels/harness.ts";

const secrets = { WA_APP_SECRET: "forget-app-secret", WA_TOKEN: "EAAJB-forget-token", WA_VERIFY: "forget-verify", GROQ_KEY: "gsk_forget_key_123456" };
const PNID = "106540352242933";
const ALICE = "15550009876";
const BOB = "15550004444";
const CAROL = "15550007777";
const ANSWER = "We will look into it right away.";

type StoreFor = (dir: string) => Promise<{ url: string; path?: string; stop(): Promise<void> }>;

function scenario(storeName: string, storeFor: StoreFor) {
  describe(`forget on ${storeName}`, () => {
    let dir: string;
    let cleanup: () => Promise<void>;
    let store: { url: string; path?: string; stop(): Promise<void> };
    let graph: FakeGraph;
    let groq: FakeGroq;
    let running: RunningAgent[] = [];
    let port = 0;

    beforeAll(async () => {
      ({ dir, cleanup } = await tempDir("aideazz-forget-"));
      store = await storeFor(dir);
      graph = await startFakeGraph({ accessToken: secrets.WA_TOKEN });
      groq = await startFakeGroq({ apiKey: secrets.GROQ_KEY });
      groq.setDefault({ kind: "ok", text: ANSWER });
      const [p1, p2] = await freePorts(2);
      port = p2!;
      const config = loadConfig(
        JSON.stringify({
          store: { url: store.url },
          router: {
            providers: { groq: { kind: "groq", baseUrl: groq.url, model: "llama-3.1-8b-instant", apiKeyEnv: "GROQ_KEY" } },
            chain: ["groq"],
          },
          roles: { support: { kind: "support", systemPrompt: "Be nice." } },
          agents: [
            { name: "orchestrator", kind: "orchestrator", port: p1 },
            {
              name: "wa",
              kind: "whatsapp",
              role: "support",
              port: p2,
              whatsapp: {
                phoneNumberId: PNID,
                appSecretEnv: "WA_APP_SECRET",
                accessTokenEnv: "WA_TOKEN",
                verifyTokenEnv: "WA_VERIFY",
                graphBaseUrl: graph.baseUrl,
                pacing: { perUserMs: 100, perSecond: 80 },
              },
            },
          ],
        }),
        secrets,
      );
      for (const name of ["wa", "orchestrator"]) running.push(await runTestAgent({ config, name, secrets }));
    }, 60_000);

    afterAll(async () => {
      try {
        for (const r of running.reverse()) await r.stop();
        await graph?.close();
        await groq?.close();
      } finally {
        await store?.stop();
        await cleanup?.();
      }
    });

    const post = (id: string, from: string, body: string) => postRaw(textPayload({ id, from, body, phoneNumberId: PNID }));
    const postRaw = async (payload: unknown) => {
      const text = JSON.stringify(payload);
      const res = await fetch(`http://127.0.0.1:${port}/whatsapp/webhook`, {
        method: "POST",
        headers: { "content-type": "application/json", "X-Hub-Signature-256": signature(text, secrets.WA_APP_SECRET) },
        body: text,
      });
      await res.body?.cancel();
      return res.status;
    };
    const sentTo = (to: string) => graph.sent.filter((s) => s.to === to).length;
    const forget = (...args: string[]) => cli(["forget", ...args, "--db", store.url], { cwd: dir });
    const count = async (sql: string, args: string[] = []) => {
      const s = await openStore({ url: store.url, create: false });
      try {
        return Number((await s.client.execute({ sql, args })).rows[0]![0]);
      } finally {
        s.close();
      }
    };

    it("a bad chat reference is a usage error (exit 2) that does not echo it; help says what goes and what stays", async () => {
      for (const bad of [ALICE, "chat:", "chat:WA:1", "chat:wa:", "chat:wa:1 2", "chat:a:b:c"]) {
        const r = await forget(bad);
        expect(r.code, bad).toBe(2);
        expect(r.stderr).toContain("chat:<agent>:<id>");
        if (bad.length > 6) expect(r.stderr, bad).not.toContain(bad);
      }
      const help = await cli(["help", "forget"]);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/--dry-run/);
      expect(help.stdout).toMatch(/the cache does not record who asked/);
    });

    it.runIf(storeName.includes("file"))(
      "a reply on the wire when forget runs: forget waits for the send's outcome, then nothing of it is left or sent",
      async () => {
        let onWire!: () => void;
        const cut = new Promise<void>((resolve) => (onWire = resolve));
        graph.cutNextSend("reached", () => onWire());
        expect(await post("wamid.CAROL1", CAROL, "MARKERCHARLIE9 do you ship abroad")).toBe(200);
        await cut; // Graph took the reply and never answers: the send's outcome stays unknown for 30 s
        const r = await forget(`chat:wa:${CAROL}`);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stderr).toMatch(/waiting \d+ s/);
        await new Promise((res) => setTimeout(res, 2_000));
        expect(sentTo(CAROL)).toBe(1);
        expect(await count("SELECT count(*) FROM bus_dead_letters")).toBe(0);
        const left = await count(
          `SELECT (SELECT count(*) FROM bus_send_ledger) + (SELECT count(*) FROM channel_deliveries WHERE chat_id = ?1)
            + (SELECT count(*) FROM channel_contacts WHERE chat_id = ?1) + (SELECT count(*) FROM trace_events WHERE chat LIKE '%' || ?1)`,
          [CAROL],
        );
        expect(left).toBe(0);
      },
      120_000,
    );

    it(
      "deletes one user's data everywhere, even with a turn under way, and lets nothing of it back",
      async () => {
        expect(await post("wamid.ALICE1", ALICE, "MARKERALPHA7 where is my parcel")).toBe(200);
        expect(await post("wamid.BOB1", BOB, "MARKERBRAVO8 where is my parcel")).toBe(200);
        await until(() => sentTo(ALICE) === 1 && sentTo(BOB) === 1, 20_000, "both answers");
        // A lead of each (what the leads role keeps), and a cached answer to Alice's question (the cache keeps only
        // the last answer to a question: Bob's asked the same, so his own entry is added here too).
        for (const [chat, name] of [[ALICE, "Alice MARKERALPHA7"], [BOB, "Bob MARKERBRAVO8"]] as const) {
          const s = await openStore({ url: store.url, create: false });
          await s.client.execute({
            sql: `INSERT INTO leads (chat, agent, chat_id, role, name, contact, created_at, updated_at)
              VALUES (?, 'wa', ?, 'support', ?, ?, 1, 1)`,
            args: [`wa:${chat}`, chat, name, `+${chat}`],
          });
          s.close();
        }
        const turns = `SELECT count(*) FROM conversation_turns WHERE chat = 'wa:${ALICE}'`;
        expect(await count(turns)).toBe(2);
        expect(await count("SELECT count(*) FROM cache_entries WHERE prompt LIKE 'MARKERALPHA7%'")).toBe(1);

        const dry = await forget(`chat:wa:${ALICE}`, "--dry-run");
        expect(dry.code, dry.stderr).toBe(0);
        expect(dry.stdout).toMatch(/would delete/);
        expect(dry.stdout).toMatch(/^\s+2 {2}conversation turns$/m);
        expect(dry.stdout).toMatch(/^\s+1 {2}leads$/m);
        expect(dry.stdout).not.toContain(ALICE);
        expect(await count(turns)).toBe(2);

        // The model takes 3 s on Alice's next message; forget runs while the orchestrator waits for it.
        groq.script({ kind: "ok", text: "MARKERALPHA7 answer that must never be sent", delayMs: 3_000 });
        const calls = groq.requests.length;
        expect(await post("wamid.ALICE2", ALICE, "MARKERALPHA7 and when will it arrive")).toBe(200);
        await until(() => groq.requests.length > calls, 10_000, "the model call");
        const r = await forget(`chat:wa:${ALICE}`);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stderr).toMatch(/waiting \d+ s/);
        expect(r.stdout).toMatch(/^\s+[1-9]\d* {2}conversation turns$/m);
        expect(r.stdout).toMatch(/^\s+[1-9]\d* {2}bus messages$/m);
        expect(r.stdout).toMatch(/^\s+1 {2}leads$/m);
        expect(r.stdout).not.toContain(ALICE);

        // Meta retries the first message's webhook: a duplicate, not a new conversation. Alice reads the answer she got:
        // its `read` status names her number.
        expect(await post("wamid.ALICE1", ALICE, "MARKERALPHA7 where is my parcel")).toBe(200);
        const answer = graph.sent.find((x) => x.to === ALICE)!;
        expect(answer.callbackData).toBeDefined();
        expect(await postRaw(statusPayload({ phoneNumberId: PNID, messageId: answer.id, status: "read", to: ALICE, callbackData: answer.callbackData!, at: Date.now() }))).toBe(200);
        await new Promise((res) => setTimeout(res, 2_000));
        expect(sentTo(ALICE)).toBe(1);
        expect(await count("SELECT count(*) FROM bus_dead_letters")).toBe(0);
        expect(await count("SELECT count(*) FROM bus_deliveries")).toBe(0);
        expect(await count(`SELECT count(*) FROM conversation_turns WHERE chat = 'wa:${BOB}'`)).toBe(2);
        expect(await count(`SELECT count(*) FROM leads WHERE chat_id = ?`, [BOB])).toBe(1);
        // chat:<id> alone names the one agent that has that chat.
        const short = await forget(`chat:${BOB}`, "--dry-run", "--json");
        expect(short.code, short.stderr).toBe(0);
        expect(JSON.parse(short.stdout).counts["conversation turns"]).toBe(2);

        // Nothing of Alice in any table (the text of every row), and Bob's data still there.
        const s = await openStore({ url: store.url, create: false });
        const tables = (await s.client.execute("SELECT name FROM sqlite_master WHERE type = 'table'")).rows.map((t) => String(t[0]));
        const found: string[] = [];
        let bob = 0;
        for (const t of tables) {
          for (const row of (await s.client.execute(`SELECT * FROM "${t}"`)).rows) {
            const text = JSON.stringify(Object.values(row), (_k, v) => (typeof v === "bigint" ? String(v) : v instanceof ArrayBuffer ? "" : v));
            if (text.includes("MARKERALPHA7") || text.includes(ALICE)) found.push(`${t}: ${text}`);
            if (text.includes("MARKERBRAVO8") || text.includes(BOB)) bob++;
          }
        }
        s.close();
        expect(found).toEqual([]);
        expect(bob).toBeGreaterThan(5);

        if (store.path) {
          for (const r of running.reverse()) await r.stop();
          running = [];
          const s = await openStore({ url: store.url, create: false });
          expect(await s.checkpoint()).toBe(true);
          s.close();
          const bytes = (await readFile(store.path)).toString("latin1") +
            (existsSync(`${store.path}-wal`) ? (await readFile(`${store.path}-wal`)).toString("latin1") : "");
          expect({ marker: bytes.includes("MARKERALPHA7"), phone: bytes.includes(ALICE) }).toEqual({ marker: false, phone: false });
          expect({ marker: bytes.includes("MARKERBRAVO8"), phone: bytes.includes(BOB) }).toEqual({ marker: true, phone: true });
        }
      },
      120_000,
    );
  });
}

scenario("a libSQL file", (dir) => {
  const path = join(dir, "forget.db");
  return Promise.resolve({ url: `file:${path}`, path, stop: () => Promise.resolve() });
});
describe.runIf(runSqldTests)("scale-out", () => scenario("a libSQL server (sqld)", () => startSqld()));
