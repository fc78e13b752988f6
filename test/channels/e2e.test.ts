// End to end through the whole spine, all agents real and in this process on one store: a platform webhook →
// channel ingress → bus → the orchestrator (answering from the FAQ, no model configured) → outbound.<agent> →
// channel egress → the fake platform. RELIABILITY.md A2 and B3 from the user's side: redelivered webhooks
// produce exactly one reply. Twice: on a libSQL file, and on a libSQL server (the scale-out path: sqld over HTTP, the
// same code; a statement the server refuses would fail a handler, so none may have been retried).
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningAgent } from "../../src/agents/mod.ts";
import { type Config, loadConfig } from "../../src/config.ts";
import { batchPayload, type FakeGraph, signature, startFakeGraph, textPayload } from "../fakes/graph.ts";
import { type FakeTelegram, makeUpdate, startFakeTelegram } from "../fakes/telegram.ts";
import { freePorts } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { telegramFixture } from "./fixtures.ts";
import { until } from "./harness.ts";
import { SESSION_HEADER } from "../../src/agents/webchat/page.ts";
import { runTestAgent } from "../support/agent.ts";
import { cli } from "../support/cli.ts";
import { runSqldTests, startSqld } from "../support/sqld.ts";

const secrets = {
  TG_TOKEN: "7111222333:AAH-fake-token-end-to-end",
  TG_SECRET: "e2e_secret",
  WA_APP_SECRET: "e2e-app-secret",
  WA_TOKEN: "EAAJB-e2e-token",
  WA_VERIFY: "e2e-verify",
};
const PNID = "106540352242922";
const ANSWER = 'Open the login page, choose "Forgot password" and follow the link we email you.';
const GREETING = "Welcome to Example Co!";

/** Where the agents' store lives: its URL, and how to remove it. */
type StoreFor = (dir: string) => Promise<{ url: string; stop(): Promise<void> }>;

function endToEnd(storeName: string, storeFor: StoreFor) {
  describe(`on ${storeName}`, () => {
    let dir: string;
    let cleanup: () => Promise<void>;
    let store: { url: string; stop(): Promise<void> } | undefined;
    let tg: FakeTelegram;
    let graph: FakeGraph;
    const running: RunningAgent[] = [];
    const ports: Record<string, number> = {};

    async function start(config: Config, name: string): Promise<void> {
      running.push(await runTestAgent({ config, name, secrets }));
    }

    beforeAll(async () => {
      ({ dir, cleanup } = await tempDir("aideazz-e2e-"));
      store = await storeFor(dir);
      tg = await startFakeTelegram({ token: secrets.TG_TOKEN });
      graph = await startFakeGraph({ accessToken: secrets.WA_TOKEN });
      const faq = join(dir, "faq.json");
      await writeFile(
        faq,
        JSON.stringify({ entries: [{ id: "pw", questions: ["How do I reset my password?"], answer: ANSWER }] }),
      );
      const names = ["orchestrator", "tg", "wa", "web"];
      const picked = await freePorts(names.length);
      names.forEach((n, i) => (ports[n] = picked[i]!));
      const config = loadConfig(
        JSON.stringify({
          store: { url: store.url },
          roles: { support: { kind: "support", systemPrompt: "Be nice.", faq, greeting: GREETING } },
          agents: [
            { name: "orchestrator", kind: "orchestrator", port: ports["orchestrator"] },
            {
              name: "tg",
              kind: "telegram",
              role: "support",
              port: ports["tg"],
              telegram: { tokenEnv: "TG_TOKEN", secretTokenEnv: "TG_SECRET", apiRoot: tg.apiRoot },
            },
            {
              name: "wa",
              kind: "whatsapp",
              role: "support",
              port: ports["wa"],
              whatsapp: {
                phoneNumberId: PNID,
                appSecretEnv: "WA_APP_SECRET",
                accessTokenEnv: "WA_TOKEN",
                verifyTokenEnv: "WA_VERIFY",
                graphBaseUrl: graph.baseUrl,
                pacing: { perUserMs: 100, perSecond: 80 },
              },
            },
            { name: "web", kind: "webchat", role: "support", port: ports["web"] },
          ],
        }),
        secrets,
      );
      // Channels first: the orchestrator finds messages already waiting (its group was subscribed by them).
      for (const name of ["tg", "wa", "web", "orchestrator"]) await start(config, name);
    }, 60_000);

    afterAll(async () => {
      try {
        for (const r of running.reverse()) await r.stop();
        await tg?.close();
        await graph?.close();
      } finally {
        await store?.stop();
        await cleanup?.();
      }
    });

    /** Telegram's webhook call with one update. */
    const post = (u: unknown) =>
      fetch(`http://127.0.0.1:${ports["tg"]}/telegram/webhook`, {
        method: "POST",
        headers: { "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secrets.TG_SECRET },
        body: JSON.stringify(u),
      });

    describe("end to end: webhook → orchestrator → one reply", () => {
      it(
        "telegram: the same update 5× in a row and 5× concurrently → one FAQ answer sent; /start → one greeting",
        async () => {
          const question = makeUpdate(telegramFixture("text"), {
            updateId: 1,
            chatId: 501,
            text: "How do I reset my password?",
          });
          for (let i = 0; i < 5; i++) expect((await post(question)).status).toBe(200);
          expect((await Promise.all(Array.from({ length: 5 }, () => post(question)))).map((r) => r.status))
            .toEqual([200, 200, 200, 200, 200]);
          expect((await post(makeUpdate(telegramFixture("start"), { updateId: 2, chatId: 502 }))).status).toBe(
            200,
          );
          await until(() => tg.sent.length >= 2, 20_000, "two replies");
          await new Promise((r) => setTimeout(r, 1500));
          expect(tg.sent.map((s) => [s.chatId, s.text]).sort()).toEqual([[501, ANSWER], [502, GREETING]]);
          expect(tg.sent.every((s) => s.linkPreviewDisabled)).toBe(true);
          // The end-to-end reply latency (stored → sent) is measured by the channel that sent it.
          const tgAgent = running.find((r) => r.metrics.render().includes('aideazz_messages_out_total{channel="telegram"}'))!;
          expect(tgAgent.metrics.render()).toMatch(/aideazz_reply_latency_ms_count\{channel="telegram"\} 2/);
        },
        60_000,
      );

      it(
        "telegram forum: each topic's question is answered in its topic (typing there too); the General topic's in the chat",
        async () => {
          const inTopic = (updateId: number, thread: number | undefined) => {
            const u = makeUpdate(telegramFixture("text"), { updateId, chatId: -1009, text: "How do I reset my password?" });
            const m = (u as { message: Record<string, unknown> }).message;
            m["chat"] = { id: -1009, type: "supergroup", title: "Support forum", is_forum: true };
            if (thread !== undefined) Object.assign(m, { message_thread_id: thread, is_topic_message: true });
            return u;
          };
          const before = tg.sent.length;
          for (const [id, thread] of [[11, 45], [12, 46], [13, undefined]] as const) {
            expect((await post(inTopic(id, thread))).status).toBe(200);
          }
          await until(() => tg.sent.length >= before + 3, 20_000, "three replies");
          const replies = tg.sent.slice(before).map((s) => [s.chatId, s.threadId ?? null, s.text]);
          expect(replies.sort()).toEqual([[-1009, 45, ANSWER], [-1009, 46, ANSWER], [-1009, null, ANSWER]].sort());
          const typing = tg.callsOf("sendChatAction").filter((c) => c.body["chat_id"] === -1009);
          expect(new Set(typing.map((c) => c.body["message_thread_id"] ?? null))).toEqual(new Set([45, 46, null]));
        },
        60_000,
      );

      it(
        "whatsapp: the same wamid 3×, once inside a batch → one FAQ answer sent, the message marked read",
        async () => {
          const post = (payload: unknown) => {
            const body = JSON.stringify(payload);
            return fetch(`http://127.0.0.1:${ports["wa"]}/whatsapp/webhook`, {
              method: "POST",
              headers: {
                "content-type": "application/json",
                "X-Hub-Signature-256": signature(body, secrets.WA_APP_SECRET),
              },
              body,
            });
          };
          const q = textPayload({
            id: "wamid.E2E1",
            from: "15550001234",
            body: "How do I reset my password?",
            phoneNumberId: PNID,
          });
          expect((await post(q)).status).toBe(200);
          expect((await post(q)).status).toBe(200);
          expect((await post(batchPayload([q, q]))).status).toBe(200);
          await until(() => graph.sent.length >= 1, 20_000, "the answer");
          await new Promise((r) => setTimeout(r, 1500));
          expect(graph.sent.map((s) => [s.to, s.type, s.text])).toEqual([["15550001234", "text", ANSWER]]);
          expect(graph.reads.map((r) => r.messageId)).toEqual(["wamid.E2E1"]);
        },
        60_000,
      );

      it(
        "web chat: a visitor's question (posted twice with the same id) gets one answer on the page",
        async () => {
          const session = "6f1c1d2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f";
          const send = () =>
            fetch(`http://127.0.0.1:${ports["web"]}/api/messages`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({
                session,
                id: "00000000-0000-4000-8000-000000000001",
                text: "How do I reset my password?",
              }),
            });
          expect((await send()).status).toBe(202);
          expect((await send()).status).toBe(202);
          const replies = async () => {
            const headers = { [SESSION_HEADER]: session };
            return (await (await fetch(`http://127.0.0.1:${ports["web"]}/api/replies?after=0`, { headers })).json()).replies;
          };
          await until(async () => (await replies()).length >= 1, 20_000, "the answer");
          await new Promise((r) => setTimeout(r, 1000));
          expect((await replies()).map((r: { text: string }) => r.text)).toEqual([ANSWER]);
        },
        60_000,
      );

      it("no handler failed on the way; the operator's commands read the store (migrate, bus stats, trace)", async () => {
        for (const r of running) {
          // (The forum's third topic goes back to the bus until its group's next slot, two 3 s gaps off: "later".)
          expect(r.metrics.render()).not.toMatch(/aideazz_bus_handled_total\{[^}]*outcome="(?:retry|dead)"/);
          await r.flush(); // the trace events buffered since the last flush interval
        }
        const db = ["--db", store!.url];
        expect((await cli(["migrate", ...db])).code).toBe(0);
        const stats = await cli(["bus", "stats", ...db]);
        expect(stats.code).toBe(0);
        expect(stats.stdout).toMatch(/^inbound\s+orchestrator\s+0\s+0\s+0\s+-\s+0$/m);
        expect(stats.stdout).toMatch(/^outbound\.tg\s+egress\s+0\s+0\s+0\s+-\s+0$/m);
        const trace = await cli(["trace", "chat:tg:501", ...db]);
        expect(trace.code).toBe(0);
        expect(trace.stdout).toContain("last stage: sent");
        expect(trace.stdout).toContain("tier=faq");
        const stages = [
          ["tg", "received"],
          ["tg", "stored"],
          ["orchestrator", "claimed"],
          ["orchestrator", "route"],
          ["orchestrator", "reply_queued"],
          ["tg", "sent"],
        ];
        for (const [agent, stage] of stages) {
          expect(trace.stdout).toMatch(new RegExp(`\\s${agent}\\s+${stage}\\s`));
        }
      });
    });
  });
}

endToEnd("a libSQL file", (dir) => Promise.resolve({ url: `file:${join(dir, "e2e.db")}`, stop: () => Promise.resolve() }));
describe.runIf(runSqldTests)("scale-out", () => endToEnd("a libSQL server (sqld)", () => startSqld()));
