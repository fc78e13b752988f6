// A tab of the conversation opened while another tab sends: the other tab's message arrives by broadcast AND in the
// history (stored by the time the history is read). The new tab holds broadcasts until its history has loaded and
// then shows only those the history does not have (by message id, not text: a text repeats, and is stored changed):
// the message once, after the earlier conversation.
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../support/tmp.ts";
import { CHROMIUM, launch, sleep, startWebchat } from "./webchat-page-support.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-web-tabs-")));
afterAll(() => cleanup());

describe.skipIf(!existsSync(CHROMIUM))("web chat: a tab opened while another sends", () => {
  it("shows the other tab's message once, in its place", async () => {
    const ch = await startWebchat(dir, { db: "earlier.db" });
    const browser = await launch();
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

  it("shows the visitor's repeated 'yes' sent while its history was on the way", async () => {
    const ch = await startWebchat(dir, { db: "repeat.db" });
    const browser = await launch();
    try {
      const context = await browser.newContext();
      const first = await context.newPage();
      await first.goto(`${ch.url}/`);
      const send = async (text: string) => {
        await first.getByLabel("Message").fill(text);
        await first.getByLabel("Message").press("Enter");
      };
      await send("yes");
      await sleep(500); // stored
      const second = await context.newPage();
      // The new tab's history is read at once, and its response is slow to arrive (a slow network).
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      let read!: () => void;
      const wasRead = new Promise<void>((r) => (read = r));
      await second.route("**/api/history", async (route) => {
        const response = await route.fetch();
        read();
        await released;
        await route.fulfill({ response });
      });
      const opened = second.goto(`${ch.url}/`);
      await wasRead;
      await send("yes"); // the visitor confirms again, in the first tab
      await sleep(1_000); // broadcast to the second tab, and stored
      release();
      await opened;
      await sleep(1_500);
      expect(await first.locator(".msg").allTextContents()).toEqual(["Hello!", "yes", "yes"]);
      expect(await second.locator(".msg").allTextContents()).toEqual(["Hello!", "yes", "yes"]);
    } finally {
      await browser.close();
      await ch.stop();
    }
  }, 60_000);

  it("shows a message with a zero-width non-joiner (Persian) once", async () => {
    const ch = await startWebchat(dir, { db: "zwnj.db" });
    const browser = await launch();
    try {
      const context = await browser.newContext();
      const first = await context.newPage();
      await first.goto(`${ch.url}/`);
      const send = async (text: string) => {
        await first.getByLabel("Message").fill(text);
        await first.getByLabel("Message").press("Enter");
      };
      await send("سلام");
      await sleep(500);
      const second = await context.newPage();
      // As in the first test: the history is read after the first tab's message is stored.
      await second.route("**/api/history", async (route) => {
        await sleep(1_500);
        await route.fulfill({ response: await route.fetch() });
      });
      await second.goto(`${ch.url}/`);
      const persian = "می\u200cخواهم سفارش بدهم"; // "I want to order": Persian writes می‌ with a ZWNJ
      await send(persian);
      await sleep(3_000);
      expect(await first.locator(".msg").allTextContents()).toEqual(["Hello!", "سلام", persian]);
      // Once, as stored (its non-joiner kept: part of the spelling), which is what a reload shows too.
      const stored = (await ch.rows("SELECT text FROM chat_inbox ORDER BY seq")).map((r) => r["text"]);
      expect(stored).toEqual(["سلام", persian]);
      expect(await second.locator(".msg").allTextContents()).toEqual(["Hello!", ...stored]);
    } finally {
      await browser.close();
      await ch.stop();
    }
  }, 60_000);
});
