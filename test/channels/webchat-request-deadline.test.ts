// A request of the page that never gets its answer (a connection a mobile network's NAT dropped mid-request waits for
// TCP's retransmissions, many minutes) must not stall the chat: the page's requests have a deadline and are made again.
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../support/tmp.ts";
import { answerEach, CHROMIUM, launch, startWebchat } from "./webchat-page-support.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-web-deadline-")));
afterAll(() => cleanup());

describe.skipIf(!existsSync(CHROMIUM))("web chat: a request left unanswered", () => {
  it("a message whose POST and a poll whose GET never get an answer are still stored and answered", async () => {
    const ch = await startWebchat(dir);
    const answered: string[] = [];
    const orchestrator = answerEach(ch, (t) => `Answer to "${t}"`, answered);
    const browser = await launch();
    try {
      const page = await browser.newPage();
      await page.goto(`${ch.url}/`);
      await page.getByText("Hello!").waitFor();
      // The next POST and the next poll go into a connection that never answers (never reaching the agent).
      let heldPost = false, heldPoll = false;
      await page.route("**/api/messages", (route) => {
        if (heldPost) return route.continue();
        heldPost = true;
      });
      await page.route("**/api/replies*", (route) => {
        if (heldPoll) return route.continue();
        heldPoll = true;
      });
      await page.getByLabel("Message").fill("Are you open on holidays?");
      await page.getByLabel("Message").press("Enter");
      await page.getByText('Answer to "Are you open on holidays?"').waitFor({ timeout: 45_000 });
      expect(answered).toEqual(["Are you open on holidays?"]);
      expect(heldPost && heldPoll).toBe(true);
    } finally {
      await browser.close();
      await orchestrator.stop(1_000);
      await ch.stop();
    }
  }, 90_000);
});
