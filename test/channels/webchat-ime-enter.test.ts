// Chinese, Japanese and Korean visitors type through an input method, where Enter picks a candidate and ends the
// composition: that Enter must not send the half-typed text.
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../support/tmp.ts";
import { CHROMIUM, launch, sleep, startWebchat } from "./webchat-page-support.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-web-ime-")));
afterAll(() => cleanup());

describe.skipIf(!existsSync(CHROMIUM))("web chat: typing through an input method (IME)", () => {
  it("the Enter that confirms a composition does not send the message", async () => {
    const ch = await startWebchat(dir, { db: "ime.db" });
    const browser = await launch();
    try {
      const page = await browser.newPage();
      await page.goto(`${ch.url}/`);
      await page.getByText("Hello!").waitFor();
      const input = page.getByLabel("Message");
      await input.fill("注文の");
      await input.focus();
      const cdp = await page.context().newCDPSession(page);
      const seen: { isComposing: boolean; key: string }[] = [];
      await page.exposeFunction("seenKey", (k: { isComposing: boolean; key: string }) => void seen.push(k));
      await page.evaluate(() =>
        document.getElementById("text")!.addEventListener(
          "keydown",
          (e) => (window as unknown as { seenKey(k: unknown): void }).seenKey({ isComposing: e.isComposing, key: e.key }),
          { capture: true },
        )
      );
      // The visitor types "じょうきょう" (status) and presses Enter to pick 状況 from the candidates.
      await cdp.send("Input.imeSetComposition", { text: "じょうきょう", selectionStart: 6, selectionEnd: 6 });
      await cdp.send("Input.dispatchKeyEvent", {
        type: "rawKeyDown",
        key: "Enter",
        code: "Enter",
        windowsVirtualKeyCode: 13,
        nativeVirtualKeyCode: 13,
      });
      await cdp.send("Input.insertText", { text: "状況" }); // the IME commits the candidate
      await cdp.send("Input.dispatchKeyEvent", { type: "keyUp", key: "Enter", code: "Enter", windowsVirtualKeyCode: 13 });
      await sleep(1_000);
      expect(seen).toEqual([{ isComposing: true, key: "Enter" }]); // what the page's handler was given
      const stored = (await ch.rows("SELECT text FROM chat_inbox ORDER BY seq")).map((r) => r["text"]);
      expect(stored).toEqual([]);
      expect(await page.locator(".msg.me").count()).toBe(0);
      expect(await input.inputValue()).toBe("注文の状況");
    } finally {
      await browser.close();
      await ch.stop();
    }
  }, 60_000);
});
