// A page opened again (a reload) whose history request fails once (store unavailable: 503 with Retry-After; a
// restart; a proxy's 502) asks again: polling replies from 0 instead would show the bot's replies without the
// visitor's questions.
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../support/tmp.ts";
import { answerEach, CHROMIUM, launch, sleep, startWebchat } from "./webchat-page-support.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-web-history-")));
afterAll(() => cleanup());

describe.skipIf(!existsSync(CHROMIUM))("web chat: a reload whose history request fails once", () => {
  it("still shows the conversation with the visitor's questions, in order", async () => {
    const ch = await startWebchat(dir, { db: "history.db" });
    const orchestrator = answerEach(ch, (t) => `Answer to "${t}"`);
    const browser = await launch();
    try {
      const page = await browser.newPage();
      await page.goto(`${ch.url}/`);
      for (const text of ["Do you ship to Spain?", "How long does it take?"]) {
        await page.getByLabel("Message").fill(text);
        await page.getByLabel("Message").press("Enter");
        await page.getByText(`Answer to "${text}"`).waitFor({ timeout: 15_000 });
      }
      const conversation = [
        "Hello!",
        "Do you ship to Spain?",
        'Answer to "Do you ship to Spain?"',
        "How long does it take?",
        'Answer to "How long does it take?"',
      ];
      expect(await page.locator(".msg").allTextContents()).toEqual(conversation);
      // The reload's history request meets the store unavailable for a moment (what failedRequest answers then).
      let histories = 0;
      await page.route("**/api/history", async (route) => {
        if (histories++ === 0) {
          return route.fulfill({
            status: 503,
            headers: { "content-type": "application/json", "retry-after": "5" },
            body: JSON.stringify({ error: "store unavailable, retry later" }),
          });
        }
        await route.continue();
      });
      await page.reload();
      await page.getByText('Answer to "How long does it take?"').waitFor({ timeout: 15_000 });
      await sleep(8_000); // longer than the Retry-After: nothing shown twice once it asked again
      expect(await page.locator(".msg").allTextContents()).toEqual(conversation);
    } finally {
      await browser.close();
      await orchestrator.stop(1_000);
      await ch.stop();
    }
  }, 60_000);

  it("a message sent while it asks again is shown once, before its answer", async () => {
    const ch = await startWebchat(dir, { db: "meanwhile.db" });
    const orchestrator = answerEach(ch, (t) => `Answer to "${t}"`);
    const browser = await launch();
    try {
      const page = await browser.newPage();
      await page.goto(`${ch.url}/`);
      await page.getByLabel("Message").fill("First question");
      await page.getByLabel("Message").press("Enter");
      await page.getByText('Answer to "First question"').waitFor({ timeout: 15_000 });
      let histories = 0;
      await page.route("**/api/history", async (route) => {
        if (histories++ === 0) return route.fulfill({ status: 502, body: "Bad Gateway" });
        await route.continue();
      });
      await page.reload();
      await page.getByText("Hello!").waitFor();
      // Sent (stored, answered) before the history comes: the history has it, in its place.
      await page.getByLabel("Message").fill("Sent meanwhile");
      await page.getByLabel("Message").press("Enter");
      await page.getByText('Answer to "Sent meanwhile"').waitFor({ timeout: 15_000 });
      await sleep(1_000);
      expect(histories).toBe(2);
      expect(await page.locator(".msg").allTextContents()).toEqual([
        "Hello!",
        "First question",
        'Answer to "First question"',
        "Sent meanwhile",
        'Answer to "Sent meanwhile"',
      ]);
    } finally {
      await browser.close();
      await orchestrator.stop(1_000);
      await ch.stop();
    }
  }, 60_000);
});
