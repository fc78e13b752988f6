// The web chat in headless Chromium (Debian's /usr/bin/chromium through playwright-core): a visitor types a
// question, the message goes through the spine (ingress → inbound → a test-side stand-in for the orchestrator
// → outbound.<agent> → egress → the page's poll), and the answer appears. A screenshot is kept in
// test-artifacts/ for a human to look at.
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  chatKey,
  INBOUND_TOPIC,
  inboundMessageSchema,
  type OutboundReply,
  outboundTopic,
} from "../../src/bus/envelopes.ts";
import { repoRoot } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";
import { type Channel, startChannel } from "./harness.ts";
import { answerEach, CHROMIUM } from "./webchat-page-support.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-browser-")));
afterAll(() => cleanup());

describe.skipIf(!existsSync(CHROMIUM))("web chat in Chromium", () => {
  it(
    "a visitor asks a question and sees the answer; a double-submitted message is answered once",
    async () => {
      const ch: Channel = await startChannel({
        dir,
        secrets: {},
        roles: {
          support: {
            kind: "support",
            systemPrompt: "Be nice.",
            greeting: "Hi! I'm Example Co's assistant. Ask me about plans.",
          },
        },
        agent: {
          name: "webchat",
          kind: "webchat",
          role: "support",
          webchat: { title: "Example Co", pollMs: 250 },
        },
      });
      // Test harness standing in for the orchestrator: answers each text; "Mars" gets a notice (no answer
      // follows), "slow" a "working on it" notice (kind progress) and the answer 2 s later.
      const answered: string[] = [];
      const orchestrator = ch.bus.consume({
        topic: INBOUND_TOPIC,
        group: "orchestrator",
        handler: async (d) => {
          const msg = inboundMessageSchema.parse(d.payload);
          if (msg.kind !== "text") return;
          answered.push(msg.text);
          const publish = (text: string, kind: OutboundReply["kind"]) => {
            const reply: OutboundReply = {
              agent: msg.agent,
              chatId: msg.chatId,
              text,
              inReplyTo: [d.id],
              replyKey: `${kind}:${d.id}`,
              kind,
            };
            return ch.bus.publish([{
              topic: outboundTopic(msg.agent),
              key: chatKey(msg.agent, msg.chatId),
              payload: reply as never,
              idempotencyKey: `${kind}:${d.id}`,
            }]);
          };
          // As the orchestrator does with its reply: the chat's waiting messages are answered (a burst by one reply).
          const answerPending = (kind = "answer") =>
            ch.rows(
              "UPDATE chat_inbox SET state = 'answered', reply_key = ? WHERE agent = ? AND chat_id = ? AND state = 'pending' RETURNING seq",
              `${kind}:${d.id}`,
              msg.agent,
              msg.chatId,
            );
          const [mine] = await ch.rows("SELECT state FROM chat_inbox WHERE bus_id = ?", d.id);
          if (mine?.["state"] !== "pending") return; // answered with an earlier message of its burst
          if (msg.text.includes("Mars")) {
            await publish("I don't have an answer to that yet.", "notice");
            return void await answerPending("notice");
          }
          if (msg.text.includes("slow")) {
            await publish("Working on it…", "progress");
            await new Promise((r) => setTimeout(r, 2_000));
          }
          if (msg.text.startsWith("Part")) {
            await new Promise((r) => setTimeout(r, 1_000)); // the rest of the burst arrives meanwhile
            await publish("Both parts answered in one reply.", "answer");
            return void await answerPending();
          }
          await publish(`You asked: "${msg.text}". The Pro plan costs $20 per month.`, "answer");
          await answerPending();
        },
      });
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          "--no-first-run",
        ],
      });
      try {
        const page = await browser.newPage({ viewport: { width: 480, height: 640 } });
        const errors: string[] = [];
        page.on("pageerror", (e) => errors.push(e.message));
        page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
        const urls: string[] = [];
        page.on("request", (r) => urls.push(r.url()));
        // A session id kept under the key of before (when it was the chat id, stored and shown) is not reused.
        await page.addInitScript(() => localStorage.setItem("aideazz.session", "6f1c1d2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f"));
        await page.goto(`${ch.url}/`);
        await page.getByText("Hi! I'm Example Co's assistant. Ask me about plans.").waitFor();
        await page.getByLabel("Message").fill("How much is the Pro plan?");
        await page.getByLabel("Message").press("Enter");
        await page.getByText('You asked: "How much is the Pro plan?". The Pro plan costs $20 per month.')
          .waitFor({ timeout: 15_000 });
        // A second question through the Send button.
        await page.getByLabel("Message").fill("Can I pay yearly?");
        await page.getByRole("button", { name: "Send" }).click();
        await page.getByText('You asked: "Can I pay yearly?". The Pro plan costs $20 per month.').waitFor({
          timeout: 15_000,
        });
        // The same message posted twice (a retried POST after a lost response): stored once, answered once.
        const statuses = await page.evaluate(async () => {
          const session = localStorage.getItem("aideazz.webchat.session");
          const body = JSON.stringify({
            session,
            id: "11111111-2222-4333-8444-555555555555",
            text: "Sent twice?",
          });
          const post = () =>
            fetch("api/messages", { method: "POST", headers: { "content-type": "application/json" }, body });
          return [(await post()).status, (await post()).status];
        });
        expect(statuses).toEqual([202, 202]);
        const session = await page.evaluate(() => [
          localStorage.getItem("aideazz.webchat.session"),
          localStorage.getItem("aideazz.session"),
        ]);
        expect(session[0]).toMatch(/^[0-9a-f-]{36}$/);
        expect(session[0]).not.toBe("6f1c1d2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f");
        expect(session[1]).toBeNull();
        // The page's requests carry the session in a header, never in a URL (proxies log URLs).
        expect(urls.some((u) => u.includes("/api/replies"))).toBe(true);
        expect(urls.filter((u) => u.includes(session[0]!))).toEqual([]);
        await page.getByText('You asked: "Sent twice?". The Pro plan costs $20 per month.').waitFor({
          timeout: 15_000,
        });
        await new Promise((r) => setTimeout(r, 500));
        expect(await page.locator(".msg.me").count()).toBe(2);
        expect(await page.locator(".msg.bot").count()).toBe(4);
        expect(await page.locator("#typing").isHidden()).toBe(true);
        // A notice is the whole answer: the typing indicator goes; "working on it" keeps it until the answer.
        await page.getByLabel("Message").fill("What is the weather on Mars?");
        await page.getByLabel("Message").press("Enter");
        await page.getByText("I don't have an answer to that yet.").waitFor({ timeout: 15_000 });
        await page.locator("#typing").waitFor({ state: "hidden", timeout: 2_000 });
        await page.getByLabel("Message").fill("A slow question");
        await page.getByLabel("Message").press("Enter");
        await page.getByText("Working on it…").waitFor({ timeout: 15_000 });
        expect(await page.locator("#typing").isVisible()).toBe(true);
        await page.getByText('You asked: "A slow question". The Pro plan costs $20 per month.').waitFor({
          timeout: 15_000,
        });
        await page.locator("#typing").waitFor({ state: "hidden", timeout: 2_000 });
        // A quick burst answered by one reply (coalescing): "typing…" goes with that reply.
        for (const text of ["Part one of my question", "Part two of it"]) {
          await page.getByLabel("Message").fill(text);
          await page.getByLabel("Message").press("Enter");
        }
        await page.getByText("Both parts answered in one reply.").waitFor({ timeout: 15_000 });
        await page.locator("#typing").waitFor({ state: "hidden", timeout: 2_000 });
        expect(await page.getByText("Both parts answered in one reply.").count()).toBe(1);
        // A reload shows the conversation so far, in order, and goes on from its end (nothing shown twice).
        await page.reload();
        await page.getByText("Both parts answered in one reply.").waitFor({ timeout: 15_000 });
        await new Promise((r) => setTimeout(r, 500));
        const answer = (q: string) => `You asked: "${q}". The Pro plan costs $20 per month.`;
        expect(await page.locator(".msg").allTextContents()).toEqual([
          "Hi! I'm Example Co's assistant. Ask me about plans.",
          "How much is the Pro plan?",
          answer("How much is the Pro plan?"),
          "Can I pay yearly?",
          answer("Can I pay yearly?"),
          "Sent twice?",
          answer("Sent twice?"),
          "What is the weather on Mars?",
          "I don't have an answer to that yet.",
          "A slow question",
          "Working on it…",
          answer("A slow question"),
          "Part one of my question",
          "Part two of it",
          "Both parts answered in one reply.",
        ]);
        expect(await page.locator("#typing").isHidden()).toBe(true);
        await mkdir(join(repoRoot, "test-artifacts"), { recursive: true });
        await page.screenshot({ path: join(repoRoot, "test-artifacts", "webchat.png") });
        expect(errors).toEqual([]);
        expect(answered).toEqual([
          "How much is the Pro plan?",
          "Can I pay yearly?",
          "Sent twice?",
          "What is the weather on Mars?",
          "A slow question",
          "Part one of my question",
          "Part two of it",
        ]);
      } finally {
        await browser.close();
        await orchestrator.stop(1_000);
        await ch.stop();
      }
    },
    90_000,
  );

  it("two tabs of one conversation: each shows the messages sent from the other, and their answers", async () => {
    const ch: Channel = await startChannel({
      dir,
      dbFile: "tabs.db",
      secrets: {},
      roles: { support: { kind: "support", systemPrompt: "Be nice." } },
      agent: { name: "webchat", kind: "webchat", role: "support", webchat: { pollMs: 250 } },
    });
    const orchestrator = answerEach(ch, (text) => `Answer to "${text}"`);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu"],
    });
    try {
      const context = await browser.newContext();
      const [first, second] = [await context.newPage(), await context.newPage()];
      await first.goto(`${ch.url}/`);
      await second.goto(`${ch.url}/`);
      // The first tab hears back late (a slow network): the answer reaches the second tab's poll before that.
      await first.route("**/api/messages", async (route) => {
        const response = await route.fetch();
        await new Promise((r) => setTimeout(r, 1_500));
        await route.fulfill({ response });
      });
      const ask = async (page: typeof first, text: string) => {
        await page.getByLabel("Message").fill(text);
        await page.getByLabel("Message").press("Enter");
        for (const p of [first, second]) {
          await p.getByText(`Answer to "${text}"`).waitFor({ timeout: 15_000 });
        }
      };
      await ask(first, "Asked in the first tab");
      await ask(second, "Asked in the second tab");
      await new Promise((r) => setTimeout(r, 500));
      const conversation = [
        "Asked in the first tab",
        'Answer to "Asked in the first tab"',
        "Asked in the second tab",
        'Answer to "Asked in the second tab"',
      ];
      for (const p of [first, second]) {
        expect((await p.locator(".msg").allTextContents()).slice(1)).toEqual(conversation); // after the greeting
      }
    } finally {
      await browser.close();
      await orchestrator.stop(1_000);
      await ch.stop();
    }
  }, 60_000);

  it("markup in a message or a reply is shown as text (F2): no element is made, no script runs", async () => {
    const ch: Channel = await startChannel({
      dir,
      dbFile: "markup.db",
      secrets: {},
      roles: { support: { kind: "support", systemPrompt: "Be nice." } },
      agent: { name: "webchat", kind: "webchat", role: "support", webchat: { pollMs: 250 } },
    });
    // A reply as a model steered by an injected prompt might write it.
    const reply = `<img src=x onerror="window.pwned='reply'"><b>Bold</b> <script>window.pwned='script'</script>`;
    const orchestrator = answerEach(ch, () => reply);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu"] });
    try {
      const page = await browser.newPage();
      const question = `<i>hi</i><img src=y onerror="window.pwned='question'">`;
      await page.goto(`${ch.url}/`);
      await page.getByLabel("Message").fill(question);
      await page.getByLabel("Message").press("Enter");
      await page.getByText(reply).waitFor({ timeout: 15_000 });
      await new Promise((r) => setTimeout(r, 500)); // time for an onerror to have fired
      expect((await page.locator(".msg").allTextContents()).slice(-2)).toEqual([question, reply]);
      expect(await page.locator("#log img, #log b, #log i, #log script").count()).toBe(0);
      expect(await page.evaluate(() => (window as { pwned?: string }).pwned)).toBeUndefined();
    } finally {
      await browser.close();
      await orchestrator.stop(1_000);
      await ch.stop();
    }
  }, 60_000);

  it("a refused message says why on the page (over the per-address limit)", async () => {
    const ch: Channel = await startChannel({
      dir,
      dbFile: "refused.db",
      secrets: {},
      roles: { support: { kind: "support", systemPrompt: "Be nice." } },
      agent: { name: "webchat", kind: "webchat", role: "support", webchat: { perAddressPerMinute: 1 } },
    });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu"] });
    try {
      const page = await browser.newPage();
      await page.goto(`${ch.url}/`);
      for (const text of ["First question", "Second question"]) {
        await page.getByLabel("Message").fill(text);
        await page.getByLabel("Message").press("Enter");
      }
      const note = page.locator(".msg.note");
      await note.waitFor({ timeout: 10_000 });
      expect(await note.textContent()).toMatch(
        /^Your message could not be sent \(too many messages; try again in \d+ s\)\. Please try again\.$/,
      );
      expect(await ch.count("SELECT count(*) FROM bus_messages WHERE topic = ?", INBOUND_TOPIC)).toBe(1);
    } finally {
      await browser.close();
      await ch.stop();
    }
  }, 60_000);
});
