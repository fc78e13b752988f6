// Messages typed one after another are stored (and answered) in the order typed, though the first one's POST fails
// and is retried: the page sends one at a time, so the next message waits for the retry instead of overtaking it.
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../support/tmp.ts";
import { answerEach, CHROMIUM, launch, sleep, startWebchat } from "./webchat-page-support.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-web-order-")));
afterAll(() => cleanup());

describe.skipIf(!existsSync(CHROMIUM))("web chat: order of messages across a dropped request", () => {
  it("a message whose first POST was dropped is still stored (and answered) before the one typed after it", async () => {
    const ch = await startWebchat(dir, { db: "dropped.db" });
    const answered: string[] = [];
    const orchestrator = answerEach(ch, (t) => `Answer to "${t}"`, answered);
    const browser = await launch();
    try {
      const page = await browser.newPage();
      await page.goto(`${ch.url}/`);
      await page.getByText("Hello!").waitFor();
      // The network drops the first message's POST (a Wi-Fi hiccup, the agent restarting): it never reached the agent.
      let posts = 0;
      await page.route("**/api/messages", async (route) => {
        if (posts++ === 0) return route.abort("connectionreset");
        await route.continue();
      });
      for (const text of ["My order number is 4411", "When will it arrive?"]) {
        await page.getByLabel("Message").fill(text);
        await page.getByLabel("Message").press("Enter");
        await sleep(150);
      }
      await page.getByText('Answer to "When will it arrive?"').waitFor({ timeout: 15_000 });
      await page.getByText('Answer to "My order number is 4411"').waitFor({ timeout: 15_000 });
      // What the agent stored, in its order: what the orchestrator reads and answers.
      const stored = (await ch.rows("SELECT text FROM chat_inbox ORDER BY seq")).map((r) => r["text"]);
      expect(stored).toEqual(["My order number is 4411", "When will it arrive?"]);
      expect(answered).toEqual(["My order number is 4411", "When will it arrive?"]);
      // What the visitor sees.
      expect((await page.locator(".msg.bot").allTextContents()).slice(1)).toEqual([
        'Answer to "My order number is 4411"',
        'Answer to "When will it arrive?"',
      ]);
    } finally {
      await browser.close();
      await orchestrator.stop(1_000);
      await ch.stop();
    }
  }, 60_000);

  it("across a restart of the agent: the message typed first is stored first", async () => {
    let ch = await startWebchat(dir, { db: "restart.db" });
    const port = ch.port;
    const browser = await launch();
    try {
      const page = await browser.newPage();
      await page.goto(`${ch.url}/`);
      await page.getByText("Hello!").waitFor();
      await ch.stop(); // systemctl restart: the port refuses connections for a moment
      const type = async (text: string) => {
        await page.getByLabel("Message").fill(text);
        await page.getByLabel("Message").press("Enter");
      };
      // The agent is back once the first message's retry (1 s after its first try) has failed too.
      let failed = 0;
      let retried!: () => void;
      const retryFailed = new Promise<void>((r) => (retried = r));
      page.on("requestfailed", (r) => r.postData()?.includes("order 4411") && ++failed === 2 && retried());
      await type("I was charged twice for order 4411");
      await sleep(600);
      await type("Please refund one of them");
      const late = sleep(20_000).then(() => "late");
      expect(await Promise.race([retryFailed.then(() => "failed twice"), late])).toBe("failed twice");
      ch = await startWebchat(dir, { db: "restart.db", port });
      for (let i = 0; i < 40; i++) {
        if ((await ch.rows("SELECT count(*) AS n FROM chat_inbox"))[0]!["n"] === 2) break;
        await sleep(250);
      }
      const stored = (await ch.rows("SELECT text FROM chat_inbox ORDER BY seq")).map((r) => r["text"]);
      expect(stored).toEqual(["I was charged twice for order 4411", "Please refund one of them"]);
    } finally {
      await browser.close();
      await ch.stop();
    }
  }, 60_000);
});
