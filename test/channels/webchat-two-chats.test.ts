// Two web chat agents served on one site under two paths (a reverse proxy: /sales/ and /support/, which the page's
// relative URLs allow). Their pages share the origin's session and could share a BroadcastChannel: a message typed in
// one chat must not show in the other chat's open tab.
import { existsSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../support/tmp.ts";
import { CHROMIUM, launch, sleep, startWebchat } from "./webchat-page-support.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-web-two-")));
afterAll(() => cleanup());

/** A path-prefix reverse proxy on loopback: /<prefix>/rest → target/rest. */
function proxy(routes: Record<string, number>): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const m = /^\/([a-z]+)(\/.*)$/.exec(req.url ?? "");
    const port = m ? routes[m[1]!] : undefined;
    if (!m || !port) return void res.writeHead(404).end();
    const up = request({ host: "127.0.0.1", port, path: m[2], method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on("error", () => res.writeHead(502).end());
    req.pipe(up);
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      resolve({ server, url: `http://127.0.0.1:${typeof a === "object" && a ? a.port : 0}` });
    })
  );
}

describe.skipIf(!existsSync(CHROMIUM))("web chat: two chats on one site", () => {
  it("a message typed in one chat does not appear in the other chat's tab", async () => {
    const sales = await startWebchat(dir, { db: "two.db", greeting: "Sales here." });
    const support = await startWebchat(dir, { db: "two-support.db", greeting: "Support here." });
    const site = await proxy({ sales: sales.port, support: support.port });
    const browser = await launch();
    try {
      const context = await browser.newContext();
      const salesTab = await context.newPage();
      await salesTab.goto(`${site.url}/sales/`);
      await salesTab.getByText("Sales here.").waitFor();
      const supportTab = await context.newPage();
      await supportTab.goto(`${site.url}/support/`);
      await supportTab.getByText("Support here.").waitFor();
      await salesTab.getByLabel("Message").fill("What discount do I get for 50 seats?");
      await salesTab.getByLabel("Message").press("Enter");
      await sleep(1_500);
      expect(await salesTab.locator(".msg").allTextContents()).toEqual([
        "Sales here.",
        "What discount do I get for 50 seats?",
      ]);
      expect(await supportTab.locator(".msg").allTextContents()).toEqual(["Support here."]);
      expect(await supportTab.locator("#typing").isHidden()).toBe(true);
    } finally {
      await browser.close();
      site.server.close();
      await support.stop();
      await sales.stop();
    }
  }, 60_000);
});
