// A tab of the conversation opened while another tab sends: the other tab's message arrives by broadcast AND in the
// history (stored by the time the history is read). The new tab holds broadcasts until its history has loaded and
// then shows only those the history does not have: the message once, after the earlier conversation.
import { existsSync } from "node:fs";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../support/tmp.ts";
import { type Channel, startChannel } from "./harness.ts";

const CHROMIUM = "/usr/bin/chromium";
let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-web-tabs-")));
afterAll(() => cleanup());

describe.skipIf(!existsSync(CHROMIUM))("web chat: a tab opened while another sends", () => {
  it("shows the other tab's message once, in its place", async () => {
    const ch: Channel = await startChannel({
      dir,
      secrets: {},
      roles: { support: { kind: "support", systemPrompt: "Be nice.", greeting: "Hello!" } },
      agent: { name: "webchat", kind: "webchat", role: "support", webchat: { pollMs: 250 } },
    });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu"] });
    try {
      const context = await browser.newContext();
      const first = await context.newPage();
      await first.goto(`${ch.url}/`);
      const send = async (text: string) => {
        await first.getByLabel("Message").fill(text);
        await first.getByLabel("Message").press("Enter");
      };
      await send("An earlier question");
      await first.waitForFunction(() => document.getElementById("typing")!.hidden === false);
      await new Promise((r) => setTimeout(r, 500)); // stored
      const second = await context.newPage();
      // The new tab's history request is slow (a slow network): read by the server after the first tab's send.
      await second.route("**/api/history", async (route) => {
        await new Promise((r) => setTimeout(r, 1_500));
        await route.fulfill({ response: await route.fetch() });
      });
      await second.goto(`${ch.url}/`);
      await send("Sent while the second tab opened");
      await new Promise((r) => setTimeout(r, 3_000));
      expect((await second.locator(".msg").allTextContents())).toEqual([
        "Hello!",
        "An earlier question",
        "Sent while the second tab opened",
      ]);
    } finally {
      await browser.close();
      await ch.stop();
    }
  }, 60_000);
});
