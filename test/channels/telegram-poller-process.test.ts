// RELIABILITY.md A5 and A6 with real agent processes under Deno (`aideazz agent <name>`): kill -9 in the middle
// of 100 updates, and SIGTERM while a batch is being handled. The fake Bot API runs in this process.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/mod.ts";
import { makeUpdate, startFakeTelegram } from "../fakes/telegram.ts";
import { spawnAideazz, waitForStatus } from "../support/cli.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { telegramFixture } from "./fixtures.ts";
import { until } from "./harness.ts";

const TOKEN = "7111222333:AAH-fake-token-process-tests";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-a5-")));
afterAll(() => cleanup());

async function setup(name: string, apiRoot: string) {
  const port = await freePort();
  const db = join(dir, `${name}.db`);
  const config = join(dir, `${name}.json`);
  await writeFile(
    config,
    JSON.stringify({
      store: { url: `file:${db}` },
      agents: [{
        name: "tgpoll",
        kind: "telegram",
        port,
        telegram: { mode: "polling", tokenEnv: "TG_TOKEN", apiRoot, pollTimeoutS: 1 },
      }],
    }),
  );
  const start = () => spawnAideazz(["agent", "tgpoll", "--config", config], { env: { TG_TOKEN: TOKEN } });
  const stored = async () => {
    const store = await openStore({ url: `file:${db}` });
    try {
      const rs = await store.client.execute(
        "SELECT idem_key, payload FROM bus_messages WHERE topic = 'inbound'",
      );
      return rs.rows.map((r) => Number(JSON.parse(String(r["payload"])).platformId));
    } finally {
      store.close();
    }
  };
  return { port, start, stored };
}

const updates = (from: number, n: number) =>
  Array.from(
    { length: n },
    (_, i) =>
      makeUpdate(telegramFixture("text"), { updateId: from + i, chatId: 1 + (i % 7), text: `message ${i}` }),
  );

describe("telegram poller processes", () => {
  it("A5: kill -9 after 40 of 100 updates → after a restart all 100 are stored exactly once", async () => {
    const fake = await startFakeTelegram({ token: TOKEN, maxBatch: 10 });
    const { port, start, stored } = await setup("a5", fake.apiRoot);
    fake.push(...updates(1000, 100));
    let first = start();
    let killed = false;
    fake.onGetUpdates((served) => {
      // The batch after the first 40 was just handed out: kill while it is being committed.
      if (!killed && fake.confirmed().length >= 40 && served.length > 0) {
        killed = true;
        setTimeout(() => first.proc.kill("SIGKILL"), Math.floor(Math.random() * 5));
      }
    });
    try {
      await until(() => killed, 60_000, "40 confirmed");
      expect(await first.exited).toBeNull(); // killed by a signal
      const confirmedAtKill = fake.confirmed();
      expect(confirmedAtKill.length).toBeGreaterThanOrEqual(40);
      expect(confirmedAtKill.length).toBeLessThan(100);
      const storedAtKill = await stored();
      for (const id of confirmedAtKill) expect(storedAtKill).toContain(id);

      first = start();
      await waitForStatus(`http://127.0.0.1:${port}/health`, 200, 60_000);
      await until(() => fake.pending() === 0 && fake.confirmed().length === 100, 60_000, "all 100 confirmed");
      const all = await stored();
      expect(all.length).toBe(100);
      expect(new Set(all).size).toBe(100);
      expect([...all].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => 1000 + i));
    } finally {
      first.proc.kill("SIGTERM");
      await first.exited;
      await fake.close();
    }
  }, 180_000);

  it(
    "A6: SIGTERM while a batch is being handled → exit 0, and every confirmed update is already stored",
    async () => {
      const fake = await startFakeTelegram({ token: TOKEN, maxBatch: 10 });
      const { start, stored } = await setup("a6", fake.apiRoot);
      fake.push(...updates(5000, 100));
      const child = start();
      let signalled = false;
      fake.onGetUpdates((served) => {
        if (!signalled && fake.confirmed().length >= 20 && served.length > 0) {
          signalled = true;
          child.proc.kill("SIGTERM");
        }
      });
      try {
        expect(await child.exited).toBe(0);
        expect(signalled).toBe(true);
        const confirmed = fake.confirmed();
        const all = await stored();
        expect(confirmed.length).toBeGreaterThanOrEqual(20);
        for (const id of confirmed) expect(all).toContain(id);
        expect(new Set(all).size).toBe(all.length);
        const lines = child.output().trim().split("\n").flatMap((l) => {
          try {
            return [JSON.parse(l)];
          } catch {
            return [];
          }
        });
        expect(lines.map((l) => l.msg)).toEqual(
          expect.arrayContaining(["signal received", "agent stopping", "agent stopped"]),
        );
        expect(child.output()).not.toContain(TOKEN);
      } finally {
        await fake.close();
      }
    },
    120_000,
  );
});
