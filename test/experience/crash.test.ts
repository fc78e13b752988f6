// kill -9 in the middle of a streamed reply, with real processes under Deno (`aideazz agent …`): the Telegram
// agent and the orchestrator run as children, the fake Bot API and the relay in front of the REAL llama.cpp
// server in this process. The orchestrator dies after the reply's first part is on the user's screen; after its
// restart (and the lease's expiry) the turn runs again and edits that same message: exactly one message, and it
// ends with the full output of the model's completed stream.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/mod.ts";
import { makeUpdate, startFakeTelegram } from "../fakes/telegram.ts";
import { type Child, spawnAideazz, waitForStatus } from "../support/cli.ts";
import {
  llamaAvailable,
  llamaMissingMessage,
  type LlamaServer,
  startLlamaServer,
} from "../support/llama-server.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { telegramFixture } from "../channels/fixtures.ts";
import { until } from "../channels/harness.ts";
import { startRelay } from "./relay.ts";
import { LLAMA_ARGS, SECRETS, sleep } from "./harness.ts";

const available = llamaAvailable();
if (!available && process.env["CI"] === "true") throw new Error(llamaMissingMessage());

describe.skipIf(!available)("kill -9 during a streamed reply (real processes)", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let llama: LlamaServer;
  const children: Child[] = [];
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir("aideazz-exp-crash-"));
    llama = await startLlamaServer({ extraArgs: LLAMA_ARGS });
  }, 60_000);
  afterAll(async () => {
    for (const c of children) {
      if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill("SIGTERM");
      await Promise.race([c.exited, sleep(10_000)]);
    }
    await llama?.stop();
    await cleanup();
  });

  it("after the restart exactly one message carries the final text", async () => {
    const fake = await startFakeTelegram({ token: SECRETS.TG_TOKEN });
    const relay = await startRelay(llama.url, { delayMs: 150 });
    const ports = { tg: await freePort(), orchestrator: await freePort() };
    const db = join(dir, "crash.db");
    const config = join(dir, "crash.json");
    await writeFile(
      config,
      JSON.stringify({
        store: { url: `file:${db}` },
        agents: [
          { name: "orchestrator", kind: "orchestrator", port: ports.orchestrator },
          {
            name: "tg",
            kind: "telegram",
            port: ports.tg,
            telegram: { tokenEnv: "TG_TOKEN", secretTokenEnv: "TG_SECRET", apiRoot: fake.apiRoot },
            experience: { coalesce: { quietMs: 200 }, stream: { firstMaxChars: 20 } },
          },
        ],
        router: {
          deadlineMs: 120_000,
          providers: { local: { kind: "llama-cpp", baseUrl: relay.url, model: "tiny", timeoutMs: 120_000 } },
          chain: ["local"],
          retry: { maxAttempts: 1 },
        },
        conversation: { maxReplyTokens: 80, retryBaseMs: 500 },
        cache: { enabled: false },
      }),
    );
    const env = { TG_TOKEN: SECRETS.TG_TOKEN, TG_SECRET: SECRETS.TG_SECRET };
    const start = (name: string) => {
      const child = spawnAideazz(["agent", name, "--config", config], { env });
      children.push(child);
      return child;
    };
    try {
      start("tg");
      let orchestrator = start("orchestrator");
      await waitForStatus(`http://127.0.0.1:${ports.tg}/health`, 200, 60_000);
      await waitForStatus(`http://127.0.0.1:${ports.orchestrator}/health`, 200, 60_000);

      const chat = 801;
      const res = await fetch(`http://127.0.0.1:${ports.tg}/telegram/webhook`, {
        method: "POST",
        headers: { "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRETS.TG_SECRET },
        body: JSON.stringify(
          makeUpdate(telegramFixture("text"), { updateId: 99001, chatId: chat, text: "tell me everything" }),
        ),
      });
      expect(res.status).toBe(200);
      // The first part of the reply is on the user's screen while the model is still writing: kill -9.
      await until(() => fake.sent.some((s) => s.chatId === chat), 60_000, "the first part");
      orchestrator.proc.kill("SIGKILL");
      expect(await orchestrator.exited).toBeNull();
      await until(() => relay.calls[0]!.endedAt !== undefined, 10_000, "the first stream to end");
      expect(relay.calls[0]!.finished).toBe(false);
      const shownAtKill = fake.sent.find((s) => s.chatId === chat)!.text;

      relay.delayMs = 40;
      orchestrator = start("orchestrator");
      // The dead process's lease on the message expires (30 s), the turn runs again and streams anew.
      await until(() => relay.completed().length === 1, 120_000, "the completed stream");
      const full = relay.completed()[0]!.text;
      await until(
        () => fake.sent.find((s) => s.chatId === chat)?.text === full.trim(),
        30_000,
        "the final text",
      );
      await sleep(2_000);

      const messages = fake.sent.filter((s) => s.chatId === chat);
      expect(messages).toHaveLength(1);
      expect(messages[0]!.text).toBe(full.trim());
      expect(messages[0]!.history[0]).toBe(shownAtKill);
      expect(fake.callsOf("sendMessage").filter((c) => c.body["chat_id"] === chat)).toHaveLength(1);
      expect(relay.calls).toHaveLength(2);
      const store = await openStore({ url: `file:${db}` });
      try {
        const turns = await store.client.execute(
          "SELECT text FROM conversation_turns WHERE role = 'assistant'",
        );
        expect(turns.rows.map((r) => r["text"])).toEqual([full.trim()]); // what the user sees (the review trims)
        const inbox = await store.client.execute("SELECT state FROM chat_inbox");
        expect(inbox.rows.map((r) => r["state"])).toEqual(["answered"]);
      } finally {
        store.close();
      }
      console.log(
        `kill -9 mid-stream: ${shownAtKill.length} chars shown at the kill, turn redelivered and streamed again; ` +
          `one message, ${messages[0]!.history.length - 1} edits, final ${full.trim().length} chars`,
      );
    } finally {
      for (const c of children) {
        if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill("SIGTERM");
      }
      await Promise.all(children.map((c) => Promise.race([c.exited, sleep(10_000)])));
      await fake.close();
      await relay.close();
    }
  }, 240_000);
});
