// README "Backups": to restore, stop every unit, put the copy in place of aideazz.db, delete its -wal and -shm, start
// the units. An open web chat page polls `GET api/replies?after=<the last seq it showed>`; the restored copy's
// AUTOINCREMENT counter would hand out again the numbers of the replies stored after the backup, below that.
import { renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatKey, type OutboundReply, outboundTopic } from "../../src/bus/envelopes.ts";
import { SESSION_HEADER } from "../../src/agents/webchat/page.ts";
import { sessionChatId } from "../../src/agents/webchat/routes.ts";
import { cli } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";
import { type Channel, startChannel, until } from "./harness.ts";

let dir: string;
let cleanup: () => Promise<void>;
let ch: Channel | undefined;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-restore-web-")));
afterAll(async () => {
  await ch?.stop();
  await cleanup();
});

const SESSION = "6f1c1d2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f";
const CHAT = sessionChatId(SESSION);
const start = () =>
  startChannel({
    dir,
    dbFile: "aideazz.db",
    secrets: {},
    roles: { support: { kind: "support", systemPrompt: "Be nice." } },
    agent: { name: "web", kind: "webchat", role: "support" },
  });
const reply = (c: Channel, text: string, n: number) =>
  c.bus.publish([{
    topic: outboundTopic("web"),
    key: chatKey("web", CHAT),
    payload: { agent: "web", chatId: CHAT, text, inReplyTo: [n], replyKey: `r${n}`, kind: "answer" } satisfies OutboundReply as never,
    idempotencyKey: `t${n}`,
  }]);
/** What the open page's poll gets: the replies after the last seq it showed. */
const poll = async (c: Channel, after: number): Promise<{ seq: number; text: string }[]> =>
  (await (await fetch(`${c.url}/api/replies?after=${after}`, { headers: { [SESSION_HEADER]: SESSION } })).json()).replies;

describe("restoring a backup while a visitor's web chat tab stays open", () => {
  it("the reply stored after the restore reaches the page that kept polling", async () => {
    ch = await start();
    const db = join(dir, "aideazz.db");
    await reply(ch, "Hello! How can I help?", 1);
    await until(async () => (await poll(ch!, 0)).length === 1, 10_000, "the first reply");

    // The nightly backup.
    const backup = join(dir, "backup.db");
    const r = await cli(["backup", backup, "--db", `file:${db}`]);
    expect(r.code, r.stderr).toBe(0);

    // The day goes on: two more replies, which the open tab shows; it now polls after the last one's seq.
    await reply(ch, "The Pro plan is $20/month.", 2);
    await reply(ch, "Yes, you can cancel any time.", 3);
    await until(async () => (await poll(ch!, 0)).length === 3, 10_000, "three replies");
    const after = Math.max(...(await poll(ch, 0)).map((x) => x.seq));

    // The restore, as README says: stop, put the copy in place, delete -wal and -shm, start.
    await ch.stop();
    ch = undefined;
    renameSync(backup, db);
    rmSync(`${db}-wal`, { force: true });
    rmSync(`${db}-shm`, { force: true });
    ch = await start();

    // The visitor writes again; the answer is stored, and the open tab polls as it always does.
    await reply(ch, "Your order ships tomorrow.", 4);
    await until(async () => (await poll(ch!, 0)).some((x) => x.text === "Your order ships tomorrow."), 10_000, "the new reply");
    const stored = (await poll(ch, 0)).find((x) => x.text === "Your order ships tomorrow.")!;
    const seen = await poll(ch, after);
    expect({ after, storedSeq: stored.seq, seen: seen.map((x) => x.text) }).toMatchObject({
      seen: ["Your order ships tomorrow."],
    });
  }, 60_000);
});
