// The web chat shows Arabic and Hebrew right to left (`dir="auto"` on each bubble), as Telegram and WhatsApp do:
// in a left-to-right bubble a reply's closing "!" is drawn at the right end, where its reader sees the start.
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../support/tmp.ts";
import { answerEach, CHROMIUM, launch, startWebchat } from "./webchat-page-support.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-rtl-")));
afterAll(() => cleanup());

const QUESTION = "هل لديكم خطة مجانية؟";
const ANSWER = "نعم، لدينا خطة مجانية!";

describe.skipIf(!existsSync(CHROMIUM))("web chat: right-to-left text", () => {
  it("an Arabic reply ends on the left (its '!' is left of its first letter), as Arabic reads", async () => {
    const ch = await startWebchat(dir, { db: "rtl.db" });
    const consumer = answerEach(ch, () => ANSWER);
    const browser = await launch();
    try {
      const page = await browser.newPage();
      await page.goto(`${ch.url}/`);
      await page.getByText("Hello!").waitFor();
      await page.getByLabel("Message").fill(QUESTION);
      await page.getByLabel("Message").press("Enter");
      await page.locator(".msg.bot", { hasText: ANSWER }).waitFor({ timeout: 15_000 });
      // x of the first and the last character of each bubble, as drawn.
      const layout = await page.evaluate(() => {
        const at = (el: Element, i: number) => {
          const node = el.firstChild!;
          const r = document.createRange();
          r.setStart(node, i);
          r.setEnd(node, i + 1);
          return r.getBoundingClientRect().left;
        };
        const of = (sel: string) => {
          const el = [...document.querySelectorAll(sel)].at(-1)!;
          const n = el.textContent!.length;
          return { first: at(el, 0), last: at(el, n - 1), direction: getComputedStyle(el).direction };
        };
        return { bot: of(".msg.bot"), me: of(".msg.me") };
      });
      expect(layout.bot.last, `bot bubble drawn ${JSON.stringify(layout.bot)}`).toBeLessThan(layout.bot.first);
      expect(layout.me.last, `visitor bubble drawn ${JSON.stringify(layout.me)}`).toBeLessThan(layout.me.first);
    } finally {
      await browser.close();
      await consumer.stop();
      await ch.stop();
    }
  }, 60_000);
});
