// A visitor whose browser blocks cookies and site data (a privacy setting): reading localStorage throws there. The page
// must still chat (its session then lasts as long as the tab), not stop at its first line, leaving the Send button to
// submit the form natively: the page reloaded and the typed message was gone, never sent.
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../support/tmp.ts";
import { answerEach, CHROMIUM, startWebchat } from "./webchat-page-support.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-web-cookies-")));
afterAll(() => cleanup());

describe.skipIf(!existsSync(CHROMIUM))("web chat with cookies blocked", () => {
  it("a visitor whose browser blocks site data sends a message and sees its answer", async () => {
    const ch = await startWebchat(dir);
    const answered: string[] = [];
    const orchestrator = answerEach(ch, (t) => `Answer to "${t}"`, answered);
    // Chromium's own setting "Block all cookies" (site data included), in a profile of its own.
    const profile = join(dir, "profile");
    await mkdir(join(profile, "Default"), { recursive: true });
    await writeFile(
      join(profile, "Default", "Preferences"),
      JSON.stringify({ profile: { default_content_setting_values: { cookies: 2 } } }),
    );
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
    });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${ch.url}/`);
      expect(await page.evaluate(() => {
        try {
          localStorage.getItem("x");
          return "readable";
        } catch {
          return "blocked";
        }
      })).toBe("blocked");
      await page.getByLabel("Message").fill("Do you deliver on Sundays?");
      await page.getByLabel("Message").press("Enter");
      await page.getByText('Answer to "Do you deliver on Sundays?"').waitFor({ timeout: 15_000 });
      expect(answered).toEqual(["Do you deliver on Sundays?"]);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
      await orchestrator.stop(1_000);
      await ch.stop();
    }
  }, 60_000);
});
