// The chat page on a 320 px phone, with a long unbroken message and reply: nothing scrolls sideways, the Send button
// stays on screen, and the page loads with no content-policy violation.
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../support/tmp.ts";
import { answerEach, CHROMIUM, launch, startWebchat } from "./webchat-page-support.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-web-phone-")));
afterAll(() => cleanup());

describe.skipIf(!existsSync(CHROMIUM))("web chat page on a phone", () => {
  it("fits a 320 px phone with a long unbroken message, no policy violation", async () => {
    const ch = await startWebchat(dir, { db: "narrow.db", webchat: { title: "A rather long business name for a chat page header" } });
    const orchestrator = answerEach(ch, (t) => `See https://example.com/${"x".repeat(200)} for ${t}`);
    const browser = await launch();
    try {
      const page = await browser.newPage({ viewport: { width: 320, height: 568 }, isMobile: true, hasTouch: true });
      const console: string[] = [];
      page.on("console", (m) => console.push(m.text()));
      page.on("pageerror", (e) => console.push(e.message));
      await page.goto(`${ch.url}/`);
      const long = "a".repeat(300);
      await page.getByLabel("Message").fill(long);
      await page.getByRole("button", { name: "Send" }).click();
      await page.getByText(/^See https:\/\/example\.com/).waitFor({ timeout: 15_000 });
      const r = await page.evaluate(() => ({
        scrollWidth: document.documentElement.scrollWidth,
        clientWidth: document.documentElement.clientWidth,
        send: document.querySelector("button")!.getBoundingClientRect().right,
        widest: Math.max(...[...document.querySelectorAll(".msg")].map((e) => e.getBoundingClientRect().right)),
      }));
      expect(r.scrollWidth).toBeLessThanOrEqual(r.clientWidth);
      expect(r.send).toBeLessThanOrEqual(r.clientWidth);
      expect(r.widest).toBeLessThanOrEqual(r.clientWidth);
      expect(console).toEqual([]);
    } finally {
      await browser.close();
      await orchestrator.stop(1_000);
      await ch.stop();
    }
  }, 60_000);
});
