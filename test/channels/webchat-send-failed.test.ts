// A message the page could not get stored (the store full or locked: 503 on every try) must not be lost: the page says
// what the server said, keeps the text in the box to send again, and that send stores it (and it is answered) once.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";
import type { Page } from "playwright-core";
import { answerEach, CHROMIUM, launch, sleep, startWebchat, type Webchat } from "./webchat-page-support.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-web-failed-")));
afterAll(() => cleanup());

/** A web chat agent on its own database, answered by a stand-in orchestrator, with its page open in Chromium. */
async function withPage(
  db: string,
  run: (open: { ch: Webchat; page: Page; answered: string[] }) => Promise<void>,
): Promise<void> {
  const ch = await startWebchat(dir, { db });
  const answered: string[] = [];
  const orchestrator = answerEach(ch, (t) => `Answer to "${t}"`, answered);
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(`${ch.url}/`);
    await page.getByText("Hello!").waitFor();
    await run({ ch, page, answered });
  } finally {
    await browser.close();
    await orchestrator.stop(1_000);
    await ch.stop();
  }
}

describe.skipIf(!existsSync(CHROMIUM))("web chat: a message the store could not take", () => {
  it("says the server's reason, keeps the text in the box, and sending it again stores it once", async () => {
    const text = "Can I change my delivery address?";
    await withPage("locked.db", async ({ ch, page, answered }) => {
      // Another process holds the write lock past the busy timeout: each POST is answered 503 with Retry-After.
      const holder = spawn(process.execPath, [join(repoRoot, "test/support/hold-lock.mjs"), join(dir, "locked.db")], {
        stdio: ["pipe", "pipe", "inherit"],
      });
      await new Promise((resolve) => holder.stdout.once("data", resolve));
      try {
        await page.getByLabel("Message").fill(text);
        await page.getByLabel("Message").press("Enter");
        await page.locator(".msg.note").waitFor({ timeout: 90_000 });
      } finally {
        holder.stdin.end();
        await new Promise((resolve) => holder.once("exit", resolve));
      }
      expect(await page.locator(".msg.note").textContent()).toBe(
        "Your message could not be sent (store unavailable, retry later). Please try again.",
      );
      expect(await page.getByLabel("Message").inputValue()).toBe(text);
      expect(await ch.rows("SELECT text FROM chat_inbox")).toEqual([]);
      // The visitor sends it again as it stands.
      await page.getByLabel("Message").press("Enter");
      await page.getByText(`Answer to "${text}"`).waitFor({ timeout: 15_000 });
      expect((await ch.rows("SELECT text FROM chat_inbox")).map((r) => r["text"])).toEqual([text]);
      expect(answered).toEqual([text]);
    });
  }, 150_000);

  it("a message stored whose answers were all lost on the way, sent again from the box, is stored and answered once", async () => {
    const text = "Is the blue one in stock?";
    await withPage("lost.db", async ({ ch, page, answered }) => {
      // Each POST reaches the agent, which stores the message (the first time) and answers 202; the answer is lost.
      await page.route("**/api/messages", async (route) => {
        await route.fetch();
        await route.abort("connectionreset");
      });
      await page.getByLabel("Message").fill(text);
      await page.getByLabel("Message").press("Enter");
      await page.locator(".msg.note").waitFor({ timeout: 60_000 });
      expect(await page.getByLabel("Message").inputValue()).toBe(text);
      await page.unrouteAll();
      const accepted = page.waitForResponse("**/api/messages");
      await page.getByLabel("Message").press("Enter");
      expect((await accepted).status()).toBe(202);
      await page.getByText(`Answer to "${text}"`).waitFor({ timeout: 15_000 });
      await sleep(2_000); // time for a second copy to be answered
      expect((await ch.rows("SELECT text FROM chat_inbox")).map((r) => r["text"])).toEqual([text]);
      expect(answered).toEqual([text]);
    });
  }, 90_000);
});
